"""Agreements, the ledger and its invariants, the four-eyes tranche workflow — and the invariants
under 200 real parallel connections on PostgreSQL."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.applications import review
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.grants import ledger
from portal.grants import services as grants
from portal.grants.services import Terms, TrancheRow
from portal.models import (
    AgreementVersion,
    Application,
    ApplicationStatus,
    AuditEvent,
    Call,
    CallKind,
    CallStatus,
    EntryKind,
    GrantAgreement,
    LedgerEntry,
    OrgKind,
    Outcome,
    Programme,
    Role,
    TrancheStatus,
)
from tests import factories
from tests.conftest import is_postgres
from tests.test_grant_workflow import ctx, g, scored  # noqa: F401  (fixtures and builders shared with the workflow)

_numbers = itertools.count(1)


@pytest.fixture
def award(session, g, monkeypatch):  # noqa: F811
    """An application awarded 80,000.00 EUR after the call's deadline."""
    application = scored(session, g, "provider", (40, 30, 20), (38, 30, 20))
    monkeypatch.setattr(clock, "now", lambda: g.call.closes_at + timedelta(minutes=1))
    review.decide(session, g.users["admin"], application, Outcome.AWARD, Decimal("78000.00"), "", "Прва.")
    g.application = application
    return g


def terms(committed="78000.00", tranches=(("30000.00", 0), ("48000.00", 3)), **overrides) -> Terms:
    values = dict(signature_date=date(2027, 1, 15), start_date=date(2027, 2, 1), end_date=date(2029, 1, 31),
                  committed_eur=Decimal(committed),
                  tranches=[TrancheRow(date(2027, 2, 1) + timedelta(days=90 * i), Decimal(a), n)
                            for i, (a, n) in enumerate(tranches)])
    values.update(overrides)
    return Terms(**values)


def sign(session, w, **overrides):
    return grants.create_agreement(session, w.users["finance"], w.application, f"SSIP-GA-{next(_numbers):03d}",
                                   terms(**overrides))


# Agreements ------------------------------------------------------------------------------------------------

def test_an_award_becomes_an_agreement_and_a_commitment(session, award):
    agreement = sign(session, award)
    entry = session.scalar(sa.select(LedgerEntry).where(LedgerEntry.agreement_id == agreement.id))
    assert (entry.kind, entry.amount_eur, entry.eur_mkd, entry.amount_mkd) == (
        EntryKind.COMMITMENT, Decimal("78000.00"), Decimal("61.5000"), Decimal("4797000.00"))
    assert [t.amount_eur for t in agreement.tranches] == [Decimal("30000.00"), Decimal("48000.00")]
    assert ledger.committed_to(session, agreement.id) == Decimal("78000.00")
    with pytest.raises(InvalidTransition):
        sign(session, award)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"committed": "78000.01", "tranches": (("78000.01", 0),)}, "committed_eur"),  # more than the award
    ({"tranches": (("30000.00", 0), ("40000.00", 3))}, "tranches"),                 # do not add up
    ({"end_date": date(2032, 2, 2)}, "end_date"),                                   # over 60 months
])
def test_agreement_terms_are_checked(session, award, overrides, field):
    with pytest.raises(ValidationFailed) as refused:
        sign(session, award, **overrides)
    assert field in refused.value.field_errors
    assert session.scalar(sa.select(sa.func.count(GrantAgreement.id))) == 0


def test_only_finance_or_admin_sign_and_only_awards(session, award):
    with pytest.raises(NotAllowed):
        grants.create_agreement(session, award.users["reviewer"], award.application, "X-1", terms())
    award.application.status = ApplicationStatus.RESERVE
    with pytest.raises(InvalidTransition):
        sign(session, award)


def test_amendments_are_versions_and_pass_the_same_checks(session, award):
    agreement = sign(session, award)
    award.call.allocation_eur = Decimal("80000.00")
    with pytest.raises(ValidationFailed):  # +5,000 would pass the call's allocation
        grants.amend(session, award.users["finance"], agreement,
                     terms(committed="83000.00", tranches=(("35000.00", 0), ("48000.00", 3))), "Повеќе корисници", expected_version=1)
    grants.amend(session, award.users["finance"], agreement,
                 terms(committed="80000.00", tranches=(("32000.00", 0), ("48000.00", 3))), "Повеќе корисници", expected_version=1)
    grants.amend(session, award.users["finance"], agreement,
                 terms(committed="70000.00", tranches=(("22000.00", 0), ("48000.00", 3))), "Помалку корисници", expected_version=2)
    session.refresh(agreement)
    assert [(v.version, v.committed_eur) for v in agreement.versions] == [
        (1, Decimal("78000.00")), (2, Decimal("80000.00")), (3, Decimal("70000.00"))]
    amounts = session.scalars(sa.select(LedgerEntry.amount_eur).where(LedgerEntry.agreement_id == agreement.id)
                              .order_by(LedgerEntry.id)).all()
    assert amounts == [Decimal("78000.00"), Decimal("2000.00"), Decimal("-10000.00")]
    assert ledger.committed_to(session, agreement.id) == Decimal("70000.00")
    with pytest.raises(ValidationFailed):
        grants.amend(session, award.users["finance"], agreement, terms(), " ", expected_version=3)


