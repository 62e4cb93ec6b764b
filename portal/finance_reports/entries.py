"""What a financial report's lines are made of (issue 18): the expenditure per month on staff lines, the date of
every other line's expense, and the denars of each at the National Bank's middle rate of its date.

- **Staff lines** (`BudgetCategory.STAFF`): one amount per month of the period; the line's total is their sum. An
  entry of a month is dated the month's last day (at most the period's end). A caller that gives a staff line's
  total only (no months at all) has it recorded against the period's last month.
- **Other lines**: one amount, dated the day of the expense (within the period; empty means the period's last day).
- **MKD**: each entry at the rate of its date (`rates.rate_for`: that day's, or the latest of the 7 days before),
  fixed on the entry when the version is submitted — a date with no rate refuses the submission, naming the date.
  Drafts show the rates as they stand (not fixed yet).

The routes and the services call these; the variance rule and the workflow stay in `services`."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.errors import ValidationFailed
from portal.finance_reports import rates
from portal.models import (
    BudgetCategory,
    BudgetLine,
    FinancialReport,
    FinancialReportEntry,
    FinancialReportLine,
    FinancialReportVersion,
)

ZERO = Decimal("0.00")


def is_staff(line: BudgetLine) -> bool:
    return line.category == BudgetCategory.STAFF


def months_of(report: FinancialReport) -> list[date]:
    """The first day of every month of the report's period."""
    result, month = [], report.period_start.replace(day=1)
    while month <= report.period_end:
        result.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return result


def month_end(report: FinancialReport, month: date) -> date:
    """The date of a staff month's entry: the month's last day, at most the period's end."""
    return min(month.replace(day=calendar.monthrange(month.year, month.month)[1]), report.period_end)


def month_key(month: date) -> str:
    return f"{month:%Y-%m}"


def parse_date(raw: Any) -> date | None | str:
    """A typed date (YYYY-MM-DD, or a date from a spreadsheet): the date, None when empty, or the message."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()[:40]
    try:
        if len(text) > 10 and text[10] not in " T":
            raise ValueError(text)
        return date.fromisoformat(text[:10])
    except ValueError:
        return _("Enter the date of the expense as YYYY-MM-DD, for example 2026-03-15.")


@dataclass
class Plan:
    """The entries a save writes: per budget line, (month or None, entry date, amount)."""

    rows: dict[int, list[tuple[date | None, date, Decimal]]] = field(default_factory=dict)


def parsed(report: FinancialReport, data: Any, lines: list[BudgetLine]) -> tuple[dict[int, Decimal], Decimal, Decimal, Plan]:
    """Every typed value checked in one pass (amounts, months, dates): the line totals, the co-financing and the
    entries to write; `ValidationFailed` with every field's message otherwise."""
    from dataclasses import replace

    from portal.finance_reports import services

    errors: dict[str, list[str]] = {}
    plan = Plan()
    spent_typed = dict(data.spent)
    months = months_of(report)
    for line in lines:
        if is_staff(line) and data.months.get(line.id) is not None:
            typed = data.months[line.id]
            total, rows, ok = ZERO, [], True
            for month in months:
                amount = services.parse_amount(typed.get(month, ""))
                if isinstance(amount, Decimal):
                    total += amount
                    rows.append((month, month_end(report, month), amount))
                else:
                    errors[f"month-{line.id}-{month_key(month)}"] = [amount]
                    ok = False
            if ok and total > services.MAX_EUR:
                errors[f"line-{line.id}"] = [_("Enter an amount in euro, for example 1250.50.")]
            spent_typed[line.id] = total if ok else ZERO
            plan.rows[line.id] = rows
        elif is_staff(line):
            plan.rows[line.id] = [(months[-1], month_end(report, months[-1]), None)]  # the total, below
        else:
            day = parse_date(data.dates.get(line.id))
            if isinstance(day, str):
                errors[f"date-{line.id}"] = [day]
                day = report.period_end
            elif day is None:
                day = report.period_end
            elif not report.period_start <= day <= report.period_end:
                from portal.i18n import local_date

                errors[f"date-{line.id}"] = [_(
                    "The date of the expense has to lie within the period (%(start)s – %(end)s).",
                    start=local_date(report.period_start), end=local_date(report.period_end))]
            plan.rows[line.id] = [(None, day, None)]
    try:
        spent, municipality, other = services._parsed(replace(data, spent=spent_typed), lines)
    except ValidationFailed as exc:
        for key, messages in exc.field_errors.items():
            errors.setdefault(key, []).extend(messages)
        spent, municipality, other = {}, ZERO, ZERO
    if errors:
        raise ValidationFailed(field_errors=errors)
    for line_id, rows in plan.rows.items():
        plan.rows[line_id] = [(m, d, spent[line_id] if amount is None else amount) for m, d, amount in rows]
    return spent, municipality, other, plan


