"""The ministry's side of grant applications through the services: eligibility screening,
reviewer assignment and conflicts of interest, blind scoring on the rubric (exact Decimal totals,
locked once submitted, rescored only by the chair), discrepancies and moderation, the ranking with
its tie-break, funding line and what-if amounts, and award decisions within the money available."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal import access, clock
from portal.applications import review
from portal.applications import services as applications
from portal.applications.services import LineRow
from portal.calls import services as calls
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.models import (
    ApplicationStatus,
    AuditEvent,
    AwardDecision,
    CallKind,
    ConflictDeclaration,
    CriterionScore,
    Eligibility,
    Moderation,
    OrgKind,
    OutboxEmail,
    Outcome,
    Review,
    Role,
)
from tests import factories

TOP = (40, 30, 20)   # 40 + 45 + 10 = 95, the maximum
MID = (30, 20, 10)   # 30 + 30 + 5 = 65
LOW = (20, 10, 10)   # 20 + 15 + 5 = 40
POOR = (10, 10, 10)  # 10 + 15 + 5 = 30


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        app.preprocess_request()
        yield


@pytest.fixture
def g(app, world, session, ctx, tmp_path):
    """A published grant call (rubric 40×1, 30×1.5, 20×0.5; two reviewers; a chair) linked to a call for
    EOIs where municipality A was accepted. The world's reviewer and `second` review; `bystander` is a
    reviewer who takes no part in scoring."""
    factories.use_local_storage(app, tmp_path / "uploads")
    admin = world.users["admin"]
    eoi_call = factories.eoi_call(session, admin)
    factories.accepted_eoi(session, world.users["municipality"], admin, eoi_call)
    world.eoi_call = eoi_call
    world.call = factories.grant_call(session, admin, eoi_call)
    world.chair = factories.chair_of(session, world.call)
    world.second = factories.user(session, Role.REVIEWER, world.orgs["ministry"])
    world.bystander = factories.user(session, Role.REVIEWER, world.orgs["ministry"])
    world.muni = world.orgs["municipality"]
    yield world
    app.extensions["storage"] = None


def at(monkeypatch, when) -> None:
    monkeypatch.setattr(clock, "now", lambda: when)


def after_deadline(monkeypatch, g) -> None:
    at(monkeypatch, g.call.closes_at + timedelta(minutes=1))


def submitted(session, g, provider: str = "provider", **overrides):
    return factories.filled_application(session, g.users[provider], g.call, g.muni, **overrides)


def endorsed(session, g, provider: str = "provider", **overrides):
    application = submitted(session, g, provider, **overrides)
    applications.endorse(session, g.users["municipality"], application, True, "")
    return application


def all_yes(call) -> dict[str, bool]:
    return {item: True for item in review.checklist(call)}


def eligible(session, g, provider: str = "provider", **overrides):
    application = endorsed(session, g, provider, **overrides)
    review.screen(session, g.users["reviewer"], application, all_yes(g.call), "")
    return application


def ready(session, g, provider: str = "provider", **overrides):
    """Endorsed, eligible, with the world's reviewer and `second` assigned and declared free of conflicts."""
    application = eligible(session, g, provider, **overrides)
    assignments = []
    for reviewer in (g.users["reviewer"], g.second):
        assignment = review.assign(session, g.users["admin"], application, reviewer)
        review.declare(session, reviewer, assignment, False, "")
        assignments.append(assignment)
    return application, assignments


def sheet(call, *values, text: str = "Образложено со примери од апликацијата.") -> dict[int, review.ScoreInput]:
    return {c.id: review.ScoreInput(str(v), text) for c, v in zip(call.criteria, values, strict=True)}


def scored(session, g, provider: str, first, second=None, **overrides):
    application, (a, b) = ready(session, g, provider, **overrides)
    review.submit_scores(session, g.users["reviewer"], a, sheet(g.call, *first))
    review.submit_scores(session, g.second, b, sheet(g.call, *(second or first)))
    return application


def more_providers(session, g, n: int) -> list[str]:
    names = []
    for i in range(n):
        organisation = factories.org(session, OrgKind.PROVIDER, name=f"Давател {i + 3}")
        g.orgs[f"extra{i}"] = organisation
        g.users[f"extra{i}"] = factories.user(session, Role.PROVIDER, organisation)
        names.append(f"extra{i}")
    return names


def budget(staff_unit: str, training: str, cofinancing: str) -> dict:
    """Five staff × `staff_unit` × 24 months plus one training line."""
    return {"lines": [LineRow("staff", "Плати", Decimal("5"), Decimal(staff_unit), 24),
                      LineRow("training", "Обука", Decimal("1"), Decimal(training), 1)],
            "cofinancing_eur": Decimal(cofinancing)}


def settings(call, **changes) -> calls.ReviewSettings:
    values = dict(endorsement_closes_at=call.endorsement_closes_at, funds_per_user=call.funds_per_user,
                  checklist=list(call.eligibility_checklist), reviewers_required=call.reviewers_required,
                  discrepancy_pct=call.discrepancy_share * 100, chair_id=call.chair_id)
    values.update(changes)
    return calls.ReviewSettings(**values)


def set_allocation(session, g, amount: str) -> None:
    call = g.call
    data = calls.CallData(kind=call.kind, title_mk=call.title_mk, title_sq=call.title_sq, title_en=call.title_en,
                          description_mk=call.description_mk, description_sq=call.description_sq,
                          description_en=call.description_en, opens_at=call.opens_at, closes_at=call.closes_at,
                          allocation_eur=Decimal(amount), grant_ceiling_eur=call.grant_ceiling_eur,
                          min_cofinancing_pct=call.min_cofinancing_pct, service_type_ids=[t.id for t in call.service_types],
                          required_documents=list(call.required_documents), linked_call_id=call.linked_call_id,
                          amendment_note="Распределбата е намалена.")
    calls.update_call(session, g.users["admin"], call, data, call.version_id)
    assert call.allocation_eur == Decimal(amount)


def mails_to(session, address: str) -> list[OutboxEmail]:
    return list(session.scalars(sa.select(OutboxEmail).where(OutboxEmail.to_address == address).order_by(OutboxEmail.id)))


