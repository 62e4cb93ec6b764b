"""The Implementation Status and Results report (ISR) the World Bank's task team reads: per active indicator of the
catalogue, in its order, the baseline with its date, the previous and the current actual with the date each stands
for, the end target with its date, and the ministry's comment for the reporting period.

Periods are half-years by default (`2026-H2`), quarters and years on request. The *current actual* is the
indicator's national value (the total) for the chosen period and the *previous actual* its value for the period
before, of the same kind, both read from the indicator snapshot with the snapshot's *data as of*. Each is dated by
the month it stands for (`Observation.as_of_month`, the last day of that month) and never later than today.

Comments are versioned: saving adds a version (nothing is overwritten or deleted), the newest is shown, every
version stays readable. A form carries the version it was built from; if someone else saved since, nothing is
saved and the conflict shows their text. Administrators and reviewers write them (`access.can_comment_isr`);
everyone who sees the indicators reads them."""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session, selectinload

from portal import access, audit, clock
from portal.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from portal.i18n import LANGUAGE_NAMES, local_datetime
from portal.indicators import snapshot
from portal.indicators.compute import FIRST_MONTH, Filters, Observation
from portal.models import Indicator, IsrComment, User

KINDS = ("half", "quarter", "year")
MONTHS = {"half": 6, "quarter": 3, "year": 12}
PATTERNS = {"half": re.compile(r"(\d{4})-H([12])"), "quarter": re.compile(r"(\d{4})-Q([1-4])"),
            "year": re.compile(r"(\d{4})")}
MAX_BODY = 4000  # characters of one comment


