"""Award decisions and what they rest on: the money a call has left, the ranking with its funding line (tie-break:
final score, then the higher co-financing share, then the smaller requested amount, then the earlier submission,
then the lower id), and the decision itself, by someone who did not score."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import access, audit, clock
from portal.applications.review import (
    CENT,
    ReviewState,
    _loaded,
    _why_not_scorable,
    latest_decisions,
    latest_moderations,
    review_state,
)
from portal.applications.services import cofinancing_share, notify_members
from portal.db import lock_row
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.labels import label
from portal.models import (
    Application,
    ApplicationStatus,
    AwardDecision,
    Call,
    Eligibility,
    Endorsement,
    Moderation,
    Outcome,
    User,
)

# Money available and the ranking --------------------------------------------------------------------

def awarded_by_call(session: Session, programme_id: int) -> dict[int, Decimal]:
    """The amounts of awards in force (the newest decision of each application), per call of the programme."""
    newest = sa.select(sa.func.max(AwardDecision.id)).group_by(AwardDecision.application_id)
    rows = session.execute(
        sa.select(Application.call_id, sa.func.coalesce(sa.func.sum(AwardDecision.amount_eur), 0))
        .join(Application, Application.id == AwardDecision.application_id)
        .join(Call, Call.id == Application.call_id)
        .where(AwardDecision.id.in_(newest), AwardDecision.outcome == Outcome.AWARD, Call.programme_id == programme_id)
        .group_by(Application.call_id)).all()
    return {call_id: Decimal(amount) for call_id, amount in rows}


@dataclass
class Money:
    envelope: Decimal
    envelope_awarded: Decimal
    call_allocation: Decimal
    call_awarded: Decimal

    @property
    def envelope_uncommitted(self) -> Decimal:
        return self.envelope - self.envelope_awarded

    @property
    def call_remaining(self) -> Decimal:
        return self.call_allocation - self.call_awarded

    @property
    def available(self) -> Decimal:
        """What a new award in this call may use: the smaller of the two."""
        return max(min(self.call_remaining, self.envelope_uncommitted), Decimal("0.00"))

    @property
    def limit(self) -> Decimal:
        """The total this call's awards may reach (awards already made included)."""
        return self.call_awarded + self.available


def money_for(session: Session, call: Call, *, lock: bool = False) -> Money:
    from portal.models import Programme

    query = sa.select(Programme).where(Programme.id == call.programme_id)
    programme = session.scalar(query.with_for_update() if lock else query)
    if lock:
        session.execute(sa.select(Call.id).where(Call.id == call.id).with_for_update())
    awarded = awarded_by_call(session, programme.id)
    return Money(envelope=programme.envelope_eur, envelope_awarded=sum(awarded.values(), Decimal("0.00")),
                 call_allocation=call.allocation_eur, call_awarded=awarded.get(call.id, Decimal("0.00")))


@dataclass
class RankRow:
    rank: int
    application: Application
    state: ReviewState
    decision: AwardDecision | None
    amount: Decimal  # the award in force, the what-if amount, or the requested amount
    what_if: bool
    running: Decimal | None
    fits: bool | None  # None: not counted (rejected)


@dataclass
class Ranking:
    rows: list[RankRow]
    not_ready: list[tuple[Application, ReviewState]]
    money: Money
    errors: list[str] = field(default_factory=list)

    @property
    def line_after(self) -> int | None:
        """The rank after which the funding line falls."""
        fitting = [r.rank for r in self.rows if r.fits]
        return max(fitting) if fitting else None


def _sort_key(row: tuple[Application, ReviewState]) -> tuple:
    application, state = row
    return (-(state.final or Decimal("0")), -cofinancing_share(application.total_eur, application.cofinancing_eur),
            application.requested_eur, application.submitted_at or clock.now(), application.id)


def ranking(session: Session, call: Call, what_if: dict[int, str] | None = None) -> Ranking:
    """Every endorsed, eligible application of the call with a final score, best first, with the running
    total and the funding line. `what_if` maps application ids to amounts to try instead of the request."""
    applications = list(session.scalars(
        sa.select(Application).options(*_loaded())
        .where(Application.call_id == call.id, Application.eligibility == Eligibility.ELIGIBLE,
               Application.endorsement == Endorsement.ENDORSED,
               Application.status.in_([ApplicationStatus.SUBMITTED, ApplicationStatus.AWARDED,
                                       ApplicationStatus.RESERVE, ApplicationStatus.REJECTED]))).unique())
    ids = [a.id for a in applications]
    moderations = latest_moderations(session, ids)
    decisions = latest_decisions(session, ids)
    money = money_for(session, call)
    scored, not_ready = [], []
    for application in applications:
        state = review_state(application, moderations.get(application.id))
        (scored if state.final is not None else not_ready).append((application, state))
    scored.sort(key=_sort_key)
    errors: list[str] = []
    rows: list[RankRow] = []
    running = Decimal("0.00")
    line_passed = False
    for rank, (application, state) in enumerate(scored, start=1):
        decision = decisions.get(application.id)
        amount, flagged_what_if = application.requested_eur, False
        if decision is not None and decision.outcome == Outcome.AWARD:
            amount = decision.amount_eur or Decimal("0.00")
        elif what_if and application.id in what_if and str(what_if[application.id]).strip():
            try:
                tried = Decimal(str(what_if[application.id]).strip().replace(",", ".")).quantize(CENT)
                if not tried.is_finite() or not Decimal("0") <= tried <= application.requested_eur:
                    raise InvalidOperation
                amount, flagged_what_if = tried, True
            except InvalidOperation:
                errors.append(_("%(ref)s: a what-if amount is between 0 and the requested %(requested)s EUR.",
                                ref=application.reference, requested=_plain(application.requested_eur)))
        if application.status == ApplicationStatus.REJECTED:
            rows.append(RankRow(rank, application, state, decision, amount, flagged_what_if, None, None))
            continue
        running += amount
        fits = not line_passed and running <= money.limit
        if not fits:
            line_passed = True
        rows.append(RankRow(rank, application, state, decision, amount, flagged_what_if, running, fits))
    not_ready.sort(key=lambda pair: (pair[0].submitted_at or clock.now(), pair[0].id))
    return Ranking(rows=rows, not_ready=not_ready, money=money, errors=errors)


