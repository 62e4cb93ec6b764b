"""Monthly reports: thin routes over `portal.reports.services`, `.completeness` and `.bulk`."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import access, clock
from portal.access import permission_required, role_required
from portal.calls.forms import ConfirmForm
from portal.calls.services import get_programme
from portal.db import db
from portal.documents import services as document_services
from portal.documents.forms import upload_form
from portal.documents.routes import attach
from portal.errors import NotAllowed, NotFound, ValidationFailed
from portal.exports import csv_response, xlsx_response
from portal.finance_reports import overdue as finance_overdue
from portal.indicators import freshness
from portal.models import GrantAgreement, MonthlyReport, VersionStatus
from portal.pagination import paginate
from portal.reports import bulk, completeness, from_register, services, validation
from portal.reports.forms import BulkUploadForm, CorrectionForm, ReportFormBase, ReviewForm, SettingsForm, fill, report_form
from portal.reports.validation import BENEFICIARY_LABELS, HIRE_LABELS, STAFF_LABELS
from portal.web import apply_errors, page_arg, page_size

bp = Blueprint("reports", __name__)

EVIDENCE = document_services.OBJECT_PURPOSES["report"]


def _report(report_id: int) -> MonthlyReport:
    report = db.get(MonthlyReport, report_id)
    if report is None:
        raise NotFound()
    if not access.can_view_report(current_user, report):
        raise NotAllowed()
    return report


def _agreement(agreement_id: int) -> GrantAgreement:
    agreement = db.get(GrantAgreement, agreement_id)
    if agreement is None:
        raise NotFound()
    return agreement


@bp.get("/reports")
@role_required()
def index():
    """Providers: their grants and months. The ministry and municipalities: submitted reports to read or review."""
    if access.can_prepare_reports(current_user):
        return render_template("reports/mine.html", overview=services.provider_overview(db, current_user),
                               status_label=services.status_label, timeliness_label=services.timeliness_label,
                               programme=get_programme(db))
    if not access.can_read_submitted_reports(current_user):
        abort(403)
    filters = services.QueueFilter(status=request.args.get("status", "submitted"),
                                   agreement=request.args.get("agreement", ""))
    page = paginate(db, services.review_query(current_user, filters), page_arg(), page_size())
    return render_template("reports/queue.html", page=page, filters=filters, status_label=services.status_label,
                           args={k: v for k, v in request.args.items() if k != "page"}, programme=get_programme(db),
                           timeliness=services.timeliness_of, timeliness_label=services.timeliness_label,
                           now=clock.now(), statuses=["submitted", "returned", "accepted", "draft"])


@bp.post("/grants/<int:agreement_id>/reports/<month>/start")
@permission_required(access.can_prepare_reports)
def start(agreement_id: int, month: str):
    agreement = _agreement(agreement_id)
    parsed = services.parse_month(month)
    if parsed is None:
        raise NotFound()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    report = services.start(db, current_user, agreement, parsed)
    db.commit()
    return redirect(url_for("reports.edit", report_id=report.id))


def _render_form(report: MonthlyReport, form: ReportFormBase, template, status: int = 200, result=None):
    return render_template("reports/form.html", report=report, form=form, data=template,
                           result=result or services.check_submission(db, report), labels=BENEFICIARY_LABELS,
                           evidence=services.required_evidence(report.agreement),
                           evidence_missing=services.missing_evidence(db, report),
                           purpose_label=document_services.purpose_label,
                           submittable_from=validation.submittable_from(report.month,
                                                                        get_programme(db).report_early_days),
                           staff_labels=STAFF_LABELS, hire_labels=HIRE_LABELS, reference=services.report_reference(report),
                           due=services.due_on(get_programme(db), report.month),
                           from_register=from_register.applies(report.agreement), as_of=clock.now()), status


@bp.route("/reports/<int:report_id>/edit", methods=["GET", "POST"])
@permission_required(access.can_prepare_reports)
def edit(report_id: int):
    report = _report(report_id)
    if not access.can_edit_reports_of(current_user, report.agreement):
        raise NotAllowed()
    if report.newest.status != VersionStatus.DRAFT:
        flash(_("This report is not a draft; it is shown as submitted."), "info")
        return redirect(url_for("reports.detail", report_id=report.id))
    template = from_register.draft_template(db, report)
    form = report_form(template)
    if request.method == "GET":
        fill(form, template)
        form.edit_version.data = str(report.newest.edit_version)
        return _render_form(report, form, template)
    if not form.validate_on_submit():
        return _render_form(report, form, template, 422)
    data = form.to_data(template)
    submitting = bool(form.submit_report.data)
    if submitting and not form.confirm.data:
        form.confirm.errors = [_("Tick the box to confirm the figures before you submit.")]
        return _render_form(report, form, template, 422)
    try:
        services.save(db, current_user, report, data, int(form.edit_version.data or 0))
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return _render_form(report, form, template, 422)
    if not submitting:
        db.commit()
        flash(_("The draft has been saved. Submit it when the figures are complete."), "success")
        return redirect(url_for("reports.edit", report_id=report.id))
    try:
        services.submit(db, current_user, report)
    except ValidationFailed as exc:
        db.commit()  # the draft keeps what was typed
        form.edit_version.data = str(report.newest.edit_version)
        apply_errors(form, exc)
        return _render_form(report, form, template, 422)
    db.commit()
    flash(_("The report has been submitted. The ministry reviews it and you are told by email."), "success")
    return redirect(url_for("reports.detail", report_id=report.id))


def _detail_context(report: MonthlyReport, **forms) -> dict:
    version = services.visible_version(current_user, report)
    can_edit = access.can_edit_reports_of(current_user, report.agreement)
    documents = document_services.documents_for(db, "report", report.id)
    programme = get_programme(db)
    context = dict(
        report=report, version=version, data=services.data_of(db, version), labels=BENEFICIARY_LABELS,
        staff_labels=STAFF_LABELS, hire_labels=HIRE_LABELS,
        history=[(v, c) for v, c in services.history(db, report) if can_edit or v.status != VersionStatus.DRAFT],
        reference=services.report_reference(report), status_label=services.status_label, can_edit=can_edit,
        can_review=access.can_review_reports(current_user) and report.newest.status == VersionStatus.SUBMITTED,
        review=ReviewForm(formdata=None), correction=CorrectionForm(formdata=None),
        timeliness=services.timeliness_of(programme, report, report.month, clock.now()),
        timeliness_label=services.timeliness_label, due=services.due_on(programme, report.month), documents=documents,
        history_docs=document_services.versions_by_series(db, [d.series_id for d in documents]),
        upload=upload_form(EVIDENCE, formdata=None) if can_edit else None,
        upload_url=url_for("reports.upload_document", report_id=report.id),
        register_drift=from_register.drift(db, version), as_of=clock.now(),
        purpose_label=document_services.purpose_label, can_download=access.can_download_document)
    context.update(forms)
    return context


@bp.get("/reports/<int:report_id>")
@role_required()
def detail(report_id: int):
    return render_template("reports/detail.html", **_detail_context(_report(report_id)))


@bp.post("/reports/<int:report_id>/review")
@permission_required(access.can_review_reports)
def review(report_id: int):
    """Accept the submitted report, or return it with comments (one form, two buttons)."""
    report = _report(report_id)
    form = ReviewForm()
    try:
        if not form.validate_on_submit():
            raise ValidationFailed(field_errors={"comment": [_("Choose whether to accept the report or return it.")]})
        if form.accept.data:
            if not form.confirm.data:
                raise ValidationFailed(field_errors={"confirm": [_("Tick the box to confirm that you checked the report.")]})
            services.accept(db, current_user, report, form.comment.data or "")
            message = ""  # after the commit: whether the indicator figures already count it (they are refreshed now)
        elif form.send_back.data:
            services.return_report(db, current_user, report, form.comment.data or "")
            message = _("The report has been returned to the provider with your comments.")
        else:
            raise ValidationFailed(field_errors={"comment": [_("Choose whether to accept the report or return it.")]})
    except ValidationFailed as exc:
        db.rollback()
        apply_errors(form, exc)
        return render_template("reports/detail.html", **_detail_context(report, review=form)), 422
    db.commit()
    flash(message or freshness.accepted_message(db), "success")
    return redirect(url_for("reports.detail", report_id=report.id))


@bp.post("/reports/<int:report_id>/revise")
@permission_required(access.can_prepare_reports)
def revise(report_id: int):
    report = _report(report_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.revise(db, current_user, report)
    db.commit()
    flash(_("A new version has been started from the returned one. Correct it and submit it again."), "success")
    return redirect(url_for("reports.edit", report_id=report.id))


@bp.post("/reports/<int:report_id>/correction")
@permission_required(access.can_prepare_reports)
def correction(report_id: int):
    report = _report(report_id)
    form = CorrectionForm()
    try:
        if not form.validate_on_submit():
            raise ValidationFailed(field_errors={"reason": list(form.reason.errors) or [
                _("Say what is wrong in the accepted report.")]})
        services.request_correction(db, current_user, report, form.reason.data or "")
    except ValidationFailed as exc:
        db.rollback()
        form.reason.errors = []
        apply_errors(form, exc)
        return render_template("reports/detail.html", **_detail_context(report, correction=form)), 422
    db.commit()
    flash(_("A correction has been started as a new version. The accepted version keeps counting until the "
            "correction is accepted."), "success")
    return redirect(url_for("reports.edit", report_id=report.id))


@bp.post("/reports/<int:report_id>/documents")
@permission_required(access.can_prepare_reports)
def upload_document(report_id: int):
    report = _report(report_id)
    if not access.can_edit_reports_of(current_user, report.agreement):
        raise NotAllowed()
    return attach("report", report.id, report.agreement.application.organisation, _("The evidence has been uploaded."),
                  url_for("reports.detail", report_id=report.id))


# Completeness ----------------------------------------------------------------------------------------

def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _completeness_filters() -> completeness.Filters:
    until = services.parse_month(request.args.get("until", "")) if request.args.get("until") else None
    by = request.args.get("by", "grant")
    return completeness.Filters(region_id=_int_arg("region"), service_type_id=_int_arg("service_type"),
                                until=until, by=by if by in ("grant", "municipality") else "grant")


def _labels_once(label):
    """The label of each state looked up once per request (the grid asks for one per cell)."""
    known: dict = {}

    def once(value):
        key = getattr(value, "value", value)
        if key not in known:
            known[key] = label(value)
        return known[key]

    return once


@bp.get("/reports/completeness")
@permission_required(access.can_view_completeness)
def completeness_page():
    filters = _completeness_filters()
    per_page = page_size()
    data = completeness.build(db, current_user, filters, page=page_arg(), per_page=per_page)
    regions, types = completeness.filter_choices(db)
    page, pages = data.page, max(1, -(-data.total // per_page))
    # The grant rows are the page's only (from the database); the municipalities (at most 81) are all counted.
    rows = data.grant_rows if filters.by == "grant" else data.municipality_rows[(page - 1) * per_page:page * per_page]
    return render_template("reports/completeness.html", data=data, filters=filters, regions=regions, types=types,
                           rows=rows, page=page, pages=pages, total=data.total,
                           timeliness_label=_labels_once(services.timeliness_label), counted=completeness.COUNTED,
                           links=access.can_read_submitted_reports(current_user),
                           finance=finance_overdue.summary(db, current_user, filters, shown=finance_overdue.SHOWN),
                           finance_label=finance_overdue.state_label, finance_states=list(finance_overdue.State),
                           due_days=finance_overdue.DUE_DAYS, finance_shown=finance_overdue.SHOWN,
                           args={k: v for k, v in request.args.items() if k != "page"})


@bp.get("/reports/completeness.<fmt>")
@permission_required(access.can_view_completeness)
def completeness_download(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    data = completeness.build(db, current_user, _completeness_filters())
    header, rows = completeness.export_rows(data, services.timeliness_label)
    header = [_("Agreement"), _("Provider"), _("Municipality"), _("Planning region")] + header[4:]
    if fmt == "csv":
        return csv_response("reporting-completeness.csv", header, rows)
    totals_header = [_("Month"), _("Due"), _("On time"), _("Late"), _("Returned"), _("Missing"), _("Reporting rate (%)"),
                     _("On time (%)")]
    totals = [[f"{t.month:%Y-%m}", t.due] + [t.counts[s] for s in completeness.COUNTED]
              + [t.rate(), t.rate(services.Timeliness.ON_TIME)] for t in data.totals]
    return xlsx_response("reporting-completeness.xlsx", {_("Grants"): (header, rows), _("Totals per month"): (totals_header, totals),
                                                          _("Financial reports"): finance_overdue.export_rows(
                                                              finance_overdue.summary(db, current_user, _completeness_filters()))})


# Bulk entry ----------------------------------------------------------------------------------------

@bp.get("/reports/bulk")
@permission_required(access.can_prepare_reports)
def bulk_page():
    return render_template("reports/bulk.html", form=BulkUploadForm(), due=bulk.due_months(db, current_user), outcome=None)


@bp.get("/reports/bulk/template.xlsx")
@permission_required(access.can_prepare_reports)
def bulk_template():
    content = bulk.template(db, current_user)
    stamp = clock.utc_to_skopje(clock.now()).strftime("%Y-%m-%d")
    return Response(content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="monthly-reports-{stamp}.xlsx"',
                             "Cache-Control": "no-store"})


@bp.post("/reports/bulk")
@permission_required(access.can_prepare_reports)
def bulk_upload():
    form = BulkUploadForm()
    if not form.validate_on_submit():
        return render_template("reports/bulk.html", form=form, due=bulk.due_months(db, current_user), outcome=None), 422
    outcome = bulk.upload(db, current_user, form.file.data.stream, bool(form.submit_reports.data))
    if not outcome.ok:
        db.rollback()
        return render_template("reports/bulk.html", form=form, due=bulk.due_months(db, current_user), outcome=outcome), 422
    db.commit()
    flash(_("%(n)d monthly reports have been imported.", n=len(outcome.imported)), "success")
    return render_template("reports/bulk.html", form=BulkUploadForm(formdata=None), due=bulk.due_months(db, current_user),
                           outcome=outcome)


# Settings ------------------------------------------------------------------------------------------

@bp.route("/admin/reports/settings", methods=["GET", "POST"])
@permission_required(access.can_manage_report_settings)
def settings():
    programme = get_programme(db)
    form = SettingsForm()
    if request.method == "GET":
        form.due_day.data, form.reminder_days.data = programme.report_due_day, programme.report_reminder_days
        form.early_days.data = programme.report_early_days
        form.version_id.data = str(programme.version_id)
    elif form.validate_on_submit():
        try:
            services.update_settings(db, current_user, form.due_day.data, form.reminder_days.data,
                                     int(form.version_id.data or 0), form.early_days.data or 0)
        except ValidationFailed as exc:
            db.rollback()
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The reporting settings have been saved."), "success")
            return redirect(url_for("reports.settings"))
    example = services.first_of(services.today_in_skopje())
    status = 422 if form.errors or form.form_errors else 200
    return render_template("reports/settings.html", form=form, programme=programme,
                           example_due=services.due_on(programme, example), example=example,
                           example_from=validation.submittable_from(example, programme.report_early_days)), status