def actions(session, object_type: str, object_id) -> list[str]:
    return list(session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id)).order_by(AuditEvent.id)))


def refused(call_, *args) -> set[str]:
    with pytest.raises(ValidationFailed) as error:
        call_(*args)
    return set(error.value.field_errors)


# Review settings of the call -------------------------------------------------------------------------

def test_review_settings_defaults_and_validation(session, g):
    admin = g.users["admin"]
    bare = factories.eoi_call(session, admin, kind=CallKind.GRANT, linked_call_id=g.eoi_call.id, publish=False)
    assert (bare.reviewers_required, bare.discrepancy_share, bare.chair_id, bare.funds_per_user) == (
        2, Decimal("0.2000"), None, False)
    assert bare.eligibility_checklist == [] and review.checklist(bare) == list(review.DEFAULT_CHECKLIST)
    assert (g.call.discrepancy_share, g.call.reviewers_required) == (Decimal("0.2000"), 2)
    for changes, field in (({"reviewers_required": 0}, "reviewers_required"), ({"reviewers_required": 10}, "reviewers_required"),
                           ({"discrepancy_pct": Decimal("0")}, "discrepancy_pct"),
                           ({"discrepancy_pct": Decimal("100.01")}, "discrepancy_pct"),
                           ({"chair_id": g.users["finance"].id}, "chair_id"),
                           ({"chair_id": g.users["provider"].id}, "chair_id")):
        assert refused(calls.set_review_settings, session, admin, g.call, settings(g.call, **changes),
                       g.call.version_id) == {field}
    with pytest.raises(NotAllowed):
        calls.set_review_settings(session, g.users["reviewer"], g.call, settings(g.call), g.call.version_id)
    with pytest.raises(InvalidTransition):
        calls.set_review_settings(session, admin, g.eoi_call, settings(g.eoi_call), g.eoi_call.version_id)
    calls.set_review_settings(session, admin, g.call, settings(g.call, discrepancy_pct=Decimal("12.5"),
                                                               checklist=["  Има лиценца  ", " ", "Буџетот е реален"]),
                              g.call.version_id)
    assert g.call.discrepancy_share == Decimal("0.1250")
    assert g.call.eligibility_checklist == ["Има лиценца", "Буџетот е реален"]
    assert "call.review_settings" in actions(session, "call", g.call.id)


# Screening -----------------------------------------------------------------------------------------------

def test_screening_needs_an_answer_to_every_item(session, g):
    application = submitted(session, g)
    items = review.checklist(g.call)
    assert items == list(review.DEFAULT_CHECKLIST) and len(items) == 6
    partial = {item: True for item in items[:-1]}
    assert refused(review.screen, session, g.users["reviewer"], application, partial, "") == {"answers"}
    assert application.eligibility == Eligibility.PENDING and application.screened_by_id is None
    for someone in ("provider", "municipality", "finance", "monitor"):
        with pytest.raises(NotAllowed):
            review.screen(session, g.users[someone], application, all_yes(g.call), "")
    review.screen(session, g.users["reviewer"], application, {**all_yes(g.call), "extra": False}, "")
    assert (application.eligibility, application.status) == (Eligibility.ELIGIBLE, ApplicationStatus.SUBMITTED)
    assert application.eligibility_answers == all_yes(g.call)  # only the checklist's items are kept
    assert application.screened_by_id == g.users["reviewer"].id and application.screened_at is not None
    with pytest.raises(InvalidTransition):  # checked once
        review.screen(session, g.users["admin"], application, all_yes(g.call), "")
    assert actions(session, "application", application.id)[-1] == "application.screened"


def test_ineligible_closes_the_application_with_reasons_mailed_to_the_provider(session, g):
    provider_colleague = factories.user(session, Role.PROVIDER, g.orgs["provider"])
    application = submitted(session, g)
    answers = {**all_yes(g.call), "licence_valid": False}
    assert refused(review.screen, session, g.users["reviewer"], application, answers, "  ") == {"reason"}
    assert application.eligibility == Eligibility.PENDING
    review.screen(session, g.users["reviewer"], application, answers, "Лиценцата не ја покрива дневната грижа.")
    assert (application.status, application.eligibility) == (ApplicationStatus.INELIGIBLE, Eligibility.INELIGIBLE)
    assert application.eligibility_answers["licence_valid"] is False
    assert application.eligibility_reason == "Лиценцата не ја покрива дневната грижа."
    for member in (g.users["provider"], provider_colleague):
        [notice] = [m for m in mails_to(session, member.email) if "Лиценцата не ја покрива" in m.body_text]
        assert application.reference in notice.subject
    assert not any("Лиценцата не ја покрива" in m.body_text for m in mails_to(session, g.users["municipality"].email))
    # Closed: nobody reviews, endorses or withdraws it any more.
    with pytest.raises(InvalidTransition):
        review.assign(session, g.users["admin"], application, g.second)
    with pytest.raises(InvalidTransition):
        applications.endorse(session, g.users["municipality"], application, True, "")
    with pytest.raises(InvalidTransition):
        applications.withdraw(session, g.users["provider"], application, "")
    assert application not in [row.application for row in review.ranking(session, g.call).rows]


def test_a_call_may_define_its_own_checklist(session, g):
    calls.set_review_settings(session, g.users["admin"], g.call, settings(g.call, checklist=["Партнерство со ЦСР",
                                                                                            "Простор за услугата"]),
                              g.call.version_id)
    assert review.checklist(g.call) == ["Партнерство со ЦСР", "Простор за услугата"]
    assert review.checklist_label("Простор за услугата") == "Простор за услугата"
    application = submitted(session, g)
    assert refused(review.screen, session, g.users["reviewer"], application, all_yes(g.eoi_call) | {}, "") == {"answers"}
    review.screen(session, g.users["reviewer"], application, {"Партнерство со ЦСР": True, "Простор за услугата": True}, "")
    assert application.eligibility == Eligibility.ELIGIBLE


def test_only_submitted_applications_are_screened(session, g):
    draft = factories.filled_application(session, g.users["provider"], g.call, g.muni, submit=False)
    with pytest.raises(InvalidTransition):
        review.screen(session, g.users["reviewer"], draft, all_yes(g.call), "")
    applications.submit(session, g.users["provider"], draft)
    applications.withdraw(session, g.users["provider"], draft, "")
    with pytest.raises(InvalidTransition):
        review.screen(session, g.users["reviewer"], draft, all_yes(g.call), "")


