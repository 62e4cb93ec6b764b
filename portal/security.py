"""Request ids, security headers and session lifetime rules applied to every request."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from flask import Flask, g, request, session
from flask_login import current_user, logout_user

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9\-]{8,64}$")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


SEEN_EVERY = 30  # seconds: how precisely the idle timeout (minutes) is followed


def client_ip() -> str:
    return (request.remote_addr or "")[:45]


def register_security(app: Flask) -> None:
    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_RE.match(incoming) else secrets.token_hex(8)

    @app.before_request
    def _session_lifetime() -> None:
        """Idle timeout and absolute lifetime, checked on every request."""
        if request.endpoint == "static" or not current_user.is_authenticated:
            return
        now = datetime.now(UTC).timestamp()
        started = session.get("started_at", 0)
        seen = session.get("seen_at", 0)
        idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"]).total_seconds()
        absolute = timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"]).total_seconds()
        if now - started > absolute or now - seen > idle:
            logout_user()
            session.clear()
            session["expired"] = True
            return
        if now - seen >= SEEN_EVERY:  # not every request: a session left as it was is not re-signed and re-sent
            session["seen_at"] = now

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers.setdefault("Referrer-Policy", "same-origin")  # a page with a secret in its address sends none
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        headers["X-Request-ID"] = g.get("request_id", "")
        if app.config.get("HSTS"):
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint != "static":
            # Pages may carry personal or financial data: never store them in a cache.
            if current_user.is_authenticated or request.method != "GET":
                headers["Cache-Control"] = "no-store"
            else:
                headers.setdefault("Cache-Control", "no-cache")
            headers.add("Vary", "Cookie")
        return response
