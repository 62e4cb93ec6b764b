"""Indicator values, computed by SQL aggregation in the database — never by looping over reports in Python —
from the accepted version of each monthly report and from the ledger only.

Every indicator is computed for one or more kinds of period (month, quarter, half-year, year) in the same
statement, through `calendar_period`, which maps each month to the periods it belongs to. Two shapes:

- *stock* (BEN, HTE and their shares): for each grant, its latest accepted month within the period, added
  up over the grants — "people served (staff employed) in the latest reported month";
- *flow* (BEN_NEW, MUN, GRANTS, ONTIME): everything accepted (submitted, active) in the period;
- *cumulative* (COMMITTED, DISBURSED): ledger entries up to the end of the period.

The result is long format: one `Observation` per indicator, period and category of a disaggregation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.calls.services import get_programme
from portal.models import (
    CalendarPeriod,
    Call,
    EntryKind,
    GrantAgreement,
    HardToEmployCategory,
    Indicator,
    LedgerEntry,
    MonthlyReport,
    Municipality,
    Organisation,
    Region,
    ReportHireLine,
    ReportServiceLine,
    ReportVersion,
    ServiceType,
)
from portal.models.applications import application_service_type

PERIOD_TYPES = ("month", "quarter", "half", "year")
AGE_BANDS = (("age_0_17", "0-17"), ("age_18_64", "18-64"), ("age_65_79", "65-79"), ("age_80_plus", "80+"))
HUNDRED = Decimal("100")
FIRST_MONTH = date(2018, 9, 1)  # the loan's approval
ONE_DECIMAL = Decimal("0.1")


@dataclass
class Filters:
    period_types: tuple[str, ...] = ("quarter",)
    start: date | None = None  # first month (inclusive)
    end: date | None = None  # last month (inclusive)
    region_id: int | None = None
    municipality_id: int | None = None
    service_type_id: int | None = None
    codes: tuple[str, ...] | None = None  # indicator codes; None: all active

    def wants(self, code: str) -> bool:
        return self.codes is None or code in self.codes


@dataclass(frozen=True)
class Observation:
    indicator: str
    period_type: str
    period: str
    period_start: date
    period_end: date
    dimension: str  # "total" or a disaggregation
    category: str  # its code ("" for the total)
    label: str
    value: Decimal
    unit: str

    def as_dict(self) -> dict[str, Any]:
        return {"indicator": self.indicator, "period_type": self.period_type, "period": self.period,
                "period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
                "dimension": self.dimension, "category": self.category, "label": self.label,
                "value": float(self.value), "unit": self.unit}


def shaped(value: Any, unit: str) -> Decimal:
    """Cents for money, one decimal for a percentage, whole numbers otherwise."""
    number = Decimal(value)
    if unit == "eur":
        return number.quantize(Decimal("0.01"))
    if unit == "percent":
        return number.quantize(ONE_DECIMAL, ROUND_HALF_UP)
    return number.quantize(Decimal("1"))


@dataclass
class Context:
    filters: Filters
    periods: dict[tuple[str, str], tuple[date, date]] = field(default_factory=dict)
    labels: dict[str, dict[Any, tuple[str, str]]] = field(default_factory=dict)  # dimension → id → (code, label)
    out: list[Observation] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    allowed: dict[str, set[str]] = field(default_factory=dict)  # the disaggregations each indicator shows

    def add(self, code: str, period_type: str, key: str, dimension: str, category: Any, value: Any) -> None:
        if (period_type, key) not in self.periods or value is None or not self.filters.wants(code):
            return
        if dimension != "total" and dimension not in self.allowed.get(code, ()):
            return
        start, end = self.periods[(period_type, key)]
        if dimension == "total":
            cat, label = "", ""
        elif dimension in self.labels:
            cat, label = self.labels[dimension].get(category, (str(category), str(category)))
        else:
            cat, label = str(category), str(category)
        unit = self.units.get(code, "number")
        self.out.append(Observation(code, period_type, key, start, end, dimension, cat, label, shaped(value, unit), unit))


def parse_filters(args: Any, *, default_types: tuple[str, ...] = ("quarter",)) -> Filters:
    """Filters from a query string (downloads and the API share it). Refuses what it cannot read, naming the
    parameter and what it expects."""
    from flask_babel import gettext as _

    from portal.errors import ValidationFailed

    errors: dict[str, list[str]] = {}

    def number(name: str) -> int | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit() or int(raw) > 2**31 - 1:
            errors[name] = [_("%(name)s must be a whole number (an id).", name=name)]
            return None
        return int(raw)

    def month(name: str) -> date | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            year, m = (int(part) for part in raw.split("-"))
            if not 1900 <= year <= 2100:
                raise ValueError(raw)
            return date(year, m, 1)
        except ValueError:
            errors[name] = [_("%(name)s must be a month written YYYY-MM, for example 2026-10.", name=name)]
            return None

    raw_types = [t.strip() for t in (args.get("period_type") or "").split(",") if t.strip()]
    if any(t not in PERIOD_TYPES for t in raw_types):
        errors["period_type"] = [_("period_type is one or more of: %(types)s.", types=", ".join(PERIOD_TYPES))]
    codes = tuple(c.strip().upper() for c in (args.get("indicator") or "").split(",") if c.strip()) or None
    filters = Filters(period_types=tuple(raw_types) or default_types, start=month("from"), end=month("to"),
                      region_id=number("region"), municipality_id=number("municipality"),
                      service_type_id=number("service_type"), codes=codes)
    if filters.start and filters.end and filters.start > filters.end:
        errors["from"] = [_("from comes before to.")]
    if errors:
        raise ValidationFailed(_("Some parameters are not valid."), field_errors=errors)
    return filters


# The building blocks ------------------------------------------------------------------------------------

def _range(column, filters: Filters) -> list:
    conditions = []
    if filters.start:
        conditions.append(column >= filters.start)
    if filters.end:
        conditions.append(column <= filters.end)
    return conditions


def _geography(query: sa.Select, filters: Filters, agreement_id) -> tuple[sa.Select, Any, Any]:
    """Join the grant's municipality and region; apply the geographic and service-type filters."""
    local = sa.orm.aliased(Organisation)
    query = (query.join(GrantAgreement, GrantAgreement.id == agreement_id)
             .join(local, local.id == GrantAgreement.municipality_org_id)
             .join(Municipality, Municipality.id == local.municipality_id))
    if filters.region_id:
        query = query.where(Municipality.region_id == filters.region_id)
    if filters.municipality_id:
        query = query.where(Municipality.id == filters.municipality_id)
    return query, Municipality.id, Municipality.region_id


