"""Grant applications: thin routes over `services` (provider and municipality) and `review` (ministry)."""

from decimal import Decimal

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import access, clock
from portal.access import permission_required, role_required
from portal.applications import review, services
from portal.applications.forms import (
    ApplicationForm,
    AssignForm,
    DecisionForm,
    DeclarationForm,
    EligibilityForm,
    EndorseForm,
    ModerationForm,
    ReviewSettingsForm,
    ScoreForm,
    StartForm,
    WithdrawForm,
)
from portal.calls import services as call_services
from portal.db import db
from portal.documents import services as document_services
from portal.documents.forms import upload_form
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.exports import csv_response, xlsx_response
from portal.models import Application, ApplicationStatus, Call, CallKind, Document, Outcome, User
from portal.pagination import paginate
from portal.web import apply_errors, page_arg, page_size, version_of

bp = Blueprint("applications", __name__)


def _application(application_id: int) -> Application:
    return services.get_visible(db, current_user, application_id)


def _grant_call(call_id: int) -> Call:
    call = db.get(Call, call_id)
    if call is None or call.kind != CallKind.GRANT:
        abort(404)
    return call


def _labels() -> dict:
    return {"status_label": services.status_label, "endorsement_label": services.endorsement_label,
            "eligibility_label": services.eligibility_label, "category_label": services.category_label,
            "purpose_label": document_services.purpose_label, "outcome_label": review.outcome_label}


# Provider: start, edit, submit, withdraw -------------------------------------------------------------

@bp.route("/calls/<int:call_id>/apply", methods=["GET", "POST"])
@permission_required(access.can_prepare_application)
def start(call_id: int):
    call = _grant_call(call_id)
    form = StartForm()
    municipalities = services.eligible_municipalities(db, call)
    form.municipality.choices = [(m.id, m.municipality.name() if m.municipality else m.name) for m in municipalities]
    if form.validate_on_submit():
        try:
            application = services.start(db, current_user, call, form.municipality.data or 0)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            return redirect(url_for("applications.detail", application_id=application.id))
    return render_template("applications/start.html", call=call, form=form, municipalities=municipalities)


@bp.get("/applications")
@role_required()
def mine():
    if access.can_prepare_application(current_user):
        return render_template("applications/mine.html", applications=services.for_provider(db, current_user.organisation_id),
                               open_calls=services.open_grant_calls(db), **_labels())
    if access.can_endorse_applications(current_user):
        return render_template("applications/municipality.html",
                               applications=services.for_municipality(db, current_user.organisation_id), **_labels())
    abort(403)


def _fill(form: ApplicationForm, application: Application) -> None:
    form.version_id.data = str(application.version_id)
    for name in services.FIELDS:
        getattr(form, name).data = getattr(application, name)
    form.service_type_ids.data = [t.id for t in application.service_types]
    while len(form.positions.entries):
        form.positions.pop_entry()
    for row in application.positions:
        form.positions.append_entry({"title": row.title, "count": row.count})
    form.positions.append_entry()
    while len(form.lines.entries):
        form.lines.pop_entry()
    for line in application.budget_lines:
        form.lines.append_entry({"category": str(line.category), "description": line.description,
                                 "quantity": line.quantity, "unit_cost_eur": line.unit_cost_eur, "months": line.months})
    form.lines.append_entry()
    planned = {h.category_id: h.count for h in application.hires}
    while len(form.hires.entries):
        form.hires.pop_entry()
    for category in services.hard_to_employ_categories(db):
        form.hires.append_entry({"category_id": str(category.id), "count": planned.get(category.id)})


def _choices(form: ApplicationForm, call: Call) -> None:
    form.service_type_ids.choices = [(t.id, t.name()) for t in call.service_types]
    categories = [("", "—")] + [(c.value, services.category_label(c)) for c in services.categories_for(call)]
    for row in form.lines:
        row.form.category.choices = categories


