"""Grantee financial reports (issue 18): one per grant and reporting period, each kept as a series of versions.

A report's figures live in its versions, as with the monthly reports (`portal.models.reports`): a draft version
is edited in place; once submitted it is not edited again by the provider. Returning a report starts the next
version as a copy, so every version ever submitted stays as it was. The report row points at the accepted
version (`accepted_version`), the one the grant's finance summary counts.

Each version holds one line per approved budget line of the grant's application (`application_budget_line`):
what the provider spent on it in the period, and — set by the finance officer when accepting — how much of it
is eligible and how much is not, with the reason."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import enum_column
from portal.models.applications import BudgetLine
from portal.models.calls import MONEY
from portal.models.grants import GrantAgreement
from portal.models.users import User


class FinanceReportStatus(enum.StrEnum):
    """The status of a financial report's newest version (the same codes as the monthly reports')."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"


class FinancialReport(Base):
    __tablename__ = "financial_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("grant_agreement.id"), index=True)
    period_number: Mapped[int] = mapped_column()  # 1 for the period the grant starts in
    period_start: Mapped[date] = mapped_column(sa.Date)  # the first day of the period's first month
    period_end: Mapped[date] = mapped_column(sa.Date)  # the last day of the period (at most the grant's end)
    status: Mapped[FinanceReportStatus] = mapped_column(enum_column(FinanceReportStatus, "financial_report_status"),
                                                        default=FinanceReportStatus.DRAFT, index=True)
    current_version: Mapped[int] = mapped_column(default=1)
    accepted_version: Mapped[int | None] = mapped_column()
    first_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)

    agreement: Mapped[GrantAgreement] = relationship()
    versions: Mapped[list[FinancialReportVersion]] = relationship(back_populates="report",
                                                                  order_by="FinancialReportVersion.version")

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.UniqueConstraint("agreement_id", "period_number", name="uq_financial_report_period"),
        sa.CheckConstraint("period_number >= 1", name="period_number"),
        sa.CheckConstraint("period_end >= period_start", name="period_dates"),
        sa.CheckConstraint("accepted_version IS NULL OR accepted_version <= current_version", name="accepted_version"),
    )

    @property
    def newest(self) -> FinancialReportVersion:
        return self.versions[-1]

    @property
    def in_force(self) -> FinancialReportVersion | None:
        if self.accepted_version is None:
            return None
        return next(v for v in self.versions if v.version == self.accepted_version)


class FinancialReportVersion(Base):
    __tablename__ = "financial_report_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("financial_report.id"), index=True)
    version: Mapped[int] = mapped_column()
    status: Mapped[FinanceReportStatus] = mapped_column(
        enum_column(FinanceReportStatus, "financial_report_version_status"), default=FinanceReportStatus.DRAFT)
    # Co-financing received in the period (EUR): from the municipality, and from anyone else.
    cofinancing_municipality_eur: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    cofinancing_other_eur: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    narrative: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_comment: Mapped[str] = mapped_column(sa.Text, default="")
    edit_version: Mapped[int] = mapped_column(default=1)

    report: Mapped[FinancialReport] = relationship(back_populates="versions")
    lines: Mapped[list[FinancialReportLine]] = relationship(back_populates="version", order_by="FinancialReportLine.id",
                                                            cascade="all, delete-orphan")
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    __mapper_args__ = {"version_id_col": edit_version}
    __table_args__ = (
        sa.UniqueConstraint("report_id", "version", name="uq_financial_report_version_number"),
        sa.CheckConstraint("cofinancing_municipality_eur >= 0 AND cofinancing_other_eur >= 0",
                           name="cofinancing_not_negative"),
    )

    @property
    def spent_eur(self) -> Decimal:
        return sum((line.spent_eur for line in self.lines), Decimal("0.00"))

    @property
    def cofinancing_eur(self) -> Decimal:
        return self.cofinancing_municipality_eur + self.cofinancing_other_eur


class FinancialReportLine(Base):
    """The expenditure on one approved budget line in one version, and the finance officer's eligibility."""

    __tablename__ = "financial_report_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("financial_report_version.id", ondelete="CASCADE"), index=True)
    budget_line_id: Mapped[int] = mapped_column(sa.ForeignKey("application_budget_line.id"), index=True)
    spent_eur: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    # Set by the finance officer when accepting: eligible + ineligible = spent.
    eligible_eur: Mapped[Decimal | None] = mapped_column(MONEY)
    ineligible_eur: Mapped[Decimal | None] = mapped_column(MONEY)
    ineligible_reason: Mapped[str] = mapped_column(sa.Text, default="")

    version: Mapped[FinancialReportVersion] = relationship(back_populates="lines")
    budget_line: Mapped[BudgetLine] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("version_id", "budget_line_id", name="uq_financial_report_line_budget_line"),
        sa.CheckConstraint("spent_eur >= 0", name="spent_not_negative"),
        sa.CheckConstraint("eligible_eur IS NULL OR (eligible_eur >= 0 AND ineligible_eur >= 0 "
                           "AND eligible_eur + ineligible_eur = spent_eur)", name="eligibility_sums"),
    )
