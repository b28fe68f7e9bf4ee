"""`promobridge claims show` prints a claim as the API answers it: one shape, built in one place."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from app.adapters.db.dialect import build_engine
from app.cli import main
from app.services.clients import create_client
from app.web import create_app
from tests.support.databases import migrated_engine
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import STRONG_TOKEN, safe_settings
from tests.support.uow import SqlAlchemyUnitOfWorkFactory

TRIGGERED_CAMPAIGN = 7001


def test_claims_show_prints_the_claim_as_the_api_answers_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'promobridge.sqlite'}"
    migrated_engine(url).dispose()
    engine = build_engine(url)
    settings = safe_settings(LISTENER_TOKEN=STRONG_TOKEN, TRIGGERED_CAMPAIGNS=str(TRIGGERED_CAMPAIGN))
    api = create_app(settings, engine, publisher=RecordingDispatcher()).test_client()  # type: ignore[arg-type]
    key = create_client(SqlAlchemyUnitOfWorkFactory(engine), "cli", rate_limit_per_minute=100).key
    auth = {"Authorization": f"Bearer {key}"}
    call = {"user": {"user_id": "C234638"}, "campaign": {"id": TRIGGERED_CAMPAIGN}}
    assert api.post(f"/webhooks/optimove/triggered/{STRONG_TOKEN}", json=call).status_code == 200
    claim = {"campaign_id": TRIGGERED_CAMPAIGN, "customer_id": "C234638"}
    created = api.post("/v1/claims", json=claim, headers=auth)
    assert created.status_code == 202, created.json

    shown = CliRunner().invoke(main, ["claims", "show", created.json["id"]], env={"DATABASE_URL": url})  # type: ignore[index]

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == api.get(created.json["status_url"], headers=auth).json  # type: ignore[index]
    engine.dispose()
