"""Regenerate docs/console-campaign.png: the console's campaign page while claims are flowing.

Starts the simulator, web, a worker and the relay on a throwaway PostgreSQL database and a Redis
of your choice, fires a claim-mode campaign, sends claims at a steady pace (a few go to customers
the reward platform refuses or fails), and takes a screenshot of the campaign page mid-flight with
headless Chromium. `python scripts/console_screenshot.py --redis-url redis://127.0.0.1:6379/3`
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import requests
from playwright.sync_api import sync_playwright

from app.processes import ProcessGroup, free_port, http_ready, wait_for
from app.security import fresh_secrets_env
from benchmarks.stack import throwaway_postgres_database
from simulator.control_client import SimControl

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = 1359
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main() -> None:
    """Start the stack, let claims flow, take the screenshots, stop everything."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console-campaign.png")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp, throwaway_postgres_database("promobridge_screenshot") as database_url:
        sim_port, web_port = free_port(), free_port()
        sim_url, web_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{web_port}"
        env = {
            **fresh_secrets_env(),
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": args.redis_url,
            "OPTIMOVE_API_URL": f"{sim_url}/current",
            "OPTIPROMO_API_URL": f"{sim_url}/optipromo",
            "PROMOBRIDGE_PUBLIC_URL": web_url,
            "PROMOBRIDGE_DATA_DIR": f"{tmp}/data",
            "DEFAULT_CAMPAIGN_MODE": "claim",
            "OPTIMOVE_PAGE_SIZE": "2000",
            "OPTIMOVE_RATE_LIMIT": "20",
            "OPTIMOVE_RATE_WINDOW_SECONDS": "2",
            "REWARD_ACTIVATOR": "http",
            "REWARD_ACTIVATOR_URL": f"{sim_url}/_operator/grants",
            "CLAIM_MAX_RETRIES": "1",
            "RETRY_BACKOFF_BASE_SECONDS": "0.2",
            "RETRY_BACKOFF_MAX_SECONDS": "1",
            "CONSOLE_PLAIN_HTTP": "true",
            "CONSOLE_REFRESH_SECONDS": "2",
            "LOG_LEVEL": "WARNING",
        }
        group = ProcessGroup(env, Path(tmp))
        try:
            group.run("db", "upgrade")
            group.start(
                "simulator",
                [
                    "simulator",
                    "--port",
                    str(sim_port),
                    "--rate-limit",
                    "20/2",
                    "--api-key",
                    env["OPTIMOVE_API_KEY"],
                ],
            )
            group.start("web", ["web", "--port", str(web_port), "--workers", "2"])
            group.start("worker", ["worker", "-c", "2"])
            group.start("relay", ["relay"])
            wait_for(http_ready(f"{sim_url}/_sim/state"), timeout=30, what="the simulator")
            wait_for(http_ready(f"{web_url}/healthz"), timeout=30, what="the web process")
            group.run("register")
            group.run(
                "users",
                "create",
                "ada",
                "--role",
                "operator",
                "--password-stdin",
                stdin="a long demo passphrase\n",
            )
            key = group.run("clients", "create", "app", "--rate-limit-per-minute", "100000").strip()
            sim = SimControl(sim_url)
            sim.create_campaign(20_000, campaign_id=CAMPAIGN, no_consent_rate=0.08, fraud_rate=0.03)
            customers = [c["customer_id"] for c in sim.customers(CAMPAIGN)]
            rng = random.Random(3)
            sim.set_operator_faults(
                latency_ms=30, failing_customers=rng.sample(customers, 40), rate_refuse=0.02
            )
            sim.fire(CAMPAIGN)
            wait_for(
                lambda: "ready" in group.run("campaigns", "show", str(CAMPAIGN)),
                timeout=120,
                interval=1,
                what="ingest",
            )

            stop = threading.Event()

            def claims() -> None:
                session = requests.Session()
                session.headers["Authorization"] = f"Bearer {key}"
                for customer in rng.sample(customers, 6000):
                    if stop.is_set():
                        return
                    session.post(
                        f"{web_url}/v1/claims",
                        json={"campaign_id": CAMPAIGN, "customer_id": customer},
                        timeout=10,
                    )
                    time.sleep(0.01)

            sender = threading.Thread(target=claims, daemon=True)
            sender.start()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{web_url}/console/sign-in")
                page.fill("input[name=name]", "ada")
                page.fill("input[name=password]", "a long demo passphrase")
                page.click("button[type=submit]")
                page.goto(f"{web_url}/console/campaigns/{CAMPAIGN}")
                time.sleep(60)
                page.screenshot(path=str(args.out), full_page=True)
                phone = browser.new_page(viewport={"width": 390, "height": 844})
                phone.context.add_cookies(page.context.cookies())
                phone.goto(f"{web_url}/console/")
                phone.screenshot(path=str(args.out.with_name("console-campaigns-phone.png")), full_page=True)
                browser.close()
            stop.set()
            print(f"wrote {args.out}")
        finally:
            group.stop_all()


if __name__ == "__main__":
    main()
