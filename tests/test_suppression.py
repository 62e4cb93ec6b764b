"""Small-cell suppression (issue 16): readers outside the ministry never see a count of 1 to 4 people, nor a cell
that would give one back by subtraction — on the dashboard, in the CSV, the XLSX and the API; the ministry sees
exact figures. The rule itself on hand-built cells, then every output path for a monitor and an administrator."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from portal.indicators import suppression
from portal.indicators.compute import Observation
from portal.models import Indicator
from tests import factories
from tests.conftest import login
from tests.test_register_indicators import registers  # noqa: F401 (the fixture)

D = date(2026, 1, 1)


def cell(code: str, dimension: str, category: str, value, unit: str = "number") -> Observation:
    return Observation(code, "month", "2026-01", D, D, dimension, category, category, Decimal(value), unit)


def shown(cells: list[Observation], regions=None) -> dict[tuple[str, str, str], object]:
    return {(o.indicator, o.dimension, o.category): (o.value if o.suppressed is None else o.suppressed)
            for o in suppression.apply(cells, regions)}


# The rule ------------------------------------------------------------------------------------------------------

def test_small_counts_of_people_are_withheld_and_one_more_cell_of_their_breakdown():
    out = shown([cell("BEN", "total", "", 40), cell("BEN", "sex", "female", 37), cell("BEN", "sex", "male", 3),
                 cell("BEN", "region", "1", 20), cell("BEN", "region", "2", 12), cell("BEN", "region", "3", 8),
                 cell("BEN", "region", "4", 0)])
    assert out[("BEN", "total", "")] == 40
    assert out[("BEN", "sex", "male")] == suppression.SMALL
    assert out[("BEN", "sex", "female")] == suppression.SECONDARY  # else 40 − 37 gives the 3 back
    assert [out[("BEN", "region", r)] for r in "1234"] == [20, 12, 8, 0]  # nothing small: all shown, zero too


def test_the_second_cell_is_the_next_smallest_with_people_and_two_small_cells_protect_each_other():
    out = shown([cell("BEN_UNIQUE", "region", "1", 2), cell("BEN_UNIQUE", "region", "2", 0),
                 cell("BEN_UNIQUE", "region", "3", 9), cell("BEN_UNIQUE", "region", "4", 30)])
    assert [out[("BEN_UNIQUE", "region", r)] for r in "1234"] == [suppression.SMALL, 0, suppression.SECONDARY, 30]
    out = shown([cell("HTE", "region", "1", 2), cell("HTE", "region", "2", 4), cell("HTE", "region", "3", 9)])
    assert [out[("HTE", "region", r)] for r in "123"] == [suppression.SMALL, suppression.SMALL, 9]


def test_a_lone_small_cell_withholds_its_total_and_municipalities_are_protected_within_their_region():
    out = shown([cell("BEN_CUM", "total", "", 7), cell("BEN_CUM", "service_type", "day_care", 3)])
    assert out[("BEN_CUM", "service_type", "day_care")] == suppression.SMALL
    assert out[("BEN_CUM", "total", "")] == suppression.SECONDARY
    cells = [cell("BEN", "region", "1", 30), cell("BEN", "region", "2", 50),
             cell("BEN", "municipality", "A", 3), cell("BEN", "municipality", "B", 27),
             cell("BEN", "municipality", "C", 10), cell("BEN", "municipality", "D", 40)]
    out = shown(cells, {"A": "1", "B": "1", "C": "2", "D": "2"})
    # A's region is 30 = 3 + 27: B is withheld (not C, the smaller figure of another region).
    assert out[("BEN", "municipality", "B")] == suppression.SECONDARY
    assert out[("BEN", "municipality", "C")] == 10


def test_shares_of_people_are_withheld_with_their_base_and_money_never():
    out = shown([cell("BEN", "municipality", "A", 12), cell("BEN", "municipality", "B", 40),
                 cell("BEN", "municipality", "C", 3), cell("BEN", "municipality", "D", 8),
                 cell("BEN_FEMALE", "municipality", "A", "75.0", "percent"),
                 cell("BEN_FEMALE", "municipality", "B", "50.0", "percent"),
                 cell("BEN_FEMALE", "municipality", "C", "66.7", "percent"),
                 cell("COMMITTED", "municipality", "C", "3.00", "eur"), cell("GRANTS", "municipality", "C", 1)])
    assert out[("BEN_FEMALE", "municipality", "A")] == suppression.SMALL  # 12 × 75 % = 9 women, 3 men
    assert out[("BEN_FEMALE", "municipality", "B")] == Decimal("50.0")
    assert out[("BEN_FEMALE", "municipality", "C")] == suppression.SMALL  # its base is withheld
    assert out[("BEN", "municipality", "D")] == suppression.SECONDARY
    assert out[("COMMITTED", "municipality", "C")] == Decimal("3.00")
    assert out[("GRANTS", "municipality", "C")] == 1


def test_only_the_ministry_sees_exact_figures(world):
    assert suppression.exact_for(world.users["admin"]) and suppression.exact_for(world.users["reviewer"])
    assert not suppression.exact_for(world.users["monitor"])
    assert not suppression.exact_for(None)


# Every output path ------------------------------------------------------------------------------------------

def _english(session, world):
    for role in ("monitor", "admin"):
        world.users[role].preferred_language = "en"
    session.commit()


def _csv(client, query: str) -> list[dict]:
    response = client.get(f"/indicators/observations.csv?{query}")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def _latest(rows: list[dict], dimension: str, category: str) -> dict:
    return max((r for r in rows if r["dimension"] == dimension and r["category"] == category), key=lambda r: r["period"])


@pytest.mark.parametrize("role", ["monitor", "admin"])
def test_downloads_and_the_api_withhold_small_cells_for_monitors_only(app, client, session, registers, role):  # noqa: F811
    """BEN_UNIQUE by service type: day care 1 person (small), home help 9 (the only other cell: secondary); by sex:
    4 men (small), 6 women (secondary); the total of 10 is shown to both."""
    _english(session, registers)
    login(client, registers.users[role])
    exact = role == "admin"
    since = factories.months_ago(6).strftime("%Y-%m")
    query = f"indicator=BEN_UNIQUE&period_type=month&from={since}"
    rows = _csv(client, query)
    day, home = _latest(rows, "service_type", "day_care"), _latest(rows, "service_type", "home_help_care")
    men, total = _latest(rows, "sex", "male"), _latest(rows, "total", "")
    assert (total["value"], total["suppressed"], total["method"]) == ("10", "", "mixed")
    if exact:
        assert (day["value"], day["suppressed"], day["method"]) == ("1", "", "exact")
        assert (home["value"], men["value"]) == ("9", "4")
    else:
        assert (day["value"], day["suppressed"], day["method"]) == ("", "small", "exact")
        assert (home["value"], home["suppressed"]) == ("", "secondary")
        assert (men["value"], men["suppressed"]) == ("", "small")
        assert not any(r["value"] in ("1", "2", "3", "4") for r in rows)

    answer = client.get(f"/api/v1/observations?{query}&dimension=service_type&per_page=500").get_json()
    api = max((o for o in answer["data"] if o["category"] == "day_care"), key=lambda o: o["period"])
    assert (api["value"], api["suppressed"], api["method"]) == ((1.0, None, "exact") if exact else (None, "small", "exact"))

    response = client.get(f"/indicators/observations.xlsx?{query}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data))["Service type"]
    header = [c.value for c in sheet[1]]
    values = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(min_row=2)]
    last = max((v for v in values if v["Category code"] == "day_care"), key=lambda v: v["Period"])
    if exact:
        assert (last["Value"], last["Withheld"] or "") == (1, "")
    else:
        assert last["Value"] is None and last["Withheld"].startswith("<5")
    about = load_workbook(io.BytesIO(response.data))["About these figures"]
    notes = " ".join(str(c.value) for row in about.iter_rows() for c in row)
    assert ("fewer than 5" in notes) != exact and "exact" in notes


def test_the_dashboard_shows_small_cells_as_under_five_to_monitors_only(app, client, session, world):
    with app.test_request_context():
        grant = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                       start=factories.months_ago(6))
        factories.report(session, world.users["provider"], grant, factories.months_ago(1), served=3,
                         accept_by=world.users["reviewer"])
        session.commit()
    _english(session, world)
    login(client, world.users["monitor"])
    page = client.get("/indicators").get_data(as_text=True)
    assert 'id="small-cells"' in page and "&lt;5</abbr>" in page
    login(client, world.users["admin"])
    page = client.get("/indicators").get_data(as_text=True)
    assert 'id="small-cells"' not in page and "&lt;5</abbr>" not in page


def _iati_actuals(client, session, code: str) -> list[str]:
    from lxml import etree

    name = session.scalar(sa.select(Indicator.name_en).where(Indicator.code == code))
    root = etree.fromstring(client.get("/api/v1/iati-activity.xml").data)
    return [period.find("actual").get("value") for indicator in root.iter("indicator")
            if any(n.text == name for n in indicator.find("title").iter("narrative"))
            for period in indicator.iter("period") if period.find("actual") is not None]


def test_the_public_iati_file_withholds_small_counts_of_people(app, client, session, world):
    with app.test_request_context():
        grant = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                       start=factories.months_ago(6))
        factories.report(session, world.users["provider"], grant, factories.months_ago(1), served=3,
                         accept_by=world.users["reviewer"])
        session.commit()
    # Three people since the start: no actual for BEN_CUM; the grants active (not people) are published.
    assert not any(float(v) == 3 for v in _iati_actuals(client, session, "BEN_CUM"))
    assert _iati_actuals(client, session, "GRANTS")


# The flags stored at each refresh (issue 15's speed: no rule per request) ---------------------------------------

def test_the_refresh_stores_the_flags_the_rule_gives_and_keeps_the_exact_values(app, session, registers):  # noqa: F811
    from portal.indicators import snapshot
    from portal.indicators.compute import PERIOD_TYPES, Filters, compute
    from portal.models import IndicatorValue

    with app.test_request_context():
        run = snapshot.refresh(session, force=True)
        expected = suppression.apply(compute(session, Filters(period_types=PERIOD_TYPES)),
                                     suppression.municipality_regions(session))
    stored = session.execute(sa.select(IndicatorValue.indicator, IndicatorValue.period_type, IndicatorValue.period,
                                       IndicatorValue.dimension, IndicatorValue.category, IndicatorValue.value,
                                       IndicatorValue.withheld)
                             .where(IndicatorValue.refresh_id == run.id).order_by(IndicatorValue.id)).all()
    assert [(o.indicator, o.period_type, o.period, o.dimension, o.category, o.suppressed) for o in expected] == [
        (code, ptype, period, dimension, category, flag) for code, ptype, period, dimension, category, _v, flag in stored]
    assert {flag for *_rest, flag in stored} >= {suppression.SMALL, suppression.SECONDARY, None}
    small = [row for row in stored if row[-1] == suppression.SMALL and row[0] in suppression.PEOPLE]
    assert small and all(row[5] is not None and 0 < row[5] < suppression.THRESHOLD for row in small)  # exact kept

    # A monitor reads the stored flags (no value where one is set); the ministry the exact values, no flag.
    with app.test_request_context():
        withheld, _snap = suppression.read(session, Filters(period_types=PERIOD_TYPES), False)
        exact, _snap = suppression.read(session, Filters(period_types=PERIOD_TYPES), True)
    assert [(o.suppressed, o.value is None) for o in withheld] == [(o.suppressed, o.suppressed is not None) for o in
                                                                  withheld]
    assert any(o.suppressed for o in withheld) and not any(o.suppressed for o in exact)
    assert [o.value for o in exact if o.value is not None and o.indicator in suppression.PEOPLE
            and 0 < o.value < suppression.THRESHOLD]


def test_the_copy_csv_equals_the_csv_written_in_python_for_monitors_and_the_ministry(app, session, registers):  # noqa: F811
    """PostgreSQL writes every reader's CSV with COPY: cell for cell what `csv_rows` writes from the same snapshot —
    small cells withheld for a monitor (the rule applied in Python to the exact values gives the same file), exact
    figures for the ministry."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    from portal.indicators import exports, snapshot
    from portal.indicators.compute import PERIOD_TYPES, Filters, labels_by_code

    def parsed(data: bytes) -> list[list[str]]:
        return list(csv.reader(io.StringIO(data.decode("utf-8"))))

    filters = Filters(period_types=PERIOD_TYPES)
    with app.test_request_context():
        snap = snapshot.ensure(session)
        names = {i.code: i.name() for i in session.scalars(sa.select(Indicator).where(Indicator.active.is_(True)))}
        labels = labels_by_code(session)
        exact, _snap = snapshot.read(session, filters, snap=snap)
        python = {
            True: b"".join(exports.csv_rows(exports.observation_rows(exact), names, labels)),
            False: b"".join(exports.csv_rows(exports.observation_rows(
                suppression.apply(exact, suppression.municipality_regions(session))), names, labels))}
        for reader_exact in (True, False):
            copied = b"".join(exports.csv_copy(session, snap.refresh.id, filters, names, labels, reader_exact))
            streamed = b"".join(exports.csv_rows(snapshot.rows(session, filters, snap=snap, exact=reader_exact),
                                                 names, labels))
            # The same cells; the bytes differ only as before this change: COPY ends rows with \n (csv.writer
            # \r\n) and quotes an empty category ("" for the total).
            assert parsed(copied) == parsed(python[reader_exact]) == parsed(streamed)
            assert copied.replace(b',"",""', b",,").replace(b"\r\n", b"\n") == python[reader_exact].replace(b"\r\n", b"\n")
    assert b",small" in python[False] and b",secondary" in python[False] and b",small" not in python[True]
