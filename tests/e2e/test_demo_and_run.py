"""Done-when for running it: the demo on embedded defaults, and `promobridge run` on real servers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import requests

from app.security import fresh_secrets_env
from benchmarks.stack import ProcessGroup, free_port, http_ready, throwaway_postgres_database, wait_until
from simulator.control_client import SimControl
from tests.support.databases import redis_test_url

pytestmark = pytest.mark.e2e
RUN_REDIS_URL = redis_test_url(14)


def test_the_demo_runs_the_whole_flow_with_no_server_and_no_configuration(tmp_path: Path) -> None:
    # No DATABASE_URL, no broker: a clean environment, as on a fresh clone after the install command.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            (
                "DATABASE_",
                "CELERY_",
                "OPTIMOVE_",
                "OPTIPROMO_",
                "REDIS_",
                "PROMOBRIDGE_",
                "LISTENER_",
                "FLOWER_",
            )
        )
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--customers", "600", "--claims", "120"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = result.stdout
    assert "every reward given once and reported once           yes" in report or report.rstrip().endswith(
        "yes"
    )
    figures = {line[:44].strip(): line[44:].strip() for line in report.splitlines() if line[:2] != "--"}
    assert figures["customers rewarded twice"] == "0" and figures["customers reported twice"] == "0"
    assert figures["rewarded (wallet credits)"] == figures["status delivered to Optimove"] != "0"
    assert int(figures["claims (distinct customers)"]) == 120
    assert any(key.startswith("rejected: optipromo:audience_cap_reached") for key in figures)
    assert "ingest" in result.stderr  # progress was shown


def test_promobridge_run_serves_the_api_and_carries_a_claim_through(tmp_path: Path) -> None:
    redis.Redis.from_url(RUN_REDIS_URL).flushdb()
    sim_port, web_port = free_port(), free_port()
    with throwaway_postgres_database("promobridge_run") as database_url:
        env = {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": RUN_REDIS_URL,
            "OPTIMOVE_API_URL": f"http://127.0.0.1:{sim_port}/current",
            "OPTIPROMO_API_URL": f"http://127.0.0.1:{sim_port}/optipromo",
            "PROMOBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            **fresh_secrets_env(),
            "CAMPAIGN_MODES": "6001:claim",
            "PROMOBRIDGE_DATA_DIR": str(tmp_path / "data"),
        }
        group = ProcessGroup(env, tmp_path)
        try:
            group.start(
                "simulator", ["simulator", "--port", str(sim_port), "--api-key", env["OPTIMOVE_API_KEY"]]
            )
            group.start(
                "run", ["run", "--port", str(web_port), "--no-flower", "--log-dir", str(tmp_path / "run")]
            )
            wait_until(http_ready(f"http://127.0.0.1:{web_port}/healthz"), timeout=60, what="promobridge run")
            wait_until(
                http_ready(f"http://127.0.0.1:{sim_port}/_sim/state"), timeout=30, what="the simulator"
            )
            group.run("register")
            key = group.run("clients", "create", "run-backend").strip()
            sim = SimControl(f"http://127.0.0.1:{sim_port}")
            sim.create_campaign(50, campaign_id=6001, no_consent_rate=0, fraud_rate=0)
            sim.fire(6001)
            customer = sim.customers(6001)[0]["customer_id"]
            headers = {"Authorization": f"Bearer {key}"}

            def accepted() -> bool:
                response = requests.post(
                    f"http://127.0.0.1:{web_port}/v1/claims",
                    headers=headers,
                    timeout=10,
                    json={"campaign_id": 6001, "customer_id": customer},
                )
                return response.status_code in (200, 202)

            wait_until(accepted, timeout=60, interval=1, what="the campaign to take claims")
            claim = requests.post(
                f"http://127.0.0.1:{web_port}/v1/claims",
                headers=headers,
                timeout=10,
                json={"campaign_id": 6001, "customer_id": customer},
            ).json()
            final = requests.get(
                f"http://127.0.0.1:{web_port}/v1/claims/{claim['id']}?wait=30", headers=headers, timeout=40
            ).json()
            assert final["status"] == "completed", final
            assert sim.statuses(6001)[customer]["times"] == 1
            run_logs = {p.name for p in (tmp_path / "run").glob("*.log")}
            assert {"web.log", "worker-1.log", "relay.log", "beat.log"} <= run_logs
        except BaseException:
            print(group.logs())
            raise
        finally:
            if "run" in group.processes:  # SIGTERM lets the supervisor stop its own children
                group.kill("run", signal.SIGTERM)
            group.stop_all()


def test_the_kept_demo_serves_its_campaign_in_the_console_until_interrupted(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--customers", "200", "--claims", "30", "--keep"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines: list[str] = []
        for line in demo.stdout:  # the report, then the console's address and its sign-in
            lines.append(line)
            if "sign in as" in line:
                break
        url = next(line.split(": ", 1)[1].strip() for line in lines if line.startswith("campaign console:"))
        user, password = re.findall(r"'([^']+)'", lines[-1])
        assert "every reward given once and reported once" in "".join(lines)

        browser = requests.Session()
        form = browser.get(f"{url}sign-in", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        signed_in = browser.post(
            f"{url}sign-in",
            data={"name": user, "password": password, "csrf_token": token.group(1)},
            timeout=10,
        )
        assert signed_in.status_code == 200 and "Campaign 7001" in signed_in.text
        assert "Campaign 7001" in browser.get(f"{url}campaigns/7001", timeout=10).text

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)  # everything it started is stopped
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
