"""A configuration promobridge cannot use ends a command with one line on stderr and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.stack import throwaway_postgres_database

BAD_CONFIGURATION_EXIT_CODE = 2


def _promobridge(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_"))}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_an_unusable_database_url_gives_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = _promobridge("db", "current", env={"DATABASE_URL": "mysql://u:hunter2@db/promo"}, cwd=tmp_path)
    assert result.returncode == BAD_CONFIGURATION_EXIT_CODE, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


def test_the_postgresql_url_a_platform_gives_just_works(tmp_path: Path) -> None:
    with throwaway_postgres_database("promobridge_cli_url") as url:
        platform_url = "postgres://" + url.split("://", 1)[1]
        upgraded = _promobridge("db", "upgrade", env={"DATABASE_URL": platform_url}, cwd=tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr[-2000:]
        current = _promobridge("db", "current", env={"DATABASE_URL": platform_url}, cwd=tmp_path)
        assert current.returncode == 0, current.stderr[-2000:]
        assert upgraded.stdout.strip() == f"database at revision {current.stdout.strip()}"
