"""The console's routes: sign-in and sign-out, the pages, their live fragments, and the actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from app.adapters.optimove.contract import MAX_OPTIMOVE_ID
from app.bootstrap import Container
from app.domain.console import may_act
from app.domain.trail import is_valid_customer_id
from app.services import console as console_service
from app.services import console_users
from app.services.campaign_settings import KEEP, Keep, SettingsRefused, campaign_settings_view
from app.services.console_users import LockoutPolicy, SignInRefused
from app.services.operator_control import UnknownCampaign, pause_state
from app.services.reports import campaign_reports
from app.services.trail import customer_trail, render_trail
from app.web.console.auth import SignInThrottle, end_session, safe_next, signed_in_user, start_session
from app.web.console.formatting import register_filters

console = Blueprint(
    "console", __name__, url_prefix="/console", template_folder="templates", static_folder="static"
)
csrf = CSRFProtect()
register_filters(console)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_ENDPOINTS = frozenset({"console.sign_in", "console.static"})
CAMPAIGNS_LISTED = 50
AUDIT_ENTRIES_SHOWN = 200
# Pages may only load what this server serves; the SVG charts need no inline style nor script.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# What each action route does, as the audit log names it.
ACTIONS = {
    "console.retry_failed_claims": console_service.RETRY_FAILED_CLAIMS,
    "console.pause": console_service.PAUSE,
    "console.resume": console_service.RESUME,
    "console.release_campaign": console_service.RELEASE_CAMPAIGN,
    "console.campaign_settings": console_service.CHANGE_SETTINGS,
}
MAX_PAUSE_REASON_CHARS = 200
# A limit field left blank keeps the campaign's own value; "none" clears it (the rule or the
# environment applies again), as `promobridge campaigns set … none` does.
CLEAR = "none"
Limit = TypeVar("Limit", int, Decimal)


@dataclass
class ConsoleParts:
    """What the console's views need besides the container, built once per app."""

    throttle: SignInThrottle
    lockout: LockoutPolicy
    refresh_seconds: float


def console_parts(container: Container) -> ConsoleParts:
    """The console's parts, from the settings."""
    settings = container.settings
    return ConsoleParts(
        throttle=SignInThrottle(
            settings.rate_limiter_redis_url or "memory://", settings.console_signin_attempts_per_minute
        ),
        lockout=LockoutPolicy(
            max_failures=settings.console_signin_max_failures,
            lock_for=timedelta(seconds=settings.console_signin_lockout_seconds),
        ),
        refresh_seconds=settings.console_refresh_seconds,
    )


def _container() -> Container:
    container: Container = current_app.config["PROMOBRIDGE_SERVICES"].container
    return container


def _parts() -> ConsoleParts:
    parts = current_app.extensions.get("promobridge_console")
    if parts is None:
        parts = current_app.extensions["promobridge_console"] = console_parts(_container())
    return parts


def _address() -> str:
    return request.remote_addr or "unknown"


