"""Grantee financial reports (issue 18): reporting periods, the workflow, the variance rule and the grant's
finance summary — every rule in this one module; the routes only call it.

Transitions (anything else raises `InvalidTransition`):

| newest version | step (who)                                   | result                                    |
|----------------|----------------------------------------------|-------------------------------------------|
| (none)         | start (provider)                             | version 1, draft, a line per budget line  |
| draft          | save / submit (provider)                     | draft / submitted                         |
| submitted      | accept (finance officer or administrator)    | accepted, eligible/ineligible per line    |
| submitted      | return with comments (the same)              | returned                                  |
| returned       | revise (provider)                            | next version, a draft copy; old one kept  |

The variance rule: for every approved budget line, what the grant has spent on it — this report plus the
accepted reports of the grant's other periods — may not be above the line's approved amount plus the call's
allowed variance (`Call.budget_variance_pct`, default 10 %), rounded down to the cent. The approved amount is the
one in force: as awarded, or as the newest approved budget amendment set it (`portal.finance_reports.amendments`).
Amounts are exact decimals in EUR with at most two decimals; negative amounts are refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit, clock
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.finance_reports import entries  # staff lines per month, entry dates, the rate fixed at submission
from portal.models import (
    Application,
    BudgetLine,
    FinanceReportStatus,
    FinancialReport,
    FinancialReportLine,
    FinancialReportVersion,
    GrantAgreement,
    User,
)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_EUR = Decimal("999999999999.99")  # what a MONEY column (14, 2) holds
DEFAULT_PERIOD_MONTHS = 3
DEFAULT_VARIANCE_PCT = Decimal("10.00")
Status = FinanceReportStatus


# Periods -------------------------------------------------------------------------------------------

@dataclass
class Period:
    number: int
    start: date
    end: date


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


def period_months(agreement: GrantAgreement) -> int:
    """The length of a reporting period, set on the grant's call (default 3: quarterly)."""
    months = agreement.call.finance_period_months or DEFAULT_PERIOD_MONTHS
    return months if 1 <= months <= 12 else DEFAULT_PERIOD_MONTHS


def variance_pct(agreement: GrantAgreement) -> Decimal:
    """How far above its approved amount a budget line may go, in percent (set on the call; default 10)."""
    pct = agreement.call.budget_variance_pct
    return pct if pct is not None and ZERO <= pct <= Decimal("100") else DEFAULT_VARIANCE_PCT


def periods(agreement: GrantAgreement) -> list[Period]:
    """The grant's reporting periods under the terms in force: from the first day of its start month, each
    `period_months` long, the last one ending with the grant."""
    terms = agreement.current
    return periods_between(terms.start_date, terms.end_date, period_months(agreement))


def periods_between(start_date: date, end_date: date, length: int) -> list[Period]:
    """The rule of `periods` on plain values (the overdue list reads them for many grants at once)."""
    first = start_date.replace(day=1)
    result, number = [], 1
    while True:
        start = _add_months(first, (number - 1) * length)
        if start > end_date:
            return result
        result.append(Period(number, start, min(_add_months(start, length) - timedelta(days=1), end_date)))
        number += 1


def period_of(agreement: GrantAgreement, number: int) -> Period | None:
    return next((p for p in periods(agreement) if p.number == number), None)


def today_in_skopje() -> date:
    return clock.utc_to_skopje(clock.now()).date()


# Amounts and the variance rule ------------------------------------------------------------------------

def parse_amount(raw: Any) -> Decimal | str:
    """A typed amount in EUR: the Decimal, or the message saying why it is refused. Empty is 0.00."""
    text = str(raw if raw is not None else "").strip().replace(" ", "").replace("\u00a0", "")
    if text == "":
        return ZERO
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return _("Enter an amount in euro, for example 1250.50.")
    if not amount.is_finite() or abs(amount) > MAX_EUR:
        return _("Enter an amount in euro, for example 1250.50.")
    if amount < 0:
        return _("The amount cannot be negative.")
    if amount != amount.quantize(CENT):
        return _("Enter the amount in euro and cents: at most two decimals.")
    return amount.quantize(CENT)


def budget_lines(agreement: GrantAgreement) -> list[BudgetLine]:
    """The approved budget: the lines of the awarded application, in their order."""
    return list(agreement.application.budget_lines)


