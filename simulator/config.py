"""Settings of one simulator instance, passed in explicitly (nothing here reads the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simulator.contract import DEFAULT_MAX_VALIDATE_CONTEXTS
from simulator.operator_grants import DEFAULT_OPERATOR_LATENCY_MS

DEFAULT_API_KEY = "sim-key"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8900
DEFAULT_RATE_LIMIT = 50  # requests per window per API key [C S12]
DEFAULT_RATE_WINDOW_SECONDS = 10.0
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated tenant behaves; ``timezone`` is the tenant zone used in webhook timestamps.

    Raises ``ValueError`` on construction if a value cannot work, so a bad CLI flag fails at startup
    rather than on the first request.
    """

    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    rate_limit_enabled: bool = True
    rate_limit: int = DEFAULT_RATE_LIMIT
    rate_window_seconds: float = DEFAULT_RATE_WINDOW_SECONDS
    timezone: str = "UTC"
    webhook_timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT_SECONDS
    seed: int = 0
    max_validate_contexts: int = DEFAULT_MAX_VALIDATE_CONTEXTS  # unless a promotion sets its own
    # How long the simulated operator platform takes per grant unless its plan says otherwise.
    operator_latency_ms: float = DEFAULT_OPERATOR_LATENCY_MS

    def __post_init__(self) -> None:
        if not self.api_keys or any(not key for key in self.api_keys):
            raise ValueError("api_keys must hold at least one non-empty key")
        if self.rate_limit < 1:
            raise ValueError("rate_limit must be at least 1")
        if self.rate_window_seconds <= 0:
            raise ValueError("rate_window_seconds must be positive")
        if self.max_validate_contexts < 1:
            raise ValueError("max_validate_contexts must be at least 1")
        if self.operator_latency_ms < 0:
            raise ValueError("operator_latency_ms must not be negative")
        if self.webhook_timeout_seconds <= 0:
            raise ValueError("webhook_timeout_seconds must be positive")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        """The tenant time zone as a tzinfo."""
        return ZoneInfo(self.timezone)
