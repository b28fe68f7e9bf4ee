"""The relay process sleeps until a status is queued: PostgreSQL NOTIFY wakes it at once."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from app.bootstrap import build_container
from app.clock import utcnow
from simulator.server import SimulatorServer
from tests.support.claims_flow import claim_mode_campaign
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import safe_settings
from tests.support.sim_control import SimControl
from tests.support.uow import reading, writing
from workers.relay import RelayLoop

IDLE_SLEEP_SECONDS = 30.0  # far longer than the test waits: only the notification can wake it


def test_a_status_queued_wakes_the_sleeping_relay_which_sends_it_at_once(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 3, no_consent_rate=0, fraud_rate=0)
    customer = SimControl(simulator.url).customers(campaign_id)[0]["customer_id"]
    settings = safe_settings(
        OPTIMOVE_API_URL=simulator.optimove_url,
        OPTIMOVE_API_KEY="sim-key",
        OPTIMOVE_RATE_LIMIT_ENABLED=False,
        RELAY_IDLE_SLEEP_SECONDS=IDLE_SLEEP_SECONDS,
        SWEEP_INTERVAL_SECONDS=3600,
    )
    container = build_container(settings, dispatcher=RecordingDispatcher(), engine=pg_engine)  # type: ignore[arg-type]
    loop = RelayLoop(container)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)  # the loop is idle now, in its long sleep
        queued_at = time.monotonic()
        with writing(pg_engine) as uow:
            uow.outbox.enqueue_statuses(campaign_id, [customer], deadline=None, now=utcnow())

        deadline = queued_at + 5
        while time.monotonic() < deadline and loop.batches_sent == 0:
            time.sleep(0.05)
        woke_after = time.monotonic() - queued_at
    finally:
        loop.stop()
        thread.join(10)

    assert loop.batches_sent == 1, "the relay slept through the notification"
    assert woke_after < 5 < IDLE_SLEEP_SECONDS
    with reading(pg_engine) as uow:
        assert uow.outbox.stats(campaign_id).pending == 0
    assert SimControl(simulator.url).statuses(campaign_id)[customer]["times"] == 1
