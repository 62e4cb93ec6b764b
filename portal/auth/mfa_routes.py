"""The second step of sign-in, enrolment in TOTP and recovery codes.

Between a correct password and the second factor the browser is NOT signed in: the session holds
only `mfa_pending` (user id, session version, time, where to go next), signed like every session,
and no Flask-Login identity. So every page that needs a signed-in user stays closed; only the code
page, the enrolment page (for a user who has no second factor yet) and "cancel" read that state.
A guard on every request also sends a signed-in session that has not passed the second factor of
a user who needs one (a session from before MFA was required, an activation or reset link) back
through the second step.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from portal.auth import mfa
from portal.auth.forms import LogoutForm, MfaCodeForm, MfaEnrolForm, MfaRecoveryForm
from portal.auth.sessions import MFA_PASSED, start_session
from portal.db import db
from portal.errors import InvalidTransition
from portal.models import User
from portal.security import client_ip
from portal.web import apply_errors, safe_next

bp = Blueprint("mfa", __name__)

PENDING = "mfa_pending"
#: Endpoints a signed-in session that still owes its second factor may reach (every other one,
#: the MFA pages included, first turns that session into a half-way sign-in).
GUARD_EXEMPT = {"static", "auth.logout", "main.healthz"}


def begin_second_step(user: User, next_url: str = ""):
    """After a correct password (or a password set from a link): remember who is half-way
    through signing in, and send them to the code page, or to enrolment if they have none."""
    lang = session.get("lang")
    logout_user()
    session.clear()
    session[PENDING] = {"uid": user.id, "ver": user.session_version,
                        "at": datetime.now(UTC).timestamp(), "next": next_url or ""}
    if lang:
        session["lang"] = lang
    return redirect(url_for("mfa.verify" if mfa.is_enrolled(user) else "mfa.setup"))


def pending_user() -> User | None:
    """The user half-way through signing in, while the state is fresh and still theirs."""
    state = session.get(PENDING)
    if not isinstance(state, dict):
        return None
    age = datetime.now(UTC).timestamp() - float(state.get("at", 0))
    user = db.get(User, int(state.get("uid", 0)))
    if (user is None or not user.is_active or user.session_version != state.get("ver")
            or age > current_app.config["MFA_PENDING_MINUTES"] * 60):
        session.pop(PENDING, None)
        return None
    return user


def _restart():
    flash(_("Please sign in again: the sign-in was not finished in time."), "info")
    return redirect(url_for("auth.login"))


@bp.before_app_request
def _second_factor_guard():
    if not current_user.is_authenticated or request.endpoint in GUARD_EXEMPT:
        return None
    user = current_user._get_current_object()
    if session.get(MFA_PASSED) == user.id or not mfa.needs_second_step(user):
        return None
    return begin_second_step(user, request.full_path.rstrip("?") if request.method == "GET" else "")


@bp.route("/login/code", methods=["GET", "POST"])
def verify():
    if current_user.is_authenticated and session.get(PENDING) is None:
        return redirect(url_for("main.home"))
    had_state = PENDING in session
    user = pending_user()
    if user is None:
        return _restart() if had_state else redirect(url_for("auth.login"))
    if not mfa.is_enrolled(user):
        return redirect(url_for("mfa.setup"))
    form = MfaCodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            kind = mfa.verify(db, user, form.code.data, client_ip())
        except mfa.MfaThrottled as exc:
            db.commit()
            form.form_errors.append(str(exc.message))
            status = 429
        except mfa.InvalidCode as exc:
            db.commit()
            apply_errors(form, exc)
        else:
            db.commit()
            next_url = session[PENDING].get("next", "")
            start_session(user, second_factor=True)
            if kind == "recovery":
                left = mfa.recovery_codes_left(db, user)
                flash(_("You signed in with a recovery code; %(n)d are left. Make new ones on your account page "
                        "if you are running out.", n=left), "info")
            return redirect(safe_next(next_url))
    return render_template("auth/mfa_verify.html", form=form, cancel_form=LogoutForm()), status


@bp.post("/login/code/cancel")
def cancel():
    if LogoutForm().validate_on_submit():
        session.pop(PENDING, None)
    return redirect(url_for("auth.login"))


@bp.route("/account/two-factor/setup", methods=["GET", "POST"])
def setup():
    """For the signed-in user, or for one half-way through signing in who has no second factor
    yet (never one who has: a password alone must not replace it)."""
    if current_user.is_authenticated:
        user, signing_in = current_user._get_current_object(), False
    else:
        had_state = PENDING in session
        user, signing_in = pending_user(), True
        if user is None:
            return _restart() if had_state else redirect(url_for("auth.login", next=request.path))
        if mfa.is_enrolled(user):
            return redirect(url_for("mfa.verify"))
    form = MfaEnrolForm()
    if form.validate_on_submit():
        next_url = (session.get(PENDING) or {}).get("next", "") if signing_in else ""
        try:
            codes = mfa.confirm_enrolment(db, user, form.code.data, client_ip())
        except mfa.MfaThrottled as exc:
            db.commit()
            form.form_errors.append(str(exc.message))
            return _setup_page(user, form, signing_in, 429)
        except mfa.InvalidCode as exc:
            db.commit()
            apply_errors(form, exc)
        else:
            db.commit()
            start_session(user, second_factor=True)  # the session version changed: a new session
            return render_template("auth/mfa_recovery_codes.html", codes=codes, enrolled=True,
                                   next_url=safe_next(next_url))
    return _setup_page(user, form, signing_in)


def _setup_page(user: User, form, signing_in: bool, status: int = 200):
    secret = mfa.start_enrolment(db, user)
    db.commit()
    uri = mfa.provisioning_uri(user, secret)
    response = make_response(render_template(
        "auth/mfa_setup.html", form=form, signing_in=signing_in, user=user, required=mfa.is_required(user),
        secret=mfa.format_secret(secret), qr=mfa.qr_svg(uri, _("QR code to add the portal to an authenticator app")),
        cancel_form=LogoutForm()), status)
    response.headers["Cache-Control"] = "no-store"  # the secret, even before the browser is signed in
    return response


@bp.get("/account/two-factor")
@login_required
def account():
    user = current_user._get_current_object()
    return render_template("auth/mfa_account.html", enrolled=mfa.is_enrolled(user), required=mfa.is_required(user),
                           left=mfa.recovery_codes_left(db, user) if mfa.is_enrolled(user) else 0,
                           form=MfaRecoveryForm())


@bp.post("/account/two-factor/recovery-codes")
@login_required
def recovery_codes():
    user = current_user._get_current_object()
    form = MfaRecoveryForm()
    if not mfa.is_enrolled(user):
        raise InvalidTransition(_("Set up sign-in with an authenticator app first."))
    status = 200
    if form.validate_on_submit():
        try:
            codes = mfa.regenerate_recovery_codes(db, user, form.code.data, client_ip())
        except mfa.MfaThrottled as exc:
            db.commit()
            form.form_errors.append(str(exc.message))
            status = 429
        except mfa.InvalidCode as exc:
            db.commit()
            apply_errors(form, exc)
        else:
            db.commit()
            return render_template("auth/mfa_recovery_codes.html", codes=codes, enrolled=False,
                                   next_url=url_for("mfa.account"))
    return render_template("auth/mfa_account.html", enrolled=True, required=mfa.is_required(user),
                           left=mfa.recovery_codes_left(db, user), form=form), status
