"""Tranche release conditions tied to money (issue 18): financial reports accepted up to a period and a minimum share
of the money disbursed before spent — met exactly at the percentage, not a cent below; a submitted or returned
report does not count; request and approval are refused (409, in the user's language) while one is unmet; the
agreement form sets them, validated; the confirmation page shows both."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal import clock
from portal.errors import InvalidTransition, ValidationFailed
from portal.finance_reports import conditions
from portal.finance_reports import services as finance
from portal.grants import services as grants
from portal.models import AuditEvent, Tranche, TrancheStatus
from tests import factories
from tests.conftest import login
from tests.test_financial_reports import _fill, budget
from tests.test_form_markup import check_markup


@pytest.fixture
def grant(app, world, session):
    """Four months in (period 1 has ended, period 2 has begun), two budget lines of 20,000.00, the advance of
    12,000.00 paid; tranche 2 (28,000.00) with no monthly-report condition."""
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                           world.orgs["municipality"], start=factories.months_ago(4))
        budget(session, agreement, ("20000.00", "20000.00"))
        advance, second = agreement.tranches
        grants.request_release(session, world.users["finance"], advance)
        grants.approve_release(session, world.users["admin"], advance)
        grants.mark_paid(session, world.users["finance"], advance,
                         clock.utc_to_skopje(clock.now()).date() - timedelta(days=30), "MK07-ADV")
        second.reports_required_through = 0
        session.commit()
    return agreement


def _report(session, world, agreement, *amounts, number=1, accept=True):
    report = finance.start(session, world.users["provider"], agreement, number)
    session.flush()
    finance.save(session, world.users["provider"], report, _fill(finance.budget_lines(agreement), *amounts),
                 report.newest.edit_version)
    finance.submit(session, world.users["provider"], report)
    if accept:
        finance.accept(session, world.users["finance"], report)
    return report


def _second(agreement) -> Tranche:
    return agreement.tranches[1]


@pytest.mark.parametrize(("spent", "met"), [("6000.00", True), ("5999.99", False)])
def test_the_share_spent_is_met_exactly_at_the_percentage(app, world, session, grant, spent, met):
    """50 % of the 12,000.00 disbursed before is 6,000.00: exactly that is enough, one cent less is not."""
    with app.test_request_context():
        tranche = _second(grant)
        tranche.min_spent_pct = Decimal("50.00")
        _report(session, world, grant, spent, "0.00")
        (condition,) = conditions.release_conditions(session, tranche)
        assert (condition.kind, condition.met) == (conditions.SPENT_SHARE, met)
        assert (condition.spent, condition.disbursed) == (Decimal(spent), Decimal("12000.00"))
        assert isinstance(condition.actual, Decimal)
        if met:
            grants.request_release(session, world.users["finance"], tranche)
            assert tranche.status == TrancheStatus.REQUESTED
        else:
            with pytest.raises(InvalidTransition) as refused:
                grants.request_release(session, world.users["finance"], tranche)
            assert "50" in str(refused.value.message) and tranche.status == TrancheStatus.PLANNED


def test_the_share_spent_counts_every_accepted_period_and_nothing_else(app, world, session, grant):
    """Cumulative over accepted periods; the tranche's own payment is never part of 'disbursed before'."""
    with app.test_request_context():
        tranche = _second(grant)
        tranche.min_spent_pct = Decimal("100")
        assert conditions.disbursed_before(session, tranche) == Decimal("12000.00")
        assert conditions.disbursed_before(session, grant.tranches[0]) == Decimal("0.00")  # its own payment excluded
        _report(session, world, grant, "4000.00", "2000.00")
        assert not conditions.release_conditions(session, tranche)[0].met
        _report(session, world, grant, "3000.00", "3000.00", number=2)  # period 2 has begun
        (condition,) = conditions.release_conditions(session, tranche)
        assert condition.met and condition.spent == Decimal("12000.00") and condition.actual == Decimal("100.00")


