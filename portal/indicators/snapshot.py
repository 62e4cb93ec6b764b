"""The indicator snapshot (an analytics table, as DHIS2 keeps one): `compute` runs every aggregation once and its
observations are stored; the dashboard, the downloads and the API read them back in a few milliseconds, however
many reports there are.

Each snapshot records the *data version* it was computed from (`portal.indicators.freshness`: a counter moved in
the same transaction as every change the indicators depend on) and the month (timeliness depends on the date).
A reader compares them with one primary-key read. A commit that moves the version is followed, in the same
request, by a refresh when the last one was quick (`AUTO_REFRESH_MS`); `flask --app wsgi refresh-indicators`
(cron) refreshes it otherwise. A reader refreshes it on the spot when it is missing, or stale and quick to redo,
and otherwise serves it with its time and version. Requests filtered by place or service type are computed live
(their figures are as of the request): the snapshot holds the national figures and their disaggregations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.indicators import freshness
from portal.indicators.compute import PERIOD_TYPES, Filters, Observation, compute, labels_by_code, shaped
from portal.models import (
    Indicator,
    IndicatorDataVersion,
    IndicatorRefresh,
    IndicatorValue,
)

AUTO_REFRESH_MS = 3000  # a stale snapshot that took less than this to compute is recomputed by the reader


def month_of(now: datetime | None = None) -> str:
    return clock.utc_to_skopje(now or clock.now()).date().replace(day=1).isoformat()


def marker(version: int, now: datetime | None = None) -> str:
    """What a snapshot is current for: the data version and the month."""
    return f"{version}|{month_of(now)}"


def fingerprint(session: Session, now: datetime | None = None) -> str:
    """The marker of the data as it is now: one primary-key read."""
    return marker(freshness.current(session), now)


def latest(session: Session) -> IndicatorRefresh | None:
    return session.scalar(sa.select(IndicatorRefresh).where(IndicatorRefresh.finished_at.is_not(None))
                          .order_by(IndicatorRefresh.id.desc()).limit(1))


def _state(session: Session) -> tuple[IndicatorRefresh | None, int]:
    """The newest snapshot and the current data version, in one statement."""
    version = (sa.select(IndicatorDataVersion.version).where(IndicatorDataVersion.id == freshness.ROW)
               .scalar_subquery())
    row = session.execute(sa.select(IndicatorRefresh, version).where(IndicatorRefresh.finished_at.is_not(None))
                          .order_by(IndicatorRefresh.id.desc()).limit(1)).first()
    if row is None:
        return None, freshness.current(session)
    return row[0], row[1] or 0


def _lock(session: Session) -> None:
    """One refresh at a time (PostgreSQL: a transaction-level advisory lock; SQLite serialises writers already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(816224601)"))


def refresh(session: Session, now: datetime | None = None, *, force: bool = False) -> IndicatorRefresh:
    """Compute every indicator for every kind of period and store the observations; commits."""
    now = now or clock.now()
    _lock(session)
    if force:
        # A forced recomputation (new code, a repair) is a new data version: every answer kept per version in any
        # worker — the dashboard, the API, the XLSX — is computed anew from it, not served from before.
        freshness.bump(session)
    version = freshness.current(session)
    mark = marker(version, now)
    current = latest(session)
    if current is not None and current.fingerprint == mark and not force:
        session.commit()
        return current
    started = time.perf_counter()
    run = IndicatorRefresh(fingerprint=mark, data_version=version, started_at=clock.now())
    session.add(run)
    session.flush()
    observations = compute(session, Filters(period_types=PERIOD_TYPES), now)
    # The small-cell suppression for readers outside the ministry, worked out once here over the whole snapshot and
    # stored as a flag per observation (`value` stays exact): readers then select it, never re-run the rule.
    from portal.indicators import suppression

    flags = [cell.suppressed for cell in suppression.apply(observations, suppression.municipality_regions(session))]
    if len(flags) != len(observations):  # `apply` keeps the input's order and length
        raise RuntimeError("suppression.apply changed the number of observations")
    rows = [{"refresh_id": run.id, "indicator": o.indicator, "period_type": o.period_type, "period": o.period,
             "period_start": o.period_start, "period_end": o.period_end, "dimension": o.dimension, "category": o.category,
             "value": o.value, "unit": o.unit, "as_of_month": o.as_of_month, "grants_current": o.grants_current,
             "grants_carried": o.grants_carried, "grants_missing": o.grants_missing, "method": o.method,
             "withheld": flag}
            for o, flag in zip(observations, flags, strict=True)]
    for first in range(0, len(rows), 5000):
        session.execute(sa.insert(IndicatorValue), rows[first:first + 5000])
    session.execute(sa.delete(IndicatorValue).where(IndicatorValue.refresh_id != run.id))
    session.execute(sa.delete(IndicatorRefresh).where(IndicatorRefresh.id != run.id))
    run.rows, run.finished_at = len(rows), clock.now()
    run.duration_ms = int((time.perf_counter() - started) * 1000)
    session.commit()
    return run


@dataclass
class Snapshot:
    refresh: IndicatorRefresh
    stale: bool

    @property
    def as_of(self) -> datetime:
        return self.refresh.finished_at or self.refresh.started_at

    @property
    def data_version(self) -> int | None:
        return self.refresh.data_version


def ensure(session: Session, now: datetime | None = None) -> Snapshot:
    """The snapshot to read: refreshed first when missing, or stale and quick to recompute. One statement when it
    is current."""
    current, version = _state(session)
    if current is None:
        return Snapshot(_refresh_for_reader(session, now), False)
    if current.fingerprint == marker(version, now):
        return Snapshot(current, False)
    if current.duration_ms < AUTO_REFRESH_MS:
        return Snapshot(_refresh_for_reader(session, now), False)
    return Snapshot(current, True)


def _refresh_for_reader(session: Session, now: datetime | None) -> IndicatorRefresh:
    """A reader's refresh: in the reader's session, or in a transaction of its own when the reader reads outside
    one (`portal.db.reads_only`)."""
    from portal.db import own_session

    own = own_session(session)
    if own is None:
        return refresh(session, now)
    with own:
        return refresh(own, now)


@dataclass
class AsOf:
    """What an answer says about its data: when it was computed, from which data version, and how."""
    data_as_of: datetime
    data_version: int | None
    source: str  # "snapshot" or "live"

    def as_dict(self) -> dict:
        return {"data_as_of": self.data_as_of.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
                "data_version": self.data_version, "source": self.source}


def as_of(session: Session, snap: Snapshot | None, now: datetime | None = None) -> AsOf:
    """A snapshot's computation time and version; for a live answer, now and the version read now."""
    if snap is not None:
        return AsOf(snap.as_of, snap.data_version, "snapshot")
    return AsOf(now or clock.now(), freshness.current(session), "live")


def live_only(filters: Filters) -> bool:
    """Filters by place or service type narrow every figure: those are computed live."""
    return bool(filters.region_id or filters.municipality_id or filters.service_type_id)


def _query(snap: Snapshot, filters: Filters, dimensions: tuple[str, ...] | None, periods: tuple[str, ...] | None,
           exact: bool = True):
    """The stored observations in `Observation`'s field order (without the label), the flag last. `exact` (ministry
    staff): the exact values and no flag; otherwise no value where the stored suppression flag is set, and the flag."""
    v = IndicatorValue
    value = v.value if exact else sa.case((v.withheld.is_(None), v.value)).label("value")
    flag = sa.null().label("withheld") if exact else v.withheld
    query = sa.select(v.indicator, v.period_type, v.period, v.period_start, v.period_end, v.dimension, v.category,
                      value, v.unit, v.as_of_month, v.grants_current, v.grants_carried, v.grants_missing, v.method,
                      flag).where(
        v.refresh_id == snap.refresh.id, v.period_type.in_(filters.period_types))
    if filters.codes:
        query = query.where(v.indicator.in_(filters.codes))
    if filters.start:
        query = query.where(v.period_end >= filters.start)
    if filters.end:
        query = query.where(v.period_start <= filters.end)
    if dimensions is not None:
        query = query.where(v.dimension.in_(dimensions))
    if periods is not None:
        query = query.where(v.period.in_(periods))
    return query.order_by(v.id)  # stored in `compute`'s order: indicator, kind of period, period, dimension


def rows(session: Session, filters: Filters, now: datetime | None = None, snap: Snapshot | None = None, *,
         exact: bool = True) -> Iterator[tuple]:
    """The observations as plain tuples (indicator, period type, period, start, end, dimension, category, value,
    unit, as-of month, grants current, carried, missing, method, suppression flag), streamed from the database
    cursor: what the CSV download writes without building objects. `exact`: as in `read`."""
    if live_only(filters):
        observations = compute(session, filters, now)
        if not exact:
            from portal.indicators import suppression

            observations = suppression.apply(observations, suppression.municipality_regions(session))
        for o in observations:
            yield (o.indicator, o.period_type, o.period, o.period_start, o.period_end, o.dimension, o.category, o.value,
                   o.unit, o.as_of_month, o.grants_current, o.grants_carried, o.grants_missing, o.method, o.suppressed)
        return
    snap = snap or ensure(session, now)
    active = sa.select(Indicator.code).where(Indicator.active.is_(True))
    query = _query(snap, filters, None, None, exact).where(IndicatorValue.indicator.in_(active))
    # Straight through the driver (no ORM rows): this is the whole cost of the download beyond the SQL itself.
    dialect = session.get_bind().dialect
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    if compiled.positiontup is not None:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = session.connection().exec_driver_sql(compiled.string, params)
    while batch := cursor.fetchmany(5000):
        yield from batch


def read(session: Session, filters: Filters, now: datetime | None = None, *,
         dimensions: tuple[str, ...] | None = None, periods: tuple[str, ...] | None = None,
         snap: Snapshot | None = None, exact: bool = True) -> tuple[list[Observation], Snapshot | None]:
    """The observations the filters ask for: from the snapshot, or computed live for filtered requests (exact: the
    live path leaves the rule to `suppression.read`). From the snapshot, `exact=False` gives what a reader outside
    the ministry sees: the flags stored at the refresh, no value where one is set (`_query`)."""
    if live_only(filters):
        if not exact:
            raise ValueError("live observations are withheld by suppression.read (it widens what the rule sees)")
        observations = compute(session, filters, now)
        if dimensions is not None:
            observations = [o for o in observations if o.dimension in dimensions]
        return observations, None
    snap = snap or ensure(session, now)
    query = _query(snap, filters, dimensions, periods, exact)
    active = set(session.scalars(sa.select(Indicator.code).where(Indicator.active.is_(True))))
    labels = labels_by_code(session, dimensions)
    out = [Observation(code, ptype, period, start, end, dimension, category,
                       labels.get(dimension, {}).get(category, category), None if value is None else shaped(value, unit), unit,
                       *rest)
           for code, ptype, period, start, end, dimension, category, value, unit, *rest
           in session.connection().execute(query)  # plain rows: no ORM row processing for 100,000 observations
           if code in active]
    return out, snap