def line_label(line: BudgetLine) -> str:
    from portal.applications.services import category_label

    return f"{line.position + 1}. {category_label(line.category)}" + (f": {line.description}" if line.description else "")


def line_limit(line: BudgetLine, pct: Decimal, amount: Decimal | None = None) -> Decimal:
    """The most a budget line may take without a further amendment: the approved amount in force (`amount`: the
    line as awarded unless a budget amendment changed it, `amendments.amounts_in_force`) × (100 + pct) / 100, down
    to the cent."""
    approved = line.amount_eur if amount is None else amount
    return (approved * (Decimal(100) + pct) / Decimal(100)).quantize(CENT, rounding=ROUND_DOWN)


def spent_in_other_periods(session: Session, report: FinancialReport) -> dict[int, Decimal]:
    """Per budget line, the expenditure of the grant's other periods as accepted."""
    rows = session.execute(
        sa.select(FinancialReportLine.budget_line_id, sa.func.sum(FinancialReportLine.spent_eur))
        .join(FinancialReportVersion, FinancialReportVersion.id == FinancialReportLine.version_id)
        .join(FinancialReport, FinancialReport.id == FinancialReportVersion.report_id)
        .where(FinancialReport.agreement_id == report.agreement_id, FinancialReport.id != report.id,
               FinancialReportVersion.status == Status.ACCEPTED)
        .group_by(FinancialReportLine.budget_line_id)).all()
    return {line_id: Decimal(total or 0).quantize(CENT) for line_id, total in rows}


def variance_errors(session: Session, report: FinancialReport, spent: dict[int, Decimal]) -> dict[str, list[str]]:
    """The lines whose expenditure, with the other periods' accepted expenditure, is above the allowed amount."""
    from portal.finance_reports.amendments import amounts_in_force
    from portal.i18n import decimal, money

    agreement = report.agreement
    pct, other = variance_pct(agreement), spent_in_other_periods(session, report)
    approved = amounts_in_force(session, agreement)
    errors: dict[str, list[str]] = {}
    for line in budget_lines(agreement):
        total = spent.get(line.id, ZERO) + other.get(line.id, ZERO)
        limit = line_limit(line, pct, approved[line.id])
        if total > limit:
            errors[f"line-{line.id}"] = [_(
                "%(line)s: %(total)s EUR spent up to this period is above the approved %(approved)s EUR plus the "
                "allowed %(pct)s %% (at most %(limit)s EUR). Anything above needs an approved budget amendment.",
                line=line_label(line), total=money(total), approved=money(approved[line.id]), pct=decimal(pct),
                limit=money(limit))]
    return errors


# Reading -----------------------------------------------------------------------------------------------

def report_for(session: Session, agreement_id: int, number: int) -> FinancialReport | None:
    return session.scalar(sa.select(FinancialReport).where(FinancialReport.agreement_id == agreement_id,
                                                           FinancialReport.period_number == number))


def reference(report: FinancialReport) -> str:
    return f"{report.agreement.number}/F{report.period_number}"


def status_label(status: Any) -> str:
    from portal.labels import label

    return label(status, "report_status")


def visible_version(actor: User, report: FinancialReport) -> FinancialReportVersion:
    """The provider sees its newest version, draft included; others the newest version past draft."""
    if access.can_edit_financial_reports_of(actor, report.agreement):
        return report.newest
    return next(v for v in reversed(report.versions) if v.status != Status.DRAFT)


@dataclass
class FigureData:
    """What the provider typed: the expenditure per budget line (raw text), co-financing and the narrative."""

    spent: dict[int, Any] = field(default_factory=dict)
    cofinancing_municipality: Any = ""
    cofinancing_other: Any = ""
    narrative: str = ""
    months: dict[int, dict[date, Any]] = field(default_factory=dict)  # staff lines: month → amount (entries.py)
    dates: dict[int, Any] = field(default_factory=dict)  # other lines: the date of the expense


def data_of(version: FinancialReportVersion) -> FigureData:
    return entries.fill(FigureData(spent={line.budget_line_id: line.spent_eur for line in version.lines},
                                   cofinancing_municipality=version.cofinancing_municipality_eur,
                                   cofinancing_other=version.cofinancing_other_eur, narrative=version.narrative),
                        version.report, version)


