"""The start-up check: no process starts with a missing, well-known or weak secret."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.errors import ConfigurationError
from app.security import (
    CALLS_OPTIMOVE,
    EMBEDDED_TOKEN_FILE,
    MIN_LISTENER_TOKEN_LENGTH,
    SIMULATOR_API_KEY,
    Process,
    SecretsMisconfigured,
    check_secrets,
    embedded_listener_token,
    is_loopback_host,
    is_loopback_url,
    new_secret,
    require_safe_secrets,
    with_listener_token,
)
from simulator.config import DEFAULT_API_KEY
from tests.support.secrets import SAFE_SECRETS, STRONG_TOKEN

EVERY_PROCESS: tuple[Process, ...] = ("web", "worker", "relay", "beat", "register", "flower", "run")
PRODUCTION = {
    "DATABASE_URL": "postgresql://promobridge@db:5432/promobridge",
    "CELERY_BROKER_URL": "redis://cache:6379/0",
    "OPTIMOVE_API_URL": "https://api5.optimove.net/current",
    "OPTIPROMO_API_URL": "https://optipromo.optimove.net",
    **SAFE_SECRETS,
}


def production(**overrides: Any) -> Settings:
    return Settings(**{**PRODUCTION, **overrides})


def embedded(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(PROMOBRIDGE_DATA_DIR=tmp_path / "data", **overrides)


@pytest.mark.parametrize("process", EVERY_PROCESS)
def test_a_production_deployment_with_strong_secrets_starts_every_process(process: Process) -> None:
    assert check_secrets(production(), process, flower_address="0.0.0.0") == []


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "is not set"),
        ("change-me-listener-token", "well-known placeholder"),
        ("CHANGE-ME-please-" + "x" * 40, "well-known placeholder"),
        ("e2e-listener-token-7f3a9c", "well-known placeholder"),
        ("q3RkX9vP2mZ7", "12 characters long"),
        ("ab" * 20, "pattern"),
    ],
)
@pytest.mark.parametrize("process", EVERY_PROCESS)
def test_a_missing_well_known_or_short_listener_token_stops_every_process(
    token: str, reason: str, process: Process
) -> None:
    problems = check_secrets(production(LISTENER_TOKEN=token), process, flower_address="127.0.0.1")
    assert len(problems) == 1 and problems[0].startswith("LISTENER_TOKEN") and reason in problems[0]
    assert str(MIN_LISTENER_TOKEN_LENGTH) in problems[0]


def test_the_refusal_names_the_process_every_problem_and_how_to_make_a_secret() -> None:
    settings = production(LISTENER_TOKEN="change-me-listener-token", OPTIMOVE_API_KEY="")
    with pytest.raises(SecretsMisconfigured) as refused:
        require_safe_secrets(settings, "web")
    message = str(refused.value)
    assert message.startswith("promobridge web refuses to start")
    assert (
        "LISTENER_TOKEN is a well-known placeholder" in message and "OPTIMOVE_API_KEY is not set" in message
    )
    assert "promobridge init" in message and "secrets.token_urlsafe(32)" in message
    assert isinstance(refused.value, ConfigurationError)  # the CLI prints it and exits 2


def test_secret_values_never_appear_in_the_refusal() -> None:
    weak = "q3RkX9vP2mZ7"
    with pytest.raises(SecretsMisconfigured) as refused:
        require_safe_secrets(production(LISTENER_TOKEN=weak, FLOWER_BASIC_AUTH="ops:q3RkX9vP"), "flower")
    assert weak not in str(refused.value) and "q3RkX9vP" not in str(refused.value)


@pytest.mark.parametrize("process", EVERY_PROCESS)
def test_an_empty_optimove_key_stops_every_production_process(process: Process) -> None:
    problems = check_secrets(production(OPTIMOVE_API_KEY=""), process)
    assert [p for p in problems if p.startswith("OPTIMOVE_API_KEY is not set")]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"OPTIMOVE_API_KEY": "sim-key"}, "OPTIMOVE_API_URL (api5.optimove.net)"),
        (
            {"OPTIMOVE_API_KEY": "sim-key", "OPTIMOVE_API_URL": "http://127.0.0.1:8900/current"},
            "OPTIPROMO_API_URL (optipromo.optimove.net)",
        ),
        ({"OPTIPROMO_API_KEY": "sim-key"}, "OPTIPROMO_API_KEY is the simulator's"),
        ({"OPTIMOVE_API_KEY": "change-me"}, "OPTIMOVE_API_KEY is a placeholder"),
        ({"OPTIPROMO_API_KEY": "your-optipromo-key"}, "OPTIPROMO_API_KEY is a placeholder"),
    ],
)
def test_the_simulator_key_or_a_placeholder_is_refused_against_a_real_optimove(
    overrides: dict[str, str], named: str
) -> None:
    problems = check_secrets(production(**overrides), "worker")
    assert problems and named in problems[0], problems


def test_the_key_judged_well_known_is_the_simulators_own_default() -> None:
    assert SIMULATOR_API_KEY == DEFAULT_API_KEY


def test_the_simulator_key_is_fine_against_a_simulator_on_this_machine() -> None:
    local = production(
        OPTIMOVE_API_KEY="sim-key",
        OPTIMOVE_API_URL="http://127.0.0.1:8900/current",
        OPTIPROMO_API_URL="http://localhost:8900/optipromo",
    )
    assert check_secrets(local, "worker") == []


@pytest.mark.parametrize(
    ("basic_auth", "reason"),
    [
        ("", "FLOWER_BASIC_AUTH is not set"),
        ("admin:change-me", "well-known placeholder password"),
        ("ops:short-pw", "weak password"),
        ("ops:" + "ab" * 10, "weak password"),
        ("ops:" + STRONG_TOKEN + ",guest:guest", "weak password"),
        ("no-colon-here", "must be user:password"),
        (":" + STRONG_TOKEN, "must be user:password"),
    ],
)
@pytest.mark.parametrize("address", ["0.0.0.0", "10.1.2.3", "", "::"])
def test_flower_on_a_network_address_needs_a_strong_password(
    basic_auth: str, reason: str, address: str
) -> None:
    problems = check_secrets(production(FLOWER_BASIC_AUTH=basic_auth), "flower", flower_address=address)
    assert len(problems) == 1 and reason in problems[0], problems


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1"])
def test_flower_on_this_machine_only_needs_no_password(address: str) -> None:
    assert check_secrets(production(FLOWER_BASIC_AUTH=""), "flower", flower_address=address) == []


def test_only_flower_is_judged_by_its_address() -> None:
    assert check_secrets(production(FLOWER_BASIC_AUTH=""), "web", flower_address="0.0.0.0") == []


def test_embedded_mode_starts_without_a_token_and_without_a_key_where_no_key_is_used(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    assert settings.is_embedded
    for process in EVERY_PROCESS:
        problems = check_secrets(settings, process, flower_address="127.0.0.1")
        if process in CALLS_OPTIMOVE:
            assert len(problems) == 1 and "OPTIMOVE_API_KEY is not set" in problems[0]
            assert "the local simulator accepts sim-key" in problems[0]
        else:
            assert problems == []


def test_embedded_mode_still_refuses_a_weak_token_it_was_given(tmp_path: Path) -> None:
    problems = check_secrets(embedded(tmp_path, LISTENER_TOKEN="change-me-listener-token"), "web")
    assert len(problems) == 1 and "LISTENER_TOKEN is a well-known placeholder" in problems[0]


@pytest.mark.parametrize(
    "servers",
    [
        {"DATABASE_URL": "postgresql://u@db/promobridge"},
        {"CELERY_BROKER_URL": "redis://cache:6379/0"},
    ],
)
def test_one_real_server_is_enough_to_leave_embedded_mode(tmp_path: Path, servers: dict[str, str]) -> None:
    settings = embedded(tmp_path, **servers)
    assert not settings.is_embedded
    assert check_secrets(settings, "web")[0].startswith("LISTENER_TOKEN is not set")


def test_embedded_mode_generates_one_token_per_data_directory_readable_only_by_its_owner(
    tmp_path: Path,
) -> None:
    first = with_listener_token(embedded(tmp_path))
    second = with_listener_token(embedded(tmp_path))
    other = with_listener_token(Settings(PROMOBRIDGE_DATA_DIR=tmp_path / "elsewhere"))  # type: ignore[call-arg]

    assert first.listener_token == second.listener_token != other.listener_token
    assert check_secrets(first, "web") == []
    token_file = tmp_path / "data" / EMBEDDED_TOKEN_FILE
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in token_file.parent.iterdir()) == [EMBEDDED_TOKEN_FILE]  # no drafts left


def test_web_workers_starting_together_all_get_the_same_generated_token(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = set(pool.map(lambda _: embedded_listener_token(tmp_path / "data"), range(32)))
    assert len(tokens) == 1
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [EMBEDDED_TOKEN_FILE]


def test_a_configured_token_is_never_replaced(tmp_path: Path) -> None:
    assert with_listener_token(embedded(tmp_path, LISTENER_TOKEN=STRONG_TOKEN)).listener_token == STRONG_TOKEN
    assert with_listener_token(production(LISTENER_TOKEN="")).listener_token == ""  # refused, not generated
    assert not (tmp_path / "data").exists()


def test_a_damaged_token_file_is_reported_not_used(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / EMBEDDED_TOKEN_FILE).write_text("short\n")
    with pytest.raises(ConfigurationError, match="delete it"):
        with_listener_token(embedded(tmp_path))


def test_new_secrets_are_long_random_and_url_safe() -> None:
    made = {new_secret() for _ in range(20)}
    assert len(made) == 20
    assert all(
        len(s) >= MIN_LISTENER_TOKEN_LENGTH and s.replace("-", "").replace("_", "").isalnum() for s in made
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("10.0.0.5", False),
        ("web", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_means_this_machine_only(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_loopback_urls() -> None:
    assert is_loopback_url("http://127.0.0.1:8900/current")
    assert is_loopback_url("http://[::1]:8900/current")
    assert not is_loopback_url("http://simulator:8900/current")
    assert not is_loopback_url("https://127.0.0.1.nip.io/current")
    assert not is_loopback_url("not a url")
