"""Headers, CSRF, error pages, mass assignment and configuration safety."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask_login import AnonymousUserMixin

from config import ProductionConfig, TestingConfig
from portal import create_app
from portal.models import AuditEvent, Organisation, OrgStatus, Role, User
from tests.conftest import login


def test_security_headers_on_every_response(client, login_as):
    for response in (client.get("/"), client.get("/login"), client.get("/nowhere"),
                     client.get("/static/css/portal.css")):
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert re.fullmatch(r"[0-9a-f]{16}", headers["X-Request-ID"])
    login_as("finance")
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_no_inline_script_or_style_in_pages(client, login_as):
    login_as("admin")
    for url in ("/", "/admin/users", "/admin/audit", "/account"):
        body = client.get(url).get_data(as_text=True)
        assert "<script>" not in body and "onclick=" not in body and " style=" not in body, url
        assert all('src="/static/' in tag for tag in re.findall(r"<script[^>]*>", body)), url


def test_hsts_in_production_only(database_url):
    app = create_app(ProductionConfig(SECRET_KEY="k" * 48, REGISTER_HMAC_KEY="r" * 48, DATABASE_URL=database_url))
    assert "Strict-Transport-Security" in app.test_client().get("/healthz").headers
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("key", ["", "change-me", "short-key"])
def test_production_refuses_to_start_without_a_real_secret_key(key):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig(SECRET_KEY=key, DATABASE_URL="sqlite://"))


def test_unknown_environment_is_refused(monkeypatch):
    from config import get_config

    monkeypatch.setenv("PORTAL_ENV", "staging-ish")
    with pytest.raises(RuntimeError, match="PORTAL_ENV"):
        get_config()


def test_404_page_shows_a_request_id_and_speaks_the_language(client):
    response = client.get("/does-not-exist", headers={"X-Request-ID": "abcdef1234567890"})
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "abcdef1234567890" in body
    assert 'lang="mk"' in body


def test_500_page_shows_a_request_id_and_no_trace(database_url):
    app = create_app(TestingConfig(DATABASE_URL=database_url))
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    response = app.test_client().get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "hunter2" not in body and "Traceback" not in body and "RuntimeError" not in body
    assert re.search(r"<code>[0-9a-f]{16}</code>", body)
    app.extensions["db_engine"].dispose()


def test_healthz_reports_an_unreachable_database():
    app = create_app(TestingConfig(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_healthz_reports_a_reachable_database(client):
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}


class TestCsrf:
    @pytest.fixture(autouse=True)
    def _csrf_on(self, app):
        app.config["WTF_CSRF_ENABLED"] = True

    def _token(self, client, url):
        body = client.get(url).get_data(as_text=True)
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body).group(1)

    def _invite(self, world, token=None):
        data = {"organisation_id": world.orgs["provider"].id, "role": "provider", "full_name": "Нов Корисник",
                "email": "new.user@test.example", "language": "mk"}
        if token:
            data["csrf_token"] = token
        return data

    def test_without_token_nothing_is_written(self, app, client, world, session):
        login(client, world.users["admin"])
        response = client.post("/admin/users/invite", data=self._invite(world))
        assert response.status_code == 400
        assert session.scalar(sa.select(User).where(User.email == "new.user@test.example")) is None

    def test_another_sessions_token_is_refused(self, app, client, world, session):
        other = app.test_client()
        login(other, world.users["admin"])
        foreign_token = self._token(other, "/admin/users/invite")
        login(client, world.users["admin"])
        response = client.post("/admin/users/invite", data=self._invite(world, foreign_token))
        assert response.status_code == 400
        assert session.scalar(sa.select(User).where(User.email == "new.user@test.example")) is None

    def test_with_the_sessions_token_it_works(self, app, client, world, session):
        login(client, world.users["admin"])
        token = self._token(client, "/admin/users/invite")
        response = client.post("/admin/users/invite", data=self._invite(world, token))
        assert response.status_code == 302
        assert session.scalar(sa.select(User).where(User.email == "new.user@test.example")) is not None

    def test_logout_and_login_forms_need_the_token_too(self, client, world):
        assert client.post("/login", data={"email": "admin@test.example", "password": "x" * 12}).status_code == 400
        login(client, world.users["provider"])
        client.post("/logout")
        assert client.get("/account").status_code == 200  # no token: not signed out


def test_mass_assignment_on_profile_changes_nothing_else(client, world, session):
    login(client, world.users["provider"])
    org = world.orgs["provider"]
    before = (org.name, org.tax_number, org.status, org.kind)
    response = client.post(f"/organisations/{org.id}/edit", data={
        "address": "ул. Илинденска 5", "city": "Куманово", "licence_number": org.licence_number,
        "licence_valid_from": org.licence_valid_from.isoformat(),
        "licence_valid_until": org.licence_valid_until.isoformat(),
        "name": "Hijacked", "tax_number": "4030000375897", "status": "verified", "kind": "ministry",
        "organisation_id": world.orgs["ministry"].id, "role": "admin", "amount": "999999",
        "version_id": str(org.version_id),
    })
    assert response.status_code == 302
    session.expire_all()
    fresh = session.get(Organisation, org.id)
    assert (fresh.name, fresh.tax_number, fresh.status, fresh.kind) == before
    assert fresh.address == "ул. Илинденска 5"
    assert session.get(User, world.users["provider"].id).role == Role.PROVIDER


def test_mass_assignment_on_user_edit_cannot_move_organisation(client, world, session):
    login(client, world.users["admin"])
    target = world.users["provider_b"]
    client.post(f"/admin/users/{target.id}", data={"full_name": "Ново Име", "role": "provider",
                                                   "organisation_id": world.orgs["ministry"].id,
                                                   "active": "0", "version_id": str(target.version_id)})
    session.expire_all()
    fresh = session.get(User, target.id)
    assert fresh.full_name == "Ново Име"
    assert fresh.organisation_id == world.orgs["provider_b"].id and fresh.active


def test_admin_cannot_give_a_ministry_role_to_a_provider_user(client, world, session):
    login(client, world.users["admin"])
    target = world.users["provider_b"]
    response = client.post(f"/admin/users/{target.id}", data={"full_name": "X", "role": "admin",
                                                              "version_id": str(target.version_id)})
    assert response.status_code == 200
    assert session.get(User, target.id).role == Role.PROVIDER


def test_pending_provider_cannot_submit(world, session):
    from portal import access

    org = world.orgs["provider"]
    org.status = OrgStatus.PENDING
    session.commit()
    assert not access.can_submit_for_organisation(world.users["provider"], org)
    org.status = OrgStatus.VERIFIED
    assert access.can_submit_for_organisation(world.users["provider"], org)
    assert not access.can_submit_for_organisation(world.users["provider_b"], org)
    # Only "verified" opens submission: a rejected organisation is as closed as a pending one, and nobody
    # signed out submits for anyone.
    org.status = OrgStatus.REJECTED
    assert not access.can_submit_for_organisation(world.users["provider"], org)
    org.status = OrgStatus.VERIFIED
    assert not access.can_submit_for_organisation(AnonymousUserMixin(), org)
    assert not access.can_submit_for_organisation(None, org)


def test_every_audit_row_has_a_request_id(client, world, session):
    client.post("/login", data={"email": "provider@test.example", "password": "wrong password!!"})
    rows = session.scalars(sa.select(AuditEvent)).all()
    assert rows and all(row.request_id for row in rows)