def _parsed(data: FigureData, lines: list[BudgetLine]) -> tuple[dict[int, Decimal], Decimal, Decimal]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Decimal] = {}
    for key, raw in [(f"line-{line.id}", data.spent.get(line.id, "")) for line in lines] + [
            ("cofinancing_municipality", data.cofinancing_municipality), ("cofinancing_other", data.cofinancing_other)]:
        parsed = parse_amount(raw)
        if isinstance(parsed, Decimal):
            values[key] = parsed
        else:
            errors[key] = [parsed]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return ({line.id: values[f"line-{line.id}"] for line in lines}, values["cofinancing_municipality"],
            values["cofinancing_other"])


def _summary(version: FinancialReportVersion) -> dict[str, Any]:
    return {"lines": {str(line.budget_line_id): str(line.spent_eur) for line in version.lines},
            "spent": str(version.spent_eur), "cofinancing_municipality": str(version.cofinancing_municipality_eur),
            "cofinancing_other": str(version.cofinancing_other_eur), "narrative": version.narrative,
            **entries.summary(version)}


def _notify(session: Session, report: FinancialReport, template: str, subject: Any,
            version: FinancialReportVersion) -> None:
    """Mail every active member of the provider, each in their own language."""
    from flask import render_template
    from flask_babel import force_locale

    from portal import mail

    ref = reference(report)
    members = session.scalars(sa.select(User).where(User.organisation_id == report.agreement.organisation_id,
                                                    User.active.is_(True), User.password_hash.is_not(None)))
    for member in members:
        with force_locale(member.preferred_language):
            mail.queue(session, member.email, subject(ref),
                       render_template(template, user=member, reference=ref, version=version))


def _flush(session: Session) -> None:
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None


# The workflow ------------------------------------------------------------------------------------------

def start(session: Session, actor: User, agreement: GrantAgreement, number: int) -> FinancialReport:
    """The grant's one financial report for the period: the existing one, or a new draft (version 1) with a line
    for every approved budget line. A period may be reported once it has begun."""
    if not access.can_edit_financial_reports_of(actor, agreement):
        raise NotAllowed()
    period = period_of(agreement, number)
    if period is None:
        raise InvalidTransition(_("This grant has no such reporting period."))
    existing = report_for(session, agreement.id, number)
    if existing is not None:
        return existing
    if period.start > today_in_skopje():
        raise InvalidTransition(_("This reporting period has not begun yet."))
    report = FinancialReport(agreement_id=agreement.id, period_number=number, period_start=period.start,
                             period_end=period.end, created_by_id=actor.id, created_at=clock.now())
    try:
        with session.begin_nested():
            session.add(report)
    except sa.exc.IntegrityError:
        return report_for(session, agreement.id, number)
    lines = budget_lines(agreement)
    with session.no_autoflush:
        version = FinancialReportVersion(report=report, version=1, created_by_id=actor.id, created_at=clock.now())
        version.lines = [FinancialReportLine(budget_line_id=line.id, spent_eur=ZERO) for line in lines]
        session.add(version)
    _flush(session)
    audit.record(session, actor, "financial_report.created", report,
                 after={"agreement": agreement.number, "period": number, "from": period.start, "to": period.end})
    return report


def _newest_draft(report: FinancialReport) -> FinancialReportVersion:
    version = report.newest
    if version.status != Status.DRAFT:
        raise InvalidTransition(_("This financial report has been submitted and can no longer be changed."))
    return version


def save(session: Session, actor: User, report: FinancialReport, data: FigureData,
         edit_version: int | None) -> FinancialReportVersion:
    """Save the draft as typed. The form carries the version it was read from: if the draft changed since (another
    window, another colleague), nothing is written (409). Amounts must be valid and within the variance rule."""
    if not access.can_edit_financial_reports_of(actor, report.agreement):
        raise NotAllowed()
    version = _newest_draft(report)
    if edit_version is None or edit_version != version.edit_version:
        raise Conflict()
    lines = budget_lines(report.agreement)
    spent, municipality, other, plan = entries.parsed(report, data, lines)  # months, dates and amounts
    errors = variance_errors(session, report, spent)
    if errors:
        raise ValidationFailed(field_errors=errors)
    before = _summary(version)
    by_line = {line.budget_line_id: line for line in version.lines}
    version.lines = [by_line.get(line.id) or FinancialReportLine(budget_line_id=line.id) for line in lines]
    for line in version.lines:
        line.spent_eur = spent[line.budget_line_id]
    entries.write(version, plan)
    version.cofinancing_municipality_eur, version.cofinancing_other_eur = municipality, other
    version.narrative = (data.narrative or "").strip()[:8000]
    after = _summary(version)
    if before != after:
        sa.orm.attributes.flag_modified(version, "narrative")  # the version counter moves with every real change
        _flush(session)
        audit.record(session, actor, "financial_report.saved", report, before=before, after=after)
    return version


