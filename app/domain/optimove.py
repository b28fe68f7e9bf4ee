"""Value objects that cross the Optimove and OptiPromo ports (framework-free).

They carry plain Python types only (customer ids are always ``str``, whatever Optimove sent), so
services and the domain never see raw vendor JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from app.domain.id_column import IdColumn

__all__ = [
    "CampaignCustomer",
    "CampaignEvent",
    "InvalidCampaignEvent",
    "InvalidTriggeredCall",
    "PromoStatus",
    "RegisteredListener",
    "SameStatus",
    "TriggeredCall",
    "ValidationContext",
    "ValidationResult",
]


@dataclass(frozen=True, slots=True)
class CampaignCustomer:
    """One targeted customer of a processed campaign, with the attributes we asked for by name."""

    customer_id: str
    action_id: int | None
    promo_code: str | None
    attributes: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PromoStatus:
    """One entry of UpdateCustomerPromotionStatus: ``True`` approves the customer for the campaign."""

    customer_id: str
    status: bool


class SameStatus(IdColumn[PromoStatus]):
    """Entries that all carry one status, held as the column of their customers' ids.

    A call approving a page's 10,000 customers then costs no object per customer (an entry is made
    only when one is read), and the Optimove client encodes the body from the column at once.
    """

    __slots__ = ("status",)

    def __init__(self, customer_ids: Sequence[str], status: bool) -> None:
        super().__init__(customer_ids)
        self.status = status

    def entry(self, customer_id: str) -> PromoStatus:
        """One customer's entry, with the column's status."""
        return PromoStatus(customer_id, self.status)

    def with_ids(self, customer_ids: Sequence[str]) -> SameStatus:
        """The same status for other customers."""
        return SameStatus(customer_ids, self.status)

    def __repr__(self) -> str:
        return f"SameStatus({len(self.customer_ids)} customers, status={self.status})"


@dataclass(frozen=True, slots=True)
class RegisteredListener:
    """One event listener Optimove reports as registered for our API key."""

    event_type_id: int
    listener_url: str


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """One customer to validate, with the session properties tiers may be built on (JSON-safe)."""

    customer_id: str
    session_properties: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """OptiPromo's verdict for one customer; ``reason`` is set exactly when it is not eligible."""

    customer_id: str
    eligible: bool
    tier: str | None
    reward_type: str | None
    reward_amount: Decimal | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class CampaignEvent:
    """A parsed listener notification (EventTypeID 5 "on hold until ClearanceRequiredBy", 4 "canceled")."""

    event_type_id: int
    campaign_id: int
    timestamp: datetime | None
    clearance_required_by: datetime | None
    extra: dict[str, object]


class InvalidCampaignEvent(ValueError):
    """An Optimove listener notification that lacks or garbles a field we need."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidTriggeredCall(ValueError):
    """Raised when the gateway payload lacks or garbles the customer, the campaign or its promo code."""

    def __init__(self, message: str, *, field: str, user_id: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.user_id = user_id  # when the customer could be read, so the refusal can name them


@dataclass(frozen=True, slots=True)
class TriggeredCall:
    """What the gateway payload says (only the fields promobridge uses)."""

    user_id: str
    is_visitor: bool
    campaign_id: int
    series_id: str | None
    promo_code: str | None