def test_an_amendment_from_an_old_version_is_refused_and_names_the_other_change(session, award):
    """Two finance officers open the amendment form at version 1; the first saves, the second's save is
    refused (no second version, no ledger entry booked against the wrong base)."""
    agreement = sign(session, award)
    grants.amend(session, award.users["finance"], agreement,
                 terms(committed="77000.00", tranches=(("29000.00", 0), ("48000.00", 3))), "Помалку", expected_version=1)
    with pytest.raises(Conflict) as caught:
        grants.amend(session, award.users["finance"], agreement,
                     terms(committed="80000.00", tranches=(("32000.00", 0), ("48000.00", 3))), "Повеќе", expected_version=1)
    assert "77000.00" in str(caught.value.message) and "Помалку" in str(caught.value.message)
    with pytest.raises(Conflict):  # a form without a version is refused too
        grants.amend(session, award.users["finance"], agreement, terms(committed="77000.00"), "x")
    amounts = session.scalars(sa.select(LedgerEntry.amount_eur).where(LedgerEntry.agreement_id == agreement.id)
                              .order_by(LedgerEntry.id)).all()
    assert amounts == [Decimal("78000.00"), Decimal("-1000.00")]
    session.refresh(agreement)
    assert [v.version for v in agreement.versions] == [1, 2]


def test_a_tranche_decision_from_a_stale_page_is_refused(session, award):
    """The approver's page showed version N; an amendment or another click moved the tranche since:
    the approval is refused and names the tranche's state now, instead of approving another amount."""
    agreement = sign(session, award)
    advance = agreement.tranches[0]
    finance, admin = award.users["finance"], award.users["admin"]
    shown = advance.version_id
    grants.request_release(session, finance, advance, expected_version=shown)
    with pytest.raises(Conflict) as caught:
        grants.approve_release(session, admin, advance, expected_version=shown)
    assert "30000.00" in str(caught.value.message)
    assert advance.status == TrancheStatus.REQUESTED
    grants.approve_release(session, admin, advance, expected_version=advance.version_id)
    assert advance.status == TrancheStatus.APPROVED


# Tranches: four eyes and conditions ----------------------------------------------------------------------

def test_tranche_release_four_eyes_then_paid(session, award):
    agreement = sign(session, award)
    advance, second = agreement.tranches
    finance, admin = award.users["finance"], award.users["admin"]
    today = clock.utc_to_skopje(clock.now()).date()
    with pytest.raises(NotAllowed):
        grants.request_release(session, admin, advance)  # finance requests
    with pytest.raises(InvalidTransition):
        grants.approve_release(session, admin, advance)  # nothing requested yet
    grants.request_release(session, finance, advance)
    with pytest.raises(NotAllowed):
        grants.approve_release(session, finance, advance)  # the requester cannot approve
    with pytest.raises(InvalidTransition):
        grants.mark_paid(session, finance, advance, today, "MK07-0001")  # not approved
    grants.approve_release(session, admin, advance)
    with pytest.raises(ValidationFailed):
        grants.mark_paid(session, finance, advance, today, " ")
    with pytest.raises(ValidationFailed):
        grants.mark_paid(session, finance, advance, today + timedelta(days=1), "MK07-0001")
    grants.mark_paid(session, finance, advance, today, "MK07-0001")
    assert advance.status == TrancheStatus.PAID
    assert ledger.paid_to(session, agreement.id) == Decimal("30000.00")
    with pytest.raises(InvalidTransition):  # reports accepted up to month 3 are required
        grants.request_release(session, finance, second)
    actions = session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "tranche")
                              .order_by(AuditEvent.id)).all()
    assert actions == ["tranche.requested", "tranche.approved", "tranche.paid"]


# The ledger -----------------------------------------------------------------------------------------------

def test_payments_never_exceed_the_commitment_and_reversals_are_entries(session, award):
    agreement = sign(session, award)
    finance = award.users["finance"]
    paid = ledger.disburse(session, finance, agreement, Decimal("78000.00"), "Целосно")
    with pytest.raises(ValidationFailed):
        ledger.disburse(session, finance, agreement, Decimal("0.01"))
    commitment = session.scalar(sa.select(LedgerEntry).where(LedgerEntry.agreement_id == agreement.id,
                                                             LedgerEntry.kind == EntryKind.COMMITMENT))
    with pytest.raises(ValidationFailed):  # would leave less committed than paid
        ledger.reverse(session, finance, commitment, "Грешка")
    correction = ledger.reverse(session, finance, paid, "Двојно внесено")
    assert (correction.amount_eur, correction.reverses_id) == (Decimal("-78000.00"), paid.id)
    assert ledger.paid_to(session, agreement.id) == Decimal("0.00")
    with pytest.raises(InvalidTransition):
        ledger.reverse(session, finance, paid, "Пак")
    with pytest.raises(InvalidTransition):
        ledger.reverse(session, finance, correction, "Пак")


