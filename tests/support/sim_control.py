"""Test helpers around the simulator."""

from __future__ import annotations

from typing import Any

from simulator.control_client import SimControl

__all__ = ["SimControl", "expected_scrub_reason"]


def expected_scrub_reason(attributes: dict[str, Any]) -> str | None:
    """What the default policies should decide for a simulator customer (consent first, then fraud)."""
    if attributes.get("Consent") == "0":
        return "no_consent"
    if attributes.get("FraudFlag") == "1":
        return "fraud_flagged"
    return None
