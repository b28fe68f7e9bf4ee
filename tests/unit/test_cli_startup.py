"""The command line starts light: `--help` imports no framework, whatever the command."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_MODULES = ("celery", "sqlalchemy", "flask", "requests")
# Every top-level command and group, so a heavy import at the top of any command module is caught.
COMMANDS = (
    "init",
    "demo",
    "db",
    "campaigns",
    "operator-data",
    "register",
    "web",
    "worker",
    "relay",
    "beat",
    "flower",
    "run",
    "simulator",
    "bench",
    "chaos",
    "clients",
    "claims",
    "reconcile",
    "policies",
)

_PROBE = """
import importlib, json, sys
from app.cli import main
for args in json.loads(sys.argv[1]):
    try:
        main(args, standalone_mode=False)
    except SystemExit:
        pass
for name in json.loads(sys.argv[3]):
    importlib.import_module(name)
heavy = [name for name in json.loads(sys.argv[2]) if name in sys.modules]
print(json.dumps(heavy))
"""


def _heavy_modules_imported_by(*invocations: list[str], also_import: tuple[str, ...] = ()) -> list[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            json.dumps(list(invocations)),
            json.dumps(HEAVY_MODULES),
            json.dumps(also_import),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    heavy: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return heavy


def test_the_top_level_help_imports_no_framework() -> None:
    assert _heavy_modules_imported_by(["--help"]) == []


def test_every_command_help_imports_no_framework() -> None:
    assert _heavy_modules_imported_by(*([name, "--help"] for name in COMMANDS)) == []


def test_the_probe_does_see_a_heavy_import() -> None:
    # A test that cannot fail is a defect: the probe notices a framework once something imports it.
    assert _heavy_modules_imported_by(["--help"], also_import=("app.adapters.db.schema",)) == ["sqlalchemy"]
