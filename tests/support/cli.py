"""The command line as an operator runs it: a subprocess on one database, with no broker server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine


def promobridge(*args: str, database: Engine | str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run `promobridge ARGS` against `database` (an engine or its URL), in `data_dir`, with the
    embedded broker (no Redis); its exit code and output, never raising on failure."""
    url = database if isinstance(database, str) else database.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "REDIS_URL")}
    env |= {"DATABASE_URL": url, "PROMOBRIDGE_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=data_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
