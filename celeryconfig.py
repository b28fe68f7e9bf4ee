"""Celery settings, derived from promobridge's typed settings (the one reader of the environment).

Delivery is at-least-once: messages are acknowledged after the task returns, a task whose pool
child dies is requeued, and each worker process holds at most one message. Every task is
idempotent (guarded by PostgreSQL state), so redelivery is harmless. Redis' visibility timeout
must exceed the longest task plus the longest retry countdown, or a slow task runs twice.
"""

from __future__ import annotations

from app.adapters.dispatch import MAINTENANCE_SWEEP, QUEUES
from app.config import process_settings

_settings = process_settings()

TASK_TIME_LIMIT_SECONDS = 300
TASK_SOFT_TIME_LIMIT_SECONDS = 270
# Every countdown comes from the shared backoff, capped at RETRY_BACKOFF_MAX_SECONDS.
MAX_RETRY_COUNTDOWN_SECONDS = max(120.0, _settings.retry_backoff_max_seconds)
VISIBILITY_TIMEOUT_SECONDS = 3 * (TASK_TIME_LIMIT_SECONDS + MAX_RETRY_COUNTDOWN_SECONDS)

broker_url = _settings.resolved_broker_url
broker_connection_retry_on_startup = True
if broker_url.startswith("filesystem://"):
    _folder = str(_settings.broker_folder)
    broker_transport_options = {
        "data_folder_in": _folder,
        "data_folder_out": _folder,
        "store_processed": False,
    }
else:
    broker_transport_options = {
        "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
        "health_check_interval": 10,
    }
visibility_timeout = VISIBILITY_TIMEOUT_SECONDS

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
result_backend = None

task_acks_late = True
task_reject_on_worker_lost = True
task_acks_on_failure_or_timeout = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True
task_time_limit = TASK_TIME_LIMIT_SECONDS
task_soft_time_limit = TASK_SOFT_TIME_LIMIT_SECONDS

# Task events feed Flower; the file-system transport has no fanout exchange, so in embedded mode
# they would only pile up as files nobody reads.
worker_send_task_events = not broker_url.startswith("filesystem://")
task_send_sent_event = worker_send_task_events

# One beat process runs the maintenance sweep (a backstop for the relay process's own sweeps).
beat_schedule = {
    "maintenance-sweep": {
        "task": MAINTENANCE_SWEEP,
        "schedule": max(5.0, _settings.sweep_interval_seconds),
        "options": {"expires": 60},
    },
}
beat_schedule_filename = str(_settings.data_dir.resolve() / "celerybeat-schedule")

task_default_queue = "default"
task_routes = {name: {"queue": queue} for name, queue in QUEUES.items()}