def test_the_database_refuses_to_change_a_ledger_entry(session, award):
    agreement = sign(session, award)
    entry_id = session.scalar(sa.select(LedgerEntry.id).where(LedgerEntry.agreement_id == agreement.id))
    for statement in (sa.update(LedgerEntry).where(LedgerEntry.id == entry_id).values(amount_eur=1),
                      sa.delete(LedgerEntry).where(LedgerEntry.id == entry_id)):
        with pytest.raises(sa.exc.DatabaseError), session.begin_nested():
            session.execute(statement)


def test_the_envelope_caps_commitments(session, award):
    programme = session.get(Programme, award.call.programme_id)
    programme.envelope_eur = ledger.committed_in_programme(session, programme.id) + Decimal("50000.00")
    with pytest.raises(ValidationFailed) as refused:
        sign(session, award)
    assert "amount" in refused.value.field_errors
    totals = ledger.totals(session, programme)
    assert totals.committed == Decimal("0") and totals.uncommitted == Decimal("50000.00")


# 200 parallel connections on PostgreSQL ------------------------------------------------------------------

@pytest.fixture
def isolated(base_app):
    """A programme of its own with a small envelope, a call, one agreement and a finance officer, committed
    for real (the parallel sessions must see them). The programme is separate, so the other tests' sums
    are untouched; ledger rows cannot be deleted, by design."""
    if not is_postgres():
        pytest.skip("row locks under parallel connections are proven on PostgreSQL")
    engine = base_app.extensions["db_engine"]
    with base_app.app_context(), Session(engine) as setup:
        ministry = factories.org(setup, OrgKind.MINISTRY)
        finance = factories.user(setup, Role.FINANCE, ministry)
        provider, municipality = factories.org(setup, OrgKind.PROVIDER), factories.org(setup, OrgKind.MUNICIPALITY)
        programme = Programme(name="Concurrency", loan_reference="TEST", envelope_eur=Decimal("1000.00"))
        setup.add(programme)
        setup.flush()
        now = clock.now()
        call = Call(programme_id=programme.id, kind=CallKind.GRANT, reference=f"PAR-{next(_numbers)}-{now:%H%M%S%f}",
                    title_mk="Т", title_sq="T", title_en="T", opens_at=now - timedelta(days=2), closes_at=now,
                    allocation_eur=Decimal("2000.00"), status=CallStatus.DECIDED)
        setup.add(call)
        setup.flush()
        application = Application(call_id=call.id, organisation_id=provider.id, municipality_org_id=municipality.id,
                                  status=ApplicationStatus.AWARDED)
        setup.add(application)
        setup.flush()
        agreement = GrantAgreement(application_id=application.id, call_id=call.id, organisation_id=provider.id,
                                   municipality_org_id=municipality.id, number=call.reference, created_by_id=finance.id)
        setup.add(agreement)
        setup.flush()
        setup.add(AgreementVersion(agreement_id=agreement.id, version=1, signature_date=date(2027, 1, 1),
                                   start_date=date(2027, 2, 1), end_date=date(2028, 1, 31),
                                   committed_eur=Decimal("1000.00"), created_by_id=finance.id))
        setup.commit()
        ids = (finance.id, agreement.id, programme.id)
    return base_app, engine, ids


def _parallel(app, engine, work, attempts=200, workers=12):
    def attempt(_n: int) -> bool:
        with app.test_request_context(), Session(engine) as session:
            try:
                work(session)
                session.commit()
                return True
            except ValidationFailed:
                session.rollback()
                return False

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(attempt, range(attempts)))


def test_200_parallel_commitments_never_overcommit(isolated):
    app, engine, (finance_id, agreement_id, programme_id) = isolated
    from portal.models import User

    def commit(session):
        ledger.commit(session, session.get(User, finance_id), session.get(GrantAgreement, agreement_id), Decimal("30.00"))

    succeeded = _parallel(app, engine, commit)
    with Session(engine) as check:
        committed = ledger.committed_in_programme(check, programme_id)
    assert succeeded == 33  # ⌊1000.00 / 30.00⌋
    assert committed == Decimal("990.00")
    assert max(committed - Decimal("1000.00"), Decimal("0")) == Decimal("0.00")  # overcommitment