@console.before_request
def _signed_in_users_only() -> Any:
    """Pages need a signed-in user; state changes need an operator and a CSRF token."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        if request.method not in SAFE_METHODS:
            csrf.protect()
        return None
    user = signed_in_user(_container().uow)
    if user is None:
        end_session()
        if request.endpoint is not None and request.endpoint.endswith("_live"):
            return _page("error.html", 401, title="Signed out", message="Sign in again to go on.")
        return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
    g.console_user = user
    if request.method in SAFE_METHODS:
        return None
    if not may_act(user.role) and request.endpoint != "console.sign_out":
        action = ACTIONS.get(request.endpoint or "", request.endpoint or "unknown")
        try:
            console_service.refuse(
                _container().uow, user, action, request.path, detail={"method": request.method}
            )
        except console_service.ActionRefused as exc:
            return _page("error.html", 403, title="Not allowed", message=str(exc))
    csrf.protect()
    return None


@console.after_request
def _console_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@console.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError) -> tuple[str, int]:
    return _page(
        "error.html", 400, title="Form expired", message=f"{exc.description} Reload the page and try again."
    )


@console.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    return _page("error.html", exc.code or 500, title=exc.name, message=exc.description or "")


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("user", g.get("console_user"))
    context.setdefault("refresh_seconds", _parts().refresh_seconds)
    return render_template(f"console/{template}", **context), status


@console.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    """The sign-in form; a POST signs in (throttled per address, locked per user after failures)."""
    next_page = safe_next(request.values.get("next"))
    if request.method == "GET":
        return _page("sign_in.html", next_page=next_page)
    if not _parts().throttle.allow(_address()):
        return _page("sign_in.html", 429, next_page=next_page, error="Too many attempts: wait a minute.")
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    if not name or not password:
        return _page("sign_in.html", 400, next_page=next_page, error="Enter your name and password.")
    container = _container()
    try:
        user = console_users.sign_in(
            container.uow, container.passwords, name, password, policy=_parts().lockout, address=_address()
        )
    except SignInRefused as exc:
        status = 429 if exc.locked else 401
        return _page("sign_in.html", status, next_page=next_page, error=f"Sign-in refused: {exc}.", name=name)
    start_session(user)
    return redirect(next_page or url_for("console.campaigns"))


@console.post("/sign-out")
def sign_out() -> Any:
    """Sign out (a POST with the CSRF token, so no other site can sign a user out)."""
    user = g.console_user
    console_service.record(_container().uow, user, "sign_out", "console")
    end_session()
    return redirect(url_for("console.sign_in"))


@console.get("/")
def campaigns() -> Any:
    """Every recent campaign: state, mode, deadline and its funnel; the global pause."""
    container = _container()
    return _page(
        "campaigns.html",
        reports=campaign_reports(container.uow, limit=CAMPAIGNS_LISTED),
        pause=pause_state(container.uow),
        can_act=may_act(g.console_user.role),
    )


def _confirmed(what: str) -> tuple[str, int] | None:
    if request.form.get("confirm") == "yes":
        return None
    return _page("error.html", 400, title="Not confirmed", message=f"Tick the box to confirm {what}.")


@console.post("/pause")
def pause() -> Any:
    """Pause every validation, activation and approval (an operator's action, confirmed, audited)."""
    if (refusal := _confirmed("the pause")) is not None:
        return refusal
    reason = request.form.get("reason", "").strip()[:MAX_PAUSE_REASON_CHARS] or None
    changed = console_service.pause_everything(_container().uow, g.console_user, reason)
    flash("promobridge is paused." if changed else "promobridge was already paused.")
    return redirect(url_for("console.campaigns"))


@console.post("/resume")
def resume() -> Any:
    """Resume after a pause and wake the waiting claims (an operator's action, confirmed, audited)."""
    if (refusal := _confirmed("resuming")) is not None:
        return refusal
    container = _container()
    changed = console_service.resume_everything(container.uow, container.validation_doorbell, g.console_user)
    flash("promobridge resumed." if changed else "promobridge was not paused.")
    return redirect(url_for("console.campaigns"))


@console.get("/live")
def campaigns_live() -> Any:
    """The campaign list's figures, for the page to refresh itself."""
    return _page("_campaigns_live.html", reports=campaign_reports(_container().uow, limit=CAMPAIGNS_LISTED))


def _known_campaign_or_404(campaign_id: int) -> None:
    """An action's 404 for an unknown campaign, without computing its whole page."""
    known = 1 <= campaign_id <= MAX_OPTIMOVE_ID  # no such campaign can exist, nor fit the query
    if not known or not console_service.campaign_exists(_container().uow, campaign_id):
        abort(404, f"There is no campaign {campaign_id}.")


def _activity(campaign_id: int) -> console_service.CampaignActivity:
    activity = None
    if 1 <= campaign_id <= MAX_OPTIMOVE_ID:  # no such campaign can exist, nor fit the query
        container = _container()
        activity = console_service.campaign_activity(container.uow, container.limiter, campaign_id)
    if activity is None:
        abort(404, f"There is no campaign {campaign_id}.")
    return activity


@console.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int) -> Any:
    """One campaign: the funnel chart, claims per minute, batches, backlog, budget, failures, and
    its settings (its own, and what applies with where it comes from)."""
    activity = _activity(campaign_id)
    container = _container()
    own, effective, _ = campaign_settings_view(container.uow, campaign_id, container.control)
    return _page(
        "campaign.html",
        activity=activity,
        report=activity.report,
        own=own,
        effective=effective,
        can_act=may_act(g.console_user.role),
    )


@console.post("/campaigns/<int:campaign_id>/release")
def release_campaign(campaign_id: int) -> Any:
    """Release a held campaign: its approvals go and its claims move (confirmed, audited)."""
    if (refusal := _confirmed("the release")) is not None:
        return refusal
    container = _container()
    try:
        released = console_service.release_held_campaign(
            container.uow, container.validation_doorbell, g.console_user, campaign_id
        )
    except UnknownCampaign:
        abort(404, f"There is no campaign {campaign_id}.")
    flash(f"Campaign {campaign_id} released." if released else f"Campaign {campaign_id} was not held.")
    return redirect(url_for("console.campaign", campaign_id=campaign_id))


