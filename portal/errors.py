"""Domain errors raised by services, and the handlers that turn them into pages.

Services never raise HTTP errors; one handler here maps each domain error to its status.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    default_message: Any = _l("The request could not be completed.")

    def __init__(self, message: Any = None, *, field_errors: dict[str, list[Any]] | None = None):
        self.message = message if message is not None else self.default_message
        self.field_errors = field_errors or {}
        super().__init__(str(self.message))


class NotAllowed(DomainError):
    status = 403
    default_message = _l("You do not have permission to do this.")


class NotFound(DomainError):
    status = 404
    default_message = _l("We could not find what you were looking for.")


class InvalidTransition(DomainError):
    status = 409
    default_message = _l("This step is not possible in the current state.")


class Conflict(DomainError):
    status = 409
    default_message = _l(
        "Someone else changed this record while you were editing it. "
        "Reload the page to see their changes, then make yours again."
    )


class ValidationFailed(DomainError):
    status = 422
    default_message = _l("Please correct the errors below.")


class Throttled(DomainError):
    status = 429
    default_message = _l(
        "Too many failed sign-in attempts. Wait 15 minutes and try again, "
        "or reset your password."
    )


TITLES = {
    400: _l("The request could not be understood"),
    401: _l("Please sign in"),
    403: _l("Access denied"),
    404: _l("Page not found"),
    405: _l("This action is not allowed here"),
    409: _l("This step is not possible now"),
    413: _l("The file is too large"),
    422: _l("Please check what you entered"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong on our side"),
    503: _l("The portal is temporarily unavailable"),
}

MESSAGES = {
    400: _l("The request was incomplete or has expired. Go back, reload the page and try again."),
    403: _l("You do not have permission to see this page. If you think you should, contact the "
            "ministry's portal administrator."),
    404: _l("Check the address, or go back to your home page."),
    405: _l("Go back and use the buttons on the page."),
    500: _l("The error has been logged. Try again in a few minutes; if it happens again, "
            "give the administrator the request id below."),
    503: _l("Try again in a few minutes."),
}


CONCURRENT_MESSAGE = _l(
    "Someone else did this at the same moment, and their change was kept. "
    "Reload the page to see the current state before you try again."
)
OUT_OF_RANGE_MESSAGE = _l(
    "A value you entered is too large or not in the expected form. Check the numbers and dates and try again."
)
# PostgreSQL: serialization failure, deadlock, lock not available.
LOCK_SQLSTATES = {"40001", "40P01", "55P03"}


def _is_lock_conflict(exc: sa_exc.OperationalError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in LOCK_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


def _rollback() -> None:
    from portal.db import db

    try:
        db.rollback()
    except Exception:
        log.exception("rollback failed")


def too_large_message() -> str:
    from flask import current_app
    from flask_babel import gettext as _

    return _("The file is larger than %(mb)d MB. Reduce its size (for example, scan at a lower resolution or save as "
             "PDF) and upload it again.", mb=current_app.config["MAX_UPLOAD_MB"])


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def render_error(status: int, message: Any = None):
    title = TITLES.get(status, TITLES[400])
    text = message if message is not None else MESSAGES.get(status, MESSAGES[400])
    request_id = g.get("request_id", "")
    if _wants_json():
        body = {"error": {"status": status, "message": str(text), "request_id": request_id}}
        return jsonify(body), status
    try:
        return render_template(
            "errors/error.html", status=status, title=title, message=text, request_id=request_id
        ), status
    except Exception:  # the error page itself must never fail
        log.exception("error page failed to render")
        return f"Error {status}. Request id: {request_id}", status, {"Content-Type": "text/plain"}


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        from portal.db import db

        db.rollback()
        return render_error(exc.status, exc.message)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return render_error(400, _l("Your form expired or did not come from this portal. "
                                    "Go back, reload the page and submit it again."))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        response = render_error(status, too_large_message() if status == 413 else None)
        allowed = dict(exc.get_headers()).get("Allow")
        if allowed and len(response) == 2:  # a 405 says which methods the address takes
            response = (*response, {"Allow": allowed})
        return response

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError):
        """Two people saved the same record from the same version: the second gets the conflict."""
        _rollback()
        log.info("stale save refused (409), request id %s", g.get("request_id", ""))
        return render_error(409, Conflict.default_message)

    @app.errorhandler(sa_exc.IntegrityError)
    def _integrity(exc: sa_exc.IntegrityError):
        """A constraint refused a write that the service's checks let through: in practice two
        requests raced for the same row (a double click, two people at once). The database kept
        one; the other is told so, in their language, instead of a server error."""
        _rollback()
        log.warning("integrity conflict (409), request id %s: %s", g.get("request_id", ""), exc.orig)
        return render_error(409, CONCURRENT_MESSAGE)

    @app.errorhandler(sa_exc.DataError)
    def _data(exc: sa_exc.DataError):
        _rollback()
        log.warning("value refused by the database (422), request id %s: %s", g.get("request_id", ""), exc.orig)
        return render_error(422, OUT_OF_RANGE_MESSAGE)

    @app.errorhandler(OverflowError)
    def _overflow(exc: OverflowError):
        """A number or date that Python or the driver cannot represent (a window of a billion months,
        an integer beyond 64 bits): bad input, not a fault."""
        _rollback()
        log.warning("value out of range (422), request id %s: %s", g.get("request_id", ""), exc)
        return render_error(422, OUT_OF_RANGE_MESSAGE)

    @app.errorhandler(sa_exc.OperationalError)
    def _operational(exc: sa_exc.OperationalError):
        _rollback()
        if _is_lock_conflict(exc):
            log.info("lock conflict (409), request id %s", g.get("request_id", ""))
            return render_error(409, CONCURRENT_MESSAGE)
        log.exception("database unavailable, request id %s", g.get("request_id", ""))
        return render_error(503)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        from portal.db import db

        log.exception("unhandled error, request id %s", g.get("request_id", ""))
        try:
            db.rollback()
        except Exception:
            log.exception("rollback failed")
        return render_error(500)
