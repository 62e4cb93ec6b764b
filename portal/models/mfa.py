"""The second factor of sign-in: a TOTP secret per user and single-use recovery codes.

Whether a user has a confirmed second factor is on the user row (`User.mfa_enrolled_at`), so the
check on every request needs no extra query; the secret itself lives here, loaded only when a code
is checked or an enrolment is shown.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class UserMfa(Base):
    """One row per user who started an enrolment. `secret` is the confirmed TOTP secret (base32);
    `pending_secret` the one shown on the enrolment page until a valid code confirms it.
    `last_used_step` is the RFC 6238 time step of the last accepted code: a code of that step or an
    earlier one is never accepted again (no replay within the code's window)."""

    __tablename__ = "user_mfa"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), primary_key=True)
    secret: Mapped[str | None] = mapped_column(sa.String(64))
    pending_secret: Mapped[str | None] = mapped_column(sa.String(64))
    last_used_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MfaRecoveryCode(Base):
    """A single-use recovery code; only the SHA-256 of the (80-bit random) code is stored."""

    __tablename__ = "mfa_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
