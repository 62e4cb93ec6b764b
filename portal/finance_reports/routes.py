"""Grantee financial reports: thin routes over `portal.finance_reports.services`."""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import access
from portal.access import permission_required, role_required
from portal.calls.forms import ConfirmForm
from portal.db import db
from portal.documents import services as document_services
from portal.documents.forms import upload_form
from portal.documents.routes import attach
from portal.errors import NotAllowed, NotFound, ValidationFailed
from portal.exports import csv_response, xlsx_response
from portal.finance_reports import entries, services
from portal.finance_reports.forms import FinanceFormBase, ReviewFormBase, finance_form, review_form
from portal.models import FinancialReport, GrantAgreement
from portal.pagination import paginate
from portal.web import apply_errors, page_arg, page_size, version_of

bp = Blueprint("finance_reports", __name__)

EVIDENCE = document_services.OBJECT_PURPOSES["financial_report"]


def _agreement(agreement_id: int) -> GrantAgreement:
    agreement = db.get(GrantAgreement, agreement_id)
    if agreement is None:
        raise NotFound()
    return agreement


def _report(report_id: int) -> FinancialReport:
    report = db.get(FinancialReport, report_id)
    if report is None:
        raise NotFound()
    if not access.can_view_financial_report(current_user, report):
        raise NotAllowed()
    return report


@bp.get("/financial-reports")
@role_required()
def index():
    """Providers: their grants, each leading to its periods. The ministry: the submitted financial reports."""
    if access.can_prepare_financial_reports(current_user):
        return render_template("finance_reports/mine.html", agreements=services.provider_agreements(db, current_user))
    if not access.can_read_financial_reports(current_user):
        abort(403)
    status = request.args.get("status", "submitted")
    page = paginate(db, services.review_query(status), page_arg(), page_size())
    return render_template("finance_reports/queue.html", page=page, status=status, statuses=services.STATUSES,
                           status_label=services.status_label, reference=services.reference,
                           args={k: v for k, v in request.args.items() if k != "page"})


@bp.get("/grants/<int:agreement_id>/finance")
@role_required()
def grant(agreement_id: int):
    """Budget vs spent vs disbursed, co-financing, and the reporting periods."""
    agreement = _agreement(agreement_id)
    if not access.can_view_grant_finance(current_user, agreement):
        raise NotAllowed()
    return render_template("finance_reports/grant.html", agreement=agreement,
                           finance=services.grant_finance(db, agreement), status_label=services.status_label,
                           can_prepare=access.can_edit_financial_reports_of(current_user, agreement),
                           can_view_agreement=access.can_view_agreement(current_user, agreement),
                           can_view_amendments=access.can_view_budget_amendments(current_user, agreement),
                           can_open=lambda r: access.can_view_financial_report(current_user, r), confirm=ConfirmForm())


