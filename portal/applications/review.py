"""The ministry's side of applications: eligibility screening, reviewer assignment and conflict of
interest, blind scoring on the call's rubric (Decimal arithmetic, locked once submitted, rescored
only by the chair as a new version), discrepancy moderation and the review lists. The ranking with its
funding line and award decisions are in `portal.applications.decisions`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import access, audit, clock
from portal.applications.services import notify_members
from portal.errors import InvalidTransition, NotAllowed, NotFound, ValidationFailed
from portal.models import (
    Application,
    ApplicationStatus,
    AwardDecision,
    Call,
    ConflictDeclaration,
    CriterionScore,
    Eligibility,
    Endorsement,
    Moderation,
    Organisation,
    Review,
    ReviewAssignment,
    Role,
    User,
)

THOUSANDTH = Decimal("0.001")
CENT = Decimal("0.01")

#: The checklist used when a call does not define its own.
DEFAULT_CHECKLIST = {
    "provider_registered": _l("The provider is registered and verified"),
    "licence_valid": _l("The provider's licence covers the proposed services"),
    "municipality_accepted": _l("The municipality's expression of interest was accepted"),
    "services_eligible": _l("The proposed services are eligible under the call"),
    "documents_complete": _l("The required documents are complete and legible"),
    "budget_rules": _l("The budget respects the ceiling and the minimum co-financing"),
}


def checklist(call: Call) -> list[str]:
    return list(call.eligibility_checklist or DEFAULT_CHECKLIST)


def checklist_label(item: str) -> str:
    return str(DEFAULT_CHECKLIST[item]) if item in DEFAULT_CHECKLIST else item


# Screening -----------------------------------------------------------------------------------------

def screen(session: Session, actor: User, application: Application, answers: dict[str, bool],
           reason: str) -> Application:
    """Record the eligibility checklist. Any "no" closes the application with reasons sent to the provider."""
    if not access.can_screen_applications(actor):
        raise NotAllowed()
    if application.status != ApplicationStatus.SUBMITTED or application.eligibility != Eligibility.PENDING:
        raise InvalidTransition(_("Eligibility is checked once, on a submitted application."))
    items = checklist(application.call)
    missing = [item for item in items if item not in answers]
    if missing:
        raise ValidationFailed(field_errors={"answers": [_("Answer every item of the checklist.")]})
    eligible = all(answers[item] for item in items)
    if not eligible and not reason.strip():
        raise ValidationFailed(field_errors={"reason": [
            _("Explain why the application is ineligible: the provider receives these reasons.")]})
    application.eligibility = Eligibility.ELIGIBLE if eligible else Eligibility.INELIGIBLE
    application.eligibility_answers = {item: bool(answers[item]) for item in items}
    application.eligibility_reason = reason.strip()
    application.screened_by_id = actor.id
    application.screened_at = clock.now()
    if not eligible:
        application.status = ApplicationStatus.INELIGIBLE
    audit.record(session, actor, "application.screened", application, before={"eligibility": "pending"},
                 after={"eligibility": application.eligibility.value, "answers": application.eligibility_answers,
                        "reason": application.eligibility_reason})
    if not eligible:
        notify_members(session, application.organisation_id, "mail/application_ineligible.txt",
                       _l("Application %(ref)s is ineligible"), application=application,
                       failed=[checklist_label(i) for i in items if not answers[i]], reason=reason.strip())
    return application


# Assignment and conflict of interest ----------------------------------------------------------------

def eligible_reviewers(session: Session) -> list[User]:
    return list(session.scalars(sa.select(User).where(User.role.in_([Role.REVIEWER, Role.ADMIN]),
                                                      User.active.is_(True)).order_by(User.full_name)))


def active_assignments(application: Application) -> list[ReviewAssignment]:
    return [a for a in application.assignments if a.conflict != ConflictDeclaration.DECLARED]


def reviewers_missing(application: Application) -> int:
    return max(application.call.reviewers_required - len(active_assignments(application)), 0)


def assign(session: Session, actor: User, application: Application, reviewer: User) -> ReviewAssignment:
    if not access.can_assign_reviewers(actor, application.call):
        raise NotAllowed()
    if application.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.RESERVE):
        raise InvalidTransition(_("Reviewers are assigned to submitted applications only."))
    if application.eligibility == Eligibility.INELIGIBLE:
        raise InvalidTransition(_("This application was found ineligible and is not reviewed."))
    if reviewer.role not in (Role.REVIEWER, Role.ADMIN) or not reviewer.active:
        raise ValidationFailed(field_errors={"reviewer": [_("Choose an active ministry reviewer.")]})
    if any(a.reviewer_id == reviewer.id for a in application.assignments):
        raise ValidationFailed(field_errors={"reviewer": [
            _("%(name)s is already assigned to this application (or declared a conflict of interest).",
              name=reviewer.full_name)]})
    assignment = ReviewAssignment(application=application, reviewer_id=reviewer.id, assigned_by_id=actor.id,
                                  assigned_at=clock.now())
    session.add(assignment)
    session.flush()
    audit.record(session, actor, "review.assigned", assignment,
                 after={"application": application.reference, "reviewer": reviewer.email})
    from flask import render_template
    from flask_babel import force_locale

    from portal import mail

    with force_locale(reviewer.preferred_language):
        subject = _("Application %(ref)s assigned to you for review", ref=application.reference)
        body = render_template("mail/review_assigned.txt", application=application, user=reviewer)
    mail.queue(session, reviewer.email, subject, body)
    return assignment


def declare(session: Session, actor: User, assignment: ReviewAssignment, has_conflict: bool,
            note: str) -> ReviewAssignment:
    """The reviewer declares a conflict of interest or its absence, before any score."""
    if not access.can_score(actor, assignment):
        raise NotAllowed()
    if assignment.conflict != ConflictDeclaration.UNDECLARED:
        raise InvalidTransition(_("You have already made your declaration for this application."))
    if has_conflict and not note.strip():
        raise ValidationFailed(field_errors={"note": [_("Describe the conflict of interest briefly.")]})
    assignment.conflict = ConflictDeclaration.DECLARED if has_conflict else ConflictDeclaration.NONE
    assignment.conflict_note = note.strip()
    assignment.declared_at = clock.now()
    audit.record(session, actor, "review.conflict_declared" if has_conflict else "review.no_conflict_declared",
                 assignment, before={"conflict": "undeclared"},
                 after={"conflict": assignment.conflict.value, "note": assignment.conflict_note})
    if has_conflict:
        # Ask for a replacement: the chair (or the administrators when the call has no chair).
        application = assignment.application
        recipients = [application.call.chair_id] if application.call.chair_id else list(session.scalars(
            sa.select(User.id).where(User.role == Role.ADMIN, User.active.is_(True))))
        from flask import render_template
        from flask_babel import force_locale

        from portal import mail

        for user in session.scalars(sa.select(User).where(User.id.in_(recipients or [0]))):
            with force_locale(user.preferred_language):
                subject = _("Replacement reviewer needed: application %(ref)s", ref=application.reference)
                body = render_template("mail/review_conflict.txt", application=application, user=user,
                                       reviewer=actor, note=assignment.conflict_note)
            mail.queue(session, user.email, subject, body)
    return assignment


# Scoring ----------------------------------------------------------------------------------------------

@dataclass
class ScoreInput:
    score: str | Decimal | None
    justification: str = ""


def max_total(call: Call) -> Decimal:
    return sum((c.max_score * c.weight for c in call.criteria), Decimal("0")).quantize(THOUSANDTH)


def weighted_total(call: Call, scores: dict[int, Decimal]) -> Decimal:
    """Σ score × weight over the rubric, exact to the thousandth."""
    return sum((scores[c.id] * c.weight for c in call.criteria), Decimal("0")).quantize(
        THOUSANDTH, rounding=ROUND_HALF_UP)


def _parse_scores(call: Call, inputs: dict[int, ScoreInput]) -> dict[int, tuple[Decimal, str]]:
    errors: dict[str, list[str]] = {}
    parsed: dict[int, tuple[Decimal, str]] = {}
    for criterion in call.criteria:
        given = inputs.get(criterion.id) or ScoreInput(None)
        name = criterion.name()
        try:
            value = Decimal(str(given.score).strip().replace(",", ".")) if given.score not in (None, "") else None
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            errors[f"score-{criterion.id}"] = [_("%(criterion)s: enter a score.", criterion=name)]
        elif not Decimal("0") <= value <= criterion.max_score or value != value.quantize(CENT):
            errors[f"score-{criterion.id}"] = [_("%(criterion)s: the score is between 0 and %(max)s, with at most "
                                                 "two decimals.", criterion=name, max=_plain(criterion.max_score))]
        if not (given.justification or "").strip():
            errors[f"justification-{criterion.id}"] = [_("%(criterion)s: justify the score.", criterion=name)]
        if value is not None and value.is_finite():
            parsed[criterion.id] = (value, (given.justification or "").strip())
    if not call.criteria:
        errors["scores"] = [_("This call has no scoring rubric yet. Ask the administrator to define it.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return parsed


def scorable(application: Application) -> bool:
    return (application.status == ApplicationStatus.SUBMITTED and application.eligibility == Eligibility.ELIGIBLE
            and application.endorsement == Endorsement.ENDORSED)


def _why_not_scorable(application: Application) -> str:
    if application.endorsement != Endorsement.ENDORSED:
        return _("The municipality has not endorsed this application, so it cannot be scored.")
    if application.eligibility != Eligibility.ELIGIBLE:
        return _("The application has not been found eligible, so it cannot be scored.")
    return _("The application is not open for scoring in its current state.")


def _add_review(session: Session, assignment: ReviewAssignment, actor: User, parsed: dict[int, tuple[Decimal, str]],
                reason: str) -> Review:
    call = assignment.application.call
    total = weighted_total(call, {cid: value for cid, (value, _j) in parsed.items()})
    version = (assignment.reviews[-1].version + 1) if assignment.reviews else 1
    review = Review(assignment=assignment, version=version, total=total, submitted_by_id=actor.id,
                    submitted_at=clock.now(), reason=reason.strip(),
                    scores=[CriterionScore(criterion_id=cid, score=value, justification=text)
                            for cid, (value, text) in parsed.items()])
    session.add(review)
    session.flush()
    return review


def submit_scores(session: Session, actor: User, assignment: ReviewAssignment,
                  inputs: dict[int, ScoreInput]) -> Review:
    if not access.can_score(actor, assignment):
        raise NotAllowed()
    if assignment.conflict == ConflictDeclaration.UNDECLARED:
        raise InvalidTransition(_("Declare first whether you have a conflict of interest."))
    if assignment.conflict == ConflictDeclaration.DECLARED:
        raise InvalidTransition(_("You declared a conflict of interest, so you cannot score this application."))
    if assignment.reviews:
        raise InvalidTransition(_("Your scores have been submitted and are locked. Only the committee chair can "
                                  "record a rescore."))
    if not scorable(assignment.application):
        raise InvalidTransition(_why_not_scorable(assignment.application))
    parsed = _parse_scores(assignment.application.call, inputs)
    review = _add_review(session, assignment, actor, parsed, "")
    audit.record(session, actor, "review.submitted", review,
                 after={"application": assignment.application.reference, "total": review.total,
                        "scores": {str(c): str(v) for c, (v, _j) in parsed.items()}})
    return review


def rescore(session: Session, actor: User, assignment: ReviewAssignment, inputs: dict[int, ScoreInput],
            reason: str) -> Review:
    """The chair records a corrected score sheet; the earlier one stays, with who and why."""
    application = assignment.application
    if not access.is_chair(actor, application.call):
        raise NotAllowed()
    if not assignment.reviews:
        raise InvalidTransition(_("Only a submitted score sheet can be rescored."))
    if application.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.RESERVE):
        raise InvalidTransition(_("A decision has been recorded: the scores can no longer change."))
    if not reason.strip():
        raise ValidationFailed(field_errors={"reason": [_("Say why the scores are changed.")]})
    previous = assignment.reviews[-1]
    parsed = _parse_scores(application.call, inputs)
    review = _add_review(session, assignment, actor, parsed, reason)
    audit.record(session, actor, "review.rescored", review,
                 before={"version": previous.version, "total": previous.total},
                 after={"version": review.version, "total": review.total, "reason": reason.strip()})
    return review


# The state of an application's review ------------------------------------------------------------

@dataclass
class ReviewState:
    required: int
    assigned: int
    submitted: int
    totals: list[Decimal]
    mean: Decimal | None
    spread: Decimal | None
    threshold: Decimal
    flagged: bool
    moderation: Moderation | None
    final: Decimal | None

    @property
    def complete(self) -> bool:
        return self.submitted >= self.required


def review_state(application: Application, moderation: Moderation | None) -> ReviewState:
    """Totals of the current score sheets of active reviewers, the discrepancy flag, and the final score:
    the chair's moderated score when there is one, otherwise the mean once enough reviews are in."""
    call = application.call
    active = active_assignments(application)
    totals = [a.reviews[-1].total for a in active if a.reviews]
    mean = (sum(totals, Decimal("0")) / len(totals)).quantize(THOUSANDTH, rounding=ROUND_HALF_UP) if totals else None
    spread = (max(totals) - min(totals)) if len(totals) >= 2 else None
    threshold = (max_total(call) * call.discrepancy_share).quantize(THOUSANDTH)
    flagged = spread is not None and spread > threshold
    complete = len(totals) >= call.reviewers_required
    if moderation is not None and complete:
        final: Decimal | None = moderation.score
    elif complete and not flagged:
        final = mean
    else:
        final = None
    return ReviewState(required=call.reviewers_required, assigned=len(active), submitted=len(totals), totals=totals,
                       mean=mean, spread=spread, threshold=threshold, flagged=flagged, moderation=moderation,
                       final=final)


