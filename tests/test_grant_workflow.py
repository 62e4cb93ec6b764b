"""Grant applications end to end through the services: budget arithmetic, submission rules,
endorsement, screening, conflicts, blind scoring, discrepancy and moderation, the ranking with its
funding line and tie-break, and decisions — each transition and its refusals."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal import access, clock
from portal.applications import review
from portal.applications import services as applications
from portal.applications.services import ApplicationData, LineRow, PositionRow
from portal.calls import services as calls
from portal.documents import services as documents
from portal.eois import services as eois
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.models import (
    ApplicationStatus,
    AuditEvent,
    CallKind,
    ConflictDeclaration,
    Eligibility,
    Endorsement,
    OrgKind,
    OrgStatus,
    OutboxEmail,
    Outcome,
    Role,
)
from tests import factories, files


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        app.preprocess_request()
        yield


@pytest.fixture
def g(app, world, session, ctx, tmp_path):
    """A grant call linked to an EOI call where municipality A was accepted (municipality B was not)."""
    app.extensions["storage"] = None
    app.config.update(STORAGE_BACKEND="local", UPLOAD_DIR=tmp_path / "uploads")
    admin, reviewer = world.users["admin"], world.users["reviewer"]
    eoi_call = factories.eoi_call(session, admin)
    eois.decide(session, reviewer, factories.filled_eoi(session, world.users["municipality"], eoi_call), True, "Да.")
    factories.filled_eoi(session, world.users["municipality_b"], eoi_call)
    call = factories.eoi_call(session, admin, kind=CallKind.GRANT, linked_call_id=eoi_call.id,
                              allocation_eur=Decimal("500000.00"), grant_ceiling_eur=Decimal("200000.00"),
                              min_cofinancing_pct=Decimal("10"), required_documents=["work_plan"])
    calls.set_rubric(session, admin, call, [
        calls.CriterionData("Потреба", "Nevoja", "Need", "", Decimal("40"), Decimal("1")),
        calls.CriterionData("Квалитет", "Cilësia", "Quality", "", Decimal("30"), Decimal("1.5")),
        calls.CriterionData("Одржливост", "Qëndrueshmëria", "Sustainability", "", Decimal("20"), Decimal("0.5"))])
    chair = factories.user(session, Role.REVIEWER, world.orgs["ministry"])
    calls.set_review_settings(session, admin, call, calls.ReviewSettings(None, False, [], 2, Decimal("20"), chair.id),
                              call.version_id)
    world.chair = chair
    world.second = factories.user(session, Role.REVIEWER, world.orgs["ministry"])
    world.call = call
    yield world
    app.extensions["storage"] = None


def data(**overrides) -> ApplicationData:
    """staff 6 × 600 × 24 = 86,400 + equipment 2 × 1,234.565 (→ 2,469.13) = 88,869.13 total."""
    values = dict(title="Помош во домот", summary="Услуга за 40 лица.", service_type_ids=[], beneficiaries_per_month=40,
                  start_month=factories.a_date(60), duration_months=24, certified_caregivers=4,
                  cofinancing_eur=Decimal("10000.00"), positions=[PositionRow("Негувателка", 6)],
                  lines=[LineRow("staff", "Плати", Decimal("6"), Decimal("600.00"), 24),
                         LineRow("equipment", "Кревети", Decimal("2"), Decimal("1234.565"), 1)])
    values.update(overrides)
    return ApplicationData(**values)


def draft(session, w, provider="provider", municipality="municipality", **overrides):
    user = w.users[provider]
    application = applications.start(session, user, w.call, w.orgs[municipality].id)
    payload = data(**overrides)
    payload.service_type_ids = payload.service_type_ids or [w.call.service_types[0].id]
    applications.save(session, user, application, payload, application.version_id)
    return application


def attach(session, w, application, provider="provider"):
    documents.upload(session, w.users[provider], owner=application.organisation, object_type="application",
                     object_id=application.id, purpose="work_plan", stream=io.BytesIO(files.PDF), filename="plan.pdf")


def submitted(session, w, provider="provider", **overrides):
    application = draft(session, w, provider, **overrides)
    attach(session, w, application, provider)
    applications.submit(session, w.users[provider], application)
    return application


def ready(session, w, provider="provider", **overrides):
    """Submitted, endorsed, eligible, with the chair and the second reviewer assigned and declared."""
    application = submitted(session, w, provider, **overrides)
    applications.endorse(session, w.users["municipality"], application, True, "")
    review.screen(session, w.users["admin"], application, {i: True for i in review.checklist(w.call)}, "")
    assignments = []
    for reviewer in (w.chair, w.second):
        assignment = review.assign(session, w.users["admin"], application, reviewer)
        review.declare(session, reviewer, assignment, False, "")
        assignments.append(assignment)
    return application, assignments


def sheet(call, *values, text="Образложено."):
    return {c.id: review.ScoreInput(str(v), text) for c, v in zip(call.criteria, values, strict=True)}


def at(monkeypatch, when):
    monkeypatch.setattr(clock, "now", lambda: when)


def actions(session, application) -> list[str]:
    return list(session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "application", AuditEvent.object_id == str(application.id)).order_by(AuditEvent.id)))


# Drafting and arithmetic ----------------------------------------------------------------------------------

def test_budget_is_computed_on_the_server_with_decimal_rounding(session, g):
    application = draft(session, g)
    amounts = [line.amount_eur for line in application.budget_lines]
    assert amounts == [Decimal("86400.00"), Decimal("2469.13")]  # 2 × 1,234.565 rounds half up
    assert application.total_eur == Decimal("88869.13")
    assert application.requested_eur == Decimal("78869.13")
    assert application.cofinancing_pct == Decimal("11.25")
    assert applications.line_amount(LineRow("other", "", Decimal("3"), Decimal("0.335"), 1)) == Decimal("1.01")


def test_only_municipalities_with_an_accepted_eoi_can_be_named(session, g):
    assert [m.id for m in applications.eligible_municipalities(session, g.call)] == [g.orgs["municipality"].id]
    with pytest.raises(ValidationFailed) as refused:
        applications.start(session, g.users["provider"], g.call, g.orgs["municipality_b"].id)
    assert "municipality" in refused.value.field_errors
    with pytest.raises(NotAllowed):
        applications.start(session, g.users["municipality"], g.call, g.orgs["municipality"].id)


def test_one_application_per_provider_call_and_municipality(session, g):
    first = applications.start(session, g.users["provider"], g.call, g.orgs["municipality"].id)
    again = applications.start(session, g.users["provider"], g.call, g.orgs["municipality"].id)
    assert first.id == again.id


@pytest.mark.parametrize(("overrides", "field"), [
    ({"duration_months": 61}, "duration_months"),
    ({"lines": [LineRow("per_user", "Цена", Decimal("40"), Decimal("90"), 12)]}, "lines"),
    ({"hires": [applications.HireRow(1, 7)]}, "hires"),
    ({"certified_caregivers": 9}, "certified_caregivers"),
    ({"cofinancing_eur": Decimal("99999.00")}, "cofinancing_eur"),
])
def test_invalid_values_are_refused_with_the_field_named(session, g, overrides, field):
    application = applications.start(session, g.users["provider"], g.call, g.orgs["municipality"].id)
    payload = data(**overrides)
    payload.service_type_ids = [g.call.service_types[0].id]
    with pytest.raises(ValidationFailed) as refused:
        applications.save(session, g.users["provider"], application, payload, application.version_id)
    assert field in refused.value.field_errors


def test_per_user_price_is_accepted_where_the_call_funds_per_user(session, g):
    g.call.funds_per_user = True
    application = draft(session, g, lines=[LineRow("per_user", "Цена", Decimal("40"), Decimal("95.50"), 24)],
                        cofinancing_eur=Decimal("10000.00"))
    assert application.total_eur == Decimal("91680.00")  # 40 users × 95.50 × 24 months


def test_ceiling_and_minimum_cofinancing_are_checked_on_submission(session, g):
    over = draft(session, g, lines=[LineRow("staff", "Плати", Decimal("10"), Decimal("900.00"), 24)],
                 cofinancing_eur=Decimal("20000.00"))  # 216,000 total, 196,000 requested, 9.26 %
    attach(session, g, over)
    with pytest.raises(ValidationFailed) as refused:
        applications.submit(session, g.users["provider"], over)
    assert set(refused.value.field_errors) == {"cofinancing_eur"}
    applications.save(session, g.users["provider"], over, data(
        service_type_ids=[g.call.service_types[0].id], cofinancing_eur=Decimal("22000.00"),
        lines=[LineRow("staff", "Плати", Decimal("10"), Decimal("1000.00"), 24)]), over.version_id)
    with pytest.raises(ValidationFailed) as refused:  # 240,000 − 22,000 = 218,000 > the 200,000 ceiling
        applications.submit(session, g.users["provider"], over)
    assert "lines" in refused.value.field_errors
    assert over.status == ApplicationStatus.DRAFT


def test_required_documents_and_complete_fields_before_submission(session, g):
    application = draft(session, g, summary="")
    with pytest.raises(ValidationFailed) as refused:
        applications.submit(session, g.users["provider"], application)
    assert "summary" in refused.value.field_errors
    applications.save(session, g.users["provider"], application, data(service_type_ids=[g.call.service_types[0].id]),
                      application.version_id)
    with pytest.raises(ValidationFailed) as refused:
        applications.submit(session, g.users["provider"], application)
    assert "documents" in refused.value.field_errors


def test_pending_provider_drafts_but_cannot_submit(session, g):
    g.orgs["provider"].status = OrgStatus.PENDING
    application = draft(session, g)
    attach(session, g, application)
    with pytest.raises(InvalidTransition):
        applications.submit(session, g.users["provider"], application)
    assert application.status == ApplicationStatus.DRAFT and application.title == "Помош во домот"


def test_expired_licence_cannot_submit(session, g):
    g.orgs["provider"].licence_valid_until = factories.a_date(-1)
    g.orgs["provider"].licence_valid_from = factories.a_date(-400)
    application = draft(session, g)
    attach(session, g, application)
    with pytest.raises(InvalidTransition):
        applications.submit(session, g.users["provider"], application)


def test_submission_one_second_before_and_at_the_deadline(session, g, monkeypatch):
    early = draft(session, g)
    late = draft(session, g, provider="provider_b")
    attach(session, g, early)
    attach(session, g, late, provider="provider_b")
    at(monkeypatch, g.call.closes_at - timedelta(seconds=1))
    applications.submit(session, g.users["provider"], early)
    at(monkeypatch, g.call.closes_at)
    with pytest.raises(InvalidTransition):
        applications.submit(session, g.users["provider_b"], late)
    assert (early.status, late.status) == (ApplicationStatus.SUBMITTED, ApplicationStatus.DRAFT)


def test_submitted_is_read_only_withdrawable_before_the_deadline_and_resubmission_asks_again(session, g, monkeypatch):
    application = submitted(session, g)
    assert application.reference == f"{g.call.reference}-A001"
    receipts = session.scalars(sa.select(OutboxEmail.to_address).where(OutboxEmail.subject.contains(application.reference)))
    assert g.users["provider"].email in set(receipts) and g.users["municipality"].email in set(
        session.scalars(sa.select(OutboxEmail.to_address)))
    with pytest.raises(InvalidTransition):
        applications.save(session, g.users["provider"], application, data(), application.version_id)
    with pytest.raises(NotAllowed):
        applications.withdraw(session, g.users["provider_b"], application, "")
    applications.endorse(session, g.users["municipality"], application, True, "")
    applications.withdraw(session, g.users["provider"], application, "Грешка во буџетот")
    assert application.status == ApplicationStatus.WITHDRAWN
    applications.submit(session, g.users["provider"], application)
    assert application.endorsement == Endorsement.PENDING and len(application.submissions) == 2
    at(monkeypatch, g.call.closes_at + timedelta(seconds=1))
    with pytest.raises(InvalidTransition):
        applications.withdraw(session, g.users["provider"], application, "")
    assert actions(session, application) == ["application.created", "application.saved", "application.submitted",
                                              "application.endorsed", "application.withdrawn", "application.submitted"]


def test_other_providers_never_touch_an_application(session, g):
    application = draft(session, g)
    assert not access.can_view_application(g.users["provider_b"], application)
    assert not access.can_view_application(g.users["reviewer"], application)  # drafts stay private
    with pytest.raises(NotAllowed):
        applications.save(session, g.users["provider_b"], application, data(), application.version_id)


# Endorsement -------------------------------------------------------------------------------------------------

def test_only_the_named_municipality_endorses_before_its_deadline(session, g, monkeypatch):
    application = submitted(session, g)
    with pytest.raises(NotAllowed):
        applications.endorse(session, g.users["municipality_b"], application, True, "")
    with pytest.raises(ValidationFailed) as refused:
        applications.endorse(session, g.users["municipality"], application, False, " ")
    assert "reason" in refused.value.field_errors
    at(monkeypatch, applications.endorsement_deadline(g.call))
    with pytest.raises(InvalidTransition):
        applications.endorse(session, g.users["municipality"], application, True, "")
    at(monkeypatch, applications.endorsement_deadline(g.call) - timedelta(seconds=1))
    applications.endorse(session, g.users["municipality"], application, False, "Немаме простор за услугата.")
    assert application.endorsement == Endorsement.DECLINED
    with pytest.raises(InvalidTransition):
        applications.endorse(session, g.users["municipality"], application, True, "")


def test_an_application_without_endorsement_cannot_be_scored(session, g):
    application = submitted(session, g)
    review.screen(session, g.users["admin"], application, {i: True for i in review.checklist(g.call)}, "")
    assignment = review.assign(session, g.users["admin"], application, g.chair)
    review.declare(session, g.chair, assignment, False, "")
    with pytest.raises(InvalidTransition):
        review.submit_scores(session, g.chair, assignment, sheet(g.call, 30, 20, 10))


# Screening, assignment, conflicts -------------------------------------------------------------------------

def test_ineligible_closes_the_application_with_reasons_to_the_provider(session, g):
    application = submitted(session, g)
    items = review.checklist(g.call)
    with pytest.raises(ValidationFailed):
        review.screen(session, g.users["reviewer"], application, {items[0]: True}, "")
    answers = {i: i != "licence_valid" for i in items}
    with pytest.raises(ValidationFailed):
        review.screen(session, g.users["reviewer"], application, answers, "")
    review.screen(session, g.users["reviewer"], application, answers, "Лиценцата не ја покрива услугата.")
    assert (application.status, application.eligibility) == (ApplicationStatus.INELIGIBLE, Eligibility.INELIGIBLE)
    mail = session.scalar(sa.select(OutboxEmail).where(OutboxEmail.to_address == g.users["provider"].email,
                                                       OutboxEmail.body_text.contains("Лиценцата не ја покрива")))
    assert mail is not None
    with pytest.raises(InvalidTransition):
        review.assign(session, g.users["admin"], application, g.second)


def test_assignment_rules(session, g):
    application = submitted(session, g)
    with pytest.raises(NotAllowed):
        review.assign(session, g.users["reviewer"], application, g.second)  # neither admin nor chair
    review.assign(session, g.chair, application, g.second)
    with pytest.raises(ValidationFailed):
        review.assign(session, g.users["admin"], application, g.second)
    with pytest.raises(ValidationFailed):
        review.assign(session, g.users["admin"], application, g.users["finance"])
    assert review.reviewers_missing(application) == 1


def test_a_declared_conflict_blocks_scoring_and_asks_the_chair_for_a_replacement(session, g):
    application = submitted(session, g)
    applications.endorse(session, g.users["municipality"], application, True, "")
    review.screen(session, g.users["admin"], application, {i: True for i in review.checklist(g.call)}, "")
    assignment = review.assign(session, g.users["admin"], application, g.second)
    with pytest.raises(InvalidTransition):  # nothing before the declaration
        review.submit_scores(session, g.second, assignment, sheet(g.call, 30, 20, 10))
    with pytest.raises(NotAllowed):
        review.declare(session, g.chair, assignment, False, "")
    with pytest.raises(ValidationFailed):
        review.declare(session, g.second, assignment, True, "")
    review.declare(session, g.second, assignment, True, "Сопругата работи кај давателот.")
    assert assignment.conflict == ConflictDeclaration.DECLARED
    with pytest.raises(InvalidTransition):
        review.submit_scores(session, g.second, assignment, sheet(g.call, 30, 20, 10))
    with pytest.raises(InvalidTransition):
        review.declare(session, g.second, assignment, False, "")
    assert review.reviewers_missing(application) == 2
    assert session.scalar(sa.select(OutboxEmail).where(OutboxEmail.to_address == g.chair.email,
                                                       OutboxEmail.body_text.contains("Сопругата")))


# Scoring ------------------------------------------------------------------------------------------------------

def test_weighted_total_is_exact_and_scores_lock(session, g):
    application, (first, _second) = ready(session, g)
    assert not calls.rubric_locked(session, g.call)
    review_ = review.submit_scores(session, g.chair, first, sheet(g.call, "35", "20.5", "10"))
    assert review_.total == Decimal("70.750")  # 35 × 1 + 20.5 × 1.5 + 10 × 0.5
    assert review.max_total(g.call) == Decimal("95.000")
    assert calls.rubric_locked(session, g.call)
    with pytest.raises(InvalidTransition):
        review.submit_scores(session, g.chair, first, sheet(g.call, 1, 1, 1))


def test_scores_out_of_range_or_unjustified_are_refused_field_by_field(session, g):
    _application, (first, _second) = ready(session, g)
    c1, c2, c3 = g.call.criteria
    inputs = {c1.id: review.ScoreInput("41", "x"), c2.id: review.ScoreInput("10", " "), c3.id: review.ScoreInput("1.005", "x")}
    with pytest.raises(ValidationFailed) as refused:
        review.submit_scores(session, g.chair, first, inputs)
    assert set(refused.value.field_errors) == {f"score-{c1.id}", f"justification-{c2.id}", f"score-{c3.id}"}
    assert not first.reviews


def test_blind_until_submitted(session, g):
    application, (first, second) = ready(session, g)
    assert not access.can_see_scores(g.second, application)
    assert access.can_see_scores(g.chair, application) and access.can_see_scores(g.users["admin"], application)
    review.submit_scores(session, g.chair, first, sheet(g.call, 30, 20, 10))
    assert not access.can_see_scores(g.second, application)
    review.submit_scores(session, g.second, second, sheet(g.call, 31, 20, 10))
    assert access.can_see_scores(g.second, application)
    assert not access.can_see_scores(g.users["reviewer"], application)  # not assigned
    assert not access.can_see_scores(g.users["provider"], application)


def test_rescore_by_the_chair_keeps_the_earlier_version(session, g):
    application, (first, second) = ready(session, g)
    review.submit_scores(session, g.second, second, sheet(g.call, 30, 20, 10))
    with pytest.raises(NotAllowed):
        review.rescore(session, g.second, second, sheet(g.call, 31, 20, 10), "Грешка")
    with pytest.raises(ValidationFailed):
        review.rescore(session, g.chair, second, sheet(g.call, 31, 20, 10), "")
    new = review.rescore(session, g.chair, second, sheet(g.call, 32, 20, 10), "Погрешно внесен поен.")
    assert [r.version for r in second.reviews] == [1, 2]
    assert (second.reviews[0].total, new.total, new.submitted_by_id) == (Decimal("65.000"), Decimal("67.000"), g.chair.id)


def test_discrepancy_flag_moderation_and_final_score(session, g):
    application, (first, second) = ready(session, g)
    threshold = review.max_total(g.call) * Decimal("0.20")  # 19.000
    review.submit_scores(session, g.chair, first, sheet(g.call, 40, 30, 20))  # 95.000
    review.submit_scores(session, g.second, second, sheet(g.call, 31, 20, 12))  # 67.000: 28 apart
    state = review.review_state(application, None)
    assert state.threshold == threshold and state.flagged and state.final is None
    with pytest.raises(NotAllowed):
        review.moderate(session, g.second, application, "80", "Договорено")
    with pytest.raises(ValidationFailed):
        review.moderate(session, g.chair, application, "96", "Договорено")
    review.moderate(session, g.chair, application, "80.5", "Договорено на седница.")
    moderation = review.latest_moderations(session, [application.id])[application.id]
    assert review.review_state(application, moderation).final == Decimal("80.500")


def test_a_difference_at_the_threshold_is_not_a_discrepancy(session, g):
    application, (first, second) = ready(session, g)
    review.submit_scores(session, g.chair, first, sheet(g.call, 40, 30, 20))  # 95.000
    review.submit_scores(session, g.second, second, sheet(g.call, 21, 30, 20))  # 76.000: exactly 19 apart
    state = review.review_state(application, None)
    assert not state.flagged and state.final == Decimal("85.500")
    with pytest.raises(InvalidTransition):
        review.moderate(session, g.chair, application, "80", "Нема потреба")


# Ranking, funding line and decisions -------------------------------------------------------------------

def scored(session, g, provider, a, b, **overrides):
    application, (first, second) = ready(session, g, provider, **overrides)
    review.submit_scores(session, g.chair, first, sheet(g.call, *a))
    review.submit_scores(session, g.second, second, sheet(g.call, *b))
    return application


def more_providers(session, g, n):
    names = []
    for i in range(n):
        org = factories.org(session, OrgKind.PROVIDER)
        key = f"extra{i}"
        g.users[key] = factories.user(session, Role.PROVIDER, org)
        g.orgs[key] = org
        names.append(key)
    return names


def test_ranking_order_tie_break_and_strict_funding_line(session, g, monkeypatch):
    g.call.allocation_eur = Decimal("200000.00")
    extra = more_providers(session, g, 2)
    # 78,869.13 requested each unless overridden; co-financing shares differ for the tie.
    top = scored(session, g, "provider", (40, 30, 20), (40, 30, 20))                  # 95
    tie_rich = scored(session, g, "provider_b", (30, 20, 10), (30, 20, 10),           # 65, 20.00 %
                      cofinancing_eur=Decimal("22217.83"))
    tie_poor = scored(session, g, extra[0], (30, 20, 10), (30, 20, 10))               # 65, 11.25 %
    small = scored(session, g, extra[1], (10, 10, 10), (10, 10, 10),                  # 30, small request
                   lines=[LineRow("staff", "Плати", Decimal("1"), Decimal("500.00"), 24)], cofinancing_eur=Decimal("1200.00"))
    result = review.ranking(session, g.call)
    assert [r.application.id for r in result.rows] == [top.id, tie_rich.id, tie_poor.id, small.id]
    # 78,869.13 + 66,651.30 = 145,520.43 fits; + 78,869.13 = 224,389.56 does not; the small one after it stays below.
    assert [r.fits for r in result.rows] == [True, True, False, False]
    assert result.line_after == 2
    assert result.rows[1].running == Decimal("145520.43")
    what_if = review.ranking(session, g.call, {tie_poor.id: "54000", small.id: "-5"})
    assert [r.fits for r in what_if.rows] == [True, True, True, False]
    assert what_if.rows[2].what_if and what_if.rows[2].running == Decimal("199520.43")
    assert len(what_if.errors) == 1
    assert review.money_for(session, g.call).available == Decimal("200000.00")


def test_decisions_refusals_and_money(session, g, monkeypatch):
    g.call.allocation_eur = Decimal("100000.00")
    first = scored(session, g, "provider", (40, 30, 20), (38, 30, 20))
    second = scored(session, g, "provider_b", (30, 20, 10), (30, 22, 10))
    with pytest.raises(InvalidTransition):  # before the deadline
        review.decide(session, g.users["admin"], first, Outcome.AWARD, Decimal("1000"), "", "Добро")
    at(monkeypatch, g.call.closes_at + timedelta(minutes=1))
    with pytest.raises(NotAllowed):  # scored it
        review.decide(session, g.chair, first, Outcome.AWARD, Decimal("1000"), "", "Добро")
    with pytest.raises(NotAllowed):
        review.decide(session, g.users["finance"], first, Outcome.AWARD, Decimal("1000"), "", "Добро")
    with pytest.raises(ValidationFailed):
        review.decide(session, g.users["admin"], first, Outcome.AWARD, first.requested_eur + Decimal("0.01"), "", "Добро")
    with pytest.raises(ValidationFailed):
        review.decide(session, g.users["admin"], first, Outcome.REJECT, None, "", " ")
    decision = review.decide(session, g.users["admin"], first, Outcome.AWARD, Decimal("70000.00"),
                             "Почеток до 5 месеци.", "Прва на ранг-листата.")
    assert first.status == ApplicationStatus.AWARDED and decision.final_score == Decimal("94.000")
    assert {m.to_address for m in session.scalars(sa.select(OutboxEmail).where(
        OutboxEmail.subject.contains(first.reference), OutboxEmail.body_text.contains("70000.00")))} == {
        g.users["provider"].email, g.users["municipality"].email}
    with pytest.raises(ValidationFailed) as refused:  # 30,000 left in the call
        review.decide(session, g.users["reviewer"], second, Outcome.AWARD, Decimal("30000.01"), "", "Втора")
    assert "amount" in refused.value.field_errors
    review.decide(session, g.users["reviewer"], second, Outcome.RESERVE, None, "", "Нема доволно средства.")
    assert second.status == ApplicationStatus.RESERVE
    review.decide(session, g.users["reviewer"], second, Outcome.AWARD, Decimal("30000.00"), "", "Ослободени средства.")
    assert second.status == ApplicationStatus.AWARDED
    assert review.money_for(session, g.call).available == Decimal("0.00")
    with pytest.raises(InvalidTransition):
        review.decide(session, g.users["reviewer"], second, Outcome.REJECT, None, "", "Нема")
    assert "application.reserve" in actions(session, second) and "application.award" in actions(session, second)


def test_the_envelope_limits_awards_across_calls(session, g, monkeypatch):
    """Another call's awards use the envelope: an award here may not exceed what is left of it, even
    when this call still has room."""
    from portal.models import AwardDecision

    other = factories.eoi_call(session, g.users["admin"], kind=CallKind.GRANT, linked_call_id=g.call.linked_call_id,
                               allocation_eur=Decimal("100000.00"))
    elsewhere = applications.start(session, g.users["provider_b"], other, g.orgs["municipality"].id)
    programme = calls.get_programme(session)
    awarded_elsewhere = programme.envelope_eur - Decimal("60000.00")
    session.add(AwardDecision(application_id=elsewhere.id, outcome=Outcome.AWARD, amount_eur=awarded_elsewhere,
                              reasons="Одлука во друг повик", decided_by_id=g.users["admin"].id))
    session.flush()
    application = scored(session, g, "provider", (40, 30, 20), (38, 30, 20))
    at(monkeypatch, g.call.closes_at + timedelta(minutes=1))
    money = review.money_for(session, g.call)
    assert (money.call_remaining, money.envelope_uncommitted, money.available) == (
        Decimal("500000.00"), Decimal("60000.00"), Decimal("60000.00"))
    with pytest.raises(ValidationFailed):
        review.decide(session, g.users["admin"], application, Outcome.AWARD, Decimal("60000.01"), "", "Прва")
    review.decide(session, g.users["admin"], application, Outcome.AWARD, Decimal("60000.00"), "", "Прва")
    assert review.money_for(session, g.call).envelope_uncommitted == Decimal("0.00")
