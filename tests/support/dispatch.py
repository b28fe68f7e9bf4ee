"""A hand-written fake of the Dispatcher port: records what would be sent to the workers."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class RecordingDispatcher:
    """Queues dispatched work so a test can run it (or drop it, to simulate a lost message)."""

    started: deque[int] = field(default_factory=deque)
    pages: deque[tuple[int, int]] = field(default_factory=deque)
    validations: deque[tuple[int, str | None]] = field(default_factory=deque)
    activations: deque[list[str]] = field(default_factory=deque)
    status_rounds: int = 0
    sent: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    def start_campaign(self, inbox_event_id: int) -> None:
        self.started.append(inbox_event_id)
        self.sent.append(("start_campaign", (inbox_event_id,)))

    def ingest_page(self, campaign_id: int, page_no: int) -> None:
        self.pages.append((campaign_id, page_no))
        self.sent.append(("ingest_page", (campaign_id, page_no)))

    def validate_pending(self, campaign_id: int, promo_code: str | None) -> None:
        self.validations.append((campaign_id, promo_code))
        self.sent.append(("validate_pending", (campaign_id,)))

    def activate_claims(self, claim_ids: Sequence[str]) -> None:
        self.activations.append(list(claim_ids))
        self.sent.append(("activate_claims", ()))

    def report_status(self) -> None:
        self.status_rounds += 1
        self.sent.append(("report_status", ()))
