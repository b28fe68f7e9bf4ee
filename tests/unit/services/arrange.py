"""The state service tests start from, written through the port as the adapters would store it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from app.domain.campaigns import CampaignMode, CampaignState, NewCampaign
from app.domain.claims import ClaimState, NewClaim, ValidatedClaim, new_claim_id
from app.services.unit_of_work import UnitOfWorkFactory
from tests.fakes.clock import T0

CAMPAIGN = 1359
PROMO = "SPRING"
VALIDATED_PROMO = "SPRING-VALIDATED"
DEADLINE = T0 + timedelta(hours=1)


def claim_campaign(
    uow: UnitOfWorkFactory,
    *,
    campaign_id: int = CAMPAIGN,
    eligible: Sequence[str] = ("alice", "bob", "carol"),
    scrubbed: Mapping[str, str] | None = None,
    segment: str | None = "gold",
    promo_code: str | None = PROMO,
    deadline: datetime | None = DEADLINE,
    mode: CampaignMode = CampaignMode.CLAIM,
    state: CampaignState = CampaignState.READY,
) -> int:
    """A campaign that takes claims, with its audience: eligible customers and scrubbed ones."""
    with uow() as u:
        u.campaigns.add(NewCampaign(campaign_id, mode, deadline, None, page_size=100, state=state), now=T0)
        for customer in eligible:
            u.audience.add_member_if_absent(
                campaign_id, customer, page_no=0, promo_code=promo_code, segment=segment, eligible=True,
                scrub_reason=None,
            )  # fmt: skip
        for customer, reason in (scrubbed or {}).items():
            u.audience.add_member_if_absent(
                campaign_id, customer, page_no=0, promo_code=promo_code, segment=None, eligible=False,
                scrub_reason=reason,
            )  # fmt: skip
        u.commit()
    return campaign_id


def pending_claims(
    uow: UnitOfWorkFactory,
    *customers: str,
    campaign_id: int = CAMPAIGN,
    promo_code: str | None = PROMO,
    at: datetime = T0,
) -> list[str]:
    """Pending claims of these customers, one second apart from `at`; their ids."""
    ids = []
    with uow() as u:
        for n, customer in enumerate(customers):
            claim = NewClaim(
                id=new_claim_id(), client_id=1, source="http", campaign_id=campaign_id, customer_id=customer,
                promo_code=promo_code, segment="gold", session_properties={"country": "MT"},
                idempotency_key=None, request_hash="h", state=ClaimState.PENDING, reason=None,
                correlation_id=None, created_at=at + timedelta(seconds=n),
            )  # fmt: skip
            assert u.claims.add(claim)
            ids.append(claim.id)
        u.commit()
    return ids


def validated_claims(
    uow: UnitOfWorkFactory,
    *customers: str,
    campaign_id: int = CAMPAIGN,
    reward: Decimal | None = Decimal(10),
    at: datetime = T0,
) -> list[str]:
    """Claims OptiPromo found eligible (tier gold, a bonus of `reward`), waiting for activation.

    They carry a promo code of their own, so leasing them leaves a test's pending claims alone.
    """
    ids = pending_claims(uow, *customers, campaign_id=campaign_id, promo_code=VALIDATED_PROMO, at=at)
    with uow() as u:
        u.claims.lease_pending(
            campaign_id=campaign_id,
            promo_code=VALIDATED_PROMO,
            limit=len(ids),
            lease=timedelta(minutes=1),
            now=at,
        )
        u.claims.mark_validated([ValidatedClaim(i, "gold", "bonus", reward) for i in ids], now=at)
        u.commit()
    return ids


def claim_states(uow: UnitOfWorkFactory, ids: Sequence[str]) -> list[ClaimState]:
    """The claims' states, in the order of `ids`."""
    with uow() as u:
        by_id = {claim.id: claim.state for claim in u.claims.get_many(ids)}
    return [by_id[i] for i in ids]
