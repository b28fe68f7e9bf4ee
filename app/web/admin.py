"""The admin API (`admin` scope): campaign settings, releases, the global pause, settings rules.

What `promobridge campaigns set|release`, `promobridge pause|resume` and `promobridge rules` do,
over HTTP. Every process reads what these write per batch: a change takes effect within seconds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError

from app.domain.campaigns import Campaign, CampaignSettings
from app.domain.clients import SCOPE_ADMIN
from app.domain.safeguards import EffectiveSettings, ServiceSwitch, SettingsRule
from app.services import campaign_settings as settings_service
from app.services import operator_control
from app.web.auth import require_client
from app.web.errors import error_response
from app.web.json_body import InvalidJsonBody, decode_json_object, read_limited_body
from app.web.openapi import documented
from app.web.responses import (
    CampaignSettingsView,
    EffectiveSettingsView,
    ErrorBody,
    FieldError,
    OwnSettingsView,
    PauseView,
    ReleaseView,
    RuleAnswer,
    RuleDeletedView,
    RulesView,
    RuleView,
)
from app.web.schemas import CampaignPath, CampaignSettingsBody, PauseBody, RuleBody, RulePath

admin_api = Blueprint("admin_api", __name__)
Body = TypeVar("Body", bound=BaseModel)

_CLIENT_ERRORS = {
    401: (ErrorBody, "no valid Authorization: Bearer <key>"),
    403: (ErrorBody, "the key lacks the admin scope"),
    429: (ErrorBody, "the client's rate limit is exhausted (Retry-After says when to retry)"),
    503: (ErrorBody, "the database is unavailable; retry later"),
}
_BODY_ERRORS = {
    400: (ErrorBody, "a body that is not one strict JSON object"),
    413: (ErrorBody, "the body exceeds WEBHOOK_MAX_BYTES"),
    415: (ErrorBody, "the body is not sent as application/json"),
    422: (ErrorBody, "the body does not match the schema; details name the fields"),
}


class BadBody(Exception):
    """The request body was refused; `answer` is the error response."""

    def __init__(self, answer: tuple[Response, int]) -> None:
        super().__init__("bad body")
        self.answer = answer


def _services() -> Any:
    return current_app.config["PROMOBRIDGE_SERVICES"]


def _by() -> str:
    return f"api:{g.client.name}"


def _body(model: type[Body]) -> Body:
    if not request.is_json:
        raise BadBody(error_response(415, "unsupported_media_type", "send the body as application/json"))
    settings = current_app.config["PROMOBRIDGE_SETTINGS"]
    try:
        payload = decode_json_object(read_limited_body(settings.webhook_max_bytes))
    except InvalidJsonBody as exc:
        raise BadBody(error_response(400, "bad_request", str(exc))) from exc
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details = [FieldError(field=".".join(map(str, e["loc"])), message=e["msg"]) for e in exc.errors()]
        raise BadBody(
            error_response(422, "invalid_body", "the body does not match the schema", details=details)
        ) from exc


def _amount(value: int | float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _campaign_id_or_404(campaign_id: int) -> tuple[Response, int] | None:
    try:
        CampaignPath.model_validate({"campaign_id": campaign_id})
    except ValidationError:
        return error_response(404, "not_found", "no such campaign")
    return None


def _settings_view(
    campaign_id: int, own: CampaignSettings | None, effective: EffectiveSettings, campaign: Campaign | None
) -> CampaignSettingsView:
    limits = effective.safeguards
    return CampaignSettingsView(
        campaign_id=campaign_id,
        announced=campaign is not None,
        own=None
        if own is None
        else OwnSettingsView(
            mode=own.mode,  # type: ignore[arg-type]
            max_audience=own.max_audience,
            max_rewards=own.max_rewards,
            max_reward_amount=_text(own.max_reward_amount),
            notes=own.notes,
            updated_by=own.updated_by,
            updated_at=own.updated_at,
        ),
        effective=EffectiveSettingsView(
            mode=campaign.mode if campaign is not None else effective.mode,  # type: ignore[arg-type]
            mode_from=campaign.mode_from if campaign is not None else effective.mode_from,
            max_audience=limits.max_audience,
            max_rewards=limits.max_rewards,
            max_reward_amount=_text(limits.max_reward_amount),
            sources=dict(effective.sources),
        ),
        hold=campaign.hold if campaign is not None else None,
    )


@admin_api.get("/v1/campaigns/<int:campaign_id>/settings")
@documented(
    path=CampaignPath,
    scope=SCOPE_ADMIN,
    answers={
        200: (CampaignSettingsView, "the campaign's settings (announced by Optimove or not)"),
        404: (ErrorBody, "a campaign id outside 1..2^63-1"),
        **_CLIENT_ERRORS,
    },
)
@require_client(SCOPE_ADMIN)
def read_campaign_settings(campaign_id: int) -> tuple[Response, int]:
    """A campaign's own settings, what applies to it now and where from, and whether it is held."""
    if (refused := _campaign_id_or_404(campaign_id)) is not None:
        return refused
    container = _services().container
    own, effective, campaign = settings_service.campaign_settings_view(
        container.uow, campaign_id, container.control
    )
    return jsonify(_settings_view(campaign_id, own, effective, campaign).body()), 200


