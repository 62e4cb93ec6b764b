"""Grievance redress pages: the public form and the complainant's secret link (no account), the handlers' list,
case page and steps, the figures and the settings. Routes stay thin: `services` decides."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from portal.access import permission_required, role_required
from portal.db import db
from portal.documents.services import TooLarge
from portal.errors import DomainError, ValidationFailed
from portal.grievances import access, figures, forms, services
from portal.models import Grievance, GrievanceStatus, Municipality
from portal.pagination import paginate
from portal.security import client_ip
from portal.web import apply_errors, page_arg, page_size

bp = Blueprint("grievances", __name__)

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


# Public: the form and the secret link ----------------------------------------------------------------------------

def _intake_form() -> forms.IntakeForm:
    form = forms.IntakeForm()
    municipalities = db.scalars(sa.select(Municipality).order_by(Municipality.name_mk))
    form.fill_choices(sorted(municipalities, key=lambda m: m.name()), services.signed_grants(db))
    return form


@bp.route("/concerns/new", methods=["GET", "POST"])
def public_new():
    form = _intake_form()
    if request.method == "GET":
        return render_template("grievances/public_new.html", form=form)
    if not form.validate_on_submit():
        return render_template("grievances/public_new.html", form=form), 422
    upload = form.evidence.data
    evidence = (upload.stream, upload.filename) if upload and getattr(upload, "filename", "") else None
    data = services.IntakeData(
        category=form.category.data or "", municipality_id=form.municipality_id.data or None,
        agreement_id=form.agreement_id.data or None, about=form.about.data or "", description=form.description.data or "",
        anonymous=form.identity.data != "named", contact_name=form.contact_name.data or "",
        contact_email=form.contact_email.data or "", contact_phone=form.contact_phone.data or "",
        language=str(get_locale() or "mk"), honeypot=form.website.data or "")
    try:
        case, secret = services.submit(db, data, client_ip(), evidence)
    except ValidationFailed as exc:
        db.rollback()
        if "file" in exc.field_errors:  # the document service names its field "file"
            exc.field_errors["evidence"] = exc.field_errors.pop("file")
        apply_errors(form, exc)
        return render_template("grievances/public_new.html", form=form), 422
    except TooLarge as exc:
        db.rollback()
        form.evidence.errors = [str(exc.message)]
        return render_template("grievances/public_new.html", form=form), 413
    db.commit()
    # The secret is shown on this page only (and e-mailed to a named complainant): never stored, never redirected.
    link = url_for("grievances.follow", secret=secret, _external=True)  # the address this person used (the e-mail
    # carries PORTAL_BASE_URL's)
    return render_template("grievances/public_received.html", case=case, link=link), 200, NO_STORE


def _by_secret(secret: str) -> Grievance:
    case = services.by_secret(db, secret)
    if case is None:
        abort(404)
    return case


@bp.route("/concerns/follow/<secret>", methods=["GET", "POST"])
def follow(secret: str):
    case = _by_secret(secret)
    form = forms.MessageForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.complainant_writes(db, case, form.body.data or "")
            except ValidationFailed as exc:
                db.rollback()
                apply_errors(form, exc)
                status = 422
            else:
                db.commit()
                flash(_("Your message has been added to the case."), "success")
                return redirect(url_for("grievances.follow", secret=secret), 303)
        else:
            status = 422
    return render_template("grievances/follow.html", case=case, form=form, messages=services.messages_for(case, None),
                           overdue=services.is_overdue(case)), status, NO_STORE


# Handlers, providers and municipalities --------------------------------------------------------------------------

@bp.get("/grievances")
@permission_required(access.can_list)
def index():
    status = request.args.get("status", "")
    overdue = request.args.get("overdue") == "1"
    page = paginate(db, services.visible_query(current_user, status, overdue), page_arg(), page_size())
    return render_template("grievances/index.html", cases=page.items, page=page, status=status, overdue=overdue,
                           statuses=list(GrievanceStatus), is_overdue=services.is_overdue,
                           handler=access.is_handler(current_user))


def _case(case_id: int) -> Grievance:
    return services.get_visible(db, current_user, case_id)


def _render(case: Grievance, status: int = 200, **forms_given):
    handles = access.can_handle(current_user, case)
    from portal.documents import services as documents

    context = dict(
        case=case, handles=handles, messages=services.messages_for(case, current_user),
        overdue=services.is_overdue(case), can_assign=access.can_assign_case(current_user, case),
        can_answer=access.can_answer(current_user, case),
        evidence=documents.documents_for(db, "grievance", case.id) if handles else [],
        closed=case.status == GrievanceStatus.CLOSED)
    if handles:
        assign = forms_given.get("assign") or forms.AssignForm()
        assign.handler_id.choices = [(0, "—")] + [(u.id, u.full_name) for u in services.handler_choices(db)]
        if assign.handler_id.data is None and case.handler_id:
            assign.handler_id.data = case.handler_id
        context.update(
            ack_form=forms_given.get("ack") or forms.AcknowledgeForm(prefix="ack"),
            note_form=forms_given.get("note") or forms.MessageForm(prefix="note"),
            reply_form=forms_given.get("reply") or forms.MessageForm(prefix="reply"),
            ask_form=forms_given.get("ask") or forms.MessageForm(prefix="ask"),
            escalate_form=forms_given.get("escalate") or forms.ReasonForm(prefix="escalate"),
            close_form=forms_given.get("close") or forms.CloseForm(prefix="close"),
            reopen_form=forms_given.get("reopen") or forms.ReasonForm(prefix="reopen"),
            sensitive_form=forms_given.get("sensitive") or forms.ReasonForm(prefix="sensitive"),
            assign_form=assign)
    if context["can_answer"]:
        context["answer_form"] = forms_given.get("answer") or forms.MessageForm(prefix="answer")
    return render_template("grievances/detail.html", **context), status


@bp.get("/grievances/<int:case_id>")
@permission_required(access.can_list)
def detail(case_id: int):
    return _render(_case(case_id))


def _step(case_id: int, key: str, form, action, done: str):
    """Run one step from the case page: validate the form, call the service, commit, back to the case."""
    case = _case(case_id)
    if not form.validate_on_submit():
        return _render(case, 422, **{key: form})
    try:
        action(case, form)
    except ValidationFailed as exc:
        db.rollback()
        apply_errors(form, exc)
        return _render(db.get(Grievance, case_id), 422, **{key: form})
    except DomainError:
        db.rollback()
        raise
    db.commit()
    flash(done, "success")
    return redirect(url_for("grievances.detail", case_id=case_id) + "#history", 303)


@bp.post("/grievances/<int:case_id>/acknowledge")
@permission_required(access.is_handler)
def acknowledge(case_id: int):
    return _step(case_id, "ack", forms.AcknowledgeForm(prefix="ack"),
                 lambda c, f: services.acknowledge(db, current_user, c, f.body.data or ""), _("The case is acknowledged."))


@bp.post("/grievances/<int:case_id>/assign")
@permission_required(access.can_assign)
def assign(case_id: int):
    form = forms.AssignForm()
    form.handler_id.choices = [(0, "—")] + [(u.id, u.full_name) for u in services.handler_choices(db)]
    return _step(case_id, "assign", form, lambda c, f: services.assign(db, current_user, c, f.handler_id.data),
                 _("The handler is assigned."))


@bp.post("/grievances/<int:case_id>/note")
@permission_required(access.is_handler)
def note(case_id: int):
    return _step(case_id, "note", forms.MessageForm(prefix="note"),
                 lambda c, f: services.add_note(db, current_user, c, f.body.data or ""), _("The note is added."))


@bp.post("/grievances/<int:case_id>/reply")
@permission_required(access.is_handler)
def reply(case_id: int):
    return _step(case_id, "reply", forms.MessageForm(prefix="reply"),
                 lambda c, f: services.reply(db, current_user, c, f.body.data or ""),
                 _("The reply is on the complainant's page."))


@bp.post("/grievances/<int:case_id>/ask")
@permission_required(access.is_handler)
def ask(case_id: int):
    return _step(case_id, "ask", forms.MessageForm(prefix="ask"),
                 lambda c, f: services.ask_party(db, current_user, c, f.body.data or ""),
                 _("The provider and the municipality have been asked."))


@bp.post("/grievances/<int:case_id>/answer")
@role_required()
def answer(case_id: int):
    return _step(case_id, "answer", forms.MessageForm(prefix="answer"),
                 lambda c, f: services.party_answers(db, current_user, c, f.body.data or ""),
                 _("Your answer has been sent to the ministry."))


@bp.post("/grievances/<int:case_id>/escalate")
@permission_required(access.is_handler)
def escalate(case_id: int):
    return _step(case_id, "escalate", forms.ReasonForm(prefix="escalate"),
                 lambda c, f: services.escalate(db, current_user, c, f.reason.data or ""), _("The case is escalated."))


@bp.post("/grievances/<int:case_id>/sensitive")
@permission_required(access.is_handler)
def sensitive(case_id: int):
    return _step(case_id, "sensitive", forms.ReasonForm(prefix="sensitive"),
                 lambda c, f: services.mark_sensitive(db, current_user, c, f.reason.data or ""),
                 _("The case is now seen only by the people named on it."))


@bp.post("/grievances/<int:case_id>/close")
@permission_required(access.is_handler)
def close(case_id: int):
    accepted = {"yes": True, "no": False}
    return _step(case_id, "close", forms.CloseForm(prefix="close"),
                 lambda c, f: services.close(db, current_user, c, f.outcome.data or "", accepted.get(f.accepted.data)),
                 _("The case is closed."))


@bp.post("/grievances/<int:case_id>/reopen")
@permission_required(access.is_handler)
def reopen(case_id: int):
    return _step(case_id, "reopen", forms.ReasonForm(prefix="reopen"),
                 lambda c, f: services.reopen(db, current_user, c, f.reason.data or ""), _("The case is re-opened."))


@bp.get("/grievances/figures")
@permission_required(access.can_view_figures)
def figures_page():
    result = figures.compute(db)
    db.commit()  # the settings row, created with its defaults the first time
    return render_template("grievances/figures.html", figures=result)


@bp.get("/grievances/figures.csv")
@permission_required(access.can_view_figures)
def figures_download():
    from portal import clock
    from portal.exports import csv_response

    result = figures.compute(db)
    db.commit()
    stamp = clock.utc_to_skopje(result.as_of).strftime("%Y-%m-%d")
    return csv_response(f"grievance-figures-{stamp}.csv", figures.header(), figures.rows(result))


@bp.route("/admin/grievances/settings", methods=["GET", "POST"])
@permission_required(access.can_manage_settings)
def settings():
    row = services.get_settings(db)
    form = forms.SettingsForm(obj=row)
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("grievances/settings.html", form=form), 422
        try:
            services.update_settings(db, current_user, services.SettingsData(
                form.acknowledge_days.data, form.resolve_days.data, form.sensitive_threshold.data,
                form.submissions_per_hour.data))
        except ValidationFailed as exc:
            db.rollback()
            apply_errors(form, exc)
            return render_template("grievances/settings.html", form=form), 422
        db.commit()
        flash(_("The settings are saved. They apply to concerns received from now on."), "success")
        return redirect(url_for("grievances.settings"), 303)
    db.commit()
    return render_template("grievances/settings.html", form=form)
