from decimal import Decimal

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import access, clock
from portal.access import permission_required
from portal.calls import guidance, services
from portal.calls.forms import CallForm, ConfirmForm, ProgrammeForm, RateForm, RubricForm
from portal.db import db
from portal.documents import services as document_services
from portal.documents.forms import upload_form
from portal.errors import ValidationFailed
from portal.models import Call, CallKind, CallStatus, Document, ServiceType
from portal.web import apply_errors, version_of

public = Blueprint("calls", __name__, url_prefix="/calls")
admin = Blueprint("calls_admin", __name__, url_prefix="/admin")


# Public pages ----------------------------------------------------------------------------------

@public.get("/")
def index():
    return render_template("calls/public_list.html", calls=services.public_calls(db), now=clock.now(),
                           status_label=services.status_label, kind_label=services.kind_label)


@public.get("/<int:call_id>")
def detail(call_id: int):
    call = db.get(Call, call_id)
    if call is None or (call.status == CallStatus.DRAFT and not access.can_manage_calls(current_user)):
        abort(404)
    documents = document_services.documents_for(db, "call", call.id)
    can_upload = access.can_manage_calls(current_user)
    now = clock.now()
    return render_template("calls/public_detail.html", call=call, now=now,
                           guidance=guidance.how_to_apply(db, call, current_user, now),
                           status_label=services.status_label, kind_label=services.kind_label,
                           purpose_label=document_services.purpose_label, documents=documents,
                           history=document_services.versions_by_series(db, [d.series_id for d in documents]),
                           upload=upload_form(document_services.OBJECT_PURPOSES["call"]) if can_upload else None,
                           upload_url=url_for("calls_admin.upload_document", call_id=call.id),
                           can_download=access.can_download_document)


@admin.post("/calls/<int:call_id>/documents")
@permission_required(access.can_manage_calls)
def upload_document(call_id: int):
    call = _call(call_id)
    form = upload_form(document_services.OBJECT_PURPOSES["call"])
    if form.validate_on_submit():
        replaces = db.get(Document, int(form.replaces.data)) if (form.replaces.data or "").isdigit() else None
        try:
            document_services.upload(db, current_user, owner=current_user.organisation, object_type="call",
                                     object_id=call.id, purpose=form.purpose.data, stream=form.file.data.stream,
                                     filename=form.file.data.filename, replaces=replaces)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The document has been uploaded."), "success")
            return redirect(url_for("calls.detail", call_id=call.id) + "#documents")
    flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "error")
    return redirect(url_for("calls.detail", call_id=call.id) + "#documents")


# Administration ----------------------------------------------------------------------------------

def _call(call_id: int) -> Call:
    call = db.get(Call, call_id)
    if call is None:
        abort(404)
    return call


def _prepare(form: CallForm, call: Call | None) -> CallForm:
    types = db.scalars(sa.select(ServiceType).where(ServiceType.active.is_(True)).order_by(ServiceType.sort_order)).all()
    form.service_type_ids.choices = [(t.id, t.name()) for t in types]
    purposes = dict.fromkeys(document_services.OBJECT_PURPOSES["eoi"] + document_services.OBJECT_PURPOSES["application"])
    form.required_documents.choices = [(p, document_services.purpose_label(p)) for p in purposes]
    form.report_evidence.choices = [(p, document_services.purpose_label(p))
                                    for p in document_services.OBJECT_PURPOSES["report"]]
    eoi_calls = db.scalars(sa.select(Call).where(Call.kind == CallKind.EOI).order_by(Call.created_at.desc())).all()
    form.linked_call_id.choices = [(0, "—")] + [(c.id, f"{c.reference} · {c.title()}") for c in eoi_calls]
    if call is not None and not form.is_submitted():
        form.kind.data = call.kind.value
        form.opens_at.data = clock.utc_to_skopje(call.opens_at).replace(tzinfo=None)
        form.closes_at.data = clock.utc_to_skopje(call.closes_at).replace(tzinfo=None)
        form.allocation_eur.data = f"{call.allocation_eur:.2f}"
        form.grant_ceiling_eur.data = f"{call.grant_ceiling_eur:.2f}" if call.grant_ceiling_eur else ""
        form.service_type_ids.data = [t.id for t in call.service_types]
        form.required_documents.data = list(call.required_documents or [])
        form.report_evidence.data = list(call.report_evidence or [])
        form.linked_call_id.data = call.linked_call_id or 0
        form.version_id.data = str(call.version_id)
    return form


@admin.get("/calls")
@permission_required(access.can_manage_calls)
def calls():
    return render_template("calls/admin_list.html", calls=services.all_calls(db), summary=services.envelope_summary(db),
                           status_label=services.status_label, kind_label=services.kind_label)


