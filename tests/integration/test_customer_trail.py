"""`promobridge explain` and GET /v1/customers/<id>/trail on PostgreSQL, after the real services ran
against the simulator over HTTP: a scrubbed customer, a claim OptiPromo refused, a customer rewarded
and reported, and one whose status call was answered ambiguously and re-sent."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine

from app.cli import main
from app.clock import utcnow
from app.domain.backoff import Backoff
from app.domain.trail import CLAIM_RECEIVED, TrailEvent
from app.services.clients import create_client
from app.services.relay import RelayConfig, relay_once
from app.web import create_app
from simulator.server import SimulatorServer
from tests.support.claims_flow import InProcessClaims, claim_mode_campaign
from tests.support.dispatch import RecordingDispatcher
from tests.support.flow import simulator_client
from tests.support.secrets import safe_settings
from tests.support.sim_control import SimControl, expected_scrub_reason
from tests.support.uow import SqlAlchemyUnitOfWorkFactory

SECRET = "jane.doe@example.com"  # a session property: it must reach neither the trail nor its output
BIG_DEPOSITS = {
    "name": "big",
    "when": {"session": {"deposit_amount": {"gte": 10}}},
    "reward": {"type": "free_spins", "amount": 10},
}


def explain(engine: Engine, customer: str, campaign_id: int) -> tuple[str, dict[str, Any]]:
    """The command's text and JSON for one customer of one campaign."""
    env = {"DATABASE_URL": engine.url.render_as_string(hide_password=False), "LOG_LEVEL": "WARNING"}
    args = ["explain", customer, "--campaign", str(campaign_id)]
    text = CliRunner().invoke(main, args, env=env)
    as_json = CliRunner().invoke(main, [*args, "--json"], env=env)
    assert text.exit_code == 0 and as_json.exit_code == 0, text.output + as_json.output
    assert SECRET not in text.output + as_json.output
    return text.output, json.loads(as_json.output)


def story(text: str) -> list[str]:
    """The step lines of a story, without their times."""
    return [line.split(" UTC  ", 1)[1] for line in text.splitlines() if " UTC  " in line]


def steps(body: dict[str, Any]) -> list[str]:
    return [s["step"] for s in body["campaigns"][0]["steps"]]


