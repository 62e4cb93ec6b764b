"""Indicator values, computed by SQL aggregation in the database — never by looping over reports in Python —
from the accepted version of each monthly report and from the ledger only.

`portal.indicators.aggregate` reads month-level figures in a few set-based statements (one pass over the accepted
reports, GROUPING SETS on PostgreSQL); `portal.indicators.rollup` turns months into periods by each indicator's
measure (stock, flow, cumulative, ratio — one time rule for month, quarter, half-year and year). The result is long
format: one `Observation` per indicator, period and category of a disaggregation, with the month it stands for and,
for a stock, the grants current, carried and missing behind it."""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.calls.services import get_programme
from portal.indicators import aggregate, rollup, unique
from portal.labels import label
from portal.models import (
    CalendarPeriod,
    Call,
    EntryKind,
    GrievanceCategory,
    HardToEmployCategory,
    Indicator,
    Municipality,
    Region,
    ServiceType,
)

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
    value: Decimal | None  # None only when withheld from a reader (`suppressed`)
    unit: str
    as_of_month: date | None = None  # the month the value stands for
    grants_current: int | None = None  # a stock: grants reporting that month,
    grants_carried: int | None = None  # … carried from an earlier month within the window,
    grants_missing: int | None = None  # … active with nothing accepted within the window
    method: str | None = None  # BEN_UNIQUE: exact / estimated / mixed (portal.indicators.unique)
    suppressed: str | None = None  # small / secondary: value withheld from this reader (portal.indicators.suppression)

    def as_dict(self) -> dict[str, Any]:
        return {"indicator": self.indicator, "period_type": self.period_type, "period": self.period,
                "period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
                "dimension": self.dimension, "category": self.category, "label": self.label,
                "value": None if self.value is None else float(self.value), "unit": self.unit,
                "as_of_month": self.as_of_month.isoformat()[:7] if self.as_of_month else None,
                "grants_current": self.grants_current, "grants_carried": self.grants_carried,
                "grants_missing": self.grants_missing, "method": self.method, "suppressed": self.suppressed}


CENT, ONE = Decimal("0.01"), Decimal("1")


def shaped(value: Any, unit: str) -> Decimal:
    """Cents for money, one decimal for a percentage, whole numbers otherwise."""
    if unit == "number" and type(value) is int:
        return Decimal(value)
    number = Decimal(value)
    if unit == "eur":
        return number.quantize(CENT)
    if unit == "percent":
        return number.quantize(ONE_DECIMAL, ROUND_HALF_UP)
    return number.quantize(ONE)