# Periods -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    kind: str  # half, quarter, year
    year: int
    number: int  # 1 or 2 for a half-year, 1–4 for a quarter, 1 for a year

    @property
    def key(self) -> str:
        return {"half": f"{self.year}-H{self.number}", "quarter": f"{self.year}-Q{self.number}"}.get(self.kind,
                                                                                                   str(self.year))

    @property
    def start(self) -> date:
        return date(self.year, (self.number - 1) * MONTHS[self.kind] + 1, 1)

    @property
    def end(self) -> date:
        month = self.number * MONTHS[self.kind]
        return date(self.year, month, monthrange(self.year, month)[1])

    def previous(self) -> Period:
        if self.number > 1:
            return Period(self.kind, self.year, self.number - 1)
        return Period(self.kind, self.year - 1, 12 // MONTHS[self.kind])

    @classmethod
    def containing(cls, day: date, kind: str) -> Period:
        return cls(kind, day.year, (day.month - 1) // MONTHS[kind] + 1)


def parse(key: str | None) -> Period | None:
    """A period key (2026-H2, 2026-Q4, 2026) → the period, or None when it is none of them."""
    text = (key or "").strip()
    for kind, pattern in PATTERNS.items():
        match = pattern.fullmatch(text)
        if match and FIRST_MONTH.year <= int(match.group(1)) <= 2100:
            return Period(kind, int(match.group(1)), int(match.group(2)) if kind != "year" else 1)
    return None


def today(now: datetime | None = None) -> date:
    return clock.utc_to_skopje(now or clock.now()).date()


def choices(kind: str, now: datetime | None = None) -> list[Period]:
    """Every period of a kind from the loan's first month to the one running today, newest first."""
    first, last = Period.containing(FIRST_MONTH, kind), Period.containing(today(now), kind)
    out, period = [], last
    while period.start >= first.start:
        out.append(period)
        period = period.previous()
    return out


def pick(key: str | None, kind: str | None = None, now: datetime | None = None) -> Period:
    """The period a page asks for; without one, the latest of the kind (half-years by default) that has started.
    A key that is no period of the programme (malformed, before its first month, not started yet) is not found."""
    if key:
        period = parse(key)
        if period is None or period.start > today(now) or period.end < FIRST_MONTH:
            raise NotFound(_("There is no reporting period %(period)s: choose one from the list.", period=key[:20]))
        return period
    return Period.containing(today(now), kind if kind in KINDS else "half")


# The rows ----------------------------------------------------------------------------------------------

@dataclass
class Actual:
    """An indicator's value for one period: its number and the date it stands at (None: no value)."""
    period: Period
    value: Decimal | None = None
    dated: date | None = None
    grants_current: int | None = None
    grants_carried: int | None = None
    grants_missing: int | None = None


@dataclass
class Row:
    indicator: Indicator
    previous: Actual
    current: Actual
    comment: IsrComment | None  # the newest version for the period


@dataclass
class Isr:
    period: Period
    rows: list[Row]
    as_of: snapshot.AsOf
    stale: bool = False


def _month_end(day: date) -> date:
    return date(day.year, day.month, monthrange(day.year, day.month)[1])


def actual(period: Period, observation: Observation | None, on: date) -> Actual:
    """The value with its date: the last day of the month it stands for (the period's end until the observation
    says which month), never after `on` (today)."""
    if observation is None:
        return Actual(period)
    month = getattr(observation, "as_of_month", None)
    end = _month_end(month) if month else observation.period_end
    return Actual(period, observation.value, min(end, on), getattr(observation, "grants_current", None),
                  getattr(observation, "grants_carried", None), getattr(observation, "grants_missing", None))


def latest_comments(session: Session, period: Period) -> dict[int, IsrComment]:
    """Indicator id → the newest version of its comment for the period (versions run 1, 2, … with no gaps)."""
    newest = (sa.select(IsrComment.indicator_id, sa.func.max(IsrComment.version).label("version"))
              .where(IsrComment.period == period.key).group_by(IsrComment.indicator_id).subquery())
    query = (sa.select(IsrComment).join(newest, sa.and_(IsrComment.indicator_id == newest.c.indicator_id,
                                                        IsrComment.version == newest.c.version))
             .where(IsrComment.period == period.key).options(selectinload(IsrComment.created_by)))
    return {c.indicator_id: c for c in session.scalars(query)}


def active_indicators(session: Session) -> list[Indicator]:
    return list(session.scalars(sa.select(Indicator).where(Indicator.active.is_(True)).order_by(Indicator.sort_order,
                                                                                                Indicator.id)))


def build(session: Session, period: Period, now: datetime | None = None,
          indicators: list[Indicator] | None = None, exact: bool = True) -> Isr:
    """The ISR table for a period: every active indicator (or those given), with the snapshot's data as of. Not
    `exact` (a reader outside the ministry): small counts of people withheld (portal.indicators.suppression)."""
    from portal.indicators import suppression

    now = now or clock.now()
    on = today(now)
    indicators = active_indicators(session) if indicators is None else indicators
    previous = period.previous()
    codes = tuple(i.code for i in indicators)
    observations, snap = suppression.read(session, Filters(period_types=(period.kind,), codes=codes or None), exact,
                                          now, dimensions=("total",), periods=(period.key, previous.key))
    totals = {(o.indicator, o.period): o for o in observations if o.dimension == "total"}
    comments = latest_comments(session, period)
    rows = [Row(i, actual(previous, totals.get((i.code, previous.key)), on),
                actual(period, totals.get((i.code, period.key)), on), comments.get(i.id)) for i in indicators]
    return Isr(period, rows, snapshot.as_of(session, snap, now), bool(snap and snap.stale))


# Comments ----------------------------------------------------------------------------------------------

def commentable(session: Session, indicator_id: int) -> Indicator:
    """An active indicator of the catalogue (the ISR shows no other)."""
    indicator = session.get(Indicator, indicator_id)
    if indicator is None or not indicator.active:
        raise NotFound()
    return indicator


def versions(session: Session, indicator: Indicator, period: Period) -> list[IsrComment]:
    """Every version of the comment for the period, newest first."""
    return list(session.scalars(sa.select(IsrComment).where(IsrComment.indicator_id == indicator.id,
                                                            IsrComment.period == period.key)
                                .order_by(IsrComment.version.desc()).options(selectinload(IsrComment.created_by))))


def newest(session: Session, indicator: Indicator, period: Period) -> IsrComment | None:
    return session.scalar(sa.select(IsrComment).where(IsrComment.indicator_id == indicator.id,
                                                      IsrComment.period == period.key)
                          .order_by(IsrComment.version.desc()).limit(1))


def conflict_message(comment: IsrComment | None) -> str:
    if comment is None:  # the version the form carried is one that never existed
        return _("This comment changed while you were writing. Your text was not saved; it is still in the box below. "
                 "Save it again.")
    author = comment.created_by.full_name if comment.created_by else ""
    return _("Someone else saved this comment while you were writing: version %(v)d, by %(who)s on %(when)s, reads: "
             "“%(text)s”. Your text was not saved; it is still in the box below. Compare the two, then save yours "
             "if it is still needed.", v=comment.version, who=author, when=local_datetime(comment.created_at),
             text=comment.body)


def _summary(comment: IsrComment | None) -> dict | None:
    if comment is None:
        return None
    return {"version": comment.version, "body": comment.body, "language": comment.language}


def add_comment(session: Session, actor: User, indicator: Indicator, period: Period, body: str, language: str,
                expected_version: int | None) -> IsrComment | None:
    """Save the comment as a new version. `expected_version` is the version the form was built from (0 when there
    was none): if someone saved another since, `Conflict` carries their text and nothing is saved. Returns None
    when the text and language are those of the newest version (nothing to add)."""
    if not access.can_comment_isr(actor):
        raise NotAllowed()
    if not indicator.active:
        raise NotFound()
    text = (body or "").replace("\r\n", "\n").strip()
    errors: dict[str, list[str]] = {}
    if not text:
        errors["body"] = [_("Write the comment: an empty comment is not saved.")]
    elif len(text) > MAX_BODY:
        errors["body"] = [_("Write at most %(max)d characters (this text has %(n)d).", max=MAX_BODY, n=len(text))]
    if language not in LANGUAGE_NAMES:
        errors["language"] = [_("Choose the language the comment is written in.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    latest = newest(session, indicator, period)
    current = latest.version if latest is not None else 0
    if (expected_version if expected_version is not None else 0) != current:
        raise Conflict(conflict_message(latest))
    if latest is not None and latest.body == text and latest.language == language:
        return None
    comment = IsrComment(indicator_id=indicator.id, period=period.key, version=current + 1, body=text,
                         language=language, created_by_id=actor.id, created_at=clock.now())
    try:
        with session.begin_nested():  # two saves of the same version at once: the database keeps the first
            session.add(comment)
            session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(conflict_message(newest(session, indicator, period))) from None
    audit.record(session, actor, "isr_comment.added", comment, before=_summary(latest),
                 after={"indicator": indicator.code, "period": period.key, **(_summary(comment) or {})})
    return comment


# The downloads -----------------------------------------------------------------------------------------

CSV_COLUMNS = ("indicator", "indicator_name", "unit", "level", "baseline", "baseline_date", "previous_period",
               "previous_value", "previous_date", "current_period", "current_value", "current_date", "end_target",
               "end_target_date", "grants_current", "grants_carried", "grants_missing", "comment", "comment_version",
               "comment_language", "comment_saved_at", "data_as_of", "data_version")


def number(value: Decimal | None, unit: str) -> int | Decimal | None:
    """Numbers stay numbers in the files: whole for counts, exact decimals otherwise (cents, one decimal for a
    percentage; the XLSX writes them as numbers)."""
    if value is None:
        return None
    return int(value) if unit == "number" else value


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def table(isr: Isr) -> list[list]:
    """One list per indicator, in the order of `CSV_COLUMNS` (the XLSX sheet uses the same values)."""
    meta = isr.as_of.as_dict()
    out = []
    for row in isr.rows:
        i, previous, current, comment = row.indicator, row.previous, row.current, row.comment
        saved = comment.created_at.astimezone(UTC).replace(microsecond=0).isoformat() if comment else ""
        out.append([i.code, i.name(), i.unit, i.level.value, number(i.baseline, i.unit), _iso(i.baseline_date),
                    previous.period.key, number(previous.value, i.unit), _iso(previous.dated), current.period.key,
                    number(current.value, i.unit), _iso(current.dated), number(i.end_target, i.unit),
                    _iso(i.end_target_date), current.grants_current, current.grants_carried, current.grants_missing,
                    comment.body if comment else "", comment.version if comment else None,
                    comment.language if comment else "", saved.replace("+00:00", "Z"), meta["data_as_of"],
                    meta["data_version"]])
    return out


def headers() -> list[str]:
    """The XLSX column titles, in the reader's language."""
    return [_("Code"), _("Indicator"), _("Unit"), _("Level"), _("Baseline"), _("Baseline date"), _("Previous period"),
            _("Previous actual"), _("Previous actual date"), _("Current period"), _("Current actual"),
            _("Current actual date"), _("End target"), _("End target date"), _("Grants reporting in the month"),
            _("Grants carried from an earlier month"), _("Grants without a report"), _("Comment"),
            _("Comment version"), _("Comment language"), _("Comment saved (UTC)"), _("Indicator figures: data as of (UTC)"),
            _("Data version")]


def filename(isr: Isr, fmt: str) -> str:
    """The period and the data's time and version in the file's name."""
    stamp = isr.as_of.data_as_of.astimezone(UTC).strftime("%Y-%m-%dT%H%MZ")
    version = f"-v{isr.as_of.data_version}" if isr.as_of.data_version is not None else ""
    return f"ssip-isr-{isr.period.key}-data-as-of-{stamp}{version}.{fmt}"


def csv_bytes(isr: Isr) -> bytes:
    import csv
    import io

    from portal.exports import csv_value

    buffer = io.StringIO()
    buffer.write("\ufeff")  # a BOM: spreadsheet programs read Cyrillic correctly
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for values in table(isr):
        writer.writerow(["" if v is None else csv_value(v) for v in values])
    return buffer.getvalue().encode("utf-8")


def xlsx_bytes(isr: Isr) -> bytes:
    """The ISR sheet, then when the figures are from (the same *About these figures* sheet as the other download)."""
    import pandas as pd

    from portal.indicators import exports

    rows = [[float(v) if isinstance(v, Decimal) else v for v in values] for values in table(isr)]
    sheet = pd.DataFrame(rows, columns=headers(), dtype=object)
    meta = isr.as_of.as_dict()
    source = (_("The snapshot of every indicator, computed then from the accepted reports and the ledger.")
              if isr.as_of.source == "snapshot" else _("Computed when the file was downloaded."))
    about = pd.DataFrame([[_("Indicator figures: data as of (UTC)"), meta["data_as_of"]],
                          [_("Data version"), "" if meta["data_version"] is None else meta["data_version"]],
                          [_("How the figures were computed"), source], [_("Period"), isr.period.key]],
                         columns=[_("Item"), _("Value")])
    return exports.xlsx_bytes({_("ISR %(period)s", period=isr.period.key): sheet, _("About these figures"): about})