# Assignment --------------------------------------------------------------------------------------------

def test_only_an_administrator_or_the_chair_assigns(session, g):
    application = submitted(session, g)
    for someone in (g.users["reviewer"], g.bystander, g.users["finance"], g.users["provider"], g.users["municipality"]):
        with pytest.raises(NotAllowed):
            review.assign(session, someone, application, g.second)
    by_chair = review.assign(session, g.chair, application, g.second)
    by_admin = review.assign(session, g.users["admin"], application, g.users["reviewer"])
    assert (by_chair.assigned_by_id, by_admin.assigned_by_id) == (g.chair.id, g.users["admin"].id)
    assert [a.reviewer_id for a in application.assignments] == [g.second.id, g.users["reviewer"].id]
    assert by_chair.conflict == ConflictDeclaration.UNDECLARED
    assert actions(session, "review_assignment", by_chair.id) == ["review.assigned"]
    [notice] = mails_to(session, g.second.email)
    assert application.reference in notice.subject


def test_only_active_ministry_reviewers_are_assigned_and_only_once(session, g):
    application = submitted(session, g)
    retired = factories.user(session, Role.REVIEWER, g.orgs["ministry"], active=False)
    for someone in (g.users["provider"], g.users["municipality"], g.users["finance"], g.users["monitor"], retired):
        assert refused(review.assign, session, g.users["admin"], application, someone) == {"reviewer"}
    assert application.assignments == []
    assert review.reviewers_missing(application) == 2
    review.assign(session, g.users["admin"], application, g.users["admin"])  # administrators may review
    review.assign(session, g.users["admin"], application, g.second)
    assert review.reviewers_missing(application) == 0
    assert refused(review.assign, session, g.chair, application, g.second) == {"reviewer"}
    assert len(application.assignments) == 2


def test_assignment_needs_a_submitted_eligible_application(session, g):
    draft = factories.filled_application(session, g.users["provider"], g.call, g.muni, submit=False)
    with pytest.raises(InvalidTransition):
        review.assign(session, g.users["admin"], draft, g.second)
    assert draft.assignments == []


# Conflict of interest -------------------------------------------------------------------------------------

def test_a_declared_conflict_blocks_scoring_and_asks_the_chair_for_a_replacement(session, g):
    application = eligible(session, g)
    assignment = review.assign(session, g.users["admin"], application, g.second)
    for someone in (g.chair, g.users["admin"], g.users["reviewer"], g.users["provider"]):
        with pytest.raises(NotAllowed):  # only the assigned reviewer declares
            review.declare(session, someone, assignment, True, "Роднина")
    assert refused(review.declare, session, g.second, assignment, True, "  ") == {"note"}
    assert assignment.conflict == ConflictDeclaration.UNDECLARED
    review.declare(session, g.second, assignment, True, "Сестра ми е директорка на давателот.")
    assert (assignment.conflict, assignment.conflict_note) == (
        ConflictDeclaration.DECLARED, "Сестра ми е директорка на давателот.")
    assert assignment.declared_at is not None
    with pytest.raises(InvalidTransition):
        review.submit_scores(session, g.second, assignment, sheet(g.call, *MID))
    with pytest.raises(InvalidTransition):  # the declaration is final
        review.declare(session, g.second, assignment, False, "")
    assert assignment.reviews == [] and review.active_assignments(application) == []
    assert review.reviewers_missing(application) == 2
    [request] = mails_to(session, g.chair.email)
    assert "Сестра ми е директорка" in request.body_text and application.reference in request.subject
    assert not any("Сестра ми" in m.body_text for m in mails_to(session, g.users["admin"].email))
    assert actions(session, "review_assignment", assignment.id) == ["review.assigned", "review.conflict_declared"]
    assert refused(review.assign, session, g.users["admin"], application, g.second) == {"reviewer"}  # not again
    replacement = review.assign(session, g.chair, application, g.bystander)
    assert review.active_assignments(application) == [replacement]


def test_without_a_chair_the_administrators_are_asked_for_a_replacement(session, g):
    calls.set_review_settings(session, g.users["admin"], g.call, settings(g.call, chair_id=None), g.call.version_id)
    other_admin = factories.user(session, Role.ADMIN, g.orgs["ministry"])
    application = eligible(session, g)
    assignment = review.assign(session, g.users["admin"], application, g.second)
    review.declare(session, g.second, assignment, True, "Поранешен вработен кај давателот.")
    for admin in (g.users["admin"], other_admin):
        assert any("Поранешен вработен" in m.body_text for m in mails_to(session, admin.email))
    assert not any("Поранешен вработен" in m.body_text for m in mails_to(session, g.chair.email))


def test_an_undeclared_reviewer_cannot_score(session, g):
    application = eligible(session, g)
    assignment = review.assign(session, g.users["admin"], application, g.second)
    with pytest.raises(InvalidTransition):
        review.submit_scores(session, g.second, assignment, sheet(g.call, *MID))
    assert assignment.reviews == []
    review.declare(session, g.second, assignment, False, "")
    assert assignment.conflict == ConflictDeclaration.NONE
    assert actions(session, "review_assignment", assignment.id)[-1] == "review.no_conflict_declared"
    review.submit_scores(session, g.second, assignment, sheet(g.call, *MID))
    assert assignment.current.total == Decimal("65.000")


# Scoring ----------------------------------------------------------------------------------------------------

def test_an_application_the_municipality_has_not_endorsed_cannot_be_scored(session, g):
    pending = submitted(session, g)
    declined = submitted(session, g, provider="provider_b")
    applications.endorse(session, g.users["municipality"], declined, False, "Не е во нашиот план.")
    for application in (pending, declined):
        review.screen(session, g.users["reviewer"], application, all_yes(g.call), "")
        assignment = review.assign(session, g.users["admin"], application, g.second)
        review.declare(session, g.second, assignment, False, "")
        assert not review.scorable(application)
        with pytest.raises(InvalidTransition):
            review.submit_scores(session, g.second, assignment, sheet(g.call, *MID))
        assert assignment.reviews == []


