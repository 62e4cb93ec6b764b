"""Writing and reading the audit trail. Every service that changes state calls `record`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm import Session

from portal.models import AuditEvent, User
from portal.security import client_ip


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return value


def snapshot(obj: Any, fields: list[str]) -> dict[str, Any]:
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def record(
    session: Session,
    actor: User | None,
    action: str,
    obj: Any = None,
    *,
    object_type: str | None = None,
    object_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_email: str = "",
) -> AuditEvent:
    """Add one audit row to the current transaction."""
    # Unwrap proxies such as Flask-Login's `current_user`.
    actor = actor._get_current_object() if hasattr(actor, "_get_current_object") else actor  # type: ignore[union-attr]
    obj = obj._get_current_object() if hasattr(obj, "_get_current_object") else obj
    if obj is not None:
        object_type = object_type or type(obj).__tablename__
        if object_id is None:
            if getattr(obj, "id", None) is None:
                session.flush()
            object_id = getattr(obj, "id", None)
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else actor_email,
        actor_role=actor.role.value if actor is not None else "",
        organisation_id=actor.organisation_id if actor is not None else None,
        action=action,
        object_type=object_type or "",
        object_id="" if object_id is None else str(object_id),
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        request_id=(g.get("request_id") or "internal") if has_request_context() else "cli",
        ip=client_ip() if has_request_context() else "",
    )
    session.add(event)
    return event


@dataclass
class AuditFilter:
    action: str = ""
    actor: str = ""
    object_type: str = ""
    object_id: str = ""
    date_from: date | None = None
    date_to: date | None = None


def filtered_query(filters: AuditFilter) -> sa.Select[tuple[AuditEvent]]:
    query = sa.select(AuditEvent)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.actor:
        query = query.where(AuditEvent.actor_email.contains(filters.actor.lower()))
    if filters.object_type:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEvent.object_id == filters.object_id)
    if filters.date_from:
        start = datetime.combine(filters.date_from, time.min, tzinfo=UTC)
        query = query.where(AuditEvent.at >= start)
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(AuditEvent.at < end)
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def known_actions(session: Session) -> list[str]:
    return list(session.scalars(sa.select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