def _offers(filters: Filters, agreement_id) -> list:
    """Grants offering the filtered service type (for figures that are not per service type)."""
    if not filters.service_type_id:
        return []
    return [sa.exists().where(application_service_type.c.application_id == GrantAgreement.application_id,
                              application_service_type.c.service_type_id == filters.service_type_id)]


def accepted_reports(filters: Filters) -> sa.Subquery:
    """Every accepted report in the range: the grant, the month, the version that counts, municipality, region."""
    query = (sa.select(MonthlyReport.agreement_id, MonthlyReport.month, ReportVersion.id.label("version_id"))
             .join(ReportVersion, sa.and_(ReportVersion.report_id == MonthlyReport.id,
                                          ReportVersion.version == MonthlyReport.accepted_version))
             .where(MonthlyReport.accepted_version.is_not(None), *_range(MonthlyReport.month, filters)))
    query, municipality, region = _geography(query, filters, MonthlyReport.agreement_id)
    query = query.add_columns(municipality.label("municipality_id"), region.label("region_id"),
                              GrantAgreement.application_id.label("application_id"))
    return query.subquery("accepted")


def _periods(filters: Filters) -> sa.Select:
    cp = CalendarPeriod
    return sa.select(cp).where(cp.period_type.in_(filters.period_types), *_range(cp.month, filters))


def _latest(accepted: sa.Subquery, filters: Filters) -> sa.Subquery:
    """For each grant and period, the latest month it has an accepted report for."""
    cp = CalendarPeriod
    return (sa.select(accepted.c.agreement_id, cp.period_type, cp.period_key, sa.func.max(accepted.c.month).label("month"))
            .join(cp, cp.month == accepted.c.month)
            .where(cp.period_type.in_(filters.period_types))
            .group_by(accepted.c.agreement_id, cp.period_type, cp.period_key).subquery("latest"))


def _stock(accepted: sa.Subquery, latest: sa.Subquery, line, columns: list, dimension=None, where=(),
           outer: bool = False) -> sa.Select:
    """`outer`: a report without any line still counts (as 0), as for a grant without hard-to-employ staff."""
    group = [latest.c.period_type, latest.c.period_key] + ([dimension] if dimension is not None else [])
    return (sa.select(*group, *[sa.func.coalesce(sa.func.sum(c), 0) for c in columns]).select_from(latest)
            .join(accepted, sa.and_(accepted.c.agreement_id == latest.c.agreement_id, accepted.c.month == latest.c.month))
            .join(line, line.version_id == accepted.c.version_id, isouter=outer).where(*where).group_by(*group))


