"""Financial report entries (issue 18): what a report's line is made of, each with its date and, once the version is
submitted, the EUR → MKD rate of that date.

A staff line (`BudgetCategory.STAFF`) holds one entry per month of the period (`month`, the first day of the month;
`entry_date`, the month's last day, at most the period's end); any other line one entry dated the day of the
expense. The line's `spent_eur` is the sum of its entries. The National Bank's daily middle rates live in
`DailyRate` (one per day); the rate used (and the day it was published for) is copied to the entry when the version
is submitted, so that a later correction of the rates never changes a submitted report. Past draft, the database
refuses any change to the entries (triggers of migration 0021)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.calls import MONEY
from portal.models.finance_reports import FinancialReportLine

RATE = sa.Numeric(10, 4)


class DailyRate(Base):
    """The National Bank's (NBRM) middle rate of one day: MKD per 1 EUR, exact to 4 decimals."""

    __tablename__ = "daily_exchange_rate"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, unique=True)
    mkd_per_eur: Mapped[Decimal] = mapped_column(RATE)
    source: Mapped[str] = mapped_column(sa.String(120), default="")
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint("mkd_per_eur > 0", name="rate_positive"),)


class FinancialReportEntry(Base):
    """One dated amount of a financial report line (a month of a staff line, or the expense of another line)."""

    __tablename__ = "financial_report_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(sa.ForeignKey("financial_report_line.id", ondelete="CASCADE"), index=True)
    month: Mapped[date | None] = mapped_column(sa.Date)  # the first day of the month, on staff lines only
    entry_date: Mapped[date] = mapped_column(sa.Date)
    spent_eur: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    # Fixed at submission: the rate used and the day it is the rate of (the entry's date or up to 7 days before).
    rate_mkd: Mapped[Decimal | None] = mapped_column(RATE)
    rate_day: Mapped[date | None] = mapped_column(sa.Date)

    line: Mapped[FinancialReportLine] = relationship(
        backref=backref("entries", order_by="FinancialReportEntry.entry_date", cascade="all, delete-orphan"))

    __table_args__ = (
        sa.UniqueConstraint("line_id", "entry_date", name="uq_financial_report_entry_date"),
        sa.CheckConstraint("spent_eur >= 0", name="spent_not_negative"),
        sa.CheckConstraint("(rate_mkd IS NULL AND rate_day IS NULL) OR (rate_mkd > 0 AND rate_day <= entry_date)",
                           name="rate_fixed"),
        sa.CheckConstraint("month IS NULL OR month <= entry_date", name="month_dates"),
    )

    @property
    def spent_mkd(self) -> Decimal | None:
        """The amount in denars at the rate fixed at submission (None while the rate is not fixed)."""
        if self.rate_mkd is None:
            return None
        return (self.spent_eur * self.rate_mkd).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
