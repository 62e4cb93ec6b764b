"""CSV and XLSX downloads. No cell ever starts a formula: text beginning with =, +, -, @, a tab or
a carriage return is prefixed with an apostrophe; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from flask import Response

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would read as a formula gets an apostrophe; numbers (a reversal of
    -48,300.00 included) are never text, so a sum over the column still counts them."""
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


def csv_value(value: Any) -> Any:
    """One CSV field: numbers written as plain numbers (Decimal exactly, never in exponent form), text guarded."""
    if isinstance(value, bool):
        return safe_cell(str(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (int, float)):
        return value
    return safe_cell(value)


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # a BOM, so spreadsheet programs read Cyrillic correctly
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_value(v) for v in row])
    return Response(buffer.getvalue().encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


def xlsx_response(filename: str, sheets: dict[str, tuple[Sequence[str], Iterable[Sequence[Any]]]]) -> Response:
    """One sheet per entry: (header, rows). Strings are written as text cells, never formulas."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, (header, rows) in sheets.items():
        sheet = workbook.create_sheet(title=title[:31])
        sheet.append([safe_cell(h) for h in header])
        for row in rows:
            sheet.append([safe_cell(v) for v in row])
        for row_cells in sheet.iter_rows():
            for cell in row_cells:
                if isinstance(cell.value, str):
                    cell.data_type = TYPE_STRING
        for column in sheet.columns:
            width = max(len(str(c.value or "")) for c in column)
            sheet.column_dimensions[column[0].column_letter].width = min(60, max(10, width + 2))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(buffer.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
