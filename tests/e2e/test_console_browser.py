"""Done-when for the campaign console: a real browser (headless Chromium) on the whole stack.

Real processes (web, worker, relay) and the simulator; rewards are granted over HTTP by the
simulator's operator endpoint, so a misconfigured endpoint can fail claims for the console to
retry. Each test saves screenshots under test-artifacts/console/.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page

from benchmarks.stack import wait_until
from tests.e2e.conftest import CLAIM_CAMPAIGN_ID, Stack, ready_claim_campaign
from tests.support.browser import chromium, figures, screenshot
from tests.support.uow import reading

PASSWORD = "a long and random enough passphrase"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.stack_env(
        REWARD_ACTIVATOR="http",
        REWARD_ACTIVATOR_URL="{simulator}/_operator/grants",
        CONSOLE_PLAIN_HTTP="true",  # http://127.0.0.1: the cookie cannot be Secure
        CONSOLE_REFRESH_SECONDS="1",
    ),
]


def _user(stack: Stack, name: str, role: str) -> str:
    stack.processes.run("users", "create", name, "--role", role, "--password-stdin", stdin=f"{PASSWORD}\n")
    return name


def _signed_in(browser: Browser, stack: Stack, name: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{stack.web_url}/console/")
    assert "/console/sign-in" in page.url  # signed out: the console asks who you are first
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.web_url}/console/")
    return page


def _confirm_and_click(page: Page, button: str) -> None:
    """Tick the confirmation box of the form holding this button, then press it."""
    form = page.locator("form", has=page.locator(f"[data-test={button}]"))
    form.locator("input[name=confirm]").check()
    form.locator(f"[data-test={button}]").click()


def _claim(stack: Stack, session: requests.Session, customers: list[str]) -> None:
    for customer in customers:
        body = {"campaign_id": CLAIM_CAMPAIGN_ID, "customer_id": customer}
        answer = session.post(f"{stack.web_url}/v1/claims", json=body, timeout=10)
        assert answer.status_code == 202, answer.text


def _api_report(stack: Stack, session: requests.Session) -> dict[str, Any]:
    answer = session.get(f"{stack.web_url}/v1/campaigns/{CLAIM_CAMPAIGN_ID}", timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _as_figures(report: dict[str, Any]) -> dict[str, int]:
    """The report's funnel fields named as the page names them (by-reason ones as `field.reason`)."""
    flat: dict[str, int] = {}
    for field in ("rows_ingested", "scrubbed", "eligible", "claimed", "validated", "rejected", "rewarded"):
        flat[field] = report[field]
    flat["reported"], flat["failed"] = report["reported"], report["failed"]
    for group in ("scrubbed_by_reason", "rejected_by_reason", "failed_by_reason"):
        flat.update({f"{group}.{reason}": count for reason, count in report[group].items()})
    return flat


def _page_equals_api(page: Page, stack: Stack, session: requests.Session) -> bool:
    expected = _as_figures(_api_report(stack, session))
    return figures(page, "[data-test=funnel]") == expected


def test_an_operator_watches_a_campaign_live_and_retries_its_failed_claims_to_completion(
    stack: Stack,
) -> None:
    name = "test_operator"
    eligible = ready_claim_campaign(stack, 150)
    _user(stack, "olga", "operator")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.api_key()}"
    crm = requests.Session()  # a dashboard's key: reads campaign reports
    crm_key = stack.processes.run("clients", "create", "crm", "--scope", "campaigns:read").strip()
    crm.headers["Authorization"] = f"Bearer {crm_key}"

    with chromium() as browser:
        page = _signed_in(browser, stack, "olga")
        card = page.locator(f'[data-campaign="{CLAIM_CAMPAIGN_ID}"]')
        assert card.locator("[data-test=state]").inner_text() == "ready"
        deadline = card.locator("[data-test=deadline]")
        assert re.fullmatch(r"\d+h \d\dm|\d+m \d\ds", deadline.inner_text().strip())  # ~30 minutes left
        assert "ClearanceRequiredBy 20" in (deadline.get_attribute("title") or "")
        screenshot(page, name, "1-campaign-list")

        page.goto(f"{stack.web_url}/console/campaigns/{CLAIM_CAMPAIGN_ID}")
        page.evaluate("window.stillTheSamePage = true")
        assert figures(page)["claimed"] == 0
        _claim(stack, session, [*eligible[:12], "not-in-the-audience"])
        wait_until(lambda: figures(page).get("claimed") == 13, timeout=15, what="the page to show the claims")
        assert page.evaluate("window.stillTheSamePage") is True  # updated in place, never reloaded
        wait_until(lambda: figures(page).get("reported") == 12, timeout=60, what="the claims to be reported")
        wait_until(lambda: _page_equals_api(page, stack, crm), timeout=10, what="the page to match the API")
        screenshot(page, name, "2-funnel-matches-the-api")

        stack.sim.set_operator_faults(force_status=401)  # the reward platform is misconfigured
        _claim(stack, session, eligible[12:15])
        wait_until(lambda: figures(page).get("failed") == 3, timeout=60, what="three claims to fail")
        screenshot(page, name, "3-failed-claims")

        stack.sim.set_operator_faults(latency_ms=5)  # fixed: now retry from the page
        _confirm_and_click(page, "retry-failed")
        assert "3 failed claim(s)" in page.locator("[data-test=flash]").inner_text()
        wait_until(
            lambda: figures(page).get("reported") == 15, timeout=60, what="the retried claims to complete"
        )
        assert figures(page)["failed"] == 0
        with reading(stack.engine) as uow:
            assert uow.claims.counts_by_state(CLAIM_CAMPAIGN_ID) == {"completed": 15, "rejected": 1}
        screenshot(page, name, "4-retried-to-completion")

        page.goto(f"{stack.web_url}/console/audit")
        rows = page.locator("[data-test=audit] tr").all_inner_texts()
        assert any(
            "olga" in r and "retry_failed_claims" in r and f"campaign {CLAIM_CAMPAIGN_ID}" in r for r in rows
        )
        assert any("olga" in r and "sign_in" in r and "done" in r for r in rows)
        screenshot(page, name, "5-audit-log")


