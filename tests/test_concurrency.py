"""Real parallel connections (PostgreSQL row locks and unique constraints; SQLite's file lock)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.eois import services as eois
from portal.models import Call, ExpressionOfInterest, OrgKind, Role, User
from tests import factories


def test_concurrent_starts_of_the_same_eoi_give_one(base_app):
    engine = base_app.extensions["db_engine"]
    with base_app.app_context(), Session(engine) as setup:
        ministry = factories.org(setup, OrgKind.MINISTRY)
        admin = factories.user(setup, Role.ADMIN, ministry)
        municipality = factories.org(setup, OrgKind.MUNICIPALITY)
        officers = [factories.user(setup, Role.MUNICIPALITY, municipality).id for _ in range(8)]
        call_id = factories.eoi_call(setup, admin, allocation_eur=Decimal("1.00")).id
        setup.commit()
    barrier = threading.Barrier(len(officers))

    def start(officer_id: int) -> int:
        barrier.wait(timeout=30)  # all threads open their transactions at the same moment
        with base_app.test_request_context(), Session(engine) as session:
            eoi = eois.start(session, session.get(User, officer_id), session.get(Call, call_id))
            session.commit()
            return eoi.id

    try:
        with ThreadPoolExecutor(max_workers=len(officers)) as pool:
            ids = list(pool.map(start, officers))
        assert len(set(ids)) == 1
        with Session(engine) as check:
            count = check.scalar(sa.select(sa.func.count()).where(ExpressionOfInterest.call_id == call_id))
        assert count == 1
    finally:
        # This test commits; take its call away again so the envelope is as the other tests expect.
        with Session(engine) as cleanup:
            cleanup.execute(sa.delete(ExpressionOfInterest).where(ExpressionOfInterest.call_id == call_id))
            cleanup.execute(sa.text("DELETE FROM call_service_type WHERE call_id = :id"), {"id": call_id})
            cleanup.execute(sa.delete(Call).where(Call.id == call_id))
            cleanup.commit()
