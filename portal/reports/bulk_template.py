"""Bulk entry, the template: an XLSX workbook pre-filled with a provider's grants and the months it has to
report (and any draft figures), with the codes and instructions in the user's language. `_prefill` is what the
template writes for a month; the upload (`bulk`) compares with it to import only what someone changed."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from portal import access
from portal.errors import NotAllowed
from portal.exports import safe_cell
from portal.models import GrantAgreement, HardToEmployCategory, MonthlyReport, ServiceType, User, VersionStatus
from portal.models.reports import BENEFICIARY_FIELDS, HIRE_FIELDS, STAFF_FIELDS
from portal.reports import from_register, services, validation
from portal.reports.validation import ServiceFigures

SHEETS = ("beneficiaries", "staff", "hard_to_employ")


def _columns() -> dict[str, list[tuple[str, Any]]]:
    """(key, label) of every column, per sheet, in order."""
    return {
        "beneficiaries": [("agreement", _("Agreement")), ("month", _("Month (YYYY-MM)")),
                          ("service_type", _("Service type (code)")), ("service_type_name", _("Service type"))]
                         + list(validation.BENEFICIARY_LABELS.items()),
        "staff": [("agreement", _("Agreement")), ("month", _("Month (YYYY-MM)"))] + list(validation.STAFF_LABELS.items())
                 + [("narrative", _("Narrative")), ("explanation", _("Explanation of the warnings")),
                    ("submit", _("Submit this month (yes)"))],
        "hard_to_employ": [("agreement", _("Agreement")), ("month", _("Month (YYYY-MM)")),
                           ("category", _("Hard-to-employ group (code)")), ("category_name", _("Hard-to-employ group"))]
                          + [(k, v) for k, v in validation.HIRE_LABELS.items()],
    }


INFORMATIONAL = {"service_type_name", "category_name"}  # shown for people, ignored on upload
OPTIONAL = {"submit"}  # files made from an older template lack it


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


def _prefill(session: Session, agreement: GrantAgreement, report: MonthlyReport | None,
             categories: list[HardToEmployCategory], month: date | None = None) -> dict[tuple, dict[str, Any]]:
    """What the template writes for one grant's month (the figures of its newest version — a draft or a returned
    one in the template —, or nothing; for a grant whose beneficiaries come from its register, the register's figures
for `month`), by row: ("service", type id), ("staff",), ("hire", category id). The upload
    compares with the same values, so a month submitted in the portal since the download, left as it was in the
    file, is simply not imported."""
    data = services.data_of(session, report.newest, categories) if report is not None else None
    by_type = {s.service_type_id: s for s in data.services} if data else {}
    month = report.month if report is not None else month
    if month is not None and from_register.applies(agreement):  # the register's figures: the upload refuses others
        register = from_register.figures(session, agreement, month)
        by_type = {t.id: ServiceFigures(t.id, service_hours=getattr(by_type.get(t.id), "service_hours", None),
                                        **{n: register.get(t.id, {}).get(n, 0) for n in from_register.REGISTER_FIELDS})
                   for t in agreement.application.service_types}
    by_category = {h.category_id: h for h in data.hires} if data else {}
    rows: dict[tuple, dict[str, Any]] = {}
    for service_type in agreement.application.service_types:
        figures = by_type.get(service_type.id)
        rows[("service", service_type.id)] = {n: getattr(figures, n) if figures else None for n in BENEFICIARY_FIELDS}
    rows[("staff",)] = {**{n: getattr(data, n) if data else None for n in STAFF_FIELDS},
                        "narrative": data.narrative if data else "", "explanation": data.explanation if data else ""}
    for category in categories:
        figures = by_category.get(category.id)
        rows[("hire", category.id)] = {**{n: getattr(figures, n) if figures else None for n in HIRE_FIELDS},
                                       "note": figures.note if figures else ""}
    return rows


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
                   "at most the staff, new + continuing = total, those continuing = last month's served − those who "
                   "left. Where the report shows a warning (more than one and a half times the capacity, a change of "
                   "more than a half, beneficiaries without staff, continuity, a month of zeros) write the explanation "
                   "in the staff sheet."),
                 _("Those new this month are broken down as those served (women and men, age bands, with and without "
                   "a disability): each breakdown adds up to those new this month, and no part is more than the same "
                   "part of those served. Of the staff newly hired from a group, the women are at most the newly hired "
                   "and at most the women of the group."),
                 _("4. Only the months you change are imported: a month whose rows are left as they were pre-filled is "
                   "skipped. To submit a month exactly as pre-filled, write yes in its submit cell (staff sheet)."),
                 _("5. Upload the file in the portal. Nothing is imported unless the whole file is valid; every problem is "
                   "listed at once with its sheet, row and column. A month is submitted once it has ended, with the "
                   "evidence its call requires already uploaded in the portal.")):
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
        prefill = _prefill(session, item.agreement, item.report, categories, item.month)
        for service_type in item.agreement.application.service_types:
            values = prefill[("service", service_type.id)]
            sheets["beneficiaries"].append([number, month, service_type.code, service_type.name()]
                                           + [values[n] for n in BENEFICIARY_FIELDS])
        staff = prefill[("staff",)]
        sheets["staff"].append([number, month] + [staff[n] for n in STAFF_FIELDS]
                               + [staff["narrative"], staff["explanation"], None])
        for category in categories:
            values = prefill[("hire", category.id)]
            sheets["hard_to_employ"].append([number, month, category.code, category.name()]
                                            + [values[n] for n in HIRE_FIELDS] + [values["note"]])
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
