"""Bulk import of a grant's register (issue 16): the XLSX template, good files (XLSX and CSV in their variants),
every kind of bad row listed by sheet, row and column with nothing saved, hostile files refused like the monthly
reports' bulk upload, the personal numbers found nowhere after an upload, the XLSX download, and the paged lists."""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from portal.errors import NotAllowed
from portal.models import AuditEvent, Municipality, RegisterEpisode, RegisterEpisodeVersion
from portal.register import bulk, bulk_template, duplicates, services
from tests import files
from tests.conftest import login
from tests.test_register import _add, _every_text, _grant, _month, make_number, wrong_check_digit

HEADER = [f"{label} [{key}]" for key, label in [("personal_number", "Personal number"),
                                                 ("confirm_checksum", "Confirm"), ("decision_number", "Decision"),
                                                 ("decision_date", "Decision date"), ("decision_centre", "Centre"),
                                                 ("service_type", "Service"), ("start_date", "Start"),
                                                 ("end_date", "End"), ("leaving_reason", "Reason"),
                                                 ("disability", "Disability"), ("municipality", "Municipality"),
                                                 ("local_reference", "Reference")]]
COLUMNS = {key: letter for key, letter in zip(
    ("personal_number", "confirm_checksum", "decision_number", "decision_date", "decision_centre", "service_type",
     "start_date", "end_date", "leaving_reason", "disability", "municipality", "local_reference"), "ABCDEFGHIJKL",
    strict=True)}


@pytest.fixture(autouse=True)
def _english(app):
    """Messages are checked in English here (every language has the same rules)."""
    app.config["BABEL_DEFAULT_LOCALE"] = "en"


@pytest.fixture
def two(app, world, session):
    """Provider A's grant and provider B's, from ten months ago (as in tests/test_register.py)."""
    with app.test_request_context():
        world.grant_a = _grant(session, world)
        world.grant_b = _grant(session, world, "provider_b", "municipality_b")
        session.commit()
    return world


def _place(session) -> str:
    return session.scalar(sa.select(Municipality.code).order_by(Municipality.id))


def row(session, number: str, start: date, **kw) -> list:
    values = dict(personal_number=number, confirm_checksum="", decision_number="08-1234/2",
                  decision_date=(start - timedelta(days=10)).isoformat(), decision_centre="ЦСР Куманово",
                  service_type="home_help_care", start_date=start.isoformat(), end_date="", leaving_reason="",
                  disability="no", municipality=_place(session), local_reference="K-1")
    values.update(kw)
    return [values[k] for k in COLUMNS]