def test_200_parallel_payments_never_overpay(isolated):
    app, engine, (finance_id, agreement_id, _programme_id) = isolated
    from portal.models import User

    with app.test_request_context(), Session(engine) as session:
        ledger.commit(session, session.get(User, finance_id), session.get(GrantAgreement, agreement_id), Decimal("1000.00"))
        session.commit()

    def pay(session):
        ledger.disburse(session, session.get(User, finance_id), session.get(GrantAgreement, agreement_id), Decimal("30.00"))

    succeeded = _parallel(app, engine, pay)
    with Session(engine) as check:
        paid = ledger.paid_to(check, agreement_id)
    assert succeeded == 33
    assert paid == Decimal("990.00")


def test_month_arithmetic_and_the_five_month_start_warning(ctx):  # noqa: F811
    assert grants.add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert grants.add_months(date(2027, 11, 15), 60) == date(2032, 11, 15)
    assert grants.start_warning(terms(start_date=date(2027, 6, 15))) is None  # exactly five months
    assert grants.start_warning(terms(start_date=date(2027, 6, 16))) is not None


# Query counts ---------------------------------------------------------------------------------------------

def _agreements(app, session, world, call, count: int) -> None:
    from portal.models import AwardDecision

    with app.test_request_context():
        for _n in range(count):
            provider = factories.org(session, OrgKind.PROVIDER)
            application = Application(call_id=call.id, organisation_id=provider.id,
                                      municipality_org_id=world.orgs["municipality"].id, status=ApplicationStatus.AWARDED)
            session.add(application)
            session.flush()
            session.add(AwardDecision(application_id=application.id, outcome=Outcome.AWARD,
                                      amount_eur=Decimal("10000.00"), reasons="Да.", decided_by_id=world.users["admin"].id))
            session.flush()
            agreement = grants.create_agreement(session, world.users["admin"], application, f"Q-{next(_numbers)}", terms(
                committed="10000.00", tranches=(("4000.00", 0), ("6000.00", 6))))
            grants.request_release(session, world.users["finance"], agreement.tranches[0])
            grants.approve_release(session, world.users["admin"], agreement.tranches[0])
            grants.mark_paid(session, world.users["finance"], agreement.tranches[0], date(2026, 11, 2), "REF")
        session.commit()


@pytest.mark.parametrize(("role", "path", "expected"), [
    # The IFR: two more for its uses of funds (eligible per period end and category; the plan per category).
    ("finance", "/grants", 6), ("monitor", "/envelope", 10), ("finance", "/envelope/ifr.xlsx", 9),
    ("finance", "/envelope/ledger.xlsx", 2),
])
def test_money_pages_do_not_grow_with_agreements(app, client, world, session, role, path, expected):
    from tests.conftest import count_queries, login

    with app.test_request_context():
        call = factories.eoi_call(session, world.users["admin"], kind=CallKind.GRANT, allocation_eur=Decimal("500000.00"))
        session.commit()
    _agreements(app, session, world, call, 1)
    login(client, world.users[role])
    assert client.get(path).status_code == 200
    with count_queries(app) as few:
        client.get(path)
    _agreements(app, session, world, call, 5)
    with count_queries(app) as many:
        response = client.get(path)
    assert response.status_code == 200
    assert (few.count, many.count) == (expected, expected), "\n".join(many.statements)


def test_the_call_template_proposes_a_schedule_that_adds_up(ctx, session, g):  # noqa: F811
    from portal.calls import services as calls

    rows = grants.schedule_from_template(g.call, Decimal("100000.01"), date(2027, 1, 1))
    assert [(r.planned_date, r.amount_eur, r.reports_required_through) for r in rows] == [
        (date(2027, 1, 1), Decimal("30000.00"), 0), (date(2027, 7, 1), Decimal("25000.00"), 6),
        (date(2028, 1, 1), Decimal("25000.00"), 12), (date(2028, 7, 1), Decimal("20000.01"), 18)]
    g.call.tranche_template = calls.parse_tranche_template("33; 0; 0\n33%; 12; 12\n34;24;24")
    thirds = grants.schedule_from_template(g.call, Decimal("10.00"), date(2027, 1, 31))
    assert [(r.planned_date, r.amount_eur) for r in thirds] == [
        (date(2027, 1, 31), Decimal("3.30")), (date(2028, 1, 31), Decimal("3.30")), (date(2029, 1, 31), Decimal("3.40"))]
    assert sum(r.amount_eur for r in thirds) == Decimal("10.00")
    for text in ("30; 0; 0\n60; 6; 6", "50; 6; 0\n50; 0; 0", "100; 61; 0", "trideset"):
        with pytest.raises(ValidationFailed) as refused:
            calls.parse_tranche_template(text)
        assert "tranche_template" in refused.value.field_errors
    assert calls.parse_tranche_template("  \n") == []

