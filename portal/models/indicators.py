"""The results framework: the indicator catalogue (data, editable by administrators), the calendar that maps
months to the periods indicators are reported by, and the monitors' personal API tokens."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import Multilingual, enum_column
from portal.models.users import User

VALUE = sa.Numeric(16, 2)


class IndicatorLevel(enum.StrEnum):
    OBJECTIVE = "objective"  # project development objective (PDO)
    INTERMEDIATE = "intermediate"


class Indicator(Multilingual, Base):
    __tablename__ = "indicator"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name_mk: Mapped[str] = mapped_column(sa.String(300))
    name_sq: Mapped[str] = mapped_column(sa.String(300))
    name_en: Mapped[str] = mapped_column(sa.String(300))
    definition_mk: Mapped[str] = mapped_column(sa.Text, default="")
    definition_sq: Mapped[str] = mapped_column(sa.Text, default="")
    definition_en: Mapped[str] = mapped_column(sa.Text, default="")
    unit: Mapped[str] = mapped_column(sa.String(20))  # number, percent, eur
    level: Mapped[IndicatorLevel] = mapped_column(enum_column(IndicatorLevel, "indicator_level"))
    baseline: Mapped[Decimal] = mapped_column(VALUE, default=Decimal("0"))
    baseline_date: Mapped[date] = mapped_column(sa.Date)
    targets: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # {"2026": "2000"}
    end_target: Mapped[Decimal | None] = mapped_column(VALUE)
    end_target_date: Mapped[date | None] = mapped_column(sa.Date)
    disaggregations: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    source: Mapped[str] = mapped_column(sa.Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    # Published as a result in the IATI file (finance and timeliness rates are not results).
    iati_result: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # What the figure measures and how a period's value is formed (portal.indicators.compute, MEASURES):
    # cumulative (since the start, up to the period's end), stock (at the period's end), flow (within the
    # period) or ratio (of two of the others at the same instant).
    measure: Mapped[str] = mapped_column(sa.String(20), default="flow", server_default="flow")
    # For a stock: how many months a grant's latest accepted month is carried forward when a later one is missing.
    carry_months: Mapped[int] = mapped_column(default=3, server_default="3")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (sa.CheckConstraint("unit IN ('number', 'percent', 'eur')", name="unit"),)

    def definition(self, locale: str | None = None) -> str:
        from flask_babel import get_locale

        code = locale or str(get_locale() or "mk")
        return getattr(self, f"definition_{code}", None) or self.definition_mk

    def target_for(self, year: int) -> Decimal | None:
        value = (self.targets or {}).get(str(year))
        return Decimal(str(value)) if value not in (None, "") else None


class CalendarPeriod(Base):
    """One row per month and kind of period it belongs to (the month itself, its quarter, half-year and
    year): indicators group by it, the same way on every database."""

    __tablename__ = "calendar_period"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_type: Mapped[str] = mapped_column(sa.String(8))  # month, quarter, half, year
    period_key: Mapped[str] = mapped_column(sa.String(10))  # 2026-10, 2026-Q4, 2026-H2, 2026
    month: Mapped[date] = mapped_column(sa.Date)
    month_end: Mapped[date] = mapped_column(sa.Date)
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)

    __table_args__ = (
        sa.UniqueConstraint("period_type", "month", name="uq_calendar_period_type_month"),
        sa.Index("ix_calendar_period_month", "month", "period_type"),
        sa.Index("ix_calendar_period_key", "period_type", "period_key"),
        sa.CheckConstraint("period_type IN ('month', 'quarter', 'half', 'year')", name="period_type"),
    )


class ApiToken(Base):
    """A personal token for the JSON API, sent as `Authorization: Bearer …`. Only its SHA-256 is stored; the
    token itself is shown once, when it is created."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(12))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class ApiRateCounter(Base):
    """Requests to the API per key (a token's hash or a client address) in one fixed window: counted by one
    upsert per request, in the database, so every worker shares the same limit."""

    __tablename__ = "api_rate_counter"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    window_start: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(default=0)


class IndicatorDataVersion(Base):
    """One row: a counter moved in the same transaction as every change the indicators depend on (accepted,
    superseded or returned reports, first submissions, ledger entries, agreement terms, the catalogue, the programme
    settings), by a session hook (`portal.indicators.freshness`). A snapshot computed at version N is current
    while the counter still reads N: readers compare one primary-key read instead of scanning the reports."""

    __tablename__ = "indicator_data_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=1)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IndicatorRefresh(Base):
    """One computation of every indicator value (the analytics table, as health-information systems keep one):
    dashboards, downloads and the API read the newest; its data version (and month) say whether the data has moved
    since (`IndicatorDataVersion`)."""

    __tablename__ = "indicator_refresh"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(300))  # "<data version>|<month>" it was computed for
    data_version: Mapped[int | None] = mapped_column(sa.BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(default=0)
    rows: Mapped[int] = mapped_column(default=0)


class IndicatorValue(Base):
    """One observation of a refresh: an indicator's value for a period and a category of a disaggregation. Derived
    data, replaced at every refresh (nothing a user submitted)."""

    __tablename__ = "indicator_value"

    id: Mapped[int] = mapped_column(primary_key=True)
    refresh_id: Mapped[int] = mapped_column(sa.ForeignKey("indicator_refresh.id", ondelete="CASCADE"))
    indicator: Mapped[str] = mapped_column(sa.String(40))
    period_type: Mapped[str] = mapped_column(sa.String(8))
    period: Mapped[str] = mapped_column(sa.String(10))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    dimension: Mapped[str] = mapped_column(sa.String(20))
    category: Mapped[str] = mapped_column(sa.String(60), default="")
    value: Mapped[Decimal] = mapped_column(sa.Numeric(18, 2))
    unit: Mapped[str] = mapped_column(sa.String(20))
    # The month the value stands for (a stock or cumulative value is read at the period's end, or at the last
    # month with data in a period still running) and, for a stock, how many grants it takes from that month
    # (current), from an earlier month within the carry window (carried), or lack (missing).
    as_of_month: Mapped[date | None] = mapped_column(sa.Date)
    grants_current: Mapped[int | None] = mapped_column()
    grants_carried: Mapped[int | None] = mapped_column()
    grants_missing: Mapped[int | None] = mapped_column()
    # BEN_UNIQUE (portal.indicators.unique): exact (every grant behind it keeps a register), estimated or mixed.
    method: Mapped[str | None] = mapped_column(sa.String(10))
    # Small-cell suppression (portal.indicators.suppression), computed at each refresh: the flag the rule gives this
    # observation for a reader outside the ministry (small / secondary), NULL when shown. `value` stays exact.
    withheld: Mapped[str | None] = mapped_column(sa.String(10))

    __table_args__ = (
        sa.Index("ix_indicator_value_lookup", "refresh_id", "period_type", "indicator", "dimension"),
    )


class IsrComment(Base):
    """The ministry's comment on an indicator for one reporting period of the Implementation Status and Results
    report (ISR). Versioned: an edit adds a version, the latest is the one shown; nothing is overwritten."""

    __tablename__ = "isr_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(sa.ForeignKey("indicator.id"), index=True)
    period: Mapped[str] = mapped_column(sa.String(10))  # a calendar period key: 2026-H2
    version: Mapped[int] = mapped_column(default=1)
    body: Mapped[str] = mapped_column(sa.Text, default="")
    language: Mapped[str] = mapped_column(sa.String(2), default="mk")
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    indicator: Mapped[Indicator] = relationship()
    created_by: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("indicator_id", "period", "version", name="uq_isr_comment_version"),)
