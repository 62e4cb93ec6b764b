"""What the monitors look at: each indicator against its baseline and target, the series behind the charts,
the table by region and municipality, and the ISR layout of the XLSX — all from `compute`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from flask_babel import get_locale
from sqlalchemy.orm import Session

from portal import clock
from portal.indicators import snapshot
from portal.indicators.compute import Filters, Observation
from portal.models import Indicator, IndicatorRefresh

HUNDRED = Decimal("100")


def half_of(day: date) -> str:
    return f"{day.year}-H{1 if day.month <= 6 else 2}"


def previous_half(key: str) -> str:
    year, half = int(key[:4]), int(key[-1])
    return f"{year - 1}-H2" if half == 1 else f"{year}-H1"


@dataclass
class Status:
    indicator: Indicator
    current: Decimal | None
    current_date: date | None
    previous: Decimal | None
    previous_date: date | None
    target: Decimal | None
    target_label: str
    current_withheld: bool = False  # fewer than 5 people: not shown to this reader (portal.indicators.suppression)
    previous_withheld: bool = False

    @property
    def progress(self) -> int | None:
        """How far from the baseline to the target the current value has come, in whole per cent."""
        if self.current is None or self.target is None or self.target == self.indicator.baseline:
            return None
        share = (self.current - self.indicator.baseline) * HUNDRED / (self.target - self.indicator.baseline)
        return max(0, int(share.to_integral_value()))


@dataclass
class PlaceRow:
    label: str
    values: dict[str, Decimal | None] = field(default_factory=dict)
    withheld: set[str] = field(default_factory=set)  # indicator codes withheld (fewer than 5 people)


@dataclass
class Dashboard:
    statuses: list[Status]
    months: list[str]  # months with accepted reports
    series: dict[str, list[Decimal]]  # BEN, BEN_CUM, HTE, HTE_CUM → value per month (0 where none)
    money_months: list[str]
    money: dict[str, list[Decimal]]  # COMMITTED, DISBURSED → cumulative value per month
    by_region: list[PlaceRow]
    by_municipality: list[PlaceRow]
    current_half: str
    refreshed: IndicatorRefresh | None = None
    stale: bool = False
    data_version: int | None = None
    table_codes: tuple[str, ...] = ("BEN", "HTE", "GRANTS", "COMMITTED", "DISBURSED")
    # months of the beneficiaries' stock with grants carried or missing: (month, current, carried, missing)
    gaps: list[tuple[str, int, int, int]] = field(default_factory=list)
    exact: bool = True  # ministry staff: exact figures; others: small cells withheld
    # BEN_UNIQUE: (grants keeping a service-user register, grants with a register or an accepted report)
    register_share: tuple[int, int] = (0, 0)


def statuses(indicators: list[Indicator], observations: list[Observation], today: date) -> list[Status]:
    """The ISR view: baseline, the previous and the current half-year with their dates, the target."""
    totals = {(o.indicator, o.period): o for o in observations if o.dimension == "total" and o.period_type == "half"}
    current_key = half_of(today)
    out = []
    for indicator in indicators:
        current = totals.get((indicator.code, current_key))
        previous = totals.get((indicator.code, previous_half(current_key)))
        target = indicator.target_for(today.year)
        label = str(today.year)
        if target is None:
            target, label = indicator.end_target, (indicator.end_target_date.isoformat() if indicator.end_target_date else "")
        out.append(Status(indicator, current.value if current else None, _stands_for(current, today),
                          previous.value if previous else None, _stands_for(previous, today), target, label,
                          bool(current and current.suppressed), bool(previous and previous.suppressed)))
    return out


def _stands_for(observation: Observation | None, today: date) -> date | None:
    """The date a value stands for: the end of the month it was read at (a stock, a cumulative figure) or of the last
    month it adds up (a flow), never after today."""
    if observation is None:
        return None
    month = observation.as_of_month or observation.period_end.replace(day=1)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return min(following - timedelta(days=1), observation.period_end, today)


_CACHE: WeakKeyDictionary = WeakKeyDictionary()  # session factory (one database) → {key: Dashboard}
CACHE_SIZE = 16


def _cache() -> dict:
    from flask import current_app

    return _CACHE.setdefault(current_app.extensions["db_session_factory"], {})


def build(session: Session, now: datetime | None = None, *, exact: bool = True) -> Dashboard:
    """The dashboard, built once per snapshot, language, day and kind of reader (exact figures for the ministry,
    small cells withheld for the others) and then served from memory. Kept under the marker it is current for (data
    version and month): a request whose data version is known already (read with the signed-in user,
    `freshness.known`) and finds it kept sends no statement for it; otherwise the snapshot's state is read (one
    statement) and a stale snapshot's dashboard is found under its own marker."""
    from portal.indicators import freshness

    now = now or clock.now()
    today = clock.utc_to_skopje(now).date()
    cache = _cache()
    rest = (str(get_locale() or ""), today, exact)
    cached = cache.get((snapshot.marker(freshness.known(session), now), *rest))
    if cached is not None:
        return cached  # kept only from a snapshot current for that marker: not stale
    snap = snapshot.ensure(session, now)
    key = (snap.refresh.fingerprint, *rest)
    cached = cache.get(key)
    if cached is None:
        cached = _build(session, now, today, snap, exact)
        _detach(session, cached)
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[key] = replace(cached, stale=False)
    return replace(cached, stale=snap.stale)


