"""Flask-Login wiring: a session is valid only while its version matches the user's."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user

from portal.extensions import login_manager


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # sessions are versioned server-side instead

    @login_manager.user_loader
    def _load(user_id: str):
        from portal.db import db
        from portal.indicators import freshness

        try:
            raw_id, raw_version = user_id.split(":", 1)
            uid, version = int(raw_id), int(raw_version)
        except ValueError:
            return None
        # One statement: the user and the indicators' data version, which every page keeping answers per version
        # (the dashboard) then needs no round trip of its own to check (`freshness.known`).
        row = db.execute(_user_and_version(), {"uid": uid}).first()
        if row is None:
            return None
        user, data_version = row
        freshness.seen(db, data_version)
        if not user.is_active or user.session_version != version:
            return None
        return user


_STATEMENT: list[sa.Select] = []


def _user_and_version() -> sa.Select:
    """The user by id, with the indicators' data version: built once (every request sends it)."""
    if not _STATEMENT:
        from portal.indicators import freshness
        from portal.models import User

        _STATEMENT.append(sa.select(User, freshness.version_query().scalar_subquery())
                          .where(User.id == sa.bindparam("uid")))
    return _STATEMENT[0]


#: Session key holding the id of the user whose second factor this session has passed.
MFA_PASSED = "mfa_passed"


def start_session(user, second_factor: bool = False) -> None:
    """A fresh session at login: nothing from before survives, except that a session which had
    passed this user's second factor (a password change) stays passed."""
    lang = session.get("lang")
    passed = second_factor or (current_user.is_authenticated and current_user.id == user.id
                                and session.get(MFA_PASSED) == user.id)
    session.clear()
    now = datetime.now(UTC).timestamp()
    login_user(user, remember=False, fresh=True)
    session["started_at"] = now
    session["seen_at"] = now
    if passed:
        session[MFA_PASSED] = user.id
    if lang:
        session["lang"] = lang
