"""Monthly reports: the months a grant reports, due dates, the workflow (draft → submitted → accepted or
returned → resubmitted; corrections of accepted reports as new versions), history, reminders.

Transitions (anything else raises `InvalidTransition`):

| newest version | step (who)                          | result                                       |
|----------------|-------------------------------------|----------------------------------------------|
| (none)         | start (provider)                    | version 1, draft                             |
| draft          | save / submit (provider)            | draft / submitted                            |
| submitted      | accept (ministry)                   | accepted; it counts; an earlier one is superseded |
| submitted      | return with comments (ministry)     | returned                                     |
| returned       | revise (provider)                   | next version, a draft copy                   |
| accepted       | request a correction (provider)     | next version, a draft copy; the accepted one still counts |
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit, clock, mail
from portal.calls.services import get_programme
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.models import (
    Application,
    GrantAgreement,
    HardToEmployCategory,
    MonthlyReport,
    Programme,
    ReportHireLine,
    ReportServiceLine,
    ReportStatus,
    ReportVersion,
    ServiceType,
    User,
    VersionStatus,
)
from portal.models.reports import BENEFICIARY_FIELDS, HIRE_FIELDS, STAFF_FIELDS
from portal.reports import from_register, validation
from portal.reports.validation import Context, HireFigures, ReportData, ServiceFigures

# Months and due dates ------------------------------------------------------------------------------

def first_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_from(first: date, last: date) -> list[date]:
    months, month = [], first_of(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def grant_months(agreement: GrantAgreement) -> tuple[date, date]:
    """The first and last month a grant reports: from its start month to the month it ends (terms in force)."""
    terms = agreement.current
    return first_of(terms.start_date), first_of(terms.end_date)


def month_number(first: date, month: date) -> int:
    return (month.year - first.year) * 12 + month.month - first.month + 1


def today_in_skopje() -> date:
    return clock.utc_to_skopje(clock.now()).date()


def due_on(programme: Programme, month: date) -> date:
    """A month's report is due on the programme's due day (default the 10th) of the following month."""
    return next_month(month).replace(day=programme.report_due_day)


def deadline(programme: Programme, month: date) -> datetime:
    """The end of the due day in Skopje, in UTC: a report submitted before it is on time."""
    return clock.skopje_to_utc(datetime.combine(due_on(programme, month) + timedelta(days=1), time.min))


def to_utc_month_start(month: date) -> datetime:
    """Midnight at the start of the month in Skopje, in UTC."""
    return clock.skopje_to_utc(datetime.combine(first_of(month), time.min))


def parse_month(text: str) -> date | None:
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        return None


class Timeliness(enum.StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    RETURNED = "returned"
    MISSING = "missing"
    OPEN = "open"  # not submitted, and the due date has not passed


def timeliness(programme: Programme, month: date, status: ReportStatus | None, first_submitted_at: datetime | None,
               accepted: bool, now: datetime, on_time: bool | None = None) -> Timeliness:
    """One rule for every list, the completeness page and the indicators. A report counts as on time or late by
    its first submission, as decided then (`on_time`, under the due date in force at the time); a returned
    report that has no accepted version counts as returned until resubmitted and accepted; a month never
    submitted is missing once its due date has passed."""
    if status == ReportStatus.RETURNED and not accepted:
        return Timeliness.RETURNED
    if first_submitted_at is None:
        return Timeliness.MISSING if now >= deadline(programme, month) else Timeliness.OPEN
    if on_time is None:
        on_time = first_submitted_at < deadline(programme, month)
    return Timeliness.ON_TIME if on_time else Timeliness.LATE


def timeliness_of(programme: Programme, report: MonthlyReport | None, month: date, now: datetime) -> Timeliness:
    if report is None:
        return timeliness(programme, month, None, None, False, now)
    return timeliness(programme, month, report.status, report.first_submitted_at, report.accepted_version is not None,
                      now, report.submitted_on_time)


def timeliness_label(value: Timeliness | str) -> str:
    from portal.labels import label

    return label(value, "timeliness")


def status_label(status: ReportStatus | VersionStatus | str) -> str:
    from portal.labels import label

    return label(status, "report_status")


# Reading ------------------------------------------------------------------------------------------------

def report_for(session: Session, agreement_id: int, month: date) -> MonthlyReport | None:
    return session.scalar(sa.select(MonthlyReport).where(MonthlyReport.agreement_id == agreement_id,
                                                         MonthlyReport.month == month))


def _service_types(agreement: GrantAgreement) -> list[ServiceType]:
    return list(agreement.application.service_types)


def active_categories(session: Session) -> list[HardToEmployCategory]:
    """The hard-to-employ groups a report lists, in catalogue order."""
    return list(session.scalars(sa.select(HardToEmployCategory).where(HardToEmployCategory.active.is_(True))
                                .order_by(HardToEmployCategory.sort_order, HardToEmployCategory.id)))


def data_of(session: Session, version: ReportVersion, categories: list[HardToEmployCategory] | None = None) -> ReportData:
    """A version's figures as `ReportData`, with a line for every service type of the grant and every
    active hard-to-employ group (zeros where nothing was reported)."""
    agreement = version.report.agreement
    by_type = {line.service_type_id: line for line in version.services}
    types = _service_types(agreement)
    known = {t.id for t in types}
    types += [line.service_type for line in version.services if line.service_type_id not in known]
    services = []
    for service_type in types:
        line = by_type.get(service_type.id)
        values = {name: getattr(line, name) if line else 0 for name in BENEFICIARY_FIELDS}
        services.append(ServiceFigures(service_type_id=service_type.id, label=service_type.name(), **values))
    by_category = {line.category_id: line for line in version.hires}
    categories = categories if categories is not None else active_categories(session)
    listed = {c.id for c in categories}
    categories = categories + [line.category for line in version.hires if line.category_id not in listed]
    hires = []
    for category in categories:
        line = by_category.get(category.id)
        values = {name: getattr(line, name) if line else 0 for name in HIRE_FIELDS}
        hires.append(HireFigures(category_id=category.id, label=category.name(), requires_note=category.requires_note,
                                 note=line.note if line else "", **values))
    return ReportData(services=services, hires=hires, narrative=version.narrative, explanation=version.explanation,
                      **{name: getattr(version, name) for name in STAFF_FIELDS})


def previous_figures(session: Session, agreement_id: int, month: date) -> tuple[int, int] | None:
    """(beneficiaries, staff) of the month before, as accepted, for the change warning."""
    version = _accepted_before(session, agreement_id, month)
    return (version.beneficiaries, version.staff_total) if version is not None else None


def _accepted_before(session: Session, agreement_id: int, month: date) -> ReportVersion | None:
    before = session.scalar(sa.select(MonthlyReport).where(
        MonthlyReport.agreement_id == agreement_id, MonthlyReport.month == _previous_month(month),
        MonthlyReport.accepted_version.is_not(None)))
    return before.in_force if before is not None else None


def _previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def context_for(agreement: GrantAgreement, month: date, previous: tuple[int, int] | None = None) -> Context:
    first, last = grant_months(agreement)
    return Context(month=month, first_month=first, last_month=last, current_month=first_of(today_in_skopje()),
                   capacity=agreement.application.beneficiaries_per_month, previous=previous)


def submission_context(session: Session, agreement: GrantAgreement, month: date) -> Context:
    """Everything the rules of a submission need: the month before as accepted (totals and, per service type,
    served and left), today in Skopje and how early a month may be submitted."""
    version = _accepted_before(session, agreement.id, month)
    context = context_for(agreement, month, (version.beneficiaries, version.staff_total) if version else None)
    if version is not None:
        context.previous_lines = {line.service_type_id: (line.total, line.left_this_month) for line in version.services}
    context.today = today_in_skopje()
    context.early_days = get_programme(session).report_early_days
    return context


def required_evidence(agreement: GrantAgreement) -> list[str]:
    """The kinds of evidence every report of the grant carries (set on its call)."""
    return list(agreement.application.call.report_evidence or [])


def missing_evidence(session: Session, report: MonthlyReport) -> list[str]:
    """The required kinds of evidence that have no document on the report yet."""
    from portal.documents import services as documents

    present = {d.purpose for d in documents.documents_for(session, "report", report.id)}
    return [kind for kind in required_evidence(report.agreement) if kind not in present]


def evidence_issues(session: Session, report: MonthlyReport) -> list[validation.Issue]:
    from portal.documents.services import purpose_label

    missing = missing_evidence(session, report)
    if not missing:
        return []
    return [validation.Issue(("evidence",), _(
        "Upload the evidence this call requires before you submit (at least one document of each kind): "
        "%(kinds)s is missing.", kinds=", ".join(purpose_label(kind) for kind in missing)))]


def path_key(path: validation.Path) -> str:
    """The form field (and error key) of a path: service-5-female, hire-3-note, staff_total, explanation."""
    if path[0] in ("service", "hire"):
        return f"{path[0]}-{path[1]}-{path[2]}"
    return str(path[-1])


def _raise(issues: list[validation.Issue]) -> None:
    errors: dict[str, list[str]] = {}
    for issue in issues:
        errors.setdefault(path_key(issue.path), []).append(issue.message)
    raise ValidationFailed(field_errors=errors)


# The workflow --------------------------------------------------------------------------------------------

def _check_month(agreement: GrantAgreement, month: date) -> None:
    issues = validation.check_month(context_for(agreement, month))
    if issues:
        raise InvalidTransition(issues[0].message)


def start(session: Session, actor: User, agreement: GrantAgreement, month: date) -> MonthlyReport:
    """The grant's one report for the month: the existing one, or a new draft (version 1). Many people
    starting it at once still get one: the unique constraint decides."""
    if not access.can_edit_reports_of(actor, agreement):
        raise NotAllowed()
    month = first_of(month)
    _check_month(agreement, month)
    existing = report_for(session, agreement.id, month)
    if existing is not None:
        return existing
    first, _last = grant_months(agreement)
    report = MonthlyReport(agreement_id=agreement.id, month=month, month_number=month_number(first, month),
                           created_by_id=actor.id, created_at=clock.now())
    try:
        with session.begin_nested():
            session.add(report)
    except sa.exc.IntegrityError:
        return report_for(session, agreement.id, month)
    source = _previous_accepted(session, report)
    version = ReportVersion(report=report, version=1, created_by_id=actor.id, created_at=clock.now())
    session.add(version)
    if source is not None:
        _prefill_staff(version, source)
    session.flush()
    audit.record(session, actor, "report.created", report, after={"agreement": agreement.number, "month": f"{month:%Y-%m}"})
    return report


def _previous_accepted(session: Session, report: MonthlyReport) -> ReportVersion | None:
    before = session.scalar(sa.select(MonthlyReport).where(
        MonthlyReport.agreement_id == report.agreement_id, MonthlyReport.month == _previous_month(report.month),
        MonthlyReport.accepted_version.is_not(None)))
    return before.in_force if before is not None else None


def _prefill_staff(version: ReportVersion, source: ReportVersion) -> None:
    """Staff rarely change from one month to the next: start from last month's accepted staff figures,
    everyone counted as continuing."""
    for name in STAFF_FIELDS:
        setattr(version, name, getattr(source, name))
    version.hires = [ReportHireLine(category_id=h.category_id, total=h.total, female=h.female, new_this_month=0,
                                    continuing=h.total, note=h.note) for h in source.hires]


def _newest_draft(report: MonthlyReport) -> ReportVersion:
    version = report.newest
    if version.status != VersionStatus.DRAFT:
        raise InvalidTransition(_("This report has been submitted and can no longer be changed. To change an accepted "
                                  "report, request a correction."))
    return version


def save(session: Session, actor: User, report: MonthlyReport, data: ReportData, edit_version: int) -> ReportVersion:
    """Save the draft as typed: only whole, non-negative numbers are required (sums are checked on submission)."""
    if not access.can_edit_reports_of(actor, report.agreement):
        raise NotAllowed()
    version = _newest_draft(report)
    if edit_version != version.edit_version:
        raise Conflict()
    registered = from_register.applies(report.agreement)
    if registered:  # the beneficiaries come from the register, whatever was posted
        data = from_register.fill(session, report.agreement, report.month, data)
    result = validation.check_values(data)
    if not result.ok:
        _raise(result.errors)
    before = _summary(version)
    version.beneficiaries_from_register = registered
    for name in STAFF_FIELDS:
        setattr(version, name, getattr(data, name))
    version.narrative, version.explanation = data.narrative.strip(), data.explanation.strip()
    _write_lines(version, data)
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None
    after = _summary(version)
    if before != after:
        audit.record(session, actor, "report.saved", report, before=before, after=after)
    return version


def _write_lines(version: ReportVersion, data: ReportData) -> None:
    """Keep a line for every service type, and one per hard-to-employ group that has anyone in it."""
    lines = {line.service_type_id: line for line in version.services}
    kept = []
    for figures in data.services:
        line = lines.get(figures.service_type_id) or ReportServiceLine(service_type_id=figures.service_type_id)
        for name in BENEFICIARY_FIELDS:
            setattr(line, name, getattr(figures, name))
        kept.append(line)
    version.services = kept
    hires = {line.category_id: line for line in version.hires}
    kept_hires = []
    for figures in data.hires:
        if not (any(getattr(figures, name) for name in HIRE_FIELDS) or figures.note.strip()):
            continue
        line = hires.get(figures.category_id) or ReportHireLine(category_id=figures.category_id)
        for name in HIRE_FIELDS:
            setattr(line, name, getattr(figures, name))
        line.note = figures.note.strip()[:300]
        kept_hires.append(line)
    version.hires = kept_hires


def _summary(version: ReportVersion) -> dict[str, Any]:
    return {"beneficiaries": sum(line.total for line in version.services), "staff": version.staff_total,
            "hard_to_employ": sum(line.total for line in version.hires),
            "services": {str(line.service_type_id): [getattr(line, n) for n in BENEFICIARY_FIELDS] for line in version.services},
            "hires": {str(line.category_id): [getattr(line, n) for n in HIRE_FIELDS] for line in version.hires},
            "staff_figures": [getattr(version, n) for n in STAFF_FIELDS], "narrative": version.narrative,
            "explanation": version.explanation}


def check_submission(session: Session, report: MonthlyReport) -> validation.Result:
    """Every rule of a submission: the figures (validation.check, with the month before and today's date) and
    the evidence the call requires."""
    version = report.newest
    data = data_of(session, version)
    result = validation.check(data, submission_context(session, report.agreement, report.month))
    result.errors.extend(evidence_issues(session, report))
    return result


def submit(session: Session, actor: User, report: MonthlyReport) -> ReportVersion:
    """Submit the draft: every blocking rule must pass and every warning be explained. The version is then
    frozen (the database refuses to change it)."""
    if not access.can_edit_reports_of(actor, report.agreement):
        raise NotAllowed()
    version = _newest_draft(report)
    if from_register.applies(report.agreement):
        from_register.refresh(session, version)  # the register as it is at this moment
    result = check_submission(session, report)
    if not result.ok:
        _raise(result.errors)
    now = clock.now()
    version.status = VersionStatus.SUBMITTED
    version.warnings = [w.as_dict() for w in result.warnings]
    version.submitted_by_id, version.submitted_at = actor.id, now
    report.status = ReportStatus.SUBMITTED
    if report.first_submitted_at is None:
        report.first_submitted_at = now
        report.submitted_on_time = now < deadline(get_programme(session), report.month)
    report.last_submitted_at = now
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict(_("This report was submitted from another window at the same moment. Reload the page to see "
                         "it.")) from None
    audit.record(session, actor, "report.submitted", report, before={"status": "draft"},
                 after={"status": "submitted", "version": version.version, "warnings": version.warnings,
                        "beneficiaries": version.beneficiaries, "staff": version.staff_total,
                        **({"beneficiaries_from_register": True} if version.beneficiaries_from_register else {})})
    return version


def _next_version(session: Session, actor: User, report: MonthlyReport, reason: str = "") -> ReportVersion:
    """A draft copy of the newest version, numbered after it."""
    source = report.newest
    with session.no_autoflush:  # the copy is complete before anything of it is written
        copy = ReportVersion(report=report, version=source.version + 1, created_by_id=actor.id,
                             created_at=clock.now(), narrative=source.narrative, explanation=source.explanation,
                             correction_reason=reason.strip(), **{name: getattr(source, name) for name in STAFF_FIELDS})
        copy.services = [ReportServiceLine(service_type_id=line.service_type_id,
                                           **{name: getattr(line, name) for name in BENEFICIARY_FIELDS})
                         for line in source.services]
        copy.hires = [ReportHireLine(category_id=line.category_id, note=line.note,
                                     **{name: getattr(line, name) for name in HIRE_FIELDS}) for line in source.hires]
    session.add(copy)
    report.current_version = copy.version
    report.status = ReportStatus.DRAFT
    _flush(session)
    session.refresh(report, ["versions"])
    return copy


def revise(session: Session, actor: User, report: MonthlyReport) -> ReportVersion:
    """Start correcting a returned report: the next version, a draft copy of the returned one."""
    if not access.can_edit_reports_of(actor, report.agreement):
        raise NotAllowed()
    if report.newest.status != VersionStatus.RETURNED:
        raise InvalidTransition(_("Only a returned report is revised this way."))
    version = _next_version(session, actor, report)
    audit.record(session, actor, "report.revision_started", report, after={"version": version.version})
    return version


def request_correction(session: Session, actor: User, report: MonthlyReport, reason: str) -> ReportVersion:
    """Correct an accepted report: a new version, submitted and reviewed like the first; until it is accepted the
    accepted version keeps counting."""
    if not access.can_edit_reports_of(actor, report.agreement):
        raise NotAllowed()
    if report.newest.status != VersionStatus.ACCEPTED:
        raise InvalidTransition(_("A correction can be requested for an accepted report only."))
    if not reason.strip():
        raise ValidationFailed(field_errors={"reason": [_("Say what is wrong in the accepted report.")]})
    version = _next_version(session, actor, report, reason)
    audit.record(session, actor, "report.correction_requested", report,
                 after={"version": version.version, "accepted_version": report.accepted_version, "reason": reason.strip()})
    return version


def _flush(session: Session) -> None:
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None


def _notify(session: Session, report: MonthlyReport, template: str, subject: Any, **context: Any) -> None:
    """Mail every active member of the provider, each in their own language."""
    reference = report_reference(report)
    members = session.scalars(sa.select(User).where(User.organisation_id == report.agreement.organisation_id,
                                                    User.active.is_(True), User.password_hash.is_not(None)))
    for member in members:
        with force_locale(member.preferred_language):
            body = render_template(template, user=member, report=report, reference=reference,
                                   month=f"{report.month:%m/%Y}", **context)
            mail.queue(session, member.email, subject(reference), body)


def report_reference(report: MonthlyReport) -> str:
    return f"{report.agreement.number}/{report.month:%Y-%m}"


def accepted_through_many(session: Session, agreement_ids: list[int]) -> dict[int, int]:
    """For each grant, the last month number N such that months 1…N all have an accepted report — in one
    statement: among the accepted months in order, the prefix without a gap is where the row number equals
    the month number."""
    if not agreement_ids:
        return {}
    ranked = (sa.select(MonthlyReport.agreement_id, MonthlyReport.month_number,
                        sa.func.row_number().over(partition_by=MonthlyReport.agreement_id,
                                                  order_by=MonthlyReport.month_number).label("rank"))
              .where(MonthlyReport.accepted_version.is_not(None), MonthlyReport.agreement_id.in_(agreement_ids))
              .subquery())
    return dict(session.execute(sa.select(ranked.c.agreement_id, sa.func.max(ranked.c.month_number))
                                .where(ranked.c.rank == ranked.c.month_number).group_by(ranked.c.agreement_id)).all())


def accepted_through(session: Session, agreement_id: int) -> int:
    """The last month number N such that months 1…N all have an accepted report (0 when month 1 has none)."""
    return accepted_through_many(session, [agreement_id]).get(agreement_id, 0)


# Lists -----------------------------------------------------------------------------------------------

@dataclass
class MonthRow:
    month: date
    number: int
    report: MonthlyReport | None
    timeliness: Timeliness
    due: date


def month_rows(session: Session, agreement: GrantAgreement, reports: list[MonthlyReport] | None = None,
               now: datetime | None = None, programme: Programme | None = None) -> list[MonthRow]:
    """Every month of the grant up to the current one, newest first, with its report and how it stands."""
    programme = programme or get_programme(session)
    now = now or clock.now()
    first, last = grant_months(agreement)
    current = first_of(clock.utc_to_skopje(now).date())
    if reports is None:
        reports = list(session.scalars(sa.select(MonthlyReport).where(MonthlyReport.agreement_id == agreement.id)))
    by_month = {r.month: r for r in reports}
    rows = [MonthRow(month, month_number(first, month), by_month.get(month),
                     timeliness_of(programme, by_month.get(month), month, now), due_on(programme, month))
            for month in months_from(first, min(last, current))]
    return list(reversed(rows))


def provider_overview(session: Session, actor: User) -> list[tuple[GrantAgreement, list[MonthRow]]]:
    """The provider's grants, each with its months: three queries whatever the number of grants."""
    agreements = list(session.scalars(
        sa.select(GrantAgreement).where(GrantAgreement.organisation_id == actor.organisation_id)
        .options(sa.orm.selectinload(GrantAgreement.versions),
                 sa.orm.joinedload(GrantAgreement.application).joinedload(Application.municipality_org))
        .order_by(GrantAgreement.number)).unique())
    reports: dict[int, list[MonthlyReport]] = {a.id: [] for a in agreements}
    if agreements:
        for report in session.scalars(sa.select(MonthlyReport).where(MonthlyReport.agreement_id.in_(list(reports)))):
            reports[report.agreement_id].append(report)
    now, programme = clock.now(), get_programme(session)
    return [(a, month_rows(session, a, reports[a.id], now, programme)) for a in agreements]


# The review and the notices live in modules of their own; they are reached through this one too.
from portal.reports.history import Change, history, visible_version  # noqa: E402, F401
from portal.reports.notices import OVERDUE_NOTICE_DAYS, queue_notices, update_settings  # noqa: E402, F401
from portal.reports.review import QueueFilter, accept, return_report, review_query  # noqa: E402, F401
