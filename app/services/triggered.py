"""Flow B: Optimove's triggered-campaign gateway asks, for one customer, "may they get it?".

The operator's policy pipeline decides, within a tight budget; the customer is recorded in the
campaign's audience (so a later claim is accepted); anything that goes wrong answers "no" (fail
closed), because this reply is what makes Optimove send the campaign.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text
from sqlalchemy.dialects import postgresql, sqlite

from app.adapters.db import campaigns, operator_data
from app.adapters.db.dialect import is_postgres
from app.adapters.db.tables import campaign_audience
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
