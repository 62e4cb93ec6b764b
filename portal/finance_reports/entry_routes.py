"""Financial report entries (issue 18): the report's entries in EUR and MKD as downloads, and the report of a period
entered from a spreadsheet — thin routes over `entries` and `bulk`, on the financial reports' blueprint."""

from __future__ import annotations

import re

from flask import Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SubmitField

from portal import access, clock
from portal.access import permission_required, role_required
from portal.db import db
from portal.errors import NotAllowed, NotFound
from portal.exports import csv_response, xlsx_response
from portal.finance_reports import bulk, entries, services
from portal.finance_reports.routes import _agreement, _report, bp
from portal.models import GrantAgreement


class BulkForm(FlaskForm):
    file = FileField(_l("Filled-in template (XLSX)"), validators=[FileRequired(_l("Choose the filled-in XLSX file."))])
    submit = SubmitField(_l("Upload and save into the draft"))


@bp.get("/financial-reports/<int:report_id>/entries.<fmt>")
@role_required()
def report_download(report_id: int, fmt: str):
    """The shown version's entries with their dates, EUR, the rate and MKD (CSV: the entries; XLSX: and the totals)."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    report = _report(report_id)
    version = services.visible_version(current_user, report)
    sheets = entries.report_sheets(db, report, version)
    name = "financial-report-" + re.sub(r"[^A-Za-z0-9_-]", "-", services.reference(report))
    if fmt == "csv":
        header, rows = next(iter(sheets.values()))
        return csv_response(f"{name}.csv", header, rows)
    return xlsx_response(f"{name}.xlsx", sheets)


def _editable(agreement_id: int, period: int) -> tuple[GrantAgreement, services.Period]:
    agreement = _agreement(agreement_id)
    if not access.can_edit_financial_reports_of(current_user, agreement):
        raise NotAllowed()
    found = services.period_of(agreement, period)
    if found is None:
        raise NotFound()
    return agreement, found


def _page(agreement: GrantAgreement, period: services.Period, form: BulkForm, outcome: bulk.Outcome | None = None,
          status: int = 200):
    report = services.report_for(db, agreement.id, period.number)
    return render_template("finance_reports/bulk.html", agreement=agreement, period=period, report=report, form=form,
                           outcome=outcome, status_label=services.status_label,
                           editable=report is None or report.newest.status in bulk.EDITABLE), status


@bp.get("/grants/<int:agreement_id>/finance/<int:period>/bulk")
@permission_required(access.can_prepare_financial_reports)
def bulk_page(agreement_id: int, period: int):
    agreement, found = _editable(agreement_id, period)
    return _page(agreement, found, BulkForm())


@bp.get("/grants/<int:agreement_id>/finance/<int:period>/template.xlsx")
@permission_required(access.can_prepare_financial_reports)
def bulk_template(agreement_id: int, period: int):
    agreement, found = _editable(agreement_id, period)
    content = bulk.template(db, current_user, agreement, found.number)
    stamp = clock.utc_to_skopje(clock.now()).strftime("%Y-%m-%d")
    name = re.sub(r"[^A-Za-z0-9_-]", "-", agreement.number)
    return Response(content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="financial-report-{name}-F{found.number}-{stamp}.xlsx"',
                             "Cache-Control": "no-store"})


@bp.post("/grants/<int:agreement_id>/finance/<int:period>/bulk")
@permission_required(access.can_prepare_financial_reports)
def bulk_upload(agreement_id: int, period: int):
    agreement, found = _editable(agreement_id, period)
    form = BulkForm()
    if not form.validate_on_submit():
        return _page(agreement, found, form, status=422)
    outcome = bulk.upload(db, current_user, agreement, found.number, form.file.data.stream, form.file.data.filename or "")
    if not outcome.ok:
        db.rollback()
        return _page(agreement, found, form, outcome, 422)
    db.commit()
    flash(_("The file has been saved into the draft of the financial report. Check it and submit it."), "success")
    return redirect(url_for("finance_reports.edit", report_id=outcome.report_id))
