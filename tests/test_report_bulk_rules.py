"""Bulk entry as a provider really uses it (issue 14) and as an attacker might (issue 12): only the months someone
changed are imported, every problem of a file is listed in one answer, figures too large are row errors, and a
hostile workbook is refused while it is being read."""

from __future__ import annotations

import io
import re
import time
import tracemalloc
import zipfile

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from portal.models import MonthlyReport, ReportStatus, VersionStatus
from portal.reports import services as reports
from portal.reports import xlsx_reader
from tests import factories
from tests.conftest import login
from tests.test_report_bulk import (
    GOOD_BENEFICIARIES,
    GOOD_STAFF,
    _cell,
    columns,
    problems,
    report_count,
    template_for,
    two_grants,  # noqa: F401  (the fixture)
)
from tests.test_report_bulk import upload as upload_file


@pytest.fixture(autouse=True)
def _english(app):
    app.config["BABEL_DEFAULT_LOCALE"] = "en"


def _save(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _fill_month(workbook, agreement: str, month: str, beneficiaries=GOOD_BENEFICIARIES, staff=GOOD_STAFF) -> None:
    for name, values in (("beneficiaries", beneficiaries), ("staff", staff)):
        sheet = workbook[name]
        cols = columns(sheet)
        for row in list(sheet.iter_rows(min_row=2)):
            if row[0].value == agreement and row[1].value == month:
                for key, value in values.items():
                    sheet.cell(row=row[0].row, column=cols[key], value=value)
                break


def test_the_file_a_provider_builds_submits_exactly_the_one_month_corrected(app, session, two_grants):  # noqa: F811
    """A returned month corrected in the template, the other pre-filled months (drafts and empty months) left as
    they were: only the corrected month is imported and submitted."""
    provider, reviewer = two_grants.users["provider"], two_grants.users["reviewer"]
    first = two_grants.grants[0]
    september = factories.months_ago(3)
    with app.test_request_context():
        returned = factories.report(session, provider, first, september, served=10)
        reports.return_report(session, reviewer, returned, "Проверете ги часовите.")
        factories.report(session, provider, first, factories.months_ago(2), submit=False, served=12)  # a draft
        session.commit()
    workbook = load_workbook(io.BytesIO(template_for(app, session, provider)))
    staff_rows = [(r[0].value, r[1].value) for r in workbook["staff"].iter_rows(min_row=2)]
    assert len(staff_rows) == 6  # the returned month, the draft, four more months due
    # The correction: September's figures (and an explanation field the reviewer asked about).
    corrected = dict(GOOD_BENEFICIARIES, service_hours=180)
    _fill_month(workbook, "GA-A1", f"{september:%Y-%m}", beneficiaries=corrected)
    outcome = upload_file(app, session, provider, _save(workbook), submit=True)
    assert outcome.ok, problems(outcome)
    assert [(i.agreement, i.month, i.submitted) for i in outcome.imported] == [("GA-A1", september, True)]
    assert outcome.skipped == 5
    session.expire_all()
    submitted = session.scalars(sa.select(MonthlyReport).where(MonthlyReport.status == ReportStatus.SUBMITTED)).all()
    assert [r.month for r in submitted] == [september]
    assert submitted[0].newest.version == 2 and submitted[0].newest.services[0].service_hours == 180
    # The draft kept its figures and stays a draft; no report was created for the untouched empty months.
    assert report_count(session) == 2
    draft = reports.report_for(session, first.id, factories.months_ago(2))
    assert draft.newest.status == VersionStatus.DRAFT and draft.newest.beneficiaries == 12


def test_an_untouched_template_imports_nothing_and_says_so(app, session, two_grants):  # noqa: F811
    provider = two_grants.users["provider"]
    outcome = upload_file(app, session, provider, template_for(app, session, provider))
    assert not outcome.ok and "Nothing to import" in outcome.problems[0].message
    assert report_count(session) == 0


def test_a_submit_cell_submits_a_month_as_prefilled_and_a_wrong_one_is_named(app, session, two_grants):  # noqa: F811
    provider = two_grants.users["provider"]
    month = factories.months_ago(3)
    with app.test_request_context():
        factories.report(session, provider, two_grants.grants[0], month, submit=False, served=10)
        session.commit()
    workbook = load_workbook(io.BytesIO(template_for(app, session, provider)))
    _cell(workbook, "staff", 2, "submit", "yes")
    _cell(workbook, "staff", 3, "submit", "maybe")
    outcome = upload_file(app, session, provider, _save(workbook), submit=False)
    found = problems(outcome)
    assert len(found) == 1 and found[0][:2] == ("staff", 3) and "submit" in found[0][2] and "yes" in found[0][3]
    workbook["staff"].cell(row=3, column=columns(workbook["staff"])["submit"]).value = None
    outcome = upload_file(app, session, provider, _save(workbook), submit=False)
    assert outcome.ok, problems(outcome)
    assert [(i.month, i.submitted) for i in outcome.imported] == [(month, True)]


def test_every_problem_of_a_file_is_listed_in_one_answer(app, session, two_grants):  # noqa: F811
    """A deleted column, a formula, text in a number cell, an unknown grant, an accepted month, wrong sums, a figure
    of 1e30 and an unexplained warning: one upload lists them all, structure first."""
    provider, reviewer = two_grants.users["provider"], two_grants.users["reviewer"]
    accepted_month = factories.months_ago(3)
    template = template_for(app, session, provider)  # made while September was still due
    with app.test_request_context():
        factories.report(session, provider, two_grants.grants[0], accepted_month, accept_by=reviewer)
        session.commit()
    workbook = load_workbook(io.BytesIO(template))
    months = [f"{factories.months_ago(n):%Y-%m}" for n in (3, 2, 1)]
    for month in months:
        _fill_month(workbook, "GA-A1", month)
    _fill_month(workbook, "GA-A2", months[2])
    rows = {(r[0].value, r[1].value): r[0].row for r in workbook["staff"].iter_rows(min_row=2)}
    b_rows = {(r[0].value, r[1].value): r[0].row for r in workbook["beneficiaries"].iter_rows(min_row=2)}
    _cell(workbook, "staff", rows[("GA-A1", months[1])], "staff_total", "=B3*2")  # a formula
    _cell(workbook, "beneficiaries", b_rows[("GA-A1", months[1])], "female", "пет")  # text in a number cell
    _cell(workbook, "beneficiaries", b_rows[("GA-A1", months[2])], "female", 9)  # 9 + 5 ≠ 10
    _cell(workbook, "staff", rows[("GA-A1", months[2])], "certified_caregivers", 1e30)  # far too large
    hires = workbook["hard_to_employ"]
    hires.cell(row=2, column=columns(hires)["agreement"], value="GA-ZZ")  # not one of the provider's grants
    hires.cell(row=2, column=columns(hires)["total"], value=1)
    for key, value in GOOD_BENEFICIARIES.items():  # GA-A2's month: 70 served of a capacity of 40, unexplained
        if key != "male":
            _cell(workbook, "beneficiaries", b_rows[("GA-A2", months[2])], key, value * 7)
    workbook["beneficiaries"].delete_cols(columns(workbook["beneficiaries"])["age_80_plus"])  # a deleted column
    outcome = upload_file(app, session, provider, _save(workbook))
    found = problems(outcome)
    messages = " | ".join(p[3] for p in found)
    assert found[0][0] == "beneficiaries" and "[age_80_plus]" in found[0][3]  # structure first
    for words in ("ormula", "not text", "GA-ZZ", "already accepted", "too large", "Explain"):
        assert words in messages, (words, found)
    assert any(p[0] == "staff" and p[1] == rows[("GA-A1", months[0])] and "month" in p[2] for p in found)
    assert report_count(session) == 1  # only the accepted one, made before
    # The same file without the deleted column also shows the sums that do not add up.
    workbook = load_workbook(io.BytesIO(template))
    _fill_month(workbook, "GA-A1", months[2])
    _cell(workbook, "beneficiaries", b_rows[("GA-A1", months[2])], "female", 9)
    _cell(workbook, "staff", rows[("GA-A1", months[2])], "staff_female", 9)
    found = problems(upload_file(app, session, provider, _save(workbook)))
    assert {(p[0], p[1]) for p in found} >= {("beneficiaries", b_rows[("GA-A1", months[2])]),
                                              ("staff", rows[("GA-A1", months[2])])}, found


@pytest.mark.parametrize("value", [1e30, 10**40, "1e30", "99999999999999999999", 1_000_001])
def test_a_huge_figure_is_a_row_error_never_a_server_error(app, client, session, two_grants, value):  # noqa: F811
    provider = two_grants.users["provider"]
    workbook = load_workbook(io.BytesIO(template_for(app, session, provider)))
    month = f"{factories.months_ago(1):%Y-%m}"
    _fill_month(workbook, "GA-A1", month)
    row = next(r[0].row for r in workbook["staff"].iter_rows(min_row=2) if r[1].value == month and r[0].value == "GA-A1")
    try:
        _cell(workbook, "staff", row, "staff_total", value)
        content = _save(workbook)
    except (OverflowError, ValueError, TypeError):
        pytest.skip("openpyxl cannot write this value")
    login(client, provider)
    response = client.post("/reports/bulk", data={"file": (io.BytesIO(content), "reports.xlsx"), "submit_reports": "y"},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "staff_total" in response.get_data(as_text=True)
    assert report_count(session) == 0


# Hostile files ---------------------------------------------------------------------------------------------

def hostile_xlsx(template: bytes, rows: int = 60_000, cells: int = 17) -> bytes:
    """The bulk template with its beneficiaries sheet replaced by `rows` rows of `cells` numbers each (60,000 × 17:
    about 27 MB of sheet XML, about 2 MB zipped)."""
    source = zipfile.ZipFile(io.BytesIO(template))
    workbook_xml = source.read("xl/workbook.xml").decode()
    rels = source.read("xl/_rels/workbook.xml.rels").decode()
    rid = re.search(r'<sheet[^>]*name="beneficiaries"[^>]*r:id="(rId\d+)"', workbook_xml) or re.search(
        r'<sheet[^>]*r:id="(rId\d+)"[^>]*name="beneficiaries"', workbook_xml)
    target = re.search(rf'Id="{rid.group(1)}"[^>]*Target="([^"]+)"', rels) or re.search(
        rf'Target="([^"]+)"[^>]*Id="{rid.group(1)}"', rels)
    path = "xl/" + target.group(1).lstrip("/").removeprefix("xl/")
    letters = [chr(ord("A") + i) for i in range(cells)]
    row_xml = '<row r="{n}">' + "".join(f'<c r="{c}{{n}}"><v>12345</v></c>' for c in letters) + "</row>"
    body = "".join(row_xml.format(n=n) for n in range(1, rows + 1))
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.openxmlformats.'
             f'org/spreadsheetml/2006/main"><sheetData>{body}</sheetData></worksheet>').encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            archive.writestr(item.filename, sheet if item.filename == path else source.read(item.filename))
    return out.getvalue()


def test_a_60000_row_workbook_is_refused_while_it_is_read(app, session, two_grants):  # noqa: F811
    provider = two_grants.users["provider"]
    content = hostile_xlsx(template_for(app, session, provider))
    expanded = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(content)).infolist())
    assert len(content) < 4 * 1024 * 1024 and expanded > 20 * 1024 * 1024  # small zipped, large expanded
    tracemalloc.start()
    started = time.perf_counter()
    outcome = upload_file(app, session, provider, content)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not outcome.ok and len(outcome.problems) == 1
    assert "more than 5,000 rows" in outcome.problems[0].message, problems(outcome)
    assert report_count(session) == 0
    print(f"hostile 60,000-row XLSX refused in {elapsed:.3f} s, peak {peak / 1e6:.1f} MB traced")  # measured, not asserted


