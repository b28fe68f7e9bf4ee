"""docker-compose.yml and the Procfile: valid, and every process they run is a tested promobridge command.

No Docker engine runs on these machines, so the compose file is checked against the Compose
Specification's JSON schema (vendored by check-jsonschema), not by `docker compose config`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
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
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name: command.split() for name, _, command in (line.partition(": ") for line in lines if line)}


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
