"""A financial report from a spreadsheet (issue 18): the XLSX template of one grant's period (its approved budget
lines, a column per month for staff lines, the co-financing cells), pre-filled with the draft (or the returned
version), and its upload — read with the monthly reports' guarded reader (`portal.reports.xlsx_reader`: limits
checked while reading, formulas refused), checked in one pass with the rules of the form (amounts, months, dates,
the variance rule) and saved into the draft only when the whole file is valid. Otherwise nothing changes and every
problem is listed with its sheet, row and column. A submitted or accepted report is never changed from a file; a
returned one gets a new version (the returned one stays as it was).

Each column header ends with its key in brackets (`Потрошено (EUR) [spent_eur]`), so a file filled in any
language reads the same."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any, BinaryIO

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from portal import access, audit
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.exports import safe_cell
from portal.finance_reports import entries, services
from portal.models import BudgetLine, FinancialReport, GrantAgreement, User
from portal.reports import xlsx_reader
from portal.reports.bulk import Problem

KEY = re.compile(r"\[([a-z0-9_]+)\]\s*$")
INFORMATIONAL = {"label", "category", "approved", "allowed", "other"}
MAX_ERRORS = 500
EDITABLE = (services.Status.DRAFT, services.Status.RETURNED)


def _month_column(month: date) -> str:
    return f"m_{month:%Y_%m}"


def _line_columns(months: list[date]) -> list[tuple[str, str]]:
    return ([("line", _("No.")), ("label", _("Budget line")), ("category", _("Category")),
             ("approved", _("Approved (EUR)")), ("allowed", _("At most over all periods (EUR)")),
             ("other", _("Accepted in other periods (EUR)")), ("spent_eur", _("Spent in the period (EUR)")),
             ("entry_date", _("Date of the expense (YYYY-MM-DD)"))]
            + [(_month_column(m), _("%(month)s (EUR)", month=f"{m:%Y-%m}")) for m in months])


def _cofinancing_columns() -> list[tuple[str, str]]:
    return [("item", _("Item")), ("label", _("Co-financing received in the period")), ("amount_eur", _("Amount (EUR)"))]


COFINANCING = ("municipality", "other")


@dataclass
class Outcome:
    problems: list[Problem] = field(default_factory=list)
    report_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _period(agreement: GrantAgreement, number: int) -> services.Period:
    period = services.period_of(agreement, number)
    if period is None:
        raise InvalidTransition(_("This grant has no such reporting period."))
    return period


def _shape(agreement: GrantAgreement, period: services.Period) -> Any:
    """The period as the entry rules read it (the report itself, or its dates before it exists)."""
    return SimpleNamespace(id=0, agreement=agreement, agreement_id=agreement.id, period_number=period.number,
                                     period_start=period.start, period_end=period.end)


# The template ----------------------------------------------------------------------------------------------

def template(session: Session, actor: User, agreement: GrantAgreement, number: int) -> bytes:
    if not access.can_edit_financial_reports_of(actor, agreement):
        raise NotAllowed()
    period = _period(agreement, number)
    report = services.report_for(session, agreement.id, number)
    shape = report or _shape(agreement, period)
    months = entries.months_of(shape)
    source = report.newest if report is not None else None
    data = services.data_of(source) if source is not None else services.FigureData()
    pct = services.variance_pct(agreement)
    from portal.finance_reports.amendments import amounts_in_force

    approved = amounts_in_force(session, agreement)  # as awarded, or as the newest approved amendment says
    other = services.spent_in_other_periods(session, shape)
    workbook = Workbook()
    intro = workbook.active
    intro.title = "instructions"
    for text in (_("Financial report %(ref)s: %(start)s – %(end)s", ref=f"{agreement.number}/F{number}",
                   start=period.start.isoformat(), end=period.end.isoformat()), "",
                 _("1. Sheet lines: one row per approved budget line. For a staff line type what was spent in each month "
                   "of the period (the month columns; the line's total is their sum) and leave the spent and date cells "
                   "empty. For any other line type what was spent in the period and the date of the expense (within the "
                   "period; empty means the period's last day), and leave the month cells empty."),
                 _("2. Sheet cofinancing: the co-financing received in the period, from the municipality and from others."),
                 _("3. Amounts in euro with at most two decimals, never negative; an empty cell is 0. Type values, not "
                   "formulas. Do not rename the sheets or the columns."),
                 _("4. Over all periods a line may take at most its approved amount plus %(pct)s %% (the column At most). "
                   "Nothing is saved unless the whole file is valid; every problem is listed with its sheet, row and "
                   "column.", pct=str(pct)),
                 _("5. The file is saved into the draft of the report (a returned report gets a new version); you "
                   "submit it in the portal. Each amount is converted to MKD at the NBRM middle rate of its date.")):
        intro.append([text])
    intro.column_dimensions["A"].width = 120
    about = workbook.create_sheet("about")
    about.append([f"{_('Item')} [key]", f"{_('Value')} [value]"])
    about.append(["agreement", agreement.number])
    about.append(["period", number])
    lines_sheet = workbook.create_sheet("lines")
    cofinancing = workbook.create_sheet("cofinancing")
    for sheet, columns in ((lines_sheet, _line_columns(months)), (cofinancing, _cofinancing_columns()),
                           (about, None)):
        if columns:
            sheet.append([f"{label} [{key}]" for key, label in columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="E9EDF2")
        sheet.freeze_panes = "A2"
    from portal.applications.services import category_label

    for line in services.budget_lines(agreement):
        staff = entries.is_staff(line)
        row: list[Any] = [line.position + 1, safe_cell(line.description or category_label(line.category)),
                          category_label(line.category), approved[line.id],
                          services.line_limit(line, pct, approved[line.id]),
                          other.get(line.id, services.ZERO)]
        if staff:
            row += [None, None] + [data.months.get(line.id, {}).get(m, services.ZERO) if source else None
                                   for m in months]
        else:
            row += [data.spent.get(line.id) if source else None,
                    date.fromisoformat(data.dates[line.id]) if data.dates.get(line.id) else None]
        lines_sheet.append(row)
    for key, label, value in (("municipality", _("From the municipality"), data.cofinancing_municipality),
                              ("other", _("From others"), data.cofinancing_other)):
        cofinancing.append([key, label, value if source else None])
    for sheet in (lines_sheet, cofinancing, about):
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = TYPE_STRING
                elif isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"
        for index in range(1, sheet.max_column + 1):
            sheet.column_dimensions[get_column_letter(index)].width = 18
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# The upload ------------------------------------------------------------------------------------------------

class _Reader:
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.columns: dict[str, dict[str, str]] = {}

    def problem(self, sheet: str, row: int | None, key: str, message: str, structure: bool = False) -> None:
        letter = self.columns.get(sheet, {}).get(key, "")
        column = f"{letter} ({key})" if letter and key else (letter or key)
        self.outcome.problems.append(Problem(sheet, row, column, str(message), structure))


def _sheet(workbook: Any, name: str, expected: list[tuple[str, str]], reader: _Reader) -> list[dict[str, Any]]:
    """The sheet's rows as records keyed by column key (`_row`: the row number); structure problems listed."""
    keys: list[str] = []
    records: list[dict[str, Any]] = []
    known = {k for k, _label in expected}
    for number, cells in xlsx_reader.rows(workbook[name]):
        if number == 1:
            letters: dict[str, str] = {}
            for index, cell in enumerate(cells):
                letter, text = get_column_letter(index + 1), str(cell.value or "").strip()
                match = KEY.search(text)
                key = match.group(1) if match else ""
                if text and key not in known:
                    reader.problem(name, 1, letter, _("The column “%(header)s” is not part of the template. Remove it.",
                                                      header=text[:60]), True)
                    key = ""
                elif key in letters:
                    reader.problem(name, 1, letter, _("The column %(key)s appears twice.", key=key), True)
                    key = ""
                elif key:
                    letters[key] = letter
                keys.append(key)
            reader.columns[name] = letters
            for key, label in expected:
                if key not in letters and key not in INFORMATIONAL:
                    reader.problem(name, 1, "", _("The column “%(label)s [%(key)s]” is missing.", label=label, key=key),
                                   True)
            continue
        values = xlsx_reader.record(name, number, keys, cells, INFORMATIONAL, reader.problem)
        if values is not None:
            records.append(values)
    if not keys:
        reader.problem(name, 1, "", _("The sheet is empty: its first row must hold the column headers."), True)
    return records


