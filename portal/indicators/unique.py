"""People served since the start, counted as *different people* (issue 16): BEN_UNIQUE, measure "cumulative_unique".

Where a grant keeps a service-user register (at least one episode that is not withdrawn), its people are counted
**exactly**: the distinct person keys of its episodes (current version, withdrawn left out) whose service started
on or before the end of the month the value stands for. A person served under two grants, or in two services,
counts once in the total (and once in each service type, municipality or region where they were served: a
breakdown of different people need not add up to the total). *Of which women*: people whose episode says female.

Where a grant keeps no register, its people are **estimated** as BEN_CUM does: the new beneficiaries of each of its
accepted monthly reports since the start, added up.

A value is the exact part plus the estimated part; each observation says which (`method`): `exact` (every grant
behind it keeps a register), `estimated` (none does) or `mixed`. Places are the grant's municipality and region,
as for every indicator; the service type is the episode's (the report line's for an estimate).

Keys: a person is one key under one key version. After `flask register-rekey` every key is of the current version
(the command carries all of them forward), so distinct keys are distinct people; before it, a person entered under
two versions would count twice — run the command after changing the secret. Registers anonymised under the
retention rule keep one random key per episode, so a person with two episodes there counts twice (the figures of
grants ended more than five years ago).

Everything is counted in SQL: for each person (and category), the month their first episode started; then people
per category and first month, added up from the programme's start by `rollup.Cumulative` — one statement per
breakdown, whatever the size of the registers. `people_served` is the plain count (no estimate) for a caller that
only wants the registers (the bench)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.indicators import aggregate, rollup
from portal.indicators.aggregate import Row, Scope
from portal.models import (
    GrantAgreement,
    MonthlyReport,
    RegisterEpisode,
    RegisterEpisodeVersion,
    ReportServiceLine,
    ReportVersion,
    Sex,
)

CODE = "BEN_UNIQUE"
MEASURE = "cumulative_unique"
EXACT, ESTIMATED, MIXED = "exact", "estimated", "mixed"
METHODS = (EXACT, ESTIMATED, MIXED)
SETS = ("total", "service_type", "municipality", "region")


def _counted() -> sa.Select:
    """Each episode joined to its current version, withdrawn ones left out."""
    e, v = RegisterEpisode, RegisterEpisodeVersion
    return (sa.select(e.agreement_id).select_from(e)
            .join(v, sa.and_(v.episode_id == e.id, v.version == e.current_version))
            .where(v.withdrawn.is_(False)))


def register_grants() -> sa.Select:
    """The grants that keep a register: at least one episode counted."""
    return _counted().distinct()


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def exact_rows(session: Session, scope: Scope, sets: Sequence[str] = SETS) -> Iterator[Row]:
    """From the registers: per breakdown category and month, the people whose first episode (in that category)
    started that month — `people` and `women`."""
    v = RegisterEpisodeVersion
    base = _counted().where(v.start_date < _next_month(scope.last))
    base, municipality, region = aggregate._geography(base, scope, RegisterEpisode.agreement_id)
    if scope.service_type_id:
        base = base.where(v.service_type_id == scope.service_type_id)
    dimensions = {"service_type": v.service_type_id, "municipality": municipality, "region": region}
    first = sa.func.min(aggregate._index(v.start_date)).label("first_m")
    female = sa.func.max(sa.case((v.sex == Sex.FEMALE, 1), else_=0)).label("female")
    for s in sets:
        chosen = [] if s == "total" else [dimensions[s]]
        person = (base.with_only_columns(*[c.label("c") for c in chosen], RegisterEpisode.person_key, first, female,
                                         maintain_column_froms=True)
                  .group_by(*chosen, RegisterEpisode.person_key).subquery("person"))
        category = [person.c.c] if chosen else []
        query = (sa.select(*category, person.c.first_m, sa.func.count().label("people"),
                           sa.func.sum(person.c.female).label("women"))
                 .group_by(*category, person.c.first_m))
        for row in session.execute(query).mappings():
            yield Row(s, row["c"] if chosen else None, int(row["first_m"]),
                      {"people": int(row["people"]), "women": int(row["women"] or 0)})


def estimated_rows(session: Session, scope: Scope, sets: Sequence[str] = SETS) -> Iterator[Row]:
    """From the accepted monthly reports of the grants without a register: per category and month, the new
    beneficiaries (`people`) and the new women and girls (`women`) — BEN_CUM's months."""
    from portal.grants.services import terms_in_force

    terms = terms_in_force()
    line = ReportServiceLine
    month = aggregate._index(MonthlyReport.month)
    source = (sa.select(month).select_from(MonthlyReport)
              .join(ReportVersion, sa.and_(ReportVersion.report_id == MonthlyReport.id,
                                           ReportVersion.version == MonthlyReport.accepted_version))
              .join(terms, terms.c.agreement_id == MonthlyReport.agreement_id)
              .join(line, line.version_id == ReportVersion.id)
              .where(MonthlyReport.accepted_version.is_not(None), MonthlyReport.month <= scope.last,
                     MonthlyReport.agreement_id.not_in(register_grants())))
    source, municipality, region = aggregate._geography(source, scope, MonthlyReport.agreement_id)
    if scope.service_type_id:
        source = source.where(line.service_type_id == scope.service_type_id)
    dimensions = {"service_type": line.service_type_id, "municipality": municipality, "region": region}
    yield from aggregate.grouped(session, source, month, dimensions, sets,
                                 {"people": sa.func.sum(line.new_this_month), "women": sa.func.sum(line.new_female)})