def _render(application: Application, form: ApplicationForm | None = None, status: int = 200, **extra):
    now = clock.now()
    editable = access.can_edit_application(current_user, application) and services.is_editable(application)
    documents = document_services.documents_for(db, "application", application.id)
    moderation = review.latest_moderations(db, [application.id]).get(application.id)
    decisions = review.latest_decisions(db, [application.id])
    categories = {c.id: c for c in services.hard_to_employ_categories(db)} if form is not None else {}
    return render_template(
        "applications/detail.html", application=application, call=application.call, form=form, now=now,
        editable=editable, documents=documents,
        history=document_services.versions_by_series(db, [d.series_id for d in documents]),
        upload=extra.pop("upload", None) or (upload_form(document_services.OBJECT_PURPOSES["application"])
                                             if editable else None),
        upload_url=url_for("applications.upload_document", application_id=application.id),
        can_download=access.can_download_document, missing=services.missing_documents(db, application),
        hire_categories=categories, state=review.review_state(application, moderation),
        can_see_scores=access.can_see_scores(current_user, application), max_total=review.max_total(application.call),
        own_assignment=review.own_assignment(application, current_user), decision=decisions.get(application.id),
        can_screen=access.can_screen_applications(current_user), can_endorse=access.can_endorse(current_user, application),
        is_chair=access.is_chair(current_user, application.call),
        can_assign=access.can_assign_reviewers(current_user, application.call),
        can_decide=access.can_decide_awards(current_user) and not review.involved_in_scoring(db, current_user, application),
        endorsement_deadline=services.endorsement_deadline(application.call),
        can_withdraw=access.can_edit_application(current_user, application)
        and application.status == ApplicationStatus.SUBMITTED and now < application.call.closes_at,
        checklist_label=review.checklist_label, can_sign=access.can_manage_agreements(current_user),
        agreement=_visible_agreement(application), **_labels(), **extra), status


def _visible_agreement(application: Application):
    from portal.models import GrantAgreement

    agreement = db.scalar(sa.select(GrantAgreement).where(GrantAgreement.application_id == application.id))
    return agreement if agreement is not None and access.can_view_agreement(current_user, agreement) else None


@bp.get("/applications/<int:application_id>")
@role_required()
def detail(application_id: int):
    application = _application(application_id)
    form = None
    if access.can_edit_application(current_user, application) and services.is_editable(application):
        form = ApplicationForm()
        _fill(form, application)
        _choices(form, application.call)
    return _render(application, form)


@bp.post("/applications/<int:application_id>")
@permission_required(access.can_prepare_application)
def edit(application_id: int):
    application = _application(application_id)
    form = ApplicationForm()
    _choices(form, application.call)
    if form.add_position.data or form.add_line.data:
        (form.positions if form.add_position.data else form.lines).append_entry()
        _choices(form, application.call)
        return _render(application, form)
    if not form.validate_on_submit():
        return _render(application, form, 422)
    try:
        services.save(db, current_user, application, form.to_data(), int(form.version_id.data or 0))
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return _render(application, form, 422)
    except InvalidTransition as exc:
        form.form_errors.append(str(exc.message))
        return _render(application, form, 409)
    db.commit()  # the draft is kept whatever happens next
    if not form.submit.data:
        flash(_("Your draft has been saved. The totals have been recalculated."), "success")
        return redirect(url_for("applications.detail", application_id=application.id))
    try:
        submission = services.submit(db, current_user, application)
    except (ValidationFailed, InvalidTransition) as exc:
        db.rollback()
        form.version_id.data = str(application.version_id)
        if isinstance(exc, ValidationFailed):
            apply_errors(form, exc)
        else:
            form.form_errors.append(str(exc.message))
        return _render(application, form, 422 if isinstance(exc, ValidationFailed) else 409)
    db.commit()
    return redirect(url_for("applications.receipt", application_id=application.id, number=submission.number))