def test_nothing_disbursed_before_needs_nothing_spent(app, world, session):
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                           world.orgs["municipality"], start=factories.months_ago(4))
        tranche = agreement.tranches[0]
        tranche.min_spent_pct = Decimal("80")
        (condition,) = conditions.release_conditions(session, tranche)
    assert condition.met and condition.disbursed == Decimal("0.00")


def test_the_period_must_be_accepted_and_a_returned_report_does_not_count(app, world, session, grant):
    with app.test_request_context():
        tranche = _second(grant)
        tranche.requires_finance_period, tranche.min_spent_pct = 1, Decimal("10")
        assert [c.met for c in conditions.release_conditions(session, tranche)] == [False, False]
        report = _report(session, world, grant, "5000.00", "0.00", accept=False)  # submitted, not accepted
        assert [c.met for c in conditions.release_conditions(session, tranche)] == [False, False]
        finance.return_report(session, world.users["finance"], report, "Недостасува извод.")
        assert [c.met for c in conditions.release_conditions(session, tranche)] == [False, False]
        with pytest.raises(InvalidTransition) as refused:
            grants.request_release(session, world.users["finance"], tranche)
        message = str(refused.value.message)
        assert "1" in message and "0" in message  # accepted up to period 0 of the 1 required
        finance.revise(session, world.users["provider"], report)
        finance.save(session, world.users["provider"], report, _fill(finance.budget_lines(grant), "4800.00", "0.00"),
                     report.newest.edit_version)
        finance.submit(session, world.users["provider"], report)
        finance.accept(session, world.users["finance"], report)
        found = conditions.release_conditions(session, tranche)
        assert [c.met for c in found] == [True, True]
        assert found[1].spent == Decimal("4800.00")  # the accepted version, not the returned one
        grants.request_release(session, world.users["finance"], tranche)
        assert tranche.status == TrancheStatus.REQUESTED


def test_the_routes_refuse_with_409_naming_the_condition(app, world, session, grant, client):
    """Request refused while unmet (409, Macedonian, nothing changes); an approval is refused too if a condition
    stops being met after the request; the confirmation page shows both conditions and offers no approval."""
    with app.test_request_context():
        tranche = _second(grant)
        tranche.requires_finance_period, tranche.min_spent_pct = 1, Decimal("50")
        session.commit()
    login(client, world.users["finance"])
    page = client.get(f"/grants/{grant.id}").get_data(as_text=True)
    assert f"/tranches/{tranche.id}/request" not in page and "финансиските извештаи" in page
    refused = client.post(f"/tranches/{tranche.id}/request", data={"version_id": str(tranche.version_id)})
    assert refused.status_code == 409
    body = refused.get_data(as_text=True)
    assert "финансиски извештаи до период 1" in body and "прифатени се до период 0" in body
    session.expire_all()
    assert session.get(Tranche, tranche.id).status == TrancheStatus.PLANNED
    with app.test_request_context():
        _report(session, world, grant, "6000.00", "0.00")
        session.commit()
    assert client.post(f"/tranches/{tranche.id}/request", data={"version_id": str(tranche.version_id)}).status_code == 302
    login(client, world.users["admin"])
    session.expire_all()
    tranche = session.get(Tranche, tranche.id)
    confirm = client.post(f"/tranches/{tranche.id}/approve", data={"version_id": str(tranche.version_id)})
    assert confirm.status_code == 200
    body = confirm.get_data(as_text=True)
    assert body.count("tag--accepted") == 2 and 'name="confirmed"' in body
    check_markup(body, "tranche approval with money conditions")
    # The condition asks for more than is spent now (as if the tranche had been set so): no approval.
    session.execute(sa.update(Tranche).where(Tranche.id == tranche.id).values(min_spent_pct=Decimal("50.01")))
    session.commit()
    confirm = client.post(f"/tranches/{tranche.id}/approve", data={"version_id": str(tranche.version_id)})
    body = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "tag--missing" in body and 'name="confirmed"' not in body
    check_markup(body, "tranche approval refused")
    refused = client.post(f"/tranches/{tranche.id}/approve",
                          data={"version_id": str(tranche.version_id), "confirmed": "yes"})
    assert refused.status_code == 409 and "50,01" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Tranche, tranche.id).status == TrancheStatus.REQUESTED


