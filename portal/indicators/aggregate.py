"""The aggregation statements behind every indicator: month-level figures, read from the database in a few
set-based statements — never by looping over reports in Python. `portal.indicators.rollup` turns them into
periods by each indicator's time rule.

The shape (one pass over the accepted reports):

1. `accepted`: each grant's accepted months, the version that counts, the grant's place and term, and — by a
   window function — the grant's *next* accepted month.
2. Each accepted month is expanded to the months it stands for: itself (offset 0) and, for a stock, the following
   months up to the carry window, the grant's next accepted month, the end of its term or the last month asked
   for, whichever comes first. Every (grant, month) pair then has exactly one source: its own report (current) or
   an earlier one (carried, with its distance in months).
3. One statement per kind of line (service lines, hard-to-employ lines) and one for the ledger sums everything
   by month with GROUPING SETS (total, per service type, municipality, region …) on PostgreSQL; SQLite, which has
   no GROUPING SETS, runs the same statement once per set.

Months are handled as indexes (year × 12 + month − 1) so that the carry is plain integer arithmetic on both
databases."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import (
    CalendarPeriod,
    EntryKind,
    GrantAgreement,
    LedgerEntry,
    MonthlyReport,
    Municipality,
    Organisation,
    ReportHireLine,
    ReportServiceLine,
    ReportVersion,
    ServiceType,
)
from portal.models.applications import application_service_type

AGE_COLUMNS = ("age_0_17", "age_18_64", "age_65_79", "age_80_plus")
NO_NEXT = 10**6  # a month index beyond any real one: the grant has no later accepted month


#: PostgreSQL settings for the aggregation statements only (set with SET LOCAL, put back afterwards):
#: - work_mem: the sorts of GROUPING SETS and of the window function stay in memory (4 MB spills ~16 MB to disk at
#:   national scale);
#: - enable_nestloop off: the planner underestimates the accepted reports joined with each agreement's newest terms
#:   (hundreds of rows expected, 110,000 found) and picks nested loops with one index probe per report; hash joins
#:   read each table once (about twice as fast at 2,000 grants × 60 months);
#: - jit off: compiling these one-off statements costs more than it saves.
PLANNER_SETTINGS = (("work_mem", "64MB"), ("enable_nestloop", "off"), ("jit", "off"))


@contextmanager
def planner_settings(session: Session) -> Iterator[None]:
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    for name, value in PLANNER_SETTINGS:
        session.execute(sa.text(f"SET LOCAL {name} = '{value}'"))
    try:
        yield
    finally:
        if session.in_transaction() and session.connection().connection.dbapi_connection.info.transaction_status == 2:
            for name, _value in PLANNER_SETTINGS:  # in an aborted transaction the rollback puts them back
                session.execute(sa.text(f"SET LOCAL {name} TO DEFAULT"))


def month_index(value: date) -> int:
    return value.year * 12 + value.month - 1


def month_of(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _index(column) -> Any:
    # Constants as literal SQL: PostgreSQL matches a grouped expression with the selected one only when both are
    # written the same, and two bound parameters never are.
    return (sa.cast(sa.extract("year", column), sa.Integer) * sa.literal_column("12")
            + sa.cast(sa.extract("month", column), sa.Integer) - sa.literal_column("1"))


@dataclass(frozen=True)
class Scope:
    """What the figures are narrowed to, and the last month they may stand for."""
    last: date
    region_id: int | None = None
    municipality_id: int | None = None
    service_type_id: int | None = None


@dataclass(frozen=True)
class Row:
    """One month-level result: the grouping set it belongs to ("total" or a dimension), the category (None for the
    total), the month index, and the aggregates by name."""
    dimension: str
    category: Any
    month: int
    values: dict[str, Any]


def _geography(query: sa.Select, scope: Scope, agreement_id) -> tuple[sa.Select, Any, Any]:
    local = sa.orm.aliased(Organisation)
    query = (query.join(GrantAgreement, GrantAgreement.id == agreement_id)
             .join(local, local.id == GrantAgreement.municipality_org_id)
             .join(Municipality, Municipality.id == local.municipality_id))
    if scope.region_id:
        query = query.where(Municipality.region_id == scope.region_id)
    if scope.municipality_id:
        query = query.where(Municipality.id == scope.municipality_id)
    return query, Municipality.id, Municipality.region_id


def _offers(scope: Scope, application_id) -> list:
    if not scope.service_type_id:
        return []
    return [sa.exists().where(application_service_type.c.application_id == application_id,
                              application_service_type.c.service_type_id == scope.service_type_id)]


def grouped(session: Session, source: sa.Select, month, dimensions: dict[str, Any], sets: Sequence[str],
            aggregates: dict[str, Any], extra_keys: dict[str, Any] | None = None) -> Iterator[Row]:
    """Run `source` grouped by month (and `extra_keys`) for each set: "total" or one of `dimensions` (a column, or a
    tuple of columns whose category is then a tuple).

    PostgreSQL: one statement with GROUPING SETS; other databases: one statement per set."""
    extra = extra_keys or {}
    keys = [month.label("m"), *[e.label(n) for n, e in extra.items()]]
    measures = [e.label(n) for n, e in aggregates.items()]
    wanted = [s for s in sets if s == "total" or s in dimensions]
    parts = {d: (list(c) if isinstance(c, tuple) else [c]) for d, c in dimensions.items() if d in wanted}
    names = {d: [f"d{n}_{i}" for i in range(len(cols))] for n, (d, cols) in enumerate(parts.items())}

    def category(row, dimension: str) -> Any:
        if dimension == "total":
            return None
        values = tuple(row[name] for name in names[dimension])
        return values if len(values) > 1 else values[0]

    def result(row, dimension: str) -> Row:
        return Row(dimension, category(row, dimension), row["m"], {n: row[n] for n in (*extra, *aggregates)})

    if session.get_bind().dialect.name == "postgresql":
        columns = [c for d in parts for c in parts[d]]
        labels = [name for d in parts for name in names[d]]
        flags = sa.func.grouping(*columns).label("g") if columns else sa.literal(0).label("g")
        base = [month, *extra.values()]
        group_sets = [sa.tuple_(*base, *(parts[s] if s != "total" else [])) for s in wanted]
        query = source.with_only_columns(*keys, *[c.label(n) for c, n in zip(columns, labels, strict=True)], flags,
                                         *measures, maintain_column_froms=True).group_by(sa.func.grouping_sets(*group_sets))
        by_flags = {}
        for s in wanted:
            grouped_by = parts[s] if s != "total" else []
            bits = 0
            for position, column in enumerate(columns):
                if not any(column is c for c in grouped_by):
                    bits |= 1 << (len(columns) - 1 - position)
            by_flags[bits] = s
        for row in session.connection().execute(query).mappings():
            yield result(row, by_flags[row["g"]])
        return
    for s in wanted:
        chosen = parts[s] if s != "total" else []
        labelled = [c.label(n) for c, n in zip(chosen, names.get(s, []), strict=True)]
        query = source.with_only_columns(*keys, *labelled, *measures, maintain_column_froms=True).group_by(
            month, *extra.values(), *chosen)
        for row in session.connection().execute(query).mappings():
            yield result(row, s)


def expanded(scope: Scope, carry: int) -> sa.Subquery:
    """Every (grant, month) a grant's accepted reports stand for, with the distance to the report's own month."""
    from portal.grants.services import terms_in_force

    terms = terms_in_force()
    m = _index(MonthlyReport.month)
    query = (sa.select(MonthlyReport.agreement_id, ReportVersion.id.label("version_id"), m.label("m"),
                       sa.func.lead(m).over(partition_by=MonthlyReport.agreement_id, order_by=MonthlyReport.month)
                       .label("next_m"), _index(terms.c.end_date).label("term_end_m"))
             .join(ReportVersion, sa.and_(ReportVersion.report_id == MonthlyReport.id,
                                          ReportVersion.version == MonthlyReport.accepted_version))
             .join(terms, terms.c.agreement_id == MonthlyReport.agreement_id)
             .where(MonthlyReport.accepted_version.is_not(None), MonthlyReport.month <= scope.last))
    query, municipality, region = _geography(query, scope, MonthlyReport.agreement_id)
    accepted = query.add_columns(municipality.label("municipality_id"), region.label("region_id"),
                                 GrantAgreement.application_id.label("application_id")).subquery("accepted")
    offsets = sa.union_all(*[sa.select(sa.literal(k, sa.Integer).label("k")) for k in range(max(carry, 1))]).subquery("offsets")
    target = accepted.c.m + offsets.c.k
    last = month_index(scope.last)
    return (sa.select(accepted, offsets.c.k, target.label("t")).select_from(accepted).join(offsets, sa.or_(
        offsets.c.k == 0,
        sa.and_(target < sa.func.coalesce(accepted.c.next_m, NO_NEXT), target <= accepted.c.term_end_m, target <= last),
    )).subquery("expanded"))


def _when(condition, value) -> Any:
    return sa.case((condition, value))


def _sum_when(condition, value) -> Any:
    return sa.func.sum(_when(condition, value))


def grant_months(session: Session, scope: Scope, carry: dict[str, int], sets: Sequence[str]) -> Iterator[Row]:
    """Per month: the grants behind each stock — reporting that month (current) or carried from an earlier one
    within each stock's window. One row per (grant, month) in `expanded`, so plain sums count grants."""
    x = expanded(scope, max(carry.values()))
    aggregates = {"current": sa.func.sum(_when(x.c.k == 0, 1))}
    for code, window in carry.items():
        aggregates[f"carried_{code}"] = sa.func.sum(_when(sa.and_(x.c.k > 0, x.c.k < window), 1))
    source = sa.select(x.c.t).select_from(x).where(*_offers(scope, x.c.application_id))
    yield from grouped(session, source, x.c.t, {"municipality": x.c.municipality_id, "region": x.c.region_id}, sets,
                       aggregates)


