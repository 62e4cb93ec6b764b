"""Budget amendments (issue 18): the provider asks to move money between its grant's approved budget lines, with a
reason; a finance officer or administrator approves or rejects it with a comment. Every rule is here; the routes
only call it.

- **The total never changes** here: the new amounts add up to the budget in force (a change of the grant's total
  goes through the agreement amendment, `portal.grants.services.amend`).
- **Versioned, never overwritten**: each amendment is a numbered row (1, 2, …) with a line per budget line: the
  amount in force when it was asked for and the amount asked for. Rejected amendments stay as they were.
- **The budget in force** = the application's budget lines as awarded, each replaced by its amount in the newest
  approved amendment. The variance rule (`services.line_limit`) and the finance summary read it.
- **One at a time**: while an amendment waits for a decision, another request is refused (409; a partial unique
  index in the database holds it under concurrent requests). A decision needs the version the person read: two
  people deciding at once → one wins, the other gets 409 and nothing changes.
- **No line below what was spent**: a line's new amount, with the call's allowed variance, still covers what
  accepted financial reports say was spent on it.
- Audited: `budget_amendment.requested/approved/rejected`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit, clock
from portal.db import lock_row
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.models import (
    AmendmentStatus,
    BudgetAmendment,
    BudgetAmendmentLine,
    FinanceReportStatus,
    FinancialReport,
    FinancialReportLine,
    FinancialReportVersion,
    GrantAgreement,
    User,
)

ZERO = Decimal("0.00")
Status = AmendmentStatus


def amendments_of(session: Session, agreement: GrantAgreement) -> list[BudgetAmendment]:
    """Every budget amendment of the grant, newest first."""
    return list(session.scalars(sa.select(BudgetAmendment).where(BudgetAmendment.agreement_id == agreement.id)
                                .order_by(BudgetAmendment.number.desc())
                                .options(sa.orm.selectinload(BudgetAmendment.lines))))


def pending_of(session: Session, agreement: GrantAgreement) -> BudgetAmendment | None:
    return session.scalar(sa.select(BudgetAmendment).where(BudgetAmendment.agreement_id == agreement.id,
                                                           BudgetAmendment.status == Status.PENDING))


def amounts_in_force(session: Session, agreement: GrantAgreement) -> dict[int, Decimal]:
    """Per budget line id, the approved amount in force: as awarded, replaced by the newest approved amendment."""
    from portal.finance_reports.services import budget_lines

    amounts = {line.id: line.amount_eur for line in budget_lines(agreement)}
    newest = session.scalar(sa.select(BudgetAmendment).where(BudgetAmendment.agreement_id == agreement.id,
                                                             BudgetAmendment.status == Status.APPROVED)
                            .order_by(BudgetAmendment.number.desc()).limit(1))
    if newest is not None:
        for line in newest.lines:
            if line.budget_line_id in amounts:
                amounts[line.budget_line_id] = line.amount_eur
    return amounts


def spent_accepted_by_line(session: Session, agreement: GrantAgreement) -> dict[int, Decimal]:
    rows = session.execute(
        sa.select(FinancialReportLine.budget_line_id, sa.func.sum(FinancialReportLine.spent_eur))
        .join(FinancialReportVersion, FinancialReportVersion.id == FinancialReportLine.version_id)
        .join(FinancialReport, FinancialReport.id == FinancialReportVersion.report_id)
        .where(FinancialReport.agreement_id == agreement.id, FinancialReportVersion.status == FinanceReportStatus.ACCEPTED)
        .group_by(FinancialReportLine.budget_line_id)).all()
    return {line_id: Decimal(total or 0).quantize(Decimal("0.01")) for line_id, total in rows}


@dataclass
class BudgetRow:
    line_id: int
    label: str
    original: Decimal
    in_force: Decimal


def budget_in_force(session: Session, agreement: GrantAgreement) -> list[BudgetRow]:
    """The budget lines with the amount awarded and the amount in force (for the agreement and amendment pages)."""
    from portal.finance_reports.services import budget_lines, line_label

    amounts = amounts_in_force(session, agreement)
    return [BudgetRow(line.id, line_label(line), line.amount_eur, amounts[line.id]) for line in budget_lines(agreement)]


def _next_number(session: Session, agreement: GrantAgreement) -> int:
    return (session.scalar(sa.select(sa.func.max(BudgetAmendment.number))
                           .where(BudgetAmendment.agreement_id == agreement.id)) or 0) + 1


def _pending_message() -> str:
    return _("A budget amendment of this grant is already waiting for a decision; a new one can be requested once it "
             "is approved or rejected.")


def request(session: Session, actor: User, agreement: GrantAgreement, amounts: dict[int, Any],
            reason: str) -> BudgetAmendment:
    """Ask for new amounts of the approved budget lines (typed text per line id, parsed here) with a reason."""
    from portal.finance_reports.services import budget_lines, line_label, line_limit, parse_amount, variance_pct
    from portal.i18n import money

    if not access.can_request_budget_amendment(actor, agreement):
        raise NotAllowed()
    if pending_of(session, agreement) is not None:
        raise InvalidTransition(_pending_message())
    lines = budget_lines(agreement)
    if not lines:
        raise InvalidTransition(_("This grant has no approved budget lines to amend."))
    before = amounts_in_force(session, agreement)
    errors: dict[str, list[str]] = {}
    after: dict[int, Decimal] = {}
    for line in lines:
        parsed = parse_amount(amounts.get(line.id, ""))
        if isinstance(parsed, Decimal):
            after[line.id] = parsed
        else:
            errors[f"line-{line.id}"] = [parsed]
    if not (reason or "").strip():
        errors["reason"] = [_("Give the reason for the budget amendment.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    total_before, total_after = sum(before.values(), ZERO), sum(after.values(), ZERO)
    if total_after != total_before:
        errors["lines"] = [_("The new amounts add up to %(after)s EUR but the approved budget is %(before)s EUR: a "
                             "budget amendment moves money between lines and keeps the total.",
                             after=money(total_after), before=money(total_before))]
    elif after == before:
        errors["lines"] = [_("Change the amount of at least one budget line.")]
    spent, pct = spent_accepted_by_line(session, agreement), variance_pct(agreement)
    for line in lines:
        if spent.get(line.id, ZERO) > line_limit(line, pct, after[line.id]):
            errors[f"line-{line.id}"] = [_(
                "%(line)s: accepted financial reports already show %(spent)s EUR spent on this line, more than the new "
                "amount allows.", line=line_label(line), spent=money(spent[line.id]))]
    if errors:
        raise ValidationFailed(field_errors=errors)
    amendment = BudgetAmendment(agreement_id=agreement.id, number=_next_number(session, agreement),
                                status=Status.PENDING, reason=reason.strip()[:4000], requested_by_id=actor.id,
                                requested_at=clock.now())
    amendment.lines = [BudgetAmendmentLine(budget_line_id=line.id, amount_before_eur=before[line.id],
                                           amount_eur=after[line.id]) for line in lines]
    try:
        with session.begin_nested():
            session.add(amendment)
    except sa.exc.IntegrityError:
        raise InvalidTransition(_pending_message()) from None
    audit.record(session, actor, "budget_amendment.requested", amendment,
                 after={"agreement": agreement.number, "number": amendment.number, "reason": amendment.reason,
                        "lines": {str(k): {"from": str(before[k]), "to": str(v)} for k, v in after.items()
                                  if v != before[k]}})
    return amendment


def decide(session: Session, actor: User, amendment: BudgetAmendment, approve: bool, comment: str,
           expected_version: int | None) -> BudgetAmendment:
    """Approve or reject the pending amendment, with a comment (required when rejecting). `expected_version` is the
    version the person read: if it changed (someone decided first), nothing changes (409)."""
    if not access.can_decide_budget_amendments(actor):
        raise NotAllowed()
    lock_row(session, amendment)
    if expected_version is None or expected_version != amendment.version_id:
        raise Conflict()
    if amendment.status != Status.PENDING:
        raise InvalidTransition(_("This budget amendment has already been decided."))
    comment = (comment or "").strip()
    if not approve and not comment:
        raise ValidationFailed(field_errors={"comment": [_("Say why the budget amendment is rejected.")]})
    if approve and any(line.amount_before_eur != amount for line, amount in zip(
            amendment.lines, (amounts_in_force(session, amendment.agreement).get(li.budget_line_id)
                              for li in amendment.lines), strict=True)):
        raise Conflict(_("The approved budget changed after this amendment was requested; it cannot be approved."))
    amendment.status = Status.APPROVED if approve else Status.REJECTED
    amendment.decided_by_id, amendment.decided_at, amendment.decision_comment = actor.id, clock.now(), comment[:4000]
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None
    audit.record(session, actor, f"budget_amendment.{amendment.status.value}", amendment,
                 before={"status": "pending"}, after={"status": amendment.status.value, "number": amendment.number,
                                                      "comment": amendment.decision_comment})
    return amendment


def status_label(status: Any) -> str:
    from portal.labels import label

    return label(status, "budget_amendment_status")
