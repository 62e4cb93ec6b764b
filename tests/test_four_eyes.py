"""Four eyes that lead the second person to the work: who sees which tranche on their home page, who is
told by e-mail, and a confirmation page (amount, grant, recipient) before any money moves."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal import clock
from portal.grants import four_eyes
from portal.grants import services as grants
from portal.models import EntryKind, LedgerEntry, OutboxEmail, Role, Tranche, TrancheStatus
from tests import factories
from tests.conftest import login


def plain(text: str) -> str:
    """Babel groups thousands with a (narrow) no-break space in Albanian."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


@pytest.fixture
def fx(app, world, session):
    """A signed grant whose advance finance officer 1 has requested; a second finance officer (Albanian),
    an inactive one and a reviewer who may not approve."""
    with app.test_request_context():
        world.users["finance2"] = factories.user(session, Role.FINANCE, world.orgs["ministry"],
                                                 email="finance2@test.example", language="sq")
        world.users["finance_off"] = factories.user(session, Role.FINANCE, world.orgs["ministry"],
                                                    email="finance.off@test.example", active=False)
        world.agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                                 world.orgs["municipality"], number="GA-4EYES")
        world.advance = world.agreement.tranches[0]
        grants.request_release(session, world.users["finance"], world.advance)
        session.commit()
    return world


def test_the_requester_never_sees_their_own_request_to_approve(app, fx, session):
    with app.test_request_context():
        mine = four_eyes.work_for(session, fx.users["finance"])
        assert fx.advance not in mine.to_approve and fx.advance in mine.with_others
        for approver in ("finance2", "admin"):
            assert [t.id for t in four_eyes.work_for(session, fx.users[approver]).to_approve] == [fx.advance.id]
        assert not four_eyes.work_for(session, fx.users["reviewer"])
        assert not four_eyes.work_for(session, fx.users["provider"])


def test_approved_tranches_leave_the_approval_list_and_wait_to_be_paid(app, fx, session):
    with app.test_request_context():
        grants.approve_release(session, fx.users["finance2"], fx.advance)
        for person in ("finance", "finance2", "admin"):
            assert fx.advance not in four_eyes.work_for(session, fx.users[person]).to_approve
        assert fx.advance in four_eyes.work_for(session, fx.users["finance"]).to_pay
        assert not four_eyes.work_for(session, fx.users["admin"]).to_pay  # administrators do not pay
        grants.mark_paid(session, fx.users["finance"], fx.advance, clock.utc_to_skopje(clock.now()).date(), "MK07-1")
        assert not four_eyes.work_for(session, fx.users["finance"])


def test_next_actions_decide_what_the_agreement_page_offers(app, fx, session):
    with app.test_request_context():
        second = fx.agreement.tranches[1]
        assert four_eyes.next_actions(session, fx.users["finance"], fx.agreement) == {
            fx.advance.id: four_eyes.WAIT_SECOND, second.id: four_eyes.WAIT_REPORTS}
        assert four_eyes.next_actions(session, fx.users["finance2"], fx.agreement)[fx.advance.id] == four_eyes.APPROVE
        assert four_eyes.next_actions(session, fx.users["admin"], fx.agreement)[fx.advance.id] == four_eyes.APPROVE
        assert four_eyes.next_actions(session, fx.users["provider"], fx.agreement) == {
            fx.advance.id: four_eyes.WAIT_SECOND, second.id: four_eyes.NOTHING}
        grants.approve_release(session, fx.users["admin"], fx.advance)
        assert four_eyes.next_actions(session, fx.users["finance"], fx.agreement)[fx.advance.id] == four_eyes.PAY
        assert four_eyes.next_actions(session, fx.users["admin"], fx.agreement)[fx.advance.id] == four_eyes.NOTHING


def test_every_eligible_approver_is_mailed_in_their_language(fx, session):
    mails = {m.to_address: m for m in session.scalars(sa.select(OutboxEmail))}
    ours = {u.email for u in fx.users.values()}
    # Other finance officers and administrators; not the requester, an inactive officer or a reviewer.
    assert set(mails) & ours == {"finance2@test.example", "admin@test.example"}
    assert "GA-4EYES" in mails["admin@test.example"].subject and "чека ваше одобрување" in mails["admin@test.example"].subject
    albanian = mails["finance2@test.example"]
    assert "pret miratimin tuaj" in albanian.subject
    assert "12 000,00" in plain(albanian.body_text) and fx.orgs["provider"].name in albanian.body_text
    assert f"/grants/{fx.agreement.id}#tranches" in albanian.body_text


def test_the_approver_finds_the_tranche_on_their_home_page(app, fx):
    client = app.test_client()
    login(client, fx.users["finance2"])
    page = client.get("/").get_data(as_text=True)
    section = page[page.index('id="tranche-work"'):]
    assert "GA-4EYES" in section.split("<h3>")[0]  # under "waiting for your approval"
    requester = app.test_client()
    login(requester, fx.users["finance"])
    page = requester.get("/").get_data(as_text=True)
    section = page[page.index('id="tranche-work"'):]
    assert "GA-4EYES" not in section.split("<h3>")[0]  # not among what they can approve …
    assert "GA-4EYES" in section  # … but among their requests waiting for someone else
    admin = app.test_client()
    login(admin, fx.users["admin"])
    assert "GA-4EYES" in admin.get("/").get_data(as_text=True)


