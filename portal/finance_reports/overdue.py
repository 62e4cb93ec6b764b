"""Overdue financial reports (issue 18): their state on the completeness page, and the reminders and overdue
notices `flask send-mail` queues for providers.

The due rule, one place: a reporting period's financial report is due `DUE_DAYS` (30) days after the period ends
— on `period_end + 30 days`, the whole of that day (Skopje) included. From the next day a period whose report
has never been submitted is **overdue**. A report submitted once counts as submitted (waiting for review,
returned for correction, or accepted), however late; a draft is not a submission. Periods still running are not
counted.

Reminders: `REMINDER_DAYS` (7) days before the due date a period not yet submitted gets one reminder, and the
day after the due date one overdue notice — each once (an audit row per grant and period says it was sent), to
every active member of the provider in their own language; a due date older than `NOTICE_WINDOW_DAYS` (45) gets
none (a new deployment does not mail about history)."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import audit, clock, mail
from portal.finance_reports import services
from portal.models import AuditEvent, Call, FinanceReportStatus, FinancialReport, GrantAgreement, User

DUE_DAYS = 30
REMINDER_DAYS = 7
NOTICE_WINDOW_DAYS = 45
SHOWN = 50  # overdue periods listed on the page (the XLSX has them all)
NOTICE_OBJECT = "financial_report_period"


class State(enum.StrEnum):
    ACCEPTED = "accepted"
    SUBMITTED = "submitted"  # waiting for review
    RETURNED = "returned"  # waiting for the provider's correction
    DUE = "due"  # ended, not submitted, the due date not passed yet
    OVERDUE = "overdue"


def due_date(period_end: date) -> date:
    return period_end + timedelta(days=DUE_DAYS)


def state_label(state: State | str) -> str:
    return {"accepted": _("accepted"), "submitted": _("waiting for review"), "returned": _("returned for correction"),
            "due": _("due, not submitted yet"), "overdue": _("overdue")}[str(state)]


@dataclass
class PeriodState:
    agreement_id: int
    number: str
    provider: str
    municipality: str
    period: services.Period
    due: date
    state: State
    days_overdue: int = 0

    @property
    def reference(self) -> str:
        return f"{self.number}/F{self.period.number}"


@dataclass
class Summary:
    today: date
    counts: Counter = field(default_factory=Counter)
    overdue: list[PeriodState] = field(default_factory=list)  # every overdue period, most overdue first
    rows: list[PeriodState] = field(default_factory=list)  # every ended period (the download)

    @property
    def ended(self) -> int:
        return sum(self.counts.values())


def classify(period_end: date, report: Any | None, today: date) -> State | None:
    """The state of an ended period's financial report (None: the period has not ended)."""
    if period_end >= today:
        return None
    if report is not None and report.first_submitted_at is not None:
        if report.accepted_version is not None:
            return State.ACCEPTED
        # Returned, or its correction still a draft: waiting for the provider.
        waiting = report.status in (FinanceReportStatus.RETURNED, FinanceReportStatus.DRAFT)
        return State.RETURNED if waiting else State.SUBMITTED
    return State.OVERDUE if today > due_date(period_end) else State.DUE


def _length(months: int | None) -> int:
    return months if months and 1 <= months <= 12 else services.DEFAULT_PERIOD_MONTHS


def summary(session: Session, actor: User, filters: Any, today: date | None = None) -> Summary:
    """Every ended period of the grants the completeness page shows (its filters and whose grants), classified:
    two statements (the grants with their terms, their financial reports)."""
    from flask_babel import get_locale

    from portal.reports import completeness

    today = today or services.today_in_skopje()
    grants = (completeness._grants(session, actor, filters).join(Call, Call.id == GrantAgreement.call_id)
              .add_columns(Call.finance_period_months.label("months"))).subquery("fgrants")
    suffix = str(get_locale() or "mk")
    suffix = suffix if suffix in ("mk", "sq", "en") else "mk"
    rows = session.execute(sa.select(grants).order_by(grants.c.number)).all()
    reports = {(r.agreement_id, r.period_number): r for r in session.execute(
        sa.select(FinancialReport.agreement_id, FinancialReport.period_number, FinancialReport.status,
                  FinancialReport.first_submitted_at, FinancialReport.accepted_version)
        .where(FinancialReport.agreement_id.in_(sa.select(grants.c.agreement_id)))).all()}
    result = Summary(today)
    for row in rows:
        municipality = getattr(row, f"municipality_{suffix}") or row.municipality_mk
        for period in services.periods_between(row.start_date, row.end_date, _length(row.months)):
            state = classify(period.end, reports.get((row.agreement_id, period.number)), today)
            if state is None:
                break
            due = due_date(period.end)
            item = PeriodState(row.agreement_id, row.number, row.provider, municipality, period, due, state,
                               (today - due).days if state == State.OVERDUE else 0)
            result.counts[state] += 1
            result.rows.append(item)
            if state == State.OVERDUE:
                result.overdue.append(item)
    result.overdue.sort(key=lambda p: (-p.days_overdue, p.number, p.period.number))
    return result