@admin_api.put("/v1/campaigns/<int:campaign_id>/settings")
@documented(
    path=CampaignPath,
    json=CampaignSettingsBody,
    scope=SCOPE_ADMIN,
    answers={
        200: (CampaignSettingsView, "stored; every process applies it within seconds"),
        404: (ErrorBody, "a campaign id outside 1..2^63-1"),
        409: (ErrorBody, "the mode cannot change: approvals or claims have started"),
        **_BODY_ERRORS,
        **_CLIENT_ERRORS,
    },
)
@require_client(SCOPE_ADMIN)
def write_campaign_settings(campaign_id: int) -> tuple[Response, int]:
    """Set a campaign's mode, safeguards and notes, before or after Optimove announces it.

    A field given changes, null clears it (back to the rule or the environment), a field left out
    keeps its value. Lowering max_audience under a live campaign's audience holds it.
    """
    if (refused := _campaign_id_or_404(campaign_id)) is not None:
        return refused
    try:
        body = _body(CampaignSettingsBody)
    except BadBody as bad:
        return bad.answer
    given = body.model_fields_set
    keep = settings_service.KEEP
    container = _services().container
    try:
        settings_service.set_campaign_settings(
            container.uow,
            campaign_id,
            notes=body.notes,
            updated_by=_by(),
            mode=body.mode if "mode" in given else keep,
            max_audience=body.max_audience if "max_audience" in given else keep,
            max_rewards=body.max_rewards if "max_rewards" in given else keep,
            max_reward_amount=_amount(body.max_reward_amount) if "max_reward_amount" in given else keep,
            control=container.control,
        )
    except settings_service.SettingsRefused as exc:
        return error_response(409, "settings_refused", str(exc))
    own, effective, campaign = settings_service.campaign_settings_view(
        container.uow, campaign_id, container.control
    )
    return jsonify(_settings_view(campaign_id, own, effective, campaign).body()), 200


@admin_api.post("/v1/campaigns/<int:campaign_id>/release")
@documented(
    path=CampaignPath,
    scope=SCOPE_ADMIN,
    answers={
        200: (ReleaseView, "released (or it was not held); its approvals and claims go on"),
        404: (ErrorBody, "no such campaign"),
        **_CLIENT_ERRORS,
    },
)
@require_client(SCOPE_ADMIN)
def release_campaign(campaign_id: int) -> tuple[Response, int]:
    """Release a campaign a safeguard holds (`promobridge campaigns release ID`)."""
    if (refused := _campaign_id_or_404(campaign_id)) is not None:
        return refused
    container = _services().container
    try:
        released = operator_control.release_campaign(
            container.uow, container.validation_doorbell, campaign_id, by=_by()
        )
    except operator_control.UnknownCampaign:
        return error_response(404, "not_found", "no such campaign")
    return jsonify(ReleaseView(campaign_id=campaign_id, released=released).body()), 200


def _pause_view(switch: ServiceSwitch, changed: bool) -> PauseView:
    return PauseView(paused=switch.on, changed=changed, by=switch.by, at=switch.at, reason=switch.reason)


@admin_api.get("/v1/pause")
@documented(scope=SCOPE_ADMIN, answers={200: (PauseView, "the global pause"), **_CLIENT_ERRORS})
@require_client(SCOPE_ADMIN)
def read_pause() -> tuple[Response, int]:
    """Whether promobridge is paused, since when, by whom and why."""
    return jsonify(_pause_view(operator_control.pause_state(_services().container.uow), False).body()), 200


