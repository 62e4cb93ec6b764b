"""Bulk entry: an XLSX template pre-filled with a provider's grants and the months it has to report, and
its upload — read as a stream with limits checked while reading (`xlsx_reader`), checked in one pass with
the same rules as the form, and imported only when the whole file is valid (otherwise nothing changes and
every problem is listed by sheet, row and column: the structure first, then every row that can be checked).

Only what someone typed is imported: a month counts when one of its figures or texts differs from what the
template was pre-filled with, or when its *submit* cell says so. Untouched pre-filled rows are never imported.

Each column header ends with its key in brackets (`Жени [female]`), so the file reads the same in
every language; the sheets are named by key too."""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO

import sqlalchemy as sa
from flask_babel import gettext as _
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from portal import access, i18n
from portal.errors import NotAllowed
from portal.models import Application, GrantAgreement, HardToEmployCategory, MonthlyReport, ServiceType, User, VersionStatus
from portal.models.reports import BENEFICIARY_FIELDS, HIRE_FIELDS, STAFF_FIELDS
from portal.reports import from_register, services, validation, xlsx_reader
from portal.reports.bulk_template import INFORMATIONAL, OPTIONAL, Due, _columns, _prefill, due_months, template  # noqa: F401
from portal.reports.validation import HireFigures, ReportData, ServiceFigures

SHEETS = ("beneficiaries", "staff", "hard_to_employ")
KEY = re.compile(r"\[([a-z0-9_]+)\]\s*$")
MAX_ERRORS = 500
#: What a *submit* cell may say to submit the month (any language of the portal); empty means no.
YES = {"yes", "y", "x", "1", "true", "да", "д", "po", "p", "✓", "✔"}
NO = {"no", "n", "0", "false", "не", "н", "jo", "j"}


# Upload ------------------------------------------------------------------------------------------------

@dataclass
class Problem:
    sheet: str
    row: int | None
    column: str
    message: str
    structure: bool = False  # a problem of the file's shape: listed first


@dataclass
class Imported:
    agreement: str
    month: date
    report_id: int
    submitted: bool


@dataclass
class Outcome:
    problems: list[Problem] = field(default_factory=list)
    imported: list[Imported] = field(default_factory=list)
    skipped: int = 0  # months in the file left as pre-filled

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Line:
    row: int
    values: dict[str, Any]  # parsed (None where the cell was wrong)
    raw: dict[str, Any]  # as typed, for the comparison with the pre-fill


@dataclass
class Group:
    """Everything the file says about one grant's month, with where each figure came from."""

    agreement: GrantAgreement
    month: date
    services: dict[int, Line] = field(default_factory=dict)  # service type id → line
    hires: dict[int, Line] = field(default_factory=dict)
    staff: Line | None = None
    marked: bool = False  # its submit cell says yes

    def lines(self) -> list[tuple[tuple, Line]]:
        found = [(("service", k), v) for k, v in self.services.items()] + [(("hire", k), v) for k, v in self.hires.items()]
        return found + ([(("staff",), self.staff)] if self.staff else [])

    @property
    def parsed(self) -> bool:
        """Every figure is a valid number (the rules can be checked)."""
        return all(v is not None for _key, line in self.lines() for k, v in line.values.items()
                   if k not in ("note", "narrative", "explanation"))


