"""Municipal expressions of interest (one per municipality per call), their proposed services,
the snapshots of every submission, and the clarification thread with the ministry."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import enum_column
from portal.models.calls import MONEY, Call
from portal.models.orgs import Organisation
from portal.models.reference import ServiceType
from portal.models.users import User


class EoiStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CLARIFICATION = "clarification"
    WITHDRAWN = "withdrawn"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ExpressionOfInterest(Base):
    __tablename__ = "eoi"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    status: Mapped[EoiStatus] = mapped_column(enum_column(EoiStatus, "eoi_status"), default=EoiStatus.DRAFT, index=True)
    reference: Mapped[str | None] = mapped_column(sa.String(60), unique=True)
    needs_assessment: Mapped[str] = mapped_column(sa.Text, default="")
    target_groups: Mapped[str] = mapped_column(sa.Text, default="")
    people_in_need: Mapped[int | None] = mapped_column()
    cofinancing_eur: Mapped[Decimal | None] = mapped_column(MONEY)
    cofinancing_pct: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    coordinator_name: Mapped[str] = mapped_column(sa.String(200), default="")
    coordinator_email: Mapped[str] = mapped_column(sa.String(254), default="")
    coordinator_phone: Mapped[str] = mapped_column(sa.String(40), default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str] = mapped_column(sa.Text, default="")
    reopened_fields: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    reopen_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)

    call: Mapped[Call] = relationship()
    organisation: Mapped[Organisation] = relationship()
    services: Mapped[list[EoiService]] = relationship(back_populates="eoi", order_by="EoiService.position",
                                                      cascade="all, delete-orphan")
    messages: Mapped[list[EoiMessage]] = relationship(back_populates="eoi", order_by="EoiMessage.at")
    submissions: Mapped[list[EoiSubmission]] = relationship(back_populates="eoi", order_by="EoiSubmission.number")

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.UniqueConstraint("call_id", "organisation_id", name="uq_eoi_call_organisation"),
        sa.CheckConstraint("people_in_need IS NULL OR people_in_need >= 0", name="people_not_negative"),
        sa.CheckConstraint("cofinancing_eur IS NULL OR cofinancing_eur >= 0", name="cofinancing_not_negative"),
        sa.CheckConstraint("cofinancing_pct IS NULL OR (cofinancing_pct >= 0 AND cofinancing_pct <= 100)",
                           name="cofinancing_pct"),
    )

    @property
    def requested_eur(self) -> Decimal:
        return sum((s.annual_cost_eur or Decimal("0") for s in self.services), Decimal("0"))


class EoiService(Base):
    """A service the municipality proposes (one row of the repeatable table)."""

    __tablename__ = "eoi_service"

    id: Mapped[int] = mapped_column(primary_key=True)
    eoi_id: Mapped[int] = mapped_column(sa.ForeignKey("eoi.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    service_type_id: Mapped[int] = mapped_column(sa.ForeignKey("service_type.id"))
    beneficiaries_per_month: Mapped[int] = mapped_column()
    annual_cost_eur: Mapped[Decimal] = mapped_column(MONEY)
    partners: Mapped[str] = mapped_column(sa.Text, default="")

    eoi: Mapped[ExpressionOfInterest] = relationship(back_populates="services")
    service_type: Mapped[ServiceType] = relationship()

    __table_args__ = (
        sa.CheckConstraint("beneficiaries_per_month >= 0", name="beneficiaries_not_negative"),
        sa.CheckConstraint("annual_cost_eur >= 0", name="cost_not_negative"),
    )


class EoiSubmission(Base):
    """What was submitted, as it was: every submission and resubmission is kept."""

    __tablename__ = "eoi_submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    eoi_id: Mapped[int] = mapped_column(sa.ForeignKey("eoi.id"), index=True)
    number: Mapped[int] = mapped_column()
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    eoi: Mapped[ExpressionOfInterest] = relationship(back_populates="submissions")
    submitted_by: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("eoi_id", "number", name="uq_eoi_submission_number"),)


class MessageKind(enum.StrEnum):
    REQUEST = "request"
    REPLY = "reply"
    DECISION = "decision"


class EoiMessage(Base):
    __tablename__ = "eoi_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    eoi_id: Mapped[int] = mapped_column(sa.ForeignKey("eoi.id"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind, "eoi_message_kind"))
    body: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    eoi: Mapped[ExpressionOfInterest] = relationship(back_populates="messages")
    author: Mapped[User] = relationship()