@admin_api.put("/v1/pause")
@documented(
    json=PauseBody,
    scope=SCOPE_ADMIN,
    answers={200: (PauseView, "the pause as it now is"), **_BODY_ERRORS, **_CLIENT_ERRORS},
)
@require_client(SCOPE_ADMIN)
def write_pause() -> tuple[Response, int]:
    """Pause (stop new validations, activations and auto approvals everywhere) or resume (and wake
    every claim that waited). Webhooks and claims are taken either way."""
    try:
        body = _body(PauseBody)
    except BadBody as bad:
        return bad.answer
    container = _services().container
    if body.paused:
        switch, changed = operator_control.pause(container.uow, by=_by(), reason=body.reason)
    else:
        switch, changed = operator_control.resume(container.uow, container.validation_doorbell, by=_by())
    return jsonify(_pause_view(switch, changed).body()), 200


def _rule_fields(rule: SettingsRule) -> dict[str, Any]:
    limits = rule.safeguards
    return {
        "pattern": rule.pattern,
        "priority": rule.priority,
        "mode": rule.mode,
        "max_audience": limits.max_audience,
        "max_rewards": limits.max_rewards,
        "max_reward_amount": _text(limits.max_reward_amount),
        "notes": rule.notes,
        "updated_by": rule.updated_by,
        "updated_at": rule.updated_at,
    }


@admin_api.get("/v1/settings/rules")
@documented(scope=SCOPE_ADMIN, answers={200: (RulesView, "every rule, by pattern"), **_CLIENT_ERRORS})
@require_client(SCOPE_ADMIN)
def read_rules() -> tuple[Response, int]:
    """The settings rules: defaults by promo code pattern, between a campaign's own settings and the
    environment."""
    rules = settings_service.list_rules(_services().container.uow)
    return jsonify(RulesView(rules=[RuleView(**_rule_fields(r)) for r in rules]).body()), 200


def _pattern_or_404(pattern: str) -> tuple[Response, int] | None:
    try:
        RulePath.model_validate({"pattern": pattern})
    except ValidationError:
        return error_response(404, "not_found", "no rule can have this pattern")
    return None


@admin_api.put("/v1/settings/rules/<pattern>")
@documented(
    path=RulePath,
    json=RuleBody,
    scope=SCOPE_ADMIN,
    answers={
        200: (RuleAnswer, "the rule as saved (created or replaced)"),
        404: (ErrorBody, "a pattern no rule can have (empty, too long, a control character or '/')"),
        **_BODY_ERRORS,
        **_CLIENT_ERRORS,
    },
)
@require_client(SCOPE_ADMIN)
def write_rule(pattern: str) -> tuple[Response, int]:
    """Create or replace the rule of a promo code pattern (`promobridge rules set`)."""
    if (refused := _pattern_or_404(pattern)) is not None:
        return refused
    try:
        body = _body(RuleBody)
    except BadBody as bad:
        return bad.answer
    change = settings_service.RuleChange(
        pattern,
        body.priority,
        body.mode,
        body.max_audience,
        body.max_rewards,
        _amount(body.max_reward_amount),
        body.notes,
    )
    try:
        rule = settings_service.set_rule(_services().container.uow, change, updated_by=_by())
    except settings_service.SettingsRefused as exc:
        return error_response(422, "invalid_body", str(exc))
    return jsonify(RuleAnswer(**_rule_fields(rule)).body()), 200


@admin_api.delete("/v1/settings/rules/<pattern>")
@documented(
    path=RulePath,
    scope=SCOPE_ADMIN,
    answers={
        200: (RuleDeletedView, "the rule is gone"),
        404: (ErrorBody, "no rule has this pattern"),
        **_CLIENT_ERRORS,
    },
)
@require_client(SCOPE_ADMIN)
def delete_rule(pattern: str) -> tuple[Response, int]:
    """Remove the rule of a promo code pattern (`promobridge rules delete`)."""
    if (refused := _pattern_or_404(pattern)) is not None:
        return refused
    if not settings_service.delete_rule(_services().container.uow, pattern, updated_by=_by()):
        return error_response(404, "not_found", "no rule has this pattern")
    return jsonify(RuleDeletedView(deleted=pattern).body()), 200
