"""What the API answers, as pydantic models: the views build their bodies with them, and the OpenAPI
document describes them, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.claims import Claim, ClaimState
from app.observability.health import Readiness
from app.services.reports import CampaignReport
from app.web.schemas import absent_when_none

# The API has always written timestamps with Python's isoformat ("+00:00", where pydantic would
# write "Z"): clients parse what they were given, so the models keep that form.
Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Answer(BaseModel):
    """A JSON body the API answers."""

    # Whether optional fields without a value are left out of the answer rather than null (such
    # fields are declared with `absent_when_none`).
    omit_none: ClassVar[bool] = False

    def body(self) -> dict[str, Any]:
        """The JSON object answered."""
        return self.model_dump(mode="json", exclude_none=self.omit_none)


class FieldError(BaseModel):
    """One field a request got wrong."""

    field: str = Field(description="The field's path, dot-separated (`session_properties.x`).")
    message: str


class ErrorBody(Answer):
    """Every 4xx and 5xx answer."""

    omit_none = True

    error: str = Field(description="A stable, machine-readable name (`invalid_claim`, `not_found`, ...).")
    message: str = Field(description="What went wrong, for a person.")
    details: list[FieldError] | SkipJsonSchema[None] = absent_when_none(
        "The fields at fault, when the error is about fields."
    )


class RewardView(BaseModel):
    """The reward granted (after scaling), or offered when not granted yet."""

    type: str | None
    amount: str = Field(description="Decimal amount as a string, to keep its precision.")
    tier: str | None


class ClaimView(Answer):
    """A claim as the API (and `promobridge claims show`) shows it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6c1f2a9e-4d1b-4c39-9a53-1f0d8e2b7a41",
                    "status": "completed",
                    "reason": None,
                    "campaign_id": 1359,
                    "customer_id": "C234638",
                    "promo_code": "WELCOME",
                    "reward": {"type": "free_spins", "amount": "12.50", "tier": "T2"},
                    "created_at": "2025-05-01T09:00:00.120000+00:00",
                    "updated_at": "2025-05-01T09:00:01.480000+00:00",
                    "validated_at": "2025-05-01T09:00:00.410000+00:00",
                    "activated_at": "2025-05-01T09:00:00.730000+00:00",
                    "completed_at": "2025-05-01T09:00:01.480000+00:00",
                    "status_url": "/v1/claims/6c1f2a9e-4d1b-4c39-9a53-1f0d8e2b7a41",
                }
            ]
        }
    )

    id: str
    status: ClaimState = Field(description="completed, rejected and failed are final.")
    reason: str | None = Field(description="Why a claim was rejected or failed (`not_in_audience`, ...).")
    campaign_id: int
    customer_id: str
    promo_code: str | None
    reward: RewardView | None
    created_at: Timestamp
    updated_at: Timestamp
    validated_at: Timestamp | None
    activated_at: Timestamp | None
    completed_at: Timestamp | None
    status_url: str = Field(description="Where to read (or long-poll) this claim.")

    @classmethod
    def from_claim(cls, claim: Claim) -> ClaimView:
        """The view of a stored claim: the granted amount once granted, else the one offered."""
        amount = claim.granted_amount if claim.granted_amount is not None else claim.reward_amount
        reward = (
            None
            if amount is None
            else RewardView(type=claim.reward_type, amount=str(amount), tier=claim.tier)
        )
        return cls(
            id=claim.id,
            status=claim.state,
            reason=claim.reason,
            campaign_id=claim.campaign_id,
            customer_id=claim.customer_id,
            promo_code=claim.promo_code,
            reward=reward,
            created_at=claim.created_at,
            updated_at=claim.updated_at,
            validated_at=claim.validated_at,
            activated_at=claim.activated_at,
            completed_at=claim.completed_at,
            status_url=f"/v1/claims/{claim.id}",
        )


