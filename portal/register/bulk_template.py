"""The template of a register's bulk import (`portal.register.bulk`): an XLSX workbook with the columns of the form,
headed `Label [key]` so that it reads the same in every language, the personal-number column formatted as text (so
that a spreadsheet keeps its leading zero), the codes of the grant's services, the reasons for leaving and the
municipalities, and the instructions. It holds no entry: the provider types the people in."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from portal.errors import NotAllowed
from portal.exports import safe_cell
from portal.labels import LEAVING_REASON
from portal.models import GrantAgreement, Municipality, User
from portal.register import access, services
from portal.register.bulk import SHEET, columns

TEXT_ROWS = 2000  # rows of the personal-number column formatted as text


def template(session: Session, actor: User, agreement: GrantAgreement) -> bytes:
    if not access.can_keep(actor, agreement):
        raise NotAllowed()
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    sheet.append([f"{label} [{key}]" for key, label in columns()])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, (key, label) in enumerate(columns(), start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = min(40, max(14, len(label) + 6))
        if key in ("personal_number", "decision_number", "local_reference"):
            for row in range(2, TEXT_ROWS + 2):
                sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    codes = workbook.create_sheet("codes")
    codes.append([_("Services of this grant")])
    codes.append([_("Code"), _("Service")])
    for t in services.service_types_of(agreement):
        codes.append([t.code, safe_cell(t.name())])
    codes.append([])
    codes.append([_("Reasons for leaving")])
    codes.append([_("Code"), _("Reason")])
    for code, text in LEAVING_REASON.items():
        codes.append([code, str(text)])
    codes.append([])
    codes.append([_("Yes / no (disability, confirmation)")])
    codes.append(["yes", _("Yes")])
    codes.append(["no", _("No")])
    codes.append([])
    codes.append([_("Municipalities")])
    codes.append([_("Code"), _("Municipality")])
    for m in sorted(session.scalars(sa.select(Municipality)), key=lambda m: m.code):
        codes.append([m.code, safe_cell(m.name())])
    codes.column_dimensions["A"].width = 20
    codes.column_dimensions["B"].width = 50
    notes = workbook.create_sheet("instructions")
    for line in (
        _("Service-user register of grant %(number)s: one row per person and service.", number=agreement.number),
        _("The personal number (ЕМБГ) is checked and turned into a code that cannot be turned back; the number "
          "itself is not kept, and neither is this file. Sex and year of birth are read from it."),
        _("If the check digit of a number from the 1990s fails but the number is written exactly so on the ЦСР "
          "decision, write yes in the confirmation column."),
        _("Dates as YYYY-MM-DD or DD.MM.YYYY. The service, the reason for leaving and the municipality by their "
          "code (codes sheet). Leave the end date and the reason empty while the service goes on."),
        _("Nothing is imported unless every row is valid: every problem is listed by row and column."),
        _("A CSV file with the same header row (comma or semicolon separated, UTF-8) is accepted too."),
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 120
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = TYPE_STRING
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
