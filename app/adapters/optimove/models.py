"""Value objects that cross the Optimove client boundary.

They carry plain Python types only (customer ids are always ``str``, whatever Optimove sent), so
services and the domain never see raw vendor JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CampaignCustomer", "PromoStatus", "RegisteredListener"]


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


@dataclass(frozen=True, slots=True)
class RegisteredListener:
    """One event listener Optimove reports as registered for our API key."""

    event_type_id: int
    listener_url: str
