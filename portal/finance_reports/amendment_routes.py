"""Budget amendments (issue 18): thin routes over `portal.finance_reports.amendments`, on the financial reports'
blueprint."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from portal import access
from portal.access import permission_required, role_required
from portal.db import db
from portal.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from portal.finance_reports import amendments
from portal.finance_reports.routes import bp
from portal.finance_reports.services import budget_lines, line_label
from portal.models import BudgetAmendment, BudgetLine, GrantAgreement
from portal.web import apply_errors, version_of


class RequestFormBase(FlaskForm):
    reason = TextAreaField(_l("Reason for the budget amendment"), validators=[Optional(), Length(max=4000)])
    submit = SubmitField(_l("Request the budget amendment"))

    line_ids: list[int] = []

    def amounts(self) -> dict[int, Any]:
        return {line_id: self[f"line-{line_id}"].data for line_id in self.line_ids}


def request_form(lines: list[BudgetLine], **kwargs: Any) -> RequestFormBase:
    attrs = {f"line-{line.id}": StringField(line_label(line), validators=[Optional(), Length(max=40)]) for line in lines}
    form = type("BudgetAmendmentForm", (RequestFormBase,), attrs)(**kwargs)
    form.line_ids = [line.id for line in lines]
    return form


class DecisionForm(FlaskForm):
    version_id = HiddenField()
    comment = TextAreaField(_l("Comment to the provider"), validators=[Optional(), Length(max=4000)])
    approve = SubmitField(_l("Approve the budget amendment"))
    reject = SubmitField(_l("Reject it"))


def _agreement(agreement_id: int) -> GrantAgreement:
    agreement = db.get(GrantAgreement, agreement_id)
    if agreement is None:
        raise NotFound()
    if not access.can_view_budget_amendments(current_user, agreement):
        raise NotAllowed()
    return agreement


def _amendment(amendment_id: int) -> BudgetAmendment:
    amendment = db.get(BudgetAmendment, amendment_id)
    if amendment is None:
        raise NotFound()
    if not access.can_view_budget_amendments(current_user, amendment.agreement):
        raise NotAllowed()
    return amendment


@bp.get("/grants/<int:agreement_id>/budget-amendments")
@role_required()
def amendments_index(agreement_id: int):
    """The budget in force and every amendment of the grant, newest first."""
    agreement = _agreement(agreement_id)
    return render_template("finance_reports/amendments.html", agreement=agreement,
                           budget=amendments.budget_in_force(db, agreement),
                           amendments=amendments.amendments_of(db, agreement),
                           pending=amendments.pending_of(db, agreement), status_label=amendments.status_label,
                           can_request=access.can_request_budget_amendment(current_user, agreement))


@bp.route("/grants/<int:agreement_id>/budget-amendments/new", methods=["GET", "POST"])
@permission_required(access.can_prepare_financial_reports)
def request_amendment(agreement_id: int):
    agreement = _agreement(agreement_id)
    if not access.can_request_budget_amendment(current_user, agreement):
        raise NotAllowed()
    budget = amendments.budget_in_force(db, agreement)
    form = request_form(budget_lines(agreement))
    status = 200
    if request.method == "GET":
        for row in budget:
            form[f"line-{row.line_id}"].data = str(row.in_force)
    elif form.validate_on_submit():
        try:
            amendment = amendments.request(db, current_user, agreement, form.amounts(), form.reason.data or "")
        except ValidationFailed as exc:
            db.rollback()
            apply_errors(form, exc)
            status = 422
        else:
            db.commit()
            flash(_("The budget amendment has been requested; the ministry's finance officers decide on it."), "success")
            return redirect(url_for("finance_reports.amendment_detail", amendment_id=amendment.id))
    else:
        status = 422
    return render_template("finance_reports/amendment_form.html", agreement=agreement, form=form, budget=budget,
                           total=sum((row.in_force for row in budget), amendments.ZERO)), status


def _detail(amendment: BudgetAmendment, form: DecisionForm | None = None, status: int = 200):
    can_decide = access.can_decide_budget_amendments(current_user) and amendment.status == amendments.Status.PENDING
    if can_decide and form is None:
        form = DecisionForm(formdata=None, version_id=str(amendment.version_id))
    return render_template("finance_reports/amendment.html", amendment=amendment, agreement=amendment.agreement,
                           form=form if can_decide else None, status_label=amendments.status_label,
                           line_label=line_label), status


@bp.get("/budget-amendments/<int:amendment_id>")
@role_required()
def amendment_detail(amendment_id: int):
    return _detail(_amendment(amendment_id))


@bp.post("/budget-amendments/<int:amendment_id>/decide")
@permission_required(access.can_decide_budget_amendments)
def decide_amendment(amendment_id: int):
    amendment = _amendment(amendment_id)
    form = DecisionForm()
    try:
        if not form.validate_on_submit() or not (form.approve.data or form.reject.data):
            raise ValidationFailed(field_errors={"comment": list(form.comment.errors) or [
                _("Choose whether to approve the budget amendment or reject it.")]})
        amendments.decide(db, current_user, amendment, bool(form.approve.data), form.comment.data or "",
                          version_of(form.version_id.data))
    except ValidationFailed as exc:
        db.rollback()
        form.comment.errors = []
        apply_errors(form, exc)
        return _detail(amendment, form, 422)
    except Conflict:
        db.rollback()
        raise
    db.commit()
    flash(_("The budget amendment has been approved: the new amounts are in force.") if form.approve.data
          else _("The budget amendment has been rejected."), "success")
    return redirect(url_for("finance_reports.amendment_detail", amendment_id=amendment.id))
