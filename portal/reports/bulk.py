"""Bulk entry: an XLSX template pre-filled with a provider's grants and the months it has to report, and
its upload — parsed with openpyxl into pandas frames, checked with the same rules as the form, and
imported only when the whole file is valid (otherwise nothing changes and every problem is listed by
sheet, row and column).

Each column header ends with its key in brackets (`Жени [female]`), so the file reads the same in
every language; the sheets are named by key too."""

from __future__ import annotations

import io
import numbers
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO

import pandas as pd
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import TYPE_FORMULA, TYPE_STRING
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from portal import access
from portal.documents.validation import detect_type
from portal.errors import NotAllowed, ValidationFailed
from portal.exports import safe_cell
from portal.models import Application, GrantAgreement, HardToEmployCategory, MonthlyReport, ServiceType, User, VersionStatus
from portal.models.reports import BENEFICIARY_FIELDS, HIRE_FIELDS, STAFF_FIELDS
from portal.reports import services, validation
from portal.reports.validation import HireFigures, ReportData, ServiceFigures

SHEETS = ("beneficiaries", "staff", "hard_to_employ")
KEY = re.compile(r"\[([a-z0-9_]+)\]\s*$")
MAX_ERRORS = 200


def _columns() -> dict[str, list[tuple[str, Any]]]:
    """(key, label) of every column, per sheet, in order."""
    return {
        "beneficiaries": [("agreement", _("Agreement")), ("month", _("Month (YYYY-MM)")),
                          ("service_type", _("Service type (code)")), ("service_type_name", _("Service type"))]
                         + list(validation.BENEFICIARY_LABELS.items()),
        "staff": [("agreement", _("Agreement")), ("month", _("Month (YYYY-MM)"))] + list(validation.STAFF_LABELS.items())
                 + [("narrative", _("Narrative")), ("explanation", _("Explanation of the warnings"))],
        "hard_to_employ": [("agreement", _("Agreement")), ("month", _("Month (YYYY-MM)")),
                           ("category", _("Hard-to-employ group (code)")), ("category_name", _("Hard-to-employ group"))]
                          + [(k, v) for k, v in validation.HIRE_LABELS.items()],
    }


INFORMATIONAL = {"service_type_name", "category_name"}  # shown for people, ignored on upload


@dataclass
class Due:
    agreement: GrantAgreement
    month: date
    report: MonthlyReport | None


def due_months(session: Session, actor: User) -> list[Due]:
    """The months the provider still has to report: started, within the grant, and not submitted (or returned)."""
    due = []
    for agreement, rows in services.provider_overview(session, actor):
        for row in reversed(rows):
            if row.report is None or row.report.newest.status in (VersionStatus.DRAFT, VersionStatus.RETURNED):
                due.append(Due(agreement, row.month, row.report))
    return due


def template(session: Session, actor: User) -> bytes:
    """The workbook: instructions, the three data sheets pre-filled with the months due (and any draft figures),
    and the codes."""
    if not access.can_prepare_reports(actor):
        raise NotAllowed()
    columns = _columns()
    categories = services.active_categories(session)
    workbook = Workbook()
    intro = workbook.active
    intro.title = "instructions"
    for line in (_("Monthly reports: bulk entry"), "",
                 _("1. Fill in the sheets beneficiaries, staff and hard_to_employ. Each row is already filled with the "
                   "agreement, the month and the service type or group; type the figures as whole numbers (an empty "
                   "cell counts as 0)."),
                 _("2. Do not rename the sheets or the columns, and do not add columns. Type numbers, not formulas."),
                 _("3. The same rules apply as in the form: each breakdown adds up to its total, hard-to-employ staff are "
                   "at most the staff, new + continuing = total. Where the report shows a warning (more than one and a half "
                   "times the capacity, a change of more than a half, beneficiaries without staff) write the explanation "
                   "in the staff sheet."),
                 _("4. Upload the file in the portal. Nothing is imported unless the whole file is valid; every problem is "
                   "listed with its sheet, row and column.")):
        intro.append([line])
    intro.column_dimensions["A"].width = 120
    sheets = {name: workbook.create_sheet(name) for name in SHEETS}
    for name, sheet in sheets.items():
        sheet.append([f"{label} [{key}]" for key, label in columns[name]])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="E9EDF2")
        sheet.freeze_panes = "A2"
    for item in due_months(session, actor):
        number, month = item.agreement.number, f"{item.month:%Y-%m}"
        data = services.data_of(session, item.report.newest, categories) if item.report else None
        by_type = {s.service_type_id: s for s in data.services} if data else {}
        for service_type in item.agreement.application.service_types:
            figures = by_type.get(service_type.id)
            sheets["beneficiaries"].append([number, month, service_type.code, service_type.name()]
                                           + [getattr(figures, n) if figures else None for n in BENEFICIARY_FIELDS])
        sheets["staff"].append([number, month] + [getattr(data, n) if data else None for n in STAFF_FIELDS]
                               + [data.narrative if data else "", data.explanation if data else ""])
        by_category = {h.category_id: h for h in data.hires} if data else {}
        for category in categories:
            figures = by_category.get(category.id)
            sheets["hard_to_employ"].append([number, month, category.code, category.name()]
                                            + [getattr(figures, n) if figures else None for n in HIRE_FIELDS]
                                            + [figures.note if figures else ""])
    codes = workbook.create_sheet("codes")
    codes.append([_("Code"), _("Service type")])
    for service_type in session.scalars(sa.select(ServiceType).where(ServiceType.active.is_(True))
                                        .order_by(ServiceType.sort_order)):
        codes.append([service_type.code, service_type.name()])
    codes.append([])
    codes.append([_("Code"), _("Hard-to-employ group")])
    for category in categories:
        codes.append([category.code, category.name()])
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.value = safe_cell(cell.value)
                    cell.data_type = TYPE_STRING
        if sheet.title != "instructions":
            for index, (_key, label) in enumerate(columns.get(sheet.title, [("", "x" * 30)] * 2), start=1):
                sheet.column_dimensions[get_column_letter(index)].width = min(40, max(12, len(str(label)) + 8))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# Upload ------------------------------------------------------------------------------------------------

