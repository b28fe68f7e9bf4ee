"""The correlation id rides on task messages and is re-bound around each task in the worker."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace
from typing import Any

from celery import Celery
from celery.app.task import Context

from app.observability.context import (
    bind_correlation_id,
    current_context,
    current_correlation_id,
    is_valid_correlation_id,
    reset_context,
)
from app.observability.task_context import (
    CORRELATION_HEADER,
    add_correlation_header,
    connect_task_publish_correlation,
    correlation_id_of,
)
from workers import signals as worker_signals

QUEUE = "observability-test"


def test_the_current_id_is_added_to_outgoing_headers() -> None:
    bind_correlation_id("req-7")
    headers: dict[str, Any] = {}

    add_correlation_header(headers)

    assert headers[CORRELATION_HEADER] == "req-7"


def test_a_task_published_outside_any_request_gets_a_fresh_id() -> None:
    headers: dict[str, Any] = {}
    add_correlation_header(headers)
    assert is_valid_correlation_id(headers[CORRELATION_HEADER])


def test_an_id_set_explicitly_by_the_publisher_is_kept() -> None:
    bind_correlation_id("ambient")
    headers: dict[str, Any] = {CORRELATION_HEADER: "explicit"}
    add_correlation_header(headers)
    assert headers[CORRELATION_HEADER] == "explicit"


def test_a_published_message_carries_the_header() -> None:
    connect_task_publish_correlation()
    connect_task_publish_correlation()  # idempotent
    app = Celery("observability-test", broker="memory://")
    bind_correlation_id("req-published")

    app.send_task("promobridge.claims.validate", args=["claim-1"], queue=QUEUE)

    with app.connection_for_read() as connection:
        message = connection.SimpleQueue(QUEUE).get(timeout=5)
        message.ack()
    assert message.headers[CORRELATION_HEADER] == "req-published"
    assert message.headers["task"] == "promobridge.claims.validate"


def test_the_header_is_not_celerys_own_correlation_id() -> None:
    # Celery sets task.request.correlation_id to the task id from the message properties,
    # which would overwrite a header of that name.
    assert CORRELATION_HEADER != "correlation_id"


def test_the_worker_reads_the_id_from_the_request_headers() -> None:
    # Celery builds task.request from the message headers, custom ones included.
    assert correlation_id_of(Context({CORRELATION_HEADER: "from-header"})) == "from-header"
    assert correlation_id_of(SimpleNamespace(get=lambda key, default=None: "via-get")) == "via-get"
    assert is_valid_correlation_id(correlation_id_of(Context({CORRELATION_HEADER: "bad id\n"})))


def test_prerun_binds_the_id_and_task_and_postrun_restores_the_previous_context() -> None:
    bind_correlation_id("eager-caller")
    # As in a worker: Celery's own correlation_id (the task id) sits beside our header.
    request = Context({"id": "t-9", "correlation_id": "t-9", CORRELATION_HEADER: "req-1"})
    task = SimpleNamespace(name="promobridge.claims.activate", request=request)

    worker_signals.bind_task_log_context(task_id="t-9", task=task)
    during = dict(current_context())
    worker_signals.unbind_task_log_context(task_id="t-9", task=task)

    assert during == {
        "correlation_id": "req-1",
        "task_name": "promobridge.claims.activate",
        "task_id": "t-9",
    }
    assert current_correlation_id() == "eager-caller"
    assert dict(current_context()) == {"correlation_id": "eager-caller"}


def test_celery_setup_logging_installs_the_json_handler(restore_logging: None) -> None:
    worker_signals.configure_worker_logging(loglevel=logging.INFO)
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_promobridge_handler", False)]
    assert len(ours) == 1

    stream = io.StringIO()
    ours[0].setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("celery.worker").info("ready")
    assert json.loads(stream.getvalue())["logger"] == "celery.worker"


def test_the_id_survives_the_workers_request_building_next_to_celerys_correlation_id() -> None:
    from celery.worker.request import Request

    connect_task_publish_correlation()
    app = Celery("observability-request-test", broker="memory://")

    @app.task(name="obs.validate")
    def validate(claim_id: str) -> None: ...

    token = bind_correlation_id("http-req-9")
    validate.apply_async(args=("claim-1",), queue=QUEUE)
    reset_context(token)
    with app.connection_for_read() as connection:
        message = connection.SimpleQueue(QUEUE).get(timeout=5)
        message.ack()

    # What the worker does with a message before task_prerun sees task.request.
    request = Context(Request(message, app=app, task=validate).request_dict)

    assert request.correlation_id == request.id  # Celery's own, from the AMQP properties
    assert correlation_id_of(request) == "http-req-9"
