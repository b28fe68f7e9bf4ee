"""The container a worker process's tasks use: built after the fork, publishing on the running Celery app."""

from __future__ import annotations

from celery import current_app

from app.adapters.dispatch import CeleryDispatcher
from app.bootstrap import Container, process_container


def container() -> Container:
    """This worker process's container (rebuilt in a forked child: connections must not cross a fork)."""
    return process_container(lambda: CeleryDispatcher(current_app))
