"""The Celery application: `celery -A workers.celery_app worker -Q ingest,default`."""

from __future__ import annotations

from pathlib import Path

from celery import Celery

import celeryconfig
import workers.signals  # noqa: F401  (connects logging, correlation-id and metrics signal receivers)

app = Celery("promobridge", include=["tasks.ingest", "tasks.claims", "tasks.maintenance"])
app.config_from_object(celeryconfig)

if celeryconfig.broker_url.startswith("filesystem://"):
    # The embedded file-system broker needs its folder to exist before anyone publishes.
    Path(str(celeryconfig.broker_transport_options["data_folder_in"])).mkdir(parents=True, exist_ok=True)