@bp.get("/applications/<int:application_id>/receipt/<int:number>")
@role_required()
def receipt(application_id: int, number: int):
    application = _application(application_id)
    submission = next((s for s in application.submissions if s.number == number), None)
    if submission is None:
        abort(404)
    return render_template("applications/receipt.html", application=application, submission=submission)


@bp.route("/applications/<int:application_id>/withdraw", methods=["GET", "POST"])
@permission_required(access.can_prepare_application)
def withdraw(application_id: int):
    application = _application(application_id)
    form = WithdrawForm()
    if form.validate_on_submit():
        services.withdraw(db, current_user, application, form.reason.data or "")
        db.commit()
        flash(_("The application has been withdrawn. You can change it and submit it again until the deadline."),
              "success")
        return redirect(url_for("applications.detail", application_id=application.id))
    return render_template("applications/withdraw.html", application=application, form=form)


@bp.post("/applications/<int:application_id>/documents")
@permission_required(access.can_prepare_application)
def upload_document(application_id: int):
    application = _application(application_id)
    if not access.can_edit_application(current_user, application) or not services.is_editable(application):
        raise InvalidTransition(_("Documents can no longer be added to this application."))
    form = upload_form(document_services.OBJECT_PURPOSES["application"])
    if form.validate_on_submit():
        replaces = db.get(Document, int(form.replaces.data)) if (form.replaces.data or "").isdigit() else None
        try:
            document_services.upload(db, current_user, owner=application.organisation, object_type="application",
                                     object_id=application.id, purpose=form.purpose.data, stream=form.file.data.stream,
                                     filename=form.file.data.filename, replaces=replaces)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The document has been uploaded."), "success")
            return redirect(url_for("applications.detail", application_id=application.id) + "#documents")
    return _render(application, None, 422, upload=form)


# Municipality: endorsement ---------------------------------------------------------------------------

@bp.route("/applications/<int:application_id>/endorse", methods=["GET", "POST"])
@permission_required(access.can_endorse_applications)
def endorse(application_id: int):
    application = _application(application_id)
    if not access.can_endorse(current_user, application):
        raise NotAllowed()
    form = EndorseForm()
    if form.validate_on_submit():
        try:
            services.endorse(db, current_user, application, form.decision.data == "endorse", form.reason.data or "")
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("Your answer has been recorded and the provider informed."), "success")
            return redirect(url_for("applications.detail", application_id=application.id))
    return render_template("applications/endorse.html", application=application, form=form,
                           deadline=services.endorsement_deadline(application.call))


# Ministry: lists, screening, reviewers -------------------------------------------------------------

@bp.get("/review/calls/<int:call_id>/applications")
@permission_required(access.can_screen_applications)
def review_list(call_id: int):
    call = _grant_call(call_id)
    status = request.args.get("status", "")
    page = paginate(db, review.review_list_query(call, status), page_arg(), page_size())
    moderations = review.latest_moderations(db, [a.id for a in page.items])
    states = {a.id: review.review_state(a, moderations.get(a.id)) for a in page.items}
    return render_template("applications/review_list.html", call=call, page=page, states=states, status=status,
                           statuses=[s for s in ApplicationStatus if s != ApplicationStatus.DRAFT],
                           reviewers_missing=review.reviewers_missing, **_labels())


@bp.route("/applications/<int:application_id>/eligibility", methods=["GET", "POST"])
@permission_required(access.can_screen_applications)
def eligibility(application_id: int):
    application = _application(application_id)
    form = EligibilityForm()
    items = review.checklist(application.call)
    answers = {item: request.form.get(f"item-{i}") for i, item in enumerate(items)}
    if form.validate_on_submit():
        try:
            given = {item: value == "yes" for item, value in answers.items() if value in ("yes", "no")}
            review.screen(db, current_user, application, given, form.reason.data or "")
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The screening has been recorded."), "success")
            return redirect(url_for("applications.detail", application_id=application.id))
    return render_template("applications/eligibility.html", application=application, form=form, items=items,
                           answers=answers, checklist_label=review.checklist_label,
                           missing=services.missing_documents(db, application), **_labels())


