"""A financial report from a spreadsheet (issue 18): the template of a period, the file a provider fills in saved
into the draft (a new version of a returned report, never a submitted one), every problem of a bad file listed at
once with its sheet, row and column and nothing saved, and hostile workbooks refused as the monthly bulk upload
refuses them."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from portal.finance_reports import bulk, entries
from portal.finance_reports import services as finance
from portal.models import AuditEvent, FinancialReport
from tests import factories
from tests.conftest import login
from tests.test_financial_reports import budget


@pytest.fixture(autouse=True)
def _english(app):
    app.config["BABEL_DEFAULT_LOCALE"] = "en"


@pytest.fixture
def grant(app, world, session):
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           start=factories.months_ago(4))
        budget(session, agreement)  # 1. staff 1000.00; 2. operating 2500.50
        session.commit()
    return agreement


def _template(app, session, world, grant, number=1) -> bytes:
    with app.test_request_context():
        return bulk.template(session, world.users["provider"], grant, number)


def _columns(sheet) -> dict[str, int]:
    return {re.search(r"\[([a-z0-9_]+)\]", str(c.value)).group(1): c.column for c in sheet[1] if c.value}


def _set(workbook, sheet: str, row: int, key: str, value) -> None:
    workbook[sheet].cell(row=row, column=_columns(workbook[sheet])[key], value=value)


def _bytes(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _upload(app, session, world, grant, content: bytes, number=1) -> bulk.Outcome:
    with app.test_request_context():
        outcome = bulk.upload(session, world.users["provider"], grant, number, io.BytesIO(content), "f.xlsx")
        if outcome.ok:
            session.commit()
        else:
            session.rollback()
        return outcome


def _problems(outcome) -> list[tuple]:
    return [(p.sheet, p.row, p.column, p.message) for p in outcome.problems]


def _filled(app, session, world, grant, months=("300.00", "300.00", "400.00"), spent="1250.50", day=None,
            municipality="100.00"):
    workbook = load_workbook(io.BytesIO(_template(app, session, world, grant)))
    period = finance.period_of(grant, 1)
    for month, value in zip(entries.months_of(_shape(period)), months, strict=True):
        _set(workbook, "lines", 2, f"m_{month:%Y_%m}", value)
    _set(workbook, "lines", 3, "spent_eur", spent)
    _set(workbook, "lines", 3, "entry_date", day or period.start + timedelta(days=14))
    _set(workbook, "cofinancing", 2, "amount_eur", municipality)
    return workbook


def _shape(period):
    from types import SimpleNamespace

    return SimpleNamespace(period_start=period.start, period_end=period.end)


def test_the_template_holds_the_budget_lines_the_months_and_the_cofinancing(app, session, world, grant):
    workbook = load_workbook(io.BytesIO(_template(app, session, world, grant)))
    assert workbook.sheetnames == ["instructions", "about", "lines", "cofinancing"]
    lines = workbook["lines"]
    period = finance.period_of(grant, 1)
    months = [f"m_{m:%Y_%m}" for m in entries.months_of(_shape(period))]
    assert list(_columns(lines)) == ["line", "label", "category", "approved", "allowed", "other", "spent_eur",
                                     "entry_date", *months]
    rows = list(lines.iter_rows(min_row=2, values_only=True))
    assert [r[:6] for r in rows] == [(1, "Линија 1", "Staff", 1000, 1100, 0), (2, "Линија 2", "Operating costs", 2500.5, 2750.55, 0)]
    assert [list(r) for r in workbook["cofinancing"].iter_rows(min_row=2, max_col=1, values_only=True)] == [
        ["municipality"], ["other"]]
    assert [list(r) for r in workbook["about"].iter_rows(min_row=2, values_only=True)] == [
        ["agreement", grant.number], ["period", 1]]


def test_a_filled_template_is_saved_into_the_draft_with_its_months_and_audited(app, session, world, grant, client):
    content = _bytes(_filled(app, session, world, grant))
    login(client, world.users["provider"])
    response = client.post(f"/grants/{grant.id}/finance/1/bulk", data={"file": (io.BytesIO(content), "report.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    report = finance.report_for(session, grant.id, 1)
    version = report.newest
    assert version.status == finance.Status.DRAFT and version.version == 1
    staff, other = version.lines
    assert staff.spent_eur == Decimal("1000.00") and [e.spent_eur for e in staff.entries] == [
        Decimal("300.00"), Decimal("300.00"), Decimal("400.00")]
    assert other.spent_eur == Decimal("1250.50") and other.entries[0].entry_date == report.period_start + timedelta(days=14)
    assert version.cofinancing_municipality_eur == Decimal("100.00")
    assert session.scalar(sa.select(AuditEvent.after).where(AuditEvent.action == "financial_report.imported",
                                                            AuditEvent.object_id == str(report.id)))["file"] == "report.xlsx"
    # The template of the draft comes back pre-filled with what was saved; uploaded again it changes nothing.
    again = load_workbook(io.BytesIO(_template(app, session, world, grant)))
    row = list(again["lines"].iter_rows(min_row=2, values_only=True))
    assert row[0][8:] == (300, 300, 400) and row[1][6] == 1250.5
    outcome = _upload(app, session, world, grant, _bytes(again))
    assert outcome.ok and session.get(FinancialReport, report.id).newest.spent_eur == Decimal("2250.50")


def test_every_problem_of_a_bad_file_is_listed_and_nothing_is_saved(app, session, world, grant):
    workbook = _filled(app, session, world, grant, months=("abc", "-5", "1.001"), spent="=1+1",
                       day="2020-01-01", municipality=True)
    _set(workbook, "lines", 2, "spent_eur", "900.00")  # a staff line's total is typed
    _set(workbook, "lines", 3, "m_" + f"{finance.period_of(grant, 1).start:%Y_%m}", "5.00")  # months on a non-staff line
    workbook["lines"].append([7])  # an unknown line
    workbook["cofinancing"].append(["bank", None, "1"])
    outcome = _upload(app, session, world, grant, _bytes(workbook))
    period = finance.period_of(grant, 1)
    first, second, third = entries.months_of(_shape(period))
    m1, m2, m3 = (f"m_{m:%Y_%m}" for m in (first, second, third))
    assert _problems(outcome) == [
        ("lines", 3, "G (spent_eur)", "Formulas are not accepted: type the value itself."),
        ("lines", 2, "G (spent_eur)", "A staff line is entered per month: leave this cell empty (the line's total is the "
                                      "sum of its months)."),
        ("lines", 3, f"I ({m1})", "Only staff lines are entered per month: type this line's amount in the spent column."),
        ("lines", 4, "A (line)", "7 is not the number of an approved budget line of this grant."),
        ("cofinancing", 2, "C (amount_eur)", "Enter an amount in euro, for example 1250.50."),
        ("cofinancing", 4, "A (item)", "bank is not a co-financing item (municipality or other)."),
        # The rules of the form, on every cell that could be read.
        ("lines", 2, f"I ({m1})", "Enter an amount in euro, for example 1250.50."),
        ("lines", 2, f"J ({m2})", "The amount cannot be negative."),
        ("lines", 2, f"K ({m3})", "Enter the amount in euro and cents: at most two decimals."),
        ("lines", 3, "H (entry_date)", _within(app, period)),
    ]
    assert finance.report_for(session, grant.id, 1) is None


def _within(app, period) -> str:
    with app.app_context():
        return f"The date of the expense has to lie within the period ({_date(period.start)} – {_date(period.end)})."


def _date(day) -> str:
    from flask import current_app

    from portal.i18n import local_date

    with current_app.test_request_context():
        return local_date(day)


def test_the_variance_rule_at_its_cent_in_a_file(app, session, world, grant):
    workbook = _filled(app, session, world, grant, months=("500.00", "500.00", "100.01"), spent="2750.55")
    outcome = _upload(app, session, world, grant, _bytes(workbook))
    assert [(p[0], p[1], p[2]) for p in _problems(outcome)] == [("lines", 2, "A (line)")]
    assert "1,100.01 EUR" in outcome.problems[0].message and "at most 1,100.00 EUR" in outcome.problems[0].message
    workbook = _filled(app, session, world, grant, months=("500.00", "500.00", "100.00"), spent="2750.56")
    outcome = _upload(app, session, world, grant, _bytes(workbook))
    assert [(p[0], p[1], p[2]) for p in _problems(outcome)] == [("lines", 3, "G (spent_eur)")]
    workbook = _filled(app, session, world, grant, months=("500.00", "500.00", "100.00"), spent="2750.55")
    assert _upload(app, session, world, grant, _bytes(workbook)).ok


def test_a_returned_report_gets_a_new_version_and_a_submitted_one_is_never_changed(app, session, world, grant):
    content = _bytes(_filled(app, session, world, grant))
    assert _upload(app, session, world, grant, content).ok
    with app.test_request_context():
        report = finance.report_for(session, grant.id, 1)
        finance.submit(session, world.users["provider"], report)
        session.commit()
    outcome = _upload(app, session, world, grant, content)
    assert [p.message for p in outcome.problems] == [
        "This financial report is submitted, waiting for review: it is not changed from a file."]
    with app.test_request_context():
        finance.return_report(session, world.users["finance"], session.get(FinancialReport, report.id), "Исправете.")
        session.commit()
    corrected = _bytes(_filled(app, session, world, grant, months=("100.00", "100.00", "100.00")))
    assert _upload(app, session, world, grant, corrected).ok
    session.expire_all()
    report = session.get(FinancialReport, report.id)
    assert [v.status for v in report.versions] == [finance.Status.RETURNED, finance.Status.DRAFT]
    assert report.versions[0].lines[0].spent_eur == Decimal("1000.00") and report.versions[1].lines[0].spent_eur == Decimal("300.00")


def test_a_file_of_another_grant_or_period_and_a_file_that_is_not_xlsx(app, session, world, grant):
    workbook = _filled(app, session, world, grant)
    _set(workbook, "about", 3, "value", 2)
    outcome = _upload(app, session, world, grant, _bytes(workbook))
    assert [(p[0], p[1], p[2]) for p in _problems(outcome)] == [("about", 3, "B (value)")]
    outcome = _upload(app, session, world, grant, b"%PDF-1.4 not a workbook")
    assert len(outcome.problems) == 1 and outcome.problems[0].structure
    del workbook["cofinancing"]
    outcome = _upload(app, session, world, grant, _bytes(workbook))
    assert [p.message for p in outcome.problems] == [
        "The file does not have the sheets of the template (cofinancing missing). Download the template and fill it in."]


def test_a_hostile_workbook_is_refused_while_it_is_read(app, session, world, grant):
    """60,000 rows in the lines sheet: refused by the monthly reports' guarded reader, nothing saved."""
    template = _template(app, session, world, grant)
    source = zipfile.ZipFile(io.BytesIO(template))
    workbook_xml = source.read("xl/workbook.xml").decode()
    position = [m.group(1) for m in re.finditer(r'<sheet [^>]*name="([^"]+)"', workbook_xml)].index("lines") + 1
    path = f"xl/worksheets/sheet{position}.xml"
    row = '<row r="{n}">' + "".join(f'<c r="{c}{{n}}"><v>1</v></c>' for c in "ABCDEFGHIJK") + "</row>"
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.openxmlformats.'
             f'org/spreadsheetml/2006/main"><sheetData>{"".join(row.format(n=n) for n in range(1, 60_001))}'
             '</sheetData></worksheet>').encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            archive.writestr(item.filename, sheet if item.filename == path else source.read(item.filename))
    outcome = _upload(app, session, world, grant, out.getvalue())
    assert len(outcome.problems) == 1 and "more than 5,000 rows" in outcome.problems[0].message
    assert finance.report_for(session, grant.id, 1) is None


def test_only_the_grants_provider_uses_the_bulk_pages(app, session, world, grant, client):
    for role, status in (("provider", 200), ("provider_b", 403), ("finance", 403), ("monitor", 403)):
        login(client, world.users[role])
        assert client.get(f"/grants/{grant.id}/finance/1/bulk").status_code == status, role
        assert client.get(f"/grants/{grant.id}/finance/1/template.xlsx").status_code == status, role
    login(client, world.users["provider"])
    assert client.get(f"/grants/{grant.id}/finance/99/bulk").status_code == 404
    response = client.post(f"/grants/{grant.id}/finance/1/bulk", data={"file": (io.BytesIO(b"x" * 10), "x.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and 'id="bulk-errors"' in response.get_data(as_text=True)
