"""Demo data, the grantee financial reports (issue 18): the first quarter of both signed pilot grants, through the
services as it happened — Достоинство's accepted with a small ineligible part; Сончев зрак's returned with comments
and accepted once corrected (both versions kept); Достоинство's second quarter waiting for review once it has
ended. Every amount obeys the variance rule (the vehicle costs a little more than budgeted, within the 10 %)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.demo import _at
from portal.models import GrantAgreement, User

CENT = Decimal("0.01")
RETURN_COMMENT = ("Фактурата за обуката (6.500,00 EUR) не одговара на договорот со центарот за обука (6.200,00 EUR). "
                  "Исправете го износот и прикачете ја фактурата.")
INELIGIBLE_REASON = "Банкарските провизии не се прифатлив трошок според договорот."


def _spent(agreement: GrantAgreement, line, quarter: int, corrected: bool) -> Decimal:
    months = agreement.application.duration_months or 24
    if line.category in ("per_user", "staff"):
        return (line.amount_eur * 3 / months).quantize(CENT, rounding=ROUND_DOWN)
    if quarter > 1:
        return Decimal("0.00")
    if line.category == "equipment":
        return (line.amount_eur * Decimal("1.068")).quantize(CENT, rounding=ROUND_DOWN)  # within the 10 % allowed
    if line.category == "training" and agreement.number == "SSIP-GA-2026-002" and corrected:
        return (line.amount_eur - Decimal("300.00")).quantize(CENT)
    return line.amount_eur


def _figures(agreement: GrantAgreement, lines: list, quarter: int, corrected: bool, municipality: Decimal):
    """Staff lines per month (the quarter's amount in equal parts, the cents left over in the last month); every
    other line dated the 20th day of the quarter (its invoices)."""
    from portal.finance_reports import services as finance

    period = finance.period_of(agreement, quarter)
    spent = {line.id: _spent(agreement, line, quarter, corrected) for line in lines}
    months, dates = {}, {}
    for line in lines:
        if line.category == "staff":
            chosen, month = [], period.start
            while month <= period.end:
                chosen.append(month)
                month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            part = (spent[line.id] / len(chosen)).quantize(CENT, rounding=ROUND_DOWN)
            months[line.id] = {m: part for m in chosen[:-1]} | {chosen[-1]: spent[line.id] - part * (len(chosen) - 1)}
        else:
            dates[line.id] = min(period.start + timedelta(days=19), period.end).isoformat()
    return finance.FigureData(
        spent=spent, months=months, dates=dates,
        cofinancing_municipality=municipality, cofinancing_other=Decimal("0.00"),
        narrative="Трошоците се според работниот план; фактурите и изводите се чуваат кај давателот.")


def demo_finance_reports(session: Session) -> int:
    from portal.finance_reports import services as finance
    from portal.models import FinancialReport

    if session.scalar(sa.select(FinancialReport.id).limit(1)) is not None:
        return 0
    finance_officer = session.scalar(sa.select(User).where(User.email == "finance@demo.example"))
    added = 0
    for number, quarters in (("SSIP-GA-2026-001", (1, 2)), ("SSIP-GA-2026-002", (1,))):
        agreement = session.scalar(sa.select(GrantAgreement).where(GrantAgreement.number == number))
        if agreement is None or finance_officer is None:
            continue
        provider = session.scalar(sa.select(User).where(User.organisation_id == agreement.organisation_id,
                                                        User.email.like("%@demo.example")).order_by(User.id))
        lines = finance.budget_lines(agreement)
        municipality_share = ((agreement.application.cofinancing_eur or Decimal("0")) * 3
                              / (agreement.application.duration_months or 24)).quantize(CENT, rounding=ROUND_DOWN)
        for quarter in quarters:
            period = finance.period_of(agreement, quarter)
            if period is None or period.end >= finance.today_in_skopje():
                continue  # a quarter is reported once it has ended
            due = datetime.combine(period.end + timedelta(days=20), time(9, 15), tzinfo=UTC)
            submitted = min(due, utcnow() - timedelta(hours=2))
            returned = number == "SSIP-GA-2026-002"

            with _at(submitted):
                report = finance.start(session, provider, agreement, quarter)
                first = _figures(agreement, lines, quarter, not returned, municipality_share)
                finance.save(session, provider, report, first, report.newest.edit_version)
                finance.submit(session, provider, report)
                added += 1
            if quarter == 2:
                continue  # waiting for review
            review_at = min(submitted + timedelta(days=4), utcnow() - timedelta(hours=1))
            if returned:
                with _at(review_at):
                    finance.return_report(session, finance_officer, report, RETURN_COMMENT)
                corrected_at = min(review_at + timedelta(days=2), utcnow() - timedelta(minutes=40))
                with _at(corrected_at):
                    version = finance.revise(session, provider, report)
                    corrected = _figures(agreement, lines, quarter, True, municipality_share)
                    finance.save(session, provider, report, corrected, version.edit_version)
                    finance.submit(session, provider, report)
                review_at = min(corrected_at + timedelta(days=1), utcnow() - timedelta(minutes=20))
                with _at(review_at):
                    finance.accept(session, finance_officer, report, comment="Прифатено по исправката.")
            else:
                per_user = next((line for line in lines if line.category == "per_user"), None)
                ineligible = {per_user.id: "45.00"} if per_user is not None else {}
                with _at(review_at):
                    finance.accept(session, finance_officer, report, ineligible,
                                   {line_id: INELIGIBLE_REASON for line_id in ineligible})
    session.flush()
    return added