class EventConflictView(BaseModel):
    """An Optimove event that differed from the first of its kind, stored and not acted on."""

    event_id: int
    event_type_id: int
    first_event_id: int
    received_at: Timestamp
    payload: dict[str, Any] = Field(description="The event as received.")


class CampaignReportView(Answer):
    """A campaign's progress and counters (what `promobridge campaigns show --json` prints)."""

    model_config = ConfigDict(from_attributes=True)

    campaign_id: int
    kind: str = Field(description="`scheduled` (audience from Optimove) or `triggered` (the gateway's).")
    mode: CampaignMode
    state: CampaignState
    clearance_required_by: Timestamp | None = Field(description="Optimove's deadline for approvals.")
    seconds_to_deadline: float | None
    at_risk: bool = Field(description="Whether the pending approvals may not fit before the deadline.")
    pages_done: int
    last_page: int | None = Field(description="Known once a short page ended the audience.")
    rows_ingested: int
    eligible: int
    scrubbed: int
    scrubbed_by_reason: dict[str, int]
    segments: dict[str, int] = Field(description="Eligible customers by segment.")
    claimed: int = Field(description="Every claim of the campaign, those rejected at once included.")
    claims_by_state: dict[str, int]
    validated: int = Field(description="Claims OptiPromo found eligible, whatever happened next.")
    rejected: int
    rejected_by_reason: dict[str, int]
    rewarded: int = Field(description="Claims whose reward was granted.")
    reported: int = Field(description="Claims whose status Optimove accepted (completed).")
    failed: int
    failed_by_reason: dict[str, int]
    approvals_pending: int
    oldest_pending_seconds: float | None = Field(description="Age of the oldest status update still waiting.")
    approvals_sent: int
    approvals_dead: int = Field(description="Given up after a permanent error.")
    approval_calls: int
    resent: int = Field(description="Approvals sent again after an ambiguous failure.")
    ingest_seconds: float | None
    webhook_to_last_approval_seconds: float | None
    error: str | None = Field(description="Why the campaign failed, if it did.")
    event_conflicts: int
    recent_event_conflicts: list[EventConflictView]
    hold: str | None = Field(
        description="Why the campaign is held (until `promobridge campaigns release`); null when not."
    )
    mode_from: str | None = Field(
        description="Where the mode came from: settings, rule:<pattern> or environment (null until settled)."
    )
    rewards_reserved: int = Field(
        description="Rewards reserved within max_rewards (granted or being granted)."
    )
    amount_reserved: str = Field(
        description="Their total amount, within max_reward_amount (a decimal string)."
    )
    safeguard_trips: dict[str, int] = Field(
        description="Safeguard trips by safeguard: claims rejected by max_rewards / max_reward_amount, and "
        "1 for safeguard:max_audience while it holds the campaign."
    )
    paused: bool = Field(description="Whether the global pause is on (`promobridge pause`).")

    @classmethod
    def from_report(cls, report: CampaignReport) -> CampaignReportView:
        """The view of a campaign report."""
        return cls.model_validate(report)


class Liveness(Answer):
    """`/healthz`: the process answers."""

    status: Literal["ok"] = "ok"


class ReadinessView(Answer):
    """`/readyz`: each check's result (`ok`, `skipped` or `error: <reason>`), and which ones failed."""

    omit_none = True

    status: Literal["ready", "unavailable"]
    checks: dict[str, str]
    failing: list[str] | SkipJsonSchema[None] = absent_when_none("The checks that failed, when not ready.")

    @classmethod
    def from_readiness(cls, readiness: Readiness) -> ReadinessView:
        """The view of the checks' results."""
        if readiness.ready:
            return cls(status="ready", checks=readiness.checks)
        return cls(status="unavailable", checks=readiness.checks, failing=readiness.failing)


class TrailStepView(BaseModel):
    """One recorded step of a (campaign, customer)."""

    at: str = Field(
        description="When it happened (ISO 8601, UTC).", json_schema_extra={"format": "date-time"}
    )
    step: str = Field(
        description="`audience.scrubbed`, `claim.received`, `validation.answered`, `status.sent`, ..."
    )
    details: dict[str, Any] = Field(
        description="Its inputs and outcome: ids, codes, flag values, amounts as text."
    )
    text: str = Field(description="The step as a support agent reads it.")


