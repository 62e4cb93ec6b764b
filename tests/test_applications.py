"""Provider grant applications through the services: who may start one and where, the budget
arithmetic (Decimal, computed on the server), the submission rules and deadline, withdrawal and
resubmission, the receipt and the municipality's endorsement, and the audit trail of each step."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal import access, clock
from portal.applications import services as applications
from portal.applications.services import ApplicationData, HireRow, LineRow, PositionRow
from portal.calls import services as calls
from portal.eois import services as eois
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.models import (
    Application,
    ApplicationStatus,
    ApplicationSubmission,
    AuditEvent,
    BudgetCategory,
    CallStatus,
    Eligibility,
    Endorsement,
    HardToEmployCategory,
    OrgKind,
    OrgStatus,
    OutboxEmail,
    Role,
)
from tests import factories


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        app.preprocess_request()
        yield


@pytest.fixture
def g(app, world, session, ctx, tmp_path):
    """A published grant call linked to a call for EOIs where municipality A was accepted and
    municipality B only submitted."""
    factories.use_local_storage(app, tmp_path / "uploads")
    admin = world.users["admin"]
    world.eoi_call = factories.eoi_call(session, admin)
    factories.accepted_eoi(session, world.users["municipality"], admin, world.eoi_call)
    world.eoi_b = factories.filled_eoi(session, world.users["municipality_b"], world.eoi_call)
    world.call = factories.grant_call(session, admin, world.eoi_call)
    world.muni = world.orgs["municipality"]
    yield world
    app.extensions["storage"] = None


def at(monkeypatch, when: datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: when)


def data(session, g, **overrides) -> ApplicationData:
    return factories.application_data(session, g.call, **overrides)


def draft(session, g, provider: str = "provider", **overrides) -> Application:
    return factories.filled_application(session, g.users[provider], g.call, g.muni, submit=False, **overrides)


def submitted(session, g, provider: str = "provider", **overrides) -> Application:
    return factories.filled_application(session, g.users[provider], g.call, g.muni, **overrides)


def save(session, g, application, provider: str = "provider", **overrides) -> Application:
    return applications.save(session, g.users[provider], application, data(session, g, **overrides),
                             application.version_id)


def refused_fields(call_, *args) -> set[str]:
    with pytest.raises(ValidationFailed) as refused:
        call_(*args)
    return set(refused.value.field_errors)


def review_settings(call, **changes) -> calls.ReviewSettings:
    values = dict(endorsement_closes_at=call.endorsement_closes_at, funds_per_user=call.funds_per_user,
                  checklist=list(call.eligibility_checklist), reviewers_required=call.reviewers_required,
                  discrepancy_pct=call.discrepancy_share * 100, chair_id=call.chair_id)
    values.update(changes)
    return calls.ReviewSettings(**values)


def actions(session, application) -> list[str]:
    return list(session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "application", AuditEvent.object_id == str(application.id)).order_by(AuditEvent.id)))


def mails(session, address: str | None = None) -> list[OutboxEmail]:
    query = sa.select(OutboxEmail).order_by(OutboxEmail.id)
    if address is not None:
        query = query.where(OutboxEmail.to_address == address)
    return list(session.scalars(query))


# Starting: only where the municipality's expression of interest was accepted -------------------------

def test_only_municipalities_with_an_accepted_eoi_can_be_named(session, g):
    provider = g.users["provider"]
    assert [m.id for m in applications.eligible_municipalities(session, g.call)] == [g.muni.id]
    # B submitted an EOI that is not (yet) accepted; C never expressed interest.
    assert refused_fields(applications.start, session, provider, g.call, g.orgs["municipality_b"].id) == {"municipality"}
    other = factories.org(session, OrgKind.MUNICIPALITY)
    assert refused_fields(applications.start, session, provider, g.call, other.id) == {"municipality"}
    # A rejected EOI does not open the municipality either.
    eois.decide(session, g.users["admin"], g.eoi_b, False, "Нема доволно образложение.")
    assert refused_fields(applications.start, session, provider, g.call, g.orgs["municipality_b"].id) == {"municipality"}
    # A provider organisation is never a municipality to name.
    assert refused_fields(applications.start, session, provider, g.call, g.orgs["provider"].id) == {"municipality"}
    assert session.scalar(sa.select(sa.func.count(Application.id))) == 0

    application = applications.start(session, provider, g.call, g.muni.id)
    assert (application.status, application.organisation_id, application.municipality_org_id) == (
        ApplicationStatus.DRAFT, g.orgs["provider"].id, g.muni.id)
    assert application.reference is None and application.endorsement == Endorsement.PENDING
    assert applications.start(session, provider, g.call, g.muni.id).id == application.id  # one per call and municipality
    assert actions(session, application) == ["application.created"]


def test_acceptance_in_another_call_for_eois_does_not_count(session, g):
    admin = g.users["admin"]
    elsewhere = factories.eoi_call(session, admin)
    factories.accepted_eoi(session, g.users["municipality_b"], admin, elsewhere)
    assert [m.id for m in applications.eligible_municipalities(session, g.call)] == [g.muni.id]
    with pytest.raises(ValidationFailed):
        applications.start(session, g.users["provider"], g.call, g.orgs["municipality_b"].id)
    unlinked = factories.grant_call(session, admin, elsewhere)
    unlinked.linked_call_id = None
    assert applications.eligible_municipalities(session, unlinked) == []


def test_only_provider_staff_start_and_only_in_a_published_grant_call(session, g):
    for role in ("municipality", "reviewer", "admin", "finance", "monitor"):
        with pytest.raises(NotAllowed):
            applications.start(session, g.users[role], g.call, g.muni.id)
    draft_call = factories.grant_call(session, g.users["admin"], g.eoi_call, publish=False)
    assert draft_call.status == CallStatus.DRAFT
    with pytest.raises(InvalidTransition):
        applications.start(session, g.users["provider"], draft_call, g.muni.id)
    with pytest.raises(InvalidTransition):  # a call for expressions of interest takes no applications
        applications.start(session, g.users["provider"], g.eoi_call, g.muni.id)


# Who may submit ---------------------------------------------------------------------------------------

def test_a_pending_provider_drafts_and_saves_but_cannot_submit(session, g):
    g.orgs["provider"].status = OrgStatus.PENDING
    application = draft(session, g)
    save(session, g, application, title="Дополнет наслов")
    assert application.title == "Дополнет наслов" and application.total_eur == Decimal("90000.00")
    with pytest.raises(InvalidTransition):
        applications.submit(session, g.users["provider"], application)
    assert application.status == ApplicationStatus.DRAFT and application.reference is None
    assert application.submissions == [] and "application.submitted" not in actions(session, application)
    assert not access.can_submit_for_organisation(g.users["provider"], g.orgs["provider"])
    g.orgs["provider"].status = OrgStatus.VERIFIED
    applications.submit(session, g.users["provider"], application)
    assert application.status == ApplicationStatus.SUBMITTED


def test_an_expired_licence_cannot_submit(session, g):
    provider = g.orgs["provider"]
    provider.licence_valid_from, provider.licence_valid_until = factories.a_date(-400), factories.a_date(-1)
    application = draft(session, g)
    with pytest.raises(InvalidTransition):
        applications.submit(session, g.users["provider"], application)
    assert application.status == ApplicationStatus.DRAFT
    provider.licence_valid_until = None
    with pytest.raises(InvalidTransition):
        applications.submit(session, g.users["provider"], application)


def test_the_licence_is_checked_on_the_skopje_date(session, g, monkeypatch):
    """At 23:30 UTC it is already the next day in Skopje (UTC+1 or +2): a licence valid until the UTC date has expired."""
    day = datetime.now(UTC).date() + timedelta(days=2)
    g.orgs["provider"].licence_valid_until = day
    application = draft(session, g)
    at(monkeypatch, datetime.combine(day, time(23, 30), tzinfo=UTC))
    assert clock.utc_to_skopje(clock.now()).date() == day + timedelta(days=1)
    with pytest.raises(InvalidTransition):
        applications.submit(session, g.users["provider"], application)
    at(monkeypatch, datetime.combine(day, time(21, 30), tzinfo=UTC))  # 22:30 or 23:30 in Skopje, still `day`
    applications.submit(session, g.users["provider"], application)
    assert application.status == ApplicationStatus.SUBMITTED


# Budget arithmetic ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("quantity", "unit", "months", "amount"), [
    ("1", "0.125", 1, "0.13"),        # half-up (half-even would give 0.12)
    ("3", "0.335", 1, "1.01"),        # 1.005 → 1.01 (half-even: 1.00)
    ("0.5", "0.25", 1, "0.13"),       # 0.125
    ("2.5", "10.01", 3, "75.08"),     # 75.075
    ("0.1", "0.1", 3, "0.03"),        # no binary floating point: 0.03 exactly
    ("5", "700.00", 24, "84000.00"),
    ("1", "0.004", 1, "0.00"),        # below half a cent rounds down
    ("40", "95.50", None, "3820.00"),  # no months given counts as one
])
def test_line_amount_is_quantity_times_unit_cost_times_months_rounded_half_up(quantity, unit, months, amount):
    result = applications.line_amount(LineRow("other", "", Decimal(quantity), Decimal(unit), months))
    assert result == Decimal(amount) and result.as_tuple().exponent == -2


def test_totals_add_the_rounded_lines_and_subtract_the_cofinancing():
    lines = [LineRow("other", "", Decimal("1"), Decimal("0.125"), 1)] * 3  # 0.13 each, not 0.375 → 0.38
    assert applications.totals(lines, Decimal("0.10")) == (Decimal("0.39"), Decimal("0.29"))
    lines = [LineRow("staff", "", Decimal("5"), Decimal("700.00"), 24), LineRow("training", "", Decimal("1"),
                                                                               Decimal("6000.00"), 1)]
    assert applications.totals(lines, Decimal("10000.00")) == (Decimal("90000.00"), Decimal("80000.00"))
    assert applications.totals(lines, None) == (Decimal("90000.00"), Decimal("90000.00"))
    assert applications.totals(lines, Decimal("95000.00"))[1] == Decimal("0.00")  # never negative
    assert applications.totals([], None) == (Decimal("0.00"), Decimal("0.00"))
    assert applications.cofinancing_share(Decimal("90000.00"), Decimal("10000.00")) == Decimal("11.11")
    assert applications.cofinancing_share(Decimal("80000.00"), Decimal("10000.00")) == Decimal("12.50")
    assert applications.cofinancing_share(Decimal("0.00"), Decimal("10.00")) == Decimal("0.00")
    assert applications.cofinancing_share(Decimal("100.00"), None) == Decimal("0.00")


def test_the_saved_budget_is_computed_on_the_server(session, g):
    application = draft(session, g, lines=[
        LineRow("staff", " Плати ", Decimal("5"), Decimal("700.00"), 24),
        LineRow("equipment", "Кревети", Decimal("3"), Decimal("0.335"), 1),
        LineRow("operating", "Гориво", Decimal("2.5"), Decimal("10.01"), 3)])
    assert [(line.category, line.description, line.amount_eur, line.position) for line in application.budget_lines] == [
        (BudgetCategory.STAFF, "Плати", Decimal("84000.00"), 0), (BudgetCategory.EQUIPMENT, "Кревети", Decimal("1.01"), 1),
        (BudgetCategory.OPERATING, "Гориво", Decimal("75.08"), 2)]
    assert (application.total_eur, application.requested_eur) == (Decimal("84076.09"), Decimal("74076.09"))
    assert application.cofinancing_pct == Decimal("11.89")
    # Whatever a client managed to put in the computed columns, the next save computes them again.
    application.total_eur, application.requested_eur = Decimal("1.00"), Decimal("999999.00")
    application.budget_lines[0].amount_eur = Decimal("5.00")
    session.flush()
    save(session, g, application, cofinancing_eur=Decimal("12000.00"))
    assert (application.total_eur, application.requested_eur) == (Decimal("90000.00"), Decimal("78000.00"))
    assert [line.amount_eur for line in application.budget_lines] == [Decimal("84000.00"), Decimal("6000.00")]
    session.expire_all()
    stored = session.get(Application, application.id)
    assert (stored.total_eur, stored.requested_eur) == (Decimal("90000.00"), Decimal("78000.00"))
    assert stored.start_month.day == 1  # the start month is kept as the first of the month


def test_the_grant_ceiling_is_checked_on_submission(session, g):
    call = g.call
    at_ceiling = data(session, g, cofinancing_eur=Decimal("50000.00"),
                      lines=[LineRow("staff", "Плати", Decimal("10"), Decimal("1000.00"), 25)])  # 250,000 − 50,000
    applications.validate(session, call, at_ceiling, complete=True)
    assert applications.totals(at_ceiling.lines, at_ceiling.cofinancing_eur)[1] == Decimal("200000.00")
    above = data(session, g, cofinancing_eur=Decimal("49999.99"), lines=at_ceiling.lines)  # 200,000.01 requested
    applications.validate(session, call, above, complete=False)  # a draft may be above the ceiling
    assert refused_fields(applications.validate, session, call, above, True) == {"lines"}
    application = draft(session, g, cofinancing_eur=Decimal("49999.99"), lines=at_ceiling.lines)
    assert refused_fields(applications.submit, session, g.users["provider"], application) == {"lines"}
    assert application.status == ApplicationStatus.DRAFT
    save(session, g, application, cofinancing_eur=Decimal("50000.00"), lines=at_ceiling.lines)
    applications.submit(session, g.users["provider"], application)
    assert application.requested_eur == Decimal("200000.00")


def test_the_minimum_cofinancing_is_checked_on_submission(session, g):
    lines = [LineRow("staff", "Плати", Decimal("1"), Decimal("100000.00"), 1)]
    applications.validate(session, g.call, data(session, g, lines=lines, cofinancing_eur=Decimal("10000.00")), True)
    for below in ("9999.99", "9000.00", "0.00"):  # 9.99999 %, 9 %, nothing
        assert refused_fields(applications.validate, session, g.call,
                              data(session, g, lines=lines, cofinancing_eur=Decimal(below)), True) == {"cofinancing_eur"}
    application = draft(session, g, lines=lines, cofinancing_eur=Decimal("9000.00"))
    assert refused_fields(applications.submit, session, g.users["provider"], application) == {"cofinancing_eur"}
    assert application.status == ApplicationStatus.DRAFT


STAFF = LineRow("staff", "Плати", Decimal("5"), Decimal("700.00"), 24)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"duration_months": 61}, "duration_months"),
    ({"duration_months": 0}, "duration_months"),
    ({"beneficiaries_per_month": -1}, "beneficiaries_per_month"),
    ({"cofinancing_eur": Decimal("-1.00")}, "cofinancing_eur"),
    ({"cofinancing_eur": Decimal("90000.01")}, "cofinancing_eur"),  # above the 90,000 total
    ({"certified_caregivers": 7}, "certified_caregivers"),  # six staff
    ({"positions": [PositionRow(" ", 1), PositionRow("Негувател/ка", 5)]}, "positions"),
    ({"positions": [PositionRow("Негувател/ка", 0), PositionRow("Координатор/ка", 6)]}, "positions"),
    ({"lines": [STAFF, LineRow("equipment", "Кревети", Decimal("0"), Decimal("700.00"), 1)]}, "lines"),
    ({"lines": [STAFF, LineRow("equipment", "Кревети", Decimal("2"), Decimal("-1.00"), 1)]}, "lines"),
    ({"lines": [STAFF, LineRow("equipment", "Кревети", Decimal("2"), Decimal("100.00"), 61)]}, "lines"),
    ({"lines": [STAFF, LineRow("unknown", "?", Decimal("1"), Decimal("1.00"), 1)]}, "lines"),
])
def test_invalid_values_are_refused_on_save_with_the_field_named(session, g, overrides, field):
    application = draft(session, g)
    version = application.version_id
    with pytest.raises(ValidationFailed) as refused:
        save(session, g, application, **overrides)
    assert set(refused.value.field_errors) == {field}
    assert application.version_id == version and application.total_eur == Decimal("90000.00")  # nothing changed


def test_the_duration_is_at_most_sixty_months(session, g):
    application = draft(session, g, duration_months=60)
    assert application.duration_months == 60
    with pytest.raises(ValidationFailed) as refused:
        save(session, g, application, duration_months=61)
    assert set(refused.value.field_errors) == {"duration_months"}
    assert application.duration_months == 60


def test_service_types_must_be_those_of_the_call(session, g):
    from portal.models import ServiceType

    foster = session.scalar(sa.select(ServiceType.id).where(ServiceType.code == "foster_care"))
    application = draft(session, g)
    with pytest.raises(ValidationFailed) as refused:
        save(session, g, application, service_type_ids=[foster])
    assert set(refused.value.field_errors) == {"service_type_ids"}
    save(session, g, application, service_type_ids=[])
    assert refused_fields(applications.submit, session, g.users["provider"], application) == {"service_type_ids"}


def test_the_per_user_price_is_refused_unless_the_call_funds_per_user(session, g):
    per_user = [LineRow("per_user", "Цена по корисник", Decimal("40"), Decimal("95.50"), 24)]
    assert BudgetCategory.PER_USER not in applications.categories_for(g.call)
    application = draft(session, g)
    with pytest.raises(ValidationFailed) as refused:
        save(session, g, application, lines=per_user)
    assert set(refused.value.field_errors) == {"lines"}
    assert [line.category for line in application.budget_lines] == [BudgetCategory.STAFF, BudgetCategory.TRAINING]
    calls.set_review_settings(session, g.users["admin"], g.call, review_settings(g.call, funds_per_user=True),
                              g.call.version_id)
    assert g.call.funds_per_user and BudgetCategory.PER_USER in applications.categories_for(g.call)
    save(session, g, application, lines=per_user)
    assert application.total_eur == Decimal("91680.00")  # 40 users × 95.50 × 24 months
    assert application.requested_eur == Decimal("81680.00")
    applications.submit(session, g.users["provider"], application)


def test_planned_hires_cannot_exceed_the_total_staff(session, g):
    category = session.scalar(sa.select(HardToEmployCategory.id).order_by(HardToEmployCategory.sort_order).limit(1))
    other = session.scalar(sa.select(HardToEmployCategory.id).where(HardToEmployCategory.id != category).limit(1))
    application = draft(session, g)
    with pytest.raises(ValidationFailed) as refused:  # 4 + 3 = 7 hires, 6 staff
        save(session, g, application, hires=[HireRow(category, 4), HireRow(other, 3)])
    assert set(refused.value.field_errors) == {"hires"}
    with pytest.raises(ValidationFailed) as refused:
        save(session, g, application, hires=[HireRow(category, 1), HireRow(category, 1)])
    assert set(refused.value.field_errors) == {"hires"}
    save(session, g, application, hires=[HireRow(category, 3), HireRow(other, 3)])  # exactly the six staff
    assert sorted(h.count for h in application.hires) == [3, 3]
    save(session, g, application, hires=[HireRow(category, 0)])  # zero rows are not stored
    assert application.hires == []


def test_submission_requires_every_field_and_the_required_documents(session, g):
    application = applications.start(session, g.users["provider"], g.call, g.muni.id)
    with pytest.raises(ValidationFailed) as refused:
        applications.submit(session, g.users["provider"], application)
    assert {"title", "summary", "service_type_ids", "beneficiaries_per_month", "start_month", "duration_months",
            "certified_caregivers", "cofinancing_eur", "positions", "lines"} <= set(refused.value.field_errors)
    applications.save(session, g.users["provider"], application, data(session, g), application.version_id)
    assert applications.missing_documents(session, application) == ["work_plan"]
    assert refused_fields(applications.submit, session, g.users["provider"], application) == {"documents"}
    factories.upload_application_document(session, g.users["provider"], application, "budget_detail")
    assert refused_fields(applications.submit, session, g.users["provider"], application) == {"documents"}
    assert application.status == ApplicationStatus.DRAFT and application.reference is None
    factories.upload_application_document(session, g.users["provider"], application, "work_plan")
    assert applications.missing_documents(session, application) == []
    applications.submit(session, g.users["provider"], application)
    assert application.status == ApplicationStatus.SUBMITTED


def test_a_stale_version_is_a_conflict(session, g):
    application = draft(session, g)
    stale = application.version_id
    save(session, g, application, title="Прва промена")
    with pytest.raises(Conflict):
        applications.save(session, g.users["provider"], application, data(session, g, title="Втора"), stale)
    assert application.title == "Прва промена"


# Deadline, read-only after submission, withdrawal ----------------------------------------------------

def test_submission_one_second_before_and_after_the_deadline(session, g, monkeypatch):
    early = draft(session, g)
    late = draft(session, g, provider="provider_b")
    at(monkeypatch, g.call.closes_at - timedelta(seconds=1))
    applications.submit(session, g.users["provider"], early)
    assert early.submitted_at == g.call.closes_at - timedelta(seconds=1)
    for moment in (g.call.closes_at, g.call.closes_at + timedelta(seconds=1)):
        at(monkeypatch, moment)
        with pytest.raises(InvalidTransition):
            applications.submit(session, g.users["provider_b"], late)
    assert (early.status, late.status) == (ApplicationStatus.SUBMITTED, ApplicationStatus.DRAFT)
    assert late.title == "Помош и нега во домот" and late.submissions == []  # the draft is kept


def test_submission_before_the_call_opens_is_refused(session, g, monkeypatch):
    application = draft(session, g)
    at(monkeypatch, g.call.opens_at - timedelta(seconds=1))
    with pytest.raises(InvalidTransition):
        applications.submit(session, g.users["provider"], application)
    at(monkeypatch, g.call.opens_at)
    applications.submit(session, g.users["provider"], application)


def test_a_submitted_application_is_read_only_with_a_reference_and_a_snapshot(session, g):
    application = submitted(session, g)
    second = submitted(session, g, provider="provider_b")
    assert application.reference == f"{g.call.reference}-A001" and second.reference == f"{g.call.reference}-A002"
    [snapshot] = application.submissions
    assert (snapshot.number, snapshot.submitted_by_id) == (1, g.users["provider"].id)
    assert snapshot.snapshot["total_eur"] == "90000.00" and snapshot.snapshot["requested_eur"] == "80000.00"
    assert [line["amount_eur"] for line in snapshot.snapshot["lines"]] == ["84000.00", "6000.00"]
    with pytest.raises(InvalidTransition):
        save(session, g, application, title="Промена по поднесувањето")
    with pytest.raises(InvalidTransition):
        applications.submit(session, g.users["provider"], application)
    assert application.title == "Помош и нега во домот" and len(application.submissions) == 1
    assert not applications.is_editable(application)


def test_withdrawal_only_before_the_deadline_then_edit_and_resubmit(session, g, monkeypatch):
    provider = g.users["provider"]
    not_yet = draft(session, g, provider="provider_b")
    with pytest.raises(InvalidTransition):  # a draft has nothing to withdraw
        applications.withdraw(session, g.users["provider_b"], not_yet, "")
    application = submitted(session, g)
    with pytest.raises(NotAllowed):
        applications.withdraw(session, g.users["provider_b"], application, "")
    at(monkeypatch, g.call.closes_at - timedelta(seconds=1))
    applications.withdraw(session, provider, application, "Грешка во буџетот")
    assert application.status == ApplicationStatus.WITHDRAWN and application.withdrawn_at == clock.now()
    assert applications.is_editable(application)
    save(session, g, application, cofinancing_eur=Decimal("15000.00"))
    assert application.requested_eur == Decimal("75000.00")
    applications.submit(session, provider, application)
    assert application.status == ApplicationStatus.SUBMITTED and application.reference == f"{g.call.reference}-A001"
    assert [s.number for s in application.submissions] == [1, 2]
    assert [s.snapshot["requested_eur"] for s in application.submissions] == ["80000.00", "75000.00"]
    at(monkeypatch, g.call.closes_at)
    with pytest.raises(InvalidTransition):
        applications.withdraw(session, provider, application, "Предоцна")
    assert application.status == ApplicationStatus.SUBMITTED
    withdrawn = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "application.withdrawn"))
    assert withdrawn.after == {"status": "withdrawn", "reason": "Грешка во буџетот"}


def test_resubmission_asks_the_municipality_again(session, g):
    provider, officer = g.users["provider"], g.users["municipality"]
    application = submitted(session, g)
    applications.endorse(session, officer, application, True, "Поддржуваме.")
    assert (application.endorsement, application.endorsed_by_id) == (Endorsement.ENDORSED, officer.id)
    applications.withdraw(session, provider, application, "")
    requests_before = len(mails(session, officer.email))
    applications.submit(session, provider, application)
    assert application.endorsement == Endorsement.PENDING
    assert (application.endorsed_by_id, application.endorsed_at, application.endorsement_reason) == (None, None, "")
    assert application.eligibility == Eligibility.PENDING and application.eligibility_answers == {}
    assert len(mails(session, officer.email)) == requests_before + 1
    applications.endorse(session, officer, application, False, "Немаме простор.")
    assert application.endorsement == Endorsement.DECLINED


def test_submission_queues_a_receipt_and_asks_every_active_municipal_officer(session, g):
    colleague = factories.user(session, Role.MUNICIPALITY, g.muni, language="en")
    factories.user(session, Role.MUNICIPALITY, g.muni, active=False)
    factories.user(session, Role.MUNICIPALITY, g.muni, password=None)  # invited, never activated
    provider_colleague = factories.user(session, Role.PROVIDER, g.orgs["provider"])
    already = {m.id for m in mails(session)}  # the EOI decisions of the fixture
    application = submitted(session, g)
    sent = [m for m in mails(session) if m.id not in already]
    assert sorted(m.to_address for m in sent) == sorted(
        [g.users["provider"].email, g.users["municipality"].email, colleague.email])
    assert not mails(session, provider_colleague.email)  # the receipt goes to who submitted
    [receipt] = mails(session, g.users["provider"].email)
    assert receipt.subject.endswith(application.reference)
    assert application.reference in receipt.body_text and "80000.00" in receipt.body_text
    [request] = mails(session, colleague.email)
    assert request.subject == f"Endorsement requested: application {application.reference}"  # in the officer's language
    assert "80000.00" in request.body_text and g.orgs["provider"].name in request.body_text
    assert all(m.status.value == "pending" for m in sent)


# Other organisations --------------------------------------------------------------------------------

def test_another_provider_never_touches_an_application(session, g):
    application = draft(session, g)
    other = g.users["provider_b"]
    with pytest.raises(NotAllowed):
        applications.save(session, other, application, data(session, g, title="Туѓо"), application.version_id)
    with pytest.raises(NotAllowed):
        applications.submit(session, other, application)
    with pytest.raises(NotAllowed):
        applications.get_visible(session, other, application.id)
    for role in ("municipality", "reviewer", "admin"):  # a draft is the provider's own
        with pytest.raises(NotAllowed):
            applications.get_visible(session, g.users[role], application.id)
    with pytest.raises(NotAllowed):
        applications.save(session, g.users["municipality"], application, data(session, g), application.version_id)
    # A colleague in the same organisation works on it.
    colleague = factories.user(session, Role.PROVIDER, g.orgs["provider"])
    applications.save(session, colleague, application, data(session, g, title="Од колега"), application.version_id)
    applications.submit(session, colleague, application)
    assert application.title == "Од колега" and application.submissions[0].submitted_by_id == colleague.id
    with pytest.raises(NotAllowed):
        applications.withdraw(session, other, application, "")
    assert applications.get_visible(session, g.users["municipality"], application.id) is application
    assert applications.get_visible(session, g.users["reviewer"], application.id) is application
    for outsider in ("provider_b", "municipality_b", "monitor"):
        with pytest.raises(NotAllowed):
            applications.get_visible(session, g.users[outsider], application.id)
    assert [a.id for a in applications.for_provider(session, g.orgs["provider"].id)] == [application.id]
    assert applications.for_provider(session, g.orgs["provider_b"].id) == []


def test_the_municipality_lists_only_submitted_applications_naming_it(session, g):
    submitted_one = submitted(session, g)
    draft(session, g, provider="provider_b")
    assert [a.id for a in applications.for_municipality(session, g.muni.id)] == [submitted_one.id]
    assert applications.for_municipality(session, g.orgs["municipality_b"].id) == []


# Endorsement ----------------------------------------------------------------------------------------------

def test_only_the_named_municipality_endorses(session, g):
    application = submitted(session, g)
    for someone in ("municipality_b", "provider", "reviewer", "admin"):
        with pytest.raises(NotAllowed):
            applications.endorse(session, g.users[someone], application, True, "")
    assert application.endorsement == Endorsement.PENDING
    officer = g.users["municipality"]
    applications.endorse(session, officer, application, True, "  Во согласност со проценката.  ")
    assert (application.endorsement, application.endorsement_reason, application.endorsed_by_id) == (
        Endorsement.ENDORSED, "Во согласност со проценката.", officer.id)
    assert application.endorsed_at is not None
    receipt, notice = mails(session, g.users["provider"].email)
    assert notice.subject != receipt.subject and notice.subject.endswith(application.reference)


def test_a_draft_or_withdrawn_application_is_not_endorsed(session, g):
    officer = g.users["municipality"]
    application = draft(session, g)
    with pytest.raises(InvalidTransition):
        applications.endorse(session, officer, application, True, "")
    applications.submit(session, g.users["provider"], application)
    applications.withdraw(session, g.users["provider"], application, "")
    with pytest.raises(InvalidTransition):
        applications.endorse(session, officer, application, True, "")
    assert application.endorsement == Endorsement.PENDING


def test_declining_needs_a_reason_that_the_provider_receives(session, g):
    officer = g.users["municipality"]
    application = submitted(session, g)
    for blank in ("", "   "):
        assert refused_fields(applications.endorse, session, officer, application, False, blank) == {"reason"}
    assert application.endorsement == Endorsement.PENDING
    applications.endorse(session, officer, application, False, "Услугата веќе ја нуди друг давател.")
    assert application.endorsement == Endorsement.DECLINED
    assert any("Услугата веќе ја нуди друг давател." in m.body_text for m in mails(session, g.users["provider"].email))


def test_an_application_is_endorsed_once(session, g):
    officer = g.users["municipality"]
    colleague = factories.user(session, Role.MUNICIPALITY, g.muni)
    application = submitted(session, g)
    applications.endorse(session, officer, application, True, "")
    with pytest.raises(InvalidTransition):
        applications.endorse(session, colleague, application, False, "Предомислување.")
    with pytest.raises(InvalidTransition):
        applications.endorse(session, officer, application, True, "")
    assert (application.endorsement, application.endorsed_by_id) == (Endorsement.ENDORSED, officer.id)
    assert actions(session, application).count("application.endorsed") == 1


def test_endorsement_closes_fourteen_days_after_the_call_by_default(session, g, monkeypatch):
    officer = g.users["municipality"]
    deadline = applications.endorsement_deadline(g.call)
    assert deadline == g.call.closes_at + timedelta(days=14)
    late, in_time = submitted(session, g), submitted(session, g, provider="provider_b")
    at(monkeypatch, deadline)
    with pytest.raises(InvalidTransition):
        applications.endorse(session, officer, late, True, "")
    at(monkeypatch, deadline + timedelta(seconds=1))
    with pytest.raises(InvalidTransition):
        applications.endorse(session, officer, late, False, "Доцна.")
    assert late.endorsement == Endorsement.PENDING
    at(monkeypatch, deadline - timedelta(seconds=1))
    applications.endorse(session, officer, in_time, True, "")
    assert in_time.endorsement == Endorsement.ENDORSED


def test_the_call_can_set_its_own_endorsement_deadline(session, g, monkeypatch):
    admin, officer = g.users["admin"], g.users["municipality"]
    too_early = review_settings(g.call, endorsement_closes_at=g.call.closes_at)
    assert refused_fields(calls.set_review_settings, session, admin, g.call, too_early,
                          g.call.version_id) == {"endorsement_closes_at"}
    own = g.call.closes_at + timedelta(days=3)
    calls.set_review_settings(session, admin, g.call, review_settings(g.call, endorsement_closes_at=own),
                              g.call.version_id)
    assert applications.endorsement_deadline(g.call) == own
    first, second = submitted(session, g), submitted(session, g, provider="provider_b")
    at(monkeypatch, own - timedelta(seconds=1))
    applications.endorse(session, officer, first, True, "")
    at(monkeypatch, own)
    with pytest.raises(InvalidTransition):  # well before the default fourteen days
        applications.endorse(session, officer, second, True, "")


# The audit trail -----------------------------------------------------------------------------------------

def test_every_transition_is_audited_with_its_actor(session, g):
    provider, officer = g.users["provider"], g.users["municipality"]
    application = draft(session, g)
    save(session, g, application)  # nothing changed: no row
    assert actions(session, application) == ["application.created", "application.saved"]
    applications.submit(session, provider, application)
    applications.endorse(session, officer, application, True, "")
    applications.withdraw(session, provider, application, "Ќе дополниме")
    save(session, g, application, title="Дополнето")
    applications.submit(session, provider, application)
    applications.endorse(session, officer, application, False, "Не е во планот.")
    events = list(session.scalars(sa.select(AuditEvent).where(
        AuditEvent.object_type == "application", AuditEvent.object_id == str(application.id)).order_by(AuditEvent.id)))
    assert [(e.action, e.actor_id) for e in events] == [
        ("application.created", provider.id), ("application.saved", provider.id),
        ("application.submitted", provider.id), ("application.endorsed", officer.id),
        ("application.withdrawn", provider.id), ("application.saved", provider.id),
        ("application.submitted", provider.id), ("application.declined", officer.id)]
    saved = events[5]
    assert (saved.before["title"], saved.after["title"]) == ("Помош и нега во домот", "Дополнето")
    assert events[2].after == {"status": "submitted", "reference": application.reference, "submission": 1,
                               "requested_eur": "80000.00"}
    assert events[6].before == {"status": "withdrawn"} and events[6].after["submission"] == 2
    assert events[7].after == {"endorsement": "declined", "reason": "Не е во планот."}
    assert session.scalar(sa.select(sa.func.count(ApplicationSubmission.id))) == 2
