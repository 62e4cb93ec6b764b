"""The programme, its exchange rates, and the calls it publishes (with their rubrics)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import Localized, Multilingual, enum_column
from portal.models.reference import ServiceType

MONEY = sa.Numeric(14, 2)


class Programme(Base):
    __tablename__ = "programme"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    loan_reference: Mapped[str] = mapped_column(sa.String(60))
    envelope_eur: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    # Monthly reports are due on this day of the following month (Skopje time); reminders go out this
    # many days before.
    report_due_day: Mapped[int] = mapped_column(default=10, server_default="10")
    report_reminder_days: Mapped[int] = mapped_column(default=3, server_default="3")
    # A month's report may be submitted this many days before the month ends (0: only once it has ended).
    report_early_days: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.CheckConstraint("envelope_eur > 0", name="envelope_positive"),
        sa.CheckConstraint("report_due_day >= 1 AND report_due_day <= 28", name="report_due_day"),
        sa.CheckConstraint("report_reminder_days >= 0 AND report_reminder_days <= 27", name="report_reminder_days"),
        sa.CheckConstraint("report_early_days >= 0 AND report_early_days <= 3", name="report_early_days"),
    )


class ExchangeRate(Base):
    """EUR → MKD from a date on; the rate used is stored on every money entry."""

    __tablename__ = "exchange_rate"

    id: Mapped[int] = mapped_column(primary_key=True)
    valid_from: Mapped[date] = mapped_column(sa.Date, unique=True)
    eur_mkd: Mapped[Decimal] = mapped_column(sa.Numeric(10, 4))

    __table_args__ = (sa.CheckConstraint("eur_mkd > 0", name="rate_positive"),)


class CallKind(enum.StrEnum):
    EOI = "eoi"
    GRANT = "grant"


class CallStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    DECIDED = "decided"


call_service_type = sa.Table(
    "call_service_type",
    Base.metadata,
    sa.Column("call_id", sa.ForeignKey("call.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_type_id", sa.ForeignKey("service_type.id"), primary_key=True),
)


class Call(Localized, Base):
    __tablename__ = "call"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programme.id"), index=True)
    kind: Mapped[CallKind] = mapped_column(enum_column(CallKind, "call_kind"))
    reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    title_mk: Mapped[str] = mapped_column(sa.String(300))
    title_sq: Mapped[str] = mapped_column(sa.String(300))
    title_en: Mapped[str] = mapped_column(sa.String(300))
    description_mk: Mapped[str] = mapped_column(sa.Text, default="")
    description_sq: Mapped[str] = mapped_column(sa.Text, default="")
    description_en: Mapped[str] = mapped_column(sa.Text, default="")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    allocation_eur: Mapped[Decimal] = mapped_column(MONEY)
    grant_ceiling_eur: Mapped[Decimal | None] = mapped_column(MONEY)
    min_cofinancing_pct: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2), default=Decimal("0"))
    required_documents: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Grant calls: the kinds of evidence every monthly report must carry (at least one document of each).
    report_evidence: Mapped[list[str]] = mapped_column(sa.JSON, default=list, server_default="[]")
    linked_call_id: Mapped[int | None] = mapped_column(sa.ForeignKey("call.id"))
    status: Mapped[CallStatus] = mapped_column(enum_column(CallStatus, "call_status"), default=CallStatus.DRAFT,
                                               index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Review settings of a provider grant call.
    endorsement_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    funds_per_user: Mapped[bool] = mapped_column(default=False)
    eligibility_checklist: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    reviewers_required: Mapped[int] = mapped_column(default=2)
    discrepancy_share: Mapped[Decimal] = mapped_column(sa.Numeric(5, 4), default=Decimal("0.2000"))
    chair_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # The tranche template agreements start from: [[share %, months after start, reports accepted through], …]
    tranche_template: Mapped[list[list[int]]] = mapped_column(sa.JSON, default=list)
    # Grantee financial reports (issue 18, migration 0018): the length of a reporting period in months, and how
    # far above its approved amount a budget line's expenditure may go (in percent) without a budget amendment.
    finance_period_months: Mapped[int] = mapped_column(default=3, server_default="3")
    budget_variance_pct: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2), default=Decimal("10.00"),
                                                         server_default="10.00")
    # Whether the grants of the call keep a service-user register from which their monthly reports' beneficiary
    # figures are filled (issue 16, migration 0022). Rows written without saying (and the calls that existed before)
    # are False; a call created through the portal starts with True (`calls.services.CallData`).
    register_required: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)

    service_types: Mapped[list[ServiceType]] = relationship(secondary=call_service_type,
                                                            order_by="ServiceType.sort_order")
    criteria: Mapped[list[RubricCriterion]] = relationship(back_populates="call", order_by="RubricCriterion.position",
                                                           cascade="all, delete-orphan")
    amendments: Mapped[list[CallAmendment]] = relationship(back_populates="call", order_by="CallAmendment.at")

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        sa.CheckConstraint("allocation_eur >= 0", name="allocation_not_negative"),
        sa.CheckConstraint("min_cofinancing_pct >= 0 AND min_cofinancing_pct <= 100", name="cofinancing_pct"),
        sa.CheckConstraint("grant_ceiling_eur IS NULL OR grant_ceiling_eur > 0", name="ceiling_positive"),
        sa.CheckConstraint("reviewers_required >= 1 AND reviewers_required <= 9", name="reviewers_required"),
        sa.CheckConstraint("discrepancy_share > 0 AND discrepancy_share <= 1", name="discrepancy_share"),
    )

    def _text(self, field: str, locale: str | None) -> str:
        from flask_babel import get_locale

        code = locale or str(get_locale() or "mk")
        return getattr(self, f"{field}_{code}", None) or getattr(self, f"{field}_mk")

    def title(self, locale: str | None = None) -> str:
        return self._text("title", locale)

    def description(self, locale: str | None = None) -> str:
        return self._text("description", locale)

    def is_open(self, at: datetime) -> bool:
        return self.status == CallStatus.PUBLISHED and self.opens_at <= at < self.closes_at


class RubricCriterion(Multilingual, Base):
    __tablename__ = "rubric_criterion"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name_mk: Mapped[str] = mapped_column(sa.String(300))
    name_sq: Mapped[str] = mapped_column(sa.String(300))
    name_en: Mapped[str] = mapped_column(sa.String(300))
    # What the reviewers look for: Macedonian required, Albanian and English optional (shown in Macedonian).
    description_mk: Mapped[str] = mapped_column(sa.Text, default="")
    description_sq: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    description_en: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    description = synonym("description_mk")
    max_score: Mapped[Decimal] = mapped_column(sa.Numeric(6, 2))
    weight: Mapped[Decimal] = mapped_column(sa.Numeric(6, 3), default=Decimal("1"))

    call: Mapped[Call] = relationship(back_populates="criteria")

    __table_args__ = (
        sa.CheckConstraint("max_score > 0", name="max_score_positive"),
        sa.CheckConstraint("weight > 0", name="weight_positive"),
    )


class CallAmendment(Localized, Base):
    """A change to a published call, shown to applicants."""

    __tablename__ = "call_amendment"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    # Macedonian required; Albanian and English optional (shown in Macedonian with a note when empty).
    note_mk: Mapped[str] = mapped_column(sa.Text, default="")
    note_sq: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    note_en: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    note = synonym("note_mk")
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    call: Mapped[Call] = relationship(back_populates="amendments")
