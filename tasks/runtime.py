"""The per-process runtime tasks use, built lazily after the worker forked."""

from __future__ import annotations

import os

from celery import current_app

from app.bootstrap import Runtime, build_runtime
from app.config import load_settings
from tasks.dispatch import CeleryDispatcher

_runtime: Runtime | None = None
_runtime_pid: int | None = None


def runtime() -> Runtime:
    """This process's runtime (rebuilt in a forked child: connections must not cross a fork)."""
    global _runtime, _runtime_pid
    if _runtime is None or _runtime_pid != os.getpid():
        _runtime = build_runtime(load_settings())
        _runtime_pid = os.getpid()
    return _runtime


def dispatcher() -> CeleryDispatcher:
    """A dispatcher on the Celery app running this task."""
    return CeleryDispatcher(current_app)