def test_an_endorsed_application_not_yet_screened_cannot_be_scored(session, g):
    application = endorsed(session, g)
    assignment = review.assign(session, g.users["admin"], application, g.second)
    review.declare(session, g.second, assignment, False, "")
    with pytest.raises(InvalidTransition):
        review.submit_scores(session, g.second, assignment, sheet(g.call, *MID))
    assert not calls.rubric_locked(session, g.call)


def test_only_the_assigned_reviewer_scores(session, g):
    _application, (first, _second) = ready(session, g)
    for someone in (g.second, g.chair, g.users["admin"], g.users["provider"]):
        with pytest.raises(NotAllowed):
            review.submit_scores(session, someone, first, sheet(g.call, *MID))
    assert first.reviews == []


def test_the_weighted_total_is_exact_and_the_sheet_locks(session, g):
    _application, (first, _second) = ready(session, g)
    c1, c2, c3 = g.call.criteria
    assert review.max_total(g.call) == Decimal("95.000")
    assert not calls.rubric_locked(session, g.call)
    submitted_review = review.submit_scores(session, g.users["reviewer"], first, {
        c1.id: review.ScoreInput("35", "Јасна потреба."), c2.id: review.ScoreInput("20,5", "Добар кадар."),
        c3.id: review.ScoreInput(Decimal("10"), "Делумна одржливост.")})
    assert submitted_review.total == Decimal("70.750")  # 35 × 1 + 20.5 × 1.5 + 10 × 0.5
    assert (submitted_review.version, submitted_review.submitted_by_id, submitted_review.reason) == (
        1, g.users["reviewer"].id, "")
    assert [(s.criterion_id, s.score, s.justification) for s in submitted_review.scores] == [
        (c1.id, Decimal("35"), "Јасна потреба."), (c2.id, Decimal("20.5"), "Добар кадар."),
        (c3.id, Decimal("10"), "Делумна одржливост.")]
    session.expire_all()
    stored = session.get(Review, submitted_review.id)
    assert stored.total == Decimal("70.750") and isinstance(stored.total, Decimal)
    assert calls.rubric_locked(session, g.call)
    with pytest.raises(InvalidTransition):
        calls.set_rubric(session, g.users["admin"], g.call, [calls.CriterionData("Н", "N", "N", "", Decimal("10"),
                                                                                 Decimal("1"))])
    assert len(g.call.criteria) == 3
    with pytest.raises(InvalidTransition):  # locked: only the chair's rescore changes it
        review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, *TOP))
    assert [r.total for r in first.reviews] == [Decimal("70.750")]
    assert actions(session, "review", submitted_review.id) == ["review.submitted"]


def test_weighted_totals_round_half_up_to_the_thousandth(session, g):
    fine = factories.grant_call(session, g.users["admin"], g.eoi_call, rubric=(
        ("А", "A", "A", "10", "0.125"), ("Б", "B", "B", "10", "0.333")))
    a, b = fine.criteria
    assert review.max_total(fine) == Decimal("4.580")
    assert review.weighted_total(fine, {a.id: Decimal("0.5"), b.id: Decimal("0")}) == Decimal("0.063")  # 0.0625
    assert review.weighted_total(fine, {a.id: Decimal("0"), b.id: Decimal("1.5")}) == Decimal("0.500")  # 0.4995
    assert review.weighted_total(fine, {a.id: Decimal("9.99"), b.id: Decimal("3.33")}) == Decimal("2.358")  # 2.35764
    assert review.weighted_total(g.call, dict(zip([c.id for c in g.call.criteria],
                                                  [Decimal("33.33"), Decimal("22.22"), Decimal("11.11")], strict=True))
                                 ) == Decimal("72.215")
    assert not calls.rubric_locked(session, g.call)  # another call's rubric is untouched by these


@pytest.mark.parametrize("bad", ["41", "-1", "40.01", "1.005", "abc", "", None, "NaN", "Infinity"])
def test_a_score_out_of_range_or_unreadable_is_refused_on_its_criterion(session, g, bad):
    _application, (first, _second) = ready(session, g)
    c1, c2, c3 = g.call.criteria
    inputs = sheet(g.call, *MID)
    inputs[c1.id] = review.ScoreInput(bad, "Образложено.")
    assert refused(review.submit_scores, session, g.users["reviewer"], first, inputs) == {f"score-{c1.id}"}
    assert first.reviews == [] and not calls.rubric_locked(session, g.call)


def test_every_error_of_a_sheet_is_keyed_to_its_criterion(session, g):
    _application, (first, _second) = ready(session, g)
    c1, c2, c3 = g.call.criteria
    inputs = {c1.id: review.ScoreInput("41", "Превисоко."), c2.id: review.ScoreInput("20", "  ")}  # c3 missing
    assert refused(review.submit_scores, session, g.users["reviewer"], first, inputs) == {
        f"score-{c1.id}", f"justification-{c2.id}", f"score-{c3.id}", f"justification-{c3.id}"}
    assert session.scalar(sa.select(sa.func.count(CriterionScore.id))) == 0
    # The boundaries are accepted.
    review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, "40.00", "0", "19.99"))
    assert first.current.total == Decimal("49.995")


# Blind until submitted ------------------------------------------------------------------------------------

def test_scores_stay_blind_until_the_reviewer_has_submitted(session, g):
    application, (first, second) = ready(session, g)
    reviewer, other = g.users["reviewer"], g.second
    conflicted = g.bystander
    review.declare(session, conflicted, review.assign(session, g.users["admin"], application, conflicted), True, "Роднина.")
    before = {name: access.can_see_scores(user, application) for name, user in (
        ("reviewer", reviewer), ("second", other), ("chair", g.chair), ("admin", g.users["admin"]),
        ("conflicted", conflicted), ("finance", g.users["finance"]), ("provider", g.users["provider"]),
        ("municipality", g.users["municipality"]), ("monitor", g.users["monitor"]))}
    assert before == {"reviewer": False, "second": False, "chair": True, "admin": True, "conflicted": False,
                      "finance": False, "provider": False, "municipality": False, "monitor": False}
    review.submit_scores(session, reviewer, first, sheet(g.call, *MID))
    assert access.can_see_scores(reviewer, application)  # after submitting, even before the other sheet is in
    assert not access.can_see_scores(other, application)
    review.submit_scores(session, other, second, sheet(g.call, *LOW))
    assert access.can_see_scores(other, application)
    assert not access.can_see_scores(g.users["provider"], application)
    assert not access.can_see_scores(conflicted, application)
    assert not access.can_see_scores(g.users["municipality"], application)