def service_months(session: Session, scope: Scope, carry: int, sets: Sequence[str]) -> Iterator[Row]:
    """Per month: the beneficiaries stock (BEN, by sex, age band, disability) and the new beneficiaries of the month
    (for BEN_NEW and BEN_CUM). The set "service_type+municipality" gives the municipalities operating (MUN)."""
    x = expanded(scope, carry)
    line = ReportServiceLine
    held, now = x.c.k < carry, x.c.k == 0
    aggregates: dict[str, Any] = {"total": _sum_when(held, line.total), "female": _sum_when(held, line.female),
                                  "male": _sum_when(held, line.male)}
    for column in AGE_COLUMNS:
        aggregates[column] = _sum_when(held, getattr(line, column))
    aggregates["with_disability"] = _sum_when(held, line.with_disability)
    aggregates["without_disability"] = _sum_when(held, line.without_disability)
    for column in ("new_this_month", "new_female", "new_male", *[f"new_{c}" for c in AGE_COLUMNS],
                   "new_with_disability", "new_without_disability"):
        aggregates[column] = _sum_when(now, getattr(line, column))
    source = sa.select(x.c.t).select_from(x).join(line, line.version_id == x.c.version_id)
    if scope.service_type_id:
        source = source.where(line.service_type_id == scope.service_type_id)
    dimensions = {"service_type": line.service_type_id, "municipality": x.c.municipality_id, "region": x.c.region_id,
                  "service_type+municipality": (line.service_type_id, x.c.municipality_id)}
    yield from grouped(session, source, x.c.t, dimensions, sets, aggregates)


