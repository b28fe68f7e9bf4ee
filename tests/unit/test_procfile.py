"""The Procfile is the one process list: it parses strictly, and `promobridge run` plans from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.run import RunOptions, plan
from app.procfile import DEFAULT_WORKER_CONCURRENCY, ProcfileError, load_procfile, parse_procfile

ROOT = Path(__file__).resolve().parents[2]


def test_the_procfile_lists_every_process_and_the_release_step() -> None:
    procfile = load_procfile(ROOT / "Procfile")
    assert list(procfile) == ["web", "worker", "relay", "beat", "flower", "release"]
    assert procfile["release"].command == "promobridge db upgrade"


@pytest.mark.parametrize(
    "text", ["web promobridge web", "web:", ": promobridge web", "web: a\nweb: b", "we b: promobridge web"]
)
def test_a_malformed_procfile_is_refused_with_the_line(text: str) -> None:
    with pytest.raises(ProcfileError, match="line"):
        parse_procfile(text)


def test_comments_and_blank_lines_are_skipped() -> None:
    assert list(parse_procfile("# processes\n\nweb: promobridge web\n")) == ["web"]


def test_run_plans_the_procfile_processes_with_one_line_per_worker_pool() -> None:
    procfile = {name: p.command for name, p in load_procfile(ROOT / "Procfile").items()}
    release, processes = plan(procfile, RunOptions(host="127.0.0.1", port=8100, worker_pools=2, flower=False))
    assert release == "promobridge db upgrade"
    by_name = {p.name: p for p in processes}
    assert list(by_name) == ["web", "worker-1", "worker-2", "relay", "beat"]
    assert by_name["web"].command_line == procfile["web"] and by_name["web"].env == {
        "HOST": "127.0.0.1",
        "PORT": "8100",
    }
    assert by_name["worker-2"].command_line == f"{procfile['worker']} -n worker2@%h"
    assert by_name["worker-1"].env == {"WORKER_CONCURRENCY": str(DEFAULT_WORKER_CONCURRENCY)}


def test_flower_runs_on_its_own_port_when_asked() -> None:
    procfile = {name: p.command for name, p in load_procfile(ROOT / "Procfile").items()}
    _, processes = plan(procfile, RunOptions(flower=True, flower_port=5600))
    flower = next(p for p in processes if p.name == "flower")
    assert flower.env["PORT"] == "5600" and flower.command_line == procfile["flower"]