def test_explain_tells_each_customers_story_in_order_with_the_reasons_in_promobridges_words(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = claim_mode_campaign(pg_engine, simulator, 40, no_consent_rate=0.25, fraud_rate=0)
    promo = sim.state()["campaigns"][str(campaign_id)]["promo_code"]
    sim._call("POST", "/promotions", json={"promocode_id": promo, "tiers": [BIG_DEPOSITS]})
    customers = sim.customers(campaign_id)
    scrubbed = next(c["customer_id"] for c in customers if expected_scrub_reason(c["attributes"]))
    refused, rewarded, resent = [
        c["customer_id"] for c in customers if not expected_scrub_reason(c["attributes"])
    ][:3]
    uow = SqlAlchemyUnitOfWorkFactory(pg_engine)
    api = create_app(safe_settings(), pg_engine, publisher=RecordingDispatcher()).test_client()  # type: ignore[arg-type]
    issued = create_client(uow, "shop-backend", rate_limit_per_minute=1000, scopes=frozenset({"claims"}))
    support = create_client(
        uow, "support-desk", rate_limit_per_minute=1000, scopes=frozenset({"customers:read"})
    )
    run = InProcessClaims(pg_engine, simulator)

    # (a) scrubbed, then claims anyway; (b) a deposit too small for the promotion's only tier.
    run.submit(campaign_id, scrubbed)
    run.submit(campaign_id, refused, session={"deposit_amount": 5, "email": SECRET})
    # (c) through the API, with the shop's key and an Idempotency-Key.
    claim = {
        "campaign_id": campaign_id,
        "customer_id": rewarded,
        "session_properties": {"deposit_amount": 20},
    }
    headers = {"Authorization": f"Bearer {issued.key}", "Idempotency-Key": "click-1"}
    created = api.post(
        "/v1/claims",
        json={**claim, "session_properties": {"deposit_amount": 20, "email": SECRET}},
        headers=headers,
    )
    assert created.status_code == 202, created.json
    run.wake([created.json["id"]])  # type: ignore[index]
    run.drain()
    # (d) Optimove applies the status call but the answer is lost; the relay sends it again.
    sim.set_faults(rate_applied_lost=1.0, endpoints=["UpdateCustomerPromotionStatus"])
    run.submit(campaign_id, resent, session={"deposit_amount": 50})
    run.drain()
    sim.clear_faults()
    retry = RelayConfig(backoff=Backoff(0.01, 0.02))
    later = utcnow() + timedelta(hours=1)
    assert relay_once(uow, simulator_client(simulator.optimove_url), retry, clock=lambda: later) is not None

    text, body = explain(pg_engine, scrubbed, campaign_id)
    assert steps(body) == ["audience.scrubbed", "claim.received", "claim.rejected"]
    assert story(text)[0] == (
        "scrubbed from the audience by the consent policy: no marketing consent (the Optimove consent "
        "attribute says no) [Optimove attribute Consent = '0'; operator consent: not set; "
        "require explicit: False]"
    )
    assert story(text)[2] == (
        "claim rejected at once, without asking OptiPromo: no marketing consent (the Optimove consent "
        "attribute says no)"
    )
    assert body["campaigns"][0]["audience"]["scrub_reason"] == "no_consent"
    assert body["campaigns"][0]["steps"][0]["details"]["data"]["value"] == "0"

    text, body = explain(pg_engine, refused, campaign_id)
    assert steps(body) == ["claim.received", "validation.answered"]
    assert story(text)[1] == (
        "OptiPromo refused the claim: OptiPromo found the customer not eligible (no tier of the promotion "
        "matched) (optipromo:not_eligible)"
    )
    assert body["campaigns"][0]["claim"]["state"] == "rejected"

    text, body = explain(pg_engine, rewarded, campaign_id)
    assert steps(body) == [
        "claim.received", "validation.answered", "grant.settled", "status.queued", "status.sent",
    ]  # fmt: skip
    received, answered, settled, _, sent = body["campaigns"][0]["steps"]
    assert received["details"] | {"claim_id": None, "request_id": None} == {
        "claim_id": None, "source": "http", "client_id": issued.client_id, "client": "shop-backend",
        "key_id": issued.key.split("_")[1], "idempotency_key": True, "request_id": None, "promo_code": promo,
        "segment": received["details"]["segment"],
    }  # fmt: skip
    assert answered["details"]["tier"] == "big" and answered["details"]["reward_amount"] == "10"
    granted = body["campaigns"][0]["claim"]["granted_amount"]
    assert settled["details"]["activator"] == "wallet" and settled["details"]["amount_offered"] == "10"
    assert settled["details"]["amount_granted"] == granted
    assert sent["details"]["resent"] is False and sent["details"]["attempt"] == 1
    assert f'through client "shop-backend" (id {issued.client_id})' in story(text)[0]
    assert story(text)[4].startswith(
        f"status reached Optimove in call {sent['details']['call_id']} (batch of"
    )
    assert sim.statuses(campaign_id)[rewarded]["times"] == 1

    text, body = explain(pg_engine, resent, campaign_id)
    assert steps(body)[-3:] == ["status.queued", "status.ambiguous", "status.sent"]
    ambiguous, sent = body["campaigns"][0]["steps"][-2:]
    assert ambiguous["details"]["may_have_applied"] is True
    assert sent["details"]["resent"] is True and sent["details"]["attempt"] == 2
    assert sent["details"]["call_id"] != ambiguous["details"]["call_id"]
    assert "failed ambiguously" in story(text)[-2] and "a RE-SEND" in story(text)[-1]
    assert sim.statuses(campaign_id)[resent]["times"] == 2

    # The API answers what the command prints, to a key with customers:read only.
    read = {"Authorization": f"Bearer {support.key}"}
    answered_by_api = api.get(f"/v1/customers/{resent}/trail?campaign_id={campaign_id}", headers=read)
    assert answered_by_api.status_code == 200 and answered_by_api.json == body
    assert api.get(f"/v1/customers/{resent}/trail", headers=headers).status_code == 403
    assert api.get("/v1/customers/nobody/trail", headers=read).status_code == 404


def test_explain_refuses_an_unknown_customer_and_a_bad_id_changing_nothing(pg_engine: Engine) -> None:
    env = {"DATABASE_URL": pg_engine.url.render_as_string(hide_password=False), "LOG_LEVEL": "WARNING"}
    unknown = CliRunner().invoke(main, ["explain", "nobody"], env=env)
    bad = CliRunner().invoke(main, ["explain", "x" * 129], env=env)
    assert unknown.exit_code == 2 and "knows nothing of customer 'nobody'" in unknown.output
    assert bad.exit_code == 2 and "1-128 characters" in bad.output


def test_the_trail_endpoint_answers_for_a_customer_id_with_a_slash(pg_engine: Engine) -> None:
    # Operators' ids such as "eu/1042" are legal (1-128 characters, no control characters).
    uow = SqlAlchemyUnitOfWorkFactory(pg_engine)
    with uow() as work:
        work.trail.append([TrailEvent(77, "eu/1042", utcnow(), CLAIM_RECEIVED, {"claim_id": "c-1"})])
        work.commit()
    support = create_client(uow, "support", rate_limit_per_minute=1000, scopes=frozenset({"customers:read"}))
    api = create_app(safe_settings(), pg_engine, publisher=RecordingDispatcher()).test_client()  # type: ignore[arg-type]
    read = {"Authorization": f"Bearer {support.key}"}

    for path in ("/v1/customers/eu/1042/trail", "/v1/customers/eu%2F1042/trail"):
        answer = api.get(path, headers=read)
        assert answer.status_code == 200, (path, answer.json)
        assert answer.json["customer_id"] == "eu/1042"
        assert [s["step"] for s in answer.json["campaigns"][0]["steps"]] == [CLAIM_RECEIVED]
    assert api.get("/v1/customers/eu/1043/trail", headers=read).status_code == 404
    assert api.get("/v1/customers//trail", headers=read).status_code in (400, 404)
