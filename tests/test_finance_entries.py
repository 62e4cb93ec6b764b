"""Financial report entries (issue 18): staff lines per month (the line is their sum), every entry's date, MKD at
the National Bank's rate of that date (the day's, else the latest of the 7 days before, else refused naming the
date), the rate fixed at submission and kept by the database, the rates loaded all or nothing, the downloads."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.errors import ValidationFailed
from portal.finance_reports import entries, rates
from portal.finance_reports import services as finance
from portal.models import AuditEvent, DailyRate, FinancialReport, FinancialReportEntry, FinancialReportLine
from tests import factories
from tests.conftest import login
from tests.test_financial_reports import budget


@pytest.fixture
def grant(app, world, session):
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           start=factories.months_ago(4))
        budget(session, agreement)  # a staff line (1000.00) and an operating line (2500.50)
        session.commit()
    return agreement


def _months(report):
    return entries.months_of(report)


def _data(report, lines, staff_months, operating="0.00", day=None, municipality="0"):
    return finance.FigureData(spent={lines[1].id: operating},
                              months={lines[0].id: dict(zip(_months(report), staff_months, strict=True))},
                              dates={lines[1].id: day.isoformat() if day else ""},
                              cofinancing_municipality=municipality)


def _draft(session, world, grant, number=1):
    report = finance.start(session, world.users["provider"], grant, number)
    session.flush()
    return report


def _set_rates(session, report, values: dict[date, str]):
    """Only the given rates within the period (and the 7 days before it): the seeded ones there are removed."""
    session.execute(sa.delete(DailyRate).where(DailyRate.day.between(report.period_start - timedelta(days=10),
                                                                     report.period_end)))
    for day, value in values.items():
        session.add(DailyRate(day=day, mkd_per_eur=Decimal(value), source="test"))
    session.flush()


def test_a_staff_line_is_the_sum_of_its_months(app, world, session, grant):
    with app.test_request_context():
        report = _draft(session, world, grant)
        lines = finance.budget_lines(grant)
        assert len(_months(report)) == 3 and _months(report)[0] == report.period_start
        version = finance.save(session, world.users["provider"], report,
                               _data(report, lines, ["300.10", "0", "299.95"], "12.50", report.period_start + timedelta(days=9)),
                               report.newest.edit_version)
        staff = next(line for line in version.lines if line.budget_line_id == lines[0].id)
        assert staff.spent_eur == Decimal("600.05")
        assert [(e.month, e.entry_date, e.spent_eur) for e in staff.entries] == [
            (m, entries.month_end(report, m), Decimal(v)) for m, v in zip(_months(report), ["300.10", "0.00", "299.95"],
                                                                          strict=True)]
        assert sum(e.spent_eur for e in staff.entries) == staff.spent_eur
        other = next(line for line in version.lines if line.budget_line_id == lines[1].id)
        assert [(e.month, e.entry_date, e.spent_eur) for e in other.entries] == [
            (None, report.period_start + timedelta(days=9), Decimal("12.50"))]
        # The variance rule reads the months' sum: 1100.00 is the most the staff line takes (1000.00 + 10 %).
        with pytest.raises(ValidationFailed) as refused:
            finance.save(session, world.users["provider"], report, _data(report, lines, ["500.00", "500.00", "100.01"]),
                         version.edit_version)
        assert list(refused.value.field_errors) == [f"line-{lines[0].id}"]
        session.rollback()


def test_the_months_and_the_date_are_checked_and_named(app, world, session, grant):
    with app.test_request_context():
        report = _draft(session, world, grant)
        lines = finance.budget_lines(grant)
        months = _months(report)
        data = _data(report, lines, ["-1", "1.001", "abc"], "5.00", report.period_end + timedelta(days=1))
        with pytest.raises(ValidationFailed) as refused:
            finance.save(session, world.users["provider"], report, data, report.newest.edit_version)
        errors = refused.value.field_errors
        assert set(errors) == {f"month-{lines[0].id}-{m:%Y-%m}" for m in months} | {f"date-{lines[1].id}"}
        from portal.i18n import local_date

        assert local_date(report.period_start) in str(errors[f"date-{lines[1].id}"][0])  # the period, named
        data.dates[lines[1].id] = "15.03.2026"
        data.months[lines[0].id] = dict.fromkeys(months, "1")
        with pytest.raises(ValidationFailed) as refused:
            finance.save(session, world.users["provider"], report, data, report.newest.edit_version)
        assert list(refused.value.field_errors) == [f"date-{lines[1].id}"]
        # An empty date is the period's last day.
        data.dates[lines[1].id] = ""
        version = finance.save(session, world.users["provider"], report, data, report.newest.edit_version)
        assert version.lines[1].entries[0].entry_date == report.period_end


def test_a_total_without_months_is_recorded_in_the_last_month(app, world, session, grant):
    """Callers that give a staff line's total only (no months at all) keep the rule: the line is its months' sum."""
    with app.test_request_context():
        report = _draft(session, world, grant)
        lines = finance.budget_lines(grant)
        version = finance.save(session, world.users["provider"], report,
                               finance.FigureData(spent={lines[0].id: "250.00", lines[1].id: "1.00"}),
                               report.newest.edit_version)
        staff = version.lines[0]
        assert [(e.month, e.spent_eur) for e in staff.entries] == [(_months(report)[-1], Decimal("250.00"))]


def test_the_rate_of_a_date_its_own_or_up_to_7_days_before(app, session):
    with app.test_request_context():
        day = date(2031, 3, 16)  # beyond the seeded series
        session.add(DailyRate(day=day, mkd_per_eur=Decimal("61.6543"), source="test"))
        session.flush()
        assert rates.rate_for(session, day) == rates.Rate(day, Decimal("61.6543"))
        assert rates.rate_for(session, day + timedelta(days=7)) == rates.Rate(day, Decimal("61.6543"))
        with pytest.raises(rates.RateMissing) as missing:
            rates.rate_for(session, day + timedelta(days=8))
        assert missing.value.day == day + timedelta(days=8)
        from portal.i18n import local_date

        assert local_date(day + timedelta(days=8)) in missing.value.message
        with pytest.raises(rates.RateMissing):
            rates.rate_for(session, day - timedelta(days=1))  # never a later rate
        session.add(DailyRate(day=day + timedelta(days=3), mkd_per_eur=Decimal("61.7000"), source="test"))
        session.flush()
        assert rates.rate_for(session, day + timedelta(days=7)).day == day + timedelta(days=3)  # the latest earlier
        found = rates.rates_for(session, {day, day + timedelta(days=2), day + timedelta(days=10), day + timedelta(days=11)})
        assert found == {day: rates.Rate(day, Decimal("61.6543")), day + timedelta(days=2): rates.Rate(day, Decimal("61.6543")),
                         day + timedelta(days=10): rates.Rate(day + timedelta(days=3), Decimal("61.7000")),
                         day + timedelta(days=11): None}
        assert rates.to_mkd(Decimal("100.01"), Decimal("61.6543")) == Decimal("6166.05")  # 6166.046543 → half up
        assert rates.to_mkd(Decimal("0.01"), Decimal("61.5000")) == Decimal("0.62")  # 0.615 → 0.62, never 0.61


def test_the_rate_is_fixed_at_submission_and_later_rates_never_change_it(app, world, session, grant):
    with app.test_request_context():
        report = _draft(session, world, grant)
        lines = finance.budget_lines(grant)
        months = _months(report)
        expense = report.period_start + timedelta(days=5)
        _set_rates(session, report, {entries.month_end(report, months[0]): "61.5000",
                                     entries.month_end(report, months[1]) - timedelta(days=7): "61.6000",
                                     entries.month_end(report, months[2]): "61.7000", expense: "61.5500"})
        finance.save(session, world.users["provider"], report, _data(report, lines, ["100.00", "200.00", "0"], "10.00", expense),
                     report.newest.edit_version)
        draft_view = entries.view(session, report, report.newest)
        assert not draft_view.fixed and draft_view.mkd == Decimal("6150.00") + Decimal("12320.00") + Decimal("615.50")
        finance.submit(session, world.users["provider"], report)
        session.commit()
        staff, other = report.newest.lines
        assert [(e.rate_mkd, e.rate_day) for e in staff.entries] == [
            (Decimal("61.5000"), entries.month_end(report, months[0])),
            (Decimal("61.6000"), entries.month_end(report, months[1]) - timedelta(days=7)),
            (None, None)]  # 0.00 needs no rate
        assert [(e.rate_mkd, e.spent_mkd) for e in other.entries] == [(Decimal("61.5500"), Decimal("615.50"))]
        loaded = rates.load(session, f"day,mkd_per_eur\n{expense},61.9999\n", "NBRM correction")
        assert loaded[:2] == (0, 1)
        session.commit()
        session.expire_all()
        report = session.get(FinancialReport, report.id)
        fixed = entries.view(session, report, report.newest)
        assert fixed.fixed and fixed.mkd == Decimal("19085.50")
        assert report.newest.lines[1].entries[0].rate_mkd == Decimal("61.5500")


def test_a_date_without_a_rate_refuses_the_submission_naming_it(app, world, session, grant):
    with app.test_request_context():
        report = _draft(session, world, grant)
        lines = finance.budget_lines(grant)
        months = _months(report)
        _set_rates(session, report, {entries.month_end(report, months[0]) - timedelta(days=8): "61.5000",
                                     entries.month_end(report, months[1]): "61.5000"})
        finance.save(session, world.users["provider"], report, _data(report, lines, ["1.00", "2.00", "0.00"]),
                     report.newest.edit_version)
        session.commit()
        with pytest.raises(ValidationFailed) as refused:
            finance.submit(session, world.users["provider"], report)
        errors = refused.value.field_errors
        assert list(errors) == [f"month-{lines[0].id}-{months[0]:%Y-%m}"]
        from portal.i18n import local_date

        assert local_date(entries.month_end(report, months[0])) in str(errors[f"month-{lines[0].id}-{months[0]:%Y-%m}"][0])
        session.rollback()
        assert session.get(FinancialReport, report.id).newest.status == finance.Status.DRAFT


def test_the_database_refuses_changing_a_submitted_versions_entries(app, world, session, grant):
    """Raw SQL, past the services: the triggers of migration 0021 (PostgreSQL and SQLite)."""
    with app.test_request_context():
        report = _draft(session, world, grant)
        lines = finance.budget_lines(grant)
        finance.save(session, world.users["provider"], report, _data(report, lines, ["1.00", "2.00", "3.00"], "4.00"),
                     report.newest.edit_version)
        finance.submit(session, world.users["provider"], report)
        session.commit()
        staff = report.newest.lines[0]
        entry_id, line_id = staff.entries[0].id, staff.id
    statements = [
        sa.update(FinancialReportEntry).where(FinancialReportEntry.id == entry_id).values(spent_eur=Decimal("9.00")),
        sa.update(FinancialReportEntry).where(FinancialReportEntry.id == entry_id).values(rate_mkd=Decimal("70.0000")),
        sa.update(FinancialReportEntry).where(FinancialReportEntry.id == entry_id).values(rate_mkd=None, rate_day=None),
        sa.delete(FinancialReportEntry).where(FinancialReportEntry.id == entry_id),
        sa.insert(FinancialReportEntry).values(line_id=line_id, month=None, entry_date=date(2026, 1, 1),
                                               spent_eur=Decimal("1.00")),
    ]
    for statement in statements:
        with pytest.raises(sa.exc.DatabaseError):
            session.execute(statement)
            session.flush()
        session.rollback()
    assert session.get(FinancialReportEntry, entry_id).spent_eur == Decimal("1.00")


def test_a_returned_report_is_corrected_in_a_copy_and_keeps_its_entries(app, world, session, grant):
    with app.test_request_context():
        report = _draft(session, world, grant)
        lines = finance.budget_lines(grant)
        finance.save(session, world.users["provider"], report, _data(report, lines, ["1.00", "2.00", "3.00"], "4.00"),
                     report.newest.edit_version)
        finance.submit(session, world.users["provider"], report)
        finance.return_report(session, world.users["finance"], report, "Поправете ги месеците.")
        copy = finance.revise(session, world.users["provider"], report)
        assert [(e.month, e.spent_eur, e.rate_mkd) for e in copy.lines[0].entries] == [
            (m, Decimal(v), None) for m, v in zip(_months(report), ["1.00", "2.00", "3.00"], strict=True)]
        finance.save(session, world.users["provider"], report, _data(report, lines, ["0", "0", "6.00"], "4.00"),
                     copy.edit_version)
        finance.submit(session, world.users["provider"], report)
        session.commit()
        first, second = report.versions
        assert [e.spent_eur for e in first.lines[0].entries] == [Decimal("1.00"), Decimal("2.00"), Decimal("3.00")]
        assert [e.spent_eur for e in second.lines[0].entries] == [Decimal("0.00"), Decimal("0.00"), Decimal("6.00")]
        assert all(e.rate_mkd for e in first.lines[0].entries) and second.lines[0].entries[2].rate_mkd
        saved = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "financial_report.saved",
                                                            AuditEvent.object_id == str(report.id))
                                .order_by(AuditEvent.id)).all()
        assert saved[-1].after["entries"][str(lines[0].id)][entries.month_end(report, _months(report)[2]).isoformat()] == "6.00"


def test_the_form_takes_months_and_the_page_and_downloads_show_mkd(app, world, session, grant, client):
    with app.test_request_context():
        report = _draft(session, world, grant)
        lines = finance.budget_lines(grant)
        months = _months(report)
        _set_rates(session, report, {report.period_start: "61.5000", entries.month_end(report, months[2]): "61.6000"})
        session.commit()
    login(client, world.users["provider"])
    page = client.get(f"/financial-reports/{report.id}/edit").get_data(as_text=True)
    for month in months:
        assert f'name="month-{lines[0].id}-{month:%Y-%m}"' in page
    assert f'name="date-{lines[1].id}"' in page and f'name="line-{lines[0].id}"' not in page
    data = {f"month-{lines[0].id}-{m:%Y-%m}": v for m, v in zip(months, ["0", "0", "100,00"], strict=True)}
    data |= {f"line-{lines[1].id}": "10.00", f"date-{lines[1].id}": report.period_start.isoformat(),
             "cofinancing_municipality": "0", "cofinancing_other": "0", "edit_version": "1", "submit_report": "1",
             "confirm": "y"}
    response = client.post(f"/financial-reports/{report.id}/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    version = session.get(FinancialReport, report.id).newest
    assert version.status == finance.Status.SUBMITTED and version.spent_eur == Decimal("110.00")
    detail = client.get(f"/financial-reports/{report.id}").get_data(as_text=True)
    assert "6.160,00" in detail and "615,00" in detail and "6.775,00" in detail  # 100 × 61.6; 10 × 61.5; their sum
    login(client, world.users["finance"])
    csv_body = client.get(f"/financial-reports/{report.id}/entries.csv").get_data(as_text=True)
    assert "61.6000" in csv_body and "6160.00" in csv_body and "6775.00" in csv_body
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(client.get(f"/financial-reports/{report.id}/entries.xlsx").data))
    values = [[c for c in row] for row in workbook.worksheets[0].iter_rows(values_only=True)]
    assert values[-1][-1] == 6775 and len(values) == 1 + 4 + 1  # header, 3 months + 1 expense, total
    login(client, world.users["monitor"])
    assert client.get(f"/financial-reports/{report.id}/entries.csv").status_code == 403


def test_rates_load_is_all_or_nothing(app, session):
    import pathlib
    import tempfile

    runner = app.test_cli_runner()
    with tempfile.TemporaryDirectory() as folder:
        bad = pathlib.Path(folder, "bad.csv")
        bad.write_text("day,mkd_per_eur\n2032-01-05,61.5012\n2032-01-06,6150\n2032-13-01,61.5\n2032-01-05,61.50\n"
                       "2032-01-07,61.50001\n", encoding="utf-8")
        result = runner.invoke(args=["rates-load", str(bad)])
        assert result.exit_code != 0
        assert "line 3 mkd_per_eur" in result.output and "line 4 day" in result.output
        assert "line 5 day: 2032-01-05 appears twice" in result.output and "line 6 mkd_per_eur" in result.output
        session.expire_all()
        assert session.scalar(sa.select(DailyRate.id).where(DailyRate.day >= date(2032, 1, 1))) is None
        good = pathlib.Path(folder, "good.csv")
        good.write_text("datum;kurs\n2032-01-05;61,5012\n2032-01-06;61,4950\n", encoding="utf-8")
        result = runner.invoke(args=["rates-load", str(good), "--source", "NBRM 2032"])
        assert result.exit_code == 0, result.output
        assert "2 added, 0 replaced" in result.output
    session.expire_all()
    rows = session.execute(sa.select(DailyRate.day, DailyRate.mkd_per_eur, DailyRate.source)
                           .where(DailyRate.day >= date(2032, 1, 1)).order_by(DailyRate.day)).all()
    assert rows == [(date(2032, 1, 5), Decimal("61.5012"), "NBRM 2032"), (date(2032, 1, 6), Decimal("61.4950"), "NBRM 2032")]
    assert session.scalar(sa.select(AuditEvent.after).where(AuditEvent.action == "exchange_rates.loaded")
                          .order_by(AuditEvent.id.desc()).limit(1))["added"] == 2


def test_the_reference_data_has_an_indicative_daily_series(app, session):
    with app.test_request_context():
        for day in (date(2025, 1, 2), date(2026, 6, 15), date(2027, 12, 31)):
            rate = rates.rate_for(session, day)
            assert Decimal("61.40") <= rate.mkd_per_eur <= Decimal("61.80") and day - rate.day <= timedelta(days=3)
        assert rates.rate_for(session, date(2026, 11, 29)).day == date(2026, 11, 27)  # a Sunday takes Friday's
        assert rates.seed_indicative(session) == 0  # idempotent


def test_the_demo_reports_have_months_on_staff_lines_and_fixed_rates(app, session):
    from portal.models import GrantAgreement

    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.test_request_context():
        agreement = session.scalar(sa.select(GrantAgreement).where(GrantAgreement.number == "SSIP-GA-2026-001"))
        report = finance.report_for(session, agreement.id, 1)
        staff_lines = [line for line in report.in_force.lines if entries.is_staff(line.budget_line)]
        assert staff_lines
        for version in session.scalars(sa.select(FinancialReportLine)):
            assert version.spent_eur == sum((e.spent_eur for e in version.entries), Decimal("0.00"))
        for line in staff_lines:
            assert [e.month for e in line.entries] == entries.months_of(report)
        for report in session.scalars(sa.select(FinancialReport)):
            for version in report.versions:
                assert version.status != finance.Status.DRAFT
                for line in version.lines:
                    for entry in line.entries:
                        assert report.period_start <= entry.entry_date <= report.period_end
                        assert entry.rate_mkd is not None or not entry.spent_eur
