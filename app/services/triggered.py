"""Flow B: Optimove's triggered-campaign gateway asks, for one customer, "may they get it?".

The operator's policy pipeline decides, within a tight budget; the customer is recorded in the
campaign's audience (so a later claim is accepted); anything that goes wrong answers "no" (fail
closed), because this reply is what makes Optimove send the campaign. The gateway acts only for
campaigns the operator declared triggered, and it only ever narrows an audience: it can scrub a
customer, never re-admit one that was scrubbed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine, text

from app.adapters.db import audience, campaign_settings, campaigns, operator_data
from app.adapters.db.dialect import is_postgres
from app.adapters.optimove.contract import parse_optimove_id
from app.clock import utcnow
from app.domain.audience import Candidate
from app.domain.campaigns import CampaignMode, CampaignState
from app.policies.base import NO_FLAGS, PolicyPipeline

log = logging.getLogger(__name__)
TRIGGERED_PAGE = -1  # audience rows written by the gateway belong to no Optimove page
MAX_TEXT_CHARS = 128  # campaign_audience.customer_id and promo_code are String(128)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


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


def parse_triggered_call(payload: Mapping[str, object]) -> TriggeredCall:
    """Read the documented v1 gateway payload; raises InvalidTriggeredCall when unusable."""
    user = payload.get("user")
    if not isinstance(user, Mapping):
        raise InvalidTriggeredCall("the payload needs a 'user' object", field="user")
    user_id = _text(user.get("user_id"), "user.user_id")
    if user_id is None:
        raise InvalidTriggeredCall("user.user_id must be a non-empty string", field="user.user_id")
    try:
        campaign_id, series_id, promo_code = _read_campaign(payload.get("campaign"))
    except InvalidTriggeredCall as exc:
        exc.user_id = user_id
        raise
    return TriggeredCall(user_id, bool(user.get("is_visitor")), campaign_id, series_id, promo_code)


def _read_campaign(campaign: object) -> tuple[int, str | None, str | None]:
    if not isinstance(campaign, Mapping):
        raise InvalidTriggeredCall("the payload needs a 'campaign' object", field="campaign")
    try:
        campaign_id = parse_optimove_id(campaign.get("id"), "campaign.id")
    except ValueError as exc:
        raise InvalidTriggeredCall(str(exc), field="campaign.id") from None
    action = campaign.get("action")
    codes = action.get("promo_codes") if isinstance(action, Mapping) else None
    first_code = codes[0] if isinstance(codes, list) and codes else None
    promo_code = _text(first_code, "campaign.action.promo_codes[0]")
    series = campaign.get("series_id")
    return campaign_id, None if series is None else str(series), promo_code


def _text(value: object, name: str) -> str | None:
    # Ids and codes arrive as strings or numbers and are stored in 128-character columns.
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidTriggeredCall(f"{name} must be a string or a number", field=name)
    text = str(value)
    if not text.strip() or len(text) > MAX_TEXT_CHARS or _CONTROL_CHARACTER.search(text):
        message = f"{name} must be 1-{MAX_TEXT_CHARS} characters without control characters"
        raise InvalidTriggeredCall(message, field=name)
    return text


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
    engine: Engine,
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
        with engine.begin() as conn:
            if is_postgres(conn):
                conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
            answer = _decide(conn, pipeline, call, declared, clock())
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
    conn: Connection,
    pipeline: PolicyPipeline,
    call: TriggeredCall,
    declared: Callable[[int], bool],
    now: datetime,
) -> GatewayAnswer:
    def no(outcome: GatewayOutcome, reason: str | None = None) -> GatewayAnswer:
        return GatewayAnswer(call.user_id, False, outcome, reason)

    campaign = campaigns.get_campaign(conn, call.campaign_id)
    if campaign is None:
        stored = campaign_settings.get_settings(conn, call.campaign_id)
        declared_here = stored is not None and stored.kind == campaigns.KIND_TRIGGERED
        if not (declared_here or declared(call.campaign_id)):
            return no(GatewayOutcome.UNKNOWN_CAMPAIGN)
        campaigns.create_campaign(
            conn,
            campaign_id=call.campaign_id,
            mode=CampaignMode.CLAIM,
            clearance_required_by=None,
            event_timestamp=None,
            page_size=1,
            now=now,
            kind=campaigns.KIND_TRIGGERED,
            state=CampaignState.READY,
        )
        campaign = campaigns.get_campaign(conn, call.campaign_id)
        assert campaign is not None
    if campaign.kind != campaigns.KIND_TRIGGERED:
        return no(GatewayOutcome.NOT_TRIGGERED)
    if campaign.state != CampaignState.READY:
        return no(GatewayOutcome.NOT_LIVE)

    member = audience.member(conn, call.campaign_id, call.user_id)
    if member is not None and not member.eligible:
        return no(GatewayOutcome.ALREADY_SCRUBBED, member.scrub_reason)
    flags = operator_data.flags_for(conn, [call.user_id]).get(call.user_id, NO_FLAGS)
    decision = pipeline.decide(Candidate(call.user_id, call.promo_code, None, {}), flags)
    if member is None:
        added = audience.add_member_if_absent(
            conn,
            call.campaign_id,
            call.user_id,
            page_no=TRIGGERED_PAGE,
            promo_code=call.promo_code,
            segment=decision.segment,
            eligible=decision.eligible,
            scrub_reason=decision.scrub_reason,
        )
        if not added:  # a concurrent call added them first: its decision stands unless this one narrows
            member = audience.member(conn, call.campaign_id, call.user_id)
            if member is not None and not member.eligible:
                return no(GatewayOutcome.ALREADY_SCRUBBED, member.scrub_reason)
    if not decision.eligible:
        audience.scrub_member(
            conn, call.campaign_id, call.user_id, reason=decision.scrub_reason or "scrubbed"
        )
        return no(GatewayOutcome.SCRUBBED, decision.scrub_reason)
    return GatewayAnswer(call.user_id, True, GatewayOutcome.ALLOWED)