@console.post("/campaigns/<int:campaign_id>/settings")
def campaign_settings(campaign_id: int) -> Any:
    """Set a campaign's mode and safeguards (confirmed, audited, refusals too)."""
    if (refusal := _confirmed("the new settings")) is not None:
        return refusal
    _known_campaign_or_404(campaign_id)
    try:
        form = console_service.SettingsForm(
            mode=_mode_field(request.form.get("mode", "")),
            max_audience=_limit_field("max_audience", int),
            max_rewards=_limit_field("max_rewards", int),
            max_reward_amount=_limit_field("max_reward_amount", Decimal),
        )
    except ValueError as exc:
        return _page("error.html", 400, title="Not a valid setting", message=str(exc))
    container = _container()
    try:
        console_service.change_campaign_settings(
            container.uow, container.control, g.console_user, campaign_id, form
        )
    except SettingsRefused as exc:
        return _page("error.html", 409, title="Settings refused", message=str(exc))
    changed = ", ".join(f"{k}={'none' if v is None else v}" for k, v in form.changed().items())
    flash(f"Campaign {campaign_id}: {changed or 'nothing changed'}.")
    return redirect(url_for("console.campaign", campaign_id=campaign_id))


def _mode_field(value: str) -> str | Keep | None:
    if value in ("", "keep"):
        return KEEP
    if value == CLEAR:
        return None
    if value in ("claim", "auto"):
        return value
    raise ValueError("mode is claim, auto, none (back to the rule or the environment) or left as it is")


def _limit_field(name: str, kind: Callable[[str], Limit]) -> Limit | Keep | None:
    text = request.form.get(name, "").strip()
    if not text:
        return KEEP
    if text.lower() == CLEAR:
        return None
    label = name.replace("_", " ")
    try:
        value = kind(text)
    except (ValueError, InvalidOperation):
        raise ValueError(f"{label} is a number, 'none' to clear it, or blank to keep it") from None
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{label} is a finite number")
    return value


@console.get("/campaigns/<int:campaign_id>/live")
def campaign_live(campaign_id: int) -> Any:
    """One campaign's figures, for its page to refresh itself."""
    activity = _activity(campaign_id)
    return _page("_campaign_live.html", activity=activity, report=activity.report)


@console.post("/campaigns/<int:campaign_id>/retry-failed")
def retry_failed_claims(campaign_id: int) -> Any:
    """Replay the campaign's failed claims (an operator's action, confirmed in the form, audited)."""
    if (refusal := _confirmed("the retry")) is not None:
        return refusal
    _known_campaign_or_404(campaign_id)
    container = _container()
    replayed = console_service.retry_campaign_failed_claims(
        container.uow, container.validation_doorbell, g.console_user, campaign_id
    )
    flash(f"{len(replayed)} failed claim(s) of campaign {campaign_id} replayed.")
    return redirect(url_for("console.campaign", campaign_id=campaign_id))


@console.get("/customers")
def customers() -> Any:
    """Search a customer by id and read their story: the one `promobridge explain` and the API tell."""
    customer_id = request.args.get("customer_id", "").strip()
    campaign_text = request.args.get("campaign_id", "").strip()
    context: dict[str, Any] = {"customer_id": customer_id, "campaign_id": campaign_text}
    if not customer_id:
        return _page("customer.html", **context)
    campaign_id = int(campaign_text) if campaign_text.isdigit() else None
    if not is_valid_customer_id(customer_id):
        return _page("customer.html", 400, error="A customer id is 1-128 characters.", **context)
    if campaign_text and (campaign_id is None or not 1 <= campaign_id <= MAX_OPTIMOVE_ID):
        return _page("customer.html", 400, error="A campaign id is a whole number.", **context)
    # Reading a customer's story is looking at one person's data: the audit log says who looked.
    console_service.record(_container().uow, g.console_user, "view_customer_trail", f"customer {customer_id}")
    trail = customer_trail(_container().uow, customer_id, campaign_id)
    if trail is None:
        where = f" in campaign {campaign_id}" if campaign_id is not None else ""
        unknown = f"promobridge knows nothing of this customer{where}."
        return _page("customer.html", 404, error=unknown, **context)
    return _page("customer.html", story=render_trail(trail), **context)


@console.get("/audit")
def audit() -> Any:
    """Every console action: who, when, what, on what, and how it ended."""
    return _page("audit.html", entries=console_service.audit_log(_container().uow, limit=AUDIT_ENTRIES_SHOWN))