def export_rows(data: Summary) -> tuple[list[str], list[list[Any]]]:
    header = [_("Financial report"), _("Provider"), _("Municipality"), _("Period from"), _("Period to"), _("Due on"),
              _("State"), _("Days overdue")]
    return header, [[p.reference, p.provider, p.municipality, p.period.start, p.period.end, p.due, state_label(p.state),
                     p.days_overdue] for p in data.rows]


# Reminders and overdue notices ------------------------------------------------------------------------------

def queue_notices(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Queue, once each, a reminder `REMINDER_DAYS` before a period's due date and an overdue notice after it, for
    every ended period whose financial report has not been submitted. Run by `flask send-mail` (cron); two runs at
    once are serialised on the programme row, so nothing goes out twice."""
    from portal.calls.services import get_programme

    now = now or clock.now()
    today = clock.utc_to_skopje(now).date()
    get_programme(session, for_update=True)
    counts = {"reminder": 0, "overdue": 0}
    agreements = list(session.scalars(sa.select(GrantAgreement).options(
        sa.orm.selectinload(GrantAgreement.versions), sa.orm.joinedload(GrantAgreement.call))))
    candidates: list[tuple[GrantAgreement, services.Period, str]] = []
    for agreement in agreements:
        for period in services.periods(agreement):
            if period.end >= today:
                break
            due = due_date(period.end)
            if today > due:
                if (today - due).days <= NOTICE_WINDOW_DAYS:
                    candidates.append((agreement, period, "overdue"))
            elif today >= due - timedelta(days=REMINDER_DAYS):
                candidates.append((agreement, period, "reminder"))
    if not candidates:
        return counts
    keys = {f"{a.id}:{p.number}" for a, p, _k in candidates}
    submitted = set(session.execute(sa.select(FinancialReport.agreement_id, FinancialReport.period_number).where(
        FinancialReport.first_submitted_at.is_not(None),
        FinancialReport.agreement_id.in_({a.id for a, _p, _k in candidates}))).all())
    sent = set(session.execute(sa.select(AuditEvent.object_id, AuditEvent.action).where(
        AuditEvent.object_type == NOTICE_OBJECT, AuditEvent.object_id.in_(keys))).all())
    for agreement, period, kind in candidates:
        key = f"{agreement.id}:{period.number}"
        if (agreement.id, period.number) in submitted or (key, f"financial_report.{kind}_sent") in sent:
            continue
        _send(session, agreement, period, kind, key)
        counts[kind] += 1
    return counts


def _send(session: Session, agreement: GrantAgreement, period: services.Period, kind: str, key: str) -> None:
    due = due_date(period.end)
    reference = f"{agreement.number}/F{period.number}"
    members = list(session.scalars(sa.select(User).where(User.organisation_id == agreement.organisation_id,
                                                         User.active.is_(True), User.password_hash.is_not(None))))
    for member in members:
        with force_locale(member.preferred_language):
            subject = (_("Reminder: the financial report %(ref)s is due on %(due)s", ref=reference, due=due.isoformat())
                       if kind == "reminder" else
                       _("Overdue: the financial report %(ref)s was due on %(due)s", ref=reference, due=due.isoformat()))
            body = render_template(f"mail/financial_report_{kind}.txt", user=member, agreement=agreement,
                                   start=period.start.isoformat(), end=period.end.isoformat(), due=due.isoformat())
            mail.queue(session, member.email, subject, body)
    audit.record(session, None, f"financial_report.{kind}_sent", object_type=NOTICE_OBJECT, object_id=key,
                 actor_email="send-mail", after={"agreement": agreement.number, "period": period.number,
                                                 "due": due, "recipients": len(members)})
