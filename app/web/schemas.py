"""Request schemas of the HTTP API (pydantic): strict types, no unknown fields, bounded sizes.

The views validate with these models, and the OpenAPI document describes them: the body, the
headers, the query and the path parameters of each operation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)
from pydantic.json_schema import SkipJsonSchema

from app.adapters.optimove.contract import MAX_OPTIMOVE_ID

MAX_SESSION_PROPERTIES = 50
CustomerId = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
SIGNED_64_BIT = (-(2**63), 2**63 - 1)


def _integral_float_as_int(value: object) -> object:
    # JSON Schema (and so the OpenAPI document) counts 1359.0 as an integer; 1.5 stays a float
    # and is refused, and 1e20 becomes an integer that the range check refuses, naming the field.
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _integer_within_64_bits(value: object) -> object:
    # Without this a larger integer would not be refused: the float branch would take it, rounded.
    if type(value) is int and not SIGNED_64_BIT[0] <= value <= SIGNED_64_BIT[1]:
        raise ValueError("integers must fit in a signed 64-bit integer")
    return value


# Session values go to OptiPromo and into a JSON column: integers are kept to what most JSON
# consumers can read back, floats to finite numbers.
SessionValue = Annotated[
    StrictBool
    | Annotated[StrictInt, Field(ge=SIGNED_64_BIT[0], le=SIGNED_64_BIT[1])]
    | Annotated[StrictFloat, Field(allow_inf_nan=False)]
    | Annotated[StrictStr, Field(max_length=256)]
    | None,
    BeforeValidator(_integer_within_64_bits),
]


class ClaimBody(BaseModel):
    """POST /v1/claims: one customer claiming one campaign's reward."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"campaign_id": 1359, "customer_id": "C234638", "session_properties": {"deposit_amount": 120}}
            ]
        },
    )

    campaign_id: Annotated[StrictInt, Field(gt=0, lt=2**63), BeforeValidator(_integral_float_as_int)]
    customer_id: CustomerId
    session_properties: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=64)], SessionValue],
        Field(default_factory=dict, max_length=MAX_SESSION_PROPERTIES),
    ]


def absent_when_none(description: str) -> Any:
    """A field that is left out, rather than null, when it has no value: typed `X | SkipJsonSchema[None]`,
    so the document offers neither null nor a default of null."""
    return Field(default=None, description=description, json_schema_extra=_without_default)


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
CLAIM_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# A bound that a setting chooses cannot be written in a class: the schema names the setting (its
# attribute in app.config.Settings), and the OpenAPI document is given the configured value.
MAXIMUM_FROM_SETTING = "x-maximum-from-setting"


class ClaimHeaders(BaseModel):
    """POST /v1/claims' own header (the client's key travels in Authorization, as the bearer scheme)."""

    idempotency_key: Annotated[str, Field(pattern=IDEMPOTENCY_KEY_PATTERN)] | SkipJsonSchema[None] = Field(
        default=None,
        alias="Idempotency-Key",
        description=(
            "Makes a retried submission safe: the same key and body return the same claim; the same "
            "key with another body is a 409. Keys are per client; 1-255 printable ASCII characters."
        ),
        json_schema_extra=_without_default,
    )


class ClaimPollQuery(BaseModel):
    """GET /v1/claims/<id>'s query: how long to hold the answer until the claim is final."""

    wait: float = Field(
        default=0,
        ge=0,
        allow_inf_nan=False,
        description=(
            "Seconds to hold the answer until the claim is final (completed, rejected or failed), at "
            "most CLAIMS_MAX_WAIT_SECONDS (30 by default). Waiting polls are capped per web process, "
            "per client (CLAIMS_MAX_LONG_POLLS_PER_CLIENT) and in all (CLAIMS_MAX_LONG_POLLS): beyond "
            "either, 429 too_many_long_polls with Retry-After."
        ),
        json_schema_extra={MAXIMUM_FROM_SETTING: "claims_max_wait_seconds"},
    )