def _flow(accepted: sa.Subquery, filters: Filters, line, select_columns: list, dimension=None, where=()) -> sa.Select:
    cp = CalendarPeriod
    group = [cp.period_type, cp.period_key] + ([dimension] if dimension is not None else [])
    return (sa.select(*group, *select_columns).select_from(accepted).join(cp, cp.month == accepted.c.month)
            .join(line, line.version_id == accepted.c.version_id)
            .where(cp.period_type.in_(filters.period_types), *where).group_by(*group))


def _active_grants(filters: Filters) -> sa.Subquery:
    """Grants with money committed in the ledger (net of reversals), their term in force and place."""
    from portal.grants.services import terms_in_force

    terms = terms_in_force()
    committed = (sa.select(LedgerEntry.agreement_id).where(LedgerEntry.kind == EntryKind.COMMITMENT)
                 .group_by(LedgerEntry.agreement_id).having(sa.func.sum(LedgerEntry.amount_eur) > 0))
    query = sa.select(GrantAgreement.id.label("agreement_id"), terms.c.start_date, terms.c.end_date).select_from(terms)
    query, municipality, region = _geography(query, filters, terms.c.agreement_id)
    query = query.add_columns(municipality.label("municipality_id"), region.label("region_id"))
    return query.where(GrantAgreement.id.in_(committed), *_offers(filters, GrantAgreement.id)).subquery("grants")


def _first_service_type() -> sa.Subquery:
    """Each application's first service type (money counts under one, never twice)."""
    first = (sa.select(application_service_type.c.application_id, sa.func.min(ServiceType.sort_order).label("sort_order"))
             .join(ServiceType, ServiceType.id == application_service_type.c.service_type_id)
             .group_by(application_service_type.c.application_id).subquery())
    return (sa.select(first.c.application_id, ServiceType.id.label("service_type_id"))
            .join(ServiceType, ServiceType.sort_order == first.c.sort_order).subquery("main_service"))


# The indicators ---------------------------------------------------------------------------------------

def _beneficiaries(session: Session, ctx: Context, accepted: sa.Subquery, latest: sa.Subquery) -> None:
    filters = ctx.filters
    line = ReportServiceLine
    where = [line.service_type_id == filters.service_type_id] if filters.service_type_id else []
    wants_ben = filters.wants("BEN") or filters.wants("BEN_FEMALE")
    if wants_ben:
        columns = [line.total, line.female, line.male] + [getattr(line, c) for c, _b in AGE_BANDS] + [
            line.with_disability, line.without_disability]
        for ptype, key, total, female, male, *rest in session.execute(_stock(accepted, latest, line, columns, where=where)):
            ctx.add("BEN", ptype, key, "total", None, total)
            for code, value in (("female", female), ("male", male)):
                ctx.add("BEN", ptype, key, "sex", code, value)
            for (_column, band), value in zip(AGE_BANDS, rest[:4], strict=True):
                ctx.add("BEN", ptype, key, "age_band", band, value)
            ctx.add("BEN", ptype, key, "disability", "yes", rest[4])
            ctx.add("BEN", ptype, key, "disability", "no", rest[5])
            if total:
                ctx.add("BEN_FEMALE", ptype, key, "total", None, Decimal(female) * HUNDRED / Decimal(total))
        for dimension, column in (("service_type", line.service_type_id), ("municipality", accepted.c.municipality_id),
                                  ("region", accepted.c.region_id)):
            for ptype, key, category, total, female in session.execute(
                    _stock(accepted, latest, line, [line.total, line.female], column, where)):
                ctx.add("BEN", ptype, key, dimension, category, total)
                if dimension != "service_type" and total:
                    ctx.add("BEN_FEMALE", ptype, key, dimension, category, Decimal(female) * HUNDRED / Decimal(total))
    if filters.wants("BEN_NEW"):
        for dimension, column in (("total", None), ("service_type", line.service_type_id),
                                  ("municipality", accepted.c.municipality_id), ("region", accepted.c.region_id)):
            for ptype, key, *row in session.execute(
                    _flow(accepted, filters, line, [sa.func.sum(line.new_this_month)], column, where)):
                ctx.add("BEN_NEW", ptype, key, dimension, row[0] if column is not None else None, row[-1])
    if filters.wants("MUN"):
        operating = [line.total > 0, *where]
        for dimension, column in (("total", None), ("region", accepted.c.region_id),
                                  ("service_type", line.service_type_id)):
            for ptype, key, *row in session.execute(_flow(
                    accepted, filters, line, [sa.func.count(sa.distinct(accepted.c.municipality_id))], column, operating)):
                ctx.add("MUN", ptype, key, dimension, row[0] if column is not None else None, row[-1])


