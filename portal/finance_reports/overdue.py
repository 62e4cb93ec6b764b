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
    overdue: list[PeriodState] = field(default_factory=list)  # overdue periods, most overdue first (all, or the page's)
    rows: list[PeriodState] = field(default_factory=list)  # every ended period (the download; empty for the page)

    @property
    def ended(self) -> int:
        return sum(self.counts.values())

    @property
    def overdue_count(self) -> int:
        """Every overdue period, also when `overdue` holds only the first few (the page)."""
        return self.counts[State.OVERDUE]


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


# The rule of `classify` and `services.periods_between` in SQL, on month numbers (year × 12 + month − 1): period n
# of a grant starting in month m0 covers the months m0 + (n − 1)·L … m0 + n·L − 1 and ends on the last day of its
# last month, or with the grant. Its end is before a day d when the grant ends before d or its last month is before
# d's month — so the periods ended by `today` are 1 … E and those past their due date (ended before today − 30
# days) 1 … P, two numbers per grant computed without listing its periods.

def _month_number(day: Any) -> sa.ColumnElement:
    return (sa.cast(sa.extract("year", day), sa.Integer) * 12 + sa.cast(sa.extract("month", day), sa.Integer) - 1)


def _ended_before(grants: Any, day: date, count: sa.ColumnElement) -> sa.ColumnElement:
    """How many of each grant's periods end before `day` (the first that many)."""
    months_before = day.year * 12 + day.month - 1 - grants.c.m0  # whole months of the grant before day's month
    return sa.case((grants.c.end_date < day, count), (months_before < grants.c.length, 0),
                   else_=months_before // grants.c.length)


def _days_in_month(month: sa.ColumnElement) -> sa.ColumnElement:
    year, number = month // 12, month % 12 + 1
    leap = sa.and_(year % 4 == 0, sa.or_(year % 100 != 0, year % 400 == 0))
    return sa.case((number.in_((4, 6, 9, 11)), 30), (number == 2, sa.case((leap, 29), else_=28)), else_=31)


def _periods_of_grants(session: Session, actor: User, filters: Any, today: date) -> sa.CTE:
    """The grants the completeness page shows, each with its terms, its period length, and E (periods ended) and
    P (periods past their due date)."""
    from portal.reports import completeness

    base = (completeness._grants(session, actor, filters).join(Call, Call.id == GrantAgreement.call_id)
            .add_columns(Call.finance_period_months.label("months"))).subquery("fgrants")
    length = sa.case((base.c.months.between(1, 12), base.c.months), else_=services.DEFAULT_PERIOD_MONTHS)
    measured = sa.select(base, length.label("length"), _month_number(base.c.start_date).label("m0"),
                         _month_number(base.c.end_date).label("me")).subquery("measured")
    count = sa.case((measured.c.me >= measured.c.m0, (measured.c.me - measured.c.m0) // measured.c.length + 1), else_=0)
    day = sa.cast(sa.extract("day", measured.c.end_date), sa.Integer)
    end_key = measured.c.me * 32 + sa.case((day == _days_in_month(measured.c.me), 31), else_=day)
    return sa.select(measured, end_key.label("end_key"), _ended_before(measured, today, count).label("ended"),
                     _ended_before(measured, today - timedelta(days=DUE_DAYS), count).label("past_due")).cte("fperiods")


def _submitted() -> sa.Subquery:
    r = FinancialReport
    state = sa.case((r.accepted_version.is_not(None), State.ACCEPTED.value),
                    (r.status.in_((FinanceReportStatus.RETURNED, FinanceReportStatus.DRAFT)), State.RETURNED.value),
                    else_=State.SUBMITTED.value)
    return (sa.select(r.agreement_id, r.period_number, state.label("state"))
            .where(r.first_submitted_at.is_not(None)).subquery("submitted"))


def _counts(session: Session, grants: sa.CTE) -> Counter:
    """The ended periods per state, in one statement: the submitted ones are their reports (by state), the others
    are due or overdue by the grant's numbers E and P less the reports submitted for those periods."""
    submitted = _submitted()
    g = grants.c
    per_state = (sa.select(submitted.c.state, sa.func.count().label("n"),
                           sa.func.sum(sa.case((submitted.c.period_number <= g.past_due, 1), else_=0)).label("past_due"))
                 .select_from(grants).join(submitted, sa.and_(submitted.c.agreement_id == g.agreement_id,
                                                              submitted.c.period_number <= g.ended))
                 .group_by(submitted.c.state))
    totals = sa.select(sa.literal("", sa.String).label("state"), sa.func.coalesce(sa.func.sum(g.ended), 0),
                       sa.func.coalesce(sa.func.sum(g.past_due), 0))
    counts: Counter = Counter()
    ended = past_due = 0
    for state, n, late in session.connection().execute(sa.union_all(totals, per_state)):
        if state == "":
            ended, past_due = int(n), int(late)
        else:
            counts[State(state)] += int(n)
            past_due -= int(late)
            ended -= int(n)
    # `ended` now holds the unsubmitted ended periods and `past_due` the unsubmitted past due ones
    counts[State.OVERDUE] += past_due
    counts[State.DUE] += ended - past_due
    return +counts


def _code_point_order(session: Session, column: sa.ColumnElement) -> sa.ColumnElement:
    """Grant numbers compared as Python compares strings (PostgreSQL's collation may not)."""
    return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column


def _overdue(session: Session, grants: sa.CTE, today: date, suffix: str, limit: int | None) -> list[PeriodState]:
    """The overdue periods, the longest overdue (the earliest end) first, then by grant number and period: each
    grant's periods 1 … P less those with a submitted report, in one statement (at most `limit`)."""
    g = grants.c
    numbers = sa.select(sa.literal(1, sa.Integer).label("n")).cte("numbers", recursive=True)
    numbers = numbers.union_all(sa.select(numbers.c.n + 1).where(
        numbers.c.n < sa.select(sa.func.max(g.past_due)).scalar_subquery()))
    submitted = _submitted()
    last_month = g.m0 + numbers.c.n * g.length - 1
    # the end as a sortable number, month × 32 + day, a month's last day as 31: the grant's own end (`end_key`)
    # when the grant ends within the period's last month, else that month's last day
    end_key = sa.case((g.me <= last_month, g.end_key), else_=last_month * 32 + 31)
    listed = numbers.c.n <= g.past_due
    if limit:
        # A bound on the periods worth listing: a grant with s submitted reports has an unsubmitted period among
        # its first s + 1, so when that period is past due the grant has an overdue period ending by its end;
        # the `limit`-th smallest of those ends (X) is at or after the end of every period listed, and a period
        # starting in a month after X's ends after X.
        per_grant = (sa.select(submitted.c.agreement_id, sa.func.count().label("n"))
                     .group_by(submitted.c.agreement_id).subquery("per_grant"))
        counted = (sa.select(g.m0, g.me, g.length, g.end_key, g.past_due,
                             (sa.func.coalesce(per_grant.c.n, 0) + 1).label("j"))
                   .select_from(grants).outerjoin(per_grant, per_grant.c.agreement_id == g.agreement_id)
                   .subquery("counted"))
        c = counted.c
        j_month = c.m0 + c.j * c.length - 1
        bounded = sa.select(sa.case((c.me <= j_month, c.end_key), else_=j_month * 32 + 31).label("key")).where(
            c.j <= c.past_due).subquery("bounded")
        threshold = (sa.select(bounded.c.key).order_by(bounded.c.key).limit(1).offset(limit - 1)
                     .scalar_subquery())
        # period n starts in month m0 + (n − 1)·L; the listed ones start by X's month (X // 32; no X: no bound)
        listed = sa.and_(listed, g.m0 + (numbers.c.n - 1) * g.length <= sa.func.coalesce(threshold // 32, 10 ** 6))
    query = (sa.select(g.agreement_id, g.number, g.provider, g.municipality_mk, getattr(g, f"municipality_{suffix}"),
                       g.start_date, g.end_date, g.length, numbers.c.n)
             .select_from(grants).join(numbers, listed)
             .where(sa.tuple_(g.agreement_id, numbers.c.n).not_in(
                 sa.select(submitted.c.agreement_id, submitted.c.period_number)))
             .order_by(end_key, _code_point_order(session, g.number), numbers.c.n))
    if limit is not None:
        query = query.limit(limit)
    result = []
    for row in session.connection().execute(query):
        period = services.periods_between(row.start_date, row.end_date, row.length)[row.n - 1]
        due = due_date(period.end)
        result.append(PeriodState(row.agreement_id, row.number, row.provider, row[4] or row.municipality_mk, period,
                                  due, State.OVERDUE, (today - due).days))
    return result


def summary(session: Session, actor: User, filters: Any, today: date | None = None, *,
            shown: int | None = None) -> Summary:
    """The ended periods of the grants the completeness page shows (its filters and whose grants): the counts per
    state and the overdue periods classified and counted by the database — two statements whatever the number of
    grants; with `shown` (the page) only the first `shown` overdue periods are read and no `rows`. Without it also
    `rows`, every ended period (the download): a third statement and a loop over every grant's periods."""
    from flask_babel import get_locale

    today = today or services.today_in_skopje()
    suffix = str(get_locale() or "mk")
    suffix = suffix if suffix in ("mk", "sq", "en") else "mk"
    grants = _periods_of_grants(session, actor, filters, today)
    result = Summary(today, _counts(session, grants), _overdue(session, grants, today, suffix, shown))
    if shown is None:
        result.rows = _rows(session, grants, today, suffix)
    return result


def _rows(session: Session, grants: sa.CTE, today: date, suffix: str) -> list[PeriodState]:
    """Every ended period, classified in Python by `classify` (the download)."""
    g = grants.c
    r = FinancialReport
    reports = {(row.agreement_id, row.period_number): row for row in session.execute(
        sa.select(r.agreement_id, r.period_number, r.status, r.first_submitted_at, r.accepted_version)
        .where(r.agreement_id.in_(sa.select(g.agreement_id)))).all()}
    rows = session.execute(sa.select(g.agreement_id, g.number, g.provider, g.municipality_mk,
                                     getattr(g, f"municipality_{suffix}"), g.start_date, g.end_date, g.length)
                           .order_by(g.number)).all()
    result = []
    for row in rows:
        municipality = row[4] or row.municipality_mk
        for period in services.periods_between(row.start_date, row.end_date, row.length):
            state = classify(period.end, reports.get((row.agreement_id, period.number)), today)
            if state is None:
                break
            due = due_date(period.end)
            result.append(PeriodState(row.agreement_id, row.number, row.provider, municipality, period, due, state,
                                      (today - due).days if state == State.OVERDUE else 0))
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
