"""Explaining a customer: the recorded steps with the current audience and claim rows, as a story.

`customer_trail` reads, in one unit of work, the customer's trail events and, for every campaign
they appear in, the audience row and the claim: a customer ingested or a claim made before the
trail existed still gets a story, told from those rows and marked as such. `render_trail` writes
it the way a support agent reads it (one line per step, reasons in promobridge's words);
`trail_json` is the same for machines (the CLI's --json and the API).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.domain import trail as steps
from app.domain.claims import Claim
from app.domain.trail import (
    AudienceEntry,
    CampaignTrail,
    ClaimSummary,
    CustomerTrail,
    TrailEvent,
    amount_text,
    is_valid_customer_id,
    reason_in_words,
)
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

DEFAULT_EVENT_LIMIT = 500
# Without --campaign, the customer's campaigns are those of their trail and, for what came before
# it, the most recent campaigns probed by their (campaign, customer) unique keys.
RECENT_CAMPAIGNS_PROBED = 100


def customer_trail(
    uow_factory: UnitOfWorkFactory,
    customer_id: str,
    campaign_id: int | None = None,
    *,
    limit: int = DEFAULT_EVENT_LIMIT,
) -> CustomerTrail | None:
    """The customer's story in every campaign they appear in (or in one); None when promobridge knows
    nothing of them there."""
    if not is_valid_customer_id(customer_id):
        return None
    with uow_factory() as uow:
        events = uow.trail.for_customer(customer_id, campaign_id, limit=limit + 1)
        truncated = len(events) > limit
        events = events[:limit]
        if campaign_id is not None:
            campaign_ids = [campaign_id]
        else:
            seen = dict.fromkeys(e.campaign_id for e in events)
            seen.update(dict.fromkeys(c.id for c in uow.campaigns.recent(limit=RECENT_CAMPAIGNS_PROBED)))
            campaign_ids = list(seen)
        by_campaign: dict[int, list[TrailEvent]] = {}
        for event in events:
            by_campaign.setdefault(event.campaign_id, []).append(event)
        campaigns = [
            found
            for cid in campaign_ids
            if (found := _campaign_trail(uow, customer_id, cid, by_campaign.get(cid, []))) is not None
        ]
        recorded_since = uow.trail.first_recorded_at()
    if not campaigns:
        return None
    campaigns.sort(key=lambda c: (c.last_seen is not None, c.last_seen or datetime.min), reverse=True)
    return CustomerTrail(customer_id, campaigns, recorded_since, truncated)


def _campaign_trail(
    uow: UnitOfWork, customer_id: str, campaign_id: int, events: list[TrailEvent]
) -> CampaignTrail | None:
    member = uow.audience.member(campaign_id, customer_id)
    claim = uow.claims.find_by_customer(campaign_id, customer_id)
    if member is None and claim is None and not events:
        return None  # (an outbox row always has an audience row: no status without a member)
    campaign = uow.campaigns.get(campaign_id)
    audience = (
        None
        if member is None
        else AudienceEntry(member.promo_code, member.segment, member.eligible, member.scrub_reason)
    )
    return CampaignTrail(
        campaign_id,
        None if campaign is None else campaign.mode.value,
        None if campaign is None else campaign.state.value,
        audience,
        None if claim is None else _summary(claim),
        events,
        None if campaign is None else campaign.ingest_finished_at,
        uow.trail.status_of(campaign_id, customer_id),
        customer_id,
        None if campaign is None else campaign.created_at,
    )


def _summary(claim: Claim) -> ClaimSummary:
    return ClaimSummary(
        claim.id, claim.state.value, claim.reason, claim.source, claim.client_id, claim.tier,
        claim.reward_type, claim.reward_amount, claim.granted_amount, claim.created_at,
        claim.validated_at, claim.activated_at, claim.completed_at,
    )  # fmt: skip


# Reading it -------------------------------------------------------------------------------------


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _reward(kind: object, amount: object) -> str:
    if amount is None:
        return str(kind or "a reward")
    return f"{amount} {kind}" if kind else str(amount)


def step_text(event: TrailEvent) -> str:
    """One step in a support agent's words."""
    d: Mapping[str, Any] = event.details
    match event.step:
        case steps.AUDIENCE_SCRUBBED:
            where = (
                "when Optimove's triggered gateway asked (answered no),"
                if d.get("gateway")
                else "from the audience"
            )
            return (
                f"scrubbed {where} by the {d.get('policy')} policy: "
                f"{reason_in_words(d.get('reason'))}{_evidence(d.get('data'))}"
            )
        case steps.CLAIM_RECEIVED:
            via = f'client "{d["client"]}" (id {d.get("client_id")})' if d.get("client") else _source(d)
            key = f", key {d['key_id']}" if d.get("key_id") else ""
            idem = "with" if d.get("idempotency_key") else "without"
            claim = d.get("claim_id")
            return f"claimed the reward (claim {claim}) through {via}{key}, {idem} an Idempotency-Key"
        case steps.CLAIM_REJECTED if d.get("before_grant"):
            return f"claim rejected before any grant, never reported: {reason_in_words(d.get('reason'))}"
        case steps.CLAIM_REJECTED:
            return f"claim rejected at once, without asking OptiPromo: {reason_in_words(d.get('reason'))}"
        case steps.VALIDATION_ANSWERED if d.get("eligible"):
            reward = _reward(d.get("reward_type"), d.get("reward_amount"))
            return (
                f"OptiPromo validated the claim: tier {d.get('tier')}, reward {reward} "
                f"(in a call for {d.get('call_size')} customer{'s' if d.get('call_size') != 1 else ''})"
            )
        case steps.VALIDATION_ANSWERED:
            reason = d.get("reason")
            return f"OptiPromo refused the claim: {reason_in_words(reason)} ({reason})"
        case steps.VALIDATION_ERROR:
            then = "will retry" if d.get("will_retry") else "gave up"
            return f"the call to OptiPromo failed ({d.get('error')}); {then}"
        case steps.GRANT_SETTLED:
            granted = _reward(d.get("reward_type"), d.get("amount_granted"))
            offered = d.get("amount_offered")
            scaled = (
                f"OptiPromo offered {offered}; the reward policies scaled it"
                if offered is not None and offered != d.get("amount_granted")
                else f"as OptiPromo offered ({offered})"
            )
            ref = d.get("external_ref")
            return f"granted {granted} through the {d.get('activator')} activator{_attempt(d)} ({scaled})" + (
                f", reference {ref}" if ref else ""
            )
        case steps.GRANT_REFUSED:
            why = reason_in_words(d.get("reason"))
            return f"the operator's platform refused the grant{_attempt(d)}: {why}"
        case steps.GRANT_RETRY:
            return (
                f"the grant was not settled{_attempt(d)} ({d.get('reason')}); "
                f"next attempt in {d.get('retry_in_s')} s"
            )
        case steps.CLAIM_FAILED:
            why = reason_in_words(d.get("reason"))
            return f"claim failed: {why} (it can be replayed: promobridge claims retry)"
        case steps.CLAIM_REPLAYED:
            return f"failed claim replayed (by {d.get('by')}): back to pending"
        case steps.STATUS_QUEUED if d.get("auto_mode"):
            return "approved in bulk at ingest (auto mode): status queued for Optimove"
        case steps.STATUS_QUEUED:
            return "status (reward delivered) queued for Optimove"
        case steps.STATUS_SENT if d.get("call_id") is None:
            return "status reached Optimove (before the trail: the call is not known)"
        case steps.STATUS_SENT:
            resent = (
                f", a RE-SEND (carried by {d.get('sends')} calls: an earlier one may already have applied "
                "it; harmless, the call sets a state)"
                if d.get("resent")
                else ""
            )
            return (
                f"status reached Optimove in call {d.get('call_id')} "
                f"(batch of {d.get('batch_size')}, attempt {d.get('attempt')}){resent}"
            )
        case steps.STATUS_AMBIGUOUS:
            return (
                f"status call {d.get('call_id')} failed ambiguously ({d.get('error')}): Optimove may have "
                f"applied it; it will be sent again in {d.get('retry_in_s')} s"
            )
        case steps.STATUS_RETRY:
            return (
                f"status call {d.get('call_id')} failed ({d.get('error')}); retry in {d.get('retry_in_s')} s"
            )
        case steps.STATUS_DEAD:
            return f"status call {d.get('call_id')} failed for good ({d.get('error')}): dead-lettered"
    return f"{event.step} {dict(d)}"


