"""Flow B: Optimove's triggered-campaign gateway asks, for one customer, "may they get it?".

The operator's policy pipeline decides, within a tight budget; the customer is recorded in the
campaign's audience (so a later claim is accepted); anything that goes wrong answers "no" (fail
closed), because this reply is what makes Optimove send the campaign.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text
from sqlalchemy.dialects import postgresql, sqlite

from app.adapters.db import campaigns, operator_data
from app.adapters.db.dialect import is_postgres
from app.adapters.db.tables import campaign_audience
from app.clock import utcnow
from app.domain.audience import Candidate
from app.domain.campaigns import CampaignMode, CampaignState
from app.policies.base import NO_FLAGS, PolicyPipeline

log = logging.getLogger(__name__)
TRIGGERED_PAGE = -1  # audience rows written by the gateway belong to no Optimove page


class InvalidTriggeredCall(ValueError):
    """Raised when the gateway payload lacks the customer or the campaign."""


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
    campaign = payload.get("campaign")
    if not isinstance(user, Mapping) or not isinstance(campaign, Mapping):
        raise InvalidTriggeredCall("the payload needs 'user' and 'campaign' objects")
    user_id = user.get("user_id")
    if not isinstance(user_id, str | int) or isinstance(user_id, bool) or not str(user_id).strip():
        raise InvalidTriggeredCall("user.user_id must be a non-empty string")
    raw_campaign_id = campaign.get("id")
    try:
        campaign_id = int(str(raw_campaign_id))
    except ValueError:
        raise InvalidTriggeredCall("campaign.id must be a number") from None
    if campaign_id <= 0:
        raise InvalidTriggeredCall("campaign.id must be positive")
    action = campaign.get("action")
    codes = action.get("promo_codes") if isinstance(action, Mapping) else None
    promo_code = str(codes[0]) if isinstance(codes, list) and codes else None
    series = campaign.get("series_id")
    return TriggeredCall(
        str(user_id),
        bool(user.get("is_visitor")),
        campaign_id,
        None if series is None else str(series),
        promo_code,
    )


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    """The synchronous reply, and why (for logs)."""

    user_id: str
    allowed: bool
    reason: str | None


def decide_triggered(
    engine: Engine,
    pipeline: PolicyPipeline,
    call: TriggeredCall,
    *,
    timeout_ms: int,
    clock: Callable[[], datetime] = utcnow,
) -> GatewayAnswer:
    """Run the policies for one customer and record them in the audience; never raises (fails closed)."""
    try:
        with engine.begin() as conn:
            if is_postgres(conn):
                conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
            flags = operator_data.flags_for(conn, [call.user_id]).get(call.user_id, NO_FLAGS)
            decision = pipeline.decide(Candidate(call.user_id, call.promo_code, None, {}), flags)
            _record(conn, call, decision.eligible, decision.scrub_reason, decision.segment, clock())
    except Exception as exc:  # fail closed: an error must never approve a send
        log.error(
            "triggered gateway failed closed", extra={"campaign_id": call.campaign_id, "error": repr(exc)}
        )
        return GatewayAnswer(call.user_id, False, "error")
    return GatewayAnswer(call.user_id, decision.eligible, decision.scrub_reason)


def _record(
    conn: Connection,
    call: TriggeredCall,
    eligible: bool,
    reason: str | None,
    segment: str | None,
    now: datetime,
) -> None:
    if campaigns.get_campaign(conn, call.campaign_id) is None:
        campaigns.create_campaign(
            conn,
            campaign_id=call.campaign_id,
            mode=CampaignMode.CLAIM,
            clearance_required_by=None,
            event_timestamp=None,
            page_size=1,
            now=now,
            kind="triggered",
            state=CampaignState.READY,
        )
    values = {
        "campaign_id": call.campaign_id,
        "customer_id": call.user_id,
        "page_no": TRIGGERED_PAGE,
        "promo_code": call.promo_code,
        "attributes": {},
        "segment": segment,
        "eligible": eligible,
        "scrub_reason": reason,
    }
    dialect_insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    statement = dialect_insert(campaign_audience).values(**values)
    # The latest decision wins: consent or fraud flags may have changed since the last trigger.
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id", "customer_id"],
            set_={
                "eligible": eligible,
                "scrub_reason": reason,
                "segment": segment,
                "promo_code": call.promo_code,
            },
        )
    )