@dataclass
class Context:
    filters: Filters
    periods: dict[tuple[str, str], tuple[date, date]] = field(default_factory=dict)
    labels: dict[str, dict[Any, tuple[str, str]]] = field(default_factory=dict)  # dimension → id → (code, label)
    out: list[Observation] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    allowed: dict[str, set[str]] = field(default_factory=dict)  # the disaggregations each indicator shows
    carry: dict[str, int] = field(default_factory=dict)  # a stock's carry window in months
    active: dict[tuple[str, Any], dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    behind: rollup.Series = field(default_factory=rollup.Series)  # grants current/carried per month

    def put(self, code: str, period: rollup.Period, dimension: str, category: Any, value: Any, as_of: int,
            counts: tuple = (None, None, None)) -> None:
        if value is None or code not in self.allowed:
            return
        self.add(code, period.period_type, period.key, dimension, category, value, _month_of(as_of), counts)

    def add(self, code: str, period_type: str, key: str, dimension: str, category: Any, value: Any,
            as_of: date | None = None, counts: tuple = (None, None, None)) -> None:
        span = self.periods.get((period_type, key))
        if span is None or value is None or not self.filters.wants(code):
            return
        if dimension != "total" and dimension not in self.allowed.get(code, ()):
            return
        start, end = span
        if dimension == "total":
            cat, label = "", ""
        elif dimension in self.labels:
            cat, label = self.labels[dimension].get(category) or (str(category), str(category))
        else:
            cat, label = str(category), str(category)
        unit = self.units.get(code, "number")
        self.out.append(Observation(code, period_type, key, start, end, dimension, cat, label, shaped(value, unit), unit,
                                    as_of, *counts))


@functools.lru_cache(maxsize=4096)
def _month_of(index: int) -> date:
    return aggregate.month_of(index)


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


def _periods(filters: Filters) -> sa.Select:
    """Each period of the kinds asked for that has at least one month in the range."""
    cp = CalendarPeriod
    query = (sa.select(cp.period_type, cp.period_key, cp.period_start, cp.period_end)
             .where(cp.period_type.in_(filters.period_types)).distinct())
    if filters.start:
        query = query.where(cp.month >= filters.start)
    if filters.end:
        query = query.where(cp.month <= filters.end)
    return query


# The indicators ---------------------------------------------------------------------------------------

STOCK_CODES = ("BEN", "HTE", "MUN")


def _counts(ctx: Context, code: str, dimension: str, category: Any, month: int) -> tuple:
    """(current, carried, missing) grants behind a stock: missing are the grants active that month (money committed,
    term covering it) with nothing accepted within the carry window. Known for the total and per place."""
    if dimension not in ("total", "municipality", "region"):
        return (None, None, None)
    values = ctx.behind.at((dimension, category), month) or {}
    current, carried = values.get("current") or 0, values.get(f"carried_{code}") or 0
    active = ctx.active.get((dimension, category), {}).get(month, 0)
    return (current, carried, max(active - current - carried, 0))


def _operating(series: rollup.Series, regions: dict[int, int]) -> dict[tuple[str, Any], dict[int, int]]:
    """MUN by month: municipalities whose beneficiaries' stock is above zero — in all, per region, per service type."""
    out: dict[tuple[str, Any], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for (dimension, category), months in series.months.items():
        for month, values in months.items():
            if not values.get("total"):
                continue
            if dimension == "municipality":
                out[("total", None)][month] += 1
                out[("region", regions.get(category))][month] += 1
            elif dimension == "service_type+municipality":
                out[("service_type", category[0])][month] += 1
    return out


def _people(session: Session, ctx: Context, scope: aggregate.Scope, periods: list[rollup.Period]) -> None:
    if not any(ctx.filters.wants(c) for c in ("BEN", "BEN_FEMALE", "BEN_NEW", "BEN_CUM", "MUN")):
        return
    sets = ("total", "service_type", "municipality", "region", "service_type+municipality")
    series = rollup.Series.of(aggregate.service_months(session, scope, ctx.carry.get("BEN", 3), sets))
    operating = _operating(series, dict(session.execute(sa.select(Municipality.id, Municipality.region_id)).all()))
    new_columns = ("new_this_month", "new_female", "new_male", *[f"new_{c}" for c, _b in AGE_BANDS],
                   "new_with_disability", "new_without_disability")
    cumulative = rollup.Cumulative(series, new_columns)
    keys = {k for k in series.keys() if k[0] != "service_type+municipality"} | {("total", None)}
    for p in periods:
        for key in keys:
            dimension, category = key
            v = series.at(key, p.evaluation)
            counts = _counts(ctx, "BEN", dimension, category, p.evaluation)
            if v is not None or any(counts[:3] if counts[0] is not None else ()):
                v = v or {}
                at = (p, dimension, category)
                ctx.put("BEN", *at, v.get("total") or 0, p.evaluation, counts)
                ctx.put("MUN", *at, operating.get(key, {}).get(p.evaluation, 0), p.evaluation, counts)
                if dimension in ("total", "municipality", "region"):
                    ctx.put("BEN_FEMALE", *at, rollup.share(v.get("female"), v.get("total")), p.evaluation, counts)
                if dimension == "total" and v:
                    for code, column in (("female", "female"), ("male", "male")):
                        ctx.put("BEN", p, "sex", code, v[column], p.evaluation)
                    for column, band in AGE_BANDS:
                        ctx.put("BEN", p, "age_band", band, v[column], p.evaluation)
                    ctx.put("BEN", p, "disability", "yes", v["with_disability"], p.evaluation)
                    ctx.put("BEN", p, "disability", "no", v["without_disability"], p.evaluation)
            for code, figure in (("BEN_NEW", lambda c, key=key, p=p: series.total(key, c, p.first, p.evaluation)),
                                 ("BEN_CUM", lambda c, key=key, p=p: cumulative.at(key, c, p.evaluation))):
                if not ctx.filters.wants(code):
                    continue
                total = figure("new_this_month")
                if total is None:
                    continue
                ctx.put(code, p, dimension, category, total, p.evaluation)
                if dimension == "total":
                    ctx.put(code, p, "sex", "female", figure("new_female"), p.evaluation)
                    ctx.put(code, p, "sex", "male", figure("new_male"), p.evaluation)
                    for column, band in AGE_BANDS:
                        ctx.put(code, p, "age_band", band, figure(f"new_{column}"), p.evaluation)
                    ctx.put(code, p, "disability", "yes", figure("new_with_disability"), p.evaluation)
                    ctx.put(code, p, "disability", "no", figure("new_without_disability"), p.evaluation)


def _staff(session: Session, ctx: Context, scope: aggregate.Scope, periods: list[rollup.Period]) -> None:
    if not any(ctx.filters.wants(c) for c in ("HTE", "HTE_FEMALE", "HTE_NEW", "HTE_CUM")):
        return
    sets = ("total", "hte_category", "municipality", "region")
    series = rollup.Series.of(aggregate.staff_months(session, scope, ctx.carry.get("HTE", 3), sets))
    cumulative = rollup.Cumulative(series, ("new", "new_female"))
    keys = set(series.keys()) | {("total", None)} | {k for k in ctx.behind.keys()}
    for p in periods:
        for key in keys:
            dimension, category = key
            v = series.at(key, p.evaluation)
            counts = _counts(ctx, "HTE", dimension, category, p.evaluation)
            if v is not None or any(counts[:3] if counts[0] is not None else ()):
                v = v or {}
                total, female = v.get("total") or 0, v.get("female") or 0
                ctx.put("HTE", p, dimension, category, total, p.evaluation, counts)
                if dimension == "total":
                    ctx.put("HTE", p, "sex", "female", female, p.evaluation)
                    ctx.put("HTE", p, "sex", "male", total - female, p.evaluation)
                if dimension in ("total", "municipality", "region"):
                    ctx.put("HTE_FEMALE", p, dimension, category, rollup.share(female, total), p.evaluation, counts)
            for code, new, women in (("HTE_NEW", series.total(key, "new", p.first, p.evaluation),
                                      series.total(key, "new_female", p.first, p.evaluation)),
                                     ("HTE_CUM", cumulative.at(key, "new", p.evaluation),
                                      cumulative.at(key, "new_female", p.evaluation))):
                if new is None:
                    continue
                ctx.put(code, p, dimension, category, new, p.evaluation)
                if dimension == "total":
                    ctx.put(code, p, "sex", "female", women or 0, p.evaluation)
                    ctx.put(code, p, "sex", "male", new - (women or 0), p.evaluation)


def _grants_and_timeliness(session: Session, ctx: Context, scope: aggregate.Scope, periods: list[rollup.Period],
                           now: datetime) -> None:
    """Active grants per period (GRANTS) and per month (the grants a stock expects), and timeliness (ONTIME)."""
    filters = ctx.filters
    types = tuple(dict.fromkeys((*filters.period_types, "month")))
    first = min((p.start for p in periods), default=filters.start or FIRST_MONTH)
    for ptype, key, dimension, category, count in aggregate.active_grants(
            session, scope, types, first, ("total", "municipality", "region")):
        if ptype == "month":
            year, month = (int(part) for part in key.split("-"))
            ctx.active[(dimension, category)][aggregate.month_index(date(year, month, 1))] = count
        if (ptype, key) in ctx.periods:
            ctx.add("GRANTS", ptype, key, dimension, category, count)
    if not filters.wants("ONTIME"):
        return
    last_due = _last_due_month(session, now)
    on_time = rollup.Series.of(aggregate.on_time_months(session, scope, last_due, ("total", "region")))
    due_until = aggregate.month_index(last_due)
    for p in periods:
        last = min(p.evaluation, due_until)
        for key, months in ctx.active.items():
            if key[0] not in ("total", "region"):
                continue
            due = sum(n for month, n in months.items() if p.first <= month <= last)
            if due:
                done = on_time.total(key, "n", p.first, last) or 0
                ctx.put("ONTIME", p, key[0], key[1], Decimal(done) * HUNDRED / Decimal(due), last)


def _grievances(session: Session, ctx: Context, scope: aggregate.Scope, periods: list[rollup.Period],
                now: datetime) -> None:
    """GRM_RECEIVED (flow) and the shares acknowledged and resolved on time (ratios, of the cases received in the
    period whose deadline has passed or that met it). Sensitive cases never appear by place or category, and count in
    the totals only when there are at least the mechanism's threshold of them (as on the grievance figures page)."""
    codes = ("GRM_RECEIVED", "GRM_ACK_ONTIME", "GRM_RESOLVED_ONTIME")
    if not any(ctx.filters.wants(c) for c in codes):
        return
    from portal.models import GrievanceSettings

    rows = list(aggregate.grievances(session, scope, now))
    threshold = session.scalar(sa.select(GrievanceSettings.sensitive_threshold).limit(1)) or 5  # read, never created
    sensitive_counted = sum(r["sensitive"] for r in rows) >= threshold
    months: dict[tuple[str, Any], dict[int, dict[str, int]]] = defaultdict(dict)
    for r in rows:
        if r["sensitive"] and not sensitive_counted:
            continue
        keys = [("total", None)] + ([] if r["sensitive"] else [
            ("municipality", r["municipality"]), ("region", r["region"]), ("grievance_category", r["category"])])
        for key in keys:
            tally = months[key].setdefault(r["month"], defaultdict(int))
            for name in ("ack_due", "ack_on_time", "resolve_due", "resolved_on_time"):
                tally[name] += r[name]
            tally["received"] += 1
    series = rollup.Series(months=months)
    for p in periods:
        for key in months:
            received = series.total(key, "received", p.first, p.evaluation)
            if received is None:
                continue
            ctx.put("GRM_RECEIVED", p, key[0], key[1], received, p.evaluation)
            for code, due, met in (("GRM_ACK_ONTIME", "ack_due", "ack_on_time"),
                                   ("GRM_RESOLVED_ONTIME", "resolve_due", "resolved_on_time")):
                ctx.put(code, p, key[0], key[1], rollup.share(series.total(key, met, p.first, p.evaluation),
                                                              series.total(key, due, p.first, p.evaluation)),
                        p.evaluation)


def _last_due_month(session: Session, now: datetime) -> date:
    """The latest month whose report's due date has passed."""
    from portal.reports.services import deadline, first_of

    programme = get_programme(session)
    month = first_of(clock.utc_to_skopje(now).date())
    while deadline(programme, month) > now:
        month = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    return month


def _money(session: Session, ctx: Context, scope: aggregate.Scope, periods: list[rollup.Period]) -> None:
    if not any(ctx.filters.wants(c) for c in ("COMMITTED", "COMMITTED_PCT", "DISBURSED", "DISBURSED_PCT")):
        return
    rows = list(aggregate.ledger_months(session, scope, ("total", "call", "municipality", "region", "service_type")))
    envelope = get_programme(session).envelope_eur
    for kind, code in ((EntryKind.COMMITMENT, "COMMITTED"), (EntryKind.DISBURSEMENT, "DISBURSED")):
        series = rollup.Series.of(rows, kind=kind)
        cumulative = rollup.Cumulative(series, ("amount",))
        for p in periods:
            for key in series.keys():
                amount = cumulative.at(key, "amount", p.evaluation)
                if amount is None:
                    continue
                ctx.put(code, p, key[0], key[1], amount, p.evaluation)
                if key[0] == "total" and envelope:
                    ctx.put(f"{code}_PCT", p, "total", None, Decimal(amount) * HUNDRED / envelope, p.evaluation)


# Putting it together -----------------------------------------------------------------------------------

def _labels(session: Session) -> dict[str, dict[Any, tuple[str, str]]]:
    return {
        "service_type": {t.id: (t.code, t.name()) for t in session.scalars(sa.select(ServiceType))},
        "municipality": {m.id: (m.code, m.name()) for m in session.scalars(sa.select(Municipality))},
        "region": {r.id: (str(r.code), r.name()) for r in session.scalars(sa.select(Region))},
        "hte_category": {c.id: (c.code, c.name()) for c in session.scalars(sa.select(HardToEmployCategory))},
        "call": {c.id: (c.reference, c.reference) for c in session.scalars(sa.select(Call))},
        "grievance_category": {c.value: (c.value, label(c.value, "grievance_category")) for c in GrievanceCategory},
    }


def labels_by_code(session: Session, dimensions: tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
    """Category code → label in the user's language, for the dimensions asked for (all by default)."""
    wanted = set(dimensions) if dimensions is not None else None
    out: dict[str, dict[str, str]] = {}
    sources = {"service_type": ServiceType, "municipality": Municipality, "region": Region,
               "hte_category": HardToEmployCategory, "call": Call}
    if wanted is None or "grievance_category" in wanted:
        out["grievance_category"] = {c.value: label(c.value, "grievance_category") for c in GrievanceCategory}
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
                  allowed={c: set(i.disaggregations or ()) for c, i in indicators.items()},
                  carry={c: max(1, i.carry_months or 1) for c, i in indicators.items()})
    found = session.execute(_periods(filters)).all()
    ctx.periods = {(ptype, key): (start, end_) for ptype, key, start, end_ in found}
    if codes:
        periods = rollup.periods_of(found, end)
        scope = aggregate.Scope(last=end, region_id=filters.region_id, municipality_id=filters.municipality_id,
                                service_type_id=filters.service_type_id)
        with aggregate.planner_settings(session):
            _grants_and_timeliness(session, ctx, scope, periods, now)
            if any(filters.wants(c) for c in ("BEN", "BEN_FEMALE", "MUN", "HTE", "HTE_FEMALE")):
                ctx.behind = rollup.Series.of(aggregate.grant_months(
                    session, scope, {"BEN": ctx.carry.get("BEN", 3), "HTE": ctx.carry.get("HTE", 3)},
                    ("total", "municipality", "region")))
            _people(session, ctx, scope, periods)
            unique.put(session, ctx, scope, periods)
            _staff(session, ctx, scope, periods)
            _money(session, ctx, scope, periods)
        _grievances(session, ctx, scope, periods, now)
    order = {c: i.sort_order for c, i in indicators.items()}
    type_order = {t: n for n, t in enumerate(PERIOD_TYPES)}
    dimension_order = {"total": 0}
    ctx.out.sort(key=lambda o: (order.get(o.indicator, 0), type_order.get(o.period_type, 9), o.period,
                                dimension_order.get(o.dimension, 1), o.dimension, o.label))
    return ctx.out
