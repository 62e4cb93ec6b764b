"""The reporting rate: months × grants (or municipalities) with on time / late / missing / returned, and the
totals per month. A fixed number of queries whatever the number of grants: the grants in one, their
reports in one, the rest is counting."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.calls.services import get_programme
from portal.grants.services import terms_in_force
from portal.models import (
    GrantAgreement,
    MonthlyReport,
    Municipality,
    Organisation,
    Region,
    ServiceType,
    User,
)
from portal.models.applications import application_service_type
from portal.reports.services import Timeliness, first_of, months_from, next_month, timeliness

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


def _grants(session: Session, actor: User, filters: Filters) -> sa.Select:
    terms = terms_in_force()
    provider = sa.orm.aliased(Organisation)
    local = sa.orm.aliased(Organisation)
    query = (sa.select(GrantAgreement.id, GrantAgreement.number, provider.name, Municipality.id, Municipality.name_mk,
                       Municipality.name_sq, Municipality.name_en, Region.name_mk, Region.name_sq, Region.name_en,
                       terms.c.start_date, terms.c.end_date)
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


def build(session: Session, actor: User, filters: Filters, now: datetime | None = None) -> Completeness:
    now = now or clock.now()
    programme = get_programme(session)
    current = first_of(clock.utc_to_skopje(now).date())
    until = min(first_of(filters.until), current) if filters.until else current
    months = window(until)
    grants_query = _grants(session, actor, filters)
    grants = session.execute(grants_query.order_by(Municipality.name_mk, GrantAgreement.number)).all()
    ids = grants_query.with_only_columns(GrantAgreement.id).scalar_subquery()
    reports = {(agreement_id, month): (report_id, status, submitted, accepted, on_time) for report_id, agreement_id, month,
               status, submitted, accepted, on_time in session.execute(
                   sa.select(MonthlyReport.id, MonthlyReport.agreement_id, MonthlyReport.month, MonthlyReport.status,
                             MonthlyReport.first_submitted_at, MonthlyReport.accepted_version,
                             MonthlyReport.submitted_on_time)
                   .where(MonthlyReport.agreement_id.in_(ids), MonthlyReport.month >= months[0],
                          MonthlyReport.month < next_month(months[-1])))}
    from flask_babel import get_locale

    lang = str(get_locale() or "mk")
    pick = {"mk": 0, "sq": 1, "en": 2}.get(lang, 0)
    totals = [MonthTotal(m) for m in months]
    grant_rows: list[GrantRow] = []
    by_municipality: dict[int, MunicipalityRow] = {}
    for (agreement_id, number, provider, municipality_id, *names, start, end) in grants:
        municipality_name = names[pick] or names[0]
        region_name = names[3 + pick] or names[3]
        first, last = first_of(start), first_of(end)
        cells = []
        municipality = by_municipality.setdefault(municipality_id, MunicipalityRow(
            municipality_name, region_name, 0, [MonthTotal(m) for m in months]))
        municipality.grants += 1
        for index, month in enumerate(months):
            if not first <= month <= last:
                cells.append(Cell(None))
                continue
            report_id, status, submitted, accepted, on_time = reports.get((agreement_id, month), (None,) * 5)
            state = timeliness(programme, month, status, submitted, accepted is not None, now, on_time)
            cells.append(Cell(state, report_id))
            totals[index].counts[state] += 1
            municipality.cells[index].counts[state] += 1
        grant_rows.append(GrantRow(agreement_id, number, provider, municipality_name, region_name, cells))
    return Completeness(months=months, grant_rows=grant_rows,
                        municipality_rows=sorted(by_municipality.values(), key=lambda r: (r.region, r.municipality)),
                        totals=totals)


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