class _Reader:
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.columns: dict[str, dict[str, str]] = {}  # sheet → key → column letter
        self.incomplete: set[str] = set()  # sheets missing a figure column: their sums are not checked

    def problem(self, sheet: str, row: int | None, key: str, message: str, structure: bool = False) -> None:
        letter = self.columns.get(sheet, {}).get(key, "")
        column = f"{letter} ({key})" if letter and key else (letter or key)
        self.outcome.problems.append(Problem(sheet, row, column, message, structure))

    def whole(self, sheet: str, row: int, key: str, value: Any) -> int | None:
        """A figure cell: whole numbers from 0 to the largest a report takes (an empty cell is 0)."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return 0
        if isinstance(value, bool):
            self.problem(sheet, row, key, _("Enter a whole number, not TRUE or FALSE."))
            return None
        if isinstance(value, numbers.Integral):
            number = int(value)
        elif isinstance(value, numbers.Real) and value != value:  # NaN
            self.problem(sheet, row, key, _("Enter a whole number, not text (“%(value)s”).", value=str(value)[:40]))
            return None
        elif isinstance(value, numbers.Real) and abs(value) != float("inf") and float(value).is_integer():
            number = int(value)
        elif isinstance(value, numbers.Real):
            self.problem(sheet, row, key, _("Enter a whole number (%(value)s has decimals).", value=str(value)[:40]))
            return None
        elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 12:
            number = int(value.strip())
        else:
            self.problem(sheet, row, key, _("Enter a whole number, not text (“%(value)s”).", value=str(value)[:40]))
            return None
        if number < 0:
            self.problem(sheet, row, key, _("Enter a whole number, 0 or more (not %(value)d).", value=number))
            return None
        if number > validation.MAX_FIGURE:
            self.problem(sheet, row, key, _("%(value)s is too large for a month's report: at most %(max)s.",
                                            value=f"{number:.4g}" if number > 10**12 else i18n.number(number),
                                            max=i18n.number(validation.MAX_FIGURE)))
            return None
        return number

    def marked(self, row: int, value: Any) -> bool:
        if value is None or value is False or (isinstance(value, str) and not value.strip()):
            return False
        text = str(value).strip().lower()
        if value is True or text in YES:
            return True
        if text not in NO:
            self.problem("staff", row, "submit", _("Write yes to submit this month, or leave the cell empty."))
        return False


def _month_of(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date().replace(day=1)
    if isinstance(value, date):
        return value.replace(day=1)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d{4})-(\d{1,2})(?:-\d{1,2})?\s*", value)
        if match and 1 <= int(match.group(2)) <= 12:
            return date(int(match.group(1)), int(match.group(2)), 1)
    return None


def _records(data: bytes, reader: _Reader) -> dict[str, list[dict[str, Any]]] | None:
    """Open the workbook as a stream, check its structure and refuse formulas; the data sheets as records (one
    per line with figures, `_row` holding the spreadsheet row number). None when the file cannot be read at all;
    otherwise every sheet that can be read, even with structure problems (they are listed, and the rows are
    still checked)."""
    try:
        workbook = xlsx_reader.open_upload(data)
    except xlsx_reader.Refused as exc:
        reader.problem("", None, "", exc.message, True)
        return None
    try:
        return _read_sheets(workbook, reader)
    except xlsx_reader.Refused as exc:
        reader.problem("", None, "", exc.message, True)
        return None
    finally:
        workbook.close()


def _read_sheets(workbook: Any, reader: _Reader) -> dict[str, list[dict[str, Any]]]:
    missing = [name for name in SHEETS if name not in workbook.sheetnames]
    if missing:
        reader.problem("", None, "", _("The file does not have the sheets of the template (%(missing)s missing; it has "
                                       "%(found)s). Download the template and fill it in.", missing=", ".join(missing),
                                       found=", ".join(workbook.sheetnames)[:200]), True)
    expected = _columns()
    records: dict[str, list[dict[str, Any]]] = {}
    for name in SHEETS:
        if name in missing:
            continue
        keys: list[str] = []
        found: list[dict[str, Any]] = []
        for number, cells in xlsx_reader.rows(workbook[name]):
            if number == 1:
                keys = _header(name, cells, expected[name], reader)
                continue
            values = xlsx_reader.record(name, number, keys, cells, INFORMATIONAL, reader.problem)
            if values is not None:
                found.append(values)
        if not keys:
            reader.problem(name, 1, "", _("The sheet is empty: its first row must hold the column headers."), True)
            continue
        records[name] = found
    return records


def _header(name: str, cells: tuple, expected: list[tuple[str, Any]], reader: _Reader) -> list[str]:
    keys: list[str] = []
    letters: dict[str, str] = {}
    known = {k for k, _label in expected}
    for index, cell in enumerate(cells):
        letter = get_column_letter(index + 1)
        text = str(cell.value or "").strip()
        if not text:
            keys.append("")
            continue
        match = KEY.search(text)
        key = match.group(1) if match else ""
        if key not in known:
            reader.problem(name, 1, letter, _("The column “%(header)s” is not part of the template. Remove it (extra "
                                              "columns are not imported).", header=text[:60]), True)
            key = ""
        elif key in letters:
            reader.problem(name, 1, letter, _("The column %(key)s appears twice.", key=key), True)
            key = ""
        else:
            letters[key] = letter
        keys.append(key)
    reader.columns[name] = letters
    for key, label in expected:
        if key not in letters and key not in INFORMATIONAL | OPTIONAL:
            reader.problem(name, 1, "", _("The column “%(label)s [%(key)s]” is missing.", label=label, key=key), True)
            if key not in ("agreement", "month", "service_type", "category", "narrative", "explanation", "note"):
                reader.incomplete.add(name)
    return keys


def _groups(session: Session, actor: User, records: dict[str, list[dict[str, Any]]], reader: _Reader) -> dict[tuple, Group]:
    agreements = {a.number: a for a in session.scalars(
        sa.select(GrantAgreement).where(GrantAgreement.organisation_id == actor.organisation_id)
        .options(sa.orm.selectinload(GrantAgreement.versions),
                 sa.orm.joinedload(GrantAgreement.application).selectinload(Application.service_types))).unique()}
    types = {t.code: t for t in session.scalars(sa.select(ServiceType))}
    categories = {c.code: c for c in services.active_categories(session)}
    groups: dict[tuple, Group] = {}

    def group_of(sheet: str, row: int, record: dict[str, Any]) -> Group | None:
        number = str(record.get("agreement") or "").strip()
        agreement = agreements.get(number)
        month = _month_of(record.get("month"))
        if agreement is None:
            reader.problem(sheet, row, "agreement", _("%(number)s is not one of your grant agreements.",
                                                      number=number[:40] or "—"))
        if month is None:
            reader.problem(sheet, row, "month", _("Enter the month as YYYY-MM, for example 2026-10."))
        if agreement is None or month is None:
            return None
        return groups.setdefault((agreement.id, month), Group(agreement, month))

    def line(sheet: str, row: int, record: dict[str, Any], names: tuple[str, ...], texts: tuple[str, ...]) -> Line:
        values: dict[str, Any] = {n: reader.whole(sheet, row, n, record.get(n)) for n in names}
        for text in texts:
            values[text] = _text(record.get(text))
        raw = {n: record.get(n) for n in names + texts}
        return Line(row, values, raw)

    for record in records.get("beneficiaries", []):
        row = int(record["_row"])
        group = group_of("beneficiaries", row, record)
        code = str(record.get("service_type") or "").strip()
        service_type = types.get(code)
        figures = line("beneficiaries", row, record, BENEFICIARY_FIELDS, ())
        if group is None:
            continue
        if service_type is None or service_type.id not in {t.id for t in group.agreement.application.service_types}:
            reader.problem("beneficiaries", row, "service_type", _("%(code)s is not a service type of agreement "
                                                                   "%(number)s.", code=code[:40] or "—",
                                                                   number=group.agreement.number))
            continue
        if service_type.id in group.services:
            reader.problem("beneficiaries", row, "service_type", _("This service type and month appear twice (rows %(a)d "
                                                                   "and %(b)d).", a=group.services[service_type.id].row,
                                                                   b=row))
            continue
        group.services[service_type.id] = figures
    for record in records.get("staff", []):
        row = int(record["_row"])
        group = group_of("staff", row, record)
        figures = line("staff", row, record, STAFF_FIELDS, ("narrative", "explanation"))
        marked = reader.marked(row, record.get("submit"))
        if group is None:
            continue
        if group.staff is not None:
            reader.problem("staff", row, "month", _("This agreement and month appear twice (rows %(a)d and %(b)d).",
                                                    a=group.staff.row, b=row))
            continue
        group.staff, group.marked = figures, marked
    for record in records.get("hard_to_employ", []):
        row = int(record["_row"])
        group = group_of("hard_to_employ", row, record)
        code = str(record.get("category") or "").strip()
        category = categories.get(code)
        figures = line("hard_to_employ", row, record, HIRE_FIELDS, ("note",))
        if group is None:
            continue
        if category is None:
            reader.problem("hard_to_employ", row, "category", _("%(code)s is not a hard-to-employ group (see the codes "
                                                                "sheet).", code=code[:40] or "—"))
            continue
        if category.id in group.hires:
            reader.problem("hard_to_employ", row, "category", _("This group and month appear twice (rows %(a)d and "
                                                                "%(b)d).", a=group.hires[category.id].row, b=row))
            continue
        group.hires[category.id] = figures
    return groups


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _same(typed: Any, prefilled: Any) -> bool:
    """Whether a cell still holds what the template wrote (an empty cell and an empty text are the same)."""
    def norm(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, numbers.Real) and value == value and abs(value) != float("inf") and float(value).is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            return int(text) if text.isdigit() and len(text) <= 12 else text
        return value
    return norm(typed) == norm(prefilled)


def _touched(group: Group, prefill: dict[tuple, dict[str, Any]]) -> bool:
    """A month counts when any of its cells differs from the pre-fill (a line the template did not have counts)."""
    for key, line in group.lines():
        expected = prefill.get(key)
        if expected is None:
            return True
        if any(not _same(value, expected.get(name)) for name, value in line.raw.items()):
            return True
    return False


def _data(session: Session, group: Group, categories: list[HardToEmployCategory]) -> ReportData:
    services_ = []
    for service_type in group.agreement.application.service_types:
        line = group.services.get(service_type.id)
        values = line.values if line else {n: 0 for n in BENEFICIARY_FIELDS}
        services_.append(ServiceFigures(service_type_id=service_type.id, label=service_type.name(), **values))
    hires = []
    for category in categories:
        line = group.hires.get(category.id)
        values = line.values if line else {**{n: 0 for n in HIRE_FIELDS}, "note": ""}
        hires.append(HireFigures(category_id=category.id, label=category.name(), requires_note=category.requires_note,
                                 note=values.get("note", ""), **{n: values[n] for n in HIRE_FIELDS}))
    staff = group.staff.values if group.staff else {}
    return ReportData(services=services_, hires=hires, narrative=staff.get("narrative", ""),
                      explanation=staff.get("explanation", ""), **{n: staff.get(n, 0) for n in STAFF_FIELDS})


def _locate(group: Group, path: validation.Path) -> tuple[str, int | None, str]:
    """Where in the file a validation path came from."""
    if path[0] == "service":
        line = group.services.get(path[1])
        return "beneficiaries", line.row if line else None, path[2]
    if path[0] == "hire":
        line = group.hires.get(path[1])
        return "hard_to_employ", line.row if line else None, path[2]
    row = group.staff.row if group.staff else None
    return "staff", row, {"month": "month", "evidence": ""}.get(path[0], path[-1])


def _check(session: Session, group: Group, report: MonthlyReport | None, data: ReportData, submit: bool,
           reader: _Reader) -> None:
    """The rules of the form, for one month of the file: those of a draft, or of a submission."""
    label = f"{group.agreement.number}, {group.month:%Y-%m}"
    if not submit:
        context = services.context_for(group.agreement, group.month)
        issues = validation.check_values(data).errors + validation.check_month(context)
        warnings: list[validation.ReportWarning] = []
    else:
        context = services.submission_context(session, group.agreement, group.month)
        result = validation.check(data, context)
        issues, warnings = list(result.errors), result.warnings
        if any(sheet in reader.incomplete for sheet in SHEETS):  # a figure column is missing: no sums to check
            issues = [i for i in issues if i.path[0] in ("month", "explanation")]
        if report is not None:
            issues += services.evidence_issues(session, report)
        elif services.required_evidence(group.agreement):
            from portal.documents.services import purpose_label

            issues.append(validation.Issue(("evidence",), _(
                "Upload the evidence this call requires before you submit (at least one document of each kind): "
                "%(kinds)s is missing.", kinds=", ".join(purpose_label(k)
                                                          for k in services.required_evidence(group.agreement)))))
    for issue in issues:
        sheet, row, column = _locate(group, issue.path)
        message = issue.message
        if issue.path == ("explanation",) and warnings:
            message = f"{message} {' '.join(w.message for w in warnings)}"
        reader.problem(sheet, row, column, f"{label}: {message}")


def upload(session: Session, actor: User, stream: BinaryIO, submit: bool) -> Outcome:
    """Check the whole file in one pass, then import every month someone changed or marked (submitting those
    marked, and the changed ones when `submit`), or nothing."""
    if not access.can_prepare_reports(actor):
        raise NotAllowed()
    outcome = Outcome()
    reader = _Reader(outcome)
    records = _records(stream.read(), reader)
    if records is None:
        return outcome
    groups = _groups(session, actor, records, reader)
    categories = services.active_categories(session)
    existing = {(r.agreement_id, r.month): r for r in session.scalars(sa.select(MonthlyReport).where(
        MonthlyReport.agreement_id.in_({key[0] for key in groups})))} if groups else {}
    chosen: list[tuple[Group, ReportData, MonthlyReport | None, bool]] = []
    for key, group in sorted(groups.items(), key=lambda item: (item[1].agreement.number, item[1].month)):
        report = existing.get(key)
        if not group.marked and not _touched(group, _prefill(session, group.agreement, report, categories, group.month)):
            outcome.skipped += 1
            continue
        if group.staff is None:
            reader.problem("staff", None, "month", _("Agreement %(number)s, %(month)s: the staff sheet has no row for "
                                                     "this month.", number=group.agreement.number,
                                                     month=f"{group.month:%Y-%m}"))
        if report is not None and report.newest.status not in (VersionStatus.DRAFT, VersionStatus.RETURNED):
            reader.problem("staff", group.staff.row if group.staff else None, "month", _(
                "Agreement %(number)s, %(month)s: this report is already %(status)s; correct it in the portal instead.",
                number=group.agreement.number, month=f"{group.month:%Y-%m}", status=services.status_label(report.status)))
            continue
        if not group.parsed:
            continue  # its number problems are listed already; the sums need numbers
        data = _data(session, group, categories)
        if from_register.applies(group.agreement):  # beneficiaries from the register: only the hours are read
            typed = {k: {n: v for n, v in line.values.items() if not _same(line.raw.get(n), None)}
                     for k, line in group.services.items()}
            for type_id, name, message in from_register.refused_cells(session, group.agreement, group.month, typed):
                reader.problem("beneficiaries", group.services[type_id].row, name,
                               f"{group.agreement.number}, {group.month:%Y-%m}: {message}")
            from_register.fill(session, group.agreement, group.month, data)
        submitting = submit or group.marked
        _check(session, group, report, data, submitting, reader)
        chosen.append((group, data, report, submitting))
    if not chosen and outcome.ok:
        reader.problem("", None, "", _("Nothing to import: no month in the file differs from the template as it was "
                                       "pre-filled. Type the figures of a month, or write yes in its submit cell."), True)
    if not outcome.ok:
        outcome.problems.sort(key=lambda p: not p.structure)
        del outcome.problems[MAX_ERRORS:]
        return outcome
    for group, data, report, submitting in chosen:
        report = report or services.start(session, actor, group.agreement, group.month)
        if report.newest.status == VersionStatus.RETURNED:
            services.revise(session, actor, report)
        services.save(session, actor, report, data, report.newest.edit_version)
        if submitting:
            services.submit(session, actor, report)
        outcome.imported.append(Imported(group.agreement.number, group.month, report.id, submitting))
    return outcome
