"""The reporting rate: months × grants (or municipalities) with on time / late / missing / returned, and the
totals per month. Classified and counted by the database (a CASE with the rule of `timeliness`, over grants ×
the window's months): a fixed number of statements whatever the number of grants — the counts per municipality
and month in one, the grant rows of the page shown in another."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.calls.services import get_programme
from portal.db import UTCDateTime
from portal.models import (
    AgreementVersion,
    GrantAgreement,
    MonthlyReport,
    Municipality,
    Organisation,
    Region,
    ReportStatus,
    ServiceType,
    User,
)
from portal.models.applications import application_service_type
from portal.reports.services import Timeliness, deadline, first_of, months_from, next_month

WINDOW = 12
COUNTED = (Timeliness.ON_TIME, Timeliness.LATE, Timeliness.RETURNED, Timeliness.MISSING)


@dataclass
class Filters:
    region_id: int | None = None
    service_type_id: int | None = None
    municipality_id: int | None = None
    until: date | None = None  # the last month shown (default: the current month)
    by: str = "grant"


@dataclass
class Cell:
    status: Timeliness | None  # None: the grant does not report that month
    report_id: int | None = None


@dataclass
class GrantRow:
    agreement_id: int
    number: str
    provider: str
    municipality: str
    region: str
    cells: list[Cell]


@dataclass
class MonthTotal:
    month: date
    counts: Counter = field(default_factory=Counter)

    @property
    def due(self) -> int:
        return sum(self.counts[s] for s in COUNTED)

    @property
    def reported(self) -> int:
        return self.counts[Timeliness.ON_TIME] + self.counts[Timeliness.LATE]

    def rate(self, of: Timeliness | None = None) -> int | None:
        """The share of due reports that were submitted (or submitted on time), in whole per cent."""
        if not self.due:
            return None
        part = self.counts[of] if of is not None else self.reported
        return round(100 * part / self.due)


@dataclass
class MunicipalityRow:
    municipality: str
    region: str
    grants: int
    cells: list[MonthTotal]


@dataclass
class Completeness:
    months: list[date]
    grant_rows: list[GrantRow]
    municipality_rows: list[MunicipalityRow]
    totals: list[MonthTotal]
    total: int = 0  # the rows at the level shown (grants or municipalities), across every page
    page: int = 1

    @property
    def overall(self) -> MonthTotal:
        combined = MonthTotal(self.months[-1] if self.months else date(2000, 1, 1))
        for total in self.totals:
            combined.counts.update(total.counts)
        return combined


def window(until: date) -> list[date]:
    first = until
    for _ in range(WINDOW - 1):
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return months_from(first, until)


def _terms() -> sa.Subquery:
    """Each agreement's newest version (the terms in force), as an anti-join: PostgreSQL estimates it at the
    number of agreements, where the join on max(version) reads as ten rows and leads the planner to nested loops."""
    newer = sa.orm.aliased(AgreementVersion)
    return (sa.select(AgreementVersion.agreement_id, AgreementVersion.start_date, AgreementVersion.end_date)
            .where(~sa.exists().where(newer.agreement_id == AgreementVersion.agreement_id,
                                      newer.version > AgreementVersion.version)).subquery("terms"))


def _grants(session: Session, actor: User, filters: Filters) -> sa.Select:
    terms = _terms()
    provider = sa.orm.aliased(Organisation)
    local = sa.orm.aliased(Organisation)
    query = (sa.select(GrantAgreement.id.label("agreement_id"), GrantAgreement.number.label("number"),
                       provider.name.label("provider"), Municipality.id.label("municipality_id"),
                       Municipality.name_mk.label("municipality_mk"), Municipality.name_sq.label("municipality_sq"),
                       Municipality.name_en.label("municipality_en"), Region.name_mk.label("region_mk"),
                       Region.name_sq.label("region_sq"), Region.name_en.label("region_en"),
                       terms.c.start_date.label("start_date"), terms.c.end_date.label("end_date"))
             .join(terms, terms.c.agreement_id == GrantAgreement.id)
             .join(provider, provider.id == GrantAgreement.organisation_id)
             .join(local, local.id == GrantAgreement.municipality_org_id)
             .join(Municipality, Municipality.id == local.municipality_id)
             .join(Region, Region.id == Municipality.region_id))
    if not actor.is_ministry and actor.role.value == "municipality":
        query = query.where(GrantAgreement.municipality_org_id == actor.organisation_id)
    if filters.region_id:
        query = query.where(Municipality.region_id == filters.region_id)
    if filters.municipality_id:
        query = query.where(Municipality.id == filters.municipality_id)
    if filters.service_type_id:
        query = query.where(sa.exists().where(
            application_service_type.c.application_id == GrantAgreement.application_id,
            application_service_type.c.service_type_id == filters.service_type_id))
    return query


def _months_table(programme, months: list[date], now: datetime) -> sa.Subquery:
    """The window's months as a small table: each with the next month, its deadline and what an unsent report is
    by now (`timeliness`' rule for a month never submitted, decided here once per month)."""
    rows = [sa.select(sa.literal(index, sa.Integer).label("idx"), sa.literal(month, sa.Date).label("month"),
                      sa.literal(next_month(month), sa.Date).label("next"),
                      sa.literal(deadline(programme, month), UTCDateTime()).label("deadline"),
                      sa.literal((Timeliness.MISSING if now >= deadline(programme, month) else Timeliness.OPEN).value,
                                 sa.String).label("unsent"))
            for index, month in enumerate(months)]
    return sa.union_all(*rows).subquery("months")


def _cells(grants: sa.Subquery | sa.CTE, months: sa.Subquery, window_start: date, window_end: date) -> sa.Select:
    """Every grant × month of the window with its state, classified by the database with the rule of
    `portal.reports.services.timeliness` (NULL: the grant does not report that month)."""
    r = MonthlyReport
    report = (sa.select(r.id, r.agreement_id, r.month, r.status, r.accepted_version, r.first_submitted_at,
                        r.submitted_on_time)
              .where(r.month >= window_start, r.month < window_end).subquery("report"))
    in_term = sa.and_(grants.c.start_date < months.c.next, grants.c.end_date >= months.c.month)
    state = sa.case(
        (sa.not_(in_term), sa.null()),
        (sa.and_(report.c.status == ReportStatus.RETURNED, report.c.accepted_version.is_(None)),
         Timeliness.RETURNED.value),
        (report.c.first_submitted_at.is_(None), months.c.unsent),
        (report.c.submitted_on_time.is_(True), Timeliness.ON_TIME.value),
        (sa.and_(report.c.submitted_on_time.is_(None), report.c.first_submitted_at < months.c.deadline),
         Timeliness.ON_TIME.value),
        else_=Timeliness.LATE.value)
    return (sa.select(grants, months.c.idx, state.label("state"), sa.case((in_term, report.c.id)).label("report_id"))
            .select_from(grants).join(months, sa.true())
            .outerjoin(report, sa.and_(report.c.agreement_id == grants.c.agreement_id, report.c.month == months.c.month)))


def build(session: Session, actor: User, filters: Filters, now: datetime | None = None, *,
          page: int | None = None, per_page: int | None = None) -> Completeness:
    """The grid and its totals, classified and counted by the database: per municipality and month in one
    statement (the totals are their sums), and the grant rows — only the page shown when `page` is given, every
    grant otherwise (the downloads) — in another. Three statements whatever the number of grants."""
    now = now or clock.now()
    programme = get_programme(session)
    current = first_of(clock.utc_to_skopje(now).date())
    until = min(first_of(filters.until), current) if filters.until else current
    months = window(until)
    table = _months_table(programme, months, now)
    grants_query = _grants(session, actor, filters)
    from flask_babel import get_locale

    lang = str(get_locale() or "mk")
    suffix = lang if lang in ("mk", "sq", "en") else "mk"

    def named(row: Any, stem: str) -> str:
        return getattr(row, f"{stem}_{suffix}") or getattr(row, f"{stem}_mk")

    bounds = (months[0], next_month(months[-1]))  # only the window's reports are read
    # The grants once (a materialised CTE), then × the months: inlined, PostgreSQL rebuilt their join per month.
    grants_once = grants_query.cte("g").prefix_with("MATERIALIZED")
    cells = _cells(grants_once, table, *bounds).subquery("cells")
    c = cells.c
    states = [state for state in Timeliness]
    # One row per municipality and month, a count per state (and of every grant, in term or not), grouped by numbers
    # and then named; read through the connection (plain rows, no ORM row processing).
    counted = (sa.select(c.municipality_id, c.idx, sa.func.count().label("n"),
                         *[sa.func.sum(sa.case((c.state == state.value, 1), else_=0)).label(state.value)
                           for state in states])
               .group_by(c.municipality_id, c.idx).subquery("counted"))
    totals = [MonthTotal(m) for m in months]
    by_municipality: dict[int, MunicipalityRow] = {}
    connection = session.connection()
    for row in connection.execute(
            sa.select(counted, Municipality.name_mk.label("municipality_mk"), Municipality.name_sq.label("municipality_sq"),
                      Municipality.name_en.label("municipality_en"), Region.name_mk.label("region_mk"),
                      Region.name_sq.label("region_sq"), Region.name_en.label("region_en"))
            .join(Municipality, Municipality.id == counted.c.municipality_id)
            .join(Region, Region.id == Municipality.region_id)):
        municipality = by_municipality.get(row.municipality_id)
        if municipality is None:
            municipality = by_municipality[row.municipality_id] = MunicipalityRow(
                named(row, "municipality"), named(row, "region"), 0, [MonthTotal(m) for m in months])
        if row.idx == 0:
            municipality.grants += row.n  # every grant has one cell per month of the window
        for state in states:
            n = getattr(row, state.value)
            if n:
                municipality.cells[row.idx].counts[state] += n
                totals[row.idx].counts[state] += n
    total = sum(m.grants for m in by_municipality.values())
    grant_rows: list[GrantRow] = []
    if page is not None and per_page:
        page = min(max(1, page), max(1, -(-total // per_page)))
    if filters.by == "grant" or page is None:
        ordered = grants_query.order_by(Municipality.name_mk, GrantAgreement.number, GrantAgreement.id)
        if page is not None and per_page:
            ordered = ordered.limit(per_page).offset((page - 1) * per_page)
        shown = ordered.add_columns(sa.func.row_number().over(order_by=(
            Municipality.name_mk, GrantAgreement.number, GrantAgreement.id)).label("position")).subquery("g")
        grid = _cells(shown, table, *bounds).order_by(shown.c.position, table.c.idx)
        current_row: GrantRow | None = None
        for row in connection.execute(grid):
            if current_row is None or current_row.agreement_id != row.agreement_id:
                current_row = GrantRow(row.agreement_id, row.number, row.provider, named(row, "municipality"),
                                       named(row, "region"), [])
                grant_rows.append(current_row)
            state = Timeliness(row.state) if row.state is not None else None
            current_row.cells.append(Cell(state, row.report_id if state is not None else None))
    return Completeness(months=months, grant_rows=grant_rows,
                        municipality_rows=sorted(by_municipality.values(), key=lambda r: (r.region, r.municipality)),
                        totals=totals, total=total if filters.by == "grant" else len(by_municipality), page=page or 1)


def filter_choices(session: Session) -> tuple[list[Region], list[ServiceType]]:
    regions = list(session.scalars(sa.select(Region).order_by(Region.code)))
    types = list(session.scalars(sa.select(ServiceType).where(ServiceType.active.is_(True)).order_by(ServiceType.sort_order)))
    return regions, types


def export_rows(data: Completeness, label) -> tuple[list[str], list[list]]:
    """The grid as a table for CSV/XLSX: one row per grant, one column per month."""
    header = ["agreement", "provider", "municipality", "region"] + [f"{m:%Y-%m}" for m in data.months]
    rows = [[r.number, r.provider, r.municipality, r.region] + [label(c.status) if c.status else "" for c in r.cells]
            for r in data.grant_rows]
    return header, rows

