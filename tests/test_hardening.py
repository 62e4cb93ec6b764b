"""Deployment hardening: the `__Host-` session cookie in production, and the least-privilege database role
the application runs as (PostgreSQL)."""

from __future__ import annotations

import os
import re
import secrets

import pytest
import sqlalchemy as sa

from config import ProductionConfig
from portal import create_app, dbroles
from tests.conftest import is_postgres


def test_the_production_session_cookie_is_host_only_and_secure(database_url):
    app = create_app(ProductionConfig(SECRET_KEY="k" * 48, REGISTER_HMAC_KEY="r" * 48, DATABASE_URL=database_url))
    try:
        response = app.test_client().get("/login", base_url="https://portal.example")
        cookie = next(c for c in response.headers.getlist("Set-Cookie") if "session" in c)
        assert cookie.startswith("__Host-portal_session=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie and "Domain=" not in cookie
    finally:
        app.extensions["db_engine"].dispose()


def test_the_role_statements_refuse_odd_names():
    with pytest.raises(ValueError):
        dbroles.statements("app; DROP TABLE x", "public")
    assert any("REVOKE UPDATE, DELETE, TRUNCATE ON public.audit_event, public.ledger_entry" in s
               for s in dbroles.statements("portal_app", "public"))


@pytest.mark.postgres_only
def test_the_application_role_cannot_switch_off_the_append_only_triggers(base_app, database_url):
    if not is_postgres():
        pytest.skip("database roles are a PostgreSQL feature")
    schema = re.search(r"search_path%3D(\w+)", database_url).group(1)
    owner = base_app.extensions["db_engine"]
    role = f"portal_app_{os.getpid()}_{secrets.token_hex(3)}"
    dbroles.apply(owner, role, schema)
    dbroles.apply(owner, role, schema)  # idempotent: a second run after a migration changes nothing
    target = sa.engine.make_url(os.environ["TEST_DATABASE_URL"]).set(username=role, password=None)
    app_engine = sa.create_engine(target, connect_args={"options": f"-csearch_path={schema}"})
    try:
        with app_engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_user")).scalar() == role
            conn.execute(sa.text("SELECT count(*) FROM audit_event")).scalar()
            conn.execute(sa.text("INSERT INTO login_attempt (email, ip, succeeded, at) "
                                 "VALUES ('x@example.org', '127.0.0.1', false, now())"))
            conn.rollback()
        refused = [
            "SET session_replication_role = replica",
            "ALTER TABLE audit_event DISABLE TRIGGER ALL",
            "ALTER TABLE ledger_entry DISABLE TRIGGER USER",
            "DROP TRIGGER audit_event_no_change ON audit_event",
            "UPDATE audit_event SET action = 'x'",
            "DELETE FROM audit_event",
            "TRUNCATE audit_event",
            "UPDATE ledger_entry SET note = 'x'",
            "ALTER TABLE report_version DISABLE TRIGGER ALL",
            "CREATE TABLE sneaky (id int)",
        ]
        for statement in refused:
            with app_engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as caught:
                conn.execute(sa.text(statement))
            assert re.search(r"permission denied|must be owner|InsufficientPrivilege", str(caught.value), re.I), statement
    finally:
        app_engine.dispose()
        with owner.begin() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