def xlsx(rows: list[list], header: list | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "register"
    sheet.append(header or HEADER)
    for values in rows:
        sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def as_csv(rows: list[list], delimiter: str = ",", bom: bool = True, header: list | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header or HEADER)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode("utf-8")


def upload(app, session, user, agreement, content: bytes, filename: str = "register.xlsx") -> bulk.Outcome:
    with app.test_request_context():
        outcome = bulk.upload(session, user, agreement, content, filename)
        if outcome.ok:
            session.commit()
        else:
            session.rollback()
    return outcome


def problems(outcome) -> list[tuple]:
    return [(p.sheet, p.row, p.column, p.message) for p in outcome.problems]


def episodes(session) -> int:
    return session.scalar(sa.select(sa.func.count(RegisterEpisode.id)))


# Good files ------------------------------------------------------------------------------------------------------------

def test_a_good_file_is_imported_with_sex_and_year_from_the_number(app, two, session):
    w = two
    provider = w.users["provider"]
    woman, man = make_number(date(1941, 2, 3), 612), make_number(date(1990, 7, 8), 12)
    nineties = wrong_check_digit(make_number(date(1994, 4, 4), 321))
    zero = make_number(date(2001, 1, 5), 40)  # starts with 0: a spreadsheet taking it for a number drops it
    content = xlsx([
        row(session, woman, _month(6), local_reference="A-1"),
        row(session, man, _month(6), end_date=_month(2, 15).isoformat(), leaving_reason="moved", disability="yes"),
        row(session, nineties, _month(5), confirm_checksum="yes", service_type="day_care"),
        row(session, int(zero), _month(4), decision_date=(_month(4) - timedelta(days=3)).strftime("%d.%m.%Y")),
    ])
    outcome = upload(app, session, provider, w.grant_a, content)
    assert outcome.ok, problems(outcome)
    assert (outcome.rows, outcome.added, outcome.ended) == (4, 4, 1)
    found = session.scalars(sa.select(RegisterEpisode).where(RegisterEpisode.agreement_id == w.grant_a.id)
                            .order_by(RegisterEpisode.id)).all()
    assert [(e.current.sex.value, e.current.birth_year) for e in found] == [
        ("female", 1941), ("male", 1990), ("male", 1994), ("male", 2001)]
    assert [v.change for v in found[1].versions] == ["added", "ended"]
    assert found[1].current.end_date == _month(2, 15) and found[1].current.leaving_reason.value == "moved"
    assert found[1].current.disability and found[3].current.decision_date == _month(4) - timedelta(days=3)
    with app.test_request_context():
        assert found[3].person_key == services.keys.person_key(session, zero)[0]
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "register.imported"))
    assert event.object_id == str(w.grant_a.id)
    assert event.after == {"rows": 4, "episodes_added": 4, "episodes_ended": 1, "checksum_confirmed": 1}


