"""Fixtures: a simulator on a free port, authenticated Optimove/OptiPromo clients, a webhook listener."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer

API_KEY = "test-key"
CLIENT_TIMEOUT_SECONDS = 10.0


class OptimoveClient:
    """A bare client for the simulated Optimove API (the real one lives in app/, not tested here)."""

    def __init__(self, base_url: str, api_key: str = API_KEY) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["X-API-KEY"] = api_key

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", CLIENT_TIMEOUT_SECONDS)
        return self.session.get(self.base_url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", CLIENT_TIMEOUT_SECONDS)
        return self.session.post(self.base_url + path, **kwargs)


class Control:
    """The simulator's /_sim API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url + "/_sim"

    def create_campaign(self, **body: Any) -> dict[str, Any]:
        response = requests.post(f"{self.base_url}/campaigns", json=body, timeout=CLIENT_TIMEOUT_SECONDS)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def post(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return requests.post(self.base_url + path, json=body or {}, timeout=CLIENT_TIMEOUT_SECONDS)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.base_url + path, timeout=CLIENT_TIMEOUT_SECONDS)

    def set_faults(self, **plan: Any) -> None:
        response = self.post("/faults", plan)
        assert response.status_code == 200, response.text

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.get("/state").json()
        return state


def validate(
    optipromo: OptimoveClient,
    promo_code: str,
    customer_ids: list[str],
    session: dict[str, Any] | None = None,
    campaign_id: int | str | None = None,
) -> requests.Response:
    """POST validateCustomers for ``customer_ids``, all with the same session properties."""
    body: dict[str, Any] = {
        "contexts": [{"customerId": cid, "sessionProperties": session or {}} for cid in customer_ids]
    }
    if campaign_id is not None:
        body["campaignData"] = {"campaignId": campaign_id}
    return optipromo.post(f"/v1/promocodes/{promo_code}/validateCustomers", json=body)


def effects_of(response: requests.Response) -> list[list[dict[str, Any]]]:
    """Each answered context's effects, in order (asserting a 200 first)."""
    assert response.status_code == 200, response.text
    return [context["effects"] for context in response.json()["contexts"]]


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A simulator without a rate limit, so tests that are not about it never see a 429."""
    config = SimulatorConfig(api_keys=(API_KEY,), rate_limit_enabled=False, seed=7)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def optimove(sim: SimulatorServer) -> OptimoveClient:
    return OptimoveClient(sim.optimove_url)


@pytest.fixture
def optipromo(sim: SimulatorServer) -> OptimoveClient:
    """The same bare client pointed at the simulated OptiPromo API (same key, same budget)."""
    return OptimoveClient(sim.optipromo_url)


@pytest.fixture
def control(sim: SimulatorServer) -> Control:
    return Control(sim.url)


class RecordingListener:
    """A tiny webhook receiver in its own werkzeug thread that remembers every body it got."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[Any] = []
        self._lock = threading.Lock()
        app = Flask("listener")

        @app.post("/hook/<token>")
        def hook(token: str) -> tuple[str, int]:
            with self._lock:
                self.bodies.append({"token": token, "json": request.get_json()})
            return "ok", status

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook/secret"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def listener() -> Iterator[RecordingListener]:
    receiver = RecordingListener()
    yield receiver
    receiver.stop()


@pytest.fixture
def sim_url_client(sim: SimulatorServer) -> OptimoveClient:
    """A client presenting a key the simulator does not know."""
    return OptimoveClient(sim.optimove_url, api_key="wrong-key")
