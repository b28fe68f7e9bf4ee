"""The triggered-campaign gateway call as Optimove documents it (``reference/optimove-api.md`` §7.2).

The v1 payload is ``{"user": {"user_id", "is_visitor"}, "campaign": {"id", "series_id",
"action": {"promo_codes": [...]}}}`` [C]; only the fields promobridge uses are read, the first promo
code is the one kept [I], ids and codes arrive as strings or numbers and must fit the columns they
are stored in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.adapters.optimove.contract import parse_optimove_id
from app.domain.optimove import InvalidTriggeredCall, TriggeredCall

MAX_TEXT_CHARS = 128  # campaign_audience.customer_id and promo_code are String(128)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


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
