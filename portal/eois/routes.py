from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import access, clock
from portal.access import permission_required, role_required
from portal.calls import services as call_services
from portal.calls.forms import ConfirmForm
from portal.db import db
from portal.documents import services as document_services
from portal.documents.forms import upload_form
from portal.eois import services
from portal.eois.forms import ClarificationForm, DecisionForm, EoiForm, MessageForm, WithdrawForm
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.exports import csv_response, xlsx_response
from portal.models import Call, CallKind, Document, EoiStatus, Region
from portal.pagination import paginate
from portal.web import apply_errors, page_arg, page_size

bp = Blueprint("eois", __name__)


def _eoi(eoi_id: int):
    return services.get_visible(db, current_user, eoi_id)


def _call(call_id: int) -> Call:
    call = db.get(Call, call_id)
    if call is None or call.kind != CallKind.EOI:
        abort(404)
    return call


@bp.post("/calls/<int:call_id>/eoi")
@permission_required(access.can_prepare_eoi)
def start(call_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    eoi = services.start(db, current_user, _call(call_id))
    db.commit()
    return redirect(url_for("eois.edit", eoi_id=eoi.id))


@bp.get("/eois")
@permission_required(access.can_prepare_eoi)
def mine():
    return render_template("eois/mine.html", eois=services.for_municipality(db, current_user.organisation_id),
                           status_label=services.status_label)


def _service_choices(call: Call):
    return [(0, "—")] + [(t.id, t.name()) for t in call.service_types]


def _fill(form: EoiForm, eoi) -> None:
    form.version_id.data = str(eoi.version_id)
    for name in services.FIELDS:
        getattr(form, name).data = getattr(eoi, name)
    while len(form.services.entries):
        form.services.pop_entry()
    for row in eoi.services:
        form.services.append_entry({"service_type_id": row.service_type_id,
                                    "beneficiaries_per_month": row.beneficiaries_per_month,
                                    "annual_cost_eur": row.annual_cost_eur, "partners": row.partners})
    form.services.append_entry()


def _render(eoi, form=None, status=200, **extra):
    now = clock.now()
    open_fields = services.editable_fields(eoi, now) if access.can_edit_eoi(current_user, eoi) else set()
    documents = document_services.documents_for(db, "eoi", eoi.id)
    can_upload = "documents" in open_fields
    return render_template(
        "eois/detail.html", eoi=eoi, form=form, open_fields=open_fields, now=now, documents=documents,
        history=document_services.versions_by_series(db, [d.series_id for d in documents]),
        upload=extra.pop("upload", None) or (upload_form(document_services.OBJECT_PURPOSES["eoi"]) if can_upload else None),
        upload_url=url_for("eois.upload_document", eoi_id=eoi.id), purpose_label=document_services.purpose_label,
        can_download=access.can_download_document, missing=services.missing_documents(db, eoi),
        status_label=services.status_label, field_label=services.field_label,
        reopened_labels=[services.field_label(str(name)) for name in (eoi.reopened_fields or [])],
        message_form=MessageForm() if access.can_message_eoi(current_user, eoi) else None,
        can_screen=access.can_screen_eois(current_user), can_edit=bool(open_fields),
        checks=services.submission_problems(db, eoi) if form is not None else {},
        field_names=set(services.REOPENABLE),
        can_withdraw=access.can_edit_eoi(current_user, eoi) and eoi.status in (EoiStatus.SUBMITTED, EoiStatus.CLARIFICATION)
        and now < eoi.call.closes_at, **extra), status


@bp.get("/eois/<int:eoi_id>")
@role_required()
def detail(eoi_id: int):
    eoi = _eoi(eoi_id)
    form = None
    if access.can_edit_eoi(current_user, eoi) and services.editable_fields(eoi, clock.now()):
        form = EoiForm()
        _fill(form, eoi)
        for row in form.services:
            row.form.service_type_id.choices = _service_choices(eoi.call)
    return _render(eoi, form)


@bp.post("/eois/<int:eoi_id>")
@permission_required(access.can_prepare_eoi)
def edit(eoi_id: int):
    eoi = _eoi(eoi_id)
    form = EoiForm()
    for row in form.services:
        row.form.service_type_id.choices = _service_choices(eoi.call)
    if form.add_row.data:
        form.services.append_entry()
        form.services[-1].form.service_type_id.choices = _service_choices(eoi.call)
        return _render(eoi, form)
    if not form.validate_on_submit():
        return _render(eoi, form, 422)
    try:
        services.save(db, current_user, eoi, form.to_data(), int(form.version_id.data or 0))
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return _render(eoi, form, 422)
    except InvalidTransition as exc:
        form.form_errors.append(str(exc.message))
        return _render(eoi, form, 409)
    db.commit()  # the draft is kept whatever happens next
    if not form.submit.data:
        flash(_("Your draft has been saved."), "success")
        return redirect(url_for("eois.detail", eoi_id=eoi.id))
    try:
        submission = services.submit(db, current_user, eoi)
    except (ValidationFailed, InvalidTransition) as exc:
        db.rollback()
        form.version_id.data = str(eoi.version_id)
        # The draft was saved: show the co-financing as stored (the share derived from the amount).
        for name in ("cofinancing_eur", "cofinancing_pct"):
            getattr(form, name).data, getattr(form, name).raw_data = getattr(eoi, name), None
        if isinstance(exc, ValidationFailed):
            apply_errors(form, exc)
        else:
            form.form_errors.append(str(exc.message))
        return _render(eoi, form, 422 if isinstance(exc, ValidationFailed) else 409)
    db.commit()
    return redirect(url_for("eois.receipt", eoi_id=eoi.id, number=submission.number))


@bp.get("/eois/<int:eoi_id>/receipt/<int:number>")
@role_required()
def receipt(eoi_id: int, number: int):
    eoi = _eoi(eoi_id)
    submission = next((s for s in eoi.submissions if s.number == number), None)
    if submission is None:
        abort(404)
    return render_template("eois/receipt.html", eoi=eoi, submission=submission)


@bp.route("/eois/<int:eoi_id>/withdraw", methods=["GET", "POST"])
@permission_required(access.can_prepare_eoi)
def withdraw(eoi_id: int):
    eoi = _eoi(eoi_id)
    form = WithdrawForm()
    if form.validate_on_submit():
        services.withdraw(db, current_user, eoi, form.reason.data or "")
        db.commit()
        flash(_("The expression of interest has been withdrawn. You can change it and submit it again until the "
                "deadline."), "success")
        return redirect(url_for("eois.detail", eoi_id=eoi.id))
    return render_template("eois/withdraw.html", eoi=eoi, form=form)


@bp.post("/eois/<int:eoi_id>/documents")
@permission_required(access.can_prepare_eoi)
def upload_document(eoi_id: int):
    eoi = _eoi(eoi_id)
    if "documents" not in services.editable_fields(eoi, clock.now()) or not access.can_edit_eoi(current_user, eoi):
        raise InvalidTransition(_("Documents can no longer be added to this expression of interest."))
    form = upload_form(document_services.OBJECT_PURPOSES["eoi"])
    if form.validate_on_submit():
        replaces = None
        if (form.replaces.data or "").isdigit():
            replaces = db.get(Document, int(form.replaces.data))
        try:
            document_services.upload(db, current_user, owner=eoi.organisation, object_type="eoi", object_id=eoi.id,
                                     purpose=form.purpose.data, stream=form.file.data.stream,
                                     filename=form.file.data.filename, replaces=replaces)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The document has been uploaded."), "success")
            return redirect(url_for("eois.detail", eoi_id=eoi.id) + "#documents")
    return _render(eoi, None, 422, upload=form)


@bp.post("/eois/<int:eoi_id>/messages")
@role_required()
def message(eoi_id: int):
    eoi = _eoi(eoi_id)
    if not access.can_message_eoi(current_user, eoi):
        raise NotAllowed()
    form = MessageForm()
    if form.validate_on_submit():
        services.add_message(db, current_user, eoi, form.body.data)
        db.commit()
        flash(_("Your message has been sent."), "success")
    else:
        flash(_("Write a message first."), "error")
    return redirect(url_for("eois.detail", eoi_id=eoi.id) + "#messages")


# Screening ---------------------------------------------------------------------------------------------

@bp.get("/review/calls/<int:call_id>/eois")
@permission_required(access.can_screen_eois)
def screening(call_id: int):
    call = _call(call_id)
    region_id = request.args.get("region", type=int)
    status = request.args.get("status", "")
    service_type_id = request.args.get("service_type", type=int)
    page = paginate(db, services.screening_query(call, region_id, status, service_type_id), page_arg(), page_size())
    return render_template(
        "eois/screening.html", call=call, page=page, missing=services.completeness(db, page.items),
        regions=db.scalars(sa.select(Region).order_by(Region.code)).all(), service_types=call.service_types,
        region_id=region_id, status=status, service_type_id=service_type_id, statuses=services.SCREENED,
        status_label=services.status_label, purpose_label=document_services.purpose_label)


@bp.route("/eois/<int:eoi_id>/clarify", methods=["GET", "POST"])
@permission_required(access.can_screen_eois)
def clarify(eoi_id: int):
    eoi = _eoi(eoi_id)
    form = ClarificationForm()
    form.fields.choices = [(name, services.field_label(name)) for name in services.REOPENABLE]
    if request.method == "GET":
        form.until.data = clock.utc_to_skopje(clock.now() + timedelta(days=7)).replace(tzinfo=None, second=0,
                                                                                      microsecond=0)
    if form.validate_on_submit():
        try:
            until = clock.skopje_to_utc(form.until.data)
            services.request_clarification(db, current_user, eoi, form.message.data or "", form.fields.data or [], until)
        except clock.NonexistentLocalTime:
            form.until.errors = [_("This time does not exist in Skopje (the clocks move forward that night). "
                                   "Choose another time.")]
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The municipality has been asked for clarification."), "success")
            return redirect(url_for("eois.detail", eoi_id=eoi.id))
    return render_template("eois/clarify.html", eoi=eoi, form=form)


@bp.route("/eois/<int:eoi_id>/decide", methods=["GET", "POST"])
@permission_required(access.can_screen_eois)
def decide(eoi_id: int):
    eoi = _eoi(eoi_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            services.decide(db, current_user, eoi, form.decision.data == "accept", form.reason.data or "")
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The decision has been recorded and the municipality informed."), "success")
            return redirect(url_for("eois.screening", call_id=eoi.call_id))
    return render_template("eois/decide.html", eoi=eoi, form=form, missing=services.missing_documents(db, eoi),
                           purpose_label=document_services.purpose_label)


def _summary_rows(data):
    region_rows = [(row["region"].name(), row["eois"], row["beneficiaries"], row["requested"]) for row in data["by_region"]]
    service_rows = [(row["service_type"].name(), row["proposals"], row["beneficiaries"], row["requested"])
                    for row in data["by_service"]]
    return region_rows, service_rows


@bp.get("/review/calls/<int:call_id>/summary")
@bp.get("/review/calls/<int:call_id>/summary.<fmt>")
@permission_required(access.can_screen_eois)
def summary(call_id: int, fmt: str = "html"):
    call = _call(call_id)
    data = services.summary(db, call)
    region_rows, service_rows = _summary_rows(data)
    region_header = [_("Planning region"), _("Expressions of interest"), _("Beneficiaries per month"),
                     _("Requested per year (EUR)")]
    service_header = [_("Service type"), _("Proposals"), _("Beneficiaries per month"), _("Requested per year (EUR)")]
    if fmt == "csv":
        return csv_response(f"{call.reference}-summary.csv", region_header, region_rows)
    if fmt == "xlsx":
        return xlsx_response(f"{call.reference}-summary.xlsx", {
            _("By region"): (region_header, region_rows), _("By service type"): (service_header, service_rows),
            _("Total"): ([_("Requested per year (EUR)"), _("Budget of the call")], [(data["requested"], call.allocation_eur)]),
        })
    if fmt != "html":
        abort(404)
    maximum = max([row["requested"] for row in data["by_region"]] + [call.allocation_eur, 1])
    return render_template("eois/summary.html", call=call, data=data, maximum=maximum,
                           mkd=call_services.to_mkd(db, data["requested"]))

