"""Request schemas of the HTTP API (pydantic): strict types, no unknown fields, bounded sizes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

MAX_SESSION_PROPERTIES = 50
CustomerId = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
SessionValue = StrictBool | StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=256)] | None


class ClaimBody(BaseModel):
    """POST /v1/claims: one customer claiming one campaign's reward."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: Annotated[StrictInt, Field(gt=0, lt=2**63)]
    customer_id: CustomerId
    session_properties: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=64)], SessionValue],
        Field(default_factory=dict, max_length=MAX_SESSION_PROPERTIES),
    ]


IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
