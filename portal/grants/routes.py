"""Agreements, tranches and the envelope: thin routes over `portal.grants`."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import access, clock
from portal.access import permission_required, role_required
from portal.applications import services as application_services
from portal.calls.forms import ConfirmForm
from portal.db import db
from portal.documents import services as document_services
from portal.documents.forms import upload_form
from portal.documents.routes import attach
from portal.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationFailed
from portal.exports import csv_response, xlsx_response
from portal.finance_reports import overview as finance_overview
from portal.finance_reports.amendments import budget_in_force
from portal.finance_reports.conditions import release_conditions
from portal.grants import dashboard, four_eyes, ledger
from portal.grants import services as grants
from portal.grants.forms import AgreementForm, AmendmentForm, PaymentForm, ReverseForm
from portal.models import Application, GrantAgreement, LedgerEntry, Tranche
from portal.pagination import page_of, paginate
from portal.reports import services as report_services
from portal.web import apply_errors, page_arg, page_size, version_of

bp = Blueprint("grants", __name__)


def _agreement(agreement_id: int) -> GrantAgreement:
    agreement = db.get(GrantAgreement, agreement_id)
    if agreement is None:
        raise NotFound()
    if not access.can_view_agreement(current_user, agreement):
        raise NotAllowed()
    return agreement


def _terms_errors(form, exc: ValidationFailed) -> None:
    apply_errors(form, exc)


@bp.route("/applications/<int:application_id>/agreement", methods=["GET", "POST"])
@permission_required(access.can_manage_agreements)
def create(application_id: int):
    application = db.get(Application, application_id)
    if application is None:
        raise NotFound()
    form = AgreementForm()
    award = grants.award_of(db, application)
    if request.method == "GET" and award is not None:
        # Proposed terms: from the first day of next month, 24 months, the call's tranche template.
        today = clock.utc_to_skopje(clock.now()).date()
        start = grants.add_months(today.replace(day=1), 1)
        form.signature_date.data, form.start_date.data = today, start
        form.end_date.data = grants.add_months(start, 24) - timedelta(days=1)
        form.committed_eur.data = award.amount_eur
        while len(form.tranches.entries):
            form.tranches.pop_entry()
        for row in grants.schedule_from_template(application.call, award.amount_eur, start):
            form.tranches.append_entry({"planned_date": row.planned_date, "amount_eur": row.amount_eur,
                                        "reports_required_through": row.reports_required_through,
                                        "requires_finance_period": row.finance_period,
                                        "min_spent_pct": row.min_spent_pct})
    if form.add_tranche.data:
        form.tranches.append_entry()
    elif form.validate_on_submit() and not form.tranche_errors():
        try:
            agreement = grants.create_agreement(db, current_user, application, form.number.data or "", form.to_terms())
        except ValidationFailed as exc:
            _terms_errors(form, exc)
        else:
            db.commit()
            flash(_("The agreement has been recorded and its amount committed."), "success")
            return redirect(url_for("grants.detail", agreement_id=agreement.id))
    else:
        form.form_errors.extend(form.tranche_errors())
    status = 422 if form.errors or form.form_errors else 200
    return render_template("grants/agreement_form.html", form=form, application=application, award=award,
                           agreement=None), status


@bp.get("/grants")
@role_required()
def index():
    query = grants.visible_agreements_query(current_user)
    if query is None:
        abort(403)
    page = paginate(db, query, page_arg(), page_size())
    return render_template("grants/index.html", agreements=page.items, page=page,
                           paid=grants.paid_by_agreement(db, page.items))


@bp.get("/grants/<int:agreement_id>")
@role_required()
def detail(agreement_id: int):
    agreement = _agreement(agreement_id)
    documents = document_services.documents_for(db, "agreement", agreement.id)
    can_manage = access.can_manage_agreements(current_user)
    entries = db.query(LedgerEntry).filter(LedgerEntry.agreement_id == agreement.id).order_by(LedgerEntry.id).all()
    return render_template(
        "grants/detail.html", agreement=agreement, entries=entries, documents=documents,
        history=document_services.versions_by_series(db, [d.series_id for d in documents]),
        upload=upload_form(document_services.OBJECT_PURPOSES["agreement"]) if can_manage else None,
        upload_url=url_for("grants.upload_document", agreement_id=agreement.id),
        purpose_label=document_services.purpose_label, can_download=access.can_download_document,
        committed=ledger.committed_to(db, agreement.id), paid=ledger.paid_to(db, agreement.id),
        can_manage=can_manage, can_request=access.can_request_release(current_user),
        can_approve=access.can_approve_release(current_user), confirm=ConfirmForm(), payment=PaymentForm(),
        actions=four_eyes.next_actions(db, current_user, agreement),
        conditions={t.id: release_conditions(db, t) for t in agreement.tranches},
        budget=budget_in_force(db, agreement),
        can_view_amendments=access.can_view_budget_amendments(current_user, agreement),
        warning=grants.start_warning(grants.terms_of(agreement.current)), today=clock.utc_to_skopje(clock.now()).date(),
        report_warning=grants.no_report_warning(db, agreement, clock.utc_to_skopje(clock.now()).date()),
        reverse_form=ReverseForm(), reversed_ids={e.reverses_id for e in entries if e.reverses_id},
        status_label=grants.tranche_status_label, app_status_label=application_services.status_label,
        kind_label=grants.entry_kind_label, accepted=grants.reports_accepted_through(db, agreement),
        report_rows=report_services.month_rows(db, agreement), report_status_label=report_services.status_label,
        timeliness_label=report_services.timeliness_label, can_prepare=access.can_edit_reports_of(current_user, agreement),
        can_view_report=lambda report: access.can_view_report(current_user, report))


@bp.route("/grants/<int:agreement_id>/amend", methods=["GET", "POST"])
@permission_required(access.can_manage_agreements)
def amend(agreement_id: int):
    agreement = _agreement(agreement_id)
    form = AmendmentForm()
    if request.method == "GET":
        current = agreement.current
        form.expected_version.data = str(current.version)
        form.signature_date.data, form.start_date.data = current.signature_date, current.start_date
        form.end_date.data, form.committed_eur.data = current.end_date, current.committed_eur
        while len(form.tranches.entries):
            form.tranches.pop_entry()
        for t in agreement.tranches:
            form.tranches.append_entry({"planned_date": t.planned_date, "amount_eur": t.amount_eur,
                                        "reports_required_through": t.reports_required_through,
                                        "requires_finance_period": t.requires_finance_period,
                                        "min_spent_pct": t.min_spent_pct})
        form.tranches.append_entry()
    elif form.add_tranche.data:
        form.tranches.append_entry()
    elif form.validate_on_submit() and not form.tranche_errors():
        try:
            grants.amend(db, current_user, agreement, form.to_terms(), form.reason.data or "",
                         expected_version=version_of(form.expected_version.data))
        except ValidationFailed as exc:
            _terms_errors(form, exc)
        except Conflict as exc:
            # Keep what this person typed and show whose change came first (409, nothing saved).
            db.rollback()
            db.expire_all()
            form.form_errors.append(str(exc.message))
            form.expected_version.data = str(agreement.current.version)
            return render_template("grants/agreement_form.html", form=form, application=agreement.application,
                                   award=None, agreement=agreement), 409
        else:
            db.commit()
            flash(_("The amendment has been recorded as a new version."), "success")
            return redirect(url_for("grants.detail", agreement_id=agreement.id))
    else:
        form.form_errors.extend(form.tranche_errors())
    status = 422 if form.errors or form.form_errors else 200
    return render_template("grants/agreement_form.html", form=form, application=agreement.application, award=None,
                           agreement=agreement), status


@bp.post("/grants/<int:agreement_id>/documents")
@permission_required(access.can_manage_agreements)
def upload_document(agreement_id: int):
    agreement = _agreement(agreement_id)
    return attach("agreement", agreement.id, agreement.application.organisation, _("The document has been uploaded."),
                  url_for("grants.detail", agreement_id=agreement.id))


def _tranche(tranche_id: int) -> Tranche:
    tranche = db.get(Tranche, tranche_id)
    if tranche is None:
        raise NotFound()
    _agreement(tranche.agreement_id)
    return tranche


@bp.post("/tranches/<int:tranche_id>/request")
@permission_required(access.can_request_release)
def request_release(tranche_id: int):
    tranche = _tranche(tranche_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    grants.request_release(db, current_user, tranche, version_of(request.form.get("version_id")))
    db.commit()
    flash(_("The release has been requested; another ministry user approves it."), "success")
    return redirect(url_for("grants.detail", agreement_id=tranche.agreement_id) + "#tranches")


@bp.post("/tranches/<int:tranche_id>/approve")
@permission_required(access.can_approve_release)
def approve_release(tranche_id: int):
    tranche = _tranche(tranche_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if request.form.get("confirmed") != "yes":
        # Nothing changes before the person has seen the amount, the grant and the recipient.
        four_eyes.check_approve(current_user, tranche)
        from portal.finance_reports.services import money_position

        return render_template("grants/confirm_tranche.html", tranche=tranche, action="approve",
                               version_id=request.form.get("version_id", ""), confirm=ConfirmForm(),
                               money=money_position(db, tranche.agreement), now=clock.now(),
                               conditions=release_conditions(db, tranche),
                               refusals=grants.release_refusals(db, tranche))
    grants.approve_release(db, current_user, tranche, version_of(request.form.get("version_id")))
    db.commit()
    flash(_("The release has been approved."), "success")
    return redirect(url_for("grants.detail", agreement_id=tranche.agreement_id) + "#tranches")


@bp.post("/tranches/<int:tranche_id>/pay")
@permission_required(access.can_request_release)
def mark_paid(tranche_id: int):
    tranche = _tranche(tranche_id)
    form = PaymentForm()
    if not form.validate_on_submit():
        raise InvalidTransition(_("Enter the payment date and the bank reference."))
    if request.form.get("confirmed") != "yes":
        try:
            four_eyes.check_pay(current_user, tranche, form.paid_on.data, form.bank_reference.data or "")
        except ValidationFailed as exc:
            flash(" ".join(str(m) for messages in exc.field_errors.values() for m in messages), "error")
            return redirect(url_for("grants.detail", agreement_id=tranche.agreement_id) + "#tranches")
        return render_template("grants/confirm_tranche.html", tranche=tranche, action="pay", payment=form,
                               version_id=request.form.get("version_id", ""))
    try:
        grants.mark_paid(db, current_user, tranche, form.paid_on.data, form.bank_reference.data or "",
                         version_of(request.form.get("version_id")))
    except ValidationFailed as exc:
        db.rollback()
        flash(" ".join(str(m) for messages in exc.field_errors.values() for m in messages), "error")
    else:
        db.commit()
        flash(_("The tranche has been marked paid and the disbursement recorded."), "success")
    return redirect(url_for("grants.detail", agreement_id=tranche.agreement_id) + "#tranches")


@bp.post("/ledger/<int:entry_id>/reverse")
@permission_required(access.can_request_release)
def reverse(entry_id: int):
    entry = db.get(LedgerEntry, entry_id)
    if entry is None:
        raise NotFound()
    _agreement(entry.agreement_id)
    form = ReverseForm()
    if not form.validate_on_submit():
        raise InvalidTransition(_("Say why the entry is reversed."))
    try:
        ledger.reverse(db, current_user, entry, form.reason.data or "")
    except ValidationFailed as exc:
        db.rollback()
        flash(" ".join(str(m) for messages in exc.field_errors.values() for m in messages), "error")
    else:
        db.commit()
        flash(_("The reversing entry has been recorded."), "success")
    return redirect(url_for("grants.detail", agreement_id=entry.agreement_id) + "#ledger")


# The envelope ---------------------------------------------------------------------------------------

@bp.get("/envelope")
@permission_required(access.can_view_envelope)
def envelope():
    data = dashboard.build(db)
    series = dashboard.cumulative(data.months)  # every month, summed by the database: the chart shows them all
    return render_template("grants/envelope.html", data=data, series=series, months=page_of(series, page_arg(), page_size()))


@bp.get("/envelope/ledger.<fmt>")
@permission_required(access.can_download_ledger)
def ledger_download(fmt: str):
    rows = grants.ledger_rows(db)
    header = [_("Entry"), _("Date"), _("Kind"), _("Call"), _("Agreement"), _("Provider"), _("Amount (EUR)"),
              _("Rate EUR→MKD"), _("Amount (MKD)"), _("Reverses entry"), _("Note")]
    if fmt == "csv":
        return csv_response("ledger.csv", header, rows)
    if fmt == "xlsx":
        return xlsx_response("ledger.xlsx", {_("Ledger"): (header, rows)})
    abort(404)


@bp.get("/envelope/ifr.<fmt>")
@permission_required(access.can_view_envelope)
def ifr(fmt: str):
    header = [_("Quarter"), _("Call"), _("Municipality"), _("Service type"), _("Disbursed (EUR)"),
              _("Disbursed, cumulative (EUR)"), _("Not yet disbursed = envelope − disbursed (EUR)")]
    rows = dashboard.ifr(db)
    definitions = [(str(ledger.DEFINITIONS[key]),) for key in ("disbursed", "undisbursed", "uncommitted", "mkd")]
    definitions.append((finance_overview.uses_of_funds_definition(),))
    uses_header, uses = finance_overview.uses_of_funds_header(), finance_overview.uses_of_funds(db)
    if fmt == "csv":
        return csv_response("interim-financial-report.csv", header, rows + [("",) * len(header)]
                            + [(text,) + ("",) * (len(header) - 1) for (text,) in definitions]
                            + [("",) * len(header), (_("Uses of funds by budget category"),), uses_header] + uses)
    if fmt == "xlsx":
        return xlsx_response("interim-financial-report.xlsx", {_("Disbursements by quarter"): (header, rows),
                                                                _("Uses of funds by category"): (uses_header, uses),
                                                                _("Definitions"): ([_("Definition")], definitions)})
    abort(404)

