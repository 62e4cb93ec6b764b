"""Users, roles, single-use tokens and login attempts."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import enum_column
from portal.models.orgs import Organisation, OrgKind


class Role(enum.StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    FINANCE = "finance"
    MUNICIPALITY = "municipality"
    PROVIDER = "provider"
    MONITOR = "monitor"


#: The roles a user may hold follow the kind of their organisation.
ROLES_BY_KIND: dict[OrgKind, tuple[Role, ...]] = {
    OrgKind.MINISTRY: (Role.ADMIN, Role.REVIEWER, Role.FINANCE),
    OrgKind.MUNICIPALITY: (Role.MUNICIPALITY,),
    OrgKind.PROVIDER: (Role.PROVIDER,),
    OrgKind.MONITOR: (Role.MONITOR,),
}

MINISTRY_ROLES = frozenset(ROLES_BY_KIND[OrgKind.MINISTRY])


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    preferred_language: Mapped[str] = mapped_column(sa.String(2), default="mk")
    # Bumped on logout, password change and deactivation: every older session stops working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a second factor (TOTP) is confirmed; cleared when an administrator resets it.
    mfa_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version_id: Mapped[int] = mapped_column(default=1)

    organisation: Mapped[Organisation] = relationship(
        back_populates="users", foreign_keys=[organisation_id]
    )

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.CheckConstraint("preferred_language IN ('mk', 'sq', 'en')", name="language"),
        sa.CheckConstraint("email = lower(email)", name="email_lower"),
    )

    # Flask-Login protocol. The id carries the session version, so bumping the version
    # invalidates every session issued before (server-side, across all workers).
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active and self.password_hash is not None

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_ministry(self) -> bool:
        return self.role in MINISTRY_ROLES

    @property
    def is_activated(self) -> bool:
        return self.password_hash is not None


class TokenPurpose(enum.StrEnum):
    ACTIVATION = "activation"
    RESET = "reset"


class UserToken(Base):
    """A single-use link token; only its SHA-256 is stored."""

    __tablename__ = "user_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(enum_column(TokenPurpose, "token_purpose"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """Login attempts, kept in the database so every worker sees the same throttle."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    ip: Mapped[str] = mapped_column(sa.String(45))
    succeeded: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.Index("ix_login_attempt_email_at", "email", "at"),
        sa.Index("ix_login_attempt_ip_at", "ip", "at"),
    )
