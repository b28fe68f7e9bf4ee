"""Value objects that cross the Optimove and OptiPromo ports (framework-free).

They carry plain Python types only (customer ids are always ``str``, whatever Optimove sent), so
services and the domain never see raw vendor JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import overload

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


class SameStatus(Sequence[PromoStatus]):
    """Entries that all carry one status, held as the column of their customers' ids.

    A call approving a page's 10,000 customers then costs no object per customer (an entry is made
    only when one is read), and the Optimove client encodes the body from the column at once.
    """

    __slots__ = ("customer_ids", "status")

    def __init__(self, customer_ids: Sequence[str], status: bool) -> None:
        self.customer_ids = customer_ids
        self.status = status

    def __len__(self) -> int:
        return len(self.customer_ids)

    @overload
    def __getitem__(self, index: int) -> PromoStatus: ...

    @overload
    def __getitem__(self, index: slice) -> SameStatus: ...

    def __getitem__(self, index: int | slice) -> PromoStatus | SameStatus:
        if isinstance(index, slice):
            return SameStatus(self.customer_ids[index], self.status)
        return PromoStatus(self.customer_ids[index], self.status)

    def __iter__(self) -> Iterator[PromoStatus]:
        status = self.status
        return (PromoStatus(customer_id, status) for customer_id in self.customer_ids)

    def __eq__(self, other: object) -> bool:
        # Equal to the list it stands for, as the list it replaced was.
        if isinstance(other, SameStatus | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable like a list: not hashable

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
