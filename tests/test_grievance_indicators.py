"""The grievance mechanism in the results framework: received (flow), acknowledged and resolved on time (ratios of
the cases whose deadline has passed or that met it), by place and category — sensitive cases never by place or
category, and in the totals only from the mechanism's threshold on. Worked out by hand on cases made through the
grievance services."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

import pytest
import sqlalchemy as sa

from portal import clock
from portal.grievances import services
from portal.indicators.compute import Filters, compute
from portal.models import GrievanceSettings, Municipality

ADDRESSES = count(1)


def case(app, session, when: datetime, municipality_id: int, category: str = "service_quality"):
    with app.test_request_context():
        original = clock.now
        clock.now = lambda: when
        try:
            made, _secret = services.submit(session, services.IntakeData(
                category=category, municipality_id=municipality_id, agreement_id=None, about="",
                description="Негователката доаѓа само два пати неделно наместо секој ден.", anonymous=True,
                contact_name="", contact_email="", contact_phone=""), f"10.9.{next(ADDRESSES)}.1")
        finally:
            clock.now = original
        session.commit()
    return made


@pytest.fixture
def cases(app, session, world, monkeypatch):
    """Three cases in March 2026 and one in April (all Skopje time), in two municipalities:

    | case | received        | place | acknowledged        | closed             | sensitive |
    | A    | 2 March         | M1    | 4 March (on time)   | 20 March (on time) | no        |
    | B    | 10 March        | M1    | 25 March (late)     | —  (overdue by May)| no        |
    | C    | 31 March 23:30  | M2    | —  (due 7 April)    | —                  | no        |
    | D    | 5 April         | M2    | —                   | —                  | yes (fraud) |
    Now is 1 May 2026: the acknowledgement deadlines (7 days) of A, B and C have passed; A is closed, and B's and C's
    resolution deadlines (30 days: 9 April and 30 April) have passed too."""
    handler = world.users["admin"]
    m1 = world.orgs["municipality"].municipality_id
    m2 = world.orgs["municipality_b"].municipality_id
    a = case(app, session, datetime(2026, 3, 2, 8, tzinfo=UTC), m1)
    b = case(app, session, datetime(2026, 3, 10, 8, tzinfo=UTC), m1, "access")
    case(app, session, datetime(2026, 3, 31, 21, 30, tzinfo=UTC), m2)  # C: 31 March, 23:30 in Skopje
    d = case(app, session, datetime(2026, 4, 5, 8, tzinfo=UTC), m2, "fraud")  # D
    with app.test_request_context():
        for made, acked, closed in ((a, datetime(2026, 3, 4, 9, tzinfo=UTC), datetime(2026, 3, 20, 9, tzinfo=UTC)),
                                    (b, datetime(2026, 3, 25, 9, tzinfo=UTC), None)):
            monkeypatch.setattr(clock, "now", lambda acked=acked: acked)
            services.acknowledge(session, handler, made)
            if closed:
                monkeypatch.setattr(clock, "now", lambda closed=closed: closed)
                services.close(session, handler, made, "Распоредот е вратен на секој ден.", True)
        session.commit()
    return {"m1": m1, "m2": m2, "sensitive": d}


def observe(app, session):
    with app.test_request_context():
        found = compute(session, Filters(period_types=("month", "quarter"), start=datetime(2026, 1, 1).date(),
                                         end=datetime(2026, 6, 1).date(),
                                         codes=("GRM_RECEIVED", "GRM_ACK_ONTIME", "GRM_RESOLVED_ONTIME")),
                        now=datetime(2026, 5, 1, 9, tzinfo=UTC))
    return {(o.indicator, o.period, o.dimension, o.category): o.value for o in found}


def test_received_and_on_time_shares_by_month_quarter_place_and_category(app, session, cases):
    v = observe(app, session)
    code = dict(session.execute(sa.select(Municipality.id, Municipality.code)).all())
    assert v[("GRM_RECEIVED", "2026-03", "total", "")] == 3  # C counts in March: 23:30 in Skopje
    assert v[("GRM_RECEIVED", "2026-Q1", "total", "")] == 3
    assert v[("GRM_RECEIVED", "2026-03", "municipality", code[cases["m1"]])] == 2
    assert v[("GRM_RECEIVED", "2026-03", "grievance_category", "access")] == 1
    # March: A acknowledged on time, B late, C never (its deadline passed): 1 of 3
    assert v[("GRM_ACK_ONTIME", "2026-03", "total", "")] == Decimal("33.3")
    # March: A resolved on time; B and C past their 30 days: 1 of 3
    assert v[("GRM_RESOLVED_ONTIME", "2026-Q1", "total", "")] == Decimal("33.3")
    assert v[("GRM_RESOLVED_ONTIME", "2026-03", "municipality", code[cases["m1"]])] == Decimal("50.0")
    # The sensitive case (April) is under the threshold (5): counted nowhere, never by place or category
    assert ("GRM_RECEIVED", "2026-04", "total", "") not in v
    assert ("GRM_RECEIVED", "2026-04", "municipality", code[cases["m2"]]) not in v
    assert not any(key[3] == "fraud" for key in v)


def test_sensitive_cases_count_in_the_totals_from_the_threshold_on(app, session, cases):
    session.execute(sa.update(GrievanceSettings).values(sensitive_threshold=1))
    session.commit()
    v = observe(app, session)
    code = dict(session.execute(sa.select(Municipality.id, Municipality.code)).all())
    assert v[("GRM_RECEIVED", "2026-04", "total", "")] == 1
    assert v[("GRM_RECEIVED", "2026-Q2", "total", "")] == 1
    assert ("GRM_RECEIVED", "2026-04", "municipality", code[cases["m2"]]) not in v  # never by place
    assert not any(key[2] == "grievance_category" and key[3] == "fraud" for key in v)