def _staff(session: Session, ctx: Context, accepted: sa.Subquery, latest: sa.Subquery) -> None:
    filters = ctx.filters
    if not (filters.wants("HTE") or filters.wants("HTE_FEMALE")):
        return
    line = ReportHireLine
    offers = []
    if filters.service_type_id:
        offers = [sa.exists().where(application_service_type.c.application_id == accepted.c.application_id,
                                    application_service_type.c.service_type_id == filters.service_type_id)]
    for dimension, column in (("total", None), ("hte_category", line.category_id),
                              ("municipality", accepted.c.municipality_id), ("region", accepted.c.region_id)):
        for ptype, key, *row in session.execute(_stock(accepted, latest, line, [line.total, line.female], column, offers,
                                                       outer=column is None)):
            category, total, female = (row[0], row[1], row[2]) if column is not None else (None, row[0], row[1])
            ctx.add("HTE", ptype, key, dimension, category, total)
            if dimension == "total":
                ctx.add("HTE", ptype, key, "sex", "female", female)
                ctx.add("HTE", ptype, key, "sex", "male", (total or 0) - (female or 0))
            if dimension in ("total", "municipality", "region") and total:
                ctx.add("HTE_FEMALE", ptype, key, dimension, category, Decimal(female) * HUNDRED / Decimal(total))


def _grants_and_timeliness(session: Session, ctx: Context, now: datetime) -> None:
    filters = ctx.filters
    cp = CalendarPeriod
    grants = _active_grants(filters)
    active = sa.and_(cp.month <= grants.c.end_date, cp.month_end >= grants.c.start_date,
                     cp.period_type.in_(filters.period_types), *_range(cp.month, filters))
    if filters.wants("GRANTS"):
        for dimension, column in (("total", None), ("region", grants.c.region_id),
                                  ("municipality", grants.c.municipality_id)):
            group = [cp.period_type, cp.period_key] + ([column] if column is not None else [])
            for ptype, key, *row in session.execute(
                    sa.select(*group, sa.func.count(sa.distinct(grants.c.agreement_id))).select_from(grants)
                    .join(cp, active).group_by(*group)):
                ctx.add("GRANTS", ptype, key, dimension, row[0] if column is not None else None, row[-1])
    if filters.wants("ONTIME"):
        last_due = _last_due_month(session, now)
        for dimension, column in (("total", None), ("region", grants.c.region_id)):
            group = [cp.period_type, cp.period_key] + ([column] if column is not None else [])
            due = {tuple(r[:-1]): r[-1] for r in session.execute(
                sa.select(*group, sa.func.count()).select_from(grants).join(cp, active).where(cp.month <= last_due)
                .group_by(*group))}
            on_time = {tuple(r[:-1]): r[-1] for r in session.execute(
                sa.select(*group, sa.func.count(MonthlyReport.id)).select_from(grants)
                .join(cp, active).join(MonthlyReport, sa.and_(MonthlyReport.agreement_id == grants.c.agreement_id,
                                                              MonthlyReport.month == cp.month))
                .where(cp.month <= last_due, MonthlyReport.submitted_on_time.is_(True)).group_by(*group))}
            for group_key, count in due.items():
                if count:
                    ctx.add("ONTIME", group_key[0], group_key[1], dimension, group_key[2] if column is not None else None,
                            Decimal(on_time.get(group_key, 0)) * HUNDRED / Decimal(count))


def _last_due_month(session: Session, now: datetime) -> date:
    """The latest month whose report's due date has passed."""
    from portal.reports.services import deadline, first_of

    programme = get_programme(session)
    month = first_of(clock.utc_to_skopje(now).date())
    while deadline(programme, month) > now:
        month = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    return month


