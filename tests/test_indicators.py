"""Indicator values against figures computed by hand on a small dataset — drafts, submitted and returned
reports excluded — with their disaggregations and filters; the dashboard, the catalogue, and the number of
statements per page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal import clock
from portal.grants import services as grants
from portal.indicators.compute import Filters, compute
from portal.models import AuditEvent, Indicator, Municipality, ServiceType
from portal.reports import services as reports
from tests import factories
from tests.conftest import count_queries, login

JAN, FEB, MAR, DEC = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1), date(2025, 12, 1)


def build(app, session, world, monkeypatch) -> dict:
    """Grant 1 (provider A, municipality A, home help) and grant 2 (provider B, municipality B, day care),
    both from January 2025, 40,000 EUR each (signed 12 December 2024); the advance of grant 1 paid on
    15 February 2025.

    | report              | figures                          | state                          |
    | G1 January          | 30 served (15 women), 8 staff    | accepted, submitted on time    |
    | G1 February         | 40 served (20 women), 3 Roma     | accepted                       |
    | G1 March            | 99 served                        | submitted, not accepted        |
    | G1 April            | 77 served                        | draft                          |
    | G2 January          | 10 served (5 women)              | accepted                       |
    | G2 February         | 50 served                        | returned                       |
    """
    admin, reviewer, finance = world.users["admin"], world.users["reviewer"], world.users["finance"]
    a, b = world.users["provider"], world.users["provider_b"]
    with app.test_request_context():
        g1 = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"], start=JAN,
                                    number="IND-1")
        g2 = factories.signed_grant(session, admin, world.orgs["provider_b"], world.orgs["municipality_b"], start=JAN,
                                    number="IND-2", service_codes=("day_care",))
        monkeypatch.setattr(clock, "now", lambda: datetime(2025, 2, 5, 9, tzinfo=UTC))
        factories.report(session, a, g1, JAN, served=30, accept_by=reviewer)
        monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 20, 9, tzinfo=UTC))
        factories.report(session, a, g1, FEB, served=40, hires={"roma": 3}, accept_by=reviewer)
        factories.report(session, a, g1, MAR, served=99, explanation="Втора група по решение на ЦСР.")
        factories.report(session, a, g1, date(2025, 4, 1), served=77, submit=False)
        factories.report(session, b, g2, JAN, served=10, accept_by=reviewer)
        returned = factories.report(session, b, g2, FEB, served=50, explanation="Нов дневен центар.")
        reports.return_report(session, reviewer, returned, "Проверете.")
        advance = g1.tranches[0]
        grants.request_release(session, finance, advance)
        grants.approve_release(session, admin, advance)
        grants.mark_paid(session, finance, advance, date(2025, 2, 15), "MK07-1")
        session.commit()
    return {"g1": g1, "g2": g2, "a": world.orgs["municipality"].municipality_id,
            "b": world.orgs["municipality_b"].municipality_id}


def values(observations, **match) -> dict:
    return {(o.indicator, o.period, o.dimension, o.category): o.value for o in observations
            if all(getattr(o, k) == v for k, v in match.items())}


@pytest.fixture
def data(app, session, world, monkeypatch):
    built = build(app, session, world, monkeypatch)
    with app.test_request_context():
        built["obs"] = compute(session, Filters(period_types=("month", "quarter", "year"), start=date(2024, 10, 1),
                                                end=date(2025, 12, 1)), now=datetime(2026, 11, 20, 9, tzinfo=UTC))
    return built


def test_beneficiaries_come_from_the_latest_accepted_month_of_each_grant(data):
    v = values(data["obs"], dimension="total")
    assert v[("BEN", "2025-01", "total", "")] == 40  # 30 + 10
    # grant 2's February was returned: its January (10) is carried, and the observation says so
    assert v[("BEN", "2025-02", "total", "")] == 50
    february = next(o for o in data["obs"] if (o.indicator, o.period, o.dimension) == ("BEN", "2025-02", "total"))
    assert (february.grants_current, february.grants_carried, february.grants_missing) == (1, 1, 0)
    # March: G1 submitted (not accepted) → its February (40) carried; G2 → its January (10) carried
    assert v[("BEN", "2025-03", "total", "")] == 50
    assert v[("BEN", "2025-Q1", "total", "")] == 50  # the stock at March, the quarter's last month
    # May onwards nothing accepted within three months: both grants missing, the stock is 0 and says why
    assert v[("BEN", "2025", "total", "")] == 0
    year = next(o for o in data["obs"] if (o.indicator, o.period, o.dimension) == ("BEN", "2025", "total"))
    assert (year.grants_current, year.grants_carried, year.grants_missing, year.as_of_month) == (0, 0, 2, DEC)
    assert v[("BEN_FEMALE", "2025-Q1", "total", "")] == Decimal("50.0")  # (20 + 5) / 50
    assert v[("BEN_NEW", "2025-Q1", "total", "")] == 80  # every accepted month's new: 30 + 40 + 10
    assert v[("BEN_CUM", "2025", "total", "")] == 80  # since the start
    assert v[("HTE", "2025-Q1", "total", "")] == 3
    assert v[("HTE", "2025-01", "total", "")] == 0
    assert v[("MUN", "2025-Q1", "total", "")] == 2 and v[("MUN", "2025-02", "total", "")] == 2
    assert v[("MUN", "2025-04", "total", "")] == 1  # G2's January is beyond the window in April
    assert v[("GRANTS", "2025-Q1", "total", "")] == 2
    assert ("GRANTS", "2024-Q4", "total", "") not in v  # signed, but the grants run from January


def test_timeliness_and_money(data):
    v = values(data["obs"], dimension="total")
    assert v[("ONTIME", "2025-01", "total", "")] == Decimal("50.0")  # G1 January on time, G2 January late
    assert v[("ONTIME", "2025-Q1", "total", "")] == Decimal("16.7")  # 1 of 6 grant-months due
    assert v[("COMMITTED", "2024-Q4", "total", "")] == Decimal("80000.00")  # signed on 12 December 2024
    assert v[("COMMITTED_PCT", "2025", "total", "")] == Decimal("0.7")  # 80,000 of 10,800,000
    assert ("DISBURSED", "2024-Q4", "total", "") not in v  # nothing paid yet
    assert ("DISBURSED", "2025-01", "total", "") not in v  # paid on 15 February
    assert v[("DISBURSED", "2025-Q1", "total", "")] == Decimal("12000.00")
    assert v[("DISBURSED", "2025-12", "total", "")] == Decimal("12000.00")  # cumulative


def test_disaggregations_add_up(data, session):
    v = values(data["obs"], period="2025-Q1", indicator="BEN")
    assert (v[("BEN", "2025-Q1", "sex", "female")], v[("BEN", "2025-Q1", "sex", "male")]) == (25, 25)
    # factories.report_data: 0-17 = n//10, 18-64 = n//5, 65-79 = n//3, the rest 80+; disability n//4.
    assert [v[("BEN", "2025-Q1", "age_band", band)] for band in ("0-17", "18-64", "65-79", "80+")] == [5, 10, 16, 19]
    assert (v[("BEN", "2025-Q1", "disability", "yes")], v[("BEN", "2025-Q1", "disability", "no")]) == (12, 38)
    codes = {m.id: m.code for m in session.scalars(sa.select(Municipality))}
    assert v[("BEN", "2025-Q1", "municipality", codes[data["a"]])] == 40
    assert v[("BEN", "2025-Q1", "municipality", codes[data["b"]])] == 10
    assert v[("BEN", "2025-Q1", "service_type", "home_help_care")] == 40
    assert v[("BEN", "2025-Q1", "service_type", "day_care")] == 10
    regions = [o.value for o in data["obs"] if (o.indicator, o.period, o.dimension) == ("BEN", "2025-Q1", "region")]
    assert sum(regions) == 50
    hte = values(data["obs"], period="2025-Q1", indicator="HTE")
    assert hte[("HTE", "2025-Q1", "hte_category", "roma")] == 3
    assert (hte[("HTE", "2025-Q1", "sex", "female")], hte[("HTE", "2025-Q1", "sex", "male")]) == (3, 0)


def test_filters_narrow_every_indicator(app, session, world, monkeypatch):
    built = build(app, session, world, monkeypatch)
    day_care = session.scalar(sa.select(ServiceType.id).where(ServiceType.code == "day_care"))
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    with app.test_request_context():
        by_type = compute(session, Filters(period_types=("quarter",), service_type_id=day_care), now=now)
        by_place = compute(session, Filters(period_types=("quarter",), municipality_id=built["a"]), now=now)
        only_ben = compute(session, Filters(period_types=("year",), codes=("BEN",)), now=now)
    assert values(by_type, dimension="total")[("BEN", "2025-Q1", "total", "")] == 10
    assert values(by_type, dimension="total")[("GRANTS", "2025-Q1", "total", "")] == 1
    assert values(by_type, dimension="total")[("COMMITTED", "2025-Q1", "total", "")] == Decimal("40000.00")
    place = values(by_place, dimension="total")
    assert place[("BEN", "2025-Q1", "total", "")] == 40 and place[("DISBURSED", "2025-Q1", "total", "")] == Decimal("12000.00")
    assert {o.indicator for o in only_ben} == {"BEN"}


def test_the_dashboard_shows_each_indicator_and_answers_in_a_fixed_number_of_statements(app, client, session, world,
                                                                                       monkeypatch):
    build(app, session, world, monkeypatch)
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    login(client, world.users["monitor"])
    page = client.get("/indicators").get_data(as_text=True)
    for indicator in session.scalars(sa.select(Indicator)):
        assert indicator.code in page
    assert "<svg" in page and "IND-1" not in page  # aggregates only: no grant is named
    with count_queries(app) as few:  # the snapshot is fresh (the first visit computed it)
        assert client.get("/indicators").status_code == 200
    with app.test_request_context():
        for n in range(4):
            extra = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           start=JAN, number=f"IND-X{n}")
            factories.report(session, world.users["provider"], extra, JAN, accept_by=world.users["reviewer"])
        session.commit()
    with count_queries(app) as refreshing:  # the data moved: this visit recomputes the snapshot first
        assert client.get("/indicators").status_code == 200
    with count_queries(app) as many:
        assert client.get("/indicators").status_code == 200
    assert refreshing.count > few.count
    assert few.count == many.count, "\n".join(many.statements)


def test_administrators_correct_the_catalogue(app, client, session, world, monkeypatch):
    build(app, session, world, monkeypatch)
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    indicator = session.scalar(sa.select(Indicator).where(Indicator.code == "BEN"))
    login(client, world.users["admin"])
    form = {"version_id": str(indicator.version_id), "name_mk": indicator.name_mk, "name_sq": indicator.name_sq,
            "name_en": "Beneficiaries (number)", "definition_mk": "", "definition_sq": "", "definition_en": "",
            "level": "objective", "baseline": "0", "baseline_date": "2018-09-13", "targets": "2026; 2100\n2027: 2500",
            "end_target": "3000", "end_target_date": "2028-12-31", "source": "Извештаи", "active": "y",
            "disaggregations": ["sex", "region"]}
    assert client.post(f"/admin/indicators/{indicator.id}", data={**form, "disaggregations": ["hte_category"]}).status_code == 422
    assert client.post(f"/admin/indicators/{indicator.id}", data={**form, "targets": "двеилјади"}).status_code == 422
    assert client.post(f"/admin/indicators/{indicator.id}", data={**form, "end_target_date": ""}).status_code == 422
    for carry in ("0", "13", "два", "-1"):
        refused = client.post(f"/admin/indicators/{indicator.id}", data={**form, "carry_months": carry})
        assert refused.status_code == 422 and "carry_months" in refused.get_data(as_text=True), carry
    assert client.get(f"/admin/indicators/{indicator.id}").status_code == 200
    assert client.post(f"/admin/indicators/{indicator.id}", data={**form, "carry_months": "2"}).status_code == 302
    session.expire_all()
    indicator = session.get(Indicator, indicator.id)
    assert (indicator.name_en, indicator.targets, indicator.end_target) == ("Beneficiaries (number)",
                                                                             {"2026": "2100", "2027": "2500"}, Decimal("3000.00"))
    assert indicator.disaggregations == ["region", "sex"] and indicator.carry_months == 2
    assert session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "indicator.updated"))
    with app.test_request_context():  # the dimensions left out are neither shown nor downloaded
        shown = {o.dimension for o in compute(session, Filters(period_types=("quarter",), codes=("BEN",)))}
    assert shown == {"total", "region", "sex"}
    stale = client.post(f"/admin/indicators/{indicator.id}", data={**form, "version_id": "1"})
    assert stale.status_code == 409


def test_the_snapshot_holds_what_compute_says_and_follows_the_data(app, session, world, monkeypatch):
    from portal.indicators import snapshot
    from portal.indicators.compute import PERIOD_TYPES
    from portal.models import MonthlyReport

    build(app, session, world, monkeypatch)
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    key = lambda o: (o.indicator, o.period_type, o.period, o.dimension, o.category, o.value)  # noqa: E731
    with app.test_request_context():
        live = compute(session, Filters(period_types=PERIOD_TYPES))
        stored, snap = snapshot.read(session, Filters(period_types=PERIOD_TYPES))
        assert [key(o) for o in stored] == [key(o) for o in live] and not snap.stale
        assert ("BEN", "month", "2025-03", "total", "", 109) not in {key(o) for o in stored}
        march = session.scalar(sa.select(MonthlyReport).where(MonthlyReport.month == MAR))
        reports.accept(session, world.users["reviewer"], march)  # the submitted March report is accepted
        session.commit()
        again, snap = snapshot.read(session, Filters(period_types=("month",), codes=("BEN",)), dimensions=("total",))
        # G1's accepted March (99) and G2's January carried (10)
        assert ("BEN", "month", "2025-03", "total", "", 109) in {key(o) for o in again}
    result = app.test_cli_runner().invoke(args=["refresh-indicators", "--force"])
    assert result.exit_code == 0 and "observations" in result.output


def test_a_kept_dashboard_page_belongs_to_its_reader_and_its_language(app, session, world, monkeypatch):
    build(app, session, world, monkeypatch)
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    monitor, admin = app.test_client(), app.test_client()
    login(monitor, world.users["monitor"])
    login(admin, world.users["admin"])
    monitor.get("/indicators")  # computes the snapshot and keeps the page's body
    first = monitor.get("/indicators").get_data(as_text=True)  # keeps the whole page for this reader
    with count_queries(app) as kept:
        again = monitor.get("/indicators").get_data(as_text=True)
    assert again == first and world.users["monitor"].full_name in again
    assert not any("indicator_value" in s for s in kept.statements)  # served as it was kept
    other = admin.get("/indicators").get_data(as_text=True)
    assert world.users["admin"].full_name in other and world.users["monitor"].full_name not in other
    monitor.post("/language", data={"language": "sq", "next": "/indicators"})
    albanian = monitor.get("/indicators").get_data(as_text=True)
    assert 'lang="sq"' in albanian and albanian != first


def test_a_rollback_after_the_dashboard_was_kept_does_not_spoil_it(app, session, world, monkeypatch):
    """The dashboard is kept for later requests: a rollback later in the request that built it (an error page)
    leaves what was kept readable."""
    from portal.db import db
    from portal.indicators import dashboard

    build(app, session, world, monkeypatch)
    with app.test_request_context():
        kept = dashboard.build(db)
        db.rollback()
    names = [status.indicator.code for status in kept.statuses]  # readable after the rollback and the session's end
    assert names and kept.refreshed.finished_at is not None