def test_a_viewer_sees_no_action_and_a_forged_one_is_refused_and_audited(stack: Stack) -> None:
    name = "test_viewer"
    ready_claim_campaign(stack, 20)
    _user(stack, "vic", "viewer")
    _user(stack, "olga", "operator")

    with chromium() as browser:
        page = _signed_in(browser, stack, "vic")
        page.goto(f"{stack.web_url}/console/campaigns/{CLAIM_CAMPAIGN_ID}")
        assert page.locator("[data-test=actions]").count() == 0
        assert page.get_by_role("button", name="Retry failed claims").count() == 0
        screenshot(page, name, "1-viewer-campaign-page")

        forged = page.evaluate(
            """async (url) => {
                const token = document.querySelector('meta[name=csrf-token]').content;
                const body = new URLSearchParams({csrf_token: token, confirm: 'yes'});
                const answer = await fetch(url, {method: 'POST', body, credentials: 'same-origin'});
                return answer.status;
            }""",
            f"/console/campaigns/{CLAIM_CAMPAIGN_ID}/retry-failed",
        )
        assert forged == 403

        page.goto(f"{stack.web_url}/console/")
        assert page.locator("[data-test=pause-state]").count() == 1
        assert page.locator("[data-test=pause]").count() == 0  # a viewer sees the state, not the button

        operator = _signed_in(browser, stack, "olga")
        operator.goto(f"{stack.web_url}/console/audit")
        rows = operator.locator("[data-test=audit] tr").all_inner_texts()
        assert any("vic" in r and "retry_failed_claims" in r and "refused" in r for r in rows), rows
        screenshot(operator, name, "2-refusal-in-the-audit-log")


def test_an_operator_pauses_sets_a_safeguard_resumes_and_reads_a_customers_trail(stack: Stack) -> None:
    name = "test_operator_control"
    eligible = ready_claim_campaign(stack, 60)
    _user(stack, "olga", "operator")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.api_key()}"

    def states() -> dict[str, int]:
        with reading(stack.engine) as uow:
            return uow.claims.counts_by_state(CLAIM_CAMPAIGN_ID)

    with chromium() as browser:
        page = _signed_in(browser, stack, "olga")
        page.fill("input[name=reason]", "fraud review")
        _confirm_and_click(page, "pause")
        assert "paused" in page.locator("[data-test=flash]").inner_text()
        assert "fraud review" in page.locator("[data-test=pause-state]").inner_text()
        screenshot(page, name, "1-paused")

        _claim(stack, session, eligible[:5])
        time.sleep(4)  # several validator turns: none may run while paused
        assert states() == {"pending": 5}

        page.goto(f"{stack.web_url}/console/campaigns/{CLAIM_CAMPAIGN_ID}")
        page.fill("[data-test=max-rewards]", "3")
        _confirm_and_click(page, "save-settings")
        assert "max_rewards=3" in page.locator("[data-test=flash]").inner_text()
        assert page.locator("[data-test=effective-max_rewards]").inner_text() == "3"
        screenshot(page, name, "2-safeguard-set")

        page.goto(f"{stack.web_url}/console/")
        _confirm_and_click(page, "resume")
        wait_until(
            lambda: states() == {"completed": 3, "rejected": 2}, timeout=60, what="3 rewarded, 2 stopped"
        )
        with reading(stack.engine) as uow:
            failed = uow.claims.recent_failed(CLAIM_CAMPAIGN_ID, limit=10)
            stopped = [
                c for c in (uow.claims.find_by_customer(CLAIM_CAMPAIGN_ID, x) for x in eligible[:5]) if c
            ]
        assert not failed
        refused = next(c for c in stopped if c.state.value == "rejected")
        assert refused.reason == "safeguard:max_rewards"

        page.goto(f"{stack.web_url}/console/customers")
        page.fill("input[name=customer_id]", refused.customer_id)
        page.fill("input[name=campaign_id]", str(CLAIM_CAMPAIGN_ID))
        page.click("form[data-test=customer-search] button[type=submit]")
        story = page.locator("[data-test=trail]").inner_text()
        assert refused.customer_id in story and "max_rewards" in story
        screenshot(page, name, "3-customer-trail")

        page.goto(f"{stack.web_url}/console/audit")
        rows = page.locator("[data-test=audit] tr").all_inner_texts()
        for action in ("pause", "change_campaign_settings", "resume", "view_customer_trail"):
            assert any("olga" in r and action in r and "done" in r for r in rows), (action, rows)
        screenshot(page, name, "4-audit-log")
