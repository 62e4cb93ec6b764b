"""Test fixtures: a real database per run (SQLite file or a PostgreSQL schema of its own),
migrated with Alembic; each test runs in a transaction rolled back at its end."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session, sessionmaker

from config import TestingConfig
from portal import create_app
from portal.cli import alembic_config
from portal.models import Organisation, Role, User
from tests import factories

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _target() -> str:
    return os.environ.get("TEST_DATABASE_URL", "sqlite")


def is_postgres() -> bool:
    return _target().startswith("postgresql")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    target = _target()
    if target.startswith("sqlite"):
        path = tmp_path_factory.mktemp("db") / "portal-test.db"
        yield f"sqlite:///{path}"
        return
    # PostgreSQL: a schema of this run's own, dropped at the end, so runs never collide.
    admin_engine = sa.create_engine(target, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin_engine.dispose()
        message = f"PostgreSQL is not reachable at {target}: {exc.orig}"
        if IN_CI or os.environ.get("ALLOW_NO_POSTGRES", "") != "1":
            # A run that asked for PostgreSQL and tested nothing must not pass (`make test-postgres`).
            pytest.exit(f"{message}\nStart PostgreSQL, or set ALLOW_NO_POSTGRES=1 to skip these tests knowingly.",
                        returncode=3)
        pytest.skip(message)
    schema = f"test_run_{os.getpid()}_{secrets.token_hex(4)}"
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in target else "?"
    yield f"{target}{separator}options=-csearch_path%3D{schema}"
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin_engine.dispose()


def make_app(database_url: str, **overrides):
    return create_app(TestingConfig(DATABASE_URL=database_url, **overrides))


@contextmanager
def schema_app(prefix: str, pool_size: int, **overrides) -> Iterator:
    """An application on a PostgreSQL schema of its own, migrated to head, whose sessions draw from a pool of
    `pool_size` real connections (no shared test transaction: for races between parallel requests). The
    schema is dropped afterwards. Callers skip on SQLite first."""
    from sqlalchemy.orm import sessionmaker

    target = os.environ["TEST_DATABASE_URL"]
    admin_engine = sa.create_engine(target, isolation_level="AUTOCOMMIT")
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{target}{'&' if '?' in target else '?'}options=-csearch_path%3D{schema}"
    app = make_app(url, **overrides)
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=0)
    app.extensions["db_engine"].dispose()
    app.extensions["db_engine"] = engine
    app.extensions["db_session_factory"] = sessionmaker(bind=engine, expire_on_commit=False)
    command.upgrade(alembic_config(url), "head")
    try:
        yield app
    finally:
        engine.dispose()
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


@contextmanager
def demo_schema_app(prefix: str, pool_size: int, **overrides) -> Iterator:
    """`schema_app` with the reference data and the demo's people, calls, awards and agreements committed for real
    (not its months of reports): what the races between parallel requests start from."""
    from portal import demo, demo_reports
    from portal.db import db
    from portal.reference.services import load_reference_data

    with schema_app(prefix, pool_size, **overrides) as app:
        with app.app_context():
            load_reference_data(db)
            reports, demo_reports.demo_reports = demo_reports.demo_reports, lambda session: 0
            try:
                demo.seed_demo(db)
            finally:
                demo_reports.demo_reports = reports
            db.commit()
            db.close()
        yield app


@contextmanager
def empty_database_app(tmp_path, **overrides) -> Iterator:
    """An application on a database of its own — a SQLite file, or a PostgreSQL schema — migrated to head with the
    reference data and nothing else: for commands that build on an empty database (`seed-stress`, `seed-demo`). The
    shared test database is not empty on PostgreSQL: the concurrency tests commit their own programme for real."""
    from portal.db import db
    from portal.reference.services import load_reference_data

    def _reference(app) -> None:
        with app.app_context():
            load_reference_data(db)
            db.commit()
            db.close()

    if is_postgres():
        with schema_app("empty", 5, **overrides) as app:
            _reference(app)
            yield app
        return
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = make_app(url, **overrides)
    command.upgrade(alembic_config(url), "head")
    _reference(app)
    try:
        yield app
    finally:
        app.extensions["db_engine"].dispose()


def _sqlite_copy(source: str, target: str) -> None:
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()


@pytest.fixture(scope="session")
def base_app(database_url):
    # `make mutation` sets TEST_SQLITE_TEMPLATE (a file of its own run): the first run migrates and keeps a copy,
    # every later run (one per mutant) starts from that copy instead of migrating again.
    template = os.environ.get("TEST_SQLITE_TEMPLATE", "") if database_url.startswith("sqlite:///") else ""
    path = database_url.removeprefix("sqlite:///")
    if template and os.path.exists(template):
        _sqlite_copy(template, path)
        app = make_app(database_url)
    else:
        app = make_app(database_url)
        with app.app_context():
            command.upgrade(alembic_config(database_url), "head")
            from portal.db import db
            from portal.reference.services import load_reference_data

            load_reference_data(db)
            db.commit()
            db.close()
        if template:
            _sqlite_copy(path, template)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def app(base_app) -> Iterator:
    """The application with every session bound to one connection whose outer transaction
    is rolled back after the test (commits become savepoints)."""
    engine = base_app.extensions["db_engine"]
    connection = engine.connect()
    outer = connection.begin()
    original = base_app.extensions["db_session_factory"]
    base_app.extensions["db_session_factory"] = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    saved_config = dict(base_app.config)
    # Answers kept per data version in the process: data versions repeat across tests (each is rolled back).
    for kept in ("api_answer_cache", "indicator_xlsx_cache", "indicator_dashboard_cache", "indicator_dashboard_pages"):
        base_app.extensions.pop(kept, None)
    try:
        yield base_app
    finally:
        base_app.config.clear()
        base_app.config.update(saved_config)
        base_app.extensions["db_session_factory"] = original
        outer.rollback()
        connection.close()


@pytest.fixture
def session(app) -> Iterator[Session]:
    """A session for arranging and checking data, inside the test's transaction.

    No application context stays pushed during the test: a request made by the test client
    would reuse it (and its `g`) instead of getting its own. Service calls in tests use
    `with app.test_request_context():`."""
    s = app.extensions["db_session_factory"]()
    yield s
    s.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(app, session):
    """Organisations and one user per role; `own` and `foreign` objects for the access matrix."""
    with app.app_context():
        w = factories.World.build(session)
        session.commit()
    return w


def login(client, user: User) -> None:
    """Sign in by writing the session as the login view does (tests of the login view itself
    post the form)."""
    now = datetime.now(UTC).timestamp()
    with client.session_transaction() as sess:
        sess.clear()
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
        sess["started_at"] = now
        sess["seen_at"] = now


@pytest.fixture
def login_as(client, world):
    def _login(role: str | Role) -> User:
        user = world.users[Role(role).value] if not isinstance(role, Role) else world.users[role.value]
        login(client, user)
        return user

    return _login


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.strip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            return
        self.count += 1
        self.statements.append(statement)


@contextmanager
def count_queries(app) -> Iterator[QueryCounter]:
    """Count the SQL statements one request sends (savepoint bookkeeping excluded)."""
    engine = app.extensions["db_engine"]
    counter = QueryCounter()
    sa.event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        sa.event.remove(engine, "before_cursor_execute", counter)


__all__ = ["Organisation", "count_queries", "demo_schema_app", "empty_database_app", "is_postgres", "login", "make_app", "schema_app"]


class Mailbox:
    """Messages received by a real SMTP server (aiosmtpd) listening on loopback."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def clear(self) -> None:
        self.messages.clear()

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def smtp_server():
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def mailbox(app, smtp_server) -> Mailbox:
    box, port = smtp_server
    box.clear()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    return box


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3 server over HTTP on loopback, reached through the production boto3 code."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage_backend(request, app, tmp_path, monkeypatch):
    """Each document test runs against the local disk and against S3 (moto server)."""
    app.extensions["storage"] = None
    if request.param == "local":
        app.config.update(STORAGE_BACKEND="local", UPLOAD_DIR=tmp_path / "uploads")
    else:
        import boto3

        endpoint = request.getfixturevalue("s3_server")
        for name, value in {"AWS_ACCESS_KEY_ID": "portal-test", "AWS_SECRET_ACCESS_KEY": "portal-test-secret",
                            "AWS_DEFAULT_REGION": "eu-central-1"}.items():
            monkeypatch.setenv(name, value)
        bucket = f"portal-{secrets.token_hex(4)}"
        boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1").create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        app.config.update(STORAGE_BACKEND="s3", S3_BUCKET=bucket, S3_ENDPOINT_URL=endpoint, S3_REGION="eu-central-1")
    yield request.param
    app.extensions["storage"] = None
