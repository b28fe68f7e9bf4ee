"""docker-compose.yml and the Procfile: valid, and every process they run is a tested promobridge command.

No Docker engine runs on these machines, so the compose file is checked against the Compose
Specification's JSON schema (vendored by check-jsonschema), not by `docker compose config`.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.procfile import load_procfile

ROOT = Path(__file__).resolve().parents[2]
SECRET_VARIABLE = re.compile(r"^[A-Z0-9_]*(TOKEN|KEY|SECRET|PASSWORD|AUTH)[A-Z0-9_]*$")
# ${NAME:-default} and ${NAME-default}: the value used when the operator set nothing.
DEFAULTED_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):?-")
REQUIRED_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):\?")
URL_PASSWORD = re.compile(r"://[^/:@\s]+:(?P<password>[^@\s]+)@")
# Each of these is started as a real process by the end-to-end tests (tests/e2e) or the demo test.
COMMANDS_TESTED_ELSEWHERE = {"web", "worker", "relay", "beat", "flower", "simulator", "db"}


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or "check-jsonschema"
    return subprocess.run(
        [executable, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_compose_file_matches_the_compose_specification() -> None:
    result = _check_compose(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_does_catch_a_broken_compose_file(tmp_path: Path) -> None:
    broken = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "whenever"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    assert _check_compose(path).returncode != 0


def _compose_commands() -> dict[str, list[str]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {name: service["command"] for name, service in compose["services"].items() if "command" in service}


def _procfile_commands() -> dict[str, list[str]]:
    procfile = load_procfile(ROOT / "Procfile")
    return {name: shlex.split(process.command) for name, process in procfile.items()}


@pytest.mark.parametrize("source", ["compose", "procfile"])
def test_every_process_is_a_promobridge_command_covered_by_the_tests(source: str) -> None:
    commands = _compose_commands() if source == "compose" else _procfile_commands()
    for name, command in commands.items():
        if command[0] in {"redis-server", "pg_isready"}:
            continue
        assert command[0] == "promobridge", f"{name} runs {command}"
        assert command[1] in COMMANDS_TESTED_ELSEWHERE, f"{name}: promobridge {command[1]} is not tested"
        help_run = subprocess.run(
            [sys.executable, "-m", "app.cli", command[1], "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert help_run.returncode == 0, help_run.stderr


def test_compose_runs_the_processes_the_procfile_runs() -> None:
    compose = {command[1] for command in _compose_commands().values() if command[0] == "promobridge"}
    procfile = {command[1] for command in _procfile_commands().values()}
    assert procfile <= compose | {"db"} and {"web", "worker", "relay", "beat", "flower", "db"} <= compose


def _settings_in(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string in the compose file, with the mapping key it is the value of ('' in lists)."""
    if isinstance(node, dict):
        for child_key, child in node.items():
            yield from _settings_in(child, str(child_key))
    elif isinstance(node, list):
        for child in node:
            yield from _settings_in(child)
    elif isinstance(node, str):
        yield key, node


def _secrets_with_defaults(compose: Any) -> set[str]:
    """The secrets that would get a value the operator did not choose (a default, or a literal)."""
    offenders = set()
    for key, value in _settings_in(compose):
        defaulted = {m["name"] for m in DEFAULTED_VARIABLE.finditer(value)}
        offenders |= {name for name in defaulted if SECRET_VARIABLE.match(name)}
        if SECRET_VARIABLE.match(key) and not REQUIRED_VARIABLE.search(value):
            offenders.add(key)
        password = URL_PASSWORD.search(value)
        if password and not REQUIRED_VARIABLE.match(password["password"]):
            offenders.add(key)
    return offenders


def test_no_secret_in_the_compose_file_has_a_default() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert _secrets_with_defaults(compose) == set()


def test_compose_requires_every_secret_the_stack_needs() -> None:
    required = set(REQUIRED_VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    assert {
        "LISTENER_TOKEN",
        "OPTIMOVE_API_KEY",
        "FLOWER_BASIC_AUTH",
        "POSTGRES_PASSWORD",
        "CONSOLE_SECRET_KEY",
    } <= required


def test_the_default_check_does_catch_defaulted_and_literal_secrets() -> None:
    compose = {
        "x-env": {
            "LISTENER_TOKEN": "${LISTENER_TOKEN:-change-me-listener-token}",
            "OPTIMOVE_API_KEY": "${OPTIMOVE_API_KEY-sim-key}",
            "DATABASE_URL": "postgresql://promobridge:promobridge@postgres:5432/promobridge",
        },
        "services": {
            "postgres": {"environment": {"POSTGRES_PASSWORD": "promobridge"}},
            "flower": {"command": ["flower", "--basic-auth=${FLOWER_BASIC_AUTH:-admin:change-me}"]},
        },
    }
    assert _secrets_with_defaults(compose) == {
        "LISTENER_TOKEN",
        "OPTIMOVE_API_KEY",
        "DATABASE_URL",
        "POSTGRES_PASSWORD",
        "FLOWER_BASIC_AUTH",
    }
