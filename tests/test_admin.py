"""User administration: invitations by email, edits, deactivation, lists and their query counts."""

from __future__ import annotations

import re

import sqlalchemy as sa

from portal.models import AuditEvent, OrgKind, Role, User
from tests import factories
from tests.conftest import count_queries, login


def test_invitation_email_activation_and_first_sign_in(app, client, world, session, mailbox):
    login(client, world.users["admin"])
    response = client.post("/admin/users/invite", data={
        "organisation_id": world.orgs["municipality"].id, "role": "municipality", "full_name": "Фатиме Бајрами",
        "email": "Fatime.Bajrami@Opstina.example", "language": "sq"})
    assert response.status_code == 302
    user = session.scalar(sa.select(User).where(User.email == "fatime.bajrami@opstina.example"))
    assert user is not None and not user.is_activated and user.preferred_language == "sq"
    [message] = mailbox.to("fatime.bajrami@opstina.example")
    token = re.search(r"/activate/(\S+)", message.get_content()).group(1)
    newcomer = app.test_client()
    password = "komuna ime 2026 fjalekalim"
    assert newcomer.post(f"/activate/{token}", data={"password": password, "confirm": password}).status_code == 302
    assert 'lang="sq"' in newcomer.get("/").get_data(as_text=True)
    invited = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.invited"))
    assert invited.actor_id == world.users["admin"].id and invited.after["role"] == "municipality"


def test_invitation_refuses_a_role_the_organisation_cannot_hold(client, world, session):
    login(client, world.users["admin"])
    body = client.post("/admin/users/invite", data={
        "organisation_id": world.orgs["provider"].id, "role": "finance", "full_name": "X Y",
        "email": "xy@test.example", "language": "mk"}).get_data(as_text=True)
    assert 'href="#role"' in body
    assert session.scalar(sa.select(User).where(User.email == "xy@test.example")) is None


def test_invitation_refuses_an_existing_email(client, world):
    login(client, world.users["admin"])
    body = client.post("/admin/users/invite", data={
        "organisation_id": world.orgs["provider"].id, "role": "provider", "full_name": "X Y",
        "email": "provider@test.example", "language": "mk"}).get_data(as_text=True)
    assert 'href="#email"' in body


def test_resend_invitation_replaces_the_link(app, client, world, session, mailbox):
    with app.app_context():
        invited = factories.user(session, Role.PROVIDER, world.orgs["provider"], password=None)
        session.commit()
    login(client, world.users["admin"])
    assert client.post(f"/admin/users/{invited.id}/resend-invitation").status_code == 302
    assert client.post(f"/admin/users/{invited.id}/resend-invitation").status_code == 302
    first, second = (re.search(r"/activate/(\S+)", m.get_content()).group(1) for m in mailbox.to(invited.email))
    assert app.test_client().get(f"/activate/{first}").status_code == 400
    assert app.test_client().get(f"/activate/{second}").status_code == 200


def test_deactivation_asks_for_confirmation_and_a_reason(client, world, session):
    login(client, world.users["admin"])
    target = world.users["monitor"]
    page = client.get(f"/admin/users/{target.id}/deactivate").get_data(as_text=True)
    assert target.full_name in page and 'name="reason"' in page
    assert client.post(f"/admin/users/{target.id}/deactivate", data={"reason": ""}).status_code == 200
    session.expire_all()
    assert session.get(User, target.id).active
    assert client.post(f"/admin/users/{target.id}/deactivate", data={"reason": "Крај на мисијата"}).status_code == 302
    session.expire_all()
    assert not session.get(User, target.id).active
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.deactivated"))
    assert event.after["reason"] == "Крај на мисијата"
    assert client.post(f"/admin/users/{target.id}/reactivate").status_code == 302
    session.expire_all()
    assert session.get(User, target.id).active


