"""Sign-in, throttling, activation and reset links, passwords, sessions and language."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import audit, mail
from portal.auth.passwords import hash_password, needs_rehash, verify_password
from portal.db import utcnow
from portal.errors import DomainError, Throttled, ValidationFailed
from portal.models import LoginAttempt, TokenPurpose, User, UserToken


class InvalidCredentials(DomainError):
    status = 200
    default_message = _l("The email address or password is not correct.")


class InvalidToken(DomainError):
    status = 400
    default_message = _l(
        "This link is not valid: it may have expired or been used already. "
        "Ask for a new one."
    )


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def password_problems(password: str, email: str = "") -> list[str]:
    """The password rules in one place (ASVS 2.1): length, not the email, not one repeated character."""
    problems: list[str] = []
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        problems.append(_("Use at least %(n)d characters.", n=minimum))
    if len(password) > 256:
        problems.append(_("Use at most 256 characters."))
    if email and password.strip().lower() == email.lower():
        problems.append(_("Do not use your email address as your password."))
    if password and len(set(password)) < 4:
        problems.append(_("Use a less predictable password: more different characters."))
    return problems


def _check_password(password: str, confirm: str | None, email: str, field: str = "password") -> None:
    errors: dict[str, list[str]] = {}
    problems = password_problems(password, email)
    if problems:
        errors[field] = problems
    if confirm is not None and password != confirm:
        errors["confirm"] = [_("The two passwords are not the same.")]
    if errors:
        raise ValidationFailed(field_errors=errors)


# Sign-in --------------------------------------------------------------------------------------

def _serialise_attempts(session: Session, email: str, ip: str) -> None:
    """Attempts on one account (and from one address) are counted one at a time: a transaction
    lock on PostgreSQL, held until the attempt is recorded and committed, so 30 parallel wrong
    passwords are checked against the limit one after another (SQLite's BEGIN IMMEDIATE already
    serialises writers). Always the account first, then the address: no lock cycle is possible."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in (f"login:{email}", f"login-ip:{ip}"):
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def _recent_failures(session: Session, email: str, ip: str) -> tuple[int, int]:
    window_start = utcnow() - timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
    last_success = session.scalar(
        sa.select(sa.func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.succeeded.is_(True), LoginAttempt.at >= window_start
        )
    )
    since = max(window_start, last_success) if last_success else window_start
    by_account = session.scalar(
        sa.select(sa.func.count()).where(
            LoginAttempt.email == email, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since
        )
    ) or 0
    by_address = session.scalar(
        sa.select(sa.func.count()).where(
            LoginAttempt.ip == ip, LoginAttempt.succeeded.is_(False), LoginAttempt.at >= window_start
        )
    ) or 0
    return by_account, by_address


