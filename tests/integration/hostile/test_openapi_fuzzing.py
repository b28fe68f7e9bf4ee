"""Schemathesis against the app's own /openapi.json: every operation, a fixed seed, no 5xx, answers
that match the document (status, content type, body), and nothing written on a 4xx.

The webhooks are exempt from one check only, negative-data rejection: they read Optimove's
undocumented payloads leniently on purpose (ids as numeric strings, keys in any case, extra keys
kept), so input outside the documented canonical form may rightly be accepted. The listener may
also refuse well-formed input with a 400: a ClearanceRequiredBy too far from now (a rule about
time that no schema can state).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import schemathesis
from flask import Flask

from app.adapters.db.dialect import build_engine
from app.web import create_app
from tests.support.dispatch import RecordingDispatcher
from tests.support.hostile import TOKEN, HostileTarget, Observed, as_observed, hostile_settings

SEED = 20261127
EXAMPLES_PER_OPERATION = 120
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none", "deterministic": True},
        "parameters": {"path.token": TOKEN},
        "operations": [
            {"include-path-regex": "^/webhooks/", "checks": {"negative_data_rejection": {"enabled": False}}},
            # A deadline far from now is refused (400) whatever its form: a rule about time, which no
            # JSON Schema can state; the operation's description says it.
            {
                "include-path-regex": "^/webhooks/optimove/[{]token[}]$",
                "checks": {
                    "negative_data_rejection": {"enabled": False},
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "400"]},
                },
            },
        ],
    }
)


def _document_app() -> Flask:
    # The document is read from a real app's /openapi.json at collection time, before any database
    # exists; an unused SQLite engine stands in (serving the document touches no database).
    settings = hostile_settings(Path(tempfile.gettempdir()))
    return create_app(settings, build_engine("sqlite://"), publisher=RecordingDispatcher())  # type: ignore[arg-type]


schema = schemathesis.openapi.from_wsgi("/openapi.json", _document_app(), config=CONFIG)


@schema.parametrize()
def test_every_operation_answers_as_documented_and_writes_nothing_on_a_4xx(
    case: schemathesis.Case, target: HostileTarget
) -> None:
    sent: list[schemathesis.Response] = []

    def send() -> Observed:
        response = case.call(app=target.app, headers=target.auth)
        sent.append(response)
        path = urlsplit(response.request.url or "").path
        method = response.request.method or case.method
        return as_observed(method, path, response.status_code, response.headers, response.content)

    target.observe(f"schemathesis {case.operation.label}", send)
    case.validate_response(sent[0], headers=target.auth, transport_kwargs={"app": target.app})