@dataclass
class Problem:
    sheet: str
    row: int | None
    column: str
    message: str


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

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Group:
    """Everything the file says about one grant's month, with where each figure came from."""

    agreement: GrantAgreement
    month: date
    services: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # type id → (row, values)
    hires: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    staff: tuple[int, dict[str, Any]] | None = None


class _Reader:
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.columns: dict[str, dict[str, str]] = {}  # sheet → key → column letter

    def problem(self, sheet: str, row: int | None, key: str, message: str) -> None:
        letter = self.columns.get(sheet, {}).get(key, "")
        column = f"{letter} ({key})" if letter and key else (letter or key)
        self.outcome.problems.append(Problem(sheet, row, column, message))

    def whole(self, sheet: str, row: int, key: str, value: Any) -> int | None:
        """A figure cell: whole numbers only (an empty cell is 0)."""
        if value is None or (isinstance(value, float) and pd.isna(value)) or (isinstance(value, str) and not value.strip()):
            return 0
        if isinstance(value, bool):
            self.problem(sheet, row, key, _("Enter a whole number, not TRUE or FALSE."))
            return None
        if isinstance(value, numbers.Integral):
            number = int(value)
        elif isinstance(value, numbers.Real) and float(value).is_integer():
            number = int(value)
        elif isinstance(value, numbers.Real):
            self.problem(sheet, row, key, _("Enter a whole number (%(value)s has decimals).", value=value))
            return None
        elif isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        else:
            self.problem(sheet, row, key, _("Enter a whole number, not text (“%(value)s”).", value=str(value)[:40]))
            return None
        if number < 0:
            self.problem(sheet, row, key, _("Enter a whole number, 0 or more (not %(value)d).", value=number))
            return None
        return number


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