def submit(session: Session, actor: User, report: FinancialReport) -> FinancialReportVersion:
    """Submit the draft: the variance rule is checked again (another period may have been accepted since)."""
    if not access.can_edit_financial_reports_of(actor, report.agreement):
        raise NotAllowed()
    version = _newest_draft(report)
    errors = variance_errors(session, report, {line.budget_line_id: line.spent_eur for line in version.lines})
    if errors:
        raise ValidationFailed(field_errors=errors)
    entries.fix_rates(session, report, version)  # the rate of each entry's date, fixed while still a draft
    now = clock.now()
    version.status, version.submitted_by_id, version.submitted_at = Status.SUBMITTED, actor.id, now
    report.status, report.last_submitted_at = Status.SUBMITTED, now
    report.first_submitted_at = report.first_submitted_at or now
    _flush(session)
    audit.record(session, actor, "financial_report.submitted", report, before={"status": "draft"},
                 after={"status": "submitted", "version": version.version, **_summary(version)})
    return version


def _submitted(report: FinancialReport) -> FinancialReportVersion:
    version = report.newest
    if version.status != Status.SUBMITTED:
        raise InvalidTransition(_("Only a submitted financial report waiting for review can be accepted or returned."))
    return version


def accept(session: Session, actor: User, report: FinancialReport, ineligible: dict[int, Any] | None = None,
           reasons: dict[int, str] | None = None, comment: str = "") -> FinancialReportVersion:
    """Accept the submitted version, with the ineligible part of each line (default none) and its reason; the
    rest of the line is eligible. One finance officer or administrator decides (no second person needed)."""
    if not access.can_review_financial_reports(actor):
        raise NotAllowed()
    version = _submitted(report)
    ineligible, reasons = ineligible or {}, reasons or {}
    errors: dict[str, list[str]] = {}
    decided: dict[int, Decimal] = {}
    for line in version.lines:
        amount = parse_amount(ineligible.get(line.budget_line_id, ""))
        reason = (reasons.get(line.budget_line_id) or "").strip()
        if not isinstance(amount, Decimal):
            errors[f"ineligible-{line.budget_line_id}"] = [amount]
        elif amount > line.spent_eur:
            errors[f"ineligible-{line.budget_line_id}"] = [
                _("The ineligible part cannot be more than what was spent on the line.")]
        elif amount > 0 and not reason:
            errors[f"reason-{line.budget_line_id}"] = [_("Say why this part of the expenditure is not eligible.")]
        else:
            decided[line.budget_line_id] = amount
    if errors:
        raise ValidationFailed(field_errors=errors)
    now = clock.now()
    for line in version.lines:
        line.ineligible_eur = decided[line.budget_line_id]
        line.eligible_eur = line.spent_eur - line.ineligible_eur
        line.ineligible_reason = (reasons.get(line.budget_line_id) or "").strip()[:2000] if line.ineligible_eur else ""
    version.status = Status.ACCEPTED
    version.reviewed_by_id, version.reviewed_at, version.review_comment = actor.id, now, comment.strip()[:4000]
    report.status, report.accepted_version, report.accepted_at = Status.ACCEPTED, version.version, now
    _flush(session)
    audit.record(session, actor, "financial_report.accepted", report, before={"status": "submitted"},
                 after={"status": "accepted", "version": version.version, "comment": version.review_comment,
                        "ineligible": {str(k): str(v) for k, v in decided.items() if v},
                        "eligible": str(sum((line.eligible_eur for line in version.lines), ZERO))})
    _notify(session, report, "mail/financial_report_accepted.txt",
            lambda ref: _("Financial report %(ref)s accepted", ref=ref), version)
    return version


