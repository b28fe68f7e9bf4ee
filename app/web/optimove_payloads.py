"""Optimove's calls as documented, and what the listener and the gateway answer them.

The request models describe the canonical payloads, for the OpenAPI document: the webhooks read
Optimove's bodies leniently on purpose (ids as numeric strings, keys in any case, extra keys
kept; `app/adapters/optimove/contract.py` and `app/services/triggered.py`), so the code accepts
more than these models say. The answer models are what the views build their bodies with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

from app.adapters.optimove.contract import MAX_OPTIMOVE_ID
from app.web.responses import Answer, ErrorBody
from app.web.schemas import absent_when_none

# What the gateway stores (user ids, promo codes): no control characters, not only blanks.
_PRINTABLE_NOT_BLANK = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
PromoCode = Annotated[str, Field(min_length=1, max_length=128, pattern=_PRINTABLE_NOT_BLANK)]
AckStatus = Literal["accepted", "duplicate", "conflict"]


class _CampaignEventFields(BaseModel):
    model_config = ConfigDict(extra="allow")

    CampaignID: int = Field(ge=1, le=MAX_OPTIMOVE_ID, description="A numeric string is accepted too.")
    TimeStamp: str | None = Field(default=None, description="Informational; kept as sent when unreadable.")


class ScheduledCampaignEvent(_CampaignEventFields):
    """EventTypeID 5: a scheduled campaign on hold until ClearanceRequiredBy."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "EventTypeID": 5,
                    "TimeStamp": "2025-05-01 08:30",
                    "CampaignID": 1359,
                    "ClearanceRequiredBy": "2025-05-01T09:00:00Z",
                }
            ]
        }
    )

    EventTypeID: Literal[5]
    ClearanceRequiredBy: datetime = Field(
        description=(
            "Also accepted: 'yyyy-MM-dd HH:mm[:ss]' in the tenant's time zone, or epoch seconds. "
            "Refused (400) when further from now than WEBHOOK_DEADLINE_MAX_AGE_SECONDS before or "
            "WEBHOOK_DEADLINE_MAX_AHEAD_SECONDS after."
        )
    )


class CanceledCampaignEvent(_CampaignEventFields):
    """EventTypeID 4: a processed campaign was canceled."""

    EventTypeID: Literal[4]
    ClearanceRequiredBy: datetime | None = None


class OptimoveEvent(RootModel[ScheduledCampaignEvent | CanceledCampaignEvent]):
    """A listener notification; keys are matched case-insensitively and extra keys are kept."""


class ListenerAck(Answer):
    """The listener's acknowledgement: Optimove needs a 2xx to stop redelivering, whatever happened."""

    omit_none = True

    status: AckStatus = Field(
        description=(
            "accepted: stored, to be acted on; duplicate: a redelivery, nothing started; conflict: "
            "differs from the first event of its kind, stored and not acted on (see the campaign report)."
        )
    )
    event_type_id: int
    campaign_id: int
    differs_in: list[str] | SkipJsonSchema[None] = absent_when_none(
        "On a conflict: the fields that differ from the first event."
    )


class GatewayUser(BaseModel):
    """The customer (or visitor) the triggered campaign is about."""

    model_config = ConfigDict(extra="allow")

    user_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=_PRINTABLE_NOT_BLANK,
        description="A number is accepted too; at most 128 characters, no control characters.",
    )
    is_visitor: bool = False


class GatewayAction(BaseModel):
    """The campaign's action; only its first promo code is used."""

    model_config = ConfigDict(extra="allow")

    promo_codes: list[PromoCode] | None = None


class GatewayCampaign(BaseModel):
    """The executed occurrence of a triggered campaign."""

    model_config = ConfigDict(extra="allow")

    id: int = Field(ge=1, le=MAX_OPTIMOVE_ID, description="A numeric string is accepted too.")
    series_id: str | int | None = None
    action: GatewayAction | None = None


class GatewayCall(BaseModel):
    """Optimove's triggered-campaign gateway call (the v1 conditional-execution gateway payload)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "user": {"user_id": "C234638", "is_visitor": False},
                    "campaign": {
                        "id": 1359,
                        "series_id": 77,
                        "notes": "",
                        "tags": [],
                        "action": {"id": 3, "name": "Free spins", "promo_codes": ["SPIN10"], "channels": []},
                    },
                }
            ]
        },
    )

    user: GatewayUser
    campaign: GatewayCampaign


class GatewayAnswer(Answer):
    """The triggered gateway's synchronous answer."""

    user_id: str
    allowed: bool


class GatewayError(ErrorBody):
    """Every 4xx/5xx of the triggered gateway: whatever went wrong, the answer is a refusal."""

    allowed: Literal[False]
    user_id: str | SkipJsonSchema[None] = absent_when_none("Present once the customer could be read.")
