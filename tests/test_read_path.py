"""The read path at national scale, proven on small data: the envelope's table pages through the months the
database sums (the chart shows them all); the completeness grid classifies in SQL the page shown only; API answers
and the indicator workbook are kept per data version (a repeated call reads the version and nothing else; a change
in the data changes them)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import sqlalchemy as sa
from openpyxl import load_workbook

from portal import clock
from portal.calls import services as calls
from portal.grants import dashboard
from portal.models import MonthlyReport
from portal.pagination import page_of
from portal.reports import completeness
from tests import factories
from tests.conftest import count_queries, login
from tests.test_indicators import MAR, build


def _grants(app, session, world, starts):
    with app.test_request_context():
        made = [factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                       start=start, number=f"RP-{n}") for n, start in enumerate(starts)]
        session.commit()
    return made


def test_the_envelope_pages_through_running_totals_summed_by_the_database(app, client, session, world):
    _grants(app, session, world, [date(2025, 1, 1), date(2025, 6, 1), date(2026, 3, 1)])
    with app.test_request_context():
        data = dashboard.build(session, calls.get_programme(session))
        series = dashboard.cumulative(data.months)
    assert len(series) >= 4
    pages = [page_of(series, n, 2) for n in range(1, len(series) // 2 + 3)]
    assert [row for page in pages[:-1] for row in page.items] == series and pages[-1].page == pages[-2].page
    committed = sum(row.committed for row in data.by_call)
    assert series[-1][1] == committed == data.totals.committed == sum(row.committed for row in data.by_municipality)
    assert sum(row.disbursed for row in data.by_service) == data.totals.disbursed == series[-1][2]
    app.config["PAGE_SIZE"] = 2
    login(client, world.users["monitor"])
    counts = []
    for n in (1, 2):
        with count_queries(app) as statements:
            page = client.get(f"/envelope?page={n}").get_data(as_text=True)
        counts.append(statements.count)
        assert 'rel="next"' in page and ('rel="prev"' in page) == (n == 2)
        assert not any("application_service_type.application_id IN" in s for s in statements.statements)
    assert counts[0] == counts[1], counts


def test_the_completeness_page_is_the_full_grid_sliced(app, session, world):
    made = _grants(app, session, world, [factories.months_ago(n) for n in (2, 3, 4, 5, 6)])
    with app.test_request_context():
        factories.report(session, world.users["provider"], made[0], made[0].current.start_date,
                         accept_by=world.users["reviewer"])
        session.commit()
        reviewer = world.users["reviewer"]
        full = completeness.build(session, reviewer, completeness.Filters())
        page = completeness.build(session, reviewer, completeness.Filters(), page=2, per_page=2)
        beyond = completeness.build(session, reviewer, completeness.Filters(), page=99, per_page=2)
    assert page.grant_rows == full.grant_rows[2:4] and page.total == len(full.grant_rows) and page.page == 2
    assert [t.counts for t in page.totals] == [t.counts for t in full.totals]
    assert [(m.municipality, m.grants, [c.counts for c in m.cells]) for m in page.municipality_rows] == [
        (m.municipality, m.grants, [c.counts for c in m.cells]) for m in full.municipality_rows]
    last = -(-len(full.grant_rows) // 2)
    assert beyond.page == last and beyond.grant_rows == full.grant_rows[(last - 1) * 2:]


API = "/api/v1/observations?indicator=BEN&period_type=quarter&dimension=total"


def _q1(body: dict) -> int:
    return next(int(o["value"]) for o in body["data"] if o["period"] == "2025-Q1")


def test_api_answers_are_kept_per_data_version(app, session, world, monkeypatch):
    build(app, session, world, monkeypatch)
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    monitor, reviewer = app.test_client(), app.test_client()
    login(monitor, world.users["monitor"])
    login(reviewer, world.users["reviewer"])
    first = monitor.get(API)
    with count_queries(app) as again:
        second = monitor.get(API)
    assert second.status_code == 200 and second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
    assert len(again.statements) < 5 and not any("indicator_value" in s for s in again.statements), again.statements
    assert monitor.get(API, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert _q1(first.json) == 50
    region = world.orgs["municipality"].municipality.region_id
    live = f"/api/v1/observations?indicator=BEN&period_type=quarter&region={region}"
    computed = monitor.get(live)
    with count_queries(app) as live_again:
        repeated = monitor.get(live)
    assert computed.json["meta"]["source"] == "live" and repeated.data == computed.data
    assert len(live_again.statements) < 5, live_again.statements
    march = session.scalar(sa.select(MonthlyReport).where(MonthlyReport.month == MAR))
    assert reviewer.post(f"/reports/{march.id}/review", data={"accept": "1", "confirm": "y", "comment": "Уредно."},
                         follow_redirects=True).status_code == 200
    after = monitor.get(API)
    assert _q1(after.json) == 109 and after.json["meta"]["data_version"] > first.json["meta"]["data_version"]
    assert monitor.get(live).json["meta"]["data_version"] == after.json["meta"]["data_version"]


def test_the_workbook_is_built_once_per_data_version(app, session, world, monkeypatch):
    build(app, session, world, monkeypatch)
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    monitor, reviewer = app.test_client(), app.test_client()
    login(monitor, world.users["monitor"])
    login(reviewer, world.users["reviewer"])
    url = "/indicators/observations.xlsx?indicator=BEN"
    first = monitor.get(url)
    with count_queries(app) as again:
        second = monitor.get(url)
    assert second.data == first.data and second.headers["X-Data-Version"] == first.headers["X-Data-Version"]
    assert not any("indicator_value" in s for s in again.statements), again.statements
    march = session.scalar(sa.select(MonthlyReport).where(MonthlyReport.month == MAR))
    reviewer.post(f"/reports/{march.id}/review", data={"accept": "1", "confirm": "y", "comment": "Уредно."})
    after = monitor.get(url)
    assert int(after.headers["X-Data-Version"]) > int(first.headers["X-Data-Version"]) and after.data != first.data
    assert len(load_workbook(io.BytesIO(after.data), read_only=True).sheetnames) >= 3
