"""The ports the services depend on, besides the unit of work; adapters implement them.

Services import these protocols and the domain's value types, never an adapter: the composition
root (`app.bootstrap`) picks the implementations. Every type crossing a port lives in the domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from app.domain.audience import CustomerPage
from app.domain.budget import BudgetUsage
from app.domain.optimove import (
    CampaignEvent,
    PromoStatus,
    RegisteredListener,
    ValidationContext,
    ValidationResult,
)
from app.domain.rewards import GrantOutcome, RewardGrant

if TYPE_CHECKING:
    from app.services.unit_of_work import UnitOfWork


class CampaignSource(Protocol):
    """Where a campaign's targeted customers come from (Optimove GetProcessedCampaignCustomers)."""

    def get_customer_page(
        self, campaign_id: int, *, top: int, skip: int, attributes: Sequence[str] = ()
    ) -> CustomerPage:
        """One page of the campaign's customers, column by column."""
        ...


class BudgetGate(Protocol):
    """The shared Optimove request budget, seen by callers that batch while they wait for it."""

    def wait_for_budget(self, *, max_seconds: float) -> float:
        """Sleep until a rate-limit slot is free (taking none); returns the seconds slept."""
        ...

    def budget_used(self) -> float:
        """The share of the budget's window already spent (0 to 1): above a threshold, calls fill up."""
        ...


class StatusSink(BudgetGate, Protocol):
    """Where promotion statuses are reported (Optimove UpdateCustomerPromotionStatus)."""

    def update_customer_promotion_status(
        self, campaign_id: int, statuses: Sequence[PromoStatus], *, timestamp: datetime | None = None
    ) -> int:
        """Report the statuses; returns the number of calls made."""
        ...


class PromotionValidator(BudgetGate, Protocol):
    """OptiPromo validateCustomers."""

    def validate_customers(
        self,
        promocode_id: str,
        contexts: Sequence[ValidationContext],
        *,
        campaign_id: int | str | None = None,
    ) -> list[ValidationResult]:
        """Validate each context; one result per context, in order."""
        ...


class ListenerRegistry(Protocol):
    """Optimove's listener endpoints."""

    def get_registered_event_listeners(self) -> list[RegisteredListener]:
        """Every listener currently registered."""
        ...

    def register_event_listener(self, event_type_id: int, listener_url: str) -> None:
        """Register (or replace) the listener of one event type."""
        ...


class EventContract(Protocol):
    """How Optimove's listener events read and what makes two deliveries the same event.

    The vendor knowledge lives in one adapter module (``app.adapters.optimove.contract``).
    """

    def parse(self, payload: Mapping[str, object]) -> CampaignEvent:
        """The event; raises InvalidCampaignEvent when a field we need is missing or garbled."""
        ...

    def fingerprint(self, event: CampaignEvent) -> str:
        """Equal for two deliveries of the same event."""
        ...

    def differences(self, first: CampaignEvent, other: CampaignEvent) -> dict[str, tuple[object, object]]:
        """The identity fields in which `other` differs from `first`: name -> (first's, other's)."""
        ...


class Dispatcher(Protocol):
    """Rings the workers' doorbell. Called only after the transaction that recorded the work commits.

    PostgreSQL is the source of truth and the broker only a doorbell: a dispatch that is lost is
    only a delay (the sweepers dispatch stale work again), so implementations never raise.
    """

    def start_campaign(self, inbox_event_id: int) -> None:
        """Process one stored webhook event."""
        ...

    def ingest_page(self, campaign_id: int, page_no: int) -> None:
        """Fetch and ingest one page of a campaign's audience."""
        ...

    def validate_pending(self, campaign_id: int, promo_code: str | None) -> None:
        """Wake the validator of a campaign's promo code (it validates every claim pending there)."""
        ...

    def activate_claims(self, claim_ids: Sequence[str]) -> None:
        """Grant the rewards of validated claims."""
        ...

    def report_status(self) -> None:
        """Run a status-update round of the outbox relay."""
        ...


class Coordination(Protocol):
    """Single-flight locks and deduplicated wake-ups shared by every process (Redis in production)."""

    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        """A token if this caller now holds `key` for `ttl_seconds`; None when someone else does."""
        ...

    def refresh(self, key: str, token: str, ttl_seconds: float) -> bool:
        """Extend a held lock; False if it was lost."""
        ...

    def release(self, key: str, token: str) -> None:
        """Give a held lock back."""
        ...

    def ring(self, key: str, window_seconds: float) -> bool:
        """True when the caller must publish the wake-up (nobody rang since the last answer)."""
        ...

    def answer(self, key: str) -> None:
        """The worker is looking now: what arrives from here on rings again."""
        ...


class RewardActivator(Protocol):
    """Grants rewards on the operator's platform.

    The contract every activator keeps, which is what makes claim retries safe:
      - ``grant`` is idempotent per ``claim_id``: granting the same claim again never grants twice,
        and answers ``GRANTED`` when it was granted before.
      - ``grant`` settles each grant on its own and returns one outcome per grant; it raises nothing
        for a grant (only ``ValueError`` for a call that can never be sent). The caller records
        every outcome: one failing grant must not hide the ones that were granted.
      - It makes at most one attempt per grant per call. Retrying is the caller's job (one retry
        layer), so the number of attempts per grant stays bounded and countable.
    """

    name: str

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        """One attempt per grant; one outcome per grant, in order; nothing raised per grant."""
        ...

    def record(self, uow: UnitOfWork, granted: Sequence[RewardGrant], now: datetime) -> None:
        """Write what the activator keeps in our own database, in the activation's unit of work.

        Called with the granted rewards only, in the same transaction as the activation records and
        the outbox rows; remote activators keep nothing here.
        """
        ...

    def close(self) -> None:
        """Release connections or other resources."""
        ...


class PasswordHasher(Protocol):
    """Hashes console passwords and checks them (a slow, salted, memory-hard hash)."""

    def hash(self, password: str) -> str:
        """A new salted hash of `password`."""
        ...

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether `password` matches `password_hash` (False for a malformed hash)."""
        ...


class BudgetLedger(Protocol):
    """The ledger of Optimove's shared request budget, read without taking a slot."""

    def usage(self) -> BudgetUsage | None:
        """The slots taken in the current window by every process; None when the ledger is not shared."""
        ...
