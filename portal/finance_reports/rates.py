"""The National Bank's daily middle rates, EUR → MKD (issue 18): the rate of a day, the indicative series loaded
with the reference data, and loading the official series from a CSV file (all or nothing).

The rate of a date is the rate published for that day; when there is none (a weekend, a holiday), the latest
earlier rate within `FALLBACK_DAYS` (7) days; beyond that the date has no rate and whatever needs it is refused
with a message naming the date. The programme's own rate (`ExchangeRate`, from a date on, for budgets and the
ledger) is a different thing and is not touched here."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import audit, clock
from portal.models import DailyRate

FALLBACK_DAYS = 7
RATE_PLACES = Decimal("0.0001")
MKD_PLACES = Decimal("0.01")
#: What a loaded rate may be (MKD per EUR): the denar has been pegged near 61.5 since 2002; anything outside this
#: band is a typing error (a rate per 100 EUR, a comma lost), refused with its line.
PLAUSIBLE = (Decimal("40"), Decimal("90"))
SEED_SOURCE = "indicative series (seed-reference); load the NBRM series with rates-load"
SEED_YEARS = (2025, 2026, 2027)
MAX_LINES = 20_000


class RateMissing(Exception):
    """No rate for `day` nor in the `FALLBACK_DAYS` days before it."""

    def __init__(self, day: date) -> None:
        super().__init__(day.isoformat())
        self.day = day

    @property
    def message(self) -> str:
        from portal.i18n import local_date

        return _("There is no NBRM exchange rate for %(day)s nor for the %(n)d days before it. The rates have to be "
                 "loaded (flask rates-load) before an amount of that date can be converted.",
                 day=local_date(self.day), n=FALLBACK_DAYS)


@dataclass(frozen=True)
class Rate:
    day: date  # the day the rate was published for (the date asked, or up to 7 days earlier)
    mkd_per_eur: Decimal


def rate_for(session: Session, day: date) -> Rate:
    """The rate of `day`: its own, else the latest of the 7 days before; `RateMissing` otherwise."""
    row = session.execute(sa.select(DailyRate.day, DailyRate.mkd_per_eur)
                          .where(DailyRate.day <= day, DailyRate.day >= day - timedelta(days=FALLBACK_DAYS))
                          .order_by(DailyRate.day.desc()).limit(1)).first()
    if row is None:
        raise RateMissing(day)
    return Rate(row.day, Decimal(row.mkd_per_eur).quantize(RATE_PLACES))


def rates_for(session: Session, days: set[date]) -> dict[date, Rate | None]:
    """The rate of each of `days` (None where there is none), read in one statement."""
    if not days:
        return {}
    rows = session.execute(sa.select(DailyRate.day, DailyRate.mkd_per_eur)
                           .where(DailyRate.day <= max(days), DailyRate.day >= min(days) - timedelta(days=FALLBACK_DAYS))
                           .order_by(DailyRate.day)).all()
    found: dict[date, Rate | None] = {}
    for day in days:
        best = None
        for row in rows:
            if row.day > day:
                break
            if row.day >= day - timedelta(days=FALLBACK_DAYS):
                best = Rate(row.day, Decimal(row.mkd_per_eur).quantize(RATE_PLACES))
        found[day] = best
    return found


def to_mkd(amount: Decimal, rate: Decimal) -> Decimal:
    """EUR × rate, to the deni (half up)."""
    return (amount * rate).quantize(MKD_PLACES, rounding=ROUND_HALF_UP)


# The indicative series --------------------------------------------------------------------------------

def indicative_rate(day: date) -> Decimal:
    """A plausible middle rate for a working day: 61.4950–61.7050, moving slowly (never the official figure)."""
    n = day.toordinal()
    wave = 0.06 * math.sin(n / 23.0) + 0.03 * math.sin(n / 5.3) + 0.01 * math.sin(n / 1.7)
    return (Decimal("61.6000") + Decimal(str(round(wave, 4)))).quantize(RATE_PLACES)


def seed_indicative(session: Session) -> int:
    """Insert the indicative rate of every working day of 2025–2027 that has no rate (idempotent; never overwrites a
    loaded rate). Weekends have none: their amounts take Friday's, as with the National Bank's own list."""
    first, last = date(SEED_YEARS[0], 1, 1), date(SEED_YEARS[-1], 12, 31)
    existing = set(session.scalars(sa.select(DailyRate.day).where(DailyRate.day.between(first, last))))
    rows, day, now = [], first, clock.now()
    while day <= last:
        if day.weekday() < 5 and day not in existing:
            rows.append({"day": day, "mkd_per_eur": indicative_rate(day), "source": SEED_SOURCE, "loaded_at": now})
        day += timedelta(days=1)
    if rows:
        session.execute(sa.insert(DailyRate), rows)
    return len(rows)


# Loading the official series ----------------------------------------------------------------------------

@dataclass
class LoadProblem:
    line: int
    column: str
    message: str


def parse_rates(text: str, source: str) -> tuple[dict[date, Decimal], list[LoadProblem]]:
    """Read `day,mkd_per_eur` lines (a header line is allowed; `;` or `,` between columns; a decimal comma when the
    separator is `;`). Every problem is listed with its line; nothing is kept unless there is none."""
    problems: list[LoadProblem] = []
    found: dict[date, Decimal] = {}
    first_line = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        if number > MAX_LINES:
            problems.append(LoadProblem(number, "", f"more than {MAX_LINES} lines"))
            break
        if not row or all(not cell.strip() for cell in row):
            continue
        if number == 1 and not row[0].strip()[:1].isdigit():
            continue  # the header
        if len(row) < 2:
            problems.append(LoadProblem(number, "", "expected two columns: day,mkd_per_eur"))
            continue
        try:
            day = date.fromisoformat(row[0].strip())
        except ValueError:
            problems.append(LoadProblem(number, "day", f"not a date YYYY-MM-DD: {row[0].strip()[:20]!r}"))
            day = None
        raw = row[1].strip().replace(" ", "")
        if delimiter == ";":
            raw = raw.replace(",", ".")
        try:
            rate = Decimal(raw)
            if not rate.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            problems.append(LoadProblem(number, "mkd_per_eur", f"not a number: {row[1].strip()[:20]!r}"))
            continue
        if rate != rate.quantize(RATE_PLACES):
            problems.append(LoadProblem(number, "mkd_per_eur", f"{raw}: at most 4 decimals"))
        elif not PLAUSIBLE[0] <= rate <= PLAUSIBLE[1]:
            problems.append(LoadProblem(number, "mkd_per_eur", f"{raw} MKD per EUR is outside "
                                                               f"{PLAUSIBLE[0]}–{PLAUSIBLE[1]}: check the file"))
        elif day is not None and day in found:
            problems.append(LoadProblem(number, "day", f"{day} appears twice"))
        elif day is not None:
            found[day] = rate.quantize(RATE_PLACES)
    if not found and not problems:
        problems.append(LoadProblem(0, "", "the file holds no rate"))
    return found, problems


def load(session: Session, text: str, source: str) -> tuple[int, int, list[LoadProblem]]:
    """Load the file's rates (new days added, existing days replaced), or nothing when any line is wrong. Submitted
    reports keep the rates they were submitted with. Audited (`exchange_rates.loaded`, by the command line)."""
    found, problems = parse_rates(text, source)
    if problems:
        return 0, 0, problems
    existing = {row.day: row for row in session.scalars(sa.select(DailyRate).where(DailyRate.day.in_(list(found))))}
    added = replaced = 0
    now = clock.now()
    for day, rate in sorted(found.items()):
        row = existing.get(day)
        if row is None:
            session.add(DailyRate(day=day, mkd_per_eur=rate, source=source[:120], loaded_at=now))
            added += 1
        elif row.mkd_per_eur != rate or row.source != source[:120]:
            row.mkd_per_eur, row.source, row.loaded_at = rate, source[:120], now
            replaced += 1
    session.flush()
    audit.record(session, None, "exchange_rates.loaded", object_type="daily_exchange_rate", object_id=None,
                 actor_email="command line", after={"source": source[:120], "from": min(found), "to": max(found),
                                                    "added": added, "replaced": replaced})
    return added, replaced, []