# Rescoring ---------------------------------------------------------------------------------------------------

def test_only_the_chair_rescores_and_the_earlier_sheet_is_kept(session, g):
    application, (first, second) = ready(session, g)
    with pytest.raises(InvalidTransition):  # nothing submitted yet
        review.rescore(session, g.chair, first, sheet(g.call, *MID), "Исправка")
    review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, *MID))
    for someone in (g.users["reviewer"], g.second, g.users["admin"]):
        with pytest.raises(NotAllowed):
            review.rescore(session, someone, first, sheet(g.call, *TOP), "Исправка")
    assert refused(review.rescore, session, g.chair, first, sheet(g.call, *TOP), " ") == {"reason"}
    c1 = g.call.criteria[0]
    bad = sheet(g.call, *TOP)
    bad[c1.id] = review.ScoreInput("50", "Превисоко.")
    assert refused(review.rescore, session, g.chair, first, bad, "Исправка") == {f"score-{c1.id}"}
    assert len(first.reviews) == 1
    new = review.rescore(session, g.chair, first, sheet(g.call, 32, 20, 10), "Погрешно пренесен поен на седницата.")
    assert [(r.version, r.total, r.submitted_by_id, r.reason) for r in first.reviews] == [
        (1, Decimal("65.000"), g.users["reviewer"].id, ""),
        (2, Decimal("67.000"), g.chair.id, "Погрешно пренесен поен на седницата.")]
    assert first.current is new and [s.score for s in first.reviews[0].scores] == [Decimal("30"), Decimal("20"),
                                                                                   Decimal("10")]
    review.submit_scores(session, g.second, second, sheet(g.call, *MID))
    assert review.review_state(application, None).totals == [Decimal("67.000"), Decimal("65.000")]
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "review.rescored"))
    assert (event.actor_id, event.before, event.after) == (g.chair.id, {"version": 1, "total": "65.000"}, {
        "version": 2, "total": "67.000", "reason": "Погрешно пренесен поен на седницата."})


# Discrepancy, moderation and the final score -------------------------------------------------------------------

def test_a_difference_just_above_twenty_percent_is_flagged(session, g):
    application, (first, second) = ready(session, g)
    review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, *TOP))  # 95.000
    state = review.review_state(application, None)
    assert (state.submitted, state.complete, state.final, state.spread, state.flagged) == (1, False, None, None, False)
    review.submit_scores(session, g.second, second, sheet(g.call, 21, 30, "19.99"))  # 21 + 45 + 9.995 = 75.995
    state = review.review_state(application, None)
    assert state.threshold == Decimal("19.000")  # 20 % of the 95 points
    assert state.spread == Decimal("19.005") and state.flagged
    assert state.mean == Decimal("85.498")  # 85.4975 rounds half up
    assert state.complete and state.final is None


def test_a_difference_exactly_at_the_threshold_is_not_flagged(session, g):
    application, (first, second) = ready(session, g)
    review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, *TOP))  # 95.000
    review.submit_scores(session, g.second, second, sheet(g.call, 21, 30, 20))  # 76.000: exactly 19 apart
    state = review.review_state(application, None)
    assert (state.spread, state.threshold, state.flagged) == (Decimal("19.000"), Decimal("19.000"), False)
    assert state.final == Decimal("85.500")
    with pytest.raises(InvalidTransition):  # nothing to moderate
        review.moderate(session, g.chair, application, "80", "Нема потреба.")
    assert session.scalar(sa.select(sa.func.count(Moderation.id))) == 0


def test_the_call_sets_its_own_discrepancy_threshold(session, g):
    calls.set_review_settings(session, g.users["admin"], g.call, settings(g.call, discrepancy_pct=Decimal("10")),
                              g.call.version_id)
    application = scored(session, g, "provider", TOP, (30, 30, 20))  # 95 and 85: 10 apart
    state = review.review_state(application, None)
    assert (state.threshold, state.spread, state.flagged, state.final) == (Decimal("9.500"), Decimal("10.000"), True, None)


def test_moderation_only_by_the_chair_and_only_when_flagged(session, g):
    application = scored(session, g, "provider", TOP, LOW)  # 95 and 40
    assert review.review_state(application, None).flagged
    for someone in (g.users["reviewer"], g.second, g.users["admin"], g.bystander):
        with pytest.raises(NotAllowed):
            review.moderate(session, someone, application, "70", "Договорено.")
    for score, fields in (("95.001", {"score"}), ("-1", {"score"}), ("седумдесет", {"score"}), ("NaN", {"score"}),
                          ("", {"score"})):
        assert refused(review.moderate, session, g.chair, application, score, "Договорено.") == fields
    assert refused(review.moderate, session, g.chair, application, "70", " ") == {"reason"}
    assert refused(review.moderate, session, g.chair, application, "100", "") == {"score", "reason"}
    moderation = review.moderate(session, g.chair, application, "70,25", "  Договорено на седницата на комисијата.  ")
    assert (moderation.score, moderation.reason, moderation.by_id) == (
        Decimal("70.250"), "Договорено на седницата на комисијата.", g.chair.id)
    latest = review.latest_moderations(session, [application.id])[application.id]
    state = review.review_state(application, latest)
    assert state.final == Decimal("70.250") and state.mean == Decimal("67.500")
    again = review.moderate(session, g.chair, application, "72", "Повторно разгледано.")
    assert review.latest_moderations(session, [application.id])[application.id].id == again.id
    assert review.review_state(application, again).final == Decimal("72.000")
    assert actions(session, "application", application.id).count("review.moderated") == 2


