"""Overdue financial reports (issue 18): the due rule at its boundary (due 30 days after the period ends, overdue
from the next day), which states count as submitted, the completeness page's section and download by whose grants
they are, and the reminders and overdue notices delivered over SMTP once each, in each member's language."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from portal import clock, mail
from portal.finance_reports import overdue
from portal.finance_reports import services as finance
from portal.models import Role
from portal.reports.completeness import Filters
from tests import factories
from tests.conftest import login
from tests.test_financial_reports import budget


@pytest.fixture
def grants(app, world, session):
    """Grants A (provider A, municipality A) and B (provider B, municipality B), both from four months ago:
    quarterly, so the first period has ended and the second has not. An Albanian-speaking member of provider A."""
    with app.test_request_context():
        world.a = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                         world.orgs["municipality"], start=factories.months_ago(4), number="DUE-A")
        world.b = factories.signed_grant(session, world.users["admin"], world.orgs["provider_b"],
                                         world.orgs["municipality_b"], start=factories.months_ago(4), number="DUE-B")
        for agreement in (world.a, world.b):
            budget(session, agreement)
        world.albanian = factories.user(session, Role.PROVIDER, world.orgs["provider"], email="sq-provider@test.example",
                                        language="sq")
        session.commit()
    world.period = finance.periods(world.a)[0]
    world.due = world.period.end + timedelta(days=30)
    return world


def _state(session, actor, agreement, today):
    data = overdue.summary(session, actor, Filters(), today=today)
    return {(p.number, p.period.number): p for p in data.rows}.get((agreement.number, 1)), data


def test_due_thirty_days_after_the_period_ends_overdue_from_the_next_day(app, session, grants):
    admin, period, due = grants.users["admin"], grants.period, grants.due
    assert due == overdue.due_date(period.end)
    with app.test_request_context():
        assert _state(session, admin, grants.a, period.end)[0] is None  # the period's last day: still running
        assert _state(session, admin, grants.a, period.end + timedelta(days=1))[0].state == overdue.State.DUE
        on_due = _state(session, admin, grants.a, due)[0]
        assert (on_due.state, on_due.days_overdue) == (overdue.State.DUE, 0)  # the due date itself is not overdue
        late, data = _state(session, admin, grants.a, due + timedelta(days=1))
        assert (late.state, late.days_overdue, late.due) == (overdue.State.OVERDUE, 1, due)
        assert data.counts[overdue.State.OVERDUE] == 2 and [p.number for p in data.overdue] == ["DUE-A", "DUE-B"]
        assert late.reference == "DUE-A/F1"


def test_a_draft_is_not_a_submission_and_a_submitted_report_is_never_overdue(app, session, grants):
    provider, officer, later = grants.users["provider"], grants.users["finance"], grants.due + timedelta(days=5)
    with app.test_request_context():
        report = finance.start(session, provider, grants.a, 1)
        assert _state(session, officer, grants.a, later)[0].state == overdue.State.OVERDUE
        finance.submit(session, provider, report)
        assert _state(session, officer, grants.a, later)[0].state == overdue.State.SUBMITTED
        finance.return_report(session, officer, report, "Поправете.")
        assert _state(session, officer, grants.a, later)[0].state == overdue.State.RETURNED
        finance.revise(session, provider, report)
        assert _state(session, officer, grants.a, later)[0].state == overdue.State.RETURNED  # its draft correction
        finance.submit(session, provider, report)
        finance.accept(session, officer, report)
        state, data = _state(session, officer, grants.a, later)
        assert state.state == overdue.State.ACCEPTED
        assert dict(data.counts) == {overdue.State.ACCEPTED: 1, overdue.State.OVERDUE: 1}  # B's


@pytest.mark.parametrize(("role", "shown"), [("admin", {"DUE-A", "DUE-B"}), ("monitor", {"DUE-A", "DUE-B"}),
                                             ("municipality", {"DUE-A"}), ("municipality_b", {"DUE-B"})])
def test_the_completeness_page_and_its_download_list_the_roles_own_grants(app, session, client, grants, monkeypatch,
                                                                         role, shown):
    noon = clock.skopje_to_utc(datetime.combine(grants.due + timedelta(days=3), datetime.min.time()).replace(hour=12))
    monkeypatch.setattr(clock, "now", lambda: noon)
    login(client, grants.users[role])
    page = client.get("/reports/completeness").get_data(as_text=True)
    assert 'id="finance-title"' in page
    assert {n for n in ("DUE-A/F1", "DUE-B/F1") if n in page} == {f"{n}/F1" for n in shown}
    book = load_workbook(io.BytesIO(client.get("/reports/completeness.xlsx").get_data()))
    sheet = book.worksheets[-1]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert set(rows) == {f"{n}/F1" for n in shown}
    assert all(row[7] == 3 for row in rows.values())  # three days overdue


def _at(day, hour=12):
    return clock.skopje_to_utc(datetime(day.year, day.month, day.day, hour))


def test_a_reminder_a_week_before_and_an_overdue_notice_after_once_each(app, session, grants, monkeypatch, mailbox):
    due = grants.due
    with app.test_request_context():
        finance.submit(session, grants.users["provider_b"], finance.start(session, grants.users["provider_b"], grants.b, 1))
        session.commit()
        monkeypatch.setattr(clock, "now", lambda: _at(due - timedelta(days=8)))
        assert overdue.queue_notices(session) == {"reminder": 0, "overdue": 0}  # too early
        monkeypatch.setattr(clock, "now", lambda: _at(due - timedelta(days=7)))
        assert overdue.queue_notices(session) == {"reminder": 1, "overdue": 0}  # A only: B has submitted
        assert overdue.queue_notices(session) == {"reminder": 0, "overdue": 0}  # once
        monkeypatch.setattr(clock, "now", lambda: _at(due, 23))
        assert overdue.queue_notices(session) == {"reminder": 0, "overdue": 0}  # the due day is not overdue
        monkeypatch.setattr(clock, "now", lambda: _at(due + timedelta(days=1), 0))
        assert overdue.queue_notices(session) == {"reminder": 0, "overdue": 1}
        assert overdue.queue_notices(session) == {"reminder": 0, "overdue": 0}
        session.commit()
        mail.deliver_pending(session)
    reference = "DUE-A/F1"
    macedonian = [m["Subject"] for m in mailbox.to(grants.users["provider"].email)]
    albanian = [m["Subject"] for m in mailbox.to("sq-provider@test.example")]
    assert len(macedonian) == len(albanian) == 2 and all(reference in s and due.isoformat() in s for s in macedonian + albanian)
    with app.test_request_context():
        from flask_babel import force_locale, gettext

        with force_locale("sq"):
            expected = gettext("Overdue: the financial report %(ref)s was due on %(due)s", ref=reference,
                               due=due.isoformat())
        with force_locale("mk"):
            expected_mk = gettext("Reminder: the financial report %(ref)s is due on %(due)s", ref=reference,
                                  due=due.isoformat())
    assert expected in albanian and expected_mk in macedonian
    assert not mailbox.to(grants.users["provider_b"].email)
    body = mailbox.to("sq-provider@test.example")[0].get_content()
    assert grants.period.start.isoformat() in body and grants.period.end.isoformat() in body


def test_no_notice_about_a_due_date_older_than_the_window(app, session, grants, monkeypatch):
    with app.test_request_context():
        monkeypatch.setattr(clock, "now", lambda: _at(grants.due + timedelta(days=overdue.NOTICE_WINDOW_DAYS + 1)))
        assert overdue.queue_notices(session) == {"reminder": 0, "overdue": 0}
        monkeypatch.setattr(clock, "now", lambda: _at(grants.due + timedelta(days=overdue.NOTICE_WINDOW_DAYS)))
        assert overdue.queue_notices(session) == {"reminder": 0, "overdue": 2}


def test_send_mail_queues_and_delivers_the_financial_notices(app, session, grants, monkeypatch, mailbox):
    monkeypatch.setattr(clock, "now", lambda: _at(grants.due + timedelta(days=2)))
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert "financial report overdue notices 2" in result.output, result.output
    assert any("DUE-A/F1" in m["Subject"] for m in mailbox.to(grants.users["provider"].email))
    assert any("DUE-B/F1" in m["Subject"] for m in mailbox.to(grants.users["provider_b"].email))
    again = app.test_cli_runner().invoke(args=["send-mail"])
    assert "financial report overdue notices 0" in again.output


def test_the_counts_and_the_overdue_list_in_sql_agree_with_classify_on_every_period(app, session, world):
    """The database's counts and overdue list (the page) against `classify` on each period (the download): grants
    starting mid-month (so ending mid-month), over a leap February, periods of 1, 2, 5, 12 and the default 3
    months (also for an invalid 0), reports submitted, returned, accepted and a draft — on many days."""
    from portal.models import FinanceReportStatus, FinancialReport

    admin = world.users["admin"]
    specs = [("EQ-1", date(2023, 3, 1), 12, 1), ("EQ-2", date(2023, 3, 1), 12, 3), ("EQ-3", date(2023, 1, 15), 13, 5),
             ("EQ-4", date(2023, 11, 20), 7, 2), ("EQ-5", date(2022, 12, 31), 24, 12), ("EQ-6", date(2023, 6, 10), 9, 0),
             ("EQ-7", date(2024, 2, 1), 1, 3)]
    with app.test_request_context():
        agreements = []
        for number, start, months, length in specs:
            agreement = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"],
                                               start=start, months=months, number=number)
            agreement.call.finance_period_months = length
            agreements.append(agreement)
        session.flush()
        states = [(FinanceReportStatus.SUBMITTED, None), (FinanceReportStatus.RETURNED, None),
                  (FinanceReportStatus.ACCEPTED, 1), (FinanceReportStatus.DRAFT, None), (FinanceReportStatus.DRAFT, 1)]
        for i, (agreement, number) in enumerate([(agreements[0], 2), (agreements[0], 5), (agreements[2], 1),
                                                  (agreements[3], 3), (agreements[4], 1), (agreements[1], 4)]):
            period = finance.period_of(agreement, number)
            status, accepted = states[i % len(states)]
            session.add(FinancialReport(agreement_id=agreement.id, period_number=number, period_start=period.start,
                                        period_end=period.end, status=status, accepted_version=accepted,
                                        first_submitted_at=None if i == 3 else clock.now(), created_by_id=admin.id))
        session.flush()
        day = date(2023, 1, 1)
        while day < date(2025, 4, 1):
            data = overdue.summary(session, admin, Filters(), today=day)
            assert data.counts == +Counter(p.state for p in data.rows), day
            expected = sorted((p for p in data.rows if p.state == overdue.State.OVERDUE),
                              key=lambda p: (-p.days_overdue, p.number, p.period.number))
            key = [(p.number, p.period.number, p.period.end, p.due, p.days_overdue) for p in expected]
            assert [(p.number, p.period.number, p.period.end, p.due, p.days_overdue) for p in data.overdue] == key, day
            page = overdue.summary(session, admin, Filters(), today=day, shown=3)
            assert page.counts == data.counts and not page.rows
            assert [(p.number, p.period.number) for p in page.overdue] == [k[:2] for k in key[:3]], day
            day += timedelta(days=5)
