"""`promobridge campaigns set|settings|release`, `pause`, `resume` and `rules` on PostgreSQL, run as an
operator runs them: what they print, what they store, and their refusals (exit 1, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from app.clock import utcnow
from app.domain.campaigns import CampaignMode, CampaignState, NewCampaign
from tests.support.cli import promobridge
from tests.support.uow import reading, writing

CAMPAIGN = 1359


def test_settings_set_before_the_webhook_then_cleared_and_shown(pg_engine: Engine, tmp_path: Path) -> None:
    stored = promobridge(
        "campaigns", "set", str(CAMPAIGN), "--mode", "auto", "--max-rewards", "50",
        "--max-reward-amount", "99.5", "--notes", "spring", database=pg_engine, data_dir=tmp_path,
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    assert "mode=auto max_audience=- max_rewards=50 max_reward_amount=99.5000 notes=spring" in stored.stdout

    cleared = promobridge("campaigns", "set", str(CAMPAIGN), "--max-rewards", "none", database=pg_engine,
                          data_dir=tmp_path)  # fmt: skip
    assert "max_rewards=- max_reward_amount=99.5000" in cleared.stdout
    shown = promobridge(
        "campaigns", "settings", str(CAMPAIGN), "--json", database=pg_engine, data_dir=tmp_path
    )
    settings = json.loads(shown.stdout)
    assert (settings["mode"], settings["mode_from"], settings["safeguards"]["max_reward_amount"]) == (
        "auto", "settings", "99.5000"
    )  # fmt: skip


def test_a_mode_change_after_claims_started_is_refused_and_nothing_changes(
    pg_engine: Engine, tmp_path: Path
) -> None:
    with writing(pg_engine) as uow:
        ready = NewCampaign(CAMPAIGN, CampaignMode.CLAIM, None, None, 100, state=CampaignState.READY)
        uow.campaigns.add(ready, now=utcnow())

    refused = promobridge(
        "campaigns", "set", str(CAMPAIGN), "--mode", "auto", database=pg_engine, data_dir=tmp_path
    )

    assert refused.returncode == 1
    assert "its mode cannot change after approvals or claims have started" in refused.stderr
    with reading(pg_engine) as uow:
        assert uow.campaign_settings.get(CAMPAIGN) is None


def test_bad_values_are_refused_before_anything_is_written(pg_engine: Engine, tmp_path: Path) -> None:
    for args in (["--max-rewards", "-3"], ["--max-reward-amount", "lots"], ["--mode", "sometimes"]):
        refused = promobridge("campaigns", "set", str(CAMPAIGN), *args, database=pg_engine, data_dir=tmp_path)
        assert refused.returncode == 2, args
    with reading(pg_engine) as uow:
        assert uow.campaign_settings.get(CAMPAIGN) is None


def test_a_held_campaign_is_released_once(pg_engine: Engine, tmp_path: Path) -> None:
    with writing(pg_engine) as uow:
        ready = NewCampaign(CAMPAIGN, CampaignMode.CLAIM, None, None, 100, state=CampaignState.READY)
        uow.campaigns.add(ready, now=utcnow())
        uow.campaigns.hold(CAMPAIGN, "safeguard:max_audience: 20 customers ingested", now=utcnow())

    shown = promobridge("campaigns", "show", str(CAMPAIGN), database=pg_engine, data_dir=tmp_path)
    assert "HELD                            safeguard:max_audience: 20 customers ingested" in shown.stdout
    first = promobridge("campaigns", "release", str(CAMPAIGN), database=pg_engine, data_dir=tmp_path)
    second = promobridge("campaigns", "release", str(CAMPAIGN), database=pg_engine, data_dir=tmp_path)
    unknown = promobridge("campaigns", "release", "404", database=pg_engine, data_dir=tmp_path)

    assert (first.stdout.strip(), second.stdout.strip()) == (
        f"campaign {CAMPAIGN} released", f"campaign {CAMPAIGN} was not held"
    )  # fmt: skip
    assert unknown.returncode == 1 and "campaign 404 is unknown" in unknown.stderr


def test_pause_and_resume(pg_engine: Engine, tmp_path: Path) -> None:
    paused = promobridge("pause", "--reason", "incident 42", database=pg_engine, data_dir=tmp_path)
    again = promobridge("pause", database=pg_engine, data_dir=tmp_path)
    with reading(pg_engine) as uow:
        switch = uow.switches.get("pause")
    resumed = promobridge("resume", database=pg_engine, data_dir=tmp_path)
    not_paused = promobridge("resume", database=pg_engine, data_dir=tmp_path)

    assert paused.stdout.startswith("paused (since ") and "by cli: incident 42" in paused.stdout
    assert again.stdout.startswith("already paused")
    assert switch is not None and (switch.on, switch.by, switch.reason) == (True, "cli", "incident 42")
    assert (resumed.stdout.strip(), not_paused.stdout.strip()) == ("resumed", "not paused")


def test_rules_set_list_and_delete(pg_engine: Engine, tmp_path: Path) -> None:
    rule = ["WELCOME*", "--priority", "5", "--mode", "claim", "--max-rewards", "7"]
    saved = promobridge("rules", "set", *rule, database=pg_engine, data_dir=tmp_path)
    listed = promobridge("rules", "list", database=pg_engine, data_dir=tmp_path)
    deleted = promobridge("rules", "delete", "WELCOME*", database=pg_engine, data_dir=tmp_path)
    missing = promobridge("rules", "delete", "WELCOME*", database=pg_engine, data_dir=tmp_path)
    bad = promobridge("rules", "set", "a/b", database=pg_engine, data_dir=tmp_path)

    line = "WELCOME*  priority=5 mode=claim max_audience=- max_rewards=7 max_reward_amount=- notes=-"
    assert saved.stdout.strip() == line and listed.stdout.strip() == line
    assert deleted.stdout.strip() == "rule WELCOME* deleted"
    assert missing.returncode == 1 and "no rule has the pattern" in missing.stderr
    assert bad.returncode == 1 and "without '/'" in bad.stderr
