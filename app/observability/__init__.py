"""Observability: metrics, structured logs with a correlation id, and health checks.

- ``metrics``: Prometheus counters and the ``record_*`` functions product code calls
  (multiprocess-safe), the scrape registry, ``start_worker_metrics_server``.
- ``db_metrics``: gauges read from the database at scrape time.
- ``logging`` / ``context`` / ``redaction``: JSON logs, the contextvars correlation id, secret
  scrubbing.
- ``task_context``: the correlation id as a Celery message header (publish side).
- ``health``: readiness checks for the database and the broker.
- ``gunicorn_conf``: gunicorn hooks (logging in the master, ``child_exit``).

Nothing is re-exported here on purpose: importing a submodule stays cheap and free of side
effects (prometheus-client picks its storage mode when first imported, so only code that
records metrics should import it).
"""
