"""Optimove and OptiPromo as the services see them through their ports: scripted, recorded, no network."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from app.domain.audience import CustomerPage
from app.domain.optimove import (
    CampaignCustomer,
    PromoStatus,
    RegisteredListener,
    ValidationContext,
    ValidationResult,
)
from app.services.ports import CampaignSource, PromotionValidator, StatusSink
from app.services.registration import OptimoveRegistry


@dataclass
class FakeCampaignSource:
    """GetProcessedCampaignCustomers over the campaigns a test lists; every page asked is recorded.

    `ignores_skip` serves the first page whatever `$skip` says (a broken server); `failures` are
    raised, one per call, before any page is served; `while_fetching` runs once, during the next
    call (to let another worker get there first).
    """

    campaigns: dict[int, list[CampaignCustomer]] = field(default_factory=dict)
    ignores_skip: bool = False
    failures: deque[Exception] = field(default_factory=deque)
    while_fetching: Callable[[], object] | None = None
    asked: list[tuple[int, int, int, tuple[str, ...]]] = field(default_factory=list)

    def get_campaign_customers_page(
        self, campaign_id: int, *, top: int, skip: int, attributes: Sequence[str] = ()
    ) -> list[CampaignCustomer]:
        """One page of the campaign's customers."""
        self.asked.append((campaign_id, top, skip, tuple(attributes)))
        meanwhile, self.while_fetching = self.while_fetching, None
        if meanwhile is not None:
            meanwhile()
        if self.failures:
            raise self.failures.popleft()
        start = 0 if self.ignores_skip else skip
        return self.campaigns.get(campaign_id, [])[start : start + top]

    def get_customer_page(
        self, campaign_id: int, *, top: int, skip: int, attributes: Sequence[str] = ()
    ) -> CustomerPage:
        """One page of the campaign's customers, column by column."""
        rows = self.get_campaign_customers_page(campaign_id, top=top, skip=skip, attributes=attributes)
        return CustomerPage(
            [c.customer_id for c in rows],
            [c.action_id for c in rows],
            [c.promo_code for c in rows],
            [c.attributes for c in rows],
        )


@dataclass
class FakeStatusSink:
    """UpdateCustomerPromotionStatus: records each call it accepts; queued `failures` are raised first."""

    failures: deque[Exception] = field(default_factory=deque)
    accepted: list[tuple[int, list[PromoStatus]]] = field(default_factory=list)
    budget_waits: list[float] = field(default_factory=list)
    used: float = 0.0  # the share of the budget's window spent, as budget_used reports it

    def wait_for_budget(self, *, max_seconds: float) -> float:
        """The budget is always free here; the wait asked for is recorded."""
        self.budget_waits.append(max_seconds)
        return 0.0

    def budget_used(self) -> float:
        """`used`, as the test set it."""
        return self.used

    def update_customer_promotion_status(
        self, campaign_id: int, statuses: Sequence[PromoStatus], *, timestamp: datetime | None = None
    ) -> int:
        """Accept the statuses (one call), unless a failure is queued."""
        if self.failures:
            raise self.failures.popleft()
        self.accepted.append((campaign_id, list(statuses)))
        return 1

    def times_reported(self, campaign_id: int, customer_id: str) -> int:
        """How many accepted calls carried this customer's status."""
        return sum(
            1
            for called, statuses in self.accepted
            if called == campaign_id
            for status in statuses
            if status.customer_id == customer_id
        )


@dataclass
class FakePromotionValidator:
    """validateCustomers: every customer eligible for `reward` unless `refusals` names a reason for them.

    `failures` are raised, one per call; `while_waiting` runs while the caller waits for the budget
    (to let claims arrive meanwhile).
    """

    tier: str | None = "gold"
    reward_type: str | None = "bonus"
    reward: Decimal | None = Decimal(10)
    refusals: dict[str, str | None] = field(default_factory=dict)
    failures: deque[Exception] = field(default_factory=deque)
    while_waiting: Callable[[], object] | None = None
    calls: list[tuple[str, list[ValidationContext], int | str | None]] = field(default_factory=list)
    budget_waits: list[float] = field(default_factory=list)
    used: float = 0.0  # the share of the budget's window spent, as budget_used reports it

    def budget_used(self) -> float:
        """`used`, as the test set it."""
        return self.used

    def wait_for_budget(self, *, max_seconds: float) -> float:
        """The budget is always free here; the wait asked for is recorded."""
        self.budget_waits.append(max_seconds)
        if self.while_waiting is not None:
            self.while_waiting()
        return 0.0

    def validate_customers(
        self,
        promocode_id: str,
        contexts: Sequence[ValidationContext],
        *,
        campaign_id: int | str | None = None,
    ) -> list[ValidationResult]:
        """One result per context, in order."""
        self.calls.append((promocode_id, list(contexts), campaign_id))
        if self.failures:
            raise self.failures.popleft()
        return [self._verdict(context.customer_id) for context in contexts]

    def _verdict(self, customer_id: str) -> ValidationResult:
        if customer_id in self.refusals:
            return ValidationResult(customer_id, False, None, None, None, self.refusals[customer_id])
        return ValidationResult(customer_id, True, self.tier, self.reward_type, self.reward, None)


@dataclass
class FakeListenerRegistry:
    """Optimove's listener endpoints: what is registered, each call made, and failures raised first."""

    listeners: dict[int, str] = field(default_factory=dict)
    triggered_url: str | None = None
    failures: deque[Exception] = field(default_factory=deque)
    calls: list[str] = field(default_factory=list)

    def get_registered_event_listeners(self) -> list[RegisteredListener]:
        """Every listener currently registered."""
        self._call("list")
        return [RegisteredListener(event_type, url) for event_type, url in self.listeners.items()]

    def register_event_listener(self, event_type_id: int, listener_url: str) -> None:
        """Register (or replace) the listener of one event type."""
        self._call(f"register {event_type_id}")
        self.listeners[event_type_id] = listener_url

    def register_triggered_webhook(self, url: str) -> None:
        """Set the tenant's triggered-campaign gateway URL."""
        self._call("register triggered")
        self.triggered_url = url

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.failures:
            raise self.failures.popleft()


def _conforms_to_the_ports(
    source: FakeCampaignSource,
    sink: FakeStatusSink,
    validator: FakePromotionValidator,
    registry: FakeListenerRegistry,
) -> tuple[CampaignSource, StatusSink, PromotionValidator, OptimoveRegistry]:
    """Never called: mypy checks here that the fakes are what the services ask for."""
    return source, sink, validator, registry
