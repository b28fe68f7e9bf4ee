"""The ingress skeleton: the least a claims endpoint can do, as the baseline of section (a).

A bare Flask app whose `POST /v1/claims` inserts a claim row and an outbox row into promobridge's
own schema and commits (no authentication, no audience check, no idempotency lookup, no doorbell),
served by the same gunicorn worker class with the same process and thread counts as `promobridge
web`, and driven by the same load generator. It writes to a database of its own (migrated to the
same schema) so that no promobridge process ever sees its rows. `/healthz` answers like the
service's, so the probe that runs during every ingress measurement costs both the same.
"""

from __future__ import annotations

import hashlib
import os
import sys
import uuid

from flask import Flask, Response, jsonify, request

from app.adapters.db.dialect import build_engine
from app.adapters.db.tables import claims, outbox
from app.clock import utcnow
from app.domain.outbox import PROMOTION_STATUS

DATABASE_ENV = "BENCH_SKELETON_DATABASE_URL"
WORKER_CLASS = "app.web.gunicorn_worker.BufferingThreadWorker"  # the one `promobridge web` runs


def create_app() -> Flask:
    """The skeleton app on the database named by BENCH_SKELETON_DATABASE_URL."""
    engine = build_engine(os.environ[DATABASE_ENV])
    app = Flask(__name__)

    @app.post("/v1/claims")
    def create_claim() -> tuple[Response, int]:
        raw = request.get_data()
        body = request.get_json(force=True)
        claim_id, now = str(uuid.uuid4()), utcnow()
        with engine.begin() as conn:
            conn.execute(
                claims.insert().values(
                    id=claim_id,
                    source="http",
                    campaign_id=body["campaign_id"],
                    customer_id=body["customer_id"],
                    session_properties={},
                    idempotency_key=request.headers.get("Idempotency-Key"),
                    request_hash=hashlib.sha256(raw).hexdigest(),
                    state="pending",
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                outbox.insert().values(
                    kind=PROMOTION_STATUS,
                    campaign_id=body["campaign_id"],
                    customer_id=body["customer_id"],
                    status=True,
                    created_at=now,
                    available_at=now,
                )
            )
        return jsonify({"id": claim_id, "status": "pending"}), 202

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    return app


def skeleton_command(port: int, workers: int, threads: int) -> list[str]:
    """The gunicorn command line that serves the skeleton like `promobridge web` serves promobridge."""
    return [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--threads", str(threads), "--worker-class", WORKER_CLASS, "benchmarks.claims.skeleton:create_app()",
    ]  # fmt: skip