def latest_moderations(session: Session, application_ids: list[int]) -> dict[int, Moderation]:
    if not application_ids:
        return {}
    newest = (sa.select(sa.func.max(Moderation.id)).where(Moderation.application_id.in_(application_ids))
              .group_by(Moderation.application_id))
    return {m.application_id: m for m in session.scalars(sa.select(Moderation).where(Moderation.id.in_(newest)))}


def latest_decisions(session: Session, application_ids: list[int]) -> dict[int, AwardDecision]:
    if not application_ids:
        return {}
    newest = (sa.select(sa.func.max(AwardDecision.id)).where(AwardDecision.application_id.in_(application_ids))
              .group_by(AwardDecision.application_id))
    return {d.application_id: d for d in session.scalars(sa.select(AwardDecision).where(AwardDecision.id.in_(newest)))}


def moderate(session: Session, actor: User, application: Application, score_text: str, reason: str) -> Moderation:
    if not access.is_chair(actor, application.call):
        raise NotAllowed()
    if application.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.RESERVE):
        raise InvalidTransition(_("A decision has been recorded: the score can no longer change."))
    state = review_state(application, latest_moderations(session, [application.id]).get(application.id))
    if not state.flagged or not state.complete:
        raise InvalidTransition(_("Moderation is for applications whose reviewers' totals differ by more than "
                                  "the call allows, once all reviews are in."))
    errors: dict[str, list[str]] = {}
    try:
        score = Decimal(score_text.strip().replace(",", "."))
        if not score.is_finite():
            raise InvalidOperation
    except (InvalidOperation, AttributeError):
        score = None
    maximum = max_total(application.call)
    if score is None or not Decimal("0") <= score <= maximum:
        errors["score"] = [_("Enter the agreed score, between 0 and %(max)s.", max=_plain(maximum))]
    if not reason.strip():
        errors["reason"] = [_("Record the reasons for the agreed score.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    assert score is not None
    moderation = Moderation(application_id=application.id, score=score.quantize(THOUSANDTH), reason=reason.strip(),
                            by_id=actor.id, at=clock.now())
    session.add(moderation)
    session.flush()
    audit.record(session, actor, "review.moderated", application,
                 before={"totals": [str(t) for t in state.totals]},
                 after={"score": moderation.score, "reason": moderation.reason})
    return moderation


# Lists --------------------------------------------------------------------------------------------------

def _loaded() -> list[Any]:
    return [sa.orm.selectinload(Application.assignments).selectinload(ReviewAssignment.reviews),
            sa.orm.selectinload(Application.assignments).joinedload(ReviewAssignment.reviewer),
            sa.orm.joinedload(Application.organisation),
            sa.orm.joinedload(Application.municipality_org).joinedload(Organisation.municipality)]


def review_list_query(call: Call, status: str = "") -> sa.Select:
    """What the ministry sees for a call: never drafts."""
    query = (sa.select(Application).options(*_loaded())
             .where(Application.call_id == call.id, Application.status != ApplicationStatus.DRAFT))
    if status in {s.value for s in ApplicationStatus} - {"draft"}:
        query = query.where(Application.status == ApplicationStatus(status))
    return query.order_by(Application.submitted_at, Application.id)


def my_assignments(session: Session, actor: User) -> list[ReviewAssignment]:
    return list(session.scalars(
        sa.select(ReviewAssignment).where(ReviewAssignment.reviewer_id == actor.id)
        .options(sa.orm.joinedload(ReviewAssignment.application).joinedload(Application.call),
                 sa.orm.joinedload(ReviewAssignment.application).joinedload(Application.organisation),
                 sa.orm.selectinload(ReviewAssignment.reviews))
        .order_by(ReviewAssignment.assigned_at.desc())))


def get_assignment(session: Session, application: Application, assignment_id: int) -> ReviewAssignment:
    assignment = session.get(ReviewAssignment, assignment_id)
    if assignment is None or assignment.application_id != application.id:
        raise NotFound()
    return assignment


def own_assignment(application: Application, actor: User) -> ReviewAssignment | None:
    return next((a for a in application.assignments if a.reviewer_id == actor.id), None)


# Money, the ranking and decisions live in `portal.applications.decisions`; their names stay reachable from here.
from portal.applications.decisions import (  # noqa: E402
    Money,
    Ranking,
    RankRow,
    _plain,
    awarded_by_call,
    decide,
    involved_in_scoring,
    money_for,
    outcome_label,
    ranking,
)

__all__ = ["Money", "RankRow", "Ranking", "awarded_by_call", "decide", "involved_in_scoring", "money_for",
           "outcome_label", "ranking"]