def test_the_limits_count_what_is_decompressed_not_what_the_directory_claims(app):
    with app.test_request_context():
        big = io.BytesIO()
        with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("xl/worksheets/sheet1.xml", b"<row>" + b" " * (30 * 1024 * 1024) + b"</row>")
        with pytest.raises(xlsx_reader.Refused, match="MB"):
            xlsx_reader.check_package(big.getvalue())
        # A directory that claims 100 bytes for a member of several MB: refused as damaged, never trusted.
        data = bytearray(big.getvalue())
        central = data.rfind(b"PK\x01\x02")
        data[central + 24:central + 28] = (100).to_bytes(4, "little")  # uncompressed size in the central directory
        local = data.find(b"PK\x03\x04")
        data[local + 22:local + 26] = (100).to_bytes(4, "little")
        with pytest.raises(xlsx_reader.Refused):
            xlsx_reader.check_package(bytes(data))
        # Tags cut between two pieces of the stream are counted once.
        rows = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (n, n) for n in range(1, 9001))
        small = io.BytesIO()
        with zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("xl/worksheets/sheet1.xml", rows)
        xlsx_reader.check_package(small.getvalue(), max_rows=9000, max_cells=9000)
        with pytest.raises(xlsx_reader.Refused, match="8,999"):
            xlsx_reader.check_package(small.getvalue(), max_rows=8999)


def test_a_month_submitted_in_the_portal_since_the_download_and_left_untouched_is_not_an_error(app, session,
                                                                                                two_grants):  # noqa: F811
    provider = two_grants.users["provider"]
    first, second = factories.months_ago(3), factories.months_ago(2)
    with app.test_request_context():
        draft = factories.report(session, provider, two_grants.grants[0], first, submit=False, served=10)
        session.commit()
    workbook = load_workbook(io.BytesIO(template_for(app, session, provider)))  # the draft's figures pre-filled
    with app.test_request_context():
        reports.submit(session, provider, draft)  # submitted in the portal meanwhile
        session.commit()
    _fill_month(workbook, "GA-A1", f"{second:%Y-%m}")
    outcome = upload_file(app, session, provider, _save(workbook))
    assert outcome.ok, problems(outcome)
    assert [i.month for i in outcome.imported] == [second]
