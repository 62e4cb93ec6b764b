"""Rate limits on the API, per token and per client address, shared by every worker: one upsert per
request on a fixed one-minute window in the database. Over the limit → 429 with `Retry-After`."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask import current_app, request
from sqlalchemy.orm import Session

from portal import clock
from portal.models import ApiRateCounter
from portal.security import client_ip

WINDOW_SECONDS = 60


def _upsert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def hit(session: Session, key: str, window_start: int) -> int:
    """Count one request for `key` in the window; the count so far, this one included (atomic)."""
    table = ApiRateCounter.__table__
    statement = _upsert(session)(table).values(key=key, window_start=window_start, count=1)
    statement = statement.on_conflict_do_update(index_elements=[table.c.key, table.c.window_start],
                                                set_={"count": table.c.count + 1}).returning(table.c.count)
    return int(session.execute(statement).scalar_one())


def check(session: Session) -> int | None:
    """Count this request against its address and, when it carries one, its token. The seconds to wait
    when a limit is passed, else None. Commits the counters (nothing else has happened yet)."""
    config = current_app.config
    now = int(clock.now().timestamp())
    window = now - now % WINDOW_SECONDS
    limits = [(f"ip:{client_ip()}", config["API_RATE_LIMIT_ADDRESS"])]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header[len("Bearer "):].strip()[:200]
        limits.append(("tok:" + hashlib.sha256(token.encode()).hexdigest()[:40], config["API_RATE_LIMIT_TOKEN"]))
    over = [limit for key, limit in limits if hit(session, key, window) > limit]
    session.commit()
    return (window + WINDOW_SECONDS - now) if over else None


def sweep(session: Session, older_than_seconds: int = 3600) -> int:
    cutoff = int(clock.now().timestamp()) - older_than_seconds
    result = session.execute(sa.delete(ApiRateCounter).where(ApiRateCounter.window_start < cutoff))
    return result.rowcount or 0