def _amount(reader: _Reader, sheet: str, row: int, key: str, value: Any) -> Any:
    """A cell as the amount rules read it (bools and non-numbers as text, so the rule names them)."""
    if isinstance(value, bool):
        reader.problem(sheet, row, key, _("Enter an amount in euro, for example 1250.50."))
        return None
    if isinstance(value, float):
        return repr(value) if abs(value) < 1e15 else "x"  # 1250.5 → "1250.5"; huge or non-finite: refused below
    return value


def upload(session: Session, actor: User, agreement: GrantAgreement, number: int, stream: BinaryIO,
           filename: str = "") -> Outcome:
    """Check the whole file, then save it into the period's draft (starting it, or a new version of a returned
    report), or change nothing and list every problem."""
    if not access.can_edit_financial_reports_of(actor, agreement):
        raise NotAllowed()
    period = _period(agreement, number)
    outcome = Outcome()
    reader = _Reader(outcome)
    report = services.report_for(session, agreement.id, number)
    if report is not None and report.newest.status not in EDITABLE:
        reader.problem("", None, "", _("This financial report is %(status)s: it is not changed from a file.",
                                       status=services.status_label(report.status)), True)
        return outcome
    if report is None and period.start > services.today_in_skopje():
        reader.problem("", None, "", _("This reporting period has not begun yet."), True)
        return outcome
    records = _records(stream.read(), reader, entries.months_of(report or _shape(agreement, period)))
    if records is None:
        return outcome
    shape = report or _shape(agreement, period)
    data, where = _figures(agreement, shape, records, reader, report)
    # The rules of the form on every cell that could be read (a cell already named is not named again); the
    # variance rule once every amount is known.
    lines = services.budget_lines(agreement)
    try:
        spent, _m, _o, _plan = entries.parsed(shape, data, lines)
        errors = services.variance_errors(session, shape, spent) if outcome.ok else {}
    except ValidationFailed as exc:
        errors = exc.field_errors
    named = {(p.sheet, p.row, p.column) for p in outcome.problems}
    for key, messages in errors.items():
        sheet, row, column = where.get(key, ("", None, key))
        if (sheet, row, column) not in named:
            for message in messages:
                outcome.problems.append(Problem(sheet, row, column, str(message)))
    if not outcome.ok:
        outcome.problems.sort(key=lambda p: not p.structure)
        del outcome.problems[MAX_ERRORS:]
        return outcome
    report = report or services.start(session, actor, agreement, number)
    if report.newest.status == services.Status.RETURNED:
        services.revise(session, actor, report)
    data.narrative = report.newest.narrative
    version = services.save(session, actor, report, data, report.newest.edit_version)
    audit.record(session, actor, "financial_report.imported", report,
                 after={"version": version.version, "file": (filename or "")[:120], "spent": str(version.spent_eur)})
    outcome.report_id = report.id
    return outcome


