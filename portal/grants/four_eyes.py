"""Four eyes on tranche releases: who may do what next, what waits for whom, and telling the approvers.

Templates never re-decide these rules: they ask `next_actions` (the agreement page) and `work_for`
(the home page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session, joinedload

from portal import access, clock, mail
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.models import Application, GrantAgreement, Role, Tranche, TrancheStatus, User

#: What the person looking at a tranche can do or is waiting for.
REQUEST, APPROVE, PAY = "request", "approve", "pay"
WAIT_REPORTS, WAIT_SECOND, NOTHING = "wait_reports", "wait_second", ""
WAIT_FINANCE = "wait_finance"  # the monthly reports are there; a money condition is not met yet

HOME_LIMIT = 20


def next_action(user: User, tranche: Tranche, accepted_through: int, finance_met: bool = True) -> str:
    """One tranche's next step for `user`, given the months whose reports are accepted without a gap and whether
    its money conditions (`portal.finance_reports.conditions`) are met."""
    status = tranche.status
    if status == TrancheStatus.PLANNED and access.can_request_release(user):
        if tranche.reports_required_through > accepted_through:
            return WAIT_REPORTS
        return REQUEST if finance_met else WAIT_FINANCE
    if status == TrancheStatus.REQUESTED:
        return APPROVE if may_approve(user, tranche) else WAIT_SECOND
    if status == TrancheStatus.APPROVED and access.can_request_release(user):
        return PAY
    return NOTHING


def next_actions(session: Session, user: User, agreement: GrantAgreement) -> dict[int, str]:
    """Every tranche of the agreement → what `user` can do with it next (see the constants above)."""
    from portal.finance_reports.conditions import unmet
    from portal.grants.services import reports_accepted_through

    accepted = reports_accepted_through(session, agreement)
    return {t.id: next_action(user, t, accepted, t.status != TrancheStatus.PLANNED or not unmet(session, t))
            for t in agreement.tranches}


def may_approve(user: User, tranche: Tranche) -> bool:
    return (access.can_approve_release(user) and tranche.status == TrancheStatus.REQUESTED
            and tranche.requested_by_id != user.id)


def check_approve(user: User, tranche: Tranche) -> None:
    """Raise why `user` cannot approve this tranche now (nothing changes)."""
    if not access.can_approve_release(user):
        raise NotAllowed()
    if tranche.status != TrancheStatus.REQUESTED:
        raise InvalidTransition(_("Only a requested tranche can be approved."))
    if tranche.requested_by_id == user.id:
        raise NotAllowed(_("Four eyes: the tranche must be approved by another ministry user than the one who "
                           "requested it."))


def check_pay(user: User, tranche: Tranche, paid_on: date | None = None, bank_reference: str | None = None) -> None:
    """Raise why `user` cannot mark this tranche paid on `paid_on` with `bank_reference` (nothing changes)."""
    if not access.can_request_release(user):
        raise NotAllowed()
    if tranche.status != TrancheStatus.APPROVED:
        raise InvalidTransition(_("Only an approved tranche can be marked paid."))
    errors: dict[str, list[str]] = {}
    if not (bank_reference or "").strip():
        errors["bank_reference"] = [_("Enter the bank reference of the payment.")]
    if paid_on is None:
        errors["paid_on"] = [_("Enter the payment date and the bank reference.")]
    elif paid_on > clock.utc_to_skopje(clock.now()).date():
        errors["paid_on"] = [_("The payment date cannot be in the future.")]
    if errors:
        raise ValidationFailed(field_errors=errors)


@dataclass
class Work:
    """What waits for one ministry user on their home page."""

    to_approve: list[Tranche] = field(default_factory=list)
    to_pay: list[Tranche] = field(default_factory=list)
    with_others: list[Tranche] = field(default_factory=list)  # requested by this user, waiting for someone else

    def __bool__(self) -> bool:
        return bool(self.to_approve or self.to_pay or self.with_others)


def _tranches(session: Session, *where) -> list[Tranche]:
    return list(session.scalars(
        sa.select(Tranche).where(*where)
        .options(joinedload(Tranche.agreement).joinedload(GrantAgreement.application)
                 .joinedload(Application.organisation))
        .order_by(Tranche.requested_at, Tranche.id).limit(HOME_LIMIT)))


def work_for(session: Session, user: User) -> Work:
    """Tranches this person can approve (never their own requests), approved ones they can mark paid,
    and their own requests still waiting for a second person. Paid tranches leave every list."""
    work = Work()
    if access.can_approve_release(user):
        work.to_approve = _tranches(session, Tranche.status == TrancheStatus.REQUESTED,
                                    sa.or_(Tranche.requested_by_id.is_(None), Tranche.requested_by_id != user.id))
        work.with_others = _tranches(session, Tranche.status == TrancheStatus.REQUESTED,
                                     Tranche.requested_by_id == user.id)
    if access.can_request_release(user):
        work.to_pay = _tranches(session, Tranche.status == TrancheStatus.APPROVED)
    return work


def approvers(session: Session, tranche: Tranche) -> list[User]:
    """Who can give the second pair of eyes: active, activated administrators and finance officers other
    than the requester."""
    candidates = session.scalars(
        sa.select(User).where(User.role.in_((Role.ADMIN, Role.FINANCE)), User.active.is_(True),
                              User.password_hash.is_not(None)).order_by(User.id))
    return [u for u in candidates if u.id != tranche.requested_by_id and access.can_approve_release(u)]


def notify_approvers(session: Session, tranche: Tranche) -> int:
    """Mail each eligible approver, in their own language, that a tranche waits for them."""
    from portal.i18n import money

    agreement = tranche.agreement
    requester = session.get(User, tranche.requested_by_id) if tranche.requested_by_id else None
    recipients = approvers(session, tranche)
    for person in recipients:
        with force_locale(person.preferred_language or "mk"):
            subject = _("Tranche %(n)d of %(number)s waits for your approval", n=tranche.position,
                        number=agreement.number)
            body = render_template("mail/tranche_approval.txt", user=person, tranche=tranche, agreement=agreement,
                                   recipient=agreement.application.organisation.name,
                                   amount=money(tranche.amount_eur), requester=requester.full_name if requester else "",
                                   url=f"{current_app.config['PORTAL_BASE_URL']}/grants/{agreement.id}#tranches")
            mail.queue(session, person.email, subject, body)
    return len(recipients)