# Decisions ----------------------------------------------------------------------------------------------

def involved_in_scoring(session: Session, actor: User, application: Application) -> bool:
    """Assigned to it (whether they scored or declared a conflict), rescored it, or moderated it."""
    if any(a.reviewer_id == actor.id for a in application.assignments):
        return True
    if any(r.submitted_by_id == actor.id for a in application.assignments for r in a.reviews):
        return True
    return bool(session.scalar(sa.select(sa.func.count(Moderation.id)).where(
        Moderation.application_id == application.id, Moderation.by_id == actor.id)))


def decide(session: Session, actor: User, application: Application, outcome: Outcome, amount: Decimal | None,
           conditions: str, reasons: str, expected_version: int | None = None) -> AwardDecision:
    if not access.can_decide_awards(actor):
        raise NotAllowed()
    # Two people deciding at once: the second waits for the first, then sees its decision.
    lock_row(session, application)
    if expected_version is not None and expected_version != application.version_id:
        raise Conflict(_("Someone else changed this application while you were deciding (it is now %(status)s). "
                         "Nothing was recorded; check the application and its decisions, then decide again.",
                         status=label(application.status, "application_status")))
    if involved_in_scoring(session, actor, application):
        raise NotAllowed(_("You took part in scoring this application, so the decision must be recorded by "
                           "another ministry user."))
    if application.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.RESERVE):
        raise InvalidTransition(_("A decision can be recorded on a scored application or one on the reserve list."))
    if not (application.eligibility == Eligibility.ELIGIBLE and application.endorsement == Endorsement.ENDORSED):
        raise InvalidTransition(_why_not_scorable(application))
    call = application.call
    if clock.now() < call.closes_at:
        raise InvalidTransition(_("Decisions are recorded after the call's deadline (%(when)s, Skopje time), when "
                                  "every application is in.", when=_local(call.closes_at)))
    state = review_state(application, latest_moderations(session, [application.id]).get(application.id))
    if state.final is None:
        raise InvalidTransition(_("The application has no final score yet: all reviews must be in, and a "
                                  "discrepancy must be moderated by the chair."))
    errors: dict[str, list[str]] = {}
    if not reasons.strip():
        errors["reasons"] = [_("Give the reasons: the provider and the municipality read them.")]
    if outcome == Outcome.AWARD:
        if amount is None or amount <= 0:
            errors["amount"] = [_("Enter the amount awarded, above zero.")]
        elif amount > application.requested_eur:
            errors["amount"] = [_("The award cannot exceed the requested amount (%(requested)s EUR).",
                                  requested=_plain(application.requested_eur))]
    if errors:
        raise ValidationFailed(field_errors=errors)
    if outcome == Outcome.AWARD:
        assert amount is not None
        money = money_for(session, call, lock=True)
        if amount > money.available:
            raise ValidationFailed(field_errors={"amount": [
                _("Only %(available)s EUR is available (the call has %(call)s EUR left and the envelope %(envelope)s "
                  "EUR uncommitted). Lower the amount or put the application on the reserve list.",
                  available=_plain(money.available), call=_plain(money.call_remaining),
                  envelope=_plain(money.envelope_uncommitted))]})
    decision = AwardDecision(application_id=application.id, outcome=outcome,
                             amount_eur=amount.quantize(CENT) if outcome == Outcome.AWARD and amount else None,
                             conditions=conditions.strip(), reasons=reasons.strip(), final_score=state.final,
                             decided_by_id=actor.id, decided_at=clock.now())
    session.add(decision)
    before = {"status": application.status.value}
    application.status = {Outcome.AWARD: ApplicationStatus.AWARDED, Outcome.RESERVE: ApplicationStatus.RESERVE,
                          Outcome.REJECT: ApplicationStatus.REJECTED}[outcome]
    session.flush()
    audit.record(session, actor, f"application.{outcome.value}", application, before=before,
                 after={"status": application.status.value, "amount_eur": decision.amount_eur,
                        "final_score": state.final, "reasons": decision.reasons, "conditions": decision.conditions})
    for organisation_id in (application.organisation_id, application.municipality_org_id):
        notify_members(session, organisation_id, "mail/application_decision.txt",
                       _l("Decision on application %(ref)s"), application=application, decision=decision)
    return decision


def outcome_label(outcome: Outcome) -> str:
    from portal.labels import label

    return label(outcome, "outcome")


def _plain(value: Decimal) -> str:
    from portal.i18n import money

    return money(value)


def _local(value: Any) -> str:
    from portal.i18n import local_datetime

    return local_datetime(value)
