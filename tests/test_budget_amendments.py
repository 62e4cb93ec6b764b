"""Budget amendments (issue 18): the provider moves money between its approved budget lines (the total unchanged)
with a reason; a finance officer or administrator approves or rejects it; every amendment is kept as a numbered
version; the variance rule uses the amounts in force; one pending amendment at a time; stale or concurrent
decisions → 409; who sees what; the audit trail."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.finance_reports import amendments
from portal.finance_reports import services as finance
from portal.models import AmendmentStatus, AuditEvent, BudgetAmendment
from tests import factories
from tests.conftest import demo_schema_app, is_postgres, login
from tests.test_financial_reports import _fill, budget
from tests.test_form_markup import check_markup


@pytest.fixture
def grant(app, world, session):
    """Two approved lines: 1,000.00 (staff) and 2,500.50 (operating); four months in."""
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                           world.orgs["municipality"], start=factories.months_ago(4))
        budget(session, agreement)
        session.commit()
    return agreement


def _amounts(agreement, *values):
    return {line.id: value for line, value in zip(finance.budget_lines(agreement), values, strict=True)}


def _request(session, world, agreement, *values, reason="Повеќе часови нега, помалку режиски трошоци."):
    return amendments.request(session, world.users["provider"], agreement, _amounts(agreement, *values), reason)


def test_request_and_approve_moves_money_and_keeps_the_total(app, world, session, grant):
    with app.test_request_context():
        amendment = _request(session, world, grant, "1500.00", "2000.50")
        assert (amendment.number, amendment.status) == (1, AmendmentStatus.PENDING)
        assert [(line.amount_before_eur, line.amount_eur) for line in amendment.lines] == [
            (Decimal("1000.00"), Decimal("1500.00")), (Decimal("2500.50"), Decimal("2000.50"))]
        lines = finance.budget_lines(grant)
        assert amendments.amounts_in_force(session, grant) == {lines[0].id: Decimal("1000.00"),
                                                               lines[1].id: Decimal("2500.50")}  # not before approval
        amendments.decide(session, world.users["finance"], amendment, True, "", amendment.version_id)
        assert amendment.status == AmendmentStatus.APPROVED
        assert amendments.amounts_in_force(session, grant) == {lines[0].id: Decimal("1500.00"),
                                                               lines[1].id: Decimal("2000.50")}
        summary = finance.grant_finance(session, grant)
        assert [line.approved for line in summary.lines] == [Decimal("1500.00"), Decimal("2000.50")]
        assert summary.total("approved") == Decimal("3500.50")
        assert lines[0].amount_eur == Decimal("1000.00")  # the awarded budget line itself is never overwritten


@pytest.mark.parametrize(("values", "key"), [
    (("1500.00", "2500.50"), "lines"),  # the total would change
    (("1000.00", "2500.50"), "lines"),  # nothing changes
    (("-1.00", "3501.50"), "line"),
    (("1000.001", "2500.50"), "line"),
    (("abc", "2500.50"), "line"),
])
def test_a_request_that_breaks_a_rule_is_refused_and_writes_nothing(app, world, session, grant, values, key):
    with app.test_request_context():
        with pytest.raises(ValidationFailed) as refused:
            _request(session, world, grant, *values)
        assert any(name.startswith(key) for name in refused.value.field_errors), refused.value.field_errors
        with pytest.raises(ValidationFailed) as no_reason:
            _request(session, world, grant, "1500.00", "2000.50", reason="  ")
        assert "reason" in no_reason.value.field_errors
    assert session.scalar(sa.select(sa.func.count()).select_from(BudgetAmendment)) == 0


def test_a_pending_amendment_blocks_a_second_request(app, world, session, grant, client):
    with app.test_request_context():
        _request(session, world, grant, "1500.00", "2000.50")
        with pytest.raises(InvalidTransition):
            _request(session, world, grant, "1100.00", "2400.50")
        session.commit()
    login(client, world.users["provider"])
    lines = finance.budget_lines(grant)
    refused = client.post(f"/grants/{grant.id}/budget-amendments/new",
                          data={f"line-{lines[0].id}": "1100.00", f"line-{lines[1].id}": "2400.50", "reason": "Друго."})
    assert refused.status_code == 409 and re.search(r"[\u0400-\u04FF]", refused.get_data(as_text=True))
    assert session.scalar(sa.select(sa.func.count()).select_from(BudgetAmendment)) == 1


def test_versions_are_kept_reject_needs_a_comment_and_changes_nothing(app, world, session, grant):
    with app.test_request_context():
        first = _request(session, world, grant, "1500.00", "2000.50")
        with pytest.raises(ValidationFailed):
            amendments.decide(session, world.users["admin"], first, False, " ", first.version_id)
        amendments.decide(session, world.users["admin"], first, False, "Не е образложено.", first.version_id)
        lines = finance.budget_lines(grant)
        assert amendments.amounts_in_force(session, grant)[lines[0].id] == Decimal("1000.00")
        second = _request(session, world, grant, "1200.00", "2300.50")
        amendments.decide(session, world.users["finance"], second, True, "Во ред.", second.version_id)
        third = _request(session, world, grant, "1300.00", "2200.50")
        amendments.decide(session, world.users["finance"], third, True, "", third.version_id)
        session.commit()
        found = amendments.amendments_of(session, grant)
        assert [(a.number, a.status) for a in found] == [(3, AmendmentStatus.APPROVED), (2, AmendmentStatus.APPROVED),
                                                         (1, AmendmentStatus.REJECTED)]
        assert found[2].decision_comment == "Не е образложено."
        assert [line.amount_eur for line in found[2].lines] == [Decimal("1500.00"), Decimal("2000.50")]  # kept
        assert [line.amount_before_eur for line in found[0].lines] == [Decimal("1200.00"), Decimal("2300.50")]
        assert amendments.amounts_in_force(session, grant)[lines[0].id] == Decimal("1300.00")  # the newest approved


def test_the_variance_rule_uses_the_amended_amount(app, world, session, grant):
    """Line 1 awarded 1,000.00 (at most 1,100.00 with 10 %); amended to 1,500.00 it may take 1,650.00, not a cent more."""
    with app.test_request_context():
        report = finance.start(session, world.users["provider"], grant, 1)
        session.flush()
        lines = finance.budget_lines(grant)
        with pytest.raises(ValidationFailed):
            finance.save(session, world.users["provider"], report, _fill(lines, "1650.00", "0"), report.newest.edit_version)
        amendment = _request(session, world, grant, "1500.00", "2000.50")
        amendments.decide(session, world.users["finance"], amendment, True, "", amendment.version_id)
        finance.save(session, world.users["provider"], report, _fill(lines, "1650.00", "0"), report.newest.edit_version)
        with pytest.raises(ValidationFailed) as refused:
            finance.save(session, world.users["provider"], report, _fill(lines, "1650.01", "0"), report.newest.edit_version)
        from portal.i18n import money

        assert money(Decimal("1500.00")) in refused.value.field_errors[f"line-{lines[0].id}"][0]
        assert finance.grant_finance(session, grant).lines[0].limit == Decimal("1650.00")


def test_a_line_cannot_go_below_what_accepted_reports_spent(app, world, session, grant):
    with app.test_request_context():
        report = finance.start(session, world.users["provider"], grant, 1)
        session.flush()
        lines = finance.budget_lines(grant)
        finance.save(session, world.users["provider"], report, _fill(lines, "900.00", "0"), report.newest.edit_version)
        finance.submit(session, world.users["provider"], report)
        finance.accept(session, world.users["finance"], report)
        with pytest.raises(ValidationFailed) as refused:
            _request(session, world, grant, "800.00", "2700.50")  # 800 + 10 % = 880 < 900 spent
        assert f"line-{lines[0].id}" in refused.value.field_errors
        assert _request(session, world, grant, "818.19", "2682.31").status == AmendmentStatus.PENDING  # 900.00 allowed


def test_stale_and_repeated_decisions_are_refused(app, world, session, grant):
    with app.test_request_context():
        amendment = _request(session, world, grant, "1500.00", "2000.50")
        read = amendment.version_id
        with pytest.raises(Conflict):
            amendments.decide(session, world.users["finance"], amendment, True, "", read + 1)
        with pytest.raises(Conflict):
            amendments.decide(session, world.users["finance"], amendment, True, "", None)
        amendments.decide(session, world.users["finance"], amendment, True, "", read)
        with pytest.raises((Conflict, InvalidTransition)):
            amendments.decide(session, world.users["admin"], amendment, False, "Не.", read)
        with pytest.raises(InvalidTransition):
            amendments.decide(session, world.users["admin"], amendment, False, "Не.", amendment.version_id)
        with pytest.raises(NotAllowed):
            amendments.decide(session, world.users["reviewer"], amendment, True, "", amendment.version_id)
        with pytest.raises(NotAllowed):
            amendments.request(session, world.users["provider_b"], grant, {}, "x")


def test_every_step_is_audited(app, world, session, grant):
    with app.test_request_context():
        last = session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))
        first = _request(session, world, grant, "1500.00", "2000.50")
        amendments.decide(session, world.users["admin"], first, False, "Не.", first.version_id)
        second = _request(session, world, grant, "1200.00", "2300.50")
        amendments.decide(session, world.users["finance"], second, True, "", second.version_id)
        session.commit()
        rows = session.execute(sa.select(AuditEvent.action, AuditEvent.object_id, AuditEvent.after)
                               .where(AuditEvent.id > last, AuditEvent.object_type == "budget_amendment")
                               .order_by(AuditEvent.id)).all()
    assert [r.action for r in rows] == ["budget_amendment.requested", "budget_amendment.rejected",
                                        "budget_amendment.requested", "budget_amendment.approved"]
    assert [r.object_id for r in rows] == [str(first.id), str(first.id), str(second.id), str(second.id)]
    line = str(finance.budget_lines(grant)[0].id)
    assert rows[0].after["lines"][line] == {"from": "1000.00", "to": "1500.00"}


def test_the_pages_from_request_to_approval_and_who_sees_them(app, world, session, grant, client):
    lines = finance.budget_lines(grant)
    login(client, world.users["provider"])
    index = client.get(f"/grants/{grant.id}/budget-amendments")
    assert index.status_code == 200 and f"/grants/{grant.id}/budget-amendments/new" in index.get_data(as_text=True)
    check_markup(index.get_data(as_text=True), "amendments")
    form = client.get(f"/grants/{grant.id}/budget-amendments/new")
    assert form.status_code == 200 and 'value="2500.50"' in form.get_data(as_text=True)
    check_markup(form.get_data(as_text=True), "amendment form")
    data = {f"line-{lines[0].id}": "1500.00", f"line-{lines[1].id}": "2500.50", "reason": "Повеќе нега."}
    refused = client.post(f"/grants/{grant.id}/budget-amendments/new", data=data)
    assert refused.status_code == 422 and "3.500,50" in refused.get_data(as_text=True)
    check_markup(refused.get_data(as_text=True), "amendment form with errors")
    data[f"line-{lines[1].id}"] = "2000,50"
    response = client.post(f"/grants/{grant.id}/budget-amendments/new", data=data)
    assert response.status_code == 302
    amendment = session.scalar(sa.select(BudgetAmendment).where(BudgetAmendment.agreement_id == grant.id))
    expected = {"provider": 200, "provider_b": 403, "admin": 200, "finance": 200, "reviewer": 200,
                "municipality": 403, "monitor": 403}
    for role, status in expected.items():
        login(client, world.users[role])
        assert client.get(f"/budget-amendments/{amendment.id}").status_code == status, role
        assert client.get(f"/grants/{grant.id}/budget-amendments").status_code == status, role
    login(client, world.users["reviewer"])
    assert client.post(f"/budget-amendments/{amendment.id}/decide", data={"approve": "1"}).status_code == 403
    login(client, world.users["finance"])
    page = client.get(f"/budget-amendments/{amendment.id}").get_data(as_text=True)
    assert 'name="approve"' in page
    check_markup(page, "amendment decision")
    refused = client.post(f"/budget-amendments/{amendment.id}/decide",
                          data={"reject": "1", "version_id": str(amendment.version_id)})
    assert refused.status_code == 422
    check_markup(refused.get_data(as_text=True), "amendment decision with errors")
    stale = client.post(f"/budget-amendments/{amendment.id}/decide",
                        data={"approve": "1", "version_id": str(amendment.version_id + 5)})
    assert stale.status_code == 409
    assert client.post(f"/budget-amendments/{amendment.id}/decide",
                       data={"approve": "1", "version_id": str(amendment.version_id)}).status_code == 302
    agreement_page = client.get(f"/grants/{grant.id}").get_data(as_text=True)
    assert "1.500,00" in agreement_page and "2.000,50" in agreement_page
    login(client, world.users["monitor"])
    summary = client.get(f"/grants/{grant.id}/finance").get_data(as_text=True)
    assert "1.500,00" in summary and "/budget-amendments" not in summary  # the budget in force, no amendment


# Concurrent decisions on PostgreSQL: real parallel connections, one winner. -----------------------------------------

PARALLEL = 12


@pytest.fixture(scope="module")
def race_app(tmp_path_factory):
    if not is_postgres():
        pytest.skip("parallel connections racing for one row are proven on PostgreSQL")
    with demo_schema_app("amend", PARALLEL + 6) as app:
        yield app


@pytest.mark.postgres_only
def test_concurrent_requests_and_approvals_have_one_winner(race_app):
    from portal.db import db
    from portal.models import GrantAgreement, User

    def read(query):
        with race_app.app_context():
            try:
                return query(db)
            finally:
                db.close()

    agreement = read(lambda s: s.scalar(sa.select(GrantAgreement).where(GrantAgreement.number == "SSIP-GA-2026-002")))
    provider = read(lambda s: s.scalar(sa.select(User).where(User.email == "soncev.zrak@demo.example")))
    approvers = read(lambda s: list(s.scalars(sa.select(User).where(User.email.in_(
        ("finance@demo.example", "finance2@demo.example", "admin@demo.example"))))))
    lines = read(lambda s: [(line.id, line.amount_eur) for line in finance.budget_lines(s.get(GrantAgreement, agreement.id))])
    assert len(lines) >= 2

    def race(users, url, data):
        barrier = threading.Barrier(PARALLEL)

        def one(n):
            client = race_app.test_client()
            login(client, users[n % len(users)])
            barrier.wait(timeout=60)
            return client.post(url, data=data)

        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            return [r.status_code for r in pool.map(one, range(PARALLEL))]

    moved = {f"line-{lines[0][0]}": str(lines[0][1] + 1), f"line-{lines[1][0]}": str(lines[1][1] - 1),
             "reason": "Прераспределба."}
    moved |= {f"line-{line_id}": str(amount) for line_id, amount in lines[2:]}
    statuses = race([provider], f"/grants/{agreement.id}/budget-amendments/new", moved)
    assert statuses.count(302) == 1 and set(statuses) <= {302, 409}, statuses
    amendment = read(lambda s: s.scalar(sa.select(BudgetAmendment).where(BudgetAmendment.agreement_id == agreement.id)))
    statuses = race(approvers, f"/budget-amendments/{amendment.id}/decide",
                    {"approve": "1", "version_id": str(amendment.version_id)})
    assert statuses.count(302) == 1 and set(statuses) <= {302, 409}, statuses
    decided = read(lambda s: s.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "budget_amendment", AuditEvent.action == "budget_amendment.approved")).all())
    assert len(decided) == 1