def method_of(exact: Any, estimated: Any) -> str | None:
    """How a value was formed from its two parts (None for either: no grant behind it)."""
    if exact is None and estimated is None:
        return None
    if estimated is None:
        return EXACT
    return ESTIMATED if exact is None else MIXED


def people_served(session: Session, scope: Scope | None = None, *, until: date | None = None,
                  sets: Sequence[str] = ("total",)) -> dict[tuple[str, Any], dict[str, int]]:
    """The registers only: different people served from the start up to the end of the month `until` (default
    `scope.last`, else this month), per (dimension, category) — {"people": n, "women": n}. No estimate for grants
    without a register. The count the bench times at national scale."""
    if scope is None:
        from portal import clock

        scope = Scope(last=clock.utc_to_skopje(clock.now()).date().replace(day=1))
    if until is not None:
        scope = replace(scope, last=until.replace(day=1))
    out: dict[tuple[str, Any], dict[str, int]] = {}
    for row in exact_rows(session, scope, sets):
        tally = out.setdefault((row.dimension, row.category), {"people": 0, "women": 0})
        tally["people"] += row.values["people"]
        tally["women"] += row.values["women"]
    return out


def put(session: Session, ctx: Any, scope: Scope, periods: list[rollup.Period]) -> None:
    """BEN_UNIQUE's observations into `ctx` (portal.indicators.compute.Context), each labelled with its method."""
    if not ctx.filters.wants(CODE) or CODE not in ctx.allowed:
        return
    exact = rollup.Cumulative(rollup.Series.of(exact_rows(session, scope)), ("people", "women"))
    estimated = rollup.Cumulative(rollup.Series.of(estimated_rows(session, scope)), ("people", "women"))
    keys = set(exact.points) | set(estimated.points)

    def add(p: rollup.Period, dimension: str, category: Any, value: Any, method: str) -> None:
        before = len(ctx.out)
        ctx.put(CODE, p, dimension, category, value, p.evaluation)
        if len(ctx.out) > before:
            ctx.out[-1] = replace(ctx.out[-1], method=method)

    for p in periods:
        for key in keys:
            people = (exact.at(key, "people", p.evaluation), estimated.at(key, "people", p.evaluation))
            method = method_of(*people)
            if method is None:
                continue
            total = (people[0] or 0) + (people[1] or 0)
            add(p, key[0], key[1], total, method)
            if key[0] == "total":
                women = (exact.at(key, "women", p.evaluation) or 0) + (estimated.at(key, "women", p.evaluation) or 0)
                add(p, "sex", "female", women, method)
                add(p, "sex", "male", total - women, method)


def register_share(session: Session) -> tuple[int, int]:
    """(grants keeping a register, grants with a register or an accepted monthly report): how much of BEN_UNIQUE is
    exact, for the dashboard."""
    with_register = set(session.scalars(register_grants()))
    reporting = set(session.scalars(sa.select(MonthlyReport.agreement_id)
                                    .where(MonthlyReport.accepted_version.is_not(None)).distinct()))
    known = set(session.scalars(sa.select(GrantAgreement.id).where(GrantAgreement.id.in_(with_register | reporting))))
    return len(with_register & known), len(known)
