"""Grant agreements (versioned by amendment), their tranches, and the money ledger.

The ledger is append-only: commitments (signed agreements and amendments) and disbursements (paid
tranches), each in EUR with its MKD equivalent and the rate used. A correction is a reversing entry
that points at the entry it reverses; nothing is edited or deleted."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import enum_column
from portal.models.applications import Application
from portal.models.calls import MONEY, Call
from portal.models.users import User


class GrantAgreement(Base):
    __tablename__ = "grant_agreement"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id"), unique=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    municipality_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(60), unique=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[Application] = relationship()
    call: Mapped[Call] = relationship()
    versions: Mapped[list[AgreementVersion]] = relationship(back_populates="agreement", order_by="AgreementVersion.version")
    tranches: Mapped[list[Tranche]] = relationship(back_populates="agreement", order_by="Tranche.position")

    @property
    def current(self) -> AgreementVersion:
        return self.versions[-1]


class AgreementVersion(Base):
    """The terms as signed (version 1) or as amended (2, 3, …), with the reason and the document."""

    __tablename__ = "agreement_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("grant_agreement.id"), index=True)
    version: Mapped[int] = mapped_column()
    signature_date: Mapped[date] = mapped_column(sa.Date)
    start_date: Mapped[date] = mapped_column(sa.Date)
    end_date: Mapped[date] = mapped_column(sa.Date)
    committed_eur: Mapped[Decimal] = mapped_column(MONEY)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("document.id"))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agreement: Mapped[GrantAgreement] = relationship(back_populates="versions")

    __table_args__ = (
        sa.UniqueConstraint("agreement_id", "version", name="uq_agreement_version"),
        sa.CheckConstraint("committed_eur > 0", name="committed_positive"),
        sa.CheckConstraint("end_date > start_date", name="end_after_start"),
    )


class TrancheStatus(enum.StrEnum):
    PLANNED = "planned"
    REQUESTED = "requested"
    APPROVED = "approved"
    PAID = "paid"


class Tranche(Base):
    """A planned payment and its four-eyes release: requested by one ministry user, approved by another,
    then marked paid (which writes the disbursement to the ledger)."""

    __tablename__ = "tranche"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("grant_agreement.id"), index=True)
    position: Mapped[int] = mapped_column()
    planned_date: Mapped[date] = mapped_column(sa.Date)
    amount_eur: Mapped[Decimal] = mapped_column(MONEY)
    reports_required_through: Mapped[int] = mapped_column(default=0)  # 0: no condition (an advance)
    # Money conditions (issue 18, `portal.finance_reports.conditions`): the financial reports accepted without a
    # gap up to this period, and at least this share (%) of what was disbursed before spent per accepted reports.
    requires_finance_period: Mapped[int | None] = mapped_column()
    min_spent_pct: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    status: Mapped[TrancheStatus] = mapped_column(enum_column(TrancheStatus, "tranche_status"),
                                                  default=TrancheStatus.PLANNED)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_on: Mapped[date | None] = mapped_column(sa.Date)
    bank_reference: Mapped[str] = mapped_column(sa.String(80), default="")
    version_id: Mapped[int] = mapped_column(default=1)

    agreement: Mapped[GrantAgreement] = relationship(back_populates="tranches")

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.UniqueConstraint("agreement_id", "position", name="uq_tranche_position"),
        sa.CheckConstraint("amount_eur > 0", name="amount_positive"),
        sa.CheckConstraint("reports_required_through >= 0", name="reports_required"),
        sa.CheckConstraint("requires_finance_period IS NULL OR requires_finance_period >= 1", name="finance_period"),
        sa.CheckConstraint("min_spent_pct IS NULL OR (min_spent_pct >= 0 AND min_spent_pct <= 100)", name="min_spent_pct"),
        sa.CheckConstraint("approved_by_id IS NULL OR approved_by_id != requested_by_id", name="four_eyes"),
    )


class EntryKind(enum.StrEnum):
    COMMITMENT = "commitment"
    DISBURSEMENT = "disbursement"


class LedgerEntry(Base):
    __tablename__ = "ledger_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programme.id"), index=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("grant_agreement.id"), index=True)
    tranche_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tranche.id"))
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind, "ledger_entry_kind"), index=True)
    amount_eur: Mapped[Decimal] = mapped_column(MONEY)
    eur_mkd: Mapped[Decimal] = mapped_column(sa.Numeric(10, 4))
    amount_mkd: Mapped[Decimal] = mapped_column(sa.Numeric(16, 2))
    entry_date: Mapped[date] = mapped_column(sa.Date)
    reverses_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_entry.id"), unique=True)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by: Mapped[User] = relationship()

    __table_args__ = (
        sa.CheckConstraint("amount_eur != 0", name="amount_not_zero"),
        sa.CheckConstraint("eur_mkd > 0", name="rate_positive"),
    )