def return_report(session: Session, actor: User, report: FinancialReport, comment: str) -> FinancialReportVersion:
    """Send the submitted version back with comments; the provider corrects it in a new version."""
    if not access.can_review_financial_reports(actor):
        raise NotAllowed()
    if not (comment or "").strip():
        raise ValidationFailed(field_errors={"comment": [_("Say what the provider has to correct.")]})
    version = _submitted(report)
    version.status = Status.RETURNED
    version.reviewed_by_id, version.reviewed_at, version.review_comment = actor.id, clock.now(), comment.strip()[:4000]
    report.status = Status.RETURNED
    _flush(session)
    audit.record(session, actor, "financial_report.returned", report, before={"status": "submitted"},
                 after={"status": "returned", "version": version.version, "comment": version.review_comment})
    _notify(session, report, "mail/financial_report_returned.txt",
            lambda ref: _("Financial report %(ref)s returned with comments", ref=ref), version)
    return version


def revise(session: Session, actor: User, report: FinancialReport) -> FinancialReportVersion:
    """Start correcting a returned report: the next version, a draft copy; the returned one stays as it was."""
    if not access.can_edit_financial_reports_of(actor, report.agreement):
        raise NotAllowed()
    source = report.newest
    if source.status != Status.RETURNED:
        raise InvalidTransition(_("Only a returned financial report is revised this way."))
    with session.no_autoflush:
        copy = FinancialReportVersion(report=report, version=source.version + 1, created_by_id=actor.id,
                                      created_at=clock.now(), narrative=source.narrative,
                                      cofinancing_municipality_eur=source.cofinancing_municipality_eur,
                                      cofinancing_other_eur=source.cofinancing_other_eur)
        copy.lines = [FinancialReportLine(budget_line_id=line.budget_line_id, spent_eur=line.spent_eur)
                      for line in source.lines]
        for new, old in zip(copy.lines, source.lines, strict=True):
            new.entries = entries.copied(old)
    session.add(copy)
    report.current_version, report.status = copy.version, Status.DRAFT
    _flush(session)
    session.refresh(report, ["versions"])
    audit.record(session, actor, "financial_report.revision_started", report,
                 after={"version": copy.version, "returned_version": source.version})
    return copy


# Lists and the finance summary ----------------------------------------------------------------------------

def provider_agreements(session: Session, actor: User) -> list[GrantAgreement]:
    return list(session.scalars(sa.select(GrantAgreement).where(GrantAgreement.organisation_id == actor.organisation_id)
                                .order_by(GrantAgreement.number)))


STATUSES = [s.value for s in Status if s != Status.DRAFT]


def review_query(status: str) -> sa.Select:
    """Financial reports the ministry reads: never drafts that were never submitted; oldest submission first."""
    query = (sa.select(FinancialReport).where(FinancialReport.first_submitted_at.is_not(None))
             .options(sa.orm.joinedload(FinancialReport.agreement).joinedload(GrantAgreement.application)
                      .joinedload(Application.organisation)))
    if status in STATUSES:
        query = query.where(FinancialReport.status == status)
    return query.order_by(FinancialReport.last_submitted_at.asc(), FinancialReport.id)


@dataclass
class LineFigures:
    label: str
    approved: Decimal
    limit: Decimal
    spent: Decimal = ZERO
    eligible: Decimal = ZERO
    ineligible: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.approved - self.spent


@dataclass
class PeriodRow:
    period: Period
    report: FinancialReport | None


@dataclass
class GrantFinance:
    """A grant's money as of `as_of`: the approved budget and what accepted financial reports say was spent
    (eligible and not), the ministry's commitment and disbursements (ledger), co-financing declared and received."""

    as_of: datetime
    pct: Decimal
    period_months: int
    lines: list[LineFigures]
    committed: Decimal
    disbursed: Decimal
    cofinancing_declared: Decimal
    cofinancing_municipality: Decimal
    cofinancing_other: Decimal
    periods: list[PeriodRow]

    def total(self, name: str) -> Decimal:
        return sum((getattr(line, name) for line in self.lines), ZERO)

    @property
    def cofinancing_received(self) -> Decimal:
        return self.cofinancing_municipality + self.cofinancing_other