@admin.route("/calls/new", methods=["GET", "POST"])
@permission_required(access.can_manage_calls)
def new_call():
    form = _prepare(CallForm(), None)
    if form.validate_on_submit():
        try:
            call = services.create_call(db, current_user, form.to_data())
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The call %(ref)s has been created as a draft.", ref=call.reference), "success")
            return redirect(url_for("calls_admin.edit_rubric" if call.kind == CallKind.GRANT else "calls.detail",
                                    call_id=call.id))
    return render_template("calls/admin_form.html", form=form, call=None)


@admin.route("/calls/<int:call_id>/edit", methods=["GET", "POST"])
@permission_required(access.can_manage_calls)
def edit_call(call_id: int):
    call = _call(call_id)
    form = _prepare(CallForm(obj=call), call)
    if form.validate_on_submit():
        try:
            services.update_call(db, current_user, call, form.to_data(), int(form.version_id.data or 0))
        except ValidationFailed as exc:
            db.rollback()
            apply_errors(form, exc)
        except services.ShorteningNeedsConfirmation as exc:
            db.rollback()
            fields = [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", "confirmed_drafts")]
            return render_template("calls/confirm_deadline.html", call=call, drafts=exc.drafts, before=exc.before,
                                   after=exc.after, fields=fields, form=form), 409
        else:
            db.commit()
            flash(_("The changes have been saved."), "success")
            return redirect(url_for("calls.detail", call_id=call.id))
    return render_template("calls/admin_form.html", form=form, call=call)


@admin.route("/calls/<int:call_id>/rubric", methods=["GET", "POST"])
@permission_required(access.can_manage_calls)
def edit_rubric(call_id: int):
    call = _call(call_id)
    if request.method == "GET":
        form = RubricForm(data={"criteria": [
            {"name_mk": c.name_mk, "name_sq": c.name_sq, "name_en": c.name_en, "description": c.description_mk,
             "description_sq": c.description_sq, "description_en": c.description_en,
             "max_score": c.max_score, "weight": c.weight} for c in call.criteria] or [{}]})
        form.version_id.data = str(call.version_id)
        form.criteria.append_entry()
    else:
        form = RubricForm()
        if form.add_row.data:
            form.criteria.append_entry()
        elif form.validate_on_submit():
            rows = [services.CriterionData(
                name_mk=row.form.name_mk.data or "", name_sq=row.form.name_sq.data or "",
                name_en=row.form.name_en.data or "", description=row.form.description.data or "",
                description_sq=row.form.description_sq.data or "", description_en=row.form.description_en.data or "",
                max_score=row.form.max_score.data or Decimal("0"), weight=row.form.weight.data or Decimal("1"))
                for row in form.criteria if not row.form.is_blank()]
            try:
                services.set_rubric(db, current_user, call, rows, version_of(form.version_id.data) or 0)
            except ValidationFailed as exc:
                apply_errors(form, exc)
            else:
                db.commit()
                flash(_("The rubric has been saved."), "success")
                return redirect(url_for("calls.detail", call_id=call.id))
    total = sum((c.max_score * c.weight for c in call.criteria), Decimal("0"))
    return render_template("calls/admin_rubric.html", form=form, call=call, weighted_total=total,
                           locked=services.rubric_locked(db, call))


@admin.route("/calls/<int:call_id>/status/<wanted>", methods=["GET", "POST"])
@permission_required(access.can_manage_calls)
def change_status(call_id: int, wanted: str):
    call = _call(call_id)
    try:
        target = CallStatus(wanted)
    except ValueError:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        services.change_status(db, current_user, call, target)
        db.commit()
        flash(_("The call %(ref)s is now %(status)s.", ref=call.reference, status=services.status_label(target)),
              "success")
        return redirect(url_for("calls.detail", call_id=call.id))
    return render_template("calls/admin_confirm.html", form=form, call=call, target=target,
                           status_label=services.status_label)


@admin.route("/programme", methods=["GET", "POST"])
@permission_required(access.can_manage_calls)
def programme():
    current = services.get_programme(db)
    form = ProgrammeForm(obj=current, prefix="programme")
    rate_form = RateForm(prefix="rate")
    if not form.is_submitted():
        form.envelope_eur.data = f"{current.envelope_eur:.2f}"
        form.version_id.data = str(current.version_id)
    if form.submit.data and form.validate_on_submit():
        try:
            services.update_programme(db, current_user, form.name.data, form.loan_reference.data, form.envelope_eur.data,
                                      int(form.version_id.data or 0))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The changes have been saved."), "success")
            return redirect(url_for("calls_admin.programme"))
    if rate_form.submit.data and rate_form.validate_on_submit():
        try:
            services.add_rate(db, current_user, rate_form.valid_from.data, rate_form.eur_mkd.data)
        except ValidationFailed as exc:
            apply_errors(rate_form, exc)
        else:
            db.commit()
            flash(_("The exchange rate has been added."), "success")
            return redirect(url_for("calls_admin.programme"))
    return render_template("calls/admin_programme.html", form=form, rate_form=rate_form, rates=services.rates(db),
                           summary=services.envelope_summary(db))