def test_moderation_waits_for_every_review(session, g):
    calls.set_review_settings(session, g.users["admin"], g.call, settings(g.call, reviewers_required=3),
                              g.call.version_id)
    application, (first, second) = ready(session, g)
    third = review.assign(session, g.users["admin"], application, g.bystander)
    review.declare(session, g.bystander, third, False, "")
    review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, *TOP))
    review.submit_scores(session, g.second, second, sheet(g.call, *LOW))
    state = review.review_state(application, None)
    assert state.flagged and not state.complete and state.final is None
    with pytest.raises(InvalidTransition):
        review.moderate(session, g.chair, application, "70", "Прерано.")
    review.submit_scores(session, g.bystander, third, sheet(g.call, *MID))
    state = review.review_state(application, None)
    assert state.complete and state.mean == Decimal("66.667") and state.final is None  # (95 + 40 + 65) / 3, flagged
    review.moderate(session, g.chair, application, "66", "Договорено.")


def test_the_final_score_is_the_mean_of_the_active_reviewers(session, g):
    application, (first, second) = ready(session, g)
    review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, *MID))  # 65
    assert review.review_state(application, None).final is None
    assert application in [a for a, _state in review.ranking(session, g.call).not_ready]
    review.submit_scores(session, g.second, second, sheet(g.call, 30, 20, 11))  # 65.5
    state = review.review_state(application, None)
    assert (state.totals, state.mean, state.final) == ([Decimal("65.000"), Decimal("65.500")], Decimal("65.250"),
                                                        Decimal("65.250"))


# Ranking -------------------------------------------------------------------------------------------------------

def test_ranking_order_and_the_documented_tie_break(session, g):
    extra = more_providers(session, g, 3)
    # Created out of order, so the submission order never decides a tie.
    big_request = scored(session, g, extra[0], LOW, **budget("700.00", "6000.00", "9000.00"))     # 40; 10 %, 81,000
    poorer_share = scored(session, g, "provider_b", MID)                                            # 65; 11.11 %, 80,000
    small_request = scored(session, g, extra[1], LOW, **budget("350.00", "3000.00", "4500.00"))  # 40; 10 %, 40,500
    top = scored(session, g, "provider", TOP)                                                        # 95
    richer_share = scored(session, g, extra[2], MID, **budget("1400.00", "12000.00", "30000.00"))  # 65; 16.67 %, 150,000
    assert (richer_share.requested_eur, poorer_share.requested_eur) == (Decimal("150000.00"), Decimal("80000.00"))
    assert applications.cofinancing_share(big_request.total_eur, big_request.cofinancing_eur) == applications.cofinancing_share(
        small_request.total_eur, small_request.cofinancing_eur) == Decimal("10.00")
    result = review.ranking(session, g.call)
    assert [r.application.id for r in result.rows] == [top.id, richer_share.id, poorer_share.id, small_request.id,
                                                       big_request.id]
    assert [r.rank for r in result.rows] == [1, 2, 3, 4, 5]
    assert [r.state.final for r in result.rows] == [Decimal("95.000"), Decimal("65.000"), Decimal("65.000"),
                                                    Decimal("40.000"), Decimal("40.000")]
    assert result.not_ready == [] and result.errors == []


def test_the_ranking_holds_only_endorsed_eligible_applications_with_a_final_score(session, g):
    extra = more_providers(session, g, 2)
    ranked = scored(session, g, "provider", MID)
    half, (first, _second) = ready(session, g, "provider_b")
    review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, *MID))
    flagged = scored(session, g, extra[0], TOP, LOW)
    unendorsed = submitted(session, g, extra[1])
    review.screen(session, g.users["reviewer"], unendorsed, all_yes(g.call), "")
    result = review.ranking(session, g.call)
    assert [r.application.id for r in result.rows] == [ranked.id]
    assert sorted(a.id for a, _state in result.not_ready) == sorted([half.id, flagged.id])
    review.moderate(session, g.chair, flagged, "90", "Договорено.")
    assert [r.application.id for r in review.ranking(session, g.call).rows] == [flagged.id, ranked.id]


def _four_for_the_line(session, g):
    """Four scored applications in a call of 200,000 EUR: 80,000 (95), 80,000 (65), 80,000 (40), 30,000 (30)."""
    set_allocation(session, g, "200000.00")
    extra = more_providers(session, g, 2)
    first = scored(session, g, "provider", TOP)
    second = scored(session, g, "provider_b", MID)
    third = scored(session, g, extra[0], LOW)
    small = scored(session, g, extra[1], POOR, **budget("250.00", "5000.00", "5000.00"))
    assert small.requested_eur == Decimal("30000.00")
    return first, second, third, small


def test_the_funding_line_is_strict(session, g):
    first, second, third, small = _four_for_the_line(session, g)
    result = review.ranking(session, g.call)
    assert [r.application.id for r in result.rows] == [first.id, second.id, third.id, small.id]
    assert [r.running for r in result.rows] == [Decimal("80000.00"), Decimal("160000.00"), Decimal("240000.00"),
                                                Decimal("270000.00")]
    # 30,000 would fit in the 40,000 left, but once one application does not fit the line is drawn.
    assert [r.fits for r in result.rows] == [True, True, False, False]
    assert result.line_after == 2
    assert (result.money.call_allocation, result.money.limit) == (Decimal("200000.00"), Decimal("200000.00"))
    assert all(r.amount == r.application.requested_eur and not r.what_if for r in result.rows)


def test_what_if_amounts_move_the_line(session, g):
    first, second, third, small = _four_for_the_line(session, g)
    exactly = review.ranking(session, g.call, {third.id: "40000"})  # 200,000 exactly: still fits
    assert [r.fits for r in exactly.rows] == [True, True, True, False] and exactly.line_after == 3
    assert (exactly.rows[2].amount, exactly.rows[2].what_if, exactly.rows[2].running) == (
        Decimal("40000.00"), True, Decimal("200000.00"))
    one_cent_more = review.ranking(session, g.call, {third.id: "40000.01"})
    assert [r.fits for r in one_cent_more.rows] == [True, True, False, False]
    trimmed = review.ranking(session, g.call, {second.id: "50000,00", third.id: "30000", small.id: " "})
    assert [r.fits for r in trimmed.rows] == [True, True, True, True] and trimmed.line_after == 4
    assert trimmed.rows[-1].running == Decimal("190000.00") and not trimmed.rows[-1].what_if
    assert trimmed.errors == []
    nothing = review.ranking(session, g.call, {third.id: "0"})
    assert nothing.rows[3].running == Decimal("190000.00") and nothing.line_after == 4
    # Trying amounts changes nothing that is stored.
    assert third.requested_eur == Decimal("80000.00") and session.scalar(sa.select(sa.func.count(AwardDecision.id))) == 0


