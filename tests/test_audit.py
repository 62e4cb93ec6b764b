"""The audit trail is append-only, enforced by the database itself."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal import audit
from portal.models import AuditEvent


def _one_event(app, session):
    with app.test_request_context(headers={"X-Request-ID": "req-1234567890"}):
        app.preprocess_request()  # assigns the request id
        event = audit.record(session, None, "test.event", object_type="thing", object_id=1,
                             before={"a": 1}, after={"a": 2}, actor_email="someone@test.example")
        session.commit()
    return event


def test_record_stores_who_what_when_and_the_request(app, session):
    event = _one_event(app, session)
    stored = session.get(AuditEvent, event.id)
    assert stored.request_id == "req-1234567890"
    assert stored.before == {"a": 1} and stored.after == {"a": 2}
    assert stored.at.tzinfo is not None


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET action = 'tampered'",
    "DELETE FROM audit_event",
])
def test_database_refuses_update_and_delete(app, session, statement):
    _one_event(app, session)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with session.begin_nested():
            session.execute(sa.text(statement))
    assert session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "tampered")) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) >= 1


def test_orm_update_is_refused_too(app, session):
    event = _one_event(app, session)
    event.action = "tampered"
    with pytest.raises(sa.exc.DatabaseError):
        session.flush()
    session.rollback()
