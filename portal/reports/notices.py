"""Reporting settings (due day, reminders, how early a month may be submitted) and the reminders and overdue
notices queued by `flask send-mail`. Reached through `portal.reports.services` too."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit, clock, mail
from portal.calls.services import get_programme
from portal.errors import Conflict, NotAllowed, ValidationFailed
from portal.models import GrantAgreement, MonthlyReport, NoticeKind, Programme, ReportNotice, User
from portal.reports.services import _previous_month, deadline, due_on, first_of, grant_months

#: How far back overdue notices go: a month whose due date is older than this gets none (a new
#: deployment does not mail about years of history).
OVERDUE_NOTICE_DAYS = 45


# Settings --------------------------------------------------------------------------------------------

def update_settings(session: Session, actor: User, due_day: int | None, reminder_days: int | None,
                    version_id: int, early_days: int | None = -1) -> Programme:
    """The due day, the reminder lead time and how many days before a month ends its report may be submitted
    (`early_days`, 0–3; -1 keeps the setting)."""
    if not access.can_manage_report_settings(actor):
        raise NotAllowed()
    programme = get_programme(session, for_update=True)
    if version_id != programme.version_id:
        raise Conflict()
    errors: dict[str, list[str]] = {}
    if due_day is None or not 1 <= due_day <= 28:
        errors["due_day"] = [_("Enter a day between 1 and 28 (every month has it).")]
    if reminder_days is None or not 0 <= reminder_days <= 27:
        errors["reminder_days"] = [_("Enter a number of days between 0 and 27.")]
    elif due_day is not None and reminder_days >= due_day:
        errors["reminder_days"] = [_("The reminder goes out in the month after the one reported: at most %(n)d days "
                                     "before the due day.", n=max(due_day - 1, 0))]
    if early_days == -1:
        early_days = programme.report_early_days
    if early_days is None or not 0 <= early_days <= 3:
        errors["early_days"] = [_("Enter a number of days between 0 and 3.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    before = {"report_due_day": programme.report_due_day, "report_reminder_days": programme.report_reminder_days,
              "report_early_days": programme.report_early_days}
    programme.report_due_day, programme.report_reminder_days = due_day, reminder_days
    programme.report_early_days = early_days
    after = {"report_due_day": due_day, "report_reminder_days": reminder_days, "report_early_days": early_days}
    if before != after:
        audit.record(session, actor, "programme.report_settings", programme, before=before, after=after)
    return programme


# Reminders -------------------------------------------------------------------------------------------

def queue_notices(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Queue, once each, a reminder N days before a month's due date when its report is not submitted, and an
    overdue notice when the due date has passed without a submission. Run by `flask send-mail` (cron)."""
    now = now or clock.now()
    programme = get_programme(session)
    today = clock.utc_to_skopje(now).date()
    month = _previous_month(first_of(today))  # the month whose report is due this month
    counts = {"reminder": 0, "overdue": 0}
    agreements = list(session.scalars(sa.select(GrantAgreement).options(
        sa.orm.selectinload(GrantAgreement.versions))))
    candidates = []
    for agreement in agreements:
        first, last = grant_months(agreement)
        for candidate in (month, _previous_month(month)):
            if first <= candidate <= last:
                candidates.append((agreement, candidate))
    if not candidates:
        return counts
    submitted = set(session.execute(sa.select(MonthlyReport.agreement_id, MonthlyReport.month).where(
        MonthlyReport.first_submitted_at.is_not(None), MonthlyReport.agreement_id.in_({a.id for a, _m in candidates}),
        MonthlyReport.month.in_({m for _a, m in candidates}))).all())
    sent = set(session.execute(sa.select(ReportNotice.agreement_id, ReportNotice.month, ReportNotice.kind).where(
        ReportNotice.month.in_({m for _a, m in candidates}))).all())
    for agreement, candidate in candidates:
        if (agreement.id, candidate) in submitted:
            continue
        due = due_on(programme, candidate)
        if now >= deadline(programme, candidate):
            if (today - due).days > OVERDUE_NOTICE_DAYS:
                continue
            kind = NoticeKind.OVERDUE
        elif today >= due - timedelta(days=programme.report_reminder_days):
            kind = NoticeKind.REMINDER
        else:
            continue
        if (agreement.id, candidate, kind) in sent:
            continue
        if _send_notice(session, agreement, candidate, kind, due):
            counts[kind.value] += 1
    return counts


def _send_notice(session: Session, agreement: GrantAgreement, month: date, kind: NoticeKind, due: date) -> bool:
    notice = ReportNotice(agreement_id=agreement.id, month=month, kind=kind, created_at=clock.now())
    try:
        with session.begin_nested():
            session.add(notice)
    except sa.exc.IntegrityError:
        return False  # another run sent it at the same moment
    members = list(session.scalars(sa.select(User).where(User.organisation_id == agreement.organisation_id,
                                                         User.active.is_(True), User.password_hash.is_not(None))))
    template = "mail/report_reminder.txt" if kind == NoticeKind.REMINDER else "mail/report_overdue.txt"
    for member in members:
        with force_locale(member.preferred_language):
            subject = (_("Reminder: the monthly report %(ref)s is due on %(due)s",
                         ref=f"{agreement.number}/{month:%Y-%m}", due=due.isoformat())
                       if kind == NoticeKind.REMINDER else
                       _("Overdue: the monthly report %(ref)s was due on %(due)s",
                         ref=f"{agreement.number}/{month:%Y-%m}", due=due.isoformat()))
            body = render_template(template, user=member, agreement=agreement, month=f"{month:%m/%Y}",
                                   due=due.isoformat(), month_key=f"{month:%Y-%m}")
            mail.queue(session, member.email, subject, body)
    notice.recipients = len(members)
    audit.record(session, None, f"report.{kind.value}_sent", notice, actor_email="send-mail",
                 after={"agreement": agreement.number, "month": f"{month:%Y-%m}", "recipients": len(members)})
    return True