def _attempt(d: Mapping[str, Any]) -> str:
    attempt = d.get("attempt")
    return f" on attempt {attempt}" if isinstance(attempt, int) and attempt > 1 else ""


def _source(d: Mapping[str, Any]) -> str:
    return f"the {d.get('source')} path"


def _evidence(data: object) -> str:
    if not isinstance(data, dict) or not data:
        return ""
    parts = []
    attribute = data.get("attribute")
    if attribute is not None:
        value = data.get("value")
        parts.append(
            f"Optimove attribute {attribute} = {value!r}"
            if value is not None
            else f"no {attribute} attribute"
        )
    for name, value in data.items():
        if name in {"attribute", "value"}:
            continue
        parts.append(f"{name.replace('_', ' ')}: {'not set' if value is None else value}")
    return " [" + "; ".join(parts) + "]"


def _audience_line(audience: AudienceEntry | None) -> str:
    if audience is None:
        return "not in the campaign's audience"
    where = f"promo code {audience.promo_code}" + (
        f", segment {audience.segment}" if audience.segment else ""
    )
    if audience.eligible:
        return f"in the audience, eligible ({where})"
    return f"in the audience, scrubbed: {reason_in_words(audience.scrub_reason)} ({where})"


def _claim_line(claim: ClaimSummary | None) -> str:
    if claim is None:
        return "no claim"
    line = f"claim {claim.id} is {claim.state}"
    if claim.reason:
        line += f": {reason_in_words(claim.reason)}"
    if claim.granted_amount is not None:
        line += f"; granted {_reward(claim.reward_type, amount_text(claim.granted_amount))}"
    return line