def write(version: FinancialReportVersion, plan: Plan) -> None:
    """Make each line's entries those of the plan (a draft's entries are edited in place; rates stay unfixed)."""
    for line in version.lines:
        rows = plan.rows.get(line.budget_line_id)
        if rows is None:
            continue
        by_date = {entry.entry_date: entry for entry in line.entries}
        kept = []
        for month, day, amount in rows:
            entry = by_date.get(day) or FinancialReportEntry(entry_date=day)
            entry.month, entry.spent_eur, entry.rate_mkd, entry.rate_day = month, amount, None, None
            kept.append(entry)
        line.entries = kept


def summary(version: FinancialReportVersion) -> dict[str, Any]:
    """The entries as the audit trail records them: per budget line, date → amount."""
    return {"entries": {str(line.budget_line_id): {e.entry_date.isoformat(): str(e.spent_eur) for e in line.entries}
                        for line in version.lines if line.entries}}


def fill(data: Any, report: FinancialReport, version: FinancialReportVersion) -> Any:
    """The stored months and dates into the form's data."""
    lines = {line.budget_line_id: line for line in version.lines}
    for budget_line_id, line in lines.items():
        if is_staff(line.budget_line):
            data.months[budget_line_id] = {e.month: e.spent_eur for e in line.entries if e.month is not None}
        elif line.entries:
            data.dates[budget_line_id] = line.entries[0].entry_date.isoformat()
    return data


def ensure(report: FinancialReport, version: FinancialReportVersion) -> None:
    """Every line of a draft has its entries (lines written before entries existed get one, as the migration
    gave the submitted ones)."""
    last = months_of(report)[-1]
    for line in version.lines:
        if not line.entries:
            staff = is_staff(line.budget_line)
            line.entries = [FinancialReportEntry(month=last if staff else None, spent_eur=line.spent_eur,
                                                 entry_date=month_end(report, last) if staff else report.period_end)]


def fix_rates(session: Session, report: FinancialReport, version: FinancialReportVersion) -> None:
    """At submission, while the version is still a draft: the rate of each entry's date written on it (entries of
    0.00 need none). A date without a rate refuses the submission, naming the date and the field."""
    ensure(report, version)
    found = rates.rates_for(session, {e.entry_date for line in version.lines for e in line.entries if e.spent_eur})
    errors: dict[str, list[str]] = {}
    for line in version.lines:
        for entry in line.entries:
            rate = found.get(entry.entry_date) if entry.spent_eur else None
            if entry.spent_eur and rate is None:
                key = (f"month-{line.budget_line_id}-{month_key(entry.month)}" if entry.month is not None
                       else f"date-{line.budget_line_id}")
                errors.setdefault(key, []).append(rates.RateMissing(entry.entry_date).message)
            entry.rate_mkd, entry.rate_day = (rate.mkd_per_eur, rate.day) if rate else (None, None)
    if errors:
        raise ValidationFailed(field_errors=errors)
    from portal.finance_reports.services import _flush

    _flush(session)  # written while the version is a draft: past draft the database refuses any change


def copied(source: FinancialReportLine) -> list[FinancialReportEntry]:
    """A returned version's entries for its correction (the rates are fixed again at its submission)."""
    return [FinancialReportEntry(month=e.month, entry_date=e.entry_date, spent_eur=e.spent_eur) for e in source.entries]