@bp.get("/grants/<int:agreement_id>/finance.<fmt>")
@role_required()
def grant_download(agreement_id: int, fmt: str):
    """The same summary as CSV (the budget lines) or XLSX (the budget lines and the totals)."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    agreement = _agreement(agreement_id)
    if not access.can_view_grant_finance(current_user, agreement):
        raise NotAllowed()
    sheets = services.export_sheets(services.grant_finance(db, agreement))
    name = "finance-" + re.sub(r"[^A-Za-z0-9_-]", "-", agreement.number)
    if fmt == "csv":
        header, rows = next(iter(sheets.values()))
        return csv_response(f"{name}.csv", header, rows)
    return xlsx_response(f"{name}.xlsx", sheets)


@bp.post("/grants/<int:agreement_id>/finance/<int:period>/start")
@permission_required(access.can_prepare_financial_reports)
def start(agreement_id: int, period: int):
    agreement = _agreement(agreement_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    report = services.start(db, current_user, agreement, period)
    db.commit()
    return redirect(url_for("finance_reports.edit", report_id=report.id))


def _render_form(report: FinancialReport, form: FinanceFormBase, status: int = 200):
    agreement = report.agreement
    pct = services.variance_pct(agreement)
    from portal.finance_reports.amendments import amounts_in_force

    approved = amounts_in_force(db, agreement)  # as awarded, or as the newest approved budget amendment says
    lines = [(line, services.line_limit(line, pct, approved[line.id])) for line in services.budget_lines(agreement)]
    return render_template("finance_reports/form.html", report=report, form=form, lines=lines, pct=pct, approved=approved,
                           reference=services.reference(report),
                           other=services.spent_in_other_periods(db, report)), status


@bp.route("/financial-reports/<int:report_id>/edit", methods=["GET", "POST"])
@permission_required(access.can_prepare_financial_reports)
def edit(report_id: int):
    report = _report(report_id)
    if not access.can_edit_financial_reports_of(current_user, report.agreement):
        raise NotAllowed()
    if report.newest.status != services.Status.DRAFT:
        flash(_("This financial report is not a draft; it is shown as submitted."), "info")
        return redirect(url_for("finance_reports.detail", report_id=report.id))
    form = finance_form(services.budget_lines(report.agreement), entries.months_of(report))
    if request.method == "GET":
        form.fill(services.data_of(report.newest), report.newest.edit_version)
        return _render_form(report, form)
    if not form.validate_on_submit():
        return _render_form(report, form, 422)
    submitting = bool(form.submit_report.data)
    if submitting and not form.confirm.data:
        form.confirm.errors = [_("Tick the box to confirm the amounts before you submit.")]
        return _render_form(report, form, 422)
    try:
        services.save(db, current_user, report, form.to_data(), version_of(form.edit_version.data))
        if submitting:
            services.submit(db, current_user, report)
    except ValidationFailed as exc:
        db.rollback()
        apply_errors(form, exc)
        return _render_form(report, form, 422)
    db.commit()
    if not submitting:
        flash(_("The draft has been saved. Submit it when the amounts are complete."), "success")
        return redirect(url_for("finance_reports.edit", report_id=report.id))
    flash(_("The financial report has been submitted. The ministry's finance officers review it."), "success")
    return redirect(url_for("finance_reports.detail", report_id=report.id))


def _detail(report: FinancialReport, review: ReviewFormBase | None = None, status: int = 200):
    version = services.visible_version(current_user, report)
    can_review = access.can_review_financial_reports(current_user) and report.newest.status == services.Status.SUBMITTED
    if review is None and can_review:
        review = review_form([line.budget_line for line in report.newest.lines], formdata=None)
    documents = document_services.documents_for(db, "financial_report", report.id)
    can_edit = access.can_edit_financial_reports_of(current_user, report.agreement)
    return render_template("finance_reports/detail.html", report=report, version=version, review=review,
                           documents=documents, purpose_label=document_services.purpose_label,
                           history_docs=document_services.versions_by_series(db, [d.series_id for d in documents]),
                           upload=upload_form(EVIDENCE, formdata=None) if can_edit else None,
                           upload_url=url_for("finance_reports.upload_document", report_id=report.id),
                           can_download=access.can_download_document,
                           can_review=can_review, reference=services.reference(report),
                           can_edit=can_edit, status_label=services.status_label, line_label=services.line_label,
                           mkd=entries.view(db, report, version),
                           versions=[v for v in reversed(report.versions)
                                     if v.status != services.Status.DRAFT or v is version]), status


@bp.get("/financial-reports/<int:report_id>")
@role_required()
def detail(report_id: int):
    return _detail(_report(report_id))


@bp.post("/financial-reports/<int:report_id>/review")
@permission_required(access.can_review_financial_reports)
def review(report_id: int):
    """Accept the submitted report (with the ineligible part of each line) or return it with comments."""
    report = _report(report_id)
    form = review_form([line.budget_line for line in report.newest.lines])
    try:
        if not form.validate_on_submit() or not (form.accept.data or form.send_back.data):
            raise ValidationFailed(field_errors={"comment": list(form.comment.errors) or [
                _("Choose whether to accept the financial report or return it.")]})
        if form.accept.data:
            services.accept(db, current_user, report, form.ineligible(), form.reasons(), form.comment.data or "")
            message = _("The financial report has been accepted.")
        else:
            services.return_report(db, current_user, report, form.comment.data or "")
            message = _("The financial report has been returned to the provider with your comments.")
    except ValidationFailed as exc:
        db.rollback()
        form.comment.errors = []
        apply_errors(form, exc)
        return _detail(report, form, 422)
    db.commit()
    flash(message, "success")
    return redirect(url_for("finance_reports.detail", report_id=report.id))


@bp.post("/financial-reports/<int:report_id>/revise")
@permission_required(access.can_prepare_financial_reports)
def revise(report_id: int):
    report = _report(report_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.revise(db, current_user, report)
    db.commit()
    flash(_("A new version has been started from the returned one. Correct it and submit it again."), "success")
    return redirect(url_for("finance_reports.edit", report_id=report.id))


@bp.post("/financial-reports/<int:report_id>/documents")
@permission_required(access.can_prepare_financial_reports)
def upload_document(report_id: int):
    """Supporting documents (invoices, payroll, bank statements) through the document service."""
    report = _report(report_id)
    if not access.can_edit_financial_reports_of(current_user, report.agreement):
        raise NotAllowed()
    return attach("financial_report", report.id, report.agreement.application.organisation,
                  _("The document has been uploaded."), url_for("finance_reports.detail", report_id=report.id))


from portal.finance_reports import entry_routes  # noqa: E402,F401,I001  (entries in MKD, bulk entry from XLSX)
from portal.finance_reports import overview_routes  # noqa: E402,F401  (spending against plan, on this blueprint)
