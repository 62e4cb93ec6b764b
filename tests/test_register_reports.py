"""Monthly reports filled from the service-user register, the call setting that requires one, and the register
checked against the contracted number of users and the price per user (issue 16, part A)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from portal import clock
from portal.calls import services as calls
from portal.errors import ValidationFailed
from portal.grants import services as grants
from portal.models import (
    AuditEvent,
    BudgetCategory,
    BudgetLine,
    Call,
    CallKind,
    MonthlyReport,
    ReportVersion,
    VersionStatus,
)
from portal.models.reports import BENEFICIARY_FIELDS
from portal.register import services as register
from portal.register.contract import contract_check
from portal.register.figures import month_figures
from portal.reports import bulk, from_register
from portal.reports import services as reports
from tests import factories
from tests.conftest import login
from tests.test_form_markup import check_markup
from tests.test_register import _add, _type, make_number

REGISTER_FIELDS = [n for n in BENEFICIARY_FIELDS if n != "service_hours"]


@pytest.fixture(autouse=True)
def _english(app):
    app.config["BABEL_DEFAULT_LOCALE"] = "en"


def _login_en(client, session, user) -> None:
    """Pages are read in English here (the words are translated in every language; test_i18n checks that)."""
    user.preferred_language = "en"
    session.commit()
    login(client, user)


def _register_grant(session, w, *, start=None, codes=("home_help_care", "day_care"), number=None):
    """A signed grant whose call requires a register (set before any report, as the review settings allow)."""
    agreement = factories.signed_grant(session, w.users["admin"], w.orgs["provider"], w.orgs["municipality"],
                                       start=start or factories.months_ago(6), service_codes=codes, number=number)
    agreement.call.register_required = True
    session.flush()
    return agreement


@pytest.fixture
def fx(app, world, session):
    with app.test_request_context():
        world.grant = _register_grant(session, world)
        session.commit()
    return world


def _lines(version: ReportVersion) -> dict[int, dict[str, int]]:
    return {line.service_type_id: {n: getattr(line, n) for n in REGISTER_FIELDS} for line in version.services}


def _register_rows(session, agreement, month) -> dict[int, dict[str, int]]:
    """month_figures with a zero line for every service type of the grant (as the report keeps one per type)."""
    figures = month_figures(session, agreement, month)
    return {t.id: {n: figures.get(t.id, {}).get(n, 0) for n in REGISTER_FIELDS}
            for t in agreement.application.service_types}


def _hand_built(app, session, w):
    """Four people of the grant's home help, the month `m` two months back (whole, ended) and the month before it:
    - P1, a woman born 1940 with a disability, served throughout;
    - P2, a man born 1990, leaves on the last day of the month before `m` and comes back on the 10th of `m`;
    - P3, a girl born 2012, home help up to the 14th of `m`, then day care (with a disability) from the 15th;
    - P4, a man born 1958, leaves on the 5th of `m` and comes back on the 20th (left and back within the month)."""
    a, grant = w.users["provider"], w.grant
    before, m = factories.months_ago(3), factories.months_ago(2)
    early = factories.months_ago(5)
    p1, p2, p3, p4 = (make_number(date(1940, 1, 1), 600), make_number(date(1990, 2, 2), 100),
                      make_number(date(2012, 3, 3), 700), make_number(date(1958, 4, 4), 200))
    _add(app, session, a, grant, p1, early, disability="yes")
    e2 = _add(app, session, a, grant, p2, early)
    e3 = _add(app, session, a, grant, p3, early)
    e4 = _add(app, session, a, grant, p4, early)
    with app.test_request_context():
        register.end_episode(session, a, e2, m - timedelta(days=1), "declined", 1)
        register.end_episode(session, a, e3, m.replace(day=14), "other_service", 1)
        register.end_episode(session, a, e4, m.replace(day=5), "institution", 1)
        session.commit()
    _add(app, session, a, grant, p2, m.replace(day=10))
    _add(app, session, a, grant, p3, m.replace(day=15), "day_care", disability="yes")
    _add(app, session, a, grant, p4, m.replace(day=20))
    return before, m


def _age_band(born: int, month: date) -> str:
    return register.age_band(born, month)


def test_the_report_of_a_register_grant_holds_the_registers_figures_whatever_is_posted(app, fx, session):
    w, a = fx, fx.users["provider"]
    _before, m = _hand_built(app, session, w)
    home, day = _type(session), _type(session, "day_care")
    # By hand. Home help in m: P1, P2 (from the 10th), P3 (to the 14th), P4 (left on the 5th, back on the 20th).
    # Served on the 1st of m, and in the month before: P1, P3, P4 → continuing 3; P2 new; P3 leaves (day care).
    expected_home = dict.fromkeys(REGISTER_FIELDS, 0)
    expected_home.update(total=4, female=2, male=2, with_disability=1, without_disability=3, new_this_month=1,
                         new_male=1, new_without_disability=1, continuing=3, left_this_month=1)
    for born in (1940, 1990, 2012, 1958):
        expected_home[f"age_{_age_band(born, m)}"] += 1
    expected_home[f"new_age_{_age_band(1990, m)}"] += 1
    expected_day = dict.fromkeys(REGISTER_FIELDS, 0)
    expected_day.update(total=1, female=1, with_disability=1, new_this_month=1, new_female=1, new_with_disability=1)
    expected_day[f"age_{_age_band(2012, m)}"] = expected_day[f"new_age_{_age_band(2012, m)}"] = 1
    with app.test_request_context():
        assert _register_rows(session, w.grant, m) == {home: expected_home, day: expected_day}
        report = reports.start(session, a, w.grant, m)
        posted = factories.report_data(session, w.grant, served=30)  # beneficiary figures the register does not hold
        version = reports.save(session, a, report, posted, report.newest.edit_version)
        assert _lines(version) == {home: expected_home, day: expected_day}
        assert version.beneficiaries_from_register
        assert {line.service_type_id: line.service_hours for line in version.services} == {
            t.id: 600 if i == 0 else 0 for i, t in enumerate(w.grant.application.service_types)}
        reports.submit(session, a, report)
        session.commit()
    version = session.get(MonthlyReport, report.id).newest
    assert version.status == VersionStatus.SUBMITTED and version.beneficiaries_from_register
    assert _lines(version) == {home: expected_home, day: expected_day}
    audit = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "report.submitted")).all()[-1]
    assert audit.after["beneficiaries_from_register"] is True and audit.after["beneficiaries"] == 5


def test_the_form_shows_the_registers_figures_read_only_and_ignores_posted_ones(app, client, fx, session):
    w, a = fx, fx.users["provider"]
    _before, m = _hand_built(app, session, w)
    home, day = _type(session), _type(session, "day_care")
    with app.test_request_context():
        report = reports.start(session, a, w.grant, m)
        session.commit()
    _login_en(client, session, a)
    page = client.get(f"/reports/{report.id}/edit")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    check_markup(body, "register report form")
    assert 'id="from-register"' in body and f'name="service-{home}-service_hours"' in body
    assert f'name="service-{home}-total"' not in body and f'name="service-{day}-new_female"' not in body
    form = {"edit_version": str(report.newest.edit_version), "staff_total": "3", "staff_female": "2", "staff_male": "1",
            "certified_caregivers": "1", f"service-{home}-service_hours": "120", "narrative": "Мај.",
            f"service-{home}-total": "99", f"service-{home}-female": "99", f"service-{day}-left_this_month": "7",
            "confirm": "y", "submit_report": "1"}
    response = client.post(f"/reports/{report.id}/edit", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    session.expire_all()
    version = session.get(MonthlyReport, report.id).newest
    assert version.status == VersionStatus.SUBMITTED
    assert _lines(version) == _register_rows(session, w.grant, m)
    assert {line.service_type_id: line.service_hours for line in version.services}[home] == 120
    detail = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "Filled from the service-user register" in detail and 'id="register-drift"' not in detail


def test_a_submitted_version_stays_as_it_was_and_the_reviewer_sees_the_register_changed(app, client, fx, session):
    w, a = fx, fx.users["provider"]
    _before, m = _hand_built(app, session, w)
    home = _type(session)
    with app.test_request_context():
        report = reports.start(session, a, w.grant, m)
        reports.save(session, a, report, factories.report_data(session, w.grant), report.newest.edit_version)
        reports.submit(session, a, report)
        session.commit()
    submitted = _lines(session.get(MonthlyReport, report.id).newest)
    # The provider adds a person served since the 3rd of m, after the submission.
    late = _add(app, session, a, w.grant, make_number(date(1950, 6, 6), 800), m.replace(day=3))
    session.expire_all()
    version = session.get(MonthlyReport, report.id).newest
    assert _lines(version) == submitted and version.status == VersionStatus.SUBMITTED
    with app.test_request_context():
        drift = {(d.field, d.reported, d.register) for d in from_register.drift(session, version)}
    assert ("Beneficiaries served", 4, 5) in drift and ("Women and girls", 2, 3) in drift
    assert ("New this month", 1, 2) in drift and ("Continuing from earlier months", 3, 3) not in drift
    reviewer = app.test_client()
    _login_en(reviewer, session, w.users["reviewer"])
    page = reviewer.get(f"/reports/{report.id}").get_data(as_text=True)
    check_markup(page, "report with a changed register")
    assert 'id="register-drift"' in page and "The register has changed since this version" in page
    # The database itself keeps the version's origin (and figures) as submitted.
    with pytest.raises(sa.exc.DatabaseError):
        with session.begin_nested():
            session.execute(sa.update(ReportVersion).where(ReportVersion.id == version.id)
                            .values(beneficiaries_from_register=False))
    session.rollback()
    # Accepted, then corrected by the provider: the correction is filled from the register as it is now.
    with app.test_request_context():
        report = session.get(MonthlyReport, report.id)
        reports.accept(session, w.users["reviewer"], report)
        reports.request_correction(session, a, report, "Лице внесено доцна во регистарот.")
        reports.submit(session, a, report)
        session.commit()
    session.expire_all()
    report = session.get(MonthlyReport, report.id)
    assert report.versions[0].services and _lines(report.versions[0]) == submitted
    assert _lines(report.newest)[home]["total"] == 5 and _lines(report.newest) == _register_rows(session, w.grant, m)
    assert from_register.drift(session, report.newest) == []
    assert late.current.start_date == m.replace(day=3)


def test_a_month_ends_at_midnight_in_skopje(app, world, session, monkeypatch):
    """At 23:30 UTC on 31 October it is already 1 November in Skopje: October can be reported, a person who started
    on 1 November (Skopje) is not in it, and one whose service ended on 31 October has left in it."""
    instant = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: instant)
    a = world.users["provider"]
    with app.test_request_context():
        world.grant = _register_grant(session, world, start=date(2026, 5, 1), codes=("home_help_care",))
        session.commit()
    home = _type(session)
    october = date(2026, 10, 1)
    starts = _add(app, session, a, world.grant, make_number(date(1945, 7, 7), 510), date(2026, 10, 31))
    _add(app, session, a, world.grant, make_number(date(1946, 8, 8), 20), date(2026, 11, 1))  # today in Skopje
    leaves = _add(app, session, a, world.grant, make_number(date(1947, 9, 9), 30), date(2026, 9, 1))
    with app.test_request_context():
        register.end_episode(session, a, leaves, date(2026, 10, 31), "goals_met", 1)
        report = reports.start(session, a, world.grant, october)
        reports.save(session, a, report, factories.report_data(session, world.grant), report.newest.edit_version)
        reports.submit(session, a, report)  # October has ended in Skopje (not yet in UTC)
        session.commit()
        line = _lines(report.newest)[home]
    assert (line["total"], line["new_this_month"], line["continuing"], line["left_this_month"]) == (2, 1, 1, 1)
    assert (line["new_female"], line["male"]) == (1, 1) and starts.current.start_date == date(2026, 10, 31)
    with app.test_request_context():
        november = reports.start(session, a, world.grant, date(2026, 11, 1))
        reports.save(session, a, november, factories.report_data(session, world.grant), november.newest.edit_version)
        assert (_lines(november.newest)[home]["total"], _lines(november.newest)[home]["continuing"]) == (2, 1)
        with pytest.raises(ValidationFailed):
            reports.submit(session, a, november)  # November has not ended
        session.rollback()


# The bulk upload -------------------------------------------------------------------------------------------------------

def _columns(sheet) -> dict[str, int]:
    import re

    return {re.search(r"\[(\w+)\]", str(c.value)).group(1): c.column for c in sheet[1] if c.value}


def _rows_of(sheet, number: str, month: date):
    cols = _columns(sheet)
    return [row for row in sheet.iter_rows(min_row=2) if row[cols["agreement"] - 1].value == number
            and row[cols["month"] - 1].value == f"{month:%Y-%m}"]


def test_the_bulk_file_carries_the_register_and_refuses_other_beneficiary_figures(app, world, session):
    a = world.users["provider"]
    with app.test_request_context():
        world.grant = _register_grant(session, world, codes=("home_help_care",), number="GA-REG")
        session.commit()
    m = factories.months_ago(2)
    _add(app, session, a, world.grant, make_number(date(1941, 1, 1), 600), factories.months_ago(5))
    _add(app, session, a, world.grant, make_number(date(1951, 1, 1), 100), m.replace(day=12))
    with app.test_request_context():
        content = bulk.template(session, a)
    workbook = load_workbook(io.BytesIO(content))
    cols = _columns(workbook["beneficiaries"])
    (row,) = _rows_of(workbook["beneficiaries"], "GA-REG", m)
    assert (row[cols["total"] - 1].value, row[cols["new_this_month"] - 1].value, row[cols["service_hours"] - 1].value) \
        == (2, 1, None)
    # Typed beneficiaries are refused, with the register's figure; nothing is imported.
    row[cols["total"] - 1].value = 7
    row[cols["service_hours"] - 1].value = 44
    (staff,) = _rows_of(workbook["staff"], "GA-REG", m)
    scols = _columns(workbook["staff"])
    for key, value in dict(staff_total=2, staff_female=2, staff_male=0, certified_caregivers=1, submit="yes").items():
        staff[scols[key] - 1].value = value
    buffer = io.BytesIO()
    workbook.save(buffer)
    with app.test_request_context():
        outcome = bulk.upload(session, a, io.BytesIO(buffer.getvalue()), False)
    assert not outcome.ok and not outcome.imported
    messages = [p.message for p in outcome.problems]
    assert any("7 typed" in text and "register" in text and "which has 2" in text for text in messages), messages
    assert [p.sheet for p in outcome.problems] == ["beneficiaries"]
    session.rollback()
    # Left as pre-filled (or emptied), the hours typed: imported, filled from the register.
    row[cols["total"] - 1].value = None
    buffer = io.BytesIO()
    workbook.save(buffer)
    with app.test_request_context():
        outcome = bulk.upload(session, a, io.BytesIO(buffer.getvalue()), False)
        assert outcome.ok, [p.message for p in outcome.problems]
        session.commit()
    report = reports.report_for(session, world.grant.id, m)
    version = report.newest
    assert version.status == VersionStatus.SUBMITTED and version.beneficiaries_from_register
    assert _lines(version) == _register_rows(session, world.grant, m)
    assert version.services[0].service_hours == 44


# The call setting -----------------------------------------------------------------------------------------------------

def test_new_grant_calls_require_a_register_and_the_review_settings_switch_it(app, client, world, session):
    admin = world.users["admin"]
    with app.test_request_context():
        eoi = factories.eoi_call(session, admin, register_required=True)  # an EOI call never requires one
        created = factories.eoi_call(session, admin, kind=CallKind.GRANT, linked_call_id=eoi.id,
                                     allocation_eur=Decimal("1000.00"), register_required=True)
        data = calls.CallData(kind=CallKind.GRANT, title_mk="Т", title_sq="", title_en="", description_mk="",
                              description_sq="", description_en="", opens_at=created.opens_at,
                              closes_at=created.closes_at, allocation_eur=Decimal("1000.00"), grant_ceiling_eur=None,
                              min_cofinancing_pct=Decimal("0"), service_type_ids=[_type(session)])
        default = calls.create_call(session, admin, data)
        session.commit()
    assert data.register_required is True and default.register_required and created.register_required
    assert not eoi.register_required
    assert session.scalar(sa.select(AuditEvent.after).where(AuditEvent.action == "call.created",
                                                            AuditEvent.object_id == str(default.id)))["register_required"]
    # A call row written without saying (as the calls before migration 0022) does not require one.
    raw = Call(programme_id=default.programme_id, kind=CallKind.GRANT, reference="RAW-1", title_mk="Т", title_sq="",
               title_en="", opens_at=default.opens_at, closes_at=default.closes_at, allocation_eur=Decimal("0.00"))
    session.add(raw)
    session.commit()
    assert raw.register_required is False
    # The review settings page switches it, audited; switching on is refused once a grant of the call has a report.
    with app.test_request_context():
        grant = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"])
        session.commit()
    call = grant.call
    _login_en(client, session, admin)
    page = client.get(f"/admin/calls/{call.id}/review-settings").get_data(as_text=True)
    check_markup(page, "review settings")
    assert 'name="register_required"' in page

    def post(on: bool):
        form = {"version_id": str(session.get(Call, call.id).version_id), "reviewers_required": "2",
                "discrepancy_pct": "20", "chair_id": "0"}
        if on:
            form["register_required"] = "y"
        return client.post(f"/admin/calls/{call.id}/review-settings", data=form)

    assert post(True).status_code == 302
    session.expire_all()
    assert session.get(Call, call.id).register_required
    event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "call.review_settings",
                                                        AuditEvent.object_id == str(call.id))).all()[-1]
    assert event.before["register_required"] is False and event.after["register_required"] is True
    assert post(False).status_code == 302
    session.expire_all()
    assert not session.get(Call, call.id).register_required
    with app.test_request_context():
        factories.report(session, world.users["provider"], grant, factories.months_ago(3), submit=False)
        session.commit()
    response = post(True)
    assert response.status_code == 422 and "already have monthly reports" in response.get_data(as_text=True)
    session.expire_all()
    assert not session.get(Call, call.id).register_required


def _fill_row(table: sa.Table, **given):
    """A row for a reflected table: every column that needs a value gets one of its type (or `given`)."""
    values = dict(given)
    for column in table.columns:
        if column.name in values or column.nullable or column.server_default is not None or column.primary_key:
            continue
        kind = column.type
        if isinstance(kind, sa.Boolean):
            values[column.name] = False
        elif isinstance(kind, sa.Integer):
            values[column.name] = 1
        elif isinstance(kind, sa.Numeric):
            values[column.name] = Decimal("1")
        elif isinstance(kind, sa.DateTime):
            values[column.name] = datetime(2025, 1, 1, tzinfo=UTC)
        elif isinstance(kind, sa.Date):
            values[column.name] = date(2025, 1, 1)
        elif isinstance(kind, sa.JSON):
            values[column.name] = []
        else:
            values[column.name] = "x"
    return values


def test_the_migration_leaves_the_existing_calls_without_a_register(tmp_path):
    from alembic import command

    from portal.cli import alembic_config
    from tests.test_migrations import _fresh_database

    url, cleanup = _fresh_database(tmp_path)
    try:
        cfg = alembic_config(url)
        command.upgrade(cfg, "0021_finance_entries")
        engine = sa.create_engine(url)
        meta = sa.MetaData()
        meta.reflect(engine, only=["programme", "call"])
        with engine.begin() as conn:
            programme = conn.execute(meta.tables["programme"].insert().values(
                **_fill_row(meta.tables["programme"], envelope_eur=Decimal("100.00")))).inserted_primary_key[0]
            conn.execute(meta.tables["call"].insert().values(**_fill_row(
                meta.tables["call"], programme_id=programme, kind="grant", status="decided", reference="PILOT",
                opens_at=datetime(2025, 1, 1, tzinfo=UTC), closes_at=datetime(2025, 2, 1, tzinfo=UTC),
                allocation_eur=Decimal("10.00"), reviewers_required=2, discrepancy_share=Decimal("0.2"),
                min_cofinancing_pct=Decimal("0"))))
        engine.dispose()
        command.upgrade(cfg, "0022_register_reports")
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text('SELECT register_required FROM "call"')).scalars().all() == [False]
            assert conn.execute(sa.text("SELECT count(*) FROM report_version WHERE beneficiaries_from_register")
                                ).scalar() == 0
        engine.dispose()
        command.downgrade(cfg, "0021_finance_entries")
        command.upgrade(cfg, "0022_register_reports")
    finally:
        if cleanup:
            admin_engine, schema = cleanup
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin_engine.dispose()


# The contract check ------------------------------------------------------------------------------------------------------

def test_the_contract_check_counts_people_per_month_against_the_contracted_users_and_price(app, world, session):
    """Contracted: 2 users at 150.00 EUR a month. The register over the grant's six ended months (m6 … m1):
    - one: home help from the 20th of m5 to the 10th of m3;
    - two: home help from the 2nd of m4 on, and day care too from the 5th to the 25th of m2 (counted once);
    - three: home help on the 28th of m4 only, then day care from the 1st to the 20th of m3.
    People per month: m6 0, m5 1, m4 3 (one above), m3 3 (one above), m2 1, m1 1."""
    a, admin = world.users["provider"], world.users["admin"]
    with app.test_request_context():
        world.grant = _register_grant(session, world)
        session.add(BudgetLine(application_id=world.grant.application_id, position=9, category=BudgetCategory.PER_USER,
                               description="Цена по корисник", quantity=Decimal("2"), unit_cost_eur=Decimal("150.00"),
                               months=24, amount_eur=Decimal("7200.00")))
        session.commit()
    m5, m4, m3 = factories.months_ago(5), factories.months_ago(4), factories.months_ago(3)
    one, two, three = (make_number(date(1940, 1, 1), 600), make_number(date(1950, 1, 1), 100),
                       make_number(date(1960, 1, 1), 200))
    e1 = _add(app, session, a, world.grant, one, m5.replace(day=20))
    _add(app, session, a, world.grant, two, m4.replace(day=2))
    e3 = _add(app, session, a, world.grant, three, m4.replace(day=28))
    with app.test_request_context():
        register.end_episode(session, a, e1, m3.replace(day=10), "moved", 1)
        register.end_episode(session, a, e3, m4.replace(day=28), "declined", 1)
        session.commit()
    day_care = _add(app, session, a, world.grant, three, m3.replace(day=1), "day_care")
    both = _add(app, session, a, world.grant, two, factories.months_ago(2).replace(day=5), "day_care")
    with app.test_request_context():
        register.end_episode(session, a, day_care, m3.replace(day=20), "declined", 1)
        register.end_episode(session, a, both, factories.months_ago(2).replace(day=25), "declined", 1)
        session.commit()
    with app.test_request_context():
        check = contract_check(session, world.grant, Decimal("12000.00"))
    assert (check.contracted_users, check.price_eur, check.per_user_budget_eur) == (2, Decimal("150.00"), Decimal("7200.00"))
    counts = [(m.month, m.people, m.over) for m in check.months]
    assert counts == [(factories.months_ago(6), 0, 0), (m5, 1, 0), (m4, 3, 1), (m3, 3, 1),
                      (factories.months_ago(2), 1, 0), (factories.months_ago(1), 1, 0)]
    assert check.person_months == 9 and check.paid_person_months == 7
    assert check.supported_eur == Decimal("1050.00") and check.budget_to_date_eur == Decimal("1800.00")
    assert check.shortfall_eur == Decimal("750.00") and check.disbursed_eur == Decimal("0.00")
    assert [m.month for m in check.months_over] == [m4, m3]
    # Paid: the advance of 12,000 is disbursed.
    with app.test_request_context():
        advance = world.grant.tranches[0]
        grants.request_release(session, world.users["finance"], advance)
        grants.approve_release(session, admin, advance)
        grants.mark_paid(session, world.users["finance"], advance, reports.today_in_skopje(), "MK07 1")
        session.commit()
        assert contract_check(session, world.grant).disbursed_eur == Decimal("12000.00")


def test_the_tranche_page_shows_the_contract_check_to_the_ministry_only(app, world, session):
    with app.test_request_context():
        world.grant = _register_grant(session, world)
        tranche = world.grant.tranches[0]
        grants.request_release(session, world.users["finance"], tranche)
        session.commit()
    _add(app, session, world.users["provider"], world.grant, make_number(date(1940, 1, 1), 600), factories.months_ago(3))
    client = app.test_client()
    _login_en(client, session, world.users["admin"])
    response = client.post(f"/tranches/{tranche.id}/approve", data={"version_id": str(tranche.version_id)})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    check_markup(page, "tranche confirmation")
    assert 'id="contract-check"' in page and "People served per month" in page
    assert "The budget has no price per user" in page  # the factory's application has no per-user line
    world.users["admin"].preferred_language = "mk"
    session.commit()
    page = client.post(f"/tranches/{tranche.id}/approve", data={"version_id": str(tranche.version_id)}).get_data(as_text=True)
    assert "Регистарот на корисници на услуги наспроти договорот" in page and "People served" not in page
    from flask_login import login_user

    from portal.register.routes import register_contract_check

    for role, shown in (("admin", True), ("finance", True), ("reviewer", True), ("provider", False),
                        ("municipality", False), ("monitor", False)):
        with app.test_request_context():
            login_user(world.users[role])
            assert (register_contract_check(tranche) is not None) is shown, role


def test_nothing_changes_for_a_call_without_a_register(app, world, session):
    """A grant of a call that does not require a register types its beneficiaries as before, register or not."""
    a = world.users["provider"]
    with app.test_request_context():
        grant = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                       start=factories.months_ago(6))
        session.commit()
    _add(app, session, a, grant, make_number(date(1940, 1, 1), 600), factories.months_ago(5))
    with app.test_request_context():
        report = factories.report(session, a, grant, factories.months_ago(2), served=30)
        session.commit()
    version = report.newest
    assert not version.beneficiaries_from_register and version.beneficiaries == 30
    assert from_register.drift(session, version) == []
    with app.test_request_context():
        assert contract_check(session, grant).shown  # it keeps a register anyway: checked
        other = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"])
        check = contract_check(session, other)
        assert not check.shown and check.episodes == 0 and not check.register_required
