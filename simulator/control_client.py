"""A Python client for the simulator's /_sim control and inspection API (real HTTP).

Used by the tests, the benchmarks and the demo to drive a simulator running in another process.
"""

from __future__ import annotations

from typing import Any

import requests

CONTROL_TIMEOUT_SECONDS = 30.0


class SimControl:
    """Drives one simulator: create campaigns, fire webhooks, inject faults, read what it recorded."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(
            method, f"{self.base_url}/_sim{path}", timeout=CONTROL_TIMEOUT_SECONDS, **kwargs
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def create_campaign(self, size: int, **spec: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/campaigns", json={"size": size, **spec}))

    def fire(self, campaign_id: int, *, times: int = 1, event_type_id: int = 5) -> list[dict[str, Any]]:
        body = self._call(
            "POST", f"/campaigns/{campaign_id}/fire", json={"times": times, "event_type_id": event_type_id}
        )
        return list(body["deliveries"])

    def customers(self, campaign_id: int) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/campaigns/{campaign_id}/customers")["customers"])

    def campaign(self, campaign_id: int) -> dict[str, Any]:
        """One campaign's counters (customers set, set more than once, …) without its customers."""
        return dict(self._call("GET", f"/campaigns/{campaign_id}"))

    def statuses(self, campaign_id: int) -> dict[str, dict[str, Any]]:
        return dict(self._call("GET", f"/campaigns/{campaign_id}/statuses")["statuses"])

    def set_faults(self, **plan: Any) -> None:
        self._call("POST", "/faults", json=plan)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def set_rate_limit(self, *, enabled: bool, limit: int = 50, window_seconds: float = 10.0) -> None:
        self._call(
            "POST", "/ratelimit", json={"enabled": enabled, "limit": limit, "window_seconds": window_seconds}
        )

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "/state"))

    def set_operator_faults(self, **plan: Any) -> None:
        """Replace the simulated operator platform's plan (latency, faults, forced status)."""
        self._call("POST", "/operator/faults", json=plan)

    def clear_operator_faults(self) -> None:
        self._call("DELETE", "/operator/faults")

    def operator_grants(self) -> dict[str, Any]:
        """Per Idempotency-Key: attempts, grants and answers, plus a summary."""
        return dict(self._call("GET", "/operator/grants"))