class TrailAudienceView(BaseModel):
    """What the customer's audience row says now."""

    eligible: bool
    scrub_reason: str | None
    scrub_reason_text: str | None = Field(description="The scrub reason in words.")
    promo_code: str | None
    segment: str | None


class TrailClaimView(BaseModel):
    """What the customer's claim row says now (never its session properties)."""

    id: str
    state: ClaimState
    reason: str | None
    reason_text: str | None = Field(description="The reason in promobridge's words.")
    source: str
    client_id: int | None
    tier: str | None
    reward_type: str | None
    reward_amount: str | None = Field(description="What OptiPromo offered (a decimal, as text).")
    granted_amount: str | None = Field(description="What was granted after scaling (a decimal, as text).")
    created_at: str
    validated_at: str | None
    activated_at: str | None
    completed_at: str | None


class CampaignTrailView(BaseModel):
    """The customer's story in one campaign."""

    campaign_id: int
    mode: CampaignMode | None
    state: CampaignState | None
    audience: TrailAudienceView | None = Field(description="None when the customer is not in the audience.")
    claim: TrailClaimView | None
    note: str | None = Field(description="Set when no step was recorded (a story from before the trail).")
    steps: list[TrailStepView] = Field(description="In the order they happened.")


class CustomerTrailView(Answer):
    """Every campaign a customer appears in, most recent first: what `promobridge explain --json` prints."""

    customer_id: str
    recorded_since: str | None = Field(description="When the trail began: nothing before it was recorded.")
    truncated: bool = Field(description="Whether the customer has more steps than one answer shows.")
    campaigns: list[CampaignTrailView]


# Operator control ---------------------------------------------------------------------------------


class SafeguardsView(BaseModel):
    """Limits; null is no limit. Amounts are decimal strings (no precision lost)."""

    max_audience: int | None
    max_rewards: int | None
    max_reward_amount: str | None


class OwnSettingsView(SafeguardsView):
    """What the operator set for this campaign id (null fields fall back to a rule or the environment)."""

    mode: CampaignMode | None
    notes: str | None
    updated_by: str | None
    updated_at: Timestamp


class EffectiveSettingsView(SafeguardsView):
    """What applies to the campaign now, and where each value came from."""

    mode: CampaignMode
    mode_from: str | None = Field(
        description="settings, rule:<pattern> or environment; null until its first page."
    )
    sources: dict[str, str] = Field(
        description="Each safeguard's source: settings, rule:<pattern>, environment."
    )


class CampaignSettingsView(Answer):
    """A campaign's settings: its own, what applies now, and whether it is held."""

    campaign_id: int
    announced: bool = Field(description="Whether Optimove announced the campaign (settings may come first).")
    own: OwnSettingsView | None
    effective: EffectiveSettingsView
    hold: str | None = Field(description="Why the campaign is held; null when it is not.")


class ReleaseView(Answer):
    """What a release did."""

    campaign_id: int
    released: bool = Field(description="False when the campaign was not held.")


class PauseView(Answer):
    """The global pause: stops validations, activations and auto approvals everywhere."""

    paused: bool
    changed: bool = Field(description="Whether this request changed it (false on a read).")
    by: str | None
    at: Timestamp | None
    reason: str | None


class RuleView(SafeguardsView):
    """A rule: defaults for campaigns whose promo code matches its pattern."""

    pattern: str
    priority: int
    mode: CampaignMode | None
    notes: str | None
    updated_by: str | None
    updated_at: Timestamp | None


class RuleAnswer(Answer, RuleView):
    """One rule, as saved."""


class RulesView(Answer):
    """Every rule, by pattern."""

    rules: list[RuleView]


class RuleDeletedView(Answer):
    """A rule removed."""

    deleted: str
