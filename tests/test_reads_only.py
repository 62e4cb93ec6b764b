"""Pages that write nothing read outside a transaction on PostgreSQL (`portal.db.reads_only`): the monitor dashboard
costs one statement and no BEGIN or ROLLBACK, refreshes a missing or stale snapshot in a transaction of its own,
sees what others committed a moment before, and cannot write by mistake. Real connections from a pool (no shared
test transaction: that binds every session to one connection, where the page keeps its transaction)."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from portal.db import READS_ONLY, db, reads_only
from portal.models import AuditEvent, IndicatorRefresh, Role, User
from tests.conftest import demo_schema_app, is_postgres, login

pytestmark = pytest.mark.skipif(not is_postgres(), reason="SQLite keeps its transactions (BEGIN IMMEDIATE)")


@pytest.fixture(scope="module")
def app():
    with demo_schema_app("readsonly", 4) as app:

        @app.get("/_test/writes-by-mistake")
        @reads_only
        def writes_by_mistake():
            db.add(AuditEvent(action="test.mistake", object_type="test", object_id="1"))
            db.flush()
            return "written"

        @app.route("/_test/either", methods=["GET", "POST"])
        @reads_only
        def either():
            return "outside" if db.info.get(READS_ONLY) else "inside"

        @app.get("/_test/sql-write-by-mistake")
        @reads_only
        def sql_write_by_mistake():
            db.execute(sa.insert(AuditEvent).values(action="test.sql-mistake", object_type="test", object_id="1"))
            return "written"

        yield app


def _monitor(app) -> User:
    with app.app_context():
        user = db.scalar(sa.select(User).where(User.role == Role.MONITOR).order_by(User.id).limit(1))
        db.expunge(user)
        return user


class Statements:
    """Each statement with the state of its connection: autocommit, and the transaction status after it ran."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.seen = engine, []

    def __enter__(self):
        sa.event.listen(self.engine, "after_cursor_execute", self)
        return self

    def __exit__(self, *exc) -> None:
        sa.event.remove(self.engine, "after_cursor_execute", self)

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        raw = conn.connection.dbapi_connection
        self.seen.append((statement, raw.autocommit, raw.info.transaction_status))


def _fresh_worker(app) -> None:
    """Forget what this process kept (a worker that has not served the dashboard yet)."""
    from portal.indicators import dashboard

    dashboard._CACHE.clear()
    for kept in ("indicator_dashboard_cache", "indicator_dashboard_pages"):
        app.extensions.pop(kept, None)


def test_the_dashboard_reads_in_one_statement_outside_a_transaction(app):
    client = app.test_client()
    login(client, _monitor(app))
    assert client.get("/indicators").status_code == 200  # builds the page once
    with Statements(app.extensions["db_engine"]) as first:
        assert client.get("/indicators").status_code == 200
    assert len(first.seen) == 1, first.seen  # the user, with the data version
    statement, autocommit, status = first.seen[0]
    assert "indicator_data_version" in statement and autocommit is True
    assert status == psycopg.pq.TransactionStatus.IDLE  # no transaction was opened, so none is rolled back


def test_a_missing_snapshot_is_computed_and_committed_in_a_transaction_of_its_own(app):
    with app.app_context():
        db.execute(sa.delete(IndicatorRefresh))  # the values go with their refresh (foreign key)
        db.commit()
    _fresh_worker(app)
    client = app.test_client()
    login(client, _monitor(app))
    with Statements(app.extensions["db_engine"]) as seen:
        assert client.get("/indicators").status_code == 200
    in_transaction = [s for s, autocommit, _status in seen.seen if not autocommit]
    assert any("indicator_value" in s.lower() and s.lstrip().upper().startswith("INSERT") for s in in_transaction)
    assert all(not s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for s, a, _ in seen.seen if a)
    with app.app_context():  # committed: another connection sees it
        assert db.scalar(sa.select(sa.func.count(IndicatorRefresh.id)).where(IndicatorRefresh.finished_at.is_not(None))) == 1


def test_a_change_committed_elsewhere_is_seen_by_the_next_reader(app):
    from portal.indicators import freshness

    client = app.test_client()
    login(client, _monitor(app))
    assert client.get("/indicators").status_code == 200
    with app.app_context():
        before = freshness.current(db)
        freshness.bump(db)
        db.commit()
    with Statements(app.extensions["db_engine"]) as seen:
        assert client.get("/indicators").status_code == 200
    with app.app_context():
        latest = db.scalar(sa.select(IndicatorRefresh).order_by(IndicatorRefresh.id.desc()).limit(1))
        assert latest.data_version == before + 1  # refreshed on read from the version committed elsewhere
    assert len(seen.seen) > 1


def test_a_page_that_reads_only_cannot_write_and_nothing_is_kept(app):
    client = app.test_client()
    login(client, _monitor(app))
    assert client.get("/_test/writes-by-mistake").status_code == 500  # a programming error, refused before the write
    with app.app_context():
        assert db.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "test.mistake")) == 0


def test_a_statement_that_writes_is_refused_too_and_nothing_is_kept(app):
    client = app.test_client()
    login(client, _monitor(app))
    assert client.get("/_test/sql-write-by-mistake").status_code == 500  # refused before it reaches the server
    with app.app_context():
        assert db.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "test.sql-mistake")) == 0


def test_only_get_and_head_of_a_marked_page_read_outside_a_transaction(app):
    client = app.test_client()
    assert client.get("/_test/either").get_data(as_text=True) == "outside"
    assert client.head("/_test/either").status_code == 200
    assert client.post("/_test/either").get_data(as_text=True) == "inside"
    with app.test_request_context("/indicators", method="GET"):
        assert db.info.get(READS_ONLY) is True
    with app.test_request_context("/reports", method="GET"):
        assert not db.info.get(READS_ONLY)
