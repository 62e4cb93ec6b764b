"""The monitors' downloads: CSV with a BOM and numbers as numbers, the XLSX sheets (ISR layout, one per
disaggregation, finance, definitions), and no cell that starts a formula whatever an administrator typed into
a name — and no personal data."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from portal.models import HardToEmployCategory, Indicator, Municipality, Region, ServiceType
from tests.conftest import login
from tests.test_indicators import build

PAYLOADS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(1,2)", "\tTAB", "\rCR",
            "=cmd|' /C calc'!A0"]


@pytest.fixture
def hostile(app, session, world, monkeypatch):
    """The small dataset, with the names an administrator can edit set to formula-injection payloads."""
    built = build(app, session, world, monkeypatch)
    from datetime import UTC, datetime

    from portal import clock

    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    names = iter(PAYLOADS)
    for model in (Municipality, Region):
        for row in session.scalars(sa.select(model)):
            row.name_mk = row.name_en = next(names, PAYLOADS[0])
    for row in session.scalars(sa.select(ServiceType).where(ServiceType.code.in_(["home_help_care", "day_care"]))):
        row.name_mk = row.name_en = PAYLOADS[3]
    session.scalar(sa.select(HardToEmployCategory).where(HardToEmployCategory.code == "roma")).name_mk = PAYLOADS[5]
    session.scalar(sa.select(Indicator).where(Indicator.code == "BEN")).name_mk = PAYLOADS[6]
    world.users["monitor"].preferred_language = "en"  # the sheets are checked by their English names
    session.commit()
    return built


def test_the_csv_is_utf8_with_a_bom_numbers_stay_numbers_and_no_cell_starts_a_formula(app, client, session, hostile,
                                                                                      world):
    login(client, world.users["admin"])
    response = client.get("/indicators/observations.csv?from=2025-01&to=2025-03")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")
    assert response.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    header, body = rows[0], rows[1:]
    assert header[0] == "indicator" and header[10] == "value"
    assert header[11:] == ["as_of_month", "grants_current", "grants_carried", "grants_missing", "method", "suppressed"]
    # the stock of 2025-Q1 read at March: both grants carried (G1 from February, G2 from January)
    assert any(r[0] == "BEN" and r[4] == "2025-Q1" and r[7] == "total" and r[10:] == ["50", "2025-03", "0", "2", "0", "", ""]
               for r in body)
    for row in body:
        for cell in row[:-1]:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
        float(row[10])  # the value is a plain number
    assert any(cell.startswith("'=") for row in body for cell in row)  # the payloads are there, neutralised
    assert "Билјана" not in response.get_data(as_text=True)  # no person's name


def test_the_xlsx_has_the_isr_sheet_the_disaggregations_finance_and_definitions(app, client, session, hostile, world):
    login(client, world.users["monitor"])
    response = client.get("/indicators/observations.xlsx?from=2025-01&to=2025-12")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    names = workbook.sheetnames
    assert names[0] == "Indicators (ISR)" and names[-2:] == ["Finance summary", "Definitions"]
    assert {"Municipality", "Planning region", "Sex", "Age band", "Service type", "Hard-to-employ group"} <= set(names)
    isr = list(workbook["Indicators (ISR)"].iter_rows(values_only=True))
    assert isr[0][:12] == ("Code", "Indicator", "Unit", "Level", "Baseline", "Baseline date", "Previous value",
                           "Previous value date", "Current value", "Current value date", "End target", "End target date")
    ben = next(r for r in isr if r[0] == "BEN")
    assert isinstance(ben[4], (int, float)) and ben[10] is None  # a stock: the targets count people since the start
    assert next(r for r in isr if r[0] == "BEN_CUM")[10] == 2500
    totals = list(workbook["Total"].iter_rows(values_only=True))
    assert ("BEN", "2025-Q1", 50) in {(r[0], r[3], r[6]) for r in totals}
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r")), (sheet.title, cell.value)
    values = [cell.value for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]
    assert any(isinstance(v, str) and v.startswith("'=") for v in values)
    finance = {row[0]: row[1:] for row in list(workbook["Finance summary"].iter_rows(values_only=True))[1:]}
    assert finance["Committed"][0] == 80000 and finance["Disbursed"][0] == 12000
    assert finance["Uncommitted"][1].startswith("Uncommitted: envelope − committed")  # each total with its definition


def test_a_bad_filter_is_explained_not_a_500(app, client, world):
    login(client, world.users["monitor"])
    response = client.get("/indicators/observations.csv?from=2025-13")
    assert response.status_code == 302 and response.headers["Location"].endswith("/indicators#downloads")
    assert client.get("/indicators/observations.pdf").status_code == 404
