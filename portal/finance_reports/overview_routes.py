"""Spending and co-financing against plan: thin routes over `portal.finance_reports.overview` (registered on the
financial reports' blueprint)."""

from __future__ import annotations

from flask import abort, render_template, request
from flask_login import current_user

from portal import access
from portal.access import permission_required
from portal.db import db
from portal.exports import csv_response, xlsx_response
from portal.finance_reports import overview
from portal.finance_reports.routes import bp
from portal.web import page_arg, page_size


def _call_arg() -> int | None:
    value = request.args.get("call", "")
    return int(value) if value.isdigit() and len(value) < 10 else None


@bp.get("/financial-reports/overview")
@permission_required(access.can_view_finance_overview)
def overview_page():
    """Per call and for the programme: approved, spent, eligible, disbursed, co-financing declared and received."""
    call_id = _call_arg()
    data = overview.build(db, current_user, call_id, page=page_arg(), per_page=page_size())
    return render_template("finance_reports/overview.html", data=data, choices=overview.call_choices(db),
                           labels=overview.labels(), definitions=overview.DEFINITIONS, figures=overview.FIGURES,
                           args={"call": call_id} if call_id else {})


@bp.get("/financial-reports/overview.<fmt>")
@permission_required(access.can_view_finance_overview)
def overview_download(fmt: str):
    """The same views as CSV (the grants and their total) or XLSX (the grants, the calls and the definitions)."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    call_id = _call_arg()
    sheets = overview.export_sheets(overview.build(db, current_user, call_id))
    name = "spending-against-plan" + (f"-call-{call_id}" if call_id else "")
    if fmt == "csv":
        header, rows = next(iter(sheets.values()))
        definitions = next(reversed(sheets.values()))[1]
        return csv_response(f"{name}.csv", header, rows + [[""] * len(header)]
                            + [[text, when] for _figure, text, when in definitions])
    return xlsx_response(f"{name}.xlsx", sheets)
