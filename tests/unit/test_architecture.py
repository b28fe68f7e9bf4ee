"""Dependencies point inward: the domain, the policies and the services import no framework and no adapter.

Read from the source with `ast` (imports inside functions count too), so the rule cannot rot.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = frozenset(
    {
        "alembic",
        "celery",
        "flask",
        "gunicorn",
        "kombu",
        "limits",
        "prometheus_client",
        "psycopg2",
        "pydantic",
        "pydantic_settings",
        "redis",
        "requests",
        "sqlalchemy",
        "urllib3",
        "werkzeug",
    }
)
OUTER_LAYERS = ("app.adapters", "app.web", "app.cli", "app.bootstrap", "app.observability", "app.demo")
OUTSIDE_APP = ("tasks", "workers", "simulator", "benchmarks", "tests", "celeryconfig")
CORE = ("app/domain", "app/policies", "app/services")


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("folder", CORE)
def test_the_core_imports_no_framework(folder: str) -> None:
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(folder)
        for name in _imports(path)
        if name.split(".")[0] in FRAMEWORKS
    }
    assert not found, sorted(found)


@pytest.mark.parametrize("folder", CORE)
def test_the_core_imports_no_adapter_edge_or_composition_root(folder: str) -> None:
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(folder)
        for name in _imports(path)
        if _under(name, OUTER_LAYERS + OUTSIDE_APP)
    }
    assert not found, sorted(found)


def test_the_domain_depends_on_nothing_but_itself_and_the_standard_library() -> None:
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("app/domain")
        for name in _imports(path)
        if name.startswith("app.") and not _under(name, ("app.domain", "app.clock"))
    }
    assert not found, sorted(found)


def test_nothing_in_app_imports_the_task_or_worker_programs() -> None:
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("app")
        for name in _imports(path)
        if _under(name, ("tasks", "workers"))
    }
    assert not found, sorted(found)


def test_the_rule_would_catch_a_framework_import(tmp_path: Path) -> None:
    module = tmp_path / "leaky.py"
    module.write_text("def f():\n    from sqlalchemy import select\n    import flask.json\n")
    assert set(_imports(module)) == {"sqlalchemy", "flask.json"}
