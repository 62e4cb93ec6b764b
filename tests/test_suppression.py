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
