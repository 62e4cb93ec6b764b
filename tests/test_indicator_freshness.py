"""Figures current at every accept: the data version moves with every change the indicators depend on (and with
nothing else), the accepting request leaves the CSV, the API and the dashboard current, every answer says which
data it is from, and a reader checks freshness in one statement, however many reports there are."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from portal import clock
from portal.grants import services as grants
from portal.indicators import freshness, snapshot
from portal.models import (
    AgreementVersion,
    Indicator,
    IndicatorRefresh,
    MonthlyReport,
    OrgKind,
    Programme,
    Region,
    ReportServiceLine,
    ReportStatus,
    ReportVersion,
)
from portal.reports import services as reports
from tests import factories
from tests.conftest import count_queries, login
from tests.test_indicators import JAN, MAR, build


def _now(monkeypatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))


def _monitor_in_english(app, session, world, monkeypatch):
    """The built world (tests.test_indicators.build), today's clock, and a client signed in as the monitor, in
    English."""
    build(app, session, world, monkeypatch)
    _now(monkeypatch)
    world.users["monitor"].preferred_language = "en"
    session.commit()
    client = app.test_client()
    login(client, world.users["monitor"])
    return client


def _version(session) -> int:
    session.expire_all()
    return freshness.current(session)


def _csv_q1_ben(client) -> tuple[int, dict]:
    response = client.get("/indicators/observations.csv?indicator=BEN&period_type=quarter")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    value = next(int(r[10]) for r in rows[1:] if r[4] == "2025-Q1" and r[7] == "total")
    return value, response.headers


def _api_q1_ben(client) -> tuple[int, dict]:
    body = client.get("/api/v1/observations?indicator=BEN&period_type=quarter&dimension=total").json
    return next(int(o["value"]) for o in body["data"] if o["period"] == "2025-Q1"), body["meta"]


def _iati_2025(client, session, code: str) -> int:
    """The IATI file's actual for 2025 of the indicator whose English title is the catalogue's name of `code`."""
    from lxml import etree

    name = session.scalar(sa.select(Indicator.name_en).where(Indicator.code == code))
    root = etree.fromstring(client.get("/api/v1/iati-activity.xml").data)  # the portal's own file
    for indicator in root.iter("indicator"):
        if any(n.text == name for n in indicator.find("title").iter("narrative")):
            for period in indicator.iter("period"):
                if period.find("period-start").get("iso-date") == "2025-01-01" and period.find("actual") is not None:
                    return int(float(period.find("actual").get("value")))
    raise AssertionError(f"no 2025 actual for {code} in the IATI file")


def _new_accepted(session) -> int:
    """Hand count: the new beneficiaries of every accepted version."""
    session.expire_all()
    return session.scalar(sa.select(sa.func.sum(ReportServiceLine.new_this_month))
                          .join(ReportVersion, ReportVersion.id == ReportServiceLine.version_id)
                          .join(MonthlyReport, sa.and_(MonthlyReport.id == ReportVersion.report_id,
                                                       MonthlyReport.accepted_version == ReportVersion.version)))


def _dashboard_march(client) -> tuple[str | None, str]:
    page = client.get("/indicators").get_data(as_text=True)
    match = re.search(r'<th scope="row">2025-03</th>\s*<td class="num">([0-9]+)</td>', page)
    return (match.group(1) if match else None), page


def test_accepting_a_report_changes_the_csv_api_and_dashboard_in_the_same_request(app, session, world, monkeypatch):
    """G1's March report (99 served) is submitted, not accepted: BEN for 2025-Q1 is G1's February (40) + G2's
    January (10) = 50. The reviewer accepts it; before any reader asks, the snapshot already holds 99 + 10 = 109."""
    build(app, session, world, monkeypatch)
    _now(monkeypatch)
    world.users["monitor"].preferred_language = world.users["reviewer"].preferred_language = "en"
    session.commit()
    monitor, reviewer = app.test_client(), app.test_client()
    login(monitor, world.users["monitor"])
    login(reviewer, world.users["reviewer"])
    assert _csv_q1_ben(monitor)[0] == 50 and _api_q1_ben(monitor)[0] == 50  # the first reader computes the snapshot
    assert _dashboard_march(monitor)[0] == "50"  # no accepted March yet: both grants carried
    served_since_start = _iati_2025(monitor, session, "BEN_CUM")
    assert served_since_start == _new_accepted(session)  # the IATI file's cumulative actual, read from the snapshot
    before = _version(session)
    march = session.scalar(sa.select(MonthlyReport).where(MonthlyReport.month == MAR))

    response = reviewer.post(f"/reports/{march.id}/review", data={"accept": "1", "confirm": "y", "comment": "Уредно."},
                             follow_redirects=True)
    assert response.status_code == 200
    assert "It now counts in the indicators." in response.get_data(as_text=True)

    after = _version(session)
    assert after == before + 1  # one accept, one move
    newest = session.scalar(sa.select(IndicatorRefresh).order_by(IndicatorRefresh.id.desc()).limit(1))
    assert newest.data_version == after  # refreshed by the accepting request itself, not by a later reader
    with count_queries(app) as reading:
        value, headers = _csv_q1_ben(monitor)
    assert not any("INSERT INTO indicator_value" in s for s in reading.statements)  # nothing left to recompute
    assert value == 109 and headers["X-Data-Version"] == str(after) and headers["X-Data-Source"] == "snapshot"
    assert f"-v{after}.csv" in headers["Content-Disposition"]
    value, meta = _api_q1_ben(monitor)
    assert value == 109 and meta["data_version"] == after and meta["source"] == "snapshot"
    assert meta["data_as_of"] == newest.finished_at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    shown, page = _dashboard_march(monitor)
    assert shown == "109" and f"data version {after})" in page  # G1's March and G2's January carried
    march_new = session.scalar(sa.select(sa.func.sum(ReportServiceLine.new_this_month))
                               .join(ReportVersion, ReportVersion.id == ReportServiceLine.version_id)
                               .where(ReportVersion.report_id == march.id))
    assert march_new and _iati_2025(monitor, session, "BEN_CUM") == served_since_start + march_new == _new_accepted(session)


def test_when_a_refresh_is_slow_the_reviewer_is_not_told_the_report_counts_now(app, session, world, monkeypatch):
    build(app, session, world, monkeypatch)
    _now(monkeypatch)
    monitor, reviewer = app.test_client(), app.test_client()
    login(monitor, world.users["monitor"])
    login(reviewer, world.users["reviewer"])
    world.users["reviewer"].preferred_language = "en"
    session.commit()
    assert _csv_q1_ben(monitor)[0] == 50
    session.execute(sa.update(IndicatorRefresh).values(duration_ms=snapshot.AUTO_REFRESH_MS + 1))  # a national scale
    session.commit()
    old = session.scalar(sa.select(IndicatorRefresh.data_version).order_by(IndicatorRefresh.id.desc()).limit(1))
    march = session.scalar(sa.select(MonthlyReport).where(MonthlyReport.month == MAR))
    page = reviewer.post(f"/reports/{march.id}/review", data={"accept": "1", "confirm": "y"},
                         follow_redirects=True).get_data(as_text=True)
    assert "It now counts in the indicators" not in page and "next scheduled refresh" in page
    value, headers = _csv_q1_ben(monitor)
    assert value == 50 and headers["X-Data-Version"] == str(old)  # the old figures, saying which data they are
    value, meta = _api_q1_ben(monitor)
    assert value == 50 and meta["data_version"] == old < _version(session)
    result = app.test_cli_runner().invoke(args=["refresh-indicators"])  # cron
    assert result.exit_code == 0, result.output
    assert _csv_q1_ben(monitor)[0] == 109


def test_the_data_version_moves_on_each_kind_of_input_and_not_on_unrelated_writes(app, session, world, monkeypatch):
    admin, reviewer, finance = world.users["admin"], world.users["reviewer"], world.users["finance"]
    provider = world.users["provider"]
    with app.test_request_context():
        grant = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"], start=JAN,
                                       number="FRESH-1")
        session.commit()
        monkeypatch.setattr(clock, "now", lambda: datetime(2025, 3, 5, 9, tzinfo=UTC))

        def moves(change) -> int:
            before = _version(session)
            change()
            session.commit()
            return _version(session) - before

        # Unrelated writes: a draft saved, an organisation, a user, a region renamed, an audit row.
        draft = factories.report(session, provider, grant, JAN, served=30, submit=False)
        session.commit()
        assert moves(lambda: reports.save(session, provider, draft, factories.report_data(session, grant, served=31),
                                          draft.newest.edit_version)) == 0
        assert moves(lambda: factories.org(session, OrgKind.PROVIDER)) == 0
        assert moves(lambda: setattr(session.scalars(sa.select(Region)).first(), "name_en", "Renamed")) == 0
        assert moves(lambda: setattr(world.users["monitor"], "preferred_language", "sq")) == 0

        # What the figures depend on: each moves it once.
        assert moves(lambda: reports.submit(session, provider, draft)) == 1  # first submission (timeliness)
        assert moves(lambda: reports.return_report(session, reviewer, draft, "Проверете.")) == 1
        feb = factories.report(session, provider, grant, date(2025, 2, 1), served=40)
        session.commit()
        assert moves(lambda: reports.accept(session, reviewer, feb)) == 1
        reports.request_correction(session, provider, feb, "Погрешно внесено.")
        reports.save(session, provider, feb, factories.report_data(session, grant, served=45), feb.newest.edit_version)
        reports.submit(session, provider, feb)
        session.commit()
        assert moves(lambda: reports.accept(session, reviewer, feb)) == 1  # the correction supersedes version 1
        assert feb.accepted_version == 2
        assert moves(lambda: grants.request_release(session, finance, grant.tranches[0])) == 0  # no money moved yet
        grants.approve_release(session, admin, grant.tranches[0])
        session.commit()
        assert moves(lambda: grants.mark_paid(session, finance, grant.tranches[0], date(2025, 2, 15), "REF-1")) == 1
        current = grant.current
        assert moves(lambda: session.add(AgreementVersion(
            agreement_id=grant.id, version=current.version + 1, signature_date=current.signature_date,
            start_date=current.start_date, end_date=current.end_date, committed_eur=current.committed_eur,
            reason="test", created_by_id=admin.id))) == 1
        ben = session.scalar(sa.select(Indicator).where(Indicator.code == "BEN"))
        assert moves(lambda: setattr(ben, "end_target", Decimal("2600"))) == 1
        programme = session.scalar(sa.select(Programme))
        assert moves(lambda: setattr(programme, "envelope_eur", programme.envelope_eur + 1)) == 1

        # A change rolled back leaves the version where it was.
        before = _version(session)
        ben.end_target = Decimal("2700")
        session.flush()
        session.rollback()
        assert _version(session) == before


@pytest.mark.parametrize(("path", "expected"), [
    ("/indicators", 1),  # the page is kept per snapshot, language and day: the user, with the data version
    # The API keeps its answers per data version: a repeated call is the user, the rate limit and the version.
    ("/api/v1/observations?period_type=quarter", 3),
    ("/api/v1/indicators", 3),
])
def test_dashboard_and_api_read_freshness_in_one_statement_whatever_the_data(app, session, world, monkeypatch, path,
                                                                             expected):
    """Exact statement counts with a current snapshot (the user's session and rate limit included): one statement
    for the snapshot and the data version; the dashboard itself comes from memory."""
    build(app, session, world, monkeypatch)
    _now(monkeypatch)
    client = app.test_client()
    login(client, world.users["monitor"])
    assert client.get(path).status_code == 200  # computes (or builds) once
    with count_queries(app) as few:
        assert client.get(path).status_code == 200
    with app.test_request_context():
        for n in range(4):
            extra = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           start=JAN, number=f"FRESH-X{n}")
            factories.report(session, world.users["provider"], extra, JAN, accept_by=world.users["reviewer"])
        session.commit()
    assert client.get(path).status_code == 200  # the data moved: recomputed once
    with count_queries(app) as many:
        assert client.get(path).status_code == 200
    assert not any("monthly_report" in s for s in many.statements), "\n".join(many.statements)
    assert (few.count, many.count) == (expected, expected), "\n".join(many.statements)


def test_the_xlsx_says_when_its_figures_are_from(app, session, world, monkeypatch):
    client = _monitor_in_english(app, session, world, monkeypatch)
    response = client.get("/indicators/observations.xlsx?from=2025-01&to=2025-12")
    assert response.status_code == 200
    version = _version(session)
    workbook = load_workbook(io.BytesIO(response.data))
    about = {row[0]: row[1] for row in list(workbook["About these figures"].iter_rows(values_only=True))[1:]}
    assert about["Data version"] == version and about["Indicator figures: data as of (UTC)"] == response.headers["X-Data-As-Of"]
    live = client.get(f"/indicators/observations.xlsx?municipality={world.orgs['municipality'].municipality_id}")
    assert live.headers["X-Data-Source"] == "live" and "-live.xlsx" in live.headers["Content-Disposition"]


def test_grants_are_listed_a_page_at_a_time(app, client, session, world):
    from portal.models import GrantAgreement

    with app.test_request_context():
        for n in range(5):
            factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                   start=JAN, number=f"PAGE-{n}")
        session.commit()
    app.config["PAGE_SIZE"] = 2
    total = session.scalar(sa.select(sa.func.count(GrantAgreement.id)))  # the ministry sees every agreement
    pages = -(-total // 2)
    login(client, world.users["finance"])
    numbers = []
    for page in range(1, pages + 1):
        body = client.get(f"/grants?page={page}").get_data(as_text=True)
        rows = re.findall(r'href="/grants/[0-9]+">([^<]+)</a>', body)
        assert len(rows) == (2 if page < pages or total % 2 == 0 else 1), body
        assert ('rel="next"' in body) == (page < pages) and ('rel="prev"' in body) == (page > 1)
        numbers += [n for n in rows if n.startswith("PAGE-")]
    assert numbers == [f"PAGE-{n}" for n in range(5)]  # in order, each once, across the pages
    assert client.get("/grants?page=99").status_code == 200  # beyond the end: the last page
    login(client, world.users["provider_b"])  # a provider sees only its own agreements (none of these)
    assert "PAGE-" not in client.get("/grants").get_data(as_text=True)


def test_the_reviewer_queue_has_its_index(app, session):
    names = {ix["name"]: ix["column_names"] for ix in sa.inspect(session.connection()).get_indexes("monthly_report")}
    assert names["ix_monthly_report_queue"] == ["status", "last_submitted_at", "id"]
    assert ReportStatus.SUBMITTED.value == "submitted"


def test_the_csv_streams_in_large_chunks_not_one_per_row(app, session, world, monkeypatch):
    build(app, session, world, monkeypatch)
    _now(monkeypatch)
    client = app.test_client()
    login(client, world.users["monitor"])
    client.get("/indicators/observations.csv")  # computes the snapshot
    response = client.get("/indicators/observations.csv", buffered=False)
    chunks = [chunk for chunk in response.response if chunk]
    response.close()
    body = b"".join(chunks)
    rows = body.count(b"\n")
    from portal.indicators.exports import CHUNK

    # the header, then a few large chunks (each but the last at least 256 KB), never one per row
    assert rows > 200 and len(chunks) <= 2 + len(body) // CHUNK, (rows, [len(c) for c in chunks])
    assert all(len(chunk) >= CHUNK for chunk in chunks[1:-1]), [len(c) for c in chunks]


def test_any_request_that_moves_the_data_leaves_the_snapshot_current(app, session, world, monkeypatch):
    """Not only the accept: an administrator's catalogue change (through its route) is followed, in the same request,
    by the refresh; a request that changes nothing the figures depend on refreshes nothing."""
    build(app, session, world, monkeypatch)
    _now(monkeypatch)
    client = app.test_client()
    login(client, world.users["admin"])
    client.get("/indicators")
    indicator = session.scalar(sa.select(Indicator).where(Indicator.code == "BEN"))
    form = {"version_id": str(indicator.version_id), "name_mk": indicator.name_mk, "name_sq": indicator.name_sq,
            "name_en": "Beneficiaries (people)", "definition_mk": "", "definition_sq": "", "definition_en": "",
            "level": "objective", "baseline": "0", "baseline_date": "2018-09-13", "targets": "2026; 2100",
            "end_target": "3000", "end_target_date": "2028-12-31", "source": "", "active": "y",
            "disaggregations": ["sex", "region"]}
    before = _version(session)
    assert client.post(f"/admin/indicators/{indicator.id}", data=form).status_code == 302
    after = _version(session)
    newest = session.scalar(sa.select(IndicatorRefresh).order_by(IndicatorRefresh.id.desc()).limit(1))
    assert after == before + 1 and newest.data_version == after
    refreshes = session.scalar(sa.select(IndicatorRefresh.id).order_by(IndicatorRefresh.id.desc()).limit(1))
    with count_queries(app) as unrelated:
        assert client.post("/language", data={"language": "sq", "next": "/"}).status_code == 302
    assert _version(session) == after
    assert not any("indicator_value" in s for s in unrelated.statements)
    assert session.scalar(sa.select(IndicatorRefresh.id).order_by(IndicatorRefresh.id.desc()).limit(1)) == refreshes


def test_live_api_answers_say_now_and_snapshot_answers_their_computation_time(app, session, world, monkeypatch):
    build(app, session, world, monkeypatch)
    fixed = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: fixed)
    client = app.test_client()
    login(client, world.users["monitor"])
    stored = client.get("/api/v1/observations?period_type=year").json["meta"]
    newest = session.scalar(sa.select(IndicatorRefresh).order_by(IndicatorRefresh.id.desc()).limit(1))
    assert stored == {"data_as_of": "2026-11-20T09:30:00Z", "data_version": newest.data_version, "source": "snapshot"}
    later = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert client.get("/api/v1/observations?period_type=year").json["meta"]["data_as_of"] == "2026-11-20T09:30:00Z"
    region = session.scalar(sa.select(Region.id).order_by(Region.id))
    for path in (f"/api/v1/observations?period_type=year&region={region}", "/api/v1/grants", "/api/v1/finance"):
        meta = client.get(path).json["meta"]
        assert meta == {"data_as_of": "2026-11-20T10:00:00Z", "data_version": _version(session), "source": "live"}, path


def test_the_version_read_with_the_user_serves_until_the_session_changes_something(app, session, world):
    """`freshness.known`: the version read in one statement with the signed-in user stands for this request, until
    the request's own session changes something the figures depend on or commits; then it is read again."""
    real = freshness.current(session)
    freshness.seen(session, real + 40)  # as if read with the user: `known` believes it without a statement
    assert freshness.known(session) == real + 40
    programme = session.scalar(sa.select(Programme))
    programme.envelope_eur += 1  # watched: noted at the flush, the counter moves at the commit
    session.flush()
    assert freshness.known(session) == real  # read again: the request itself is changing the data
    session.commit()
    assert freshness.known(session) == real + 1 == freshness.current(session)
    session.info.pop(freshness.COMMITTED, None)  # as `settle` does after the request's commit
    freshness.seen(session, real + 40)
    assert freshness.known(session) == real + 40
    session.commit()  # a commit forgets the version seen before it
    assert freshness.known(session) == real + 1


def test_a_forced_refresh_is_a_new_data_version_and_the_kept_dashboard_follows(app, session, world, monkeypatch):
    """`refresh-indicators --force` (new code, a repair): the data version moves, so no worker keeps serving the
    answers it computed before."""
    client = _monitor_in_english(app, session, world, monkeypatch)
    before = re.search(r"data version (\d+)", client.get("/indicators").get_data(as_text=True)).group(1)
    with app.test_request_context():
        run = snapshot.refresh(session, force=True)
    assert run.data_version == int(before) + 1
    page = client.get("/indicators")
    after = re.search(r"data version (\d+)", page.get_data(as_text=True)).group(1)
    assert int(after) == run.data_version


def test_a_savepoint_rolled_back_keeps_what_the_transaction_changed_before_it(app, session, world):
    """A get-or-create that loses its race rolls back its savepoint only: a change flushed before it in the same
    transaction still moves the data version at the commit."""
    before = freshness.current(session)
    programme = session.scalar(sa.select(Programme))
    programme.envelope_eur += 1
    session.flush()  # noted: it moves the figures
    duplicate = session.scalar(sa.select(Indicator).order_by(Indicator.id).limit(1))
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        session.add(Indicator(code=duplicate.code, name_mk="x", unit="count", sort_order=0))
    session.commit()
    assert freshness.current(session) == before + 1
    programme = session.scalar(sa.select(Programme))
    programme.envelope_eur += 1
    session.flush()
    session.rollback()  # the whole transaction: nothing it noted survives
    session.commit()
    assert freshness.current(session) == before + 1