def test_the_agreement_form_sets_the_conditions_with_validation(app, world, session, grant, client):
    """Amendment form: period within the grant's periods (8 quarters), 0–100 % with two decimals at most."""
    login(client, world.users["finance"])
    page = client.get(f"/grants/{grant.id}/amend")
    assert page.status_code == 200 and 'name="tranches-1-requires_finance_period"' in page.get_data(as_text=True)
    check_markup(page.get_data(as_text=True), "amendment form with money conditions")
    current = grant.current
    data = {"expected_version": str(current.version), "signature_date": current.signature_date.isoformat(),
            "start_date": current.start_date.isoformat(), "end_date": current.end_date.isoformat(),
            "committed_eur": "40000.00", "reason": "Услови за исплата.", "submit": "1"}
    for index, tranche in enumerate(grant.tranches):
        data |= {f"tranches-{index}-planned_date": tranche.planned_date.isoformat(),
                 f"tranches-{index}-amount_eur": str(tranche.amount_eur),
                 f"tranches-{index}-reports_required_through": str(tranche.reports_required_through)}
    for bad in ({"tranches-1-requires_finance_period": "9"}, {"tranches-1-min_spent_pct": "100.01"},
                {"tranches-1-min_spent_pct": "-1"}):
        refused = client.post(f"/grants/{grant.id}/amend", data=data | bad)
        assert refused.status_code == 422, bad
    saved = client.post(f"/grants/{grant.id}/amend", data=data | {"tranches-1-requires_finance_period": "8",
                                                                   "tranches-1-min_spent_pct": "75.5"})
    assert saved.status_code == 302
    session.expire_all()
    tranche = session.get(Tranche, _second(grant).id)
    assert (tranche.requires_finance_period, tranche.min_spent_pct) == (8, Decimal("75.50"))
    after = session.scalar(sa.select(AuditEvent.after).where(AuditEvent.action == "agreement.amended")
                           .order_by(AuditEvent.id.desc()).limit(1))
    assert after["conditions"][1][1:] == [8, "75.50"]
    # A tranche already in payment keeps its conditions.
    with app.test_request_context():
        session.expire_all()
        agreement = session.get(type(grant), grant.id)
        rows = [grants.row_of(t) for t in agreement.tranches]
        rows[0].min_spent_pct = Decimal("10")
        with pytest.raises(ValidationFailed):
            grants.amend(session, world.users["finance"], agreement, grants.Terms(
                agreement.current.signature_date, agreement.current.start_date, agreement.current.end_date,
                agreement.current.committed_eur, rows), "Промена.", expected_version=agreement.current.version)


def test_the_service_checks_the_period_against_the_grants_periods(app, world, session):
    with app.test_request_context():
        call_grant = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                            world.orgs["municipality"], months=12)
        call = call_grant.call
        start, end = call_grant.current.start_date, call_grant.current.end_date
        assert conditions.period_count(call, start, end) == len(finance.periods(call_grant)) == 4
        assert conditions.validate_row(call, start, end, 2, 4, Decimal("100")) == []
        assert conditions.validate_row(call, start, end, 2, 0, None) and conditions.validate_row(call, start, end, 2, 5, None)
        assert conditions.validate_row(call, start, end, 2, None, Decimal("100.01"))
        assert conditions.validate_row(call, start, end, 2, None, Decimal("10.005"))


def test_the_demo_grants_next_tranche_carries_a_condition_the_demo_meets(app, session):
    from portal.models import GrantAgreement

    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.test_request_context():
        agreement = session.scalar(sa.select(GrantAgreement).where(GrantAgreement.number == "SSIP-GA-2026-001"))
        planned = [t for t in agreement.tranches if t.status == TrancheStatus.PLANNED]
        found = conditions.release_conditions(session, planned[0])
        assert {c.kind for c in found} == {conditions.FINANCE_PERIOD, conditions.SPENT_SHARE}
        assert all(c.met for c in found)
        assert grants.release_refusals(session, planned[0]) == []
