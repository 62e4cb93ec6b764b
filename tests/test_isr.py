"""The ISR view and its downloads: values for a hand-built case, the ministry's comment per indicator and period
(versioned, audited, a stale form refused with the other person's text), the CSV and XLSX with their *data as
of*, and who may see and write what."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from portal import clock
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.indicators import isr
from portal.models import AuditEvent, Indicator, IsrComment
from tests import factories
from tests.conftest import login

MAY, JUN, NOV, DEC = date(2025, 5, 1), date(2025, 6, 1), date(2025, 11, 1), date(2025, 12, 1)
H2 = isr.Period("half", 2025, 2)


@pytest.fixture
def case(app, session, world, monkeypatch):
    """Grant 1 (provider A, municipality A) and grant 2 (provider B, municipality B), both from January 2025,
    40,000 EUR each (signed 12 December 2024), every report below accepted:

    | grant | month    | served |
    | G1    | May 2025 | 25     |
    | G1    | Jun 2025 | 26     |
    | G1    | Nov 2025 | 31     |
    | G1    | Dec 2025 | 32     |
    | G2    | Jun 2025 | 10     |
    | G2    | Dec 2025 | 12     |

    Beneficiaries (each grant's figure at the end of the half-year): 2025-H1 = 26 + 10 = 36, dated 30 June 2025;
    2025-H2 = 32 + 12 = 44, dated 31 December 2025; each report counts everyone served as new, so people served
    since the start are 61 by June and 136 by December. Committed: 80,000 EUR at the end of either half-year. The
    catalogue gives beneficiaries an end target of 2,500 by 31 December 2028."""
    admin, reviewer = world.users["admin"], world.users["reviewer"]
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 2, 10, 9, tzinfo=UTC))
    with app.test_request_context():
        g1 = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"],
                                    start=date(2025, 1, 1), number="ISR-1")
        g2 = factories.signed_grant(session, admin, world.orgs["provider_b"], world.orgs["municipality_b"],
                                    start=date(2025, 1, 1), number="ISR-2")
        for month, served in ((MAY, 25), (JUN, 26), (NOV, 31), (DEC, 32)):
            factories.report(session, world.users["provider"], g1, month, served=served, accept_by=reviewer)
        for month, served in ((JUN, 10), (DEC, 12)):
            factories.report(session, world.users["provider_b"], g2, month, served=served, accept_by=reviewer)
        ben = session.scalar(sa.select(Indicator).where(Indicator.code == "BEN"))
        ben.end_target, ben.end_target_date = Decimal("2500"), date(2028, 12, 31)
        session.commit()
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))  # sessions and pages at today's time
    return world


def _row(report, code):
    return next(r for r in report.rows if r.indicator.code == code)


def _comment(client, period, indicator_id, body, version=None, language="mk"):
    data = {"body": body, "language": language}
    if version is not None:
        data["version"] = str(version)
    return client.post(f"/indicators/isr/{period}/{indicator_id}", data=data)


def _ben(session) -> Indicator:
    return session.scalar(sa.select(Indicator).where(Indicator.code == "BEN"))


# Periods -----------------------------------------------------------------------------------------------

def test_periods_are_read_and_stepped_back_by_their_kind():
    assert isr.parse("2026-H2") == isr.Period("half", 2026, 2)
    assert isr.parse("2026-Q1").previous().key == "2025-Q4"
    assert isr.parse("2026-H1").previous().key == "2025-H2"
    assert isr.parse("2026").previous().key == "2025"
    assert (isr.parse("2025-H2").start, isr.parse("2025-H2").end) == (date(2025, 7, 1), date(2025, 12, 31))
    assert isr.parse("2024-Q1").end == date(2024, 3, 31)
    for bad in ("2026-H3", "2026-Q5", "26-H1", "2026-h1", "1999", "2026-13", "2026-H1x", "", None):
        assert isr.parse(bad) is None, bad
    assert isr.parse(" 2026-H1 ") == isr.Period("half", 2026, 1)  # surrounding spaces are forgiven
    assert isr.Period.containing(date(2026, 12, 2), "half").key == "2026-H2"
    assert isr.Period.containing(date(2026, 4, 1), "quarter").key == "2026-Q2"


def test_the_page_picks_the_latest_half_year_that_has_started(app):
    now = datetime(2026, 7, 1, 8, tzinfo=UTC)  # 10:00 in Skopje: the second half-year has started
    with app.test_request_context():
        assert isr.pick(None, None, now).key == "2026-H2"
        assert isr.pick(None, "quarter", now).key == "2026-Q3"
        assert isr.pick(None, "nonsense", now).key == "2026-H2"
        with pytest.raises(NotFound):
            isr.pick("2027-H1", None, now)  # not started yet
        with pytest.raises(NotFound):
            isr.pick("2018-H1", None, now)  # before the loan's first month (September 2018)
        assert isr.pick("2018-H2", None, now).key == "2018-H2"
    keys = [p.key for p in isr.choices("half", now)]
    assert keys[0] == "2026-H2" and keys[-1] == "2018-H2" and len(keys) == 17


def test_a_value_is_dated_by_the_month_it_stands_for_never_after_today():
    period = isr.Period("half", 2026, 2)
    running = SimpleNamespace(value=Decimal(5), period_end=date(2026, 12, 31), as_of_month=date(2026, 10, 1),
                              grants_current=3, grants_carried=1, grants_missing=2)
    value = isr.actual(period, running, date(2026, 12, 2))
    assert value.dated == date(2026, 10, 31) and (value.grants_current, value.grants_carried, value.grants_missing) == (3, 1, 2)
    this_month = SimpleNamespace(value=Decimal(5), period_end=date(2026, 12, 31), as_of_month=date(2026, 12, 1))
    assert isr.actual(period, this_month, date(2026, 12, 2)).dated == date(2026, 12, 2)
    older = SimpleNamespace(value=Decimal(5), period_end=date(2026, 6, 30))  # no month given: the period's end
    assert isr.actual(period, older, date(2026, 12, 2)).dated == date(2026, 6, 30)
    assert isr.actual(period, None, date(2026, 12, 2)).value is None


# Values ------------------------------------------------------------------------------------------------

def test_values_for_the_hand_built_case(app, session, case):
    with app.test_request_context():
        report = isr.build(session, H2)
    active = list(session.scalars(sa.select(Indicator.code).where(Indicator.active.is_(True))
                                  .order_by(Indicator.sort_order, Indicator.id)))
    assert [r.indicator.code for r in report.rows] == active  # the active catalogue, in its order
    ben = _row(report, "BEN")
    assert (ben.previous.period.key, ben.previous.value, ben.previous.dated) == ("2025-H1", 36, date(2025, 6, 30))
    assert (ben.current.period.key, ben.current.value, ben.current.dated) == ("2025-H2", 44, date(2025, 12, 31))
    assert ben.indicator.end_target == Decimal("2500") and ben.comment is None
    # A stock says how many grants it takes from the month itself, carries from an earlier one, or lacks.
    assert (ben.current.grants_current, ben.current.grants_carried, ben.current.grants_missing) == (2, 0, 0)
    # People served since the start (every report's new beneficiaries): 25 + 26 + 10, then 31 + 32 + 12 more.
    cumulative = _row(report, "BEN_CUM")
    assert (cumulative.previous.value, cumulative.current.value) == (61, 136)
    assert cumulative.current.dated == date(2025, 12, 31) and cumulative.current.grants_current is None
    committed = _row(report, "COMMITTED")
    assert committed.previous.value == committed.current.value == Decimal("80000.00")
    assert report.as_of.source == "snapshot" and report.as_of.data_version is not None


def test_an_inactive_indicator_is_left_out(app, session, case):
    hte = session.scalar(sa.select(Indicator).where(Indicator.code == "HTE"))
    hte.active = False
    session.commit()
    with app.test_request_context():
        report = isr.build(session, H2)
        assert "HTE" not in [r.indicator.code for r in report.rows]
        with pytest.raises(NotFound):
            isr.commentable(session, hte.id)


def test_the_page_shows_the_values_their_dates_and_the_data_as_of(client, session, case):
    login(client, case.users["monitor"])
    page = client.get("/indicators/isr?period=2025-H2")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="data-as-of"' in html and 'role="region"' in html
    row = re.search(r'<tr id="isr-BEN">(.*?)</tr>', html, re.S).group(1)
    assert ">36<" in row and ">44<" in row and "2025-H1" not in row
    assert 'name="period"' in html and '<option value="2025-H2" selected>' in html
    assert 'href="/indicators/isr/2025-H2/' not in html  # monitors read comments (none yet), they do not write
    default = client.get("/indicators/isr").get_data(as_text=True)
    assert f'<option value="{isr.Period.containing(isr.today(), "half").key}" selected>' in default
    assert client.get("/indicators/isr?kind=year").status_code == 200
    assert client.get("/indicators/isr?period=2025-H7").status_code == 404
    assert client.get("/indicators").get_data(as_text=True).count('href="/indicators/isr"') == 1  # from the dashboard


# Comments ----------------------------------------------------------------------------------------------

def test_two_edits_make_two_versions_the_newest_shown_and_both_in_the_history(client, session, case):
    ben = _ben(session)
    login(client, case.users["reviewer"])
    form = client.get(f"/indicators/isr/2025-H2/{ben.id}").get_data(as_text=True)
    assert 'name="version" type="hidden" value="0"' in form or 'value="0"' in form
    first = _comment(client, "2025-H2", ben.id, "Напредок според планот.", version=0)
    assert first.status_code == 302 and first.headers["Location"].endswith("/indicators/isr?period=2025-H2#isr-BEN")
    login(client, case.users["admin"])
    second = _comment(client, "2025-H2", ben.id, "Напредок според планот; два гранта доцнат.", version=1, language="mk")
    assert second.status_code == 302
    rows = list(session.scalars(sa.select(IsrComment).where(IsrComment.indicator_id == ben.id)
                                .order_by(IsrComment.version)))
    assert [(c.version, c.period, c.created_by_id) for c in rows] == [
        (1, "2025-H2", case.users["reviewer"].id), (2, "2025-H2", case.users["admin"].id)]
    assert rows[0].body == "Напредок според планот."  # nothing overwritten
    table = client.get("/indicators/isr?period=2025-H2").get_data(as_text=True)
    row = re.search(r'<tr id="isr-BEN">(.*?)</tr>', table, re.S).group(1)
    assert "два гранта доцнат" in row and "Напредок според планот.<" not in row
    history = client.get(f"/indicators/isr/2025-H2/{ben.id}").get_data(as_text=True)
    assert "Напредок според планот.</p>" in history and "два гранта доцнат.</p>" in history
    login(client, case.users["monitor"])  # the monitor reads the history too
    assert "Напредок според планот.</p>" in client.get(f"/indicators/isr/2025-H2/{ben.id}").get_data(as_text=True)
    # Another period has its own comment.
    assert "Напредок" not in client.get("/indicators/isr?period=2025-H1").get_data(as_text=True)


def test_every_new_version_writes_an_audit_row(client, session, case):
    ben = _ben(session)
    login(client, case.users["reviewer"])
    _comment(client, "2025-H2", ben.id, "Прва верзија.", version=0)
    _comment(client, "2025-H2", ben.id, "Втора верзија.", version=1, language="en")
    events = list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "isr_comment.added")
                                  .order_by(AuditEvent.id)))
    assert len(events) == 2 and all(e.actor_id == case.users["reviewer"].id for e in events)
    assert events[0].before is None
    assert events[0].after == {"indicator": "BEN", "period": "2025-H2", "version": 1, "body": "Прва верзија.",
                               "language": "mk"}
    assert events[1].before == {"version": 1, "body": "Прва верзија.", "language": "mk"}
    assert events[1].after["version"] == 2 and events[1].after["language"] == "en"
    ids = {c.id for c in session.scalars(sa.select(IsrComment))}
    assert {int(e.object_id) for e in events} == ids and {e.object_type for e in events} == {"isr_comment"}


def test_a_stale_form_gets_409_with_the_other_persons_text_and_keeps_its_own(client, session, case):
    ben = _ben(session)
    login(client, case.users["reviewer"])
    assert _comment(client, "2025-H2", ben.id, "Текст на рецензентот.", version=0).status_code == 302
    login(client, case.users["admin"])  # the administrator's form was opened before the reviewer saved
    response = _comment(client, "2025-H2", ben.id, "Текст на администраторот.", version=0)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Текст на рецензентот." in html.split('class="error-summary"')[1].split("</div>")[0]
    assert "Текст на администраторот.</textarea>" in html  # what they typed is still there
    assert 'value="1"' in html  # the form now carries the newest version: saving again is a deliberate choice
    assert session.scalar(sa.select(sa.func.count()).select_from(IsrComment)) == 1
    assert _comment(client, "2025-H2", ben.id, "Текст на администраторот.", version=1).status_code == 302
    assert session.scalar(sa.select(sa.func.max(IsrComment.version))) == 2


def test_two_saves_of_the_same_version_at_once_the_database_keeps_the_first(app, session, case, monkeypatch):
    """The second save read the newest version before the first was committed: the unique constraint refuses
    it and the service answers with the conflict, carrying the first text."""
    ben = _ben(session)
    with app.test_request_context():
        isr.add_comment(session, case.users["reviewer"], ben, H2, "Први.", "mk", 0)
        session.commit()
        real = isr.newest
        calls = []

        def before_the_first_committed(s, indicator, period):
            calls.append(1)
            return None if len(calls) == 1 else real(s, indicator, period)

        monkeypatch.setattr(isr, "newest", before_the_first_committed)
        with pytest.raises(Conflict) as raised:
            isr.add_comment(session, case.users["admin"], ben, H2, "Втори.", "mk", 0)
        assert "Први." in str(raised.value.message)
        session.rollback()
    assert [c.body for c in session.scalars(sa.select(IsrComment))] == ["Први."]


def test_an_empty_or_too_long_comment_is_refused_with_a_field_error(client, session, case, app):
    ben = _ben(session)
    login(client, case.users["admin"])
    for body in ("", "   \n  ", "x" * (isr.MAX_BODY + 1)):
        response = _comment(client, "2025-H2", ben.id, body, version=0)
        assert response.status_code == 422
        assert 'id="body-error"' in response.get_data(as_text=True)
    assert _comment(client, "2025-H2", ben.id, "x" * isr.MAX_BODY, version=0).status_code == 302
    assert _comment(client, "2025-H2", ben.id, "Текст.", version=1, language="de").status_code == 422
    with app.test_request_context(), pytest.raises(ValidationFailed) as raised:
        isr.add_comment(session, case.users["admin"], ben, H2, "", "mk", 1)
    assert set(raised.value.field_errors) == {"body"}
    assert session.scalar(sa.select(sa.func.count()).select_from(IsrComment)) == 1


def test_saving_the_same_text_again_adds_no_version(client, session, case):
    ben = _ben(session)
    login(client, case.users["reviewer"])
    _comment(client, "2025-H2", ben.id, "Ист текст.", version=0)
    response = _comment(client, "2025-H2", ben.id, "  Ист текст.  ", version=1)
    assert response.status_code == 302
    assert session.scalar(sa.select(sa.func.count()).select_from(IsrComment)) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == "isr_comment.added")) == 1


# Downloads ---------------------------------------------------------------------------------------------

def test_the_csv_has_the_isr_table_numbers_as_numbers_the_data_as_of_and_no_formula(client, session, case):
    ben = _ben(session)
    login(client, case.users["admin"])
    _comment(client, "2025-H2", ben.id, "=HYPERLINK(\"http://evil.example\",\"x\")", version=0, language="en")
    response = client.get("/indicators/isr.csv?period=2025-H2")
    assert response.status_code == 200 and response.data.startswith("\ufeff".encode())
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="ssip-isr-2025-H2-data-as-of-')
    assert f"-v{response.headers['X-Data-Version']}.csv" in disposition
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert list(rows[0]) == list(isr.CSV_COLUMNS)
    by_code = {r["indicator"]: r for r in rows}
    row = by_code["BEN"]
    assert (row["previous_period"], row["previous_value"], row["previous_date"]) == ("2025-H1", "36", "2025-06-30")
    assert (row["current_period"], row["current_value"], row["current_date"]) == ("2025-H2", "44", "2025-12-31")
    assert (row["end_target"], row["end_target_date"]) == ("2500", "2028-12-31") and row["baseline_date"] == ben.baseline_date.isoformat()
    assert row["comment"] == "'=HYPERLINK(\"http://evil.example\",\"x\")" and row["comment_version"] == "1"
    assert row["data_as_of"] == response.headers["X-Data-As-Of"] and row["data_version"] == response.headers["X-Data-Version"]
    assert by_code["COMMITTED"]["current_value"] == "80000.00" and by_code["BEN_FEMALE"]["current_value"] == "50.0"
    assert by_code["HTE"]["comment"] == "" and by_code["HTE"]["comment_version"] == ""
    assert client.get("/indicators/isr.pdf?period=2025-H2").status_code == 404


def test_the_xlsx_has_the_isr_sheet_and_when_the_figures_are_from(client, session, case):
    ben = _ben(session)
    case.users["monitor"].preferred_language = "en"
    session.commit()
    login(client, case.users["reviewer"])
    _comment(client, "2025-H2", ben.id, "@SUM(1,2) — commented", version=0, language="en")
    login(client, case.users["monitor"])
    response = client.get("/indicators/isr.xlsx?period=2025-H2")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith(f"-v{response.headers['X-Data-Version']}.xlsx\"")
    workbook = load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == ["ISR 2025-H2", "About these figures"]
    rows = list(workbook["ISR 2025-H2"].iter_rows(values_only=True))
    header = rows[0]
    assert header[:12] == ("Code", "Indicator", "Unit", "Level", "Baseline", "Baseline date", "Previous period",
                           "Previous actual", "Previous actual date", "Current period", "Current actual",
                           "Current actual date")
    ben_row = dict(zip(header, next(r for r in rows if r[0] == "BEN"), strict=True))
    assert ben_row["Previous actual"] == 36 and ben_row["Current actual"] == 44 and ben_row["End target"] == 2500
    assert ben_row["Current actual date"] == "2025-12-31" and ben_row["Comment"] == "'@SUM(1,2) — commented"
    committed = dict(zip(header, next(r for r in rows if r[0] == "COMMITTED"), strict=True))
    assert committed["Current actual"] == 80000
    about = dict(r for r in workbook["About these figures"].iter_rows(values_only=True, min_row=2))
    assert about["Indicator figures: data as of (UTC)"] == response.headers["X-Data-As-Of"]
    assert str(about["Data version"]) == response.headers["X-Data-Version"] and about["Period"] == "2025-H2"
    for sheet in workbook.worksheets:
        for line in sheet.iter_rows():
            for cell in line:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)


# Access ------------------------------------------------------------------------------------------------

def test_who_sees_and_who_writes(app, client, session, case):
    ben = _ben(session)
    url = f"/indicators/isr/2025-H2/{ben.id}"
    for role in ("admin", "reviewer"):
        login(client, case.users[role])
        assert 'name="body"' in client.get(url).get_data(as_text=True)
    for role in ("finance", "monitor"):
        login(client, case.users[role])
        page = client.get(url)
        assert page.status_code == 200 and 'name="body"' not in page.get_data(as_text=True)
        assert client.get("/indicators/isr.csv?period=2025-H2").status_code == 200
        assert _comment(client, "2025-H2", ben.id, "Не смее.", version=0).status_code == 403
    for role in ("municipality", "provider"):
        login(client, case.users[role])
        for address in ("/indicators/isr", "/indicators/isr.csv", "/indicators/isr.xlsx", url):
            assert client.get(address).status_code == 403
        assert _comment(client, "2025-H2", ben.id, "Не смее.", version=0).status_code == 403
    with app.test_request_context():
        from portal.errors import NotAllowed

        with pytest.raises(NotAllowed):
            isr.add_comment(session, case.users["finance"], ben, H2, "Не смее.", "mk", 0)
    assert session.scalar(sa.select(sa.func.count()).select_from(IsrComment)) == 0
    login(client, case.users["admin"])
    assert client.get(f"/indicators/isr/2999-H1/{ben.id}").status_code == 404
    assert client.get("/indicators/isr/2025-H2/999999").status_code == 404
