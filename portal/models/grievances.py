"""Grievance redress (issue 17): concerns raised by anyone, with or without an account, and their handling.

A case keeps the complainant's contact details (never shown outside the ministry's handlers), only a SHA-256 of
the secret that opens the complainant's own page, its deadlines (UTC, computed from Skopje calendar days) and
its state. Messages are append-only: the database refuses UPDATE and DELETE of them (migration 0017)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import enum_column
from portal.models.grants import GrantAgreement
from portal.models.orgs import Municipality
from portal.models.users import User


class GrievanceCategory(enum.StrEnum):
    SERVICE_QUALITY = "service_quality"
    ACCESS = "access"
    STAFF_CONDUCT = "staff_conduct"
    SAFEGUARDING = "safeguarding"
    FRAUD = "fraud"
    DATA_PROTECTION = "data_protection"
    OTHER = "other"


#: Categories whose cases are handled by named people only (DOMAIN.md: safeguarding and fraud).
SENSITIVE_CATEGORIES = frozenset({GrievanceCategory.SAFEGUARDING, GrievanceCategory.FRAUD})


class GrievanceStatus(enum.StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    CLOSED = "closed"


class GrievanceMessageKind(enum.StrEnum):
    NOTE = "note"  # internal, between handlers
    REPLY = "reply"  # from the ministry to the complainant
    COMPLAINANT = "complainant"  # from the complainant (through the secret link)
    ORG_REQUEST = "org_request"  # the ministry asks the provider or municipality to answer
    ORG_ANSWER = "org_answer"  # the provider's or municipality's answer to the ministry


class Grievance(Base):
    __tablename__ = "grievance"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    category: Mapped[GrievanceCategory] = mapped_column(enum_column(GrievanceCategory, "grievance_category"), index=True)
    sensitive: Mapped[bool] = mapped_column(default=False, index=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipality.id"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("grant_agreement.id"), index=True)
    about: Mapped[str] = mapped_column(sa.String(300), default="")  # the provider or service, in the person's words
    description: Mapped[str] = mapped_column(sa.Text)
    anonymous: Mapped[bool] = mapped_column(default=True)
    contact_name: Mapped[str] = mapped_column(sa.String(200), default="")
    contact_email: Mapped[str] = mapped_column(sa.String(254), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(40), default="")
    language: Mapped[str] = mapped_column(sa.String(2), default="mk")
    status: Mapped[GrievanceStatus] = mapped_column(enum_column(GrievanceStatus, "grievance_status"),
                                                    default=GrievanceStatus.RECEIVED, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    acknowledge_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolve_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first closing counts for "resolved on time"; a re-opened case keeps it and is closed again later.
    first_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(sa.Text, default="")
    complainant_accepted: Mapped[bool | None] = mapped_column()
    reopened_count: Mapped[int] = mapped_column(default=0)
    handler_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    org_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the ministry asked the provider/municipality
    version_id: Mapped[int] = mapped_column(default=1)

    municipality: Mapped[Municipality] = relationship()
    agreement: Mapped[GrantAgreement | None] = relationship()
    handler: Mapped[User | None] = relationship(foreign_keys=[handler_id])
    named: Mapped[list[GrievanceHandler]] = relationship(back_populates="grievance", order_by="GrievanceHandler.id")
    messages: Mapped[list[GrievanceMessage]] = relationship(back_populates="grievance", order_by="GrievanceMessage.id")

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.CheckConstraint("language IN ('mk', 'sq', 'en')", name="language"),
        sa.CheckConstraint("acknowledge_due_at <= resolve_due_at", name="deadlines_in_order"),
        sa.CheckConstraint("NOT anonymous OR (contact_name = '' AND contact_email = '' AND contact_phone = '')",
                           name="anonymous_has_no_contact"),
        sa.CheckConstraint("reopened_count >= 0", name="reopened_not_negative"),
    )


class GrievanceHandler(Base):
    """A ministry user named on a case (the assigned handler and the administrator who assigned them). Only
    they see a sensitive case. Rows are added, never removed: the list is also the record of who was named."""

    __tablename__ = "grievance_handler"

    id: Mapped[int] = mapped_column(primary_key=True)
    grievance_id: Mapped[int] = mapped_column(sa.ForeignKey("grievance.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    named_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grievance: Mapped[Grievance] = relationship(back_populates="named")
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    __table_args__ = (sa.UniqueConstraint("grievance_id", "user_id", name="uq_grievance_handler"),)


class GrievanceMessage(Base):
    """One message on a case; never changed or deleted (the database refuses it)."""

    __tablename__ = "grievance_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    grievance_id: Mapped[int] = mapped_column(sa.ForeignKey("grievance.id"), index=True)
    kind: Mapped[GrievanceMessageKind] = mapped_column(enum_column(GrievanceMessageKind, "grievance_message_kind"))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))  # None: the complainant
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id"))
    body: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grievance: Mapped[Grievance] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()


class GrievanceSettings(Base):
    """One row: the deadlines and limits of the mechanism, set by an administrator."""

    __tablename__ = "grievance_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    acknowledge_days: Mapped[int] = mapped_column(default=7)
    resolve_days: Mapped[int] = mapped_column(default=30)
    # Breakdowns of the figures show a count of sensitive cases only from this many up.
    sensitive_threshold: Mapped[int] = mapped_column(default=5)
    submissions_per_hour: Mapped[int] = mapped_column(default=5)  # per client address
    version_id: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.CheckConstraint("acknowledge_days BETWEEN 1 AND 90", name="acknowledge_days"),
        sa.CheckConstraint("resolve_days BETWEEN 1 AND 365 AND resolve_days >= acknowledge_days", name="resolve_days"),
        sa.CheckConstraint("sensitive_threshold BETWEEN 1 AND 100", name="sensitive_threshold"),
        sa.CheckConstraint("submissions_per_hour BETWEEN 1 AND 1000", name="submissions_per_hour"),
    )
