"""Bulk entry of monthly reports: the XLSX template, an upload of good figures (as drafts or submitted), and
broken files — each refused with a clear message by sheet, row and column, and nothing imported."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from portal.models import MonthlyReport, ReportStatus
from portal.reports import bulk
from tests import factories, files
from tests.conftest import login

GOOD_BENEFICIARIES = dict(total=10, female=5, male=5, age_0_17=0, age_18_64=2, age_65_79=4, age_80_plus=4,
                          with_disability=3, without_disability=7, new_this_month=10, new_female=5, new_male=5,
                          new_age_0_17=0, new_age_18_64=2, new_age_65_79=4, new_age_80_plus=4, new_with_disability=3,
                          new_without_disability=7, continuing=0, left_this_month=0, service_hours=200)
GOOD_STAFF = dict(staff_total=5, staff_female=4, staff_male=1, certified_caregivers=3)


@pytest.fixture(autouse=True)
def _english(app):
    """Messages are checked in English here (every language has the same rules)."""
    app.config["BABEL_DEFAULT_LOCALE"] = "en"


@pytest.fixture
def two_grants(app, world, session):
    """Provider A holds two grants (from three and from one month ago); provider B one."""
    with app.test_request_context():
        admin = world.users["admin"]
        world.grants = [
            factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"], number="GA-A1"),
            factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"], number="GA-A2",
                                   start=factories.months_ago(1), service_codes=("home_help_care", "day_care")),
        ]
        world.other = factories.signed_grant(session, admin, world.orgs["provider_b"], world.orgs["municipality_b"],
                                             number="GA-B1")
        session.commit()
    return world


def columns(sheet) -> dict[str, int]:
    return {re.search(r"\[(\w+)\]", str(c.value)).group(1): c.column for c in sheet[1] if c.value}


def template_for(app, session, user) -> bytes:
    with app.test_request_context():
        return bulk.template(session, user)


def filled(content: bytes, *, rows=None, mutate=None, current: bool = False) -> bytes:
    """The template with good figures in every row of the months that have ended (or in the first `rows` months
    only; the current month too with `current`), then `mutate(workbook)`. Other rows stay as pre-filled."""
    workbook = load_workbook(io.BytesIO(content))
    keep = None
    if rows is not None:
        keep = {(r[0].value, r[1].value) for r in list(workbook["staff"].iter_rows(min_row=2))[:rows]}
    this_month = factories.months_ago(0).strftime("%Y-%m")
    for name, values in (("beneficiaries", GOOD_BENEFICIARIES), ("staff", GOOD_STAFF), ("hard_to_employ", None)):
        sheet = workbook[name]
        cols = columns(sheet)
        for row in list(sheet.iter_rows(min_row=2)):
            if keep is not None and (row[0].value, row[1].value) not in keep:
                continue
            if row[1].value == this_month and not current:
                continue
            if name == "hard_to_employ":
                if row[2].value == "roma":
                    for key, value in (("total", 2), ("female", 2), ("new_this_month", 2), ("new_female", 2),
                                       ("continuing", 0)):
                        sheet.cell(row=row[0].row, column=cols[key], value=value)
                continue
            for key, value in values.items():
                sheet.cell(row=row[0].row, column=cols[key], value=value)
    if mutate:
        mutate(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(app, session, user, content: bytes, submit: bool = True):
    with app.test_request_context():
        return bulk.upload(session, user, io.BytesIO(content), submit)


def report_count(session) -> int:
    return session.scalar(sa.select(sa.func.count(MonthlyReport.id)))


def test_the_template_holds_every_month_due_of_the_providers_grants(app, session, two_grants):
    provider = two_grants.users["provider"]
    with app.test_request_context():
        factories.report(session, provider, two_grants.grants[0], factories.months_ago(3))  # submitted: not in the file
        session.commit()
    workbook = load_workbook(io.BytesIO(template_for(app, session, provider)))
    assert {"instructions", "beneficiaries", "staff", "hard_to_employ", "codes"} <= set(workbook.sheetnames)
    staff = [(r[0].value, r[1].value) for r in workbook["staff"].iter_rows(min_row=2)]
    months = lambda *ns: [factories.months_ago(n).strftime("%Y-%m") for n in ns]  # noqa: E731
    assert staff == [("GA-A1", m) for m in months(2, 1, 0)] + [("GA-A2", m) for m in months(1, 0)]
    beneficiaries = [(r[0].value, r[1].value, r[2].value) for r in workbook["beneficiaries"].iter_rows(min_row=2)]
    assert ("GA-A2", months(0)[0], "day_care") in beneficiaries and len(beneficiaries) == 3 + 2 * 2
    assert "GA-B1" not in {row[0] for row in staff}  # another provider's grant
    assert set(columns(workbook["beneficiaries"])) >= {"agreement", "month", "service_type", "total", "age_80_plus"}
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            assert not any(cell.data_type == "f" for cell in row)


def test_a_valid_file_is_imported_and_submitted(app, session, two_grants):
    provider = two_grants.users["provider"]
    outcome = upload(app, session, provider, filled(template_for(app, session, provider)))
    assert outcome.ok, outcome.problems
    assert len(outcome.imported) == 4  # the three ended months of the first grant, one of the second
    assert outcome.skipped == 2  # the current months, left as pre-filled
    statuses = session.execute(sa.select(MonthlyReport.status, sa.func.count()).group_by(MonthlyReport.status)).all()
    assert statuses == [(ReportStatus.SUBMITTED, 4)]
    report = session.scalar(sa.select(MonthlyReport).order_by(MonthlyReport.id))
    assert report.newest.hard_to_employ == 2 and report.newest.staff_total == 5


def test_a_valid_file_can_be_saved_as_drafts_and_imported_again(app, session, two_grants):
    provider = two_grants.users["provider"]
    content = filled(template_for(app, session, provider), rows=2)
    assert upload(app, session, provider, content, submit=False).ok
    assert {r.status for r in session.scalars(sa.select(MonthlyReport))} == {ReportStatus.DRAFT}
    assert report_count(session) == 2
    # The next template carries the draft figures; uploading it again updates the same drafts.
    again = template_for(app, session, provider)
    staff = load_workbook(io.BytesIO(again))["staff"]
    assert staff.cell(row=2, column=columns(staff)["staff_total"]).value == 5
    # The same figures again are the pre-fill: nothing to import, until the submit cells say yes.
    outcome = upload(app, session, provider, filled(again, rows=2), submit=True)
    assert not outcome.ok and "Nothing to import" in outcome.problems[0].message and outcome.skipped == 6

    def say_yes(wb):
        for row in (2, 3):
            _cell(wb, "staff", row, "submit", "да")

    outcome = upload(app, session, provider, filled(again, rows=2, mutate=say_yes), submit=False)
    assert outcome.ok, problems(outcome)
    assert [i.submitted for i in outcome.imported] == [True, True] and outcome.skipped == 4
    assert report_count(session) == 2 and {r.status for r in session.scalars(sa.select(MonthlyReport))} == {
        ReportStatus.SUBMITTED}


def problems(outcome) -> list[tuple]:
    return [(p.sheet, p.row, p.column, p.message) for p in outcome.problems]


def _cell(workbook, sheet, row, key, value):
    ws = workbook[sheet]
    ws.cell(row=row, column=columns(ws)[key], value=value)


@pytest.mark.parametrize(("mutate", "sheet", "row", "column", "words"), [
    (lambda wb: _cell(wb, "beneficiaries", 2, "female", "пет"), "beneficiaries", 2, "female", "text"),
    (lambda wb: _cell(wb, "beneficiaries", 3, "male", -1), "beneficiaries", 3, "male", "0"),
    (lambda wb: _cell(wb, "staff", 2, "staff_total", 2.5), "staff", 2, "staff_total", "2.5"),
    (lambda wb: _cell(wb, "staff", 3, "staff_total", "=B3*2"), "staff", 3, "staff_total", "ormula"),
    (lambda wb: _cell(wb, "beneficiaries", 2, "female", 9), "beneficiaries", 2, "female", "10"),  # 9 + 5 ≠ 10
    (lambda wb: _cell(wb, "beneficiaries", 2, "new_female", 4), "beneficiaries", 2, "new_female", "10"),  # 4 + 5 new
    (lambda wb: [_cell(wb, "beneficiaries", 2, "new_age_0_17", 1), _cell(wb, "beneficiaries", 2, "new_age_80_plus", 3)],
     "beneficiaries", 2, "new_age_0_17", "0"),  # 1 new aged 0–17 of 0 served
    (lambda wb: _cell(wb, "staff", 4, "agreement", "GA-B1"), "staff", 4, "agreement", "GA-B1"),
    (lambda wb: _cell(wb, "staff", 2, "month", "октомври"), "staff", 2, "month", "YYYY-MM"),
    (lambda wb: _cell(wb, "hard_to_employ", 2, "category", "astronauts"), "hard_to_employ", 2, "category", "astronauts"),
    (lambda wb: [_cell(wb, "beneficiaries", 2, key, value * 7) for key, value in GOOD_BENEFICIARIES.items()],
     "staff", 2, "explanation", "Explain"),  # 70 served of a capacity of 40: a warning without its explanation
])
def test_problems_are_listed_by_sheet_row_and_column_and_nothing_is_imported(app, session, two_grants, mutate, sheet,
                                                                            row, column, words):
    provider = two_grants.users["provider"]
    outcome = upload(app, session, provider, filled(template_for(app, session, provider), mutate=mutate))
    assert not outcome.ok
    found = [p for p in problems(outcome) if p[0] == sheet and p[1] == row and column in p[2]]
    assert found, problems(outcome)
    assert any(words in p[3] for p in found), found
    assert report_count(session) == 0


def test_an_extra_or_missing_column_is_refused(app, session, two_grants):
    provider = two_grants.users["provider"]

    def extra(wb):
        wb["staff"].cell(row=1, column=20, value="Бонус [bonus]")

    outcome = upload(app, session, provider, filled(template_for(app, session, provider), mutate=extra))
    assert [(p[0], p[1], p[2]) for p in problems(outcome)] == [("staff", 1, "T")]

    def missing(wb):
        wb["beneficiaries"].delete_cols(columns(wb["beneficiaries"])["age_80_plus"])

    outcome = upload(app, session, provider, filled(template_for(app, session, provider), mutate=missing))
    assert any("[age_80_plus]" in p[3] for p in problems(outcome))
    assert report_count(session) == 0


def test_files_that_are_not_the_template_are_refused(app, session, two_grants):
    provider = two_grants.users["provider"]
    other = Workbook()
    other.active.append(["Име", "Презиме"])
    buffer = io.BytesIO()
    other.save(buffer)
    for content, words in ((files.PDF, "XLSX"), (b"not a spreadsheet at all", "not accepted"), (files.docx(), "XLSX"),
                           (buffer.getvalue(), "sheets"), (files.zip_bomb(150), "expand")):
        outcome = upload(app, session, provider, content)
        assert not outcome.ok and words in outcome.problems[0].message, (words, problems(outcome))
    assert report_count(session) == 0


def test_a_month_already_submitted_is_refused_in_the_file(app, session, two_grants):
    provider = two_grants.users["provider"]
    content = filled(template_for(app, session, provider))
    with app.test_request_context():
        factories.report(session, provider, two_grants.grants[0], factories.months_ago(3))
        session.commit()
    outcome = upload(app, session, provider, content)
    assert any("GA-A1" in p[3] and p[0] == "staff" for p in problems(outcome))
    assert report_count(session) == 1


def test_a_returned_month_is_imported_as_its_next_version(app, session, two_grants):
    provider, reviewer = two_grants.users["provider"], two_grants.users["reviewer"]
    with app.test_request_context():
        from portal.reports import services as reports

        returned = factories.report(session, provider, two_grants.grants[0], factories.months_ago(3))
        reports.return_report(session, reviewer, returned, "Проверете ги часовите.")
        session.commit()
    outcome = upload(app, session, provider, filled(template_for(app, session, provider)))
    assert outcome.ok, problems(outcome)
    session.refresh(returned)
    assert [v.version for v in returned.versions] == [1, 2] and returned.status == ReportStatus.SUBMITTED


def test_the_upload_page_lists_the_problems(app, client, session, two_grants):
    provider = two_grants.users["provider"]
    content = filled(template_for(app, session, provider), mutate=lambda wb: _cell(wb, "staff", 2, "staff_female", 9))
    login(client, provider)
    assert client.get("/reports/bulk").status_code == 200
    template = client.get("/reports/bulk/template.xlsx")
    assert template.status_code == 200 and template.headers["Content-Disposition"].startswith("attachment")
    response = client.post("/reports/bulk", data={"file": (io.BytesIO(content), "reports.xlsx"), "submit_reports": "y"},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "staff_female" in page and report_count(session) == 0
    good = filled(template_for(app, session, provider))
    response = client.post("/reports/bulk", data={"file": (io.BytesIO(good), "reports.xlsx"), "submit_reports": "y"},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and "GA-A2" in response.get_data(as_text=True)
    assert report_count(session) == 4


def test_the_template_carries_the_new_beneficiaries_and_newly_hired_women_and_reads_them_back(app, session, two_grants):
    """Issue 15: the new this month by sex, age band and disability, and the newly hired women, are columns of the
    template (headed in the user's language), pre-filled from a draft and imported from an upload."""
    from portal.models.reports import NEW_BREAKDOWN_FIELDS

    provider = two_grants.users["provider"]
    workbook = load_workbook(io.BytesIO(template_for(app, session, provider)))
    beneficiaries, hires = columns(workbook["beneficiaries"]), columns(workbook["hard_to_employ"])
    assert set(NEW_BREAKDOWN_FIELDS) <= set(beneficiaries) and "new_female" in hires
    order = list(beneficiaries)
    assert order.index("new_this_month") < order.index("new_female") < order.index("new_without_disability") < order.index(
        "continuing")
    headers = {str(c.value) for c in workbook["beneficiaries"][1]}
    assert "New: women and girls [new_female]" in headers
    app.config["BABEL_DEFAULT_LOCALE"] = "mk"
    macedonian = {str(c.value) for c in load_workbook(io.BytesIO(template_for(app, session, provider)))["hard_to_employ"][1]}
    assert any(h.endswith("[new_female]") for h in macedonian) and "Of the newly hired, women [new_female]" not in macedonian
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    # Uploaded as drafts: the new figures are stored; the next template carries them back.
    outcome = upload(app, session, provider, filled(template_for(app, session, provider), rows=1), submit=False)
    assert outcome.ok, problems(outcome)
    report = session.scalar(sa.select(MonthlyReport))
    line = report.newest.services[0]
    assert {n: getattr(line, n) for n in NEW_BREAKDOWN_FIELDS} == {n: GOOD_BENEFICIARIES[n] for n in NEW_BREAKDOWN_FIELDS}
    assert [(h.category.code, h.new_female) for h in report.newest.hires] == [("roma", 2)]
    again = load_workbook(io.BytesIO(template_for(app, session, provider)))
    sheet = again["beneficiaries"]
    assert [sheet.cell(row=2, column=columns(sheet)[n]).value for n in NEW_BREAKDOWN_FIELDS] == [
        GOOD_BENEFICIARIES[n] for n in NEW_BREAKDOWN_FIELDS]
    sheet = again["hard_to_employ"]
    roma = next(r[0].row for r in sheet.iter_rows(min_row=2) if r[2].value == "roma" and r[0].value == "GA-A1")
    assert sheet.cell(row=roma, column=columns(sheet)["new_female"]).value == 2


def test_newly_hired_women_above_the_newly_hired_are_refused_on_their_cell(app, session, two_grants):
    provider = two_grants.users["provider"]

    def more_women(wb):
        sheet = wb["hard_to_employ"]
        row = next(r[0].row for r in sheet.iter_rows(min_row=2) if r[2].value == "roma")
        sheet.cell(row=row, column=columns(sheet)["new_female"], value=3)
        more_women.row = row

    outcome = upload(app, session, provider, filled(template_for(app, session, provider), mutate=more_women))
    found = [p for p in problems(outcome) if p[0] == "hard_to_employ" and p[1] == more_women.row]
    assert [p[2] for p in found] == ["H (new_female)"] * 2, problems(outcome)
    assert "newly hired women (3)" in found[0][3] and "(2)" in found[0][3]
    assert report_count(session) == 0


def test_a_template_without_the_new_columns_is_refused_by_name(app, session, two_grants):
    provider = two_grants.users["provider"]

    def older(wb):
        wb["beneficiaries"].delete_cols(columns(wb["beneficiaries"])["new_female"])

    outcome = upload(app, session, provider, filled(template_for(app, session, provider), mutate=older))
    assert any("[new_female]" in p[3] and p[0] == "beneficiaries" for p in problems(outcome))
    assert report_count(session) == 0
