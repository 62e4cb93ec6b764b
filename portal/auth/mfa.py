"""The second factor of sign-in: TOTP (RFC 6238) enrolment and checks, recovery codes, reset.

Rules kept here (routes only carry the session state between the two steps):
- who must give a second factor: everyone enrolled, and, when `MFA_REQUIRED` is on, every role in
  `MFA_REQUIRED_ROLES` (enrolled or sent to enrolment first);
- codes are throttled like passwords, with the same database-backed counter (`login_attempt`, keyed
  by `mfa:<user id>` so a correct password never clears the count of wrong codes) and the same limits;
- a TOTP code is accepted once: the time step of the last accepted code is stored, and a code of that
  step or an earlier one is refused (a conditional UPDATE, so two requests with one code cannot both win);
- a recovery code is accepted once (conditional UPDATE of its `used_at`);
- every change and every check is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import access, audit
from portal.auth.services import _recent_failures, _serialise_attempts
from portal.db import utcnow
from portal.errors import InvalidTransition, NotAllowed, Throttled, ValidationFailed
from portal.models import LoginAttempt, MfaRecoveryCode, User, UserMfa

STEP_SECONDS = 30
DIGITS = 6
#: Codes of the previous and the next time step are accepted too (clock drift of a phone).
DRIFT_STEPS = 1
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # 32 symbols: 16 of them carry 80 bits
RECOVERY_LENGTH = 16
TOTP_RE = re.compile(r"^[0-9]{6}$")  # ASCII digits only (\d would take other scripts' digits)


class MfaThrottled(Throttled):
    default_message = _l("Too many wrong codes. Wait 15 minutes and try again.")


class InvalidCode(ValidationFailed):
    """A wrong, reused or malformed code; shown on the form's code field."""

    status = 200

    def __init__(self, message=None):
        text = message or _("The code is not correct. Enter the 6-digit code your authenticator app shows now, "
                            "or one of your recovery codes.")
        super().__init__(text, field_errors={"code": [text]})


# Who is asked ----------------------------------------------------------------------------------

def is_required(user: User) -> bool:
    config = current_app.config
    return bool(config.get("MFA_REQUIRED")) and user.role.value in config.get("MFA_REQUIRED_ROLES", ())


def is_enrolled(user: User) -> bool:
    return user.mfa_enrolled_at is not None


def needs_second_step(user: User) -> bool:
    """After a correct password: must this user give a second factor (or enrol first)?"""
    return is_enrolled(user) or is_required(user)


def recovery_codes_left(session: Session, user: User) -> int:
    return session.scalar(sa.select(sa.func.count()).where(
        MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None))) or 0


# Throttle (the password throttle's counter and limits) ---------------------------------------

def _key(user: User) -> str:
    return f"mfa:{user.id}"


def _check_throttle(session: Session, user: User, ip: str) -> None:
    key = _key(user)
    _serialise_attempts(session, key, ip)
    by_account, by_address = _recent_failures(session, key, ip)
    config = current_app.config
    if by_account >= config["LOGIN_MAX_FAILURES_ACCOUNT"] or by_address >= config["LOGIN_MAX_FAILURES_ADDRESS"]:
        audit.record(session, user, "mfa.throttled", user)
        raise MfaThrottled()


def _failed(session: Session, user: User, ip: str, reason: str, message=None) -> InvalidCode:
    session.add(LoginAttempt(email=_key(user), ip=ip, succeeded=False))
    audit.record(session, user, "mfa.failed", user, after={"reason": reason})
    return InvalidCode(message)


def _succeeded(session: Session, user: User, ip: str) -> None:
    session.add(LoginAttempt(email=_key(user), ip=ip, succeeded=True))


# TOTP ------------------------------------------------------------------------------------------

def _now() -> float:
    return time.time()