def staff_months(session: Session, scope: Scope, carry: int, sets: Sequence[str]) -> Iterator[Row]:
    """Per month: hard-to-employ staff (HTE stock, women) and the newly hired of the month (HTE_NEW, HTE_CUM)."""
    x = expanded(scope, carry)
    line = ReportHireLine
    held, now = x.c.k < carry, x.c.k == 0
    aggregates = {"total": _sum_when(held, line.total), "female": _sum_when(held, line.female),
                  "new": _sum_when(now, line.new_this_month), "new_female": _sum_when(now, line.new_female)}
    source = (sa.select(x.c.t).select_from(x).join(line, line.version_id == x.c.version_id)
              .where(x.c.k < carry, *_offers(scope, x.c.application_id)))
    dimensions = {"hte_category": line.category_id, "municipality": x.c.municipality_id, "region": x.c.region_id}
    yield from grouped(session, source, x.c.t, dimensions, sets, aggregates)


def _main_service() -> sa.Subquery:
    """Each application's first service type (money counts under one, never twice)."""
    first = (sa.select(application_service_type.c.application_id, sa.func.min(ServiceType.sort_order).label("sort_order"))
             .join(ServiceType, ServiceType.id == application_service_type.c.service_type_id)
             .group_by(application_service_type.c.application_id).subquery())
    return (sa.select(first.c.application_id, ServiceType.id.label("service_type_id"))
            .join(ServiceType, ServiceType.sort_order == first.c.sort_order).subquery("main_service"))


