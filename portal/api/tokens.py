"""Personal API tokens: created and revoked by their owner in the portal, sent as `Authorization: Bearer …`.
Only a SHA-256 of each token is stored (the tokens are 256 random bits, so a fast hash is enough); the token
itself is shown once, when it is created."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit, clock
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.models import ApiToken, User

PREFIX = "ssip_"
MAX_ACTIVE = 10


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(session: Session, actor: User, name: str) -> tuple[ApiToken, str]:
    """A new token for the actor; returns the row and the token (shown once, never stored)."""
    if not access.can_use_api(actor):
        raise NotAllowed()
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(field_errors={"name": [_("Give the token a name, such as the script that will use it.")]})
    active = session.scalar(sa.select(sa.func.count(ApiToken.id)).where(ApiToken.user_id == actor.id,
                                                                        ApiToken.revoked_at.is_(None))) or 0
    if active >= MAX_ACTIVE:
        raise ValidationFailed(field_errors={"name": [_("You have %(n)d active tokens, the most allowed. Revoke one you "
                                                        "no longer use first.", n=active)]})
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=actor.id, name=name[:100], prefix=token[:12], token_hash=digest(token), created_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session, actor, "api_token.created", row, after={"name": row.name, "prefix": row.prefix})
    return row, token


def revoke(session: Session, actor: User, token: ApiToken) -> ApiToken:
    if token.user_id != actor.id:
        raise NotAllowed()
    if token.revoked_at is not None:
        raise InvalidTransition(_("This token has already been revoked."))
    token.revoked_at = clock.now()
    audit.record(session, actor, "api_token.revoked", token, after={"name": token.name, "prefix": token.prefix})
    return token


def mine(session: Session, actor: User) -> list[ApiToken]:
    return list(session.scalars(sa.select(ApiToken).where(ApiToken.user_id == actor.id)
                                .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())))


def authenticate(session: Session, header: str | None) -> User | None:
    """The active user a `Bearer` token belongs to, or None. Marks the token used (at most once a minute)."""
    if not header or not header.startswith("Bearer "):
        return None
    token = header[len("Bearer "):].strip()
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest(token), ApiToken.revoked_at.is_(None)))
    if row is None or not row.user.is_active or not access.can_use_api(row.user):
        return None
    now = clock.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        session.commit()
    return row.user
