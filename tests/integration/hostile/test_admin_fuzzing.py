"""Schemathesis on the admin operations with a key that has the admin scope (the main fuzzing run's
key lacks it, so there they only answer 403): no 5xx, answers as documented, nothing written on a 4xx.

A campaign's mode may rightly be refused with 409 (the seeded campaign is triggered, or has claims),
which no schema can say; a rule pattern that the URL cannot carry is answered 404.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import schemathesis

from app.services.clients import create_client
from tests.integration.hostile.test_openapi_fuzzing import schema
from tests.support.hostile import HostileTarget, Observed, as_observed
from tests.support.uow import SqlAlchemyUnitOfWorkFactory

ADMIN_OPERATIONS = [
    "read_campaign_settings", "write_campaign_settings", "release_campaign",
    "read_pause", "write_pause", "read_rules", "write_rule", "delete_rule",
]  # fmt: skip


@pytest.fixture(scope="module")
def admin_auth(target: HostileTarget) -> dict[str, str]:
    """The header of a client with the admin scope, created once, before any request is observed."""
    key = create_client(
        SqlAlchemyUnitOfWorkFactory(target.engine),
        "fuzzer-admin",
        rate_limit_per_minute=10_000_000,
        scopes=frozenset({"admin"}),
    ).key
    return {"Authorization": f"Bearer {key}"}


# Only the admin operations: the main fuzzing run covers the others (and nothing here is skipped).
@schema.include(operation_id=ADMIN_OPERATIONS).parametrize()
def test_every_admin_operation_answers_as_documented_and_writes_nothing_on_a_4xx(
    case: schemathesis.Case, target: HostileTarget, admin_auth: dict[str, str]
) -> None:
    sent: list[schemathesis.Response] = []

    def send() -> Observed:
        response = case.call(app=target.app, headers=admin_auth)
        sent.append(response)
        path = urlsplit(response.request.url or "").path
        method = response.request.method or case.method
        return as_observed(method, path, response.status_code, response.headers, response.content)

    target.observe(f"schemathesis admin {case.operation.label}", send)
    case.validate_response(sent[0], headers=admin_auth, transport_kwargs={"app": target.app})