def _frames(data: bytes, reader: _Reader) -> dict[str, pd.DataFrame] | None:
    """Open the workbook, check its structure and refuse formulas; the data sheets as frames (one row per line,
    with `_row` holding the spreadsheet row number)."""
    config = current_app.config
    try:
        kind = detect_type(io.BytesIO(data), config["UPLOAD_MAX_ZIP_ENTRIES"], config["UPLOAD_MAX_EXPANDED_MB"] * 1024 * 1024)
    except ValidationFailed as exc:
        reader.problem("", None, "", str(exc.message))
        return None
    if kind != "xlsx":
        reader.problem("", None, "", _("This is not an XLSX file. Download the template, fill it in and upload it as XLSX."))
        return None
    try:
        workbook = load_workbook(io.BytesIO(data), data_only=False, read_only=False)
    except Exception:  # openpyxl raises many kinds for a damaged file
        reader.problem("", None, "", _("The XLSX file cannot be read: it may be damaged. Save it again and upload it."))
        return None
    missing = [name for name in SHEETS if name not in workbook.sheetnames]
    if missing:
        reader.problem("", None, "", _("The file does not have the sheets of the template (%(missing)s missing; it has "
                                       "%(found)s). Download the template and fill it in.", missing=", ".join(missing),
                                       found=", ".join(workbook.sheetnames)))
        return None
    expected = _columns()
    frames: dict[str, pd.DataFrame] = {}
    for name in SHEETS:
        sheet = workbook[name]
        rows = list(sheet.iter_rows())
        if not rows:
            reader.problem(name, 1, "", _("The sheet is empty: its first row must hold the column headers."))
            continue
        keys: list[str] = []
        letters: dict[str, str] = {}
        for cell in rows[0]:
            text = str(cell.value or "").strip()
            if not text:
                keys.append("")
                continue
            match = KEY.search(text)
            key = match.group(1) if match else ""
            if key not in {k for k, _label in expected[name]}:
                reader.problem(name, 1, cell.column_letter, _("The column “%(header)s” is not part of the template. Remove "
                                                              "it (extra columns are not imported).", header=text[:60]))
            elif key in letters:
                reader.problem(name, 1, cell.column_letter, _("The column %(key)s appears twice.", key=key))
            else:
                letters[key] = cell.column_letter
            keys.append(key)
        reader.columns[name] = letters
        for key, label in expected[name]:
            if key not in letters and key not in INFORMATIONAL:
                reader.problem(name, 1, "", _("The column “%(label)s [%(key)s]” is missing.", label=label, key=key))
        records = []
        for row in rows[1:]:
            values: dict[str, Any] = {"_row": row[0].row}
            for key, cell in zip(keys, row, strict=False):
                if cell.data_type == TYPE_FORMULA or (isinstance(cell.value, str) and cell.value.startswith("=")):
                    reader.problem(name, cell.row, key or cell.column_letter,
                                   _("Formulas are not accepted: type the value itself."))
                    continue
                if key and key not in INFORMATIONAL:
                    values[key] = cell.value
            if any(v not in (None, "") for k, v in values.items() if k != "_row"):
                records.append(values)
        frames[name] = pd.DataFrame.from_records(records, columns=["_row"] + [k for k, _l in expected[name]
                                                                              if k not in INFORMATIONAL])
    return None if reader.outcome.problems else frames


def _groups(session: Session, actor: User, frames: dict[str, pd.DataFrame], reader: _Reader) -> dict[tuple, Group]:
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
        if agreement is None:
            reader.problem(sheet, row, "agreement", _("%(number)s is not one of your grant agreements.",
                                                      number=number or "—"))
            return None
        month = _month_of(record.get("month"))
        if month is None:
            reader.problem(sheet, row, "month", _("Enter the month as YYYY-MM, for example 2026-10."))
            return None
        return groups.setdefault((agreement.id, month), Group(agreement, month))

    for record in frames["beneficiaries"].to_dict("records"):
        row = int(record["_row"])
        group = group_of("beneficiaries", row, record)
        code = str(record.get("service_type") or "").strip()
        service_type = types.get(code)
        if group is None:
            continue
        if service_type is None or service_type.id not in {t.id for t in group.agreement.application.service_types}:
            reader.problem("beneficiaries", row, "service_type", _("%(code)s is not a service type of agreement "
                                                                   "%(number)s.", code=code or "—",
                                                                   number=group.agreement.number))
            continue
        if service_type.id in group.services:
            reader.problem("beneficiaries", row, "service_type", _("This service type and month appear twice (rows %(a)d "
                                                                   "and %(b)d).", a=group.services[service_type.id][0],
                                                                   b=row))
            continue
        group.services[service_type.id] = (row, {n: reader.whole("beneficiaries", row, n, record.get(n))
                                                 for n in BENEFICIARY_FIELDS})
    for record in frames["staff"].to_dict("records"):
        row = int(record["_row"])
        group = group_of("staff", row, record)
        if group is None:
            continue
        if group.staff is not None:
            reader.problem("staff", row, "month", _("This agreement and month appear twice (rows %(a)d and %(b)d).",
                                                    a=group.staff[0], b=row))
            continue
        values: dict[str, Any] = {n: reader.whole("staff", row, n, record.get(n)) for n in STAFF_FIELDS}
        values["narrative"] = _text(record.get("narrative"))
        values["explanation"] = _text(record.get("explanation"))
        group.staff = (row, values)
    for record in frames["hard_to_employ"].to_dict("records"):
        row = int(record["_row"])
        group = group_of("hard_to_employ", row, record)
        code = str(record.get("category") or "").strip()
        category = categories.get(code)
        if group is None:
            continue
        if category is None:
            reader.problem("hard_to_employ", row, "category", _("%(code)s is not a hard-to-employ group (see the codes "
                                                                "sheet).", code=code or "—"))
            continue
        if category.id in group.hires:
            reader.problem("hard_to_employ", row, "category", _("This group and month appear twice (rows %(a)d and "
                                                                "%(b)d).", a=group.hires[category.id][0], b=row))
            continue
        values = {n: reader.whole("hard_to_employ", row, n, record.get(n)) for n in HIRE_FIELDS}
        values["note"] = _text(record.get("note"))
        group.hires[category.id] = (row, values)
    for group in groups.values():
        if group.staff is None:
            reader.problem("staff", None, "month", _("Agreement %(number)s, %(month)s: the staff sheet has no row for this "
                                                     "month.", number=group.agreement.number, month=f"{group.month:%Y-%m}"))
    return groups


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).strip()