@bp.route("/applications/<int:application_id>/reviewers", methods=["GET", "POST"])
@permission_required(access.can_screen_applications)
def reviewers(application_id: int):
    application = _application(application_id)
    if not access.can_assign_reviewers(current_user, application.call):
        raise NotAllowed()
    form = AssignForm()
    form.reviewer.choices = [(u.id, f"{u.full_name} ({u.email})") for u in review.eligible_reviewers(db)]
    if form.validate_on_submit():
        reviewer = db.get(User, form.reviewer.data or 0)
        try:
            if reviewer is None:
                raise ValidationFailed(field_errors={"reviewer": [_("Choose an active ministry reviewer.")]})
            review.assign(db, current_user, application, reviewer)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The reviewer has been assigned and informed."), "success")
            return redirect(url_for("applications.reviewers", application_id=application.id))
    return render_template("applications/reviewers.html", application=application, form=form,
                           missing=review.reviewers_missing(application), **_labels())


@bp.get("/review/assignments")
@permission_required(access.can_screen_applications)
def my_reviews():
    return render_template("applications/my_reviews.html", assignments=review.my_assignments(db, current_user),
                           scorable=review.scorable, **_labels())


# Ministry: declaration, scoring, rescoring, moderation ----------------------------------------------

def _score_inputs(call: Call) -> dict[int, review.ScoreInput]:
    return {c.id: review.ScoreInput(request.form.get(f"score-{c.id}", ""), request.form.get(f"justification-{c.id}", ""))
            for c in call.criteria}


@bp.route("/applications/<int:application_id>/review", methods=["GET", "POST"])
@permission_required(access.can_screen_applications)
def score(application_id: int):
    application = _application(application_id)
    assignment = review.own_assignment(application, current_user)
    if assignment is None:
        raise NotAllowed(_("You are not assigned to review this application."))
    declaration, form = DeclarationForm(prefix="d"), ScoreForm()
    errors: dict = {}
    if request.method == "POST" and "d-submit" in request.form:
        if declaration.validate_on_submit():
            try:
                review.declare(db, current_user, assignment, declaration.conflict.data == "declared",
                               declaration.note.data or "")
            except ValidationFailed as exc:
                apply_errors(declaration, exc)
            else:
                db.commit()
                flash(_("Your declaration has been recorded.") if declaration.conflict.data != "declared" else
                      _("Your conflict of interest has been recorded. A replacement reviewer will be assigned."),
                      "success")
                return redirect(url_for("applications.score", application_id=application.id))
    elif request.method == "POST" and form.validate_on_submit():
        if not form.confirm.data:
            form.confirm.errors = [_("Confirm that you understand the scores are locked once submitted.")]
        else:
            try:
                review.submit_scores(db, current_user, assignment, _score_inputs(application.call))
            except ValidationFailed as exc:
                errors = exc.field_errors
                apply_errors(form, exc)
            else:
                db.commit()
                flash(_("Your scores have been submitted. You can now see the other reviewers' scores."), "success")
                return redirect(url_for("applications.detail", application_id=application.id) + "#reviews")
    status = 422 if (form.errors or form.form_errors or declaration.errors) else 200
    return render_template("applications/score.html", application=application, assignment=assignment,
                           declaration=declaration, form=form, errors=errors, values=request.form,
                           scorable=review.scorable(application), max_total=review.max_total(application.call),
                           rescore=False, **_labels()), status