def _matching_step(secret: str, code: str) -> int | None:
    """The time step whose code this is (within the drift allowed), or None."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(_now() // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_step(session: Session, user: User, step: int) -> bool:
    """Record `step` as the last used one unless it (or a later one) was used already: one
    conditional UPDATE, so of two requests carrying the same code exactly one wins."""
    result = session.execute(
        sa.update(UserMfa)
        .where(UserMfa.user_id == user.id,
               sa.or_(UserMfa.last_used_step.is_(None), UserMfa.last_used_step < step))
        .values(last_used_step=step, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def provisioning_uri(user: User, secret: str) -> str:
    issuer = current_app.config.get("MFA_ISSUER") or "Portal"
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=issuer)


def qr_svg(uri: str, title: str = "") -> str:
    """The QR code as inline SVG, drawn here (no external service, no script)."""
    return segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff", title=title or None)


def format_secret(secret: str) -> str:
    """The secret in groups of four for typing into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


# Recovery codes ---------------------------------------------------------------------------------

def _hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalise_recovery(raw: str) -> str:
    return re.sub(r"[^a-z0-9]", "", (raw or "").lower())


def _new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace every recovery code of the user with new ones; return them (shown once)."""
    session.execute(sa.delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    codes = []
    for _i in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _j in range(RECOVERY_LENGTH))
        session.add(MfaRecoveryCode(user_id=user.id, code_hash=_hash_code(raw)))
        codes.append("-".join(raw[i:i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    return codes


def _use_recovery_code(session: Session, user: User, raw: str) -> bool:
    code = _normalise_recovery(raw)
    if len(code) != RECOVERY_LENGTH:
        return False
    result = session.execute(
        sa.update(MfaRecoveryCode)
        .where(MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.code_hash == _hash_code(code),
               MfaRecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# Enrolment --------------------------------------------------------------------------------------

def start_enrolment(session: Session, user: User) -> str:
    """The secret to show on the enrolment page: the one already waiting for confirmation, or a
    new one. A confirmed second factor keeps working until the new one is confirmed."""
    row = session.get(UserMfa, user.id)
    if row is None:
        row = UserMfa(user_id=user.id)
        session.add(row)
    if not row.pending_secret:
        row.pending_secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
        row.updated_at = utcnow()
        audit.record(session, user, "mfa.enrolment_started", user)
    return row.pending_secret


def pending_secret(session: Session, user: User) -> str | None:
    row = session.get(UserMfa, user.id)
    return row.pending_secret if row else None


def confirm_enrolment(session: Session, user: User, code: str, ip: str) -> list[str]:
    """Confirm the secret shown with a code from the app; return the new recovery codes.
    Every other session of the user ends (the caller starts a new one for this browser)."""
    _check_throttle(session, user, ip)
    row = session.get(UserMfa, user.id)
    if row is None or not row.pending_secret:
        raise InvalidTransition(_("Start the set-up again: open the page that shows the QR code."))
    code = (code or "").replace(" ", "")
    step = _matching_step(row.pending_secret, code) if TOTP_RE.match(code) else None
    if step is None:
        raise _failed(session, user, ip, "enrolment", _(
            "The code is not correct. Check that the app shows this portal and your email address, "
            "then enter the 6-digit code it shows now."))
    _succeeded(session, user, ip)
    was_enrolled = is_enrolled(user)
    row.secret, row.pending_secret = row.pending_secret, None
    row.last_used_step = step  # the confirming code cannot be used again to sign in
    row.updated_at = utcnow()
    user.mfa_enrolled_at = utcnow()
    user.session_version += 1
    codes = _new_recovery_codes(session, user)
    audit.record(session, user, "mfa.enrolled", user, after={"replaced": was_enrolled,
                                                            "recovery_codes": RECOVERY_CODES})
    return codes


# Sign-in ----------------------------------------------------------------------------------------

def verify(session: Session, user: User, code: str, ip: str) -> str:
    """Check the second factor at sign-in: a TOTP code or a recovery code. Returns "totp" or
    "recovery"; raises `InvalidCode` or `MfaThrottled`. The caller commits in every case."""
    _check_throttle(session, user, ip)
    row = session.get(UserMfa, user.id)
    if row is None or not row.secret or not is_enrolled(user):
        raise _failed(session, user, ip, "not_enrolled")
    raw = (code or "").strip()
    compact = raw.replace(" ", "")
    if TOTP_RE.match(compact):
        step = _matching_step(row.secret, compact)
        if step is None:
            raise _failed(session, user, ip, "wrong_code")
        if not _claim_step(session, user, step):
            raise _failed(session, user, ip, "reused_code", _(
                "This code has already been used. Wait for the next code in your app and enter it."))
        _succeeded(session, user, ip)
        audit.record(session, user, "mfa.verified", user)
        return "totp"
    if _use_recovery_code(session, user, raw):
        _succeeded(session, user, ip)
        audit.record(session, user, "mfa.recovery_code_used", user,
                     after={"recovery_codes_left": recovery_codes_left(session, user)})
        return "recovery"
    raise _failed(session, user, ip, "wrong_recovery_code" if len(_normalise_recovery(raw)) > DIGITS else "wrong_code")


def regenerate_recovery_codes(session: Session, user: User, code: str, ip: str) -> list[str]:
    """New recovery codes (the old ones stop working), confirmed with a current TOTP code."""
    if not is_enrolled(user):
        raise InvalidTransition(_("Set up sign-in with an authenticator app first."))
    _check_throttle(session, user, ip)
    row = session.get(UserMfa, user.id)
    compact = (code or "").replace(" ", "")
    step = _matching_step(row.secret, compact) if row and row.secret and TOTP_RE.match(compact) else None
    if step is None:
        raise _failed(session, user, ip, "wrong_code", _("The code is not correct. Enter the 6-digit code your "
                                                          "authenticator app shows now."))
    if not _claim_step(session, user, step):
        raise _failed(session, user, ip, "reused_code", _(
            "This code has already been used. Wait for the next code in your app and enter it."))
    _succeeded(session, user, ip)
    codes = _new_recovery_codes(session, user)
    audit.record(session, user, "mfa.recovery_codes_replaced", user, after={"recovery_codes": RECOVERY_CODES})
    return codes


# Reset by an administrator --------------------------------------------------------------------

def can_reset(actor: User, target: User) -> bool:
    """Another user's second factor, by an administrator (never one's own: ask a colleague)."""
    return access.can_manage_users(actor) and actor.id != target.id


def reset(session: Session, actor: User, target: User, reason: str) -> None:
    """Remove the user's second factor and recovery codes and end every session of theirs: at
    the next sign-in they enrol again (or sign in with the password only, if not required)."""
    if not access.can_manage_users(actor):
        raise NotAllowed()
    if actor.id == target.id:
        raise InvalidTransition(_("You cannot reset your own second factor. Ask another administrator."))
    _reset(session, target, reason, actor)


def reset_from_command_line(session: Session, target: User, reason: str) -> None:
    """The operator's way out when no administrator can sign in (`flask mfa-reset`)."""
    _reset(session, target, reason, None)


def _reset(session: Session, target: User, reason: str, actor: User | None) -> None:
    row = session.get(UserMfa, target.id)
    if row is None and not is_enrolled(target):
        raise InvalidTransition(_("This user has not set up a second factor."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(field_errors={"reason": [
            _("Say how you confirmed the person's identity and why the reset is needed.")]})
    before = {"mfa_enrolled_at": target.mfa_enrolled_at}
    session.execute(sa.delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == target.id))
    if row is not None:
        session.delete(row)
    target.mfa_enrolled_at = None
    target.session_version += 1  # every open session of theirs ends now
    audit.record(session, actor, "mfa.reset", target, before=before,
                 after={"mfa_enrolled_at": None, "reason": reason[:1000]}, actor_email="" if actor else "cli")
