"""The campaign console: server-rendered pages under /console for the people who run promotions.

Signed-in users only (a session cookie signed with CONSOLE_SECRET_KEY, scoped to /console);
every state-changing request carries a CSRF token (Flask-WTF, checked for this blueprint only:
the API and the webhooks keep their own authentication); a viewer's attempt at an action is
refused and audited. The pages read the same services as the API and the CLI.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from app.config import Settings
from app.web.console.views import console, csrf

__all__ = ["ConsoleSessions", "install_console"]


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, building the cookie's signer only when a request carries one.

    Flask opens a session for every request and builds a new signer to do it, even without a
    cookie: about 5 % of the CPU of a claim request, whose requests never carry the console's
    cookie (it is scoped to /console). Without the cookie the session is simply new and empty.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """A new empty session when there is no cookie; otherwise Flask's own (verified) one."""
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def install_console(app: Flask, settings: Settings, csrf_protect: CSRFProtect = csrf) -> None:
    """Configure the console's session cookie and CSRF protection, and register its blueprint."""
    app.secret_key = settings.console_secret_key
    app.session_interface = ConsoleSessions()
    app.config.update(
        SESSION_COOKIE_NAME="promobridge_console",
        SESSION_COOKIE_PATH="/console",  # API and webhook requests never carry it
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.console_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.console_session_hours),
        # Checked by the console blueprint itself, so no other route is affected.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token is valid as long as the session holding it (a console page may stay open for hours).
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf_protect.init_app(app)
    app.register_blueprint(console)
