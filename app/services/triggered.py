"""Flow B: Optimove's triggered-campaign gateway asks, for one customer, "may they get it?".

The operator's policy pipeline decides, within a tight budget; the customer is recorded in the
campaign's audience (so a later claim is accepted); anything that goes wrong answers "no" (fail
closed), because this reply is what makes Optimove send the campaign. The gateway acts only for
campaigns the operator declared triggered, and it only ever narrows an audience: it can scrub a
customer, never re-admit one that was scrubbed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.clock import utcnow
from app.domain.audience import Candidate
from app.domain.campaigns import KIND_TRIGGERED, CampaignMode, CampaignState, NewCampaign
from app.domain.optimove import TriggeredCall
from app.policies.base import NO_FLAGS, PolicyPipeline
from app.services import trail_steps
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
TRIGGERED_PAGE = -1  # audience rows written by the gateway belong to no Optimove page


class GatewayOutcome(StrEnum):
    """Why the gateway answered as it did (a metric label and a log field)."""

    ALLOWED = "allowed"
    SCRUBBED = "scrubbed"  # the policies scrub this customer now
    ALREADY_SCRUBBED = "already_scrubbed"  # an earlier decision scrubbed them: it stands
    UNKNOWN_CAMPAIGN = "unknown_campaign"  # not declared as a triggered campaign
    NOT_TRIGGERED = "not_triggered"  # a scheduled campaign: its audience comes from Optimove's list
    NOT_LIVE = "not_live"  # canceled or failed
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    """The synchronous reply, and why (for logs and metrics)."""

    user_id: str
    allowed: bool
    outcome: GatewayOutcome
    reason: str | None = None


def decide_triggered(
    uow_factory: UnitOfWorkFactory,
    pipeline: PolicyPipeline,
    call: TriggeredCall,
    *,
    timeout_ms: int,
    declared: Callable[[int], bool] = lambda _campaign_id: False,
    clock: Callable[[], datetime] = utcnow,
) -> GatewayAnswer:
    """Run the policies for one customer of a triggered campaign; never raises (fails closed).

    The gateway only ever acts for a triggered campaign: one that exists as such, or that the
    operator declared (`declared`, or `promobridge campaigns set ID --triggered`). It never widens
    an audience: a customer already scrubbed stays scrubbed, whatever the policies say now, and an
    eligible one may only be narrowed to scrubbed.
    """
    try:
        with uow_factory() as uow:
            uow.limit_statement_time(timeout_ms)
            answer = _decide(uow, pipeline, call, declared, clock())
            uow.commit()
    except Exception as exc:  # fail closed: an error must never approve a send
        log.error(
            "triggered gateway failed closed", extra={"campaign_id": call.campaign_id, "error": repr(exc)}
        )
        return GatewayAnswer(call.user_id, False, GatewayOutcome.ERROR)
    if answer.outcome in _REFUSALS_TO_LOG:
        log.warning(
            "triggered gateway refused a campaign it does not act for",
            extra={"campaign_id": call.campaign_id, "outcome": answer.outcome.value},
        )
    return answer


_REFUSALS_TO_LOG = frozenset({GatewayOutcome.UNKNOWN_CAMPAIGN, GatewayOutcome.NOT_TRIGGERED})


def _decide(
    uow: UnitOfWork,
    pipeline: PolicyPipeline,
    call: TriggeredCall,
    declared: Callable[[int], bool],
    now: datetime,
) -> GatewayAnswer:
    def no(outcome: GatewayOutcome, reason: str | None = None) -> GatewayAnswer:
        return GatewayAnswer(call.user_id, False, outcome, reason)

    campaign = uow.campaigns.get(call.campaign_id)
    if campaign is None:
        stored = uow.campaign_settings.get(call.campaign_id)
        declared_here = stored is not None and stored.kind == KIND_TRIGGERED
        if not (declared_here or declared(call.campaign_id)):
            return no(GatewayOutcome.UNKNOWN_CAMPAIGN)
        uow.campaigns.add(
            NewCampaign(
                id=call.campaign_id,
                mode=CampaignMode.CLAIM,
                clearance_required_by=None,
                event_timestamp=None,
                page_size=1,
                kind=KIND_TRIGGERED,
                state=CampaignState.READY,
                mode_from=KIND_TRIGGERED,  # a triggered campaign is always in claim mode
            ),
            now=now,
        )
        campaign = uow.campaigns.get(call.campaign_id)
        assert campaign is not None
    if campaign.kind != KIND_TRIGGERED:
        return no(GatewayOutcome.NOT_TRIGGERED)
    if campaign.state != CampaignState.READY:
        return no(GatewayOutcome.NOT_LIVE)

    member = uow.audience.member(call.campaign_id, call.user_id)
    if member is not None and not member.eligible:
        return no(GatewayOutcome.ALREADY_SCRUBBED, member.scrub_reason)
    flags = uow.operator_data.flags_for([call.user_id]).get(call.user_id, NO_FLAGS)
    decision = pipeline.decide(Candidate(call.user_id, call.promo_code, None, {}), flags)
    if member is None:
        added = uow.audience.add_member_if_absent(
            call.campaign_id,
            call.user_id,
            page_no=TRIGGERED_PAGE,
            promo_code=call.promo_code,
            segment=decision.segment,
            eligible=decision.eligible,
            scrub_reason=decision.scrub_reason,
        )
        if not added:  # a concurrent call added them first: its decision stands unless this one narrows
            member = uow.audience.member(call.campaign_id, call.user_id)
            if member is not None and not member.eligible:
                return no(GatewayOutcome.ALREADY_SCRUBBED, member.scrub_reason)
    if not decision.eligible:
        uow.audience.scrub_member(call.campaign_id, call.user_id, reason=decision.scrub_reason or "scrubbed")
        uow.trail.append(trail_steps.gateway_scrubbed(call.campaign_id, decision, flags, pipeline, now=now))
        return no(GatewayOutcome.SCRUBBED, decision.scrub_reason)
    return GatewayAnswer(call.user_id, True, GatewayOutcome.ALLOWED)