def _rows_story(trail: CampaignTrail) -> list[tuple[datetime, str]]:
    """What the rows say happened, for a campaign with no recorded step (from before the trail)."""
    story = []
    if trail.ingested_at is not None and trail.audience is not None:
        story.append((trail.ingested_at, f"campaign ingested: {_audience_line(trail.audience)}"))
    claim = trail.claim
    if claim is not None:
        story.append(
            (claim.created_at, f"claimed the reward (claim {claim.id}) through the {claim.source} path")
        )
        if claim.validated_at is not None:
            reward = _reward(claim.reward_type, amount_text(claim.reward_amount))
            story.append(
                (claim.validated_at, f"OptiPromo validated the claim: tier {claim.tier}, reward {reward}")
            )
        if claim.activated_at is not None:
            granted = _reward(claim.reward_type, amount_text(claim.granted_amount))
            story.append((claim.activated_at, f"granted {granted}"))
    story += [(e.at, step_text(e)) for e in trail.ordered]  # the status, told by its outbox row
    return sorted(story, key=lambda s: s[0])


def _note(trail: CampaignTrail, recorded_since: datetime | None) -> str | None:
    if not trail.before_the_trail(recorded_since):
        return None
    since = f"before {_time(recorded_since)}" if recorded_since is not None else "for this customer yet"
    return f"no trail recorded {since}: this story is told from the current audience and claim rows"


def render_trail(trail: CustomerTrail) -> str:
    """The customer's story, one line per step, most recent campaign first."""
    count = len(trail.campaigns)
    lines = [f"Customer {trail.customer_id}: {count} campaign{'s' if count != 1 else ''}"]
    for campaign in trail.campaigns:
        mode = f"{campaign.mode} mode, {campaign.state}" if campaign.mode else "unknown campaign"
        lines += ["", f"Campaign {campaign.campaign_id} ({mode})"]
        lines.append(f"  now: {_audience_line(campaign.audience)}; {_claim_line(campaign.claim)}")
        note = _note(campaign, trail.recorded_since)
        if note is not None:
            lines.append(f"  ({note})")
            lines += [f"  {_time(at)}  {text}" for at, text in _rows_story(campaign)]
            continue
        lines += [f"  {_time(e.at)}  {step_text(e)}" for e in campaign.ordered]
    if trail.truncated:
        lines += ["", f"(only the first {DEFAULT_EVENT_LIMIT} steps are shown)"]
    return "\n".join(lines)


def trail_json(trail: CustomerTrail) -> dict[str, Any]:
    """The customer's story as JSON: each step with its details and its text."""
    return {
        "customer_id": trail.customer_id,
        "recorded_since": None if trail.recorded_since is None else trail.recorded_since.isoformat(),
        "truncated": trail.truncated,
        "campaigns": [_campaign_json(c, trail.recorded_since) for c in trail.campaigns],
    }


def _campaign_json(trail: CampaignTrail, recorded_since: datetime | None) -> dict[str, Any]:
    audience = trail.audience
    claim = trail.claim
    return {
        "campaign_id": trail.campaign_id,
        "mode": trail.mode,
        "state": trail.state,
        "audience": None
        if audience is None
        else {
            "eligible": audience.eligible,
            "scrub_reason": audience.scrub_reason,
            "scrub_reason_text": None if audience.eligible else reason_in_words(audience.scrub_reason),
            "promo_code": audience.promo_code,
            "segment": audience.segment,
        },
        "claim": None if claim is None else _claim_json(claim),
        "note": _note(trail, recorded_since),
        "steps": [
            {"at": e.at.isoformat(), "step": e.step, "details": dict(e.details), "text": step_text(e)}
            for e in trail.ordered
        ],
    }


def _claim_json(claim: ClaimSummary) -> dict[str, Any]:
    def iso(at: datetime | None) -> str | None:
        return None if at is None else at.isoformat()

    return {
        "id": claim.id,
        "state": claim.state,
        "reason": claim.reason,
        "reason_text": None if claim.reason is None else reason_in_words(claim.reason),
        "source": claim.source,
        "client_id": claim.client_id,
        "tier": claim.tier,
        "reward_type": claim.reward_type,
        "reward_amount": amount_text(claim.reward_amount),
        "granted_amount": amount_text(claim.granted_amount),
        "created_at": iso(claim.created_at),
        "validated_at": iso(claim.validated_at),
        "activated_at": iso(claim.activated_at),
        "completed_at": iso(claim.completed_at),
    }