@bp.route("/applications/<int:application_id>/reviews/<int:assignment_id>/rescore", methods=["GET", "POST"])
@permission_required(access.can_screen_applications)
def rescore(application_id: int, assignment_id: int):
    application = _application(application_id)
    if not access.is_chair(current_user, application.call):
        raise NotAllowed(_("Only the committee chair of this call can rescore."))
    assignment = review.get_assignment(db, application, assignment_id)
    form = ScoreForm()
    errors: dict = {}
    values = request.form
    if request.method == "GET" and assignment.current:
        values = {}
        for s in assignment.current.scores:
            values[f"score-{s.criterion_id}"] = str(s.score)
            values[f"justification-{s.criterion_id}"] = s.justification
    if form.validate_on_submit():
        try:
            review.rescore(db, current_user, assignment, _score_inputs(application.call), form.reason.data or "")
        except ValidationFailed as exc:
            errors = exc.field_errors
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The rescore has been recorded; the earlier scores are kept."), "success")
            return redirect(url_for("applications.detail", application_id=application.id) + "#reviews")
    return render_template("applications/score.html", application=application, assignment=assignment,
                           declaration=None, form=form, errors=errors, values=values, scorable=True,
                           max_total=review.max_total(application.call), rescore=True, **_labels()), \
        422 if form.errors or form.form_errors else 200


@bp.route("/applications/<int:application_id>/moderate", methods=["GET", "POST"])
@permission_required(access.can_screen_applications)
def moderate(application_id: int):
    application = _application(application_id)
    if not access.is_chair(current_user, application.call):
        raise NotAllowed(_("Only the committee chair of this call can moderate."))
    form = ModerationForm()
    if form.validate_on_submit():
        try:
            review.moderate(db, current_user, application, form.score.data or "", form.reason.data or "")
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The agreed score has been recorded."), "success")
            return redirect(url_for("applications.detail", application_id=application.id) + "#reviews")
    moderation = review.latest_moderations(db, [application.id]).get(application.id)
    return render_template("applications/moderate.html", application=application, form=form,
                           state=review.review_state(application, moderation), max_total=review.max_total(application.call),
                           **_labels())


# Ranking and decisions ---------------------------------------------------------------------------------

def _ranking_table(result: review.Ranking):
    header = [_("Rank"), _("Reference"), _("Provider"), _("Municipality"), _("Final score"), _("Requested (EUR)"),
              _("Amount counted (EUR)"), _("Running total (EUR)"), _("Within the funding line"), _("Status")]
    rows = [(r.rank, r.application.reference, r.application.organisation.name,
             r.application.municipality_org.municipality.name() if r.application.municipality_org.municipality else "",
             r.state.final, r.application.requested_eur, r.amount, r.running,
             "" if r.fits is None else (_("yes") if r.fits else _("no")), services.status_label(r.application.status))
            for r in result.rows]
    return header, rows


@bp.get("/review/calls/<int:call_id>/ranking")
@bp.get("/review/calls/<int:call_id>/ranking.<fmt>")
@permission_required(access.can_view_ranking)
def ranking(call_id: int, fmt: str = "html"):
    call = _grant_call(call_id)
    what_if = {int(key[8:]): value for key, value in request.args.items()
               if key.startswith("what-if-") and key[8:].isdigit()}
    result = review.ranking(db, call, what_if)
    if fmt in ("csv", "xlsx"):
        header, rows = _ranking_table(result)
        if fmt == "csv":
            return csv_response(f"{call.reference}-ranking.csv", header, rows)
        money = result.money
        return xlsx_response(f"{call.reference}-ranking.xlsx", {
            _("Ranking"): (header, rows),
            _("Money available"): ([_("Budget of the call"), _("Awarded in the call"), _("Envelope"),
                                    _("Awarded in all calls"), _("Available for new awards")],
                                   [(money.call_allocation, money.call_awarded, money.envelope, money.envelope_awarded,
                                     money.available)]),
        })
    if fmt != "html":
        abort(404)
    return render_template("applications/ranking.html", call=call, result=result, what_if=what_if,
                           max_total=review.max_total(call), now=clock.now(),
                           mkd=call_services.to_mkd(db, result.money.available), **_labels())


