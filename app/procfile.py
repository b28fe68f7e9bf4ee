"""The Procfile: the one list of promobridge's processes.

Platforms read it, `promobridge run` reads it, and the deploy-file tests check docker-compose
against it. Each line is ``name: command``; commands are shell command lines (platforms run them
through a shell, so ``${PORT:-8000}`` takes the platform's PORT or the default). ``release`` is
the one-shot step run before the others start (migrations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RELEASE = "release"
# Pool children per worker process. Claim tasks mostly wait on Optimove, the operator's platform and
# PostgreSQL, so twice the two cores of a typical node keeps the cores busy: with 2 children the
# activation messages queued behind one long validation turn (bench claims c: p99 1.28 s with 2,
# 0.27 s with 4, end-to-end claims/s unchanged). The Procfile's ${WORKER_CONCURRENCY:-4} says the same.
DEFAULT_WORKER_CONCURRENCY = 4
PROCFILE_NAME = "Procfile"
_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>\S.*)$")


class ProcfileError(ValueError):
    """Raised when the Procfile is missing or a line is not ``name: command``."""


@dataclass(frozen=True, slots=True)
class ProcessType:
    """One line of the Procfile."""

    name: str
    command: str


def parse_procfile(text: str) -> dict[str, ProcessType]:
    """Every process type, in file order; blank lines and ``#`` comments are skipped."""
    processes: dict[str, ProcessType] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if match is None:
            raise ProcfileError(f"Procfile line {number} is not 'name: command': {stripped!r}")
        name = match["name"]
        if name in processes:
            raise ProcfileError(f"Procfile line {number}: process {name!r} is listed twice")
        processes[name] = ProcessType(name, match["command"])
    return processes


def find_procfile(start: Path | None = None) -> Path:
    """The Procfile of this checkout: in `start` (the current directory) or beside the app package."""
    candidates = [
        (start or Path.cwd()) / PROCFILE_NAME,
        Path(__file__).resolve().parent.parent / PROCFILE_NAME,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ProcfileError(f"no Procfile found (looked at {', '.join(str(c) for c in candidates)})")


def load_procfile(path: Path | None = None) -> dict[str, ProcessType]:
    """Read and parse the Procfile."""
    return parse_procfile((path or find_procfile()).read_text())