def test_approving_shows_a_confirmation_page_before_anything_changes(app, fx, session):
    client = app.test_client()
    login(client, fx.users["finance2"])
    response = client.post(f"/tranches/{fx.advance.id}/approve", data={"version_id": str(fx.advance.version_id)})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "12 000,00" in plain(page) and "GA-4EYES" in page and fx.orgs["provider"].name in page  # in Albanian
    assert 'name="confirmed" value="yes"' in page
    session.expire_all()
    assert session.get(Tranche, fx.advance.id).status == TrancheStatus.REQUESTED
    response = client.post(f"/tranches/{fx.advance.id}/approve", data={"confirmed": "yes"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Tranche, fx.advance.id).status == TrancheStatus.APPROVED


def test_the_requester_gets_no_confirmation_page(app, fx, session):
    client = app.test_client()
    login(client, fx.users["finance"])
    assert client.post(f"/tranches/{fx.advance.id}/approve", data={}).status_code == 403
    assert client.post(f"/tranches/{fx.advance.id}/approve", data={"confirmed": "yes"}).status_code == 403
    session.expire_all()
    assert session.get(Tranche, fx.advance.id).status == TrancheStatus.REQUESTED


def test_paying_shows_a_confirmation_page_before_the_disbursement(app, fx, session):
    with app.test_request_context():
        grants.approve_release(session, fx.users["admin"], fx.advance)
        session.commit()
    client = app.test_client()
    login(client, fx.users["finance"])
    today = clock.utc_to_skopje(clock.now()).date().isoformat()
    form = {"paid_on": today, "bank_reference": "MK07 2100 0000 4411"}
    response = client.post(f"/tranches/{fx.advance.id}/pay", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "12.000,00" in page and "MK07 2100 0000 4411" in page and fx.orgs["provider"].name in page

    def disbursed():
        return session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
            LedgerEntry.agreement_id == fx.agreement.id, LedgerEntry.kind == EntryKind.DISBURSEMENT))

    assert disbursed() == 0
    # A payment date in the future is refused before the confirmation page.
    future = (clock.utc_to_skopje(clock.now()).date() + timedelta(days=2)).isoformat()
    response = client.post(f"/tranches/{fx.advance.id}/pay", data={**form, "paid_on": future})
    assert response.status_code == 302 and disbursed() == 0
    response = client.post(f"/tranches/{fx.advance.id}/pay", data={**form, "confirmed": "yes"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Tranche, fx.advance.id).status == TrancheStatus.PAID
    assert disbursed() == 1
    assert session.scalar(sa.select(LedgerEntry.amount_eur).where(
        LedgerEntry.kind == EntryKind.DISBURSEMENT, LedgerEntry.agreement_id == fx.agreement.id)) == Decimal("12000.00")


def test_the_agreement_page_asks_the_service_what_to_offer(app, fx):
    requester = app.test_client()
    login(requester, fx.users["finance"])
    page = requester.get(f"/grants/{fx.agreement.id}").get_data(as_text=True)
    assert f"/tranches/{fx.advance.id}/approve" not in page
    approver = app.test_client()
    login(approver, fx.users["finance2"])
    assert f"/tranches/{fx.advance.id}/approve" in approver.get(f"/grants/{fx.agreement.id}").get_data(as_text=True)


def test_the_home_page_does_not_grow_with_the_tranches_waiting(app, fx, session):
    from tests.conftest import count_queries

    client = app.test_client()
    login(client, fx.users["finance2"])
    client.get("/")
    with count_queries(app) as one:
        assert client.get("/").status_code == 200
    with app.test_request_context():
        for n in range(4):
            agreement = factories.signed_grant(session, fx.users["admin"], fx.orgs["provider_b"],
                                               fx.orgs["municipality_b"], number=f"GA-MORE-{n}")
            grants.request_release(session, fx.users["finance"], agreement.tranches[0])
        session.commit()
    with count_queries(app) as five:
        page = client.get("/").get_data(as_text=True)
    assert "GA-MORE-3" in page
    assert five.count == one.count, (one.count, five.count)


def test_the_demo_has_a_second_finance_officer_with_work_waiting(app, session):
    from portal.models import User

    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    first, second = (session.scalar(sa.select(User).where(User.email == f"{name}@demo.example"))
                     for name in ("finance", "finance2"))
    assert first.role == second.role == Role.FINANCE
    with app.test_request_context():
        waiting = four_eyes.work_for(session, second).to_approve
        assert "SSIP-GA-2026-002" in [t.agreement.number for t in waiting]
        assert not four_eyes.work_for(session, first).to_approve  # finance@ requested it
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail).where(
        OutboxEmail.to_address == "finance2@demo.example"))
