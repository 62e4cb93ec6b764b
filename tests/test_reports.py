"""Monthly reports through the services and the pages: every transition and its refusals, versions and
their history, the database freezing submitted versions, due dates and timeliness, tranche conditions,
reminders delivered over SMTP, and the settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal import clock, mail
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.grants import services as grants
from portal.models import (
    AuditEvent,
    MonthlyReport,
    NoticeKind,
    OutboxEmail,
    ReportNotice,
    ReportServiceLine,
    ReportStatus,
    ReportVersion,
    TrancheStatus,
    VersionStatus,
)
from portal.models.reports import BENEFICIARY_FIELDS
from portal.reports import services as reports
from portal.reports.services import Timeliness
from tests import factories
from tests.conftest import login


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        app.preprocess_request()
        yield


@pytest.fixture
def grant(app, world, session):
    """Provider A's grant in municipality A, from three months ago, for 40 beneficiaries a month. (Service
    tests add `ctx`; page tests arrange their data in a request context of their own and leave it before
    the test client sends requests.)"""
    with app.test_request_context():
        world.grant = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                             world.orgs["municipality"])
        session.commit()
    world.month = world.grant.current.start_date
    return world


def audit_actions(session, report) -> list[str]:
    return list(session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "monthly_report",
                                                                   AuditEvent.object_id == str(report.id))
                                .order_by(AuditEvent.id)))


# Starting and saving -------------------------------------------------------------------------------------

def test_a_month_has_one_report_started_as_a_draft(session, grant, ctx):
    provider = grant.users["provider"]
    report = reports.start(session, provider, grant.grant, grant.month)
    assert (report.month_number, report.status, [v.status for v in report.versions]) == (1, ReportStatus.DRAFT,
                                                                                          [VersionStatus.DRAFT])
    assert reports.start(session, provider, grant.grant, grant.month + timedelta(days=12)).id == report.id
    assert session.scalar(sa.select(sa.func.count(MonthlyReport.id))) == 1
    assert audit_actions(session, report) == ["report.created"]


def test_only_the_grants_provider_starts_a_report_for_a_month_of_the_grant(session, grant, ctx):
    for user in (grant.users["provider_b"], grant.users["admin"], grant.users["municipality"]):
        with pytest.raises(NotAllowed):
            reports.start(session, user, grant.grant, grant.month)
    provider = grant.users["provider"]
    before = grants.add_months(grant.month, -1)
    future = grants.add_months(factories.months_ago(0), 1)
    for month in (before, future):
        with pytest.raises(InvalidTransition):
            reports.start(session, provider, grant.grant, month)
    assert session.scalar(sa.select(sa.func.count(MonthlyReport.id))) == 0


def test_a_draft_keeps_what_was_typed_and_refuses_what_is_not_a_whole_number(session, grant, ctx):
    provider = grant.users["provider"]
    report = reports.start(session, provider, grant.grant, grant.month)
    data = factories.report_data(session, grant.grant, served=30)
    data.services[0].female = 3  # the sum is wrong, but a draft may be incomplete
    reports.save(session, provider, report, data, report.newest.edit_version)
    assert report.newest.services[0].female == 3
    bad = factories.report_data(session, grant.grant)
    bad.services[0].male = -2
    bad.staff_total = "осум"
    with pytest.raises(ValidationFailed) as refused:
        reports.save(session, provider, report, bad, report.newest.edit_version)
    key = f"service-{data.services[0].service_type_id}-male"
    assert set(refused.value.field_errors) == {key, "staff_total"}
    session.refresh(report.newest)
    assert report.newest.services[0].female == 3  # nothing of the refused save was written


def test_two_people_saving_the_same_draft_version_get_a_conflict(session, grant, ctx):
    provider = grant.users["provider"]
    report = reports.start(session, provider, grant.grant, grant.month)
    seen = report.newest.edit_version
    reports.save(session, provider, report, factories.report_data(session, grant.grant, served=10), seen)
    with pytest.raises(Conflict):
        reports.save(session, provider, report, factories.report_data(session, grant.grant, served=11), seen)


# Submission --------------------------------------------------------------------------------------------

def test_submission_runs_the_blocking_rules_and_changes_nothing_when_refused(session, grant, ctx):
    provider = grant.users["provider"]
    report = reports.start(session, provider, grant.grant, grant.month)
    data = factories.report_data(session, grant.grant, served=30, staff=4, hires={"roma": 5})
    reports.save(session, provider, report, data, report.newest.edit_version)
    with pytest.raises(ValidationFailed) as refused:
        reports.submit(session, provider, report)
    assert "staff_total" in refused.value.field_errors  # 5 hard-to-employ staff of 4
    assert (report.status, report.first_submitted_at) == (ReportStatus.DRAFT, None)


def test_warnings_need_an_explanation_and_are_stored_with_the_submission(session, grant, ctx):
    provider = grant.users["provider"]
    report = reports.start(session, provider, grant.grant, grant.month)
    reports.save(session, provider, report, factories.report_data(session, grant.grant, served=61),
                 report.newest.edit_version)
    with pytest.raises(ValidationFailed) as refused:
        reports.submit(session, provider, report)
    assert list(refused.value.field_errors) == ["explanation"]
    data = factories.report_data(session, grant.grant, served=61, explanation="Нови корисници по решение на ЦСР.")
    reports.save(session, provider, report, data, report.newest.edit_version)
    version = reports.submit(session, provider, report)
    assert [w["code"] for w in version.warnings] == ["capacity"]
    assert version.explanation == "Нови корисници по решение на ЦСР."
    assert (report.status, version.status, version.submitted_by_id) == (ReportStatus.SUBMITTED, VersionStatus.SUBMITTED,
                                                                       provider.id)
    assert report.first_submitted_at is not None
    assert audit_actions(session, report)[-1] == "report.submitted"
    with pytest.raises(InvalidTransition):
        reports.save(session, provider, report, data, version.edit_version)
    with pytest.raises(InvalidTransition):
        reports.submit(session, provider, report)


def test_the_change_warning_compares_with_the_accepted_month_before(session, grant, ctx):
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    factories.report(session, provider, grant.grant, grant.month, served=20, accept_by=reviewer)
    second = reports.start(session, provider, grant.grant, grants.add_months(grant.month, 1))
    assert second.newest.staff_total == 8  # staff carried over from the accepted month, all continuing
    reports.save(session, provider, second, factories.report_data(session, grant.grant, served=31),
                 second.newest.edit_version)
    # 31 new, none continuing of last month's 20 (none left): the continuity warning too.
    assert [w.code for w in reports.check_submission(session, second).warnings] == ["change_beneficiaries", "continuity"]


# Review ------------------------------------------------------------------------------------------------

def test_the_ministry_accepts_a_submitted_report_and_it_counts(session, grant, ctx):
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    report = factories.report(session, provider, grant.grant, grant.month)
    for user in (provider, grant.users["municipality"], grant.users["monitor"], grant.users["finance"]):
        with pytest.raises(NotAllowed):
            reports.accept(session, user, report)
    version = reports.accept(session, reviewer, report, "Уредно.")
    assert (report.status, report.accepted_version, version.status, version.reviewed_by_id) == (
        ReportStatus.ACCEPTED, 1, VersionStatus.ACCEPTED, reviewer.id)
    assert report.in_force is version
    with pytest.raises(InvalidTransition):
        reports.accept(session, reviewer, report)
    with pytest.raises(InvalidTransition):
        reports.return_report(session, reviewer, report, "Доцна.")
    subject = session.scalar(sa.select(OutboxEmail.subject).where(OutboxEmail.to_address == provider.email))
    assert f"{grant.grant.number}/{grant.month:%Y-%m}" in subject


def test_a_returned_report_is_revised_as_a_new_version_and_the_history_shows_what_changed(session, grant, ctx, monkeypatch):
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    first_time = clock.now().replace(microsecond=0)
    second_time = first_time + timedelta(days=2, hours=3)
    monkeypatch.setattr(clock, "now", lambda: first_time)
    report = factories.report(session, provider, grant.grant, grant.month, served=30)
    with pytest.raises(ValidationFailed):
        reports.return_report(session, reviewer, report, "  ")
    reports.return_report(session, reviewer, report, "Часовите не се совпаѓаат со листите.")
    assert report.status == ReportStatus.RETURNED
    with pytest.raises(InvalidTransition):
        reports.submit(session, provider, report)
    with pytest.raises(NotAllowed):
        reports.revise(session, grant.users["provider_b"], report)
    second = reports.revise(session, provider, report)
    assert (second.version, second.status, report.status) == (2, VersionStatus.DRAFT, ReportStatus.DRAFT)
    assert second.services[0].total == 30  # a copy of the returned version
    data = factories.report_data(session, grant.grant, served=30)
    data.services[0].service_hours = 540
    reports.save(session, provider, report, data, second.edit_version)
    monkeypatch.setattr(clock, "now", lambda: second_time)
    reports.submit(session, provider, report)
    reports.accept(session, reviewer, report)
    assert [v.status for v in report.versions] == [VersionStatus.RETURNED, VersionStatus.ACCEPTED]
    # The first submission stays the first (it decides "on time"); the last is the revision's.
    assert (report.first_submitted_at, report.last_submitted_at) == (first_time, second_time)
    assert [v.submitted_at for v in report.versions] == [first_time, second_time]
    history = reports.history(session, report)
    assert [v.version for v, _changes in history] == [2, 1]
    changes = history[0][1]
    assert [(c.before, c.after) for c in changes] == [(600, 540)]
    assert "Service hours delivered" in changes[0].label or "час" in changes[0].label.lower()
    assert audit_actions(session, report) == ["report.created", "report.saved", "report.submitted", "report.returned",
                                              "report.revision_started", "report.saved", "report.submitted",
                                              "report.accepted"]


def test_a_correction_of_an_accepted_report_is_a_new_version_and_the_accepted_one_counts_until_then(session, grant, ctx):
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    report = factories.report(session, provider, grant.grant, grant.month, served=30, accept_by=reviewer)
    with pytest.raises(ValidationFailed):
        reports.request_correction(session, provider, report, "")
    correction = reports.request_correction(session, provider, report, "Двајца корисници се пријавени двапати.")
    assert (correction.version, correction.correction_reason) == (2, "Двајца корисници се пријавени двапати.")
    assert (report.status, report.accepted_version) == (ReportStatus.DRAFT, 1)
    assert reports.accepted_through(session, grant.grant.id) == 1  # still counts
    reports.save(session, provider, report, factories.report_data(session, grant.grant, served=28), correction.edit_version)
    reports.submit(session, provider, report)
    assert report.in_force.version == 1
    reports.accept(session, reviewer, report)
    assert [v.status for v in report.versions] == [VersionStatus.SUPERSEDED, VersionStatus.ACCEPTED]
    assert (report.accepted_version, report.in_force.beneficiaries) == (2, 28)
    with pytest.raises(InvalidTransition):
        reports.revise(session, provider, report)  # only a returned report is revised


def test_the_database_refuses_to_change_a_submitted_version(app, session, grant, ctx):
    report = factories.report(session, grant.users["provider"], grant.grant, grant.month)
    version_id = report.newest.id
    session.commit()
    for statement in (
        sa.update(ReportVersion).where(ReportVersion.id == version_id).values(staff_total=99),
        sa.update(ReportVersion).where(ReportVersion.id == version_id).values(status="draft"),
        sa.delete(ReportVersion).where(ReportVersion.id == version_id),
        sa.update(ReportServiceLine).where(ReportServiceLine.version_id == version_id).values(total=1),
        sa.delete(ReportServiceLine).where(ReportServiceLine.version_id == version_id),
        sa.insert(ReportServiceLine).values(version_id=version_id, service_type_id=report.newest.services[0].service_type_id + 1),
    ):
        with pytest.raises(sa.exc.DatabaseError):
            with session.begin_nested():
                session.execute(statement)
    # The review may still change its status and comment.
    with session.begin_nested():
        session.execute(sa.update(ReportVersion).where(ReportVersion.id == version_id)
                        .values(status="returned", review_comment="Провери."))


# Months, due dates and timeliness ------------------------------------------------------------------------

def test_due_dates_and_timeliness(session, grant, monkeypatch, ctx):
    programme = reports.get_programme(session)
    month = date(2026, 10, 1)
    assert reports.due_on(programme, month) == date(2026, 11, 10)
    deadline = reports.deadline(programme, month)
    assert deadline == datetime(2026, 11, 10, 23, 0, tzinfo=UTC)  # the end of 10 November in Skopje (UTC+1)
    just_before = deadline - timedelta(seconds=1)
    assert reports.timeliness(programme, month, ReportStatus.SUBMITTED, just_before, False, deadline) == Timeliness.ON_TIME
    assert reports.timeliness(programme, month, ReportStatus.SUBMITTED, deadline, False, deadline) == Timeliness.LATE
    assert reports.timeliness(programme, month, None, None, False, just_before) == Timeliness.OPEN
    assert reports.timeliness(programme, month, ReportStatus.DRAFT, None, False, deadline) == Timeliness.MISSING
    assert reports.timeliness(programme, month, ReportStatus.RETURNED, just_before, False, deadline) == Timeliness.RETURNED
    # A returned correction of an accepted report: the month still counts as reported.
    assert reports.timeliness(programme, month, ReportStatus.RETURNED, just_before, True, deadline) == Timeliness.ON_TIME
    programme.report_due_day = 5
    assert reports.due_on(programme, month) == date(2026, 11, 5)


def test_on_time_is_decided_at_the_first_submission(session, grant, monkeypatch, ctx):
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    programme = reports.get_programme(session)
    due = reports.deadline(programme, grant.month)
    monkeypatch.setattr(clock, "now", lambda: due - timedelta(minutes=5))
    report = factories.report(session, provider, grant.grant, grant.month)
    assert report.submitted_on_time is True
    reports.return_report(session, reviewer, report, "Поправете ги часовите.")
    monkeypatch.setattr(clock, "now", lambda: due + timedelta(days=9))
    reports.revise(session, provider, report)
    reports.submit(session, provider, report)  # resubmitted after the due date: still on time
    reports.accept(session, reviewer, report)
    programme.report_due_day = 1  # a later, stricter setting does not rewrite history
    assert reports.timeliness_of(programme, report, grant.month, clock.now()) == Timeliness.ON_TIME


def test_the_exact_due_instant_is_late_and_a_microsecond_before_is_on_time(session, grant, monkeypatch, ctx):
    """The boundary through the service (submit records `submitted_on_time`), not only the pure function."""
    provider = grant.users["provider"]
    programme = reports.get_programme(session)
    first, second = grant.month, grants.add_months(grant.month, 1)
    due_first, due_second = reports.deadline(programme, first), reports.deadline(programme, second)
    monkeypatch.setattr(clock, "now", lambda: due_first - timedelta(microseconds=1))
    before = factories.report(session, provider, grant.grant, first)
    monkeypatch.setattr(clock, "now", lambda: due_second)
    exactly = factories.report(session, provider, grant.grant, second)
    assert (before.submitted_on_time, exactly.submitted_on_time) == (True, False)
    assert (before.first_submitted_at, exactly.first_submitted_at) == (due_first - timedelta(microseconds=1), due_second)
    assert reports.timeliness_of(programme, before, first, due_second) == Timeliness.ON_TIME
    assert reports.timeliness_of(programme, exactly, second, due_second) == Timeliness.LATE


def test_month_rows_flag_late_and_missing_reports(session, grant, monkeypatch, ctx):
    provider = grant.users["provider"]
    first = grant.month
    due = reports.deadline(reports.get_programme(session), first)
    monkeypatch.setattr(clock, "now", lambda: due + timedelta(days=2))
    factories.report(session, provider, grant.grant, first)  # two days late
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    rows = {row.number: row.timeliness for row in reports.month_rows(session, grant.grant)}
    assert rows[1] == Timeliness.LATE
    assert rows[2] == Timeliness.MISSING  # never submitted, due date passed
    assert rows[4] == Timeliness.OPEN  # the current month


# Tranches ------------------------------------------------------------------------------------------------

def test_a_tranche_is_released_only_when_the_reports_are_accepted_through_its_month(session, grant, ctx):
    provider, reviewer, finance = grant.users["provider"], grant.users["reviewer"], grant.users["finance"]
    tranche = grant.grant.tranches[1]
    assert tranche.reports_required_through == 3
    factories.report(session, provider, grant.grant, grant.month, accept_by=reviewer)
    factories.report(session, provider, grant.grant, grants.add_months(grant.month, 2), accept_by=reviewer)
    assert reports.accepted_through(session, grant.grant.id) == 1  # month 2 is missing: the gap stops the count
    with pytest.raises(InvalidTransition):
        grants.request_release(session, finance, tranche)
    second = factories.report(session, provider, grant.grant, grants.add_months(grant.month, 1))
    assert reports.accepted_through(session, grant.grant.id) == 1  # submitted is not accepted
    reports.accept(session, reviewer, second)
    assert reports.accepted_through(session, grant.grant.id) == 3
    grants.request_release(session, finance, tranche)
    assert tranche.status == TrancheStatus.REQUESTED


# Reminders -----------------------------------------------------------------------------------------------

def test_reminders_before_the_due_date_and_overdue_notices_go_out_once(app, session, grant, monkeypatch, mailbox, ctx):
    provider = grant.users["provider"]
    month = grants.add_months(factories.months_ago(0), -1)  # last month: due on the 10th of this month
    factories.report(session, provider, grant.grant, factories.months_ago(2))  # the month before is reported
    programme = reports.get_programme(session)
    due = reports.due_on(programme, month)
    skopje_noon = lambda day: clock.skopje_to_utc(datetime(day.year, day.month, day.day, 12))  # noqa: E731
    monkeypatch.setattr(clock, "now", lambda: skopje_noon(due - timedelta(days=4)))
    assert reports.queue_notices(session) == {"reminder": 0, "overdue": 0}  # too early
    monkeypatch.setattr(clock, "now", lambda: skopje_noon(due - timedelta(days=3)))
    assert reports.queue_notices(session) == {"reminder": 1, "overdue": 0}
    assert reports.queue_notices(session) == {"reminder": 0, "overdue": 0}  # once
    monkeypatch.setattr(clock, "now", lambda: skopje_noon(due + timedelta(days=1)))
    assert reports.queue_notices(session) == {"reminder": 0, "overdue": 1}
    assert reports.queue_notices(session) == {"reminder": 0, "overdue": 0}
    notices = session.execute(sa.select(ReportNotice.month, ReportNotice.kind)).all()
    assert (month, NoticeKind.REMINDER) in notices and (month, NoticeKind.OVERDUE) in notices
    session.commit()
    mail.deliver_pending(session)
    subjects = [m["Subject"] for m in mailbox.to(provider.email)]
    reference = f"{grant.grant.number}/{month:%Y-%m}"
    assert any(reference in s and due.isoformat() in s for s in subjects)
    assert len([s for s in subjects if reference in s]) == 2  # the reminder, then the overdue notice


def test_no_reminder_for_a_submitted_month(session, grant, monkeypatch, ctx):
    provider = grant.users["provider"]
    month = grants.add_months(factories.months_ago(0), -1)
    factories.report(session, provider, grant.grant, month)
    due = reports.due_on(reports.get_programme(session), month)
    monkeypatch.setattr(clock, "now", lambda: clock.skopje_to_utc(datetime(due.year, due.month, due.day, 9)))
    queued = reports.queue_notices(session)
    assert session.scalar(sa.select(sa.func.count(ReportNotice.id)).where(ReportNotice.month == month)) == 0
    assert queued["reminder"] == 0


def test_send_mail_queues_the_notices_and_delivers_them(app, session, grant, monkeypatch, mailbox):
    month = grants.add_months(factories.months_ago(0), -1)
    with app.test_request_context():
        factories.report(session, grant.users["provider"], grant.grant, factories.months_ago(2))
        due = reports.due_on(reports.get_programme(session), month)
        session.commit()
    monkeypatch.setattr(clock, "now", lambda: clock.skopje_to_utc(datetime(due.year, due.month, due.day, 8)))
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert "report reminders 1" in result.output, result.output
    assert mailbox.to(grant.users["provider"].email)


# Pages ---------------------------------------------------------------------------------------------------

def _form(report, data_override=None, **extra):
    version = report.newest
    values = {"edit_version": str(version.edit_version), "narrative": "", "explanation": ""}
    for line in version.services:
        for name in BENEFICIARY_FIELDS:
            values[f"service-{line.service_type_id}-{name}"] = str(getattr(line, name))
    for name in ("staff_total", "staff_female", "staff_male", "certified_caregivers"):
        values[name] = str(getattr(version, name))
    values.update(data_override or {})
    values.update(extra)
    return values


def test_the_form_keeps_what_was_typed_and_names_the_field_and_the_rule(app, client, session, grant):
    provider = grant.users["provider"]
    with app.test_request_context():
        report = reports.start(session, provider, grant.grant, grant.month)
        reports.save(session, provider, report, factories.report_data(session, grant.grant, served=30),
                     report.newest.edit_version)
        session.commit()
    login(client, provider)
    type_id = report.newest.services[0].service_type_id
    response = client.post(f"/reports/{report.id}/edit", data=_form(report, {f"service-{type_id}-female": "12"},
                                                                     submit_report="1", confirm="y"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="12"' in page  # what was typed
    assert f'href="#service-{type_id}-female"' in page and "30" in page  # the field, and the figures of the rule
    session.expire_all()
    stored = session.get(MonthlyReport, report.id)
    assert stored.status == ReportStatus.DRAFT and stored.newest.services[0].female == 12  # saved as typed, not submitted
    response = client.post(f"/reports/{report.id}/edit", data=_form(stored, {f"service-{type_id}-total": "тридесет"},
                                                                     save="1"))
    assert response.status_code == 422 and "тридесет" in response.get_data(as_text=True)


def test_submitting_from_the_form_needs_the_confirmation_then_the_ministry_reviews(app, client, session, grant, mailbox):
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    with app.test_request_context():
        report = reports.start(session, provider, grant.grant, grant.month)
        reports.save(session, provider, report, factories.report_data(session, grant.grant, served=30),
                     report.newest.edit_version)
        session.commit()
    login(client, provider)
    assert client.post(f"/reports/{report.id}/edit", data=_form(report, submit_report="1")).status_code == 422
    response = client.post(f"/reports/{report.id}/edit", data=_form(report, submit_report="1", confirm="y"))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/reports/{report.id}")
    assert client.get(f"/reports/{report.id}/edit").status_code == 302  # no longer a draft
    other = app.test_client()
    login(other, reviewer)
    assert other.post(f"/reports/{report.id}/review", data={"accept": "1"}).status_code == 422  # not confirmed
    assert other.post(f"/reports/{report.id}/review", data={"send_back": "1", "comment": ""}).status_code == 422
    response = other.post(f"/reports/{report.id}/review", data={"accept": "1", "confirm": "y", "comment": "Уредно."})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(MonthlyReport, report.id).status == ReportStatus.ACCEPTED
    assert mailbox.to(provider.email)


def test_drafts_stay_with_the_provider(app, session, grant):
    provider = grant.users["provider"]
    with app.test_request_context():
        draft = reports.start(session, provider, grant.grant, grant.month)
        submitted = factories.report(session, provider, grant.grant, grants.add_months(grant.month, 1))
        session.commit()
    for role, expected in (("admin", 403), ("municipality", 403), ("monitor", 403), ("provider", 200)):
        client = app.test_client()
        login(client, grant.users[role])
        assert client.get(f"/reports/{draft.id}").status_code == expected, role
    municipality = app.test_client()
    login(municipality, grant.users["municipality"])
    assert municipality.get(f"/reports/{submitted.id}").status_code == 200
    listing = municipality.get("/reports?status=all").get_data(as_text=True)
    assert f"/reports/{submitted.id}" in listing and f"/reports/{draft.id}\"" not in listing


def test_a_correction_in_progress_is_not_shown_to_the_ministry(app, session, grant):
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    with app.test_request_context():
        report = factories.report(session, provider, grant.grant, grant.month, served=30, accept_by=reviewer)
        correction = reports.request_correction(session, provider, report, "Погрешни часови.")
        reports.save(session, provider, report, factories.report_data(session, grant.grant, served=27),
                     correction.edit_version)
        session.commit()
    ministry = app.test_client()
    login(ministry, reviewer)
    page = ministry.get(f"/reports/{report.id}").get_data(as_text=True)
    assert ">30<" in page and ">27<" not in page


def test_evidence_is_uploaded_as_a_document_of_the_report(app, client, session, grant, tmp_path):
    import io

    from tests import files

    factories.use_local_storage(app, tmp_path / "uploads")
    with app.test_request_context():
        report = factories.report(session, grant.users["provider"], grant.grant, grant.month)
        session.commit()
    login(client, grant.users["provider"])
    response = client.post(f"/reports/{report.id}/documents", data={
        "purpose": "payroll", "file": (io.BytesIO(files.PDF), "плати-01.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "плати-01.pdf" in page
    app.extensions["storage"] = None


def test_settings_are_checked_and_audited(app, client, session, world):
    login(client, world.users["admin"])
    programme = reports.get_programme(session)
    session.commit()
    response = client.post("/admin/reports/settings", data={"due_day": "31", "reminder_days": "3",
                                                            "version_id": str(programme.version_id)})
    assert response.status_code == 422
    response = client.post("/admin/reports/settings", data={"due_day": "15", "reminder_days": "5",
                                                            "version_id": str(programme.version_id)})
    assert response.status_code == 302
    session.expire_all()
    programme = reports.get_programme(session)
    assert (programme.report_due_day, programme.report_reminder_days) == (15, 5)
    assert session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "programme.report_settings"))
