"""The console over HTTP (Flask's test client, real PostgreSQL): sign-in, sessions, CSRF, roles, audit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, insert

from app.adapters.db.tables import claims
from app.adapters.passwords import Argon2Passwords
from app.clock import utcnow
from app.domain.campaigns import CampaignMode, NewCampaign
from app.domain.console import Role
from app.services.clients import create_client
from app.services.console_users import create_user, disable_user
from app.web import create_app
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import safe_settings
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading, writing

PASSWORD = "correct horse battery staple"
CAMPAIGN = 4711
OTHER_CAMPAIGN = 4712
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    app: Flask
    engine: Engine
    publisher: RecordingDispatcher

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def user(self, name: str, role: Role) -> str:
        create_user(SqlAlchemyUnitOfWorkFactory(self.engine), Argon2Passwords(), name, role, PASSWORD)
        return name

    def signed_in(self, name: str) -> FlaskClient:
        client = self.client()
        answer = client.post(
            "/console/sign-in", data={"name": name, "password": PASSWORD, "csrf_token": token(client)}
        )
        assert answer.status_code == 302, answer.text
        return client


def token(client: FlaskClient, path: str = "/console/sign-in") -> str:
    match = _CSRF.search(client.get(path).text)
    assert match is not None
    return match.group(1)


def _app(engine: Engine, publisher: RecordingDispatcher, **overrides: Any) -> Flask:
    settings = safe_settings(**{"CONSOLE_PLAIN_HTTP": "true", **overrides})
    return create_app(settings, engine, publisher=publisher)  # type: ignore[arg-type]


@pytest.fixture
def console(pg_engine: Engine) -> Iterator[Console]:
    publisher = RecordingDispatcher()
    app = _app(pg_engine, publisher, CONSOLE_SIGNIN_MAX_FAILURES=3)
    yield Console(app, pg_engine, publisher)
    app.config["PROMOBRIDGE_SERVICES"].close()


def _audit(engine: Engine) -> list[tuple[str, str, str, str]]:
    with reading(engine) as uow:
        return [(e.user, e.action, e.target, e.outcome) for e in uow.console_audit.recent(limit=50)]


def _failed_claims(engine: Engine) -> list[str]:
    now = utcnow()
    with writing(engine) as uow:
        for campaign_id in (CAMPAIGN, OTHER_CAMPAIGN):
            uow.campaigns.add(
                NewCampaign(campaign_id, CampaignMode.CLAIM, now + timedelta(hours=1), None, page_size=100),
                now=now,
            )
    rows = [
        {
            "id": f"failed-{campaign_id}-{n}",
            "source": "test",
            "campaign_id": campaign_id,
            "customer_id": f"c{n}",
            "session_properties": {},
            "request_hash": "h",
            "state": "failed",
            "reason": "activation_misconfigured: answered 401",
            "created_at": now,
            "updated_at": now,
        }
        for campaign_id in (CAMPAIGN, OTHER_CAMPAIGN)
        for n in range(3)
    ]
    with engine.begin() as conn:
        conn.execute(insert(claims), rows)
    return [row["id"] for row in rows if row["campaign_id"] == CAMPAIGN]


def _states(engine: Engine, campaign_id: int) -> dict[str, int]:
    with reading(engine) as uow:
        return uow.claims.counts_by_state(campaign_id)


def test_every_page_sends_a_signed_out_visitor_to_the_sign_in_form(console: Console) -> None:
    client = console.client()
    for path in ("/console/", "/console/campaigns/1", "/console/audit"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/console/sign-in?next=" in answer.headers["Location"]
    assert client.get("/console/live").status_code == 401  # a refreshing page learns it was signed out


def test_a_user_signs_in_sees_the_campaigns_and_signs_out(console: Console) -> None:
    console.user("ada", Role.VIEWER)
    client = console.signed_in("ada")
    page = client.get("/console/")
    assert page.status_code == 200 and "ada" in page.text and "Campaigns" in page.text
    assert (
        client.post("/console/sign-out", data={"csrf_token": token(client, "/console/")}).status_code == 302
    )
    assert client.get("/console/").status_code == 302
    assert [(a, o) for _, a, _, o in _audit(console.engine)] == [("sign_out", "done"), ("sign_in", "done")]


def test_a_sign_in_without_the_csrf_token_is_refused(console: Console) -> None:
    console.user("ada", Role.OPERATOR)
    client = console.client()
    answer = client.post("/console/sign-in", data={"name": "ada", "password": PASSWORD})
    assert answer.status_code == 400 and "CSRF" in answer.text
    assert client.get("/console/").status_code == 302


def test_repeated_wrong_passwords_lock_the_user_even_against_the_right_one(console: Console) -> None:
    console.user("ada", Role.OPERATOR)
    client = console.client()
    statuses = [
        client.post(
            "/console/sign-in",
            data={"name": "ada", "password": f"guess {n} of many", "csrf_token": token(client)},
        ).status_code
        for n in range(3)
    ]
    assert statuses == [401, 401, 429]  # CONSOLE_SIGNIN_MAX_FAILURES=3
    right = client.post(
        "/console/sign-in", data={"name": "ada", "password": PASSWORD, "csrf_token": token(client)}
    )
    assert right.status_code == 429 and "try again later" in right.text
    assert client.get("/console/").status_code == 302
    assert [(a, o) for _, a, _, o in _audit(console.engine)] == [("sign_in", "refused")] * 4


def test_an_unknown_name_is_refused_like_a_wrong_password(console: Console) -> None:
    client = console.client()
    answer = client.post(
        "/console/sign-in", data={"name": "nobody", "password": PASSWORD, "csrf_token": token(client)}
    )
    assert answer.status_code == 401 and "wrong name or password" in answer.text
    huge = client.post(
        "/console/sign-in", data={"name": "x" * 5000, "password": "p" * 10_000, "csrf_token": token(client)}
    )
    assert huge.status_code == 401
    too_big = client.post("/console/sign-in", data={"password": "p" * 100_000, "csrf_token": token(client)})
    assert too_big.status_code == 413


def test_sign_in_attempts_from_one_address_are_throttled(pg_engine: Engine) -> None:
    app = _app(pg_engine, RecordingDispatcher(), CONSOLE_SIGNIN_ATTEMPTS_PER_MINUTE=2)
    client = app.test_client()
    statuses = [
        client.post(
            "/console/sign-in", data={"name": f"user{n}", "password": PASSWORD, "csrf_token": token(client)}
        ).status_code
        for n in range(3)
    ]
    assert statuses == [401, 401, 429]


def test_the_session_cookie_is_http_only_same_site_secure_and_scoped_to_the_console(
    pg_engine: Engine,
) -> None:
    production = safe_settings(DATABASE_URL=pg_engine.url.render_as_string(hide_password=False))
    app = create_app(production, pg_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    create_user(SqlAlchemyUnitOfWorkFactory(pg_engine), Argon2Passwords(), "ada", Role.VIEWER, PASSWORD)
    client = app.test_client()
    answer = client.get("/console/sign-in", base_url="https://localhost")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("promobridge_console=")
    assert all(flag in cookie for flag in ("HttpOnly", "SameSite=Lax", "Secure", "Path=/console"))


def test_a_redirect_after_sign_in_never_leaves_the_console(console: Console) -> None:
    console.user("ada", Role.VIEWER)
    client = console.client()
    for target, landing in [
        ("https://evil.example/console", "/console/"),
        ("//evil.example/console", "/console/"),
        ("/console/audit", "/console/audit"),
    ]:
        answer = client.post(
            "/console/sign-in",
            data={"name": "ada", "password": PASSWORD, "csrf_token": token(client), "next": target},
        )
        assert answer.headers["Location"] == landing


def test_an_operator_retries_one_campaigns_failed_claims_and_it_is_audited(console: Console) -> None:
    failed = _failed_claims(console.engine)
    console.user("otto", Role.OPERATOR)
    client = console.signed_in("otto")
    page = client.get(f"/console/campaigns/{CAMPAIGN}")
    assert 'data-test="retry-failed"' in page.text
    answer = client.post(
        f"/console/campaigns/{CAMPAIGN}/retry-failed",
        data={"csrf_token": token(client, f"/console/campaigns/{CAMPAIGN}"), "confirm": "yes"},
    )
    assert answer.status_code == 302
    assert _states(console.engine, CAMPAIGN) == {"pending": 3}
    assert _states(console.engine, OTHER_CAMPAIGN) == {"failed": 3}
    assert _states(console.engine, CAMPAIGN) == {"pending": len(failed)}
    assert list(console.publisher.validations) == [(CAMPAIGN, None)]  # their validator was woken
    assert _audit(console.engine)[0] == ("otto", "retry_failed_claims", f"campaign {CAMPAIGN}", "done")
    with reading(console.engine) as uow:
        assert uow.console_audit.recent(limit=1)[0].detail["claims"] == 3
    assert "3 failed claim(s)" in client.get(answer.headers["Location"]).text


def test_an_action_without_its_token_or_its_confirmation_changes_nothing(console: Console) -> None:
    _failed_claims(console.engine)
    console.user("otto", Role.OPERATOR)
    client = console.signed_in("otto")
    no_token = client.post(f"/console/campaigns/{CAMPAIGN}/retry-failed", data={"confirm": "yes"})
    not_confirmed = client.post(
        f"/console/campaigns/{CAMPAIGN}/retry-failed",
        data={"csrf_token": token(client, f"/console/campaigns/{CAMPAIGN}")},
    )
    assert (no_token.status_code, not_confirmed.status_code) == (400, 400)
    assert _states(console.engine, CAMPAIGN) == {"failed": 3} and not console.publisher.validations


def test_a_viewer_sees_no_action_and_a_forged_one_is_refused_and_audited(console: Console) -> None:
    _failed_claims(console.engine)
    console.user("vera", Role.VIEWER)
    client = console.signed_in("vera")
    page = client.get(f"/console/campaigns/{CAMPAIGN}")
    assert page.status_code == 200 and "retry-failed" not in page.text and "<button" in page.text  # sign-out
    forged = client.post(
        f"/console/campaigns/{CAMPAIGN}/retry-failed",
        data={"csrf_token": token(client, f"/console/campaigns/{CAMPAIGN}"), "confirm": "yes"},
    )
    assert forged.status_code == 403 and "only operators" in forged.text
    assert _states(console.engine, CAMPAIGN) == {"failed": 3} and not console.publisher.validations
    assert _audit(console.engine)[0] == (
        "vera",
        "retry_failed_claims",
        f"/console/campaigns/{CAMPAIGN}/retry-failed",
        "refused",
    )


def test_any_signed_in_user_reads_a_customers_trail_and_the_lookup_is_audited(console: Console) -> None:
    _failed_claims(console.engine)
    console.user("vera", Role.VIEWER)
    client = console.signed_in("vera")
    assert 'data-test="customer-search"' in client.get("/console/customers").text
    page = client.get(f"/console/customers?customer_id=c0&campaign_id={CAMPAIGN}")
    assert page.status_code == 200 and 'data-test="trail"' in page.text
    assert f"campaign {CAMPAIGN}" in page.text.lower() and "401" in page.text  # the claim's failure reason
    assert _audit(console.engine)[0] == ("vera", "view_customer_trail", "customer c0", "done")


def test_a_customer_search_refuses_bad_ids_and_says_when_nobody_is_known(console: Console) -> None:
    _failed_claims(console.engine)
    console.user("vera", Role.VIEWER)
    client = console.signed_in("vera")
    assert client.get("/console/customers?customer_id=nobody").status_code == 404
    elsewhere = f"/console/customers?customer_id=c0&campaign_id={OTHER_CAMPAIGN + 1}"
    assert client.get(elsewhere).status_code == 404
    assert client.get("/console/customers?customer_id=c0&campaign_id=-3").status_code == 400
    assert client.get("/console/customers?customer_id=c0&campaign_id=99999999999999999999").status_code == 400
    assert client.get("/console/customers?customer_id=" + "x" * 129).status_code == 400
    assert client.get("/console/customers?customer_id=a%01b").status_code == 400
    assert console.client().get("/console/customers?customer_id=c0").status_code == 302  # signed out


def _paused(engine: Engine) -> bool:
    with reading(engine) as uow:
        switch = uow.switches.get("pause")
    return switch is not None and switch.on


def test_an_operator_pauses_and_resumes_everything_and_both_are_audited(console: Console) -> None:
    console.user("otto", Role.OPERATOR)
    client = console.signed_in("otto")
    assert 'data-test="pause"' in client.get("/console/").text
    paused = client.post(
        "/console/pause",
        data={"csrf_token": token(client, "/console/"), "confirm": "yes", "reason": "fraud review"},
    )
    assert paused.status_code == 302 and _paused(console.engine)
    page = client.get("/console/").text
    assert "Paused" in page and "fraud review" in page and 'data-test="resume"' in page
    resumed = client.post(
        "/console/resume", data={"csrf_token": token(client, "/console/"), "confirm": "yes"}
    )
    assert resumed.status_code == 302 and not _paused(console.engine)
    assert [(u, a, t, o) for u, a, t, o in _audit(console.engine)[:2]] == [
        ("otto", "resume", "promobridge", "done"),
        ("otto", "pause", "promobridge", "done"),
    ]
    with reading(console.engine) as uow:
        assert uow.console_audit.recent(limit=2)[1].detail["reason"] == "fraud review"


def test_a_viewer_sees_no_pause_button_and_a_forged_pause_is_refused(console: Console) -> None:
    console.user("vera", Role.VIEWER)
    client = console.signed_in("vera")
    page = client.get("/console/").text
    assert 'data-test="pause-state"' in page and 'data-test="pause"' not in page
    forged = client.post("/console/pause", data={"csrf_token": token(client, "/console/"), "confirm": "yes"})
    assert forged.status_code == 403 and not _paused(console.engine)
    assert _audit(console.engine)[0] == ("vera", "pause", "/console/pause", "refused")


def test_an_operator_releases_a_held_campaign_and_it_is_audited(console: Console) -> None:
    _failed_claims(console.engine)
    with writing(console.engine) as uow:
        assert uow.campaigns.hold(CAMPAIGN, "audience 3,000,000 over max_audience 1,000,000", now=utcnow())
    console.user("otto", Role.OPERATOR)
    client = console.signed_in("otto")
    page = client.get(f"/console/campaigns/{CAMPAIGN}").text
    assert 'data-test="hold"' in page and 'data-test="release"' in page
    released = client.post(
        f"/console/campaigns/{CAMPAIGN}/release",
        data={"csrf_token": token(client, f"/console/campaigns/{CAMPAIGN}"), "confirm": "yes"},
    )
    assert released.status_code == 302
    with reading(console.engine) as uow:
        campaign = uow.campaigns.get(CAMPAIGN)
    assert campaign is not None and campaign.hold is None
    assert _audit(console.engine)[0] == ("otto", "release_campaign", f"campaign {CAMPAIGN}", "done")
    assert 'data-test="release"' not in client.get(f"/console/campaigns/{CAMPAIGN}").text


def test_an_operator_sets_a_campaigns_safeguards_and_the_page_shows_where_each_applies_from(
    console: Console,
) -> None:
    _failed_claims(console.engine)
    console.user("otto", Role.OPERATOR)
    client = console.signed_in("otto")
    path = f"/console/campaigns/{CAMPAIGN}"
    saved = client.post(
        f"{path}/settings",
        data={
            "csrf_token": token(client, path),
            "confirm": "yes",
            "max_rewards": "50",
            "max_reward_amount": "25.5",
        },
    )
    assert saved.status_code == 302
    with reading(console.engine) as uow:
        own = uow.campaign_settings.get(CAMPAIGN)
    assert own is not None and (own.max_rewards, own.max_reward_amount) == (50, Decimal("25.5"))
    assert own.updated_by == "console:otto"
    page = client.get(path).text
    assert 'data-test="effective-max_rewards">50<' in page
    entry = _audit(console.engine)[0]
    assert entry == ("otto", "change_campaign_settings", f"campaign {CAMPAIGN}", "done")
    cleared = client.post(
        f"{path}/settings", data={"csrf_token": token(client, path), "confirm": "yes", "max_rewards": "none"}
    )
    assert cleared.status_code == 302
    with reading(console.engine) as uow:
        own = uow.campaign_settings.get(CAMPAIGN)
    assert own is not None and own.max_rewards is None and own.max_reward_amount == Decimal("25.5")


def test_bad_or_refused_settings_change_nothing_and_a_refusal_is_audited(console: Console) -> None:
    _failed_claims(console.engine)  # the campaign has claims: its mode can no longer change
    console.user("otto", Role.OPERATOR)
    client = console.signed_in("otto")
    path = f"/console/campaigns/{CAMPAIGN}"
    for field, value in (("max_rewards", "lots"), ("max_reward_amount", "NaN"), ("mode", "sometimes")):
        answer = client.post(
            f"{path}/settings", data={"csrf_token": token(client, path), "confirm": "yes", field: value}
        )
        assert answer.status_code == 400, (field, value)
    negative = client.post(
        f"{path}/settings", data={"csrf_token": token(client, path), "confirm": "yes", "max_rewards": "-1"}
    )
    mode = client.post(
        f"{path}/settings", data={"csrf_token": token(client, path), "confirm": "yes", "mode": "auto"}
    )
    assert (negative.status_code, mode.status_code) == (409, 409)
    assert "mode" in mode.text
    with reading(console.engine) as uow:
        own = uow.campaign_settings.get(CAMPAIGN)
        campaign = uow.campaigns.get(CAMPAIGN)
    assert own is None or (own.max_rewards is None and own.mode is None)
    assert campaign is not None and campaign.mode.value == "claim"
    outcomes = [(a, o) for _, a, _, o in _audit(console.engine)[:2]]
    assert outcomes == [("change_campaign_settings", "refused"), ("change_campaign_settings", "refused")]


def test_a_disabled_users_open_session_stops_working(console: Console) -> None:
    console.user("ada", Role.OPERATOR)
    client = console.signed_in("ada")
    assert client.get("/console/").status_code == 200
    disable_user(SqlAlchemyUnitOfWorkFactory(console.engine), "ada")
    assert client.get("/console/").status_code == 302
    again = client.post(
        "/console/sign-in", data={"name": "ada", "password": PASSWORD, "csrf_token": token(client)}
    )
    assert again.status_code == 401


def test_the_api_takes_no_csrf_token_and_never_gets_a_console_cookie(console: Console) -> None:
    key = create_client(
        SqlAlchemyUnitOfWorkFactory(console.engine),
        "backend",
        rate_limit_per_minute=100,
        scopes=frozenset({"claims"}),
    ).key
    _failed_claims(console.engine)
    answer = console.client().post(
        "/v1/claims",
        json={"campaign_id": CAMPAIGN, "customer_id": "someone-new"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code in (202, 409), answer.text  # answered by the API, not refused for CSRF
    assert "Set-Cookie" not in answer.headers


def test_unknown_and_impossible_campaigns_are_404_pages(console: Console) -> None:
    console.user("ada", Role.VIEWER)
    client = console.signed_in("ada")
    for campaign_id in (999, 2**63, 10**30):
        answer = client.get(f"/console/campaigns/{campaign_id}")
        assert answer.status_code == 404 and "text/html" in answer.headers["Content-Type"]


def test_an_action_on_an_unknown_campaign_is_a_404_and_changes_nothing(console: Console) -> None:
    console.user("otto", Role.OPERATOR)
    client = console.signed_in("otto")
    for campaign_id in (999, 2**63):
        for action in ("retry-failed", "settings"):
            answer = client.post(
                f"/console/campaigns/{campaign_id}/{action}",
                data={"csrf_token": token(client, "/console/"), "confirm": "yes", "max_rewards": "5"},
            )
            assert answer.status_code == 404, (campaign_id, action)
    with reading(console.engine) as uow:
        assert uow.campaign_settings.get(999) is None
    assert not console.publisher.validations


def test_console_pages_forbid_framing_and_foreign_scripts(console: Console) -> None:
    answer = console.client().get("/console/sign-in")
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_wrong_method_is_a_405_that_names_the_allowed_ones(console: Console) -> None:
    console.user("ada", Role.VIEWER)
    client = console.signed_in("ada")
    answer = client.get("/console/sign-out")  # routing refuses it: the app's JSON error, as everywhere
    assert answer.status_code == 405 and "POST" in answer.headers["Allow"]
    assert answer.json is not None and answer.json["error"] == "method_not_allowed"
