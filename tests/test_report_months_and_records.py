"""The months, due dates and timeliness of monthly reports, and what each step of the workflow records
(`portal/reports/services.py`): exact boundaries (the due instant, December to January, summer and winter time in
Skopje), the version a step writes and the audit row with its figures. Mutation testing showed these unchecked
where other tests only asked for the action's name or a status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask_babel import gettext as _

from portal import clock
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.models import AuditEvent, ReportStatus, VersionStatus
from portal.reports import services as reports
from portal.reports import validation
from portal.reports.services import Timeliness
from tests import factories
from tests.test_reports import ctx, grant  # noqa: F401  (fixtures shared with the report tests)

PROGRAMME = SimpleNamespace(report_due_day=10)


# Months and due dates -------------------------------------------------------------------------------------------

def test_months_across_the_new_year():
    assert reports.first_of(date(2026, 12, 31)) == date(2026, 12, 1)
    assert reports.next_month(date(2026, 11, 1)) == date(2026, 12, 1)
    assert reports.next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert reports._previous_month(date(2027, 1, 1)) == date(2026, 12, 1)
    assert reports._previous_month(date(2027, 3, 1)) == date(2027, 2, 1)
    assert reports._previous_month(date(2026, 12, 1)) == date(2026, 11, 1)
    assert reports.months_from(date(2026, 11, 15), date(2027, 2, 1)) == [
        date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]
    assert reports.months_from(date(2027, 2, 1), date(2027, 1, 31)) == []
    assert reports.month_number(date(2026, 11, 1), date(2026, 11, 1)) == 1
    assert reports.month_number(date(2026, 11, 1), date(2028, 2, 1)) == 16


def test_a_months_report_is_due_on_the_due_day_of_the_next_month_until_midnight_in_skopje():
    assert reports.due_on(PROGRAMME, date(2026, 12, 1)) == date(2027, 1, 10)
    assert reports.due_on(SimpleNamespace(report_due_day=28), date(2027, 1, 1)) == date(2027, 2, 28)
    # Winter: Skopje is UTC+1; summer: UTC+2.
    assert reports.deadline(PROGRAMME, date(2026, 12, 1)) == datetime(2027, 1, 10, 23, 0, tzinfo=UTC)
    assert reports.deadline(PROGRAMME, date(2027, 5, 1)) == datetime(2027, 6, 10, 22, 0, tzinfo=UTC)
    assert reports.to_utc_month_start(date(2027, 3, 15)) == datetime(2027, 2, 28, 23, 0, tzinfo=UTC)
    assert reports.to_utc_month_start(date(2027, 7, 4)) == datetime(2027, 6, 30, 22, 0, tzinfo=UTC)


def test_months_typed_in_urls():
    assert reports.parse_month("2027-03") == date(2027, 3, 1)
    assert reports.parse_month("2027-12") == date(2027, 12, 1)
    for text in ("2027-13", "2027", "x-y", "2027-03-01", ""):
        assert reports.parse_month(text) is None


def test_timeliness_at_the_due_instant():
    month = date(2026, 12, 1)
    due = reports.deadline(PROGRAMME, month)
    just_before = due - timedelta(microseconds=1)

    def of(status=ReportStatus.SUBMITTED, submitted=None, accepted=False, now=due, on_time=None):
        return reports.timeliness(PROGRAMME, month, status, submitted, accepted, now, on_time)

    assert of(status=None, now=just_before) == Timeliness.OPEN
    assert of(status=None, now=due) == Timeliness.MISSING
    assert of(submitted=just_before) == Timeliness.ON_TIME
    assert of(submitted=due) == Timeliness.LATE
    assert of(submitted=just_before, on_time=False) == Timeliness.LATE  # as decided at the first submission
    assert of(submitted=due, on_time=True) == Timeliness.ON_TIME
    assert of(status=ReportStatus.RETURNED, submitted=just_before) == Timeliness.RETURNED
    assert of(status=ReportStatus.RETURNED, submitted=due, accepted=True) == Timeliness.LATE
    assert of(status=ReportStatus.ACCEPTED, submitted=just_before, accepted=True) == Timeliness.ON_TIME
    assert reports.timeliness_of(PROGRAMME, None, month, due) == Timeliness.MISSING
    assert reports.timeliness_of(PROGRAMME, None, month, just_before) == Timeliness.OPEN
    returned = SimpleNamespace(status=ReportStatus.RETURNED, first_submitted_at=just_before, accepted_version=None,
                               submitted_on_time=True)
    assert reports.timeliness_of(PROGRAMME, returned, month, due) == Timeliness.RETURNED
    returned.accepted_version = 2
    assert reports.timeliness_of(PROGRAMME, returned, month, due) == Timeliness.ON_TIME
    returned.submitted_on_time = False
    assert reports.timeliness_of(PROGRAMME, returned, month, due) == Timeliness.LATE


def test_labels_of_timeliness_and_status_are_words(ctx):  # noqa: F811
    from portal.labels import label

    assert reports.timeliness_label(Timeliness.LATE) == label(Timeliness.LATE, "timeliness") != "late"
    assert reports.status_label(ReportStatus.RETURNED) == label(ReportStatus.RETURNED, "report_status") != "returned"


def test_errors_are_keyed_by_the_form_field_of_their_path():
    assert reports.path_key(("service", 5, "female")) == "service-5-female"
    assert reports.path_key(("hire", 3, "note")) == "hire-3-note"
    assert reports.path_key(("staff_total",)) == "staff_total"
    assert reports.path_key(("totals", "explanation")) == "explanation"
    with pytest.raises(ValidationFailed) as refused:
        reports._raise([validation.Issue(("service", 5, "female"), "a"), validation.Issue(("staff_total",), "b"),
                        validation.Issue(("service", 5, "female"), "c")])
    assert refused.value.field_errors == {"service-5-female": ["a", "c"], "staff_total": ["b"]}


def test_a_reports_reference_names_the_agreement_and_the_month():
    report = SimpleNamespace(agreement=SimpleNamespace(number="SSIP-GA-007"), month=date(2027, 3, 1))
    assert reports.report_reference(report) == "SSIP-GA-007/2027-03"


# What each step records -------------------------------------------------------------------------------------------

def audit_rows(session, report, action: str) -> list[AuditEvent]:
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action,
                                                            AuditEvent.object_type == "monthly_report",
                                                            AuditEvent.object_id == str(report.id))
                                .order_by(AuditEvent.id)))


def test_starting_a_report_records_its_month_number_author_and_audit_row(session, grant, ctx):  # noqa: F811
    provider = grant.users["provider"]
    second = reports.next_month(grant.month)
    moment = datetime(2031, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", lambda: moment)
        report = reports.start(session, provider, grant.grant, second + timedelta(days=5))
    assert (report.month, report.month_number, report.created_by_id, report.status, report.created_at) == (
        second, 2, provider.id, ReportStatus.DRAFT, moment)
    (version,) = report.versions
    assert (version.version, version.created_by_id, version.status, version.created_at) == (
        1, provider.id, VersionStatus.DRAFT, moment)
    (row,) = audit_rows(session, report, "report.created")
    assert (row.actor_id, row.after) == (provider.id, {"agreement": grant.grant.number, "month": f"{second:%Y-%m}"})


def test_the_next_month_starts_from_last_months_accepted_staff(session, grant, ctx):  # noqa: F811
    provider, admin = grant.users["provider"], grant.users["admin"]
    data = factories.report_data(session, grant.grant, staff=9, hires={"long_term_unemployed": 2})
    data.hires[0].note = "Од јануари"
    first = factories.report(session, provider, grant.grant, grant.month, accept_by=admin, data=data)
    accepted = first.in_force
    report = reports.start(session, provider, grant.grant, reports.next_month(grant.month))
    draft = report.newest
    assert (draft.staff_total, draft.staff_female, draft.staff_male, draft.certified_caregivers) == (
        accepted.staff_total, accepted.staff_female, accepted.staff_male, accepted.certified_caregivers) == (9, 8, 1, 7)
    assert [(h.category_id, h.total, h.female, h.new_this_month, h.continuing, h.note) for h in draft.hires] == [
        (h.category_id, 2, 2, 0, 2, "Од јануари") for h in accepted.hires]
    assert reports.previous_figures(session, grant.grant.id, reports.next_month(grant.month)) == (30, 9)
    assert reports.previous_figures(session, grant.grant.id, grant.month) is None
    other = factories.signed_grant(session, admin, grant.orgs["provider"], grant.orgs["municipality"])
    assert reports.previous_figures(session, other.id, reports.next_month(grant.month)) is None
    context = reports.submission_context(session, other, reports.next_month(grant.month))
    assert (context.previous, context.previous_lines, context.today) == (None, None, reports.today_in_skopje())


def test_saving_records_the_figures_before_and_after_and_nothing_when_unchanged(session, grant, ctx):  # noqa: F811
    provider = grant.users["provider"]
    report = reports.start(session, provider, grant.grant, grant.month)
    data = factories.report_data(session, grant.grant, served=20, staff=5, hires={"long_term_unemployed": 1})
    data.narrative, data.explanation = "  Добро  ", " Објаснување "
    data.hires[0].note = "  " + "н" * 400
    version = reports.save(session, provider, report, data, report.newest.edit_version)
    assert (version.narrative, version.explanation, version.staff_total) == ("Добро", "Објаснување", 5)
    assert [(h.total, h.note) for h in version.hires] == [(1, "н" * 300)]
    (row,) = audit_rows(session, report, "report.saved")
    assert row.actor_id == provider.id
    assert (row.before["beneficiaries"], row.before["staff"], row.before["hard_to_employ"]) == (0, 0, 0)
    assert (row.after["beneficiaries"], row.after["staff"], row.after["hard_to_employ"], row.after["narrative"],
            row.after["explanation"]) == (20, 5, 1, "Добро", "Објаснување")
    assert row.after["staff_figures"][0] == 5
    reports.save(session, provider, report, data, report.newest.edit_version)
    assert len(audit_rows(session, report, "report.saved")) == 1
    # A hard-to-employ group with nobody in it and no note is not kept; a note alone keeps it.
    data.hires[0].total = data.hires[0].female = data.hires[0].new_this_month = data.hires[0].new_female = 0
    data.hires[0].note = " "
    assert reports.save(session, provider, report, data, report.newest.edit_version).hires == []
    data.hires[0].note = " Само белешка "
    assert [h.note for h in reports.save(session, provider, report, data, report.newest.edit_version).hires] == [
        "Само белешка"]


def test_submitting_records_when_whether_on_time_and_the_figures(session, grant, ctx, monkeypatch):  # noqa: F811
    provider, admin = grant.users["provider"], grant.users["admin"]
    report = factories.report(session, provider, grant.grant, grant.month, submit=False, served=12, staff=4)
    moment = datetime(2030, 1, 1, tzinfo=UTC)  # long after the month's due date
    monkeypatch.setattr(clock, "now", lambda: moment)
    version = reports.submit(session, provider, report)
    assert (version.status, version.submitted_by_id, version.submitted_at) == (VersionStatus.SUBMITTED, provider.id, moment)
    assert (report.status, report.first_submitted_at, report.last_submitted_at, report.submitted_on_time) == (
        ReportStatus.SUBMITTED, moment, moment, False)
    (row,) = audit_rows(session, report, "report.submitted")
    assert (row.actor_id, row.before) == (provider.id, {"status": "draft"})
    assert row.after == {"status": "submitted", "version": 1, "warnings": version.warnings, "beneficiaries": 12,
                         "staff": 4}
    reports.return_report(session, admin, report, "Поправете.")
    revised = reports.revise(session, provider, report)
    later = moment + timedelta(days=3)
    monkeypatch.setattr(clock, "now", lambda: later)
    reports.submit(session, provider, report)
    assert (report.first_submitted_at, report.last_submitted_at, report.submitted_on_time) == (moment, later, False)
    assert revised.version == 2


def test_a_report_submitted_before_its_due_date_is_on_time(session, grant, ctx, monkeypatch):  # noqa: F811
    provider = grant.users["provider"]
    report = factories.report(session, provider, grant.grant, grant.month, submit=False)
    due = reports.deadline(reports.get_programme(session), grant.month)
    monkeypatch.setattr(clock, "now", lambda: due - timedelta(seconds=1))
    reports.submit(session, provider, report)
    assert report.submitted_on_time is True


def test_revising_and_correcting_copy_the_figures_into_the_next_version(session, grant, ctx):  # noqa: F811
    provider, admin = grant.users["provider"], grant.users["admin"]
    data = factories.report_data(session, grant.grant, served=14, staff=6, hires={"long_term_unemployed": 1},
                                 narrative="Опис на месецот", explanation="Објаснување")
    data.hires[0].note = "Белешка"
    report = factories.report(session, provider, grant.grant, grant.month, data=data)
    with pytest.raises(InvalidTransition) as refused:
        reports.revise(session, provider, report)
    assert str(refused.value.message) == _("Only a returned report is revised this way.")
    with pytest.raises(InvalidTransition) as refused:
        reports.request_correction(session, provider, report, "Грешка")
    assert str(refused.value.message) == _("A correction can be requested for an accepted report only.")
    reports.accept(session, admin, report)
    with pytest.raises(InvalidTransition) as refused:
        reports.save(session, provider, report, reports.data_of(session, report.newest), report.newest.edit_version)
    assert str(refused.value.message) == _(
        "This report has been submitted and can no longer be changed. To change an accepted report, request a "
        "correction.")
    with pytest.raises(ValidationFailed) as refused:
        reports.request_correction(session, provider, report, "   ")
    assert refused.value.field_errors == {"reason": [_("Say what is wrong in the accepted report.")]}
    with pytest.raises(NotAllowed):
        reports.request_correction(session, grant.users["provider_b"], report, "Грешка")
    accepted = report.in_force
    moment = datetime(2031, 5, 6, 7, 8, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", lambda: moment)
        copy = reports.request_correction(session, provider, report, "  Погрешен број  ")
    assert (copy.version, copy.status, copy.correction_reason, copy.created_by_id, copy.created_at) == (
        2, VersionStatus.DRAFT, "Погрешен број", provider.id, moment)
    assert (copy.narrative, copy.explanation, [h.note for h in copy.hires]) == (
        "Опис на месецот", "Објаснување", ["Белешка"])
    assert (report.current_version, report.status, report.accepted_version) == (2, ReportStatus.DRAFT, 1)
    assert (copy.staff_total, copy.narrative, copy.explanation) == (accepted.staff_total, accepted.narrative,
                                                                    accepted.explanation)
    assert [(s.service_type_id, s.total, s.female, s.new_this_month) for s in copy.services] == [
        (s.service_type_id, s.total, s.female, s.new_this_month) for s in accepted.services]
    assert [(h.category_id, h.total, h.note) for h in copy.hires] == [(h.category_id, h.total, h.note) for h in accepted.hires]
    (row,) = audit_rows(session, report, "report.correction_requested")
    assert (row.actor_id, row.after) == (provider.id, {"version": 2, "accepted_version": 1, "reason": "Погрешен број"})


def test_a_returned_report_is_revised_in_a_new_draft(session, grant, ctx):  # noqa: F811
    provider, admin = grant.users["provider"], grant.users["admin"]
    report = factories.report(session, provider, grant.grant, grant.month, served=11)
    reports.return_report(session, admin, report, "Проверете.")
    with pytest.raises(NotAllowed):
        reports.revise(session, grant.users["provider_b"], report)
    copy = reports.revise(session, provider, report)
    assert (copy.version, copy.status, copy.correction_reason) == (2, VersionStatus.DRAFT, "")
    assert sum(s.total for s in copy.services) == 11
    (row,) = audit_rows(session, report, "report.revision_started")
    assert (row.actor_id, row.after) == (provider.id, {"version": 2})


def test_accepted_through_counts_months_without_a_gap(session, grant, ctx):  # noqa: F811
    provider, admin = grant.users["provider"], grant.users["admin"]
    assert reports.accepted_through_many(session, []) == {}
    assert reports.accepted_through(session, grant.grant.id) == 0
    second, third = reports.next_month(grant.month), reports.next_month(reports.next_month(grant.month))
    factories.report(session, provider, grant.grant, second, accept_by=admin)
    assert reports.accepted_through(session, grant.grant.id) == 0  # month 1 is missing
    factories.report(session, provider, grant.grant, grant.month, accept_by=admin)
    assert reports.accepted_through(session, grant.grant.id) == 2
    factories.report(session, provider, grant.grant, third)  # submitted, not accepted
    assert reports.accepted_through_many(session, [grant.grant.id]) == {grant.grant.id: 2}
    # Another grant of the same provider, its month 1 accepted: each grant counts its own months.
    other = factories.signed_grant(session, admin, grant.orgs["provider"], grant.orgs["municipality"])
    factories.report(session, provider, other, other.current.start_date, accept_by=admin)
    assert reports.accepted_through_many(session, [grant.grant.id, other.id]) == {grant.grant.id: 2, other.id: 1}
    assert reports.accepted_through_many(session, [other.id]) == {other.id: 1}


def test_month_rows_list_every_month_up_to_now_newest_first(session, grant, ctx):  # noqa: F811
    provider = grant.users["provider"]
    report = factories.report(session, provider, grant.grant, grant.month)
    programme = reports.get_programme(session)
    now = reports.deadline(programme, reports.next_month(grant.month))  # the second month's due instant
    rows = reports.month_rows(session, grant.grant, now=now, programme=programme)
    first, _last = reports.grant_months(grant.grant)
    current = reports.first_of(clock.utc_to_skopje(now).date())
    assert [r.month for r in rows] == list(reversed(reports.months_from(first, current)))
    oldest = rows[-1]
    assert (oldest.number, oldest.report.id, oldest.due) == (1, report.id, reports.due_on(programme, grant.month))
    assert rows[-2].timeliness == Timeliness.MISSING
    assert rows[0].timeliness == Timeliness.OPEN
    overview = reports.provider_overview(session, provider)
    assert [(a.id, [r.month for r in months][-1]) for a, months in overview] == [(grant.grant.id, grant.month)]
    assert reports.provider_overview(session, grant.users["provider_b"]) == []


def test_the_providers_active_members_are_told_of_a_returned_report_each_by_name(session, grant, ctx):  # noqa: F811
    from portal.models import OutboxEmail, Role

    provider, admin = grant.users["provider"], grant.users["admin"]
    colleague = factories.user(session, Role.PROVIDER, grant.orgs["provider"])
    factories.user(session, Role.PROVIDER, grant.orgs["provider"], active=False)  # deactivated
    factories.user(session, Role.PROVIDER, grant.orgs["provider"], password=None)  # never activated
    report = factories.report(session, provider, grant.grant, grant.month)
    before = session.scalar(sa.select(sa.func.max(OutboxEmail.id))) or 0
    reports.return_report(session, admin, report, "Недостасува платен список.")
    sent = {m.to_address: m for m in session.scalars(sa.select(OutboxEmail).where(OutboxEmail.id > before))}
    assert set(sent) == {provider.email, colleague.email}
    reference = reports.report_reference(report)
    for member in (provider, colleague):
        message = sent[member.email]
        assert message.subject == _("Monthly report %(ref)s returned with comments", ref=reference)
        assert _("Hello %(name)s,", name=member.full_name) in message.body_text
        assert _("The ministry has returned the monthly report %(ref)s for correction.", ref=reference) in message.body_text
        assert "Недостасува платен список." in message.body_text


def test_the_evidence_a_call_requires_is_missing_until_uploaded(app, session, grant, ctx, tmp_path):  # noqa: F811
    import io

    from portal.documents import services as documents
    from portal.documents.services import purpose_label
    from tests import files

    app.extensions["storage"] = None
    app.config.update(STORAGE_BACKEND="local", UPLOAD_DIR=tmp_path / "uploads")
    provider = grant.users["provider"]
    grant.grant.application.call.report_evidence = ["timesheet", "payroll"]
    report = factories.report(session, provider, grant.grant, grant.month, submit=False)
    assert reports.required_evidence(grant.grant) == ["timesheet", "payroll"]
    assert reports.missing_evidence(session, report) == ["timesheet", "payroll"]
    (both,) = reports.evidence_issues(session, report)
    assert both.message == _("Upload the evidence this call requires before you submit (at least one document of each "
                             "kind): %(kinds)s is missing.",
                             kinds=f"{purpose_label('timesheet')}, {purpose_label('payroll')}")
    documents.upload(session, provider, owner=grant.orgs["provider"], object_type="report", object_id=report.id,
                     purpose="payroll", stream=io.BytesIO(files.PDF), filename="payroll.pdf")
    assert reports.missing_evidence(session, report) == ["timesheet"]
    (issue,) = reports.evidence_issues(session, report)
    assert issue.path == ("evidence",)
    assert issue.message == _("Upload the evidence this call requires before you submit (at least one document of each "
                              "kind): %(kinds)s is missing.", kinds=purpose_label("timesheet"))
    with pytest.raises(ValidationFailed) as refused:
        reports.submit(session, provider, report)
    assert refused.value.field_errors == {"evidence": [issue.message]}
    documents.upload(session, provider, owner=grant.orgs["provider"], object_type="report", object_id=report.id,
                     purpose="timesheet", stream=io.BytesIO(files.PDF), filename="timesheet.pdf")
    assert reports.missing_evidence(session, report) == [] and reports.evidence_issues(session, report) == []
    app.extensions["storage"] = None


def test_the_provider_overview_lists_its_grants_by_number(session, grant, ctx):  # noqa: F811
    admin = grant.users["admin"]
    later = factories.signed_grant(session, admin, grant.orgs["provider"], grant.orgs["municipality"], number="AA-001")
    numbers = [a.number for a, _months in reports.provider_overview(session, grant.users["provider"])]
    assert numbers == sorted([grant.grant.number, later.number]) and numbers[0] == "AA-001"


def test_a_versions_figures_have_a_line_for_every_service_type_and_every_active_group(session, grant, ctx):  # noqa: F811
    from portal.models import HardToEmployCategory

    provider = grant.users["provider"]
    types = list(grant.grant.application.service_types)
    data = factories.report_data(session, grant.grant, served=10, hires={"long_term_unemployed": 1},
                                 narrative="Што се случи", explanation="Зошто")
    data.hires[0].note = "Белешка"
    report = factories.report(session, provider, grant.grant, grant.month, submit=False, data=data)
    version = report.newest
    figures = reports.data_of(session, version)
    assert (figures.narrative, figures.explanation, figures.staff_total) == ("Што се случи", "Зошто", data.staff_total)
    assert [(s.service_type_id, s.label, s.total) for s in figures.services] == [
        (t.id, t.name(), 10 if i == 0 else 0) for i, t in enumerate(types)]
    untouched = [s for s in figures.services if s.service_type_id != types[0].id]
    assert all(s.female == s.new_this_month == s.service_hours == 0 for s in untouched)
    active = reports.active_categories(session)
    assert [(h.category_id, h.label, h.requires_note) for h in figures.hires] == [
        (c.id, c.name(), c.requires_note) for c in active]
    assert any(c.requires_note for c in active) and not all(c.requires_note for c in active)
    reported = {h.category_id: h for h in figures.hires}
    line = version.hires[0]
    assert (reported[line.category_id].total, reported[line.category_id].note) == (1, "Белешка")
    assert all(h.note == "" and h.total == 0 for h in figures.hires if h.category_id != line.category_id)
    # A group retired from the catalogue still shows where a report counted someone in it; a group passed in
    # explicitly replaces the catalogue.
    retired = session.get(HardToEmployCategory, line.category_id)
    retired.active = False
    session.flush()
    again = reports.data_of(session, version)
    assert [h.category_id for h in again.hires][-1] == retired.id
    assert [h.category_id for h in again.hires].count(retired.id) == 1
    only = reports.data_of(session, version, categories=[active[-1]] if active[-1].id != retired.id else [active[0]])
    assert [h.category_id for h in only.hires][-1] == retired.id and len(only.hires) == 2


def test_a_submission_that_loses_the_race_says_so(session, grant, ctx, monkeypatch):  # noqa: F811
    from portal.errors import Conflict

    provider = grant.users["provider"]
    report = factories.report(session, provider, grant.grant, grant.month, submit=False)

    version, flush = report.newest, session.flush

    def stale(*args, **kwargs):  # another window's submission changed the row first
        if version.status == VersionStatus.SUBMITTED and report.last_submitted_at is not None:
            raise sa.orm.exc.StaleDataError("the version moved")
        return flush(*args, **kwargs)

    monkeypatch.setattr(session, "flush", stale)
    with pytest.raises(Conflict) as caught:
        reports.submit(session, provider, report)
    assert str(caught.value.message) == _("This report was submitted from another window at the same moment. Reload "
                                          "the page to see it.")


def test_a_month_outside_the_grant_is_refused_with_the_rules_words(session, grant, ctx):  # noqa: F811
    from portal.grants import services as grants

    before = grants.add_months(grant.month, -1)
    expected = validation.check_month(reports.context_for(grant.grant, reports.first_of(before)))[0].message
    with pytest.raises(InvalidTransition) as refused:
        reports.start(session, grant.users["provider"], grant.grant, before)
    assert str(refused.value.message) == str(expected) != ""


def test_only_the_same_grants_accepted_month_before_prefills_the_staff(session, grant, ctx):  # noqa: F811
    provider, admin = grant.users["provider"], grant.users["admin"]
    first, second = grant.month, reports.next_month(grant.month)
    third = reports.next_month(second)
    other = factories.signed_grant(session, admin, grant.orgs["provider"], grant.orgs["municipality"])
    factories.report(session, provider, other, other.current.start_date, accept_by=admin, staff=9)  # another grant
    factories.report(session, provider, other, reports.next_month(other.current.start_date), accept_by=admin, staff=9)
    factories.report(session, provider, grant.grant, first, accept_by=admin, staff=5)  # two months before `third`
    submitted_only = factories.report(session, provider, grant.grant, second, staff=6)  # the month before, not accepted
    assert reports.start(session, provider, grant.grant, third).newest.staff_total == 0
    reports.accept(session, admin, submitted_only)
    assert reports._previous_accepted(session, reports.report_for(session, grant.grant.id, third)).staff_total == 6


def test_the_saved_audit_row_keeps_each_lines_figures(session, grant, ctx):  # noqa: F811
    from portal.models.reports import BENEFICIARY_FIELDS, HIRE_FIELDS

    provider = grant.users["provider"]
    report = factories.report(session, provider, grant.grant, grant.month, submit=False, served=10,
                              hires={"long_term_unemployed": 1})
    (row,) = audit_rows(session, report, "report.saved")
    version = report.newest
    assert row.after["services"] == {str(line.service_type_id): [getattr(line, n) for n in BENEFICIARY_FIELDS]
                                     for line in version.services}
    assert row.after["hires"] == {str(line.category_id): [getattr(line, n) for n in HIRE_FIELDS] for line in version.hires}
    assert row.before["services"] == {} and row.before["hires"] == {}
