"""The declarative base, and the engine and session built by the application factory.

Nothing here connects at import time. A request (or CLI command) gets one session, created
lazily through `db` and closed at the end of the application context. Services flush; routes
and commands commit once.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from werkzeug.local import LocalProxy

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store UTC-aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def build_engine(url: str) -> sa.Engine:
    options: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if url in ("sqlite://", "sqlite:///:memory:"):
            options["poolclass"] = sa.pool.StaticPool
    engine = create_engine(url, **options)
    if not url.startswith("sqlite"):
        _ping_when_idle(engine)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, open transactions (so SAVEPOINTs work), and
            # enforce foreign keys, which SQLite ignores by default.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # IMMEDIATE: take the write lock at the start, so concurrent read-then-write
            # transactions queue (busy_timeout) instead of failing with "database is locked".
            # The embedded database serialises transactions; PostgreSQL is for real load.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


#: A pooled connection given back less than this many seconds ago is handed out again without a ping; an older one
#: is pinged first and replaced if the server has gone (SQLAlchemy's `pool_pre_ping` pings every time: one more
#: round trip on every request, most of them on a connection used a few milliseconds before).
PING_AFTER_SECONDS = 1.0


def _ping_when_idle(engine: sa.Engine) -> None:
    """Pessimistic disconnect handling, skipped for a connection in use a moment ago. If the server restarts within
    that moment, the one statement that meets the dead connection fails (the request answers 503, "try again") and
    SQLAlchemy discards every connection of the pool made before it, so the next request connects afresh."""

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["used_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["used_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        used = record.info.get("used_at")
        if used is not None and time.monotonic() - used < PING_AFTER_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise sa.exc.DisconnectionError() from exc  # the pool replaces this connection and tries again
            raise


READS_ONLY = "reads_only"


def reads_only(view: Any) -> Any:
    """Mark a page that writes nothing: on PostgreSQL its statements run outside a transaction (autocommit, each
    statement its own consistent read), which spares the BEGIN and ROLLBACK round trips of every request. A flush
    with changes in such a request is refused (`_refuse_writes`); work that must write (a snapshot refreshed on
    read) opens a session of its own (`own_session`)."""
    view.reads_only = True
    return view


def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(READS_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("a page marked reads_only tried to write; give the write a session of its own")


def own_session(session: Session) -> Session | None:
    """A transactional session beside `session` when `session` reads outside a transaction (`reads_only`), else
    None (write in `session` itself)."""
    if not session.info.get(READS_ONLY):
        return None
    return current_app.extensions["db_session_factory"]()


def init_app(app: Flask) -> None:
    engine = build_engine(app.config["DATABASE_URL"])
    app.extensions["db_engine"] = engine
    app.extensions["db_session_factory"] = sessionmaker(bind=engine, expire_on_commit=False)
    if not event.contains(Session, "before_flush", _refuse_writes):
        event.listen(Session, "before_flush", _refuse_writes)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.close()


def _refuse_sql_writes(_conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any,
                      _executemany: bool) -> None:
    """Statements sent straight through the session (no flush) on a `reads_only` connection: reads only."""
    if _writes(statement):
        raise RuntimeError("a page marked reads_only sent a statement that writes; give it a session of its own")


_WRITE_VERB = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
_LOCKING = re.compile(r"\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE|KEY\s+SHARE)\b", re.IGNORECASE)


def _writes(statement: str) -> bool:
    """Whether a statement may write or lock: anything but a SELECT (or a WITH query) without a write in it."""
    head = statement.lstrip()[:4].upper()
    if head not in ("SELE", "WITH"):
        return True
    return bool(_LOCKING.search(statement) or (head == "WITH" and _WRITE_VERB.search(statement)))


def _reads_only_bind(factory: sessionmaker) -> sa.Engine | None:
    """The autocommit variant of the factory's engine for a `reads_only` page on PostgreSQL; None on SQLite (its
    BEGIN IMMEDIATE serialises transactions) and where sessions are bound to one connection (the tests' shared
    transaction). Built once per engine and kept on it."""
    bind = factory.kw.get("bind")
    if not isinstance(bind, sa.Engine) or bind.dialect.name != "postgresql":
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "reads_only", False) or request.method not in ("GET", "HEAD"):
        return None
    variant = bind.__dict__.get("_portal_reads_only")
    if variant is None:
        variant = bind.execution_options(isolation_level="AUTOCOMMIT")
        event.listen(variant, "before_cursor_execute", _refuse_sql_writes)
        bind.__dict__["_portal_reads_only"] = variant
    return variant


def get_session() -> Session:
    if "db_session" not in g:
        factory = current_app.extensions["db_session_factory"]
        bind = _reads_only_bind(factory) if has_request_context() else None
        g.db_session = factory() if bind is None else factory(bind=bind, info={READS_ONLY: True})
    return g.db_session


db: Session = LocalProxy(get_session)  # type: ignore[assignment]


def lock_row(session: Session, obj: Any) -> None:
    """Wait for anyone changing this row, then read it again: a PostgreSQL row lock (`FOR UPDATE`),
    held to the end of the transaction; SQLite's BEGIN IMMEDIATE already runs writers one at a time.
    Pending changes are flushed first so that the refresh never discards them."""
    session.flush()
    session.refresh(obj, with_for_update=True)