def _detach(session: Session, kept: Dashboard) -> None:
    """What is kept for later requests leaves this request's session with its values loaded: a rollback later in
    this request (an error page) would otherwise expire them, and every later reader would meet a detached object
    with nothing loaded."""
    for obj in [status.indicator for status in kept.statuses] + [kept.refreshed]:
        if obj is not None and obj in session:
            session.expunge(obj)


def _build(session: Session, now: datetime, today: date, snap: snapshot.Snapshot, exact: bool = True) -> Dashboard:
    from portal.indicators import suppression, unique

    indicators = list(session.scalars(sa.select(Indicator).where(Indicator.active.is_(True)).order_by(Indicator.sort_order)))
    current = half_of(today)
    totals, _snap = suppression.read(session, Filters(period_types=("month", "half")), exact, now,
                                     dimensions=("total",), snap=snap)
    by_place, _snap = suppression.read(session, Filters(period_types=("half",)), exact, now,
                                       dimensions=("region", "municipality"), periods=(current,), snap=snap)
    observations = totals + by_place
    monthly: dict[str, dict[str, Decimal]] = defaultdict(dict)
    gaps = []
    places: dict[str, dict[str, PlaceRow]] = {"region": {}, "municipality": {}}
    for o in observations:
        if o.period_type == "month" and o.dimension == "total":
            monthly[o.indicator][o.period] = o.value
            if o.indicator == "BEN" and (o.grants_carried or o.grants_missing):
                gaps.append((o.period, o.grants_current or 0, o.grants_carried or 0, o.grants_missing or 0))
        elif o.period_type == "half" and o.period == current and o.dimension in places:
            row = places[o.dimension].setdefault(o.category, PlaceRow(o.label))
            row.values[o.indicator] = o.value
            if o.suppressed:
                row.withheld.add(o.indicator)
    months = sorted(set(monthly["BEN"]) | set(monthly["HTE"]))
    series = {code: [monthly[code].get(m, Decimal(0)) for m in months]  # None: withheld (fewer than 5 people)
              for code in ("BEN", "BEN_CUM", "HTE", "HTE_CUM")}
    money_months = sorted(set(monthly["COMMITTED"]) | set(monthly["DISBURSED"]))
    money = {code: [monthly[code].get(m, Decimal(0)) for m in money_months] for code in ("COMMITTED", "DISBURSED")}
    return Dashboard(statuses=statuses(indicators, observations, today), months=months, series=series,
                     money_months=money_months, money=money,
                     by_region=sorted(places["region"].values(), key=lambda r: r.label),
                     by_municipality=sorted(places["municipality"].values(), key=lambda r: r.label), current_half=current,
                     refreshed=snap.refresh, stale=snap.stale, data_version=snap.data_version,
                     gaps=sorted(gaps, reverse=True)[:12], exact=exact,
                     register_share=unique.register_share(session))