# Reading: EUR and MKD per entry ----------------------------------------------------------------------------

@dataclass
class EntryRow:
    month: date | None
    day: date
    eur: Decimal
    rate: Decimal | None
    rate_day: date | None

    @property
    def mkd(self) -> Decimal | None:
        if not self.eur:
            return Decimal("0.00")
        return rates.to_mkd(self.eur, self.rate) if self.rate is not None else None


@dataclass
class LineRow:
    line: FinancialReportLine
    staff: bool
    entries: list[EntryRow]

    @property
    def eur(self) -> Decimal:
        return self.line.spent_eur

    @property
    def mkd(self) -> Decimal | None:
        values = [e.mkd for e in self.entries]
        if any(v is None for v in values) or (not values and self.line.spent_eur):
            return None
        return sum(values, Decimal("0.00"))


@dataclass
class MkdView:
    """A version's lines with their entries in EUR and MKD. `fixed`: the rates are those fixed at submission;
    otherwise the rates loaded now (a draft), to be fixed when it is submitted."""

    lines: list[LineRow]
    fixed: bool

    @property
    def mkd(self) -> Decimal | None:
        values = [line.mkd for line in self.lines]
        return None if any(v is None for v in values) else sum(values, Decimal("0.00"))


def view(session: Session, report: FinancialReport, version: FinancialReportVersion) -> MkdView:
    from portal.finance_reports.services import Status

    fixed = version.status != Status.DRAFT
    live = {} if fixed else rates.rates_for(session, {e.entry_date for line in version.lines for e in line.entries})
    result = []
    for line in version.lines:
        rows = []
        for e in line.entries:
            if fixed:
                rows.append(EntryRow(e.month, e.entry_date, e.spent_eur, e.rate_mkd, e.rate_day))
            else:
                rate = live.get(e.entry_date)
                rows.append(EntryRow(e.month, e.entry_date, e.spent_eur, rate.mkd_per_eur if rate else None,
                                     rate.day if rate else None))
        result.append(LineRow(line, is_staff(line.budget_line), rows))
    return MkdView(result, fixed)


def report_sheets(session: Session, report: FinancialReport, version: FinancialReportVersion) -> dict[str, Any]:
    """The report as downloads: every entry with its date, EUR, the rate and its day, and MKD; the totals."""
    from portal.finance_reports.services import line_label, reference, status_label
    from portal.i18n import local_datetime

    data = view(session, report, version)
    header = [_("Budget line"), _("Month"), _("Date of the entry"), _("Spent (EUR)"), _("Rate (MKD per EUR)"),
              _("Rate of the day"), _("Spent (MKD)")]
    rows: list[list[Any]] = []
    for line in data.lines:
        for e in line.entries:
            rows.append([line_label(line.line.budget_line), month_key(e.month) if e.month else "", e.day, e.eur,
                         e.rate if e.rate is not None else "", e.rate_day or "", e.mkd if e.mkd is not None else ""])
    rows.append([_("Total"), "", "", version.spent_eur, "", "", data.mkd if data.mkd is not None else ""])
    rate_note = (_("NBRM middle rate of each entry's date (or the latest of the 7 days before), fixed at submission")
                 if data.fixed else _("NBRM middle rates loaded as of %(when)s; fixed when the report is submitted",
                                      when=local_datetime(_now())))
    totals = [
        [_("Report"), reference(report), ""],
        [_("Version"), version.version, status_label(version.status)],
        [_("Spent (EUR)"), version.spent_eur, _("all lines of the version")],
        [_("Spent (MKD)"), data.mkd if data.mkd is not None else "", rate_note],
        [_("Received from the municipality"), version.cofinancing_municipality_eur, _("EUR, in the period")],
        [_("Received from others"), version.cofinancing_other_eur, _("EUR, in the period")],
    ]
    return {_("Entries"): (header, rows), _("Totals"): ([_("Figure"), _("Value"), _("Definition")], totals)}


def _now() -> datetime:
    from portal import clock

    return clock.now()