def test_the_template_comes_back_filled_in_through_the_pages(app, client, two, session, caplog):
    """The template downloaded from the portal, filled in and uploaded: the people are in the register, and their
    numbers are nowhere — not in the database, the audit trail, the pages or the logs."""
    w = two
    caplog.set_level(logging.DEBUG)
    login(client, w.users["provider"])
    page = client.get(f"/grants/{w.grant_a.id}/register/import")
    assert page.status_code == 200 and "template.xlsx" in page.get_data(as_text=True)
    response = client.get(f"/grants/{w.grant_a.id}/register/template.xlsx")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    workbook = load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == ["register", "codes", "instructions"]
    assert [c.value.rsplit("[", 1)[1] for c in workbook["register"][1]][:2] == ["personal_number]", "confirm_checksum]"]
    assert workbook["register"]["A2"].number_format == "@"
    numbers = [make_number(date(1930 + i, 1 + i, 10 + i), 100 + i) for i in range(3)]
    for values in [row(session, n, _month(5)) for n in numbers]:
        workbook["register"].append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    bad = xlsx([row(session, numbers[0], _month(5), disability="maybe"), row(session, numbers[1][:12], _month(5))])
    refused = client.post(f"/grants/{w.grant_a.id}/register/import",
                          data={"file": (io.BytesIO(bad), "register.xlsx")}, content_type="multipart/form-data")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "J (disability)" in text and "A (personal_number)" in text
    assert not [n for n in numbers if n in text or n[:12] in text]
    response = client.post(f"/grants/{w.grant_a.id}/register/import",
                           data={"file": (io.BytesIO(buffer.getvalue()), "register.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    assert episodes(session) == 3
    page = client.get(f"/grants/{w.grant_a.id}/register").get_data(as_text=True)
    session.expire_all()
    stored = _every_text(session)
    assert not [v for v in stored for n in numbers if n in v or n[:9] in v or n[4:] in v]
    assert not [n for n in numbers if n in page or n in caplog.text]
    keys_ = [e.person_key for e in session.scalars(sa.select(RegisterEpisode))]
    audit_text = " ".join(str(r) for r in session.execute(sa.select(AuditEvent.before, AuditEvent.after)).all())
    assert not [k for k in keys_ if k in audit_text or k in page or k in caplog.text]


@pytest.mark.parametrize("delimiter,bom", [(",", True), (";", False), (";", True), ("\t", False)])
def test_csv_files_in_the_ways_spreadsheets_save_them(app, two, session, delimiter, bom):
    w = two
    numbers = [make_number(date(1950, 3, 3), 5), make_number(date(1960, 6, 6), 600)]
    content = as_csv([row(session, n, _month(3), decision_date=(_month(3) - timedelta(days=1)).strftime("%d.%m.%Y"))
                      for n in numbers], delimiter, bom)
    outcome = upload(app, session, w.users["provider"], w.grant_a, content, "register.csv")
    assert outcome.ok, problems(outcome)
    assert outcome.added == 2 and episodes(session) == 2


def test_a_csv_headed_by_the_bare_keys_is_read_too(app, two, session):
    w = two
    content = as_csv([row(session, make_number(date(1950, 3, 3), 5), _month(3))], header=list(COLUMNS))
    assert upload(app, session, w.users["provider"], w.grant_a, content, "register.csv").ok


# Bad rows --------------------------------------------------------------------------------------------------------------

def test_every_kind_of_bad_row_is_listed_by_row_and_column_and_nothing_is_saved(app, two, session):
    w = two
    provider = w.users["provider"]
    here = make_number(date(1945, 5, 5), 55)
    _add(app, session, provider, w.grant_a, here, _month(8))
    before = episodes(session)
    twice = make_number(date(1952, 2, 2), 22)
    n = [make_number(date(1950, 1, 1 + i), 300 + i) for i in range(20)]
    start = w.grant_a.current.start_date
    rows = [
        row(session, n[0][:12], _month(5)),  # 2
        row(session, wrong_check_digit(n[1]), _month(5)),  # 3
        row(session, n[2], _month(5), decision_date="32.13.2020"),  # 4
        row(session, n[3], _month(5), service_type="nursing_home"),  # 5
        row(session, n[4], start - timedelta(days=40), decision_date=(start - timedelta(days=50)).isoformat()),  # 6
        row(session, n[5], _month(5), end_date=_month(6).isoformat(), leaving_reason="moved"),  # 7
        row(session, n[6], _month(5), disability="maybe"),  # 8
        row(session, n[7], _month(5), municipality="MK99999"),  # 9
        row(session, n[8], _month(5), local_reference=n[9]),  # 10
        row(session, n[10], _month(5), decision_centre="=HYPERLINK(\"x\")"),  # 11
        row(session, twice, _month(5)),  # 12
        row(session, twice, _month(3)),  # 13
        row(session, here, _month(4)),  # 14
        row(session, n[11], _month(5), decision_number=""),  # 15
        row(session, n[12], _month(5), confirm_checksum="perhaps"),  # 16
        row(session, n[13], _month(5), leaving_reason="moved"),  # 17
        row(session, n[14], _month(5), leaving_reason="bored", end_date=_month(2).isoformat()),  # 18
        row(session, n[15], _month(5)),  # 19: valid, and not saved either
        [None] * 12,  # an empty line is skipped
        row(session, n[16], (services.today_in_skopje() + timedelta(days=3))),  # 21
    ]
    outcome = upload(app, session, provider, w.grant_a, xlsx(rows))
    ref = services.reference_of(session.scalar(sa.select(RegisterEpisode)))
    pn = "A (personal_number)"
    assert problems(outcome) == [
        ("register", 2, pn, "A personal number has exactly 13 digits."),
        ("register", 3, pn, "The check digit of this personal number is wrong. Check it against the ЦСР decision; if "
                            "it is written exactly so there, tick the confirmation below."),
        ("register", 4, "D (decision_date)", "Enter a date as YYYY-MM-DD or DD.MM.YYYY."),
        ("register", 5, "F (service_type)", "Not a service of this grant: write one of the codes on the codes sheet."),
        ("register", 6, "G (start_date)", f"The start must fall within the grant agreement ({start.isoformat()} – "
                                          f"{w.grant_a.current.end_date.isoformat()})."),
        ("register", 7, "H (end_date)", "The service cannot end before it started."),
        ("register", 8, "J (disability)", "Write yes or no."),
        ("register", 9, "K (municipality)", "Not a municipality: write one of the codes on the codes sheet."),
        ("register", 10, "L (local_reference)", "Do not write a personal number here: the register keeps none."),
        ("register", 11, "E (decision_centre)", "Formulas are not accepted: type the value itself."),
        ("register", 13, pn, "The same person and service as in row 12, with overlapping dates. Keep one row, or "
                             "correct the dates."),
        ("register", 14, pn, f"This person already has an episode of this service in this register ({ref}) that "
                             "overlaps this one. Correct or end that one instead."),
        ("register", 15, "C (decision_number)", "Enter the number of the ЦСР decision."),
        ("register", 16, "B (confirm_checksum)", "Write yes to confirm the number as written on the decision, or "
                                                 "leave the cell empty."),
        ("register", 17, "H (end_date)", "Enter the last day of the service."),
        ("register", 18, "I (leaving_reason)", "Not a reason for leaving: write one of the codes on the codes sheet."),
        ("register", 21, "G (start_date)", "The service cannot start in the future: enter it once it has."),
        ("register", 21, "D (decision_date)", "The decision cannot be dated in the future."),
    ] or problems(outcome)
    assert episodes(session) == before
    assert not session.scalar(sa.select(AuditEvent.id).where(AuditEvent.action == "register.imported"))
    messages = " ".join(p.message for p in outcome.problems)
    assert not [x for x in n + [here, twice] if x in messages or x[:12] in messages]


def test_the_headers_must_be_the_templates(app, two, session):
    w = two
    provider = w.users["provider"]
    number = make_number(date(1950, 3, 3), 5)
    header = HEADER[:1] + ["Name", HEADER[2], HEADER[2]] + HEADER[4:9] + HEADER[10:]  # no disability
    outcome = upload(app, session, provider, w.grant_a, xlsx([row(session, number, _month(3))], header))
    assert problems(outcome) == [
        ("register", 1, "B", "This column is not part of the template. Remove it, or download the template again."),
        ("register", 1, "D", "The column decision_number appears twice."),
        ("register", 1, "", "The column “Date of the decision [decision_date]” is missing."),
        ("register", 1, "", "The column “Disability (yes/no) [disability]” is missing."),
    ]
    assert upload(app, session, provider, w.grant_a, xlsx([])).problems[0].message.startswith("Nothing to import")
    assert episodes(session) == 0


# Hostile files -----------------------------------------------------------------------------------------------------

def _csv_overlong() -> bytes:
    return as_csv([["x" * 200_000]])


@pytest.mark.parametrize("content,filename,words", [
    (files.PDF, "register.pdf", "not an XLSX or CSV"),
    (files.docx(), "register.docx", "not an XLSX or CSV"),
    (files.zip_bomb(150), "register.xlsx", "expand"),
    (files.many_entries(1500), "register.xlsx", "too many parts"),
    ("Име;Презиме\n".encode("cp1251"), "register.csv", "not UTF-8"),
    (b"personal_number\x00,x\n", "register.csv", "control characters"),
    (b"", "register.csv", "empty"),
    (b"PK\x03\x04 broken", "register.xlsx", "damaged"),
])
def test_hostile_files_are_refused_as_a_whole(app, two, session, content, filename, words):
    outcome = upload(app, session, two.users["provider"], two.grant_a, content, filename)
    assert len(outcome.problems) == 1 and words in outcome.problems[0].message, problems(outcome)
    assert episodes(session) == 0


def test_too_many_rows_an_overlong_cell_or_too_many_bytes_are_refused(app, two, session):
    w = two
    provider = w.users["provider"]
    assert "cannot be read" in upload(app, session, provider, w.grant_a, _csv_overlong(), "r.csv").problems[0].message
    app.config["BULK_MAX_ROWS"] = 50
    try:
        many = [row(session, make_number(date(1950, 1, 1), i), _month(3)) for i in range(60)]
        for content, name in ((as_csv(many), "r.csv"), (xlsx(many), "r.xlsx")):
            outcome = upload(app, session, provider, w.grant_a, content, name)
            assert len(outcome.problems) == 1 and "more than 50 rows" in outcome.problems[0].message, problems(outcome)
    finally:
        app.config["BULK_MAX_ROWS"] = 5000
    app.config["BULK_MAX_XML_MB"] = 1
    try:
        big = as_csv([row(session, "1", _month(3), local_reference="y" * 30)] * 9000)
        assert len(big) > 1024 * 1024
        outcome = upload(app, session, provider, w.grant_a, big, "r.csv")
        assert "larger than 1 MB" in outcome.problems[0].message, problems(outcome)
    finally:
        app.config["BULK_MAX_XML_MB"] = 20
    assert episodes(session) == 0


def test_a_csv_formula_is_refused_on_its_cell(app, two, session):
    w = two
    content = as_csv([row(session, make_number(date(1950, 1, 1), 1), _month(3), local_reference="=1+2")], ";")
    outcome = upload(app, session, w.users["provider"], w.grant_a, content, "r.csv")
    assert problems(outcome) == [("", 2, "L (local_reference)", "Formulas are not accepted: type the value itself.")]


def test_only_the_provider_imports_into_its_own_grant(app, client, two, session):
    w = two
    content = xlsx([row(session, make_number(date(1950, 1, 1), 1), _month(3))])
    with app.test_request_context():
        with pytest.raises(NotAllowed):
            bulk.upload(session, w.users["provider_b"], w.grant_a, content, "r.xlsx")
        with pytest.raises(NotAllowed):
            bulk_template.template(session, w.users["admin"], w.grant_a)
    login(client, w.users["provider_b"])
    assert client.post(f"/grants/{w.grant_a.id}/register/import", data={"file": (io.BytesIO(content), "r.xlsx")},
                       content_type="multipart/form-data").status_code == 403
    assert episodes(session) == 0


# The XLSX download -----------------------------------------------------------------------------------------------------

def test_the_provider_downloads_its_register_as_xlsx_without_the_codes(app, client, two, session):
    w = two
    number = make_number(date(1952, 12, 12), 812)
    episode = _add(app, session, w.users["provider"], w.grant_a, number, _month(4), local_reference="=HYPERLINK(1)")
    login(client, w.users["provider"])
    response = client.get(f"/grants/{w.grant_a.id}/register.xlsx")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        xml = b" ".join(archive.read(name) for name in archive.namelist())
    assert episode.person_key.encode() not in xml and number.encode() not in xml and b"<f>" not in xml
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert len(values) == 2 and values[1][0] == episode.id and values[1][1] == "'=HYPERLINK(1)"
    assert session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "register.exported")) == 1
    login(client, w.users["admin"])
    assert client.get(f"/grants/{w.grant_a.id}/register.xlsx").status_code == 403


# Paging ---------------------------------------------------------------------------------------------------------------

def test_the_list_of_registers_is_paged(app, client, two, session):
    w = two
    _add(app, session, w.users["provider_b"], w.grant_b, make_number(date(1950, 1, 1), 1), _month(3))
    app.config["PAGE_SIZE"] = 1
    try:
        login(client, w.users["admin"])
        numbers = sorted([(w.grant_a.number, w.grant_a.id), (w.grant_b.number, w.grant_b.id)])
        first = client.get("/registers").get_data(as_text=True)
        second = client.get("/registers?page=2").get_data(as_text=True)
        assert f"/grants/{numbers[0][1]}/register" in first and f"/grants/{numbers[1][1]}/register" not in first
        assert f"/grants/{numbers[1][1]}/register" in second and "page=1" in second
        assert 'rel="next"' in first and 'rel="prev"' in second
        assert client.get("/registers?page=999").status_code == 200
    finally:
        app.config["PAGE_SIZE"] = 25
    with app.test_request_context():
        rows = {a.id: (e, p) for a, e, p in services.visible_agreements(session, w.users["admin"])}
    assert rows[w.grant_b.id] == (1, 1) and rows[w.grant_a.id] == (0, 0)


def test_the_duplicate_list_is_paged_unresolved_first(app, client, two, session):
    w = two
    a, b = w.users["provider"], w.users["provider_b"]
    pairs = []
    for i in range(3):
        number = make_number(date(1940 + i, 1, 1), i)
        pairs.append((_add(app, session, a, w.grant_a, number, _month(6)).id,
                      _add(app, session, b, w.grant_b, number, _month(3)).id))
    with app.test_request_context():
        duplicates.resolve(session, w.users["reviewer"], *pairs[0], "legitimate", "Преселба.")
        session.commit()
        assert [(p.first.id, p.second.id) for p in duplicates.find(session)] == [pairs[1], pairs[2], pairs[0]]
        page = duplicates.listed(session, w.users["admin"], 2, 2)
        assert (page.total, [(p.first.id, p.second.id) for p in page.items]) == (3, [pairs[0]])
        assert page.items[0].resolution is not None
        beyond = duplicates.listed(session, w.users["admin"], 9, 2)
        assert (beyond.page, [(p.first.id, p.second.id) for p in beyond.items]) == (2, [pairs[0]])
        assert duplicates.listed(session, w.users["admin"], 1, 2).total == 3
        assert duplicates.pair(session, *pairs[1]).months_from == _month(3)
        assert duplicates.pair(session, pairs[1][0], pairs[2][1]) is None
    app.config["PAGE_SIZE"] = 2
    try:
        login(client, w.users["reviewer"])
        first = client.get("/registers/duplicates").get_data(as_text=True)
        second = client.get("/registers/duplicates?page=2").get_data(as_text=True)
        assert f"#{pairs[1][0]}" in first and f"#{pairs[0][0]}" not in first and f"#{pairs[0][0]}" in second
        failed = client.post(f"/registers/duplicates/{pairs[2][0]}/{pairs[2][1]}/resolve", data={"outcome": "x"})
        assert failed.status_code == 422 and f"#{pairs[2][0]}" in failed.get_data(as_text=True)
    finally:
        app.config["PAGE_SIZE"] = 25


# seed-stress registers -------------------------------------------------------------------------------------------------

def test_stress_registers_at_a_tiny_scale_plant_duplicates_the_check_finds(tmp_path):
    from portal.db import db as session
    from portal.stress import seed_stress
    from tests.conftest import empty_database_app

    with empty_database_app(tmp_path) as app, app.test_request_context():
        counts = seed_stress(session, grants=6, months=12, providers=3, people=1000, echo=lambda _line: None)
        found = duplicates.find(session)
        assert counts["people"] == 1000 and counts["episodes"] >= 120
        assert counts["planted_duplicates"] > 0
        assert len(found) == counts["planted_duplicates"]
        assert all(p.first.agreement_id != p.second.agreement_id and p.first.person_key == p.second.person_key
                   and p.first.agreement.organisation_id != p.second.agreement.organisation_id for p in found)
        # Every planted person is in two registers; every other person in one.
        keys_twice = session.scalars(sa.select(RegisterEpisode.person_key).group_by(RegisterEpisode.person_key)
                                     .having(sa.func.count() > 1)).all()
        assert sorted(keys_twice) == sorted(p.first.person_key for p in found)
        for episode in session.scalars(sa.select(RegisterEpisode).limit(50)):
            v = episode.current
            terms = episode.agreement.current
            assert terms.start_date <= v.start_date <= terms.end_date and len(episode.person_key) == 64
        assert session.scalar(sa.select(sa.func.count(RegisterEpisodeVersion.id))) >= counts["episodes"]