def test_admin_cannot_deactivate_or_demote_themselves(client, world, session):
    admin = world.users["admin"]
    login(client, admin)
    assert client.post(f"/admin/users/{admin.id}/deactivate", data={"reason": "oops"}).status_code == 409
    response = client.post(f"/admin/users/{admin.id}", data={"full_name": admin.full_name, "role": "reviewer",
                                                             "version_id": str(admin.version_id)})
    assert response.status_code == 200
    session.expire_all()
    assert session.get(User, admin.id).role == Role.ADMIN


def test_role_change_is_audited_and_ends_the_users_sessions(app, client, world, session):
    target = world.users["reviewer"]
    victim = app.test_client()
    login(victim, target)
    login(client, world.users["admin"])
    response = client.post(f"/admin/users/{target.id}", data={"full_name": target.full_name, "role": "finance",
                                                              "version_id": str(target.version_id)})
    assert response.status_code == 302
    assert victim.get("/account").status_code == 302
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.role_changed"))
    assert event.before["role"] == "reviewer" and event.after["role"] == "finance"


def test_user_edit_from_a_stale_version_is_a_conflict(client, world, session):
    target = world.users["monitor"]
    login(client, world.users["admin"])
    stale = str(target.version_id)
    assert client.post(f"/admin/users/{target.id}", data={"full_name": "First", "role": "monitor",
                                                          "version_id": stale}).status_code == 302
    assert client.post(f"/admin/users/{target.id}", data={"full_name": "Second", "role": "monitor",
                                                          "version_id": stale}).status_code == 409
    session.expire_all()
    assert session.get(User, target.id).full_name == "First"


def _add_users(app, session, world, n):
    with app.app_context():
        for _ in range(n):
            factories.user(session, Role.PROVIDER, world.orgs["provider_b"])
        session.commit()


def test_user_list_query_count_does_not_grow_with_rows(app, client, world, session):
    login(client, world.users["admin"])
    client.get("/admin/users")  # warm-up
    with count_queries(app) as small:
        assert client.get("/admin/users").status_code == 200
    _add_users(app, session, world, 20)
    with count_queries(app) as large:
        body = client.get("/admin/users").get_data(as_text=True)
    assert large.count == small.count, large.statements
    assert body.count("<tr>") > 20


def test_organisation_and_audit_lists_query_counts_are_constant(app, client, world, session):
    login(client, world.users["admin"])
    counts = []
    for extra in (0, 15):
        with app.app_context():
            for _ in range(extra):
                factories.org(session, OrgKind.PROVIDER)
            session.commit()
        with count_queries(app) as orgs:
            client.get("/admin/organisations")
        with count_queries(app) as audit:
            client.get("/admin/audit")
        counts.append((orgs.count, audit.count))
    assert counts[0] == counts[1]


def test_user_list_paginates_and_filters(app, client, world, session):
    _add_users(app, session, world, 30)
    login(client, world.users["admin"])
    first = client.get("/admin/users").get_data(as_text=True)
    assert 'rel="next"' in first
    second = client.get("/admin/users?page=2").get_data(as_text=True)
    assert 'rel="prev"' in second
    monitors = client.get("/admin/users?role=monitor").get_data(as_text=True)
    assert "monitor@test.example" in monitors and "provider@test.example" not in monitors
    assert "admin@test.example" in client.get("/admin/users?q=ADMIN@").get_data(as_text=True)
    assert client.get("/admin/users?page=999").status_code == 200


def test_audit_log_filters(client, world, session):
    client.post("/login", data={"email": "provider@test.example", "password": "wrong password!!"})
    login(client, world.users["admin"])
    body = client.get("/admin/audit?action=login.failed").get_data(as_text=True)
    assert "provider@test.example" in body
    body = client.get("/admin/audit?action=user.invited").get_data(as_text=True)
    assert "provider@test.example" not in body
    assert client.get("/admin/audit?date_from=not-a-date&date_to=2999-01-01").status_code == 200