def _records(data: bytes, reader: _Reader, months: list[date]) -> dict[str, list[dict[str, Any]]] | None:
    try:
        workbook = xlsx_reader.open_upload(data)
    except xlsx_reader.Refused as exc:
        reader.problem("", None, "", exc.message, True)
        return None
    try:
        missing = [name for name in ("about", "lines", "cofinancing") if name not in workbook.sheetnames]
        if missing:
            reader.problem("", None, "", _("The file does not have the sheets of the template (%(missing)s missing). "
                                           "Download the template and fill it in.", missing=", ".join(missing)), True)
            return None
        return {"about": _sheet(workbook, "about", [("key", ""), ("value", "")], reader),
                "lines": _sheet(workbook, "lines", _line_columns(months), reader),
                "cofinancing": _sheet(workbook, "cofinancing", _cofinancing_columns(), reader)}
    except xlsx_reader.Refused as exc:
        reader.problem("", None, "", exc.message, True)
        return None
    finally:
        workbook.close()


def _figures(agreement: GrantAgreement, shape: Any, records: dict[str, list[dict[str, Any]]], reader: _Reader,
             report: FinancialReport | None) -> tuple[services.FigureData, dict[str, tuple[str, int | None, str]]]:
    """The file as the form's data, and where each field came from (for the rules' messages)."""
    about = {str(r.get("key") or "").strip(): r for r in records["about"]}
    for key, expected in (("agreement", agreement.number), ("period", str(shape.period_number))):
        found = about.get(key)
        value = str(found.get("value") if found else "").strip()
        if value.endswith(".0"):
            value = value[:-2]
        if value != expected:
            reader.problem("about", found["_row"] if found else None, "value", _(
                "This file is the template of %(found)s, not of %(expected)s (agreement %(number)s, period %(period)d). "
                "Download the template of this period.", found=value[:40] or "—", expected=expected,
                number=agreement.number, period=shape.period_number), True)
    lines: dict[int, BudgetLine] = {line.position + 1: line for line in services.budget_lines(agreement)}
    months = entries.months_of(shape)
    data = services.FigureData()
    where: dict[str, tuple[str, int | None, str]] = {}

    def at(sheet: str, row: int, key: str) -> tuple[str, int, str]:
        letter = reader.columns.get(sheet, {}).get(key, "")
        return sheet, row, f"{letter} ({key})" if letter else key

    seen: dict[int, int] = {}
    for record in records["lines"]:
        row = int(record["_row"])
        raw = record.get("line")
        try:
            position = int(float(str(raw).strip())) if raw is not None and str(raw).strip() else None
        except ValueError:
            position = None
        line = lines.get(position) if position is not None else None
        if line is None:
            reader.problem("lines", row, "line", _("%(value)s is not the number of an approved budget line of this grant.",
                                                   value=str(raw)[:20] if raw is not None else "—"))
            continue
        if line.id in seen:
            reader.problem("lines", row, "line", _("This budget line appears twice (rows %(a)d and %(b)d).",
                                                   a=seen[line.id], b=row))
            continue
        seen[line.id] = row
        where[f"line-{line.id}"] = at("lines", row, "spent_eur")
        if entries.is_staff(line):
            typed = {}
            for key in ("spent_eur", "entry_date"):
                if record.get(key) not in (None, ""):
                    reader.problem("lines", row, key, _("A staff line is entered per month: leave this cell empty (the "
                                                        "line's total is the sum of its months)."))
            for month in months:
                column = _month_column(month)
                typed[month] = _amount(reader, "lines", row, column, record.get(column))
                where[f"month-{line.id}-{entries.month_key(month)}"] = at("lines", row, column)
            data.months[line.id] = typed
            where[f"line-{line.id}"] = at("lines", row, "line")
        else:
            for month in months:
                if record.get(_month_column(month)) not in (None, ""):
                    reader.problem("lines", row, _month_column(month), _(
                        "Only staff lines are entered per month: type this line's amount in the spent column."))
            data.spent[line.id] = _amount(reader, "lines", row, "spent_eur", record.get("spent_eur"))
            data.dates[line.id] = record.get("entry_date")
            where[f"date-{line.id}"] = at("lines", row, "entry_date")
    for position, line in lines.items():
        if line.id not in seen:
            reader.problem("lines", None, "line", _("Budget line %(n)d (%(label)s) is missing from the file.",
                                                    n=position, label=services.line_label(line)))
    found_items: dict[str, int] = {}
    for record in records["cofinancing"]:
        row, item = int(record["_row"]), str(record.get("item") or "").strip()
        if item not in COFINANCING:
            reader.problem("cofinancing", row, "item", _("%(item)s is not a co-financing item (municipality or other).",
                                                         item=item[:40] or "—"))
            continue
        if item in found_items:
            reader.problem("cofinancing", row, "item", _("This item appears twice (rows %(a)d and %(b)d).",
                                                         a=found_items[item], b=row))
            continue
        found_items[item] = row
        value = _amount(reader, "cofinancing", row, "amount_eur", record.get("amount_eur"))
        setattr(data, f"cofinancing_{item}", "" if value is None else value)
        where[f"cofinancing_{item}"] = at("cofinancing", row, "amount_eur")
    return data, where