def authenticate(session: Session, email: str, password: str, ip: str) -> User:
    """Return the user, or raise `InvalidCredentials` / `Throttled`. The caller commits in
    every case, so failed attempts are counted and audited."""
    email = normalise_email(email)[:254]
    _serialise_attempts(session, email, ip)
    by_account, by_address = _recent_failures(session, email, ip)
    config = current_app.config
    if by_account >= config["LOGIN_MAX_FAILURES_ACCOUNT"] or by_address >= config["LOGIN_MAX_FAILURES_ADDRESS"]:
        audit.record(session, None, "login.throttled", object_type="login", object_id=email,
                     actor_email=email)
        raise Throttled()
    user = session.scalar(sa.select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        session.add(LoginAttempt(email=email, ip=ip, succeeded=False))
        audit.record(session, None, "login.failed", object_type="user",
                     object_id=user.id if user else None, actor_email=email)
        raise InvalidCredentials()
    session.add(LoginAttempt(email=email, ip=ip, succeeded=True))
    # A plain UPDATE, not a versioned one: two correct sign-ins at once (a double click, a
    # second device) both succeed instead of one failing on the user row's version.
    session.execute(sa.update(User).where(User.id == user.id).values(last_login_at=utcnow())
                    .execution_options(synchronize_session="fetch"))
    if needs_rehash(user.password_hash or ""):
        session.execute(sa.update(User).where(User.id == user.id).values(password_hash=hash_password(password))
                        .execution_options(synchronize_session="fetch"))
    audit.record(session, user, "login.succeeded", user)
    return user


def logout(session: Session, user: User) -> None:
    """Ends every session of this user, on every device and worker."""
    user.session_version += 1
    audit.record(session, user, "logout", user)


# Single-use links ------------------------------------------------------------------------------

def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(session: Session, user: User, purpose: TokenPurpose) -> str:
    now = utcnow()
    # An earlier unused link of the same kind stops working when a new one is sent.
    session.execute(
        sa.update(UserToken)
        .where(UserToken.user_id == user.id, UserToken.purpose == purpose, UserToken.used_at.is_(None))
        .values(used_at=now)
    )
    raw = secrets.token_urlsafe(32)
    hours = current_app.config["TOKEN_VALID_HOURS"]
    session.add(UserToken(user_id=user.id, purpose=purpose, token_hash=_hash_token(raw),
                          created_at=now, expires_at=now + timedelta(hours=hours)))
    return raw


def find_token(session: Session, raw: str, purpose: TokenPurpose) -> UserToken:
    token = session.scalar(
        sa.select(UserToken).where(UserToken.token_hash == _hash_token(raw or ""), UserToken.purpose == purpose)
    )
    if token is None or token.used_at is not None or token.expires_at <= utcnow() or not token.user.active:
        raise InvalidToken()
    return token


def link_for(purpose: TokenPurpose, raw: str) -> str:
    base = current_app.config["PORTAL_BASE_URL"]
    path = "activate" if purpose == TokenPurpose.ACTIVATION else "password/reset"
    return f"{base}/{path}/{raw}"


def send_link(session: Session, user: User, purpose: TokenPurpose) -> str:
    """Issue a link and queue the email, in the user's language."""
    raw = issue_token(session, user, purpose)
    template = "activation" if purpose == TokenPurpose.ACTIVATION else "reset"
    with force_locale(user.preferred_language):
        subject = (_("Activate your account on the social services grant portal")
                   if purpose == TokenPurpose.ACTIVATION
                   else _("Reset your password on the social services grant portal"))
        body = render_template(f"mail/{template}.txt", user=user, link=link_for(purpose, raw),
                               hours=current_app.config["TOKEN_VALID_HOURS"])
    mail.queue(session, user.email, subject, body)
    return raw


def activate_account(session: Session, raw: str, password: str, confirm: str) -> User:
    token = find_token(session, raw, TokenPurpose.ACTIVATION)
    user = token.user
    _check_password(password, confirm, user.email)
    token.used_at = utcnow()
    user.password_hash = hash_password(password)
    user.activated_at = user.activated_at or utcnow()
    user.session_version += 1
    audit.record(session, user, "user.activated", user)
    return user


def request_password_reset(session: Session, email: str) -> None:
    """Same outcome for every address: nothing tells whether an account exists."""
    user = session.scalar(sa.select(User).where(User.email == normalise_email(email)))
    if user is None or not user.active:
        return
    if not user.is_activated:
        send_link(session, user, TokenPurpose.ACTIVATION)
    else:
        send_link(session, user, TokenPurpose.RESET)
    audit.record(session, None, "password.reset_requested", user, actor_email=user.email)


def reset_password(session: Session, raw: str, password: str, confirm: str) -> User:
    token = find_token(session, raw, TokenPurpose.RESET)
    user = token.user
    _check_password(password, confirm, user.email)
    token.used_at = utcnow()
    user.password_hash = hash_password(password)
    user.session_version += 1
    audit.record(session, user, "password.reset", user)
    return user


def change_password(session: Session, user: User, current: str, new: str, confirm: str) -> None:
    if not verify_password(user.password_hash, current):
        raise ValidationFailed(field_errors={"current_password": [_("Your current password is not correct.")]})
    _check_password(new, confirm, user.email, field="new_password")
    user.password_hash = hash_password(new)
    user.session_version += 1
    audit.record(session, user, "password.changed", user)


def set_language(session: Session, user: User | None, language: str) -> None:
    if language not in current_app.config["LANGUAGES"]:
        raise ValidationFailed(_("This language is not available."))
    if user is not None and user.preferred_language != language:
        before = {"preferred_language": user.preferred_language}
        user.preferred_language = language
        audit.record(session, user, "user.language_changed", user, before=before,
                     after={"preferred_language": language})


def create_administrator(session: Session, email: str, full_name: str, password: str,
                         organisation_name: str = "") -> User:
    """The first administrator, from the command line; creates the ministry if there is none."""
    from portal.models import Organisation, OrgKind, Role

    email = normalise_email(email)
    errors: dict[str, list[str]] = {}
    if "@" not in email or len(email) > 254:
        errors["email"] = [_("Enter an email address like name@example.org.")]
    elif session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        errors["email"] = [_("A user with this email address already exists.")]
    if not full_name.strip():
        errors["full_name"] = [_("This field is required.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    _check_password(password, None, email)
    ministry = session.scalar(sa.select(Organisation).where(Organisation.kind == OrgKind.MINISTRY)
                              .order_by(Organisation.id))
    if ministry is None:
        ministry = Organisation(kind=OrgKind.MINISTRY, name=organisation_name.strip()
                                or current_app.config.get("PORTAL_AGENCY_NAME")
                                or "Министерство за социјална политика, демографија и млади")
        session.add(ministry)
    user = User(email=email, full_name=full_name.strip(), role=Role.ADMIN, organisation=ministry,
                password_hash=hash_password(password), activated_at=utcnow())
    session.add(user)
    session.flush()
    audit.record(session, None, "user.admin_created", user, actor_email="cli")
    return user