@bp.route("/applications/<int:application_id>/decide", methods=["GET", "POST"])
@permission_required(access.can_decide_awards)
def decide(application_id: int):
    application = _application(application_id)
    form = DecisionForm()
    if request.method == "GET":
        form.amount.data = application.requested_eur
        form.version_id.data = str(application.version_id)
    if form.validate_on_submit():
        if not form.confirm.data:
            form.confirm.errors = [_("Confirm the decision: it is sent to the provider and the municipality.")]
        else:
            try:
                outcome = Outcome(form.outcome.data)
                review.decide(db, current_user, application, outcome,
                              form.amount.data if outcome == Outcome.AWARD else None, form.conditions.data or "",
                              form.reasons.data or "", expected_version=version_of(form.version_id.data))
            except ValidationFailed as exc:
                apply_errors(form, exc)
            else:
                db.commit()
                flash(_("The decision has been recorded; the provider and the municipality have been informed."),
                      "success")
                return redirect(url_for("applications.ranking", call_id=application.call_id))
    moderation = review.latest_moderations(db, [application.id]).get(application.id)
    return render_template("applications/decide.html", application=application, form=form,
                           state=review.review_state(application, moderation),
                           money=review.money_for(db, application.call), **_labels()), \
        422 if form.errors or form.form_errors else 200


# Administration: the review settings of a call -------------------------------------------------------

@bp.route("/admin/calls/<int:call_id>/review-settings", methods=["GET", "POST"])
@permission_required(access.can_manage_calls)
def review_settings(call_id: int):
    call = _grant_call(call_id)
    form = ReviewSettingsForm()
    chairs = review.eligible_reviewers(db)
    form.chair_id.choices = [(0, "—")] + [(u.id, f"{u.full_name} ({u.email})") for u in chairs]
    if request.method == "GET":
        form.version_id.data = str(call.version_id)
        form.endorsement_closes_at.data = (clock.utc_to_skopje(call.endorsement_closes_at).replace(tzinfo=None)
                                           if call.endorsement_closes_at else None)
        form.funds_per_user.data = call.funds_per_user
        form.checklist.data = "\n".join(call.eligibility_checklist or [])
        form.reviewers_required.data = call.reviewers_required
        form.discrepancy_pct.data = (call.discrepancy_share * 100).quantize(Decimal("0.01"))
        form.chair_id.data = call.chair_id or 0
        form.tranche_template.data = "\n".join("; ".join(str(v) for v in row) for row in call.tranche_template or [])
        form.finance_period_months.data = call.finance_period_months
        form.budget_variance_pct.data = call.budget_variance_pct
        form.register_required.data = call.register_required
    if form.validate_on_submit():
        try:
            template = call_services.parse_tranche_template(form.tranche_template.data or "")
            when = clock.skopje_to_utc(form.endorsement_closes_at.data) if form.endorsement_closes_at.data else None
            call_services.set_review_settings(db, current_user, call, call_services.ReviewSettings(
                endorsement_closes_at=when, funds_per_user=bool(form.funds_per_user.data),
                checklist=(form.checklist.data or "").splitlines(), reviewers_required=form.reviewers_required.data,
                discrepancy_pct=form.discrepancy_pct.data, chair_id=form.chair_id.data or None,
                tranche_template=template, finance_period_months=form.finance_period_months.data,
                budget_variance_pct=form.budget_variance_pct.data, register_required=bool(form.register_required.data)),
                int(form.version_id.data or 0))
        except clock.NonexistentLocalTime:
            form.endorsement_closes_at.errors = [_("This time does not exist in Skopje (the clocks move forward that "
                                                   "night). Choose another time.")]
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The review settings have been saved."), "success")
            return redirect(url_for("calls_admin.calls"))
    return render_template("applications/review_settings.html", call=call, form=form,
                           default_checklist=[str(v) for v in review.DEFAULT_CHECKLIST.values()]), \
        422 if form.errors or form.form_errors else 200