def grant_finance(session: Session, agreement: GrantAgreement) -> GrantFinance:
    from portal.grants import ledger

    pct = variance_pct(agreement)
    reports = {r.period_number: r for r in session.scalars(
        sa.select(FinancialReport).where(FinancialReport.agreement_id == agreement.id)
        .options(sa.orm.selectinload(FinancialReport.versions).selectinload(FinancialReportVersion.lines)))}
    from portal.finance_reports.amendments import amounts_in_force

    approved = amounts_in_force(session, agreement)  # as awarded, or as the newest approved budget amendment says
    figures = {line.id: LineFigures(line_label(line), approved[line.id], line_limit(line, pct, approved[line.id]))
               for line in budget_lines(agreement)}
    municipality = other = ZERO
    for report in reports.values():
        version = report.in_force
        if version is None:
            continue
        municipality += version.cofinancing_municipality_eur
        other += version.cofinancing_other_eur
        for line in version.lines:
            row = figures.get(line.budget_line_id)
            if row is not None:
                row.spent += line.spent_eur
                row.eligible += line.eligible_eur or ZERO
                row.ineligible += line.ineligible_eur or ZERO
    today = today_in_skopje()
    rows = [PeriodRow(p, reports.get(p.number)) for p in periods(agreement) if p.start <= today]
    return GrantFinance(as_of=clock.now(), pct=pct, period_months=period_months(agreement), lines=list(figures.values()),
                        committed=ledger.committed_to(session, agreement.id), disbursed=ledger.paid_to(session, agreement.id),
                        cofinancing_declared=agreement.application.cofinancing_eur or ZERO,
                        cofinancing_municipality=municipality, cofinancing_other=other, periods=list(reversed(rows)))


def export_sheets(finance: GrantFinance) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The summary as downloads: the budget lines (with the total) and the grant's totals, each with what it
    measures and as of when."""
    from portal.i18n import local_datetime

    as_of = local_datetime(finance.as_of)
    header = [_("Budget line"), _("Approved (EUR)"), _("Allowed (EUR)"), _("Spent (EUR)"), _("Eligible (EUR)"),
              _("Ineligible (EUR)"), _("Approved minus spent (EUR)")]
    names = ("approved", "limit", "spent", "eligible", "ineligible", "remaining")
    rows: list[list[Any]] = [[line.label, *(getattr(line, name) for name in names)] for line in finance.lines]
    rows.append([_("Total"), *(finance.total(name) for name in names)])
    accepted = _("accepted financial reports only, as of %(when)s", when=as_of)
    totals: list[list[Any]] = [
        [_("approved budget"), finance.total("approved"), _("the budget lines of the awarded application")],
        [_("spent (accepted reports)"), finance.total("spent"), accepted],
        [_("committed"), finance.committed, _("the ledger, as of %(when)s", when=as_of)],
        [_("disbursed by the ministry"), finance.disbursed, _("the ledger, as of %(when)s", when=as_of)],
        [_("Declared in the application"), finance.cofinancing_declared, _("co-financing")],
        [_("Received from the municipality"), finance.cofinancing_municipality, accepted],
        [_("Received from others"), finance.cofinancing_other, accepted],
    ]
    return {_("By budget line"): (header, rows), _("Totals"): ([_("Figure"), _("EUR"), _("Definition")], totals)}


@dataclass
class MoneyPosition:
    """What the grantee's financial reports say before a tranche is released (the tranche's own conditions are in
    `portal.finance_reports.conditions`): the
    periods reported and accepted without a gap, what accepted reports say was spent, what the ministry paid."""

    periods_ended: int
    accepted_through: int
    spent: Decimal
    disbursed: Decimal

    @property
    def spent_share(self) -> Decimal | None:
        """Spent as a percentage of disbursed, to one decimal (None before any payment)."""
        if not self.disbursed:
            return None
        return (self.spent * 100 / self.disbursed).quantize(Decimal("0.1"))


def money_position(session: Session, agreement: GrantAgreement) -> MoneyPosition:
    from portal.finance_reports.conditions import accepted_through, spent_accepted  # the conditions' own figures
    from portal.grants import ledger

    today = today_in_skopje()
    return MoneyPosition(periods_ended=sum(1 for p in periods(agreement) if p.end < today),
                         accepted_through=accepted_through(session, agreement.id),
                         spent=spent_accepted(session, agreement.id), disbursed=ledger.paid_to(session, agreement.id))
