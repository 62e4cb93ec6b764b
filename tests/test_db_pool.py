"""The pool's disconnect handling on PostgreSQL (`portal.db._ping_when_idle`): a connection idle longer than
`PING_AFTER_SECONDS` is pinged and replaced when its server process has gone; one given back a moment ago is
handed out without a round trip."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from portal import db as portal_db
from tests.conftest import is_postgres

pytestmark = pytest.mark.skipif(not is_postgres(), reason="the pool is PostgreSQL's (SQLite has no server to lose)")


@pytest.fixture
def engine():
    engine = portal_db.build_engine(os.environ["TEST_DATABASE_URL"])
    yield engine
    engine.dispose()


def _pings(monkeypatch, engine) -> list[int]:
    calls: list[int] = []
    original = engine.dialect.do_ping

    def counting(dbapi_connection):
        calls.append(1)
        return original(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return calls


def _backend(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _terminate(pid: int) -> None:
    admin = sa.create_engine(os.environ["TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one() is True
    finally:
        admin.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(engine, monkeypatch):
    monkeypatch.setattr(portal_db, "PING_AFTER_SECONDS", 3600.0)
    pings = _pings(monkeypatch, engine)
    first = _backend(engine)
    assert _backend(engine) == first  # the same pooled connection, handed out twice
    assert pings == []


def test_an_idle_connection_is_pinged_and_replaced_when_its_server_process_has_gone(engine, monkeypatch):
    monkeypatch.setattr(portal_db, "PING_AFTER_SECONDS", 0.0)
    pings = _pings(monkeypatch, engine)
    first = _backend(engine)
    _terminate(first)
    second = _backend(engine)  # no error: the ping found the dead connection and the pool made a new one
    assert second != first
    assert len(pings) >= 2


def test_within_the_trusted_moment_a_lost_server_fails_one_statement_and_the_pool_recovers(engine, monkeypatch):
    monkeypatch.setattr(portal_db, "PING_AFTER_SECONDS", 3600.0)
    first = _backend(engine)
    _terminate(first)
    with pytest.raises(sa.exc.OperationalError) as caught, engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert caught.value.connection_invalidated
    assert _backend(engine) != first  # the next checkout connects afresh