@pytest.mark.parametrize("bad", ["-1", "80000.01", "осумдесет", "NaN", "Infinity", "1e40"])
def test_invalid_what_if_amounts_are_reported_and_ignored(session, g, bad):
    first, second, third, small = _four_for_the_line(session, g)
    result = review.ranking(session, g.call, {third.id: bad})
    assert len(result.errors) == 1 and third.reference in result.errors[0]
    row = result.rows[2]
    assert (row.amount, row.what_if) == (Decimal("80000.00"), False)
    assert [r.fits for r in result.rows] == [True, True, False, False]


# Decisions -------------------------------------------------------------------------------------------------------

def test_nobody_who_took_part_in_scoring_decides(session, g, monkeypatch):
    application = scored(session, g, "provider", TOP, LOW)
    conflicted = g.users["admin"]  # an administrator assigned who declared a conflict is also out
    review.declare(session, conflicted, review.assign(session, g.chair, application, conflicted), True, "Роднина.")
    review.moderate(session, g.chair, application, "70", "Договорено.")
    after_deadline(monkeypatch, g)
    for someone in (g.users["reviewer"], g.second, g.chair, conflicted):
        with pytest.raises(NotAllowed):
            review.decide(session, someone, application, Outcome.AWARD, Decimal("50000"), "", "Добро рангирана.")
    for someone in (g.users["finance"], g.users["provider"], g.users["municipality"], g.users["monitor"]):
        with pytest.raises(NotAllowed):
            review.decide(session, someone, application, Outcome.AWARD, Decimal("50000"), "", "Добро рангирана.")
    assert application.status == ApplicationStatus.SUBMITTED
    decision = review.decide(session, g.bystander, application, Outcome.AWARD, Decimal("50000"), "", "Добро рангирана.")
    assert (decision.decided_by_id, decision.final_score, decision.amount_eur) == (
        g.bystander.id, Decimal("70.000"), Decimal("50000.00"))


def test_a_chair_who_only_rescored_does_not_decide(session, g, monkeypatch):
    application, (first, second) = ready(session, g)
    review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, *MID))
    review.submit_scores(session, g.second, second, sheet(g.call, *MID))
    review.rescore(session, g.chair, first, sheet(g.call, 31, 20, 10), "Исправка.")
    assert review.involved_in_scoring(session, g.chair, application)
    assert not review.involved_in_scoring(session, g.bystander, application)
    after_deadline(monkeypatch, g)
    with pytest.raises(NotAllowed):
        review.decide(session, g.chair, application, Outcome.RESERVE, None, "", "Резерва.")


def test_decisions_wait_for_the_deadline(session, g, monkeypatch):
    application = scored(session, g, "provider", MID)
    at(monkeypatch, g.call.closes_at - timedelta(seconds=1))
    with pytest.raises(InvalidTransition):
        review.decide(session, g.users["admin"], application, Outcome.AWARD, Decimal("80000.00"), "", "Прва.")
    at(monkeypatch, g.call.closes_at)
    review.decide(session, g.users["admin"], application, Outcome.AWARD, Decimal("80000.00"), "", "Прва.")
    assert application.status == ApplicationStatus.AWARDED


def test_decisions_need_a_final_score_an_endorsement_and_eligibility(session, g, monkeypatch):
    extra = more_providers(session, g, 1)
    flagged = scored(session, g, "provider", TOP, LOW)
    incomplete, (first, _second) = ready(session, g, "provider_b")
    review.submit_scores(session, g.users["reviewer"], first, sheet(g.call, *MID))
    unendorsed = submitted(session, g, extra[0])
    after_deadline(monkeypatch, g)
    for application in (flagged, incomplete, unendorsed):
        with pytest.raises(InvalidTransition):
            review.decide(session, g.users["admin"], application, Outcome.RESERVE, None, "", "Резерва.")
    assert session.scalar(sa.select(sa.func.count(AwardDecision.id))) == 0


def test_award_amounts_and_reasons_are_checked(session, g, monkeypatch):
    application = scored(session, g, "provider", MID)
    after_deadline(monkeypatch, g)
    admin = g.users["admin"]
    for amount in (None, Decimal("0"), Decimal("-5"), application.requested_eur + Decimal("0.01")):
        assert refused(review.decide, session, admin, application, Outcome.AWARD, amount, "", "Добро.") == {"amount"}
    assert refused(review.decide, session, admin, application, Outcome.AWARD, Decimal("100"), "", " ") == {"reasons"}
    assert refused(review.decide, session, admin, application, Outcome.REJECT, None, "", "") == {"reasons"}
    assert refused(review.decide, session, admin, application, Outcome.RESERVE, None, "", "") == {"reasons"}
    assert application.status == ApplicationStatus.SUBMITTED
    decision = review.decide(session, admin, application, Outcome.AWARD, Decimal("80000.00"),
                             "  Почеток во рок од 5 месеци.  ", "  Прва на ранг-листата.  ")
    assert (decision.outcome, decision.amount_eur, decision.conditions, decision.reasons) == (
        Outcome.AWARD, Decimal("80000.00"), "Почеток во рок од 5 месеци.", "Прва на ранг-листата.")
    with pytest.raises(InvalidTransition):  # decided
        review.decide(session, admin, application, Outcome.REJECT, None, "", "Предомислување.")
    with pytest.raises(InvalidTransition):  # scores no longer change
        review.rescore(session, g.chair, application.assignments[0], sheet(g.call, *TOP), "Доцна.")


def test_a_rejection_records_its_reasons_and_frees_no_money(session, g, monkeypatch):
    application = scored(session, g, "provider", MID)
    after_deadline(monkeypatch, g)
    decision = review.decide(session, g.users["admin"], application, Outcome.REJECT, None, "", "Слаба одржливост.")
    assert (application.status, decision.amount_eur, decision.reasons) == (
        ApplicationStatus.REJECTED, None, "Слаба одржливост.")
    assert review.money_for(session, g.call).call_awarded == Decimal("0.00")
    [row] = review.ranking(session, g.call).rows
    assert (row.decision.id, row.running, row.fits) == (decision.id, None, None)
    with pytest.raises(InvalidTransition):
        review.decide(session, g.users["admin"], application, Outcome.AWARD, Decimal("1000"), "", "Предомислување.")