def _data(session: Session, group: Group, categories: list[HardToEmployCategory]) -> ReportData:
    services_ = []
    for service_type in group.agreement.application.service_types:
        _row, values = group.services.get(service_type.id, (0, {n: 0 for n in BENEFICIARY_FIELDS}))
        services_.append(ServiceFigures(service_type_id=service_type.id, label=service_type.name(), **values))
    hires = []
    for category in categories:
        _row, values = group.hires.get(category.id, (0, {n: 0 for n in HIRE_FIELDS}))
        hires.append(HireFigures(category_id=category.id, label=category.name(), requires_note=category.requires_note,
                                 note=values.get("note", ""), **{n: values[n] for n in HIRE_FIELDS}))
    staff = group.staff[1] if group.staff else {}
    return ReportData(services=services_, hires=hires, narrative=staff.get("narrative", ""),
                      explanation=staff.get("explanation", ""), **{n: staff.get(n, 0) for n in STAFF_FIELDS})


def _locate(group: Group, path: validation.Path) -> tuple[str, int | None, str]:
    """Where in the file a validation path came from."""
    if path[0] == "service":
        return "beneficiaries", group.services.get(path[1], (None,))[0], path[2]
    if path[0] == "hire":
        return "hard_to_employ", group.hires.get(path[1], (None,))[0], path[2]
    row = group.staff[0] if group.staff else None
    return "staff", row, path[-1] if path[0] != "month" else "month"


def upload(session: Session, actor: User, stream: BinaryIO, submit: bool) -> Outcome:
    """Check the whole file, then import every month in it (and submit them when asked), or nothing."""
    if not access.can_prepare_reports(actor):
        raise NotAllowed()
    outcome = Outcome()
    reader = _Reader(outcome)
    frames = _frames(stream.read(), reader)
    if frames is None:
        return outcome
    groups = _groups(session, actor, frames, reader)
    if not groups and outcome.ok:
        reader.problem("", None, "", _("The file holds no figures: fill in at least one month."))
    categories = services.active_categories(session)
    checked: list[tuple[Group, ReportData, MonthlyReport | None]] = []
    existing = {(r.agreement_id, r.month): r for r in session.scalars(sa.select(MonthlyReport).where(
        MonthlyReport.agreement_id.in_({key[0] for key in groups})))} if groups else {}
    for key, group in sorted(groups.items(), key=lambda item: (item[1].agreement.number, item[1].month)):
        if not all(v is not None for _row, values in list(group.services.values()) + list(group.hires.values())
                   for k, v in values.items() if k != "note") or (group.staff and None in group.staff[1].values()):
            continue  # the number problems are listed already
        report = existing.get(key)
        if report is not None and report.newest.status not in (VersionStatus.DRAFT, VersionStatus.RETURNED):
            reader.problem("staff", group.staff[0] if group.staff else None, "month", _(
                "Agreement %(number)s, %(month)s: this report is already %(status)s; correct it in the portal instead.",
                number=group.agreement.number, month=f"{group.month:%Y-%m}", status=services.status_label(report.status)))
            continue
        data = _data(session, group, categories)
        context = services.context_for(group.agreement, group.month,
                                       services.previous_figures(session, group.agreement.id, group.month))
        result = validation.check(data, context) if submit else validation.Result(
            errors=validation.check_values(data).errors + validation.check_month(context))
        for issue in result.errors:
            sheet, row, column = _locate(group, issue.path)
            reader.problem(sheet, row, column, f"{group.agreement.number}, {group.month:%Y-%m}: {issue.message}")
        checked.append((group, data, report))
    if not outcome.ok:
        del outcome.problems[MAX_ERRORS:]
        return outcome
    for group, data, report in checked:
        report = report or services.start(session, actor, group.agreement, group.month)
        if report.newest.status == VersionStatus.RETURNED:
            services.revise(session, actor, report)
        services.save(session, actor, report, data, report.newest.edit_version)
        if submit:
            services.submit(session, actor, report)
        outcome.imported.append(Imported(group.agreement.number, group.month, report.id, submit))
    return outcome