def _money(session: Session, ctx: Context) -> None:
    filters = ctx.filters
    wanted = [c for c in ("COMMITTED", "COMMITTED_PCT", "DISBURSED", "DISBURSED_PCT") if filters.wants(c)]
    if not wanted:
        return
    cp = CalendarPeriod
    periods = (sa.select(cp.period_type, cp.period_key, sa.func.max(cp.period_end).label("period_end"))
               .where(cp.period_type.in_(filters.period_types), *_range(cp.month, filters))
               .group_by(cp.period_type, cp.period_key).subquery("periods"))
    main_service = _first_service_type()
    envelope = get_programme(session).envelope_eur
    for dimension, pick in (("total", None), ("call", "call"), ("municipality", "municipality"), ("region", "region"),
                            ("service_type", "service_type")):
        query = sa.select(periods.c.period_type, periods.c.period_key).select_from(periods).join(
            LedgerEntry, LedgerEntry.entry_date <= periods.c.period_end)
        query, municipality, region = _geography(query, filters, LedgerEntry.agreement_id)
        column = {"call": LedgerEntry.call_id, "municipality": municipality, "region": region}.get(pick)
        if pick == "service_type":
            query = query.outerjoin(main_service, main_service.c.application_id == GrantAgreement.application_id)
            column = main_service.c.service_type_id
        group = [periods.c.period_type, periods.c.period_key] + ([column] if column is not None else [])
        query = query.where(*_offers(filters, GrantAgreement.id)).add_columns(
            *([column] if column is not None else []), LedgerEntry.kind, sa.func.sum(LedgerEntry.amount_eur)).group_by(
            *group, LedgerEntry.kind)
        for ptype, key, *row in session.execute(query):
            category = row[0] if column is not None else None
            kind, amount = row[-2], row[-1]
            code = "COMMITTED" if kind == EntryKind.COMMITMENT else "DISBURSED"
            if filters.wants(code):
                ctx.add(code, ptype, key, dimension, category, amount)
            if dimension == "total" and filters.wants(f"{code}_PCT") and envelope:
                ctx.add(f"{code}_PCT", ptype, key, "total", None, Decimal(amount) * HUNDRED / envelope)


# Putting it together -----------------------------------------------------------------------------------

def _labels(session: Session) -> dict[str, dict[Any, tuple[str, str]]]:
    return {
        "service_type": {t.id: (t.code, t.name()) for t in session.scalars(sa.select(ServiceType))},
        "municipality": {m.id: (m.code, m.name()) for m in session.scalars(sa.select(Municipality))},
        "region": {r.id: (str(r.code), r.name()) for r in session.scalars(sa.select(Region))},
        "hte_category": {c.id: (c.code, c.name()) for c in session.scalars(sa.select(HardToEmployCategory))},
        "call": {c.id: (c.reference, c.reference) for c in session.scalars(sa.select(Call))},
    }


def labels_by_code(session: Session, dimensions: tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
    """Category code → label in the user's language, for the dimensions asked for (all by default)."""
    wanted = set(dimensions) if dimensions is not None else None
    out: dict[str, dict[str, str]] = {}
    sources = {"service_type": ServiceType, "municipality": Municipality, "region": Region,
               "hte_category": HardToEmployCategory, "call": Call}
    for dimension, model in sources.items():
        if wanted is not None and dimension not in wanted:
            continue
        if model is Call:
            out[dimension] = {c: c for c in session.scalars(sa.select(Call.reference))}
        elif model is Region:
            out[dimension] = {str(r.code): r.name() for r in session.scalars(sa.select(Region))}
        else:
            out[dimension] = {row.code: row.name() for row in session.scalars(sa.select(model))}
    return out


def compute(session: Session, filters: Filters, now: datetime | None = None) -> list[Observation]:
    """Every observation the filters ask for, in long format, sorted by indicator, period type and period."""
    now = now or clock.now()
    indicators = {i.code: i for i in session.scalars(sa.select(Indicator).where(Indicator.active.is_(True)))}
    codes = tuple(c for c in indicators if filters.wants(c))
    current = clock.utc_to_skopje(now).date().replace(day=1)
    end = min(filters.end, current) if filters.end else current  # no period after this month
    start = filters.start or FIRST_MONTH
    filters = Filters(**{**filters.__dict__, "codes": codes, "start": start, "end": end})
    ctx = Context(filters=filters, units={c: i.unit for c, i in indicators.items()}, labels=_labels(session),
                  allowed={c: set(i.disaggregations or ()) for c, i in indicators.items()})
    ctx.periods = {(p.period_type, p.period_key): (p.period_start, p.period_end)
                   for p in session.scalars(_periods(filters))}
    if codes:
        accepted = accepted_reports(filters)
        latest = _latest(accepted, filters)
        _beneficiaries(session, ctx, accepted, latest)
        _staff(session, ctx, accepted, latest)
        _grants_and_timeliness(session, ctx, now)
        _money(session, ctx)
    order = {c: i.sort_order for c, i in indicators.items()}
    type_order = {t: n for n, t in enumerate(PERIOD_TYPES)}
    dimension_order = {"total": 0}
    ctx.out.sort(key=lambda o: (order.get(o.indicator, 0), type_order.get(o.period_type, 9), o.period,
                                dimension_order.get(o.dimension, 1), o.dimension, o.label))
    return ctx.out