def test_the_provider_and_the_municipality_are_notified(session, g, monkeypatch):
    municipal_colleague = factories.user(session, Role.MUNICIPALITY, g.muni)
    application = scored(session, g, "provider", MID)
    after_deadline(monkeypatch, g)
    review.decide(session, g.users["admin"], application, Outcome.AWARD, Decimal("75000.00"), "Извештај секои 6 месеци.",
                  "Силна потреба во општината.")
    for member in (g.users["provider"], g.users["municipality"], municipal_colleague):
        [notice] = [m for m in mails_to(session, member.email) if "Силна потреба во општината." in m.body_text]
        assert application.reference in notice.subject
        assert "75000.00" in notice.body_text and "Извештај секои 6 месеци." in notice.body_text
    for outsider in (g.users["provider_b"], g.users["municipality_b"], g.users["reviewer"]):
        assert not any("Силна потреба" in m.body_text for m in mails_to(session, outsider.email))


def test_awards_stay_within_the_call_allocation_and_a_reserve_may_be_funded_later(session, g, monkeypatch):
    set_allocation(session, g, "100000.00")
    first = scored(session, g, "provider", TOP)
    second = scored(session, g, "provider_b", MID)
    after_deadline(monkeypatch, g)
    admin = g.users["admin"]
    review.decide(session, admin, first, Outcome.AWARD, Decimal("80000.00"), "", "Прва.")
    money = review.money_for(session, g.call)
    assert (money.call_awarded, money.call_remaining, money.available) == (
        Decimal("80000.00"), Decimal("20000.00"), Decimal("20000.00"))
    assert refused(review.decide, session, admin, second, Outcome.AWARD, Decimal("20000.01"), "", "Втора.") == {"amount"}
    assert second.status == ApplicationStatus.SUBMITTED
    review.decide(session, admin, second, Outcome.RESERVE, None, "", "Нема доволно средства.")
    assert second.status == ApplicationStatus.RESERVE
    rows = review.ranking(session, g.call).rows
    assert [(r.amount, r.fits) for r in rows] == [(Decimal("80000.00"), True), (Decimal("80000.00"), False)]
    assert refused(review.decide, session, admin, second, Outcome.AWARD, Decimal("20000.01"), "", "Втора.") == {"amount"}
    decision = review.decide(session, admin, second, Outcome.AWARD, Decimal("20000.00"), "", "Ослободени средства.")
    assert second.status == ApplicationStatus.AWARDED and decision.final_score == Decimal("65.000")
    assert [d.outcome for d in session.scalars(sa.select(AwardDecision).where(
        AwardDecision.application_id == second.id).order_by(AwardDecision.id))] == [Outcome.RESERVE, Outcome.AWARD]
    assert review.money_for(session, g.call).available == Decimal("0.00")
    ranking = review.ranking(session, g.call, {second.id: "1"})  # an award in force is not tried again
    assert [(r.amount, r.what_if, r.fits) for r in ranking.rows] == [(Decimal("80000.00"), False, True),
                                                                     (Decimal("20000.00"), False, True)]
    assert actions(session, "application", second.id)[-2:] == ["application.reserve", "application.award"]
    award = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "application.award",
                                                       AuditEvent.object_id == str(second.id)))
    assert (award.before, award.after["amount_eur"], award.after["final_score"]) == (
        {"status": "reserve"}, "20000.00", "65.000")


def test_the_envelope_limits_awards_across_calls(session, g, monkeypatch):
    """Awards in force anywhere in the programme use the envelope. The awards of another call are
    written directly here (more than that call's allocation, which the services would refuse) to make
    the envelope, not this call's allocation, the limit."""
    admin = g.users["admin"]
    other_call = factories.grant_call(session, admin, g.eoi_call, allocation_eur=Decimal("100000.00"))
    elsewhere = factories.filled_application(session, g.users["provider_b"], other_call, g.muni)
    reserved = factories.filled_application(session, g.users["provider"], other_call, g.muni)
    envelope = calls.get_programme(session).envelope_eur
    session.add_all([
        AwardDecision(application_id=elsewhere.id, outcome=Outcome.AWARD, amount_eur=envelope - Decimal("50000.00"),
                      reasons="Одлука во друг повик.", decided_by_id=admin.id),
        # An earlier award replaced by a reserve decision is no longer in force.
        AwardDecision(application_id=reserved.id, outcome=Outcome.AWARD, amount_eur=Decimal("30000.00"),
                      reasons="Прва одлука.", decided_by_id=admin.id)])
    session.flush()
    session.add(AwardDecision(application_id=reserved.id, outcome=Outcome.RESERVE, reasons="Променета одлука.",
                              decided_by_id=admin.id))
    session.flush()
    assert review.awarded_by_call(session, g.call.programme_id) == {other_call.id: envelope - Decimal("50000.00")}
    first = scored(session, g, "provider", TOP)
    second = scored(session, g, "provider_b", MID)
    after_deadline(monkeypatch, g)
    money = review.money_for(session, g.call)
    assert (money.call_remaining, money.envelope_uncommitted, money.available, money.limit) == (
        Decimal("1000000.00"), Decimal("50000.00"), Decimal("50000.00"), Decimal("50000.00"))
    assert [r.fits for r in review.ranking(session, g.call).rows] == [False, False]
    assert refused(review.decide, session, admin, first, Outcome.AWARD, Decimal("50000.01"), "", "Прва.") == {"amount"}
    review.decide(session, admin, first, Outcome.AWARD, Decimal("50000.00"), "", "Прва.")
    assert review.money_for(session, g.call).envelope_uncommitted == Decimal("0.00")
    assert refused(review.decide, session, admin, second, Outcome.AWARD, Decimal("0.01"), "", "Втора.") == {"amount"}
    review.decide(session, admin, second, Outcome.RESERVE, None, "", "Пликот е потрошен.")
    assert second.status == ApplicationStatus.RESERVE