class ClaimPath(BaseModel):
    """The claim named in the path."""

    claim_id: str = Field(
        pattern=CLAIM_ID_PATTERN,
        description="The id the claim was answered with; any other text is answered 404, as no claim has it.",
    )


class CampaignPath(BaseModel):
    """The campaign named in the path."""

    campaign_id: int = Field(
        ge=1,
        le=MAX_OPTIMOVE_ID,
        description="Optimove's CampaignID; outside 1..2^63-1 it is answered 404, as no campaign has it.",
    )


class ListenerPath(BaseModel):
    """The listener token in the webhook URLs: the secret that authenticates Optimove's calls."""

    token: str = Field(
        description=(
            "LISTENER_TOKEN, as registered with Optimove by `promobridge register`; any other value "
            "is answered 401."
        )
    )


class CustomerPath(BaseModel):
    """The customer named in the path."""

    customer_id: CustomerId = Field(
        description="Optimove's CustomerID (1-128 characters, no control characters); other text is 400."
    )


class CustomerTrailQuery(BaseModel):
    """GET /v1/customers/<id>/trail's query: one campaign only, or every campaign of the customer."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: Annotated[int, Field(ge=1, le=MAX_OPTIMOVE_ID)] | SkipJsonSchema[None] = Field(
        default=None,
        description="Optimove's CampaignID: only this campaign's story. Without it, every campaign's.",
    )


# Operator control (admin scope) ------------------------------------------------------------------

Limit = Annotated[StrictInt, Field(ge=0, lt=2**63), BeforeValidator(_integral_float_as_int)]
# Amounts travel as JSON numbers; they are kept to 4 decimal places (Numeric(18, 4)).
Amount = (
    Annotated[StrictInt, Field(ge=0, lt=10**14)]
    | Annotated[StrictFloat, Field(ge=0, lt=10**14, allow_inf_nan=False)]
)
Mode = Literal["claim", "auto"]
Notes = Annotated[StrictStr, Field(max_length=2000)]


class CampaignSettingsBody(BaseModel):
    """PUT /v1/campaigns/<id>/settings: the fields given change; null clears one back to the rule
    or the environment; a field left out keeps its value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"mode": "claim", "max_rewards": 500, "max_reward_amount": 25000}]},
    )

    mode: Mode | None = Field(
        default=None, description="claim or auto; refused (409) once approvals or claims have started."
    )
    max_audience: Limit | None = Field(
        default=None, description="Hold the campaign past this many customers."
    )
    max_rewards: Limit | None = Field(default=None, description="Reject claims past this many rewards.")
    max_reward_amount: Amount | None = Field(
        default=None, description="Reject claims past this total reward amount."
    )
    notes: Notes | None = Field(default=None, description="Free text kept with the campaign.")


class RuleBody(BaseModel):
    """PUT /v1/settings/rules/<pattern>: the whole rule (a field left out is not set by the rule)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"priority": 10, "mode": "claim", "max_rewards": 1000}]},
    )

    priority: Annotated[StrictInt, Field(ge=-(2**31), lt=2**31), BeforeValidator(_integral_float_as_int)] = (
        Field(
            default=0, description="The highest priority matching rule wins, then the most specific pattern."
        )
    )
    mode: Mode | None = None
    max_audience: Limit | None = None
    max_rewards: Limit | None = None
    max_reward_amount: Amount | None = None
    notes: Notes | None = None


class PauseBody(BaseModel):
    """PUT /v1/pause: turn the global pause on or off."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"paused": True, "reason": "incident 42"}]}
    )

    paused: StrictBool
    reason: Annotated[StrictStr, Field(max_length=500)] | None = Field(
        default=None, description="Why (kept with the switch)."
    )


RULE_PATTERN_PATTERN = r"^[^\x00-\x1f\x7f/]{1,128}$"


class RulePath(BaseModel):
    """The rule's promo code pattern, URL-encoded (`WELCOME*` is `WELCOME%2A`)."""

    pattern: str = Field(
        pattern=RULE_PATTERN_PATTERN,
        description="A shell-style promo code pattern (*, ?, [seq]) of 1-128 characters, no '/'.",
    )