def ledger_months(session: Session, scope: Scope, sets: Sequence[str]) -> Iterator[Row]:
    """Per month of entry and kind: commitments and payments (the rollup accumulates them)."""
    month = _index(LedgerEntry.entry_date)
    source = sa.select(month).select_from(LedgerEntry).where(LedgerEntry.entry_date < _next_month(scope.last))
    source, municipality, region = _geography(source, scope, LedgerEntry.agreement_id)
    main = _main_service()
    source = source.outerjoin(main, main.c.application_id == GrantAgreement.application_id).where(
        *_offers(scope, GrantAgreement.application_id))
    dimensions = {"call": LedgerEntry.call_id, "municipality": municipality, "region": region,
                  "service_type": main.c.service_type_id}
    yield from grouped(session, source, month, dimensions, sets, {"amount": sa.func.sum(LedgerEntry.amount_eur)},
                       extra_keys={"kind": LedgerEntry.kind})


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def active_grants(session: Session, scope: Scope, period_types: Sequence[str], first: date,
                  sets: Sequence[str]) -> Iterator[tuple[str, str, str, Any, int]]:
    """Grants with money committed (net of reversals) whose term covers at least one month of each period between
    `first` and the last month: (period type, period key, dimension, category, count). Month rows also give the
    grants a stock expects. Joined with whole periods (one row per period), so a plain count counts grants."""
    from portal.grants.services import terms_in_force

    terms = terms_in_force()
    committed = (sa.select(LedgerEntry.agreement_id).where(LedgerEntry.kind == EntryKind.COMMITMENT)
                 .group_by(LedgerEntry.agreement_id).having(sa.func.sum(LedgerEntry.amount_eur) > 0))
    cp = CalendarPeriod
    periods = (sa.select(cp.period_type, cp.period_key, sa.func.min(cp.month).label("first_month"),
                         sa.func.max(cp.month_end).label("last_day"))
               .where(cp.period_type.in_(period_types), cp.month >= first, cp.month <= scope.last)
               .group_by(cp.period_type, cp.period_key).subquery("periods"))
    source = (sa.select(periods.c.period_type).select_from(terms)
              .join(periods, sa.and_(periods.c.first_month <= terms.c.end_date, periods.c.last_day >= terms.c.start_date))
              .where(terms.c.agreement_id.in_(committed)))
    source, municipality, region = _geography(source, scope, terms.c.agreement_id)
    source = source.where(*_offers(scope, GrantAgreement.application_id))
    dimensions = {"municipality": municipality, "region": region}
    for row in grouped(session, source, periods.c.period_type, dimensions, sets, {"n": sa.func.count()},
                       extra_keys={"key": periods.c.period_key}):
        yield row.month, row.values["key"], row.dimension, row.category, row.values["n"]


def on_time_months(session: Session, scope: Scope, last_due: date, sets: Sequence[str]) -> Iterator[Row]:
    """Per month whose report is due: reports first submitted on time, of grants with money committed whose term
    covers the month (the denominator is `active_grants` by month)."""
    from portal.grants.services import terms_in_force

    terms = terms_in_force()
    committed = (sa.select(LedgerEntry.agreement_id).where(LedgerEntry.kind == EntryKind.COMMITMENT)
                 .group_by(LedgerEntry.agreement_id).having(sa.func.sum(LedgerEntry.amount_eur) > 0))
    month = _index(MonthlyReport.month)
    source = (sa.select(month).select_from(MonthlyReport)
              .join(terms, terms.c.agreement_id == MonthlyReport.agreement_id)
              .where(MonthlyReport.submitted_on_time.is_(True), MonthlyReport.month <= last_due,
                     MonthlyReport.month <= scope.last, month >= _index(terms.c.start_date),
                     MonthlyReport.month <= terms.c.end_date, MonthlyReport.agreement_id.in_(committed)))
    source, municipality, region = _geography(source, scope, MonthlyReport.agreement_id)
    source = source.where(*_offers(scope, GrantAgreement.application_id))
    yield from grouped(session, source, month, {"municipality": municipality, "region": region}, sets,
                       {"n": sa.func.count(MonthlyReport.id)})


def grievances(session: Session, scope: Scope, now: Any) -> Iterator[dict[str, Any]]:
    """The grievance cases as plain rows (a few hundred at most: their months are taken in Skopje time in Python):
    month index of receipt, place, category, whether sensitive, and whether acknowledgement and resolution were due
    by `now` and met on time. Nothing about the complainant."""
    from portal import clock
    from portal.models import Grievance

    query = sa.select(Grievance.received_at, Grievance.category, Grievance.sensitive, Grievance.acknowledged_at,
                      Grievance.acknowledge_due_at, Grievance.first_closed_at, Grievance.resolve_due_at,
                      Municipality.id, Municipality.region_id).join(Municipality,
                                                                    Municipality.id == Grievance.municipality_id)
    if scope.region_id:
        query = query.where(Municipality.region_id == scope.region_id)
    if scope.municipality_id:
        query = query.where(Municipality.id == scope.municipality_id)
    if scope.service_type_id:
        return  # a concern is not about a service type
    last = month_index(scope.last)
    for received, category, sensitive, acked, ack_due, closed, resolve_due, municipality, region in session.execute(query):
        month = month_index(clock.utc_to_skopje(received).date())
        if month > last:
            continue
        yield {"month": month, "category": getattr(category, "value", category), "sensitive": sensitive,
               "municipality": municipality, "region": region,
               "ack_due": acked is not None or ack_due <= now, "ack_on_time": acked is not None and acked <= ack_due,
               "resolve_due": closed is not None or resolve_due <= now,
               "resolved_on_time": closed is not None and closed <= resolve_due}
