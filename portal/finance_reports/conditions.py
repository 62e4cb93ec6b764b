"""Tranche release conditions tied to money (issue 18): the one place that says whether a tranche's financial
conditions are met, with the figures, for the confirmation page, the agreement page and the grants service that
refuses a request or an approval while one is not.

A tranche may carry two conditions (both optional, columns of `tranche`):

- **Financial reports accepted** (`requires_finance_period` = N): the grant's financial reports of periods 1 to N
  are all accepted, without a gap. A submitted or returned report does not count; only a report with an accepted
  version does.
- **Share of the money spent** (`min_spent_pct` = P, 0–100): *spent* is the sum of what the accepted versions of
  the grant's financial reports say was spent (every period, every budget line, eligible or not); *disbursed
  before* is the sum of the ministry's disbursements to the grant in the ledger (reversals included) that are not
  this tranche's own payment — that is, the advance and every earlier tranche paid so far. The condition is met
  when spent × 100 ≥ P × disbursed before, compared exactly in EUR (no rounding): exactly P % is enough, one cent
  less is not. With nothing disbursed before, nothing has to be spent and the condition is met.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.models import (
    Call,
    EntryKind,
    FinanceReportStatus,
    FinancialReport,
    FinancialReportLine,
    FinancialReportVersion,
    LedgerEntry,
    Tranche,
)

CENT = Decimal("0.01")
FINANCE_PERIOD, SPENT_SHARE = "finance_period", "spent_share"


@dataclass
class Condition:
    """One money condition of a tranche: what it asks, whether it is met, and the figures it was decided on."""

    kind: str
    met: bool
    required: Decimal | int
    actual: Decimal | int
    spent: Decimal | None = None
    disbursed: Decimal | None = None

    @property
    def label(self) -> str:
        """What the condition asks, in the reader's language."""
        from portal.i18n import decimal

        if self.kind == FINANCE_PERIOD:
            return _("financial reports accepted up to period %(n)d", n=self.required)
        return _("at least %(pct)s %% of the money disbursed before spent", pct=decimal(self.required))

    @property
    def figures(self) -> str:
        """The figures the decision rests on."""
        from portal.i18n import decimal, money

        if self.kind == FINANCE_PERIOD:
            return _("accepted without a gap up to period %(n)d", n=self.actual)
        share = _("%(pct)s %%", pct=decimal(self.actual)) if self.disbursed else _("nothing disbursed yet")
        return _("spent %(spent)s EUR of %(disbursed)s EUR disbursed before (%(share)s)", spent=money(self.spent),
                 disbursed=money(self.disbursed), share=share)

    @property
    def refusal(self) -> str:
        """Why a release is refused while this condition is not met."""
        from portal.i18n import decimal, money

        if self.kind == FINANCE_PERIOD:
            return _("This tranche needs the financial reports accepted up to period %(n)d; they are accepted up to "
                     "period %(done)d.", n=self.required, done=self.actual)
        return _("This tranche needs at least %(pct)s %% of the money disbursed before it spent according to accepted "
                 "financial reports: %(spent)s EUR of %(disbursed)s EUR is spent.", pct=decimal(self.required),
                 spent=money(self.spent), disbursed=money(self.disbursed))


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


def period_count(call: Call, start: date, end: date) -> int:
    """How many financial reporting periods a grant of `call` running from `start` to `end` has (as
    `services.periods` counts them)."""
    from portal.finance_reports.services import DEFAULT_PERIOD_MONTHS

    months = call.finance_period_months or DEFAULT_PERIOD_MONTHS
    months = months if 1 <= months <= 12 else DEFAULT_PERIOD_MONTHS
    first, count = start.replace(day=1), 0
    while _add_months(first, count * months) <= end:
        count += 1
    return count


def accepted_through(session: Session, agreement_id: int) -> int:
    """The last financial reporting period up to which every period's report is accepted, without a gap."""
    accepted = set(session.scalars(sa.select(FinancialReport.period_number).where(
        FinancialReport.agreement_id == agreement_id, FinancialReport.accepted_version.is_not(None))))
    through = 0
    while through + 1 in accepted:
        through += 1
    return through


def spent_accepted(session: Session, agreement_id: int) -> Decimal:
    """What the accepted versions of the grant's financial reports say was spent, all periods and lines."""
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(FinancialReportLine.spent_eur), 0))
        .join(FinancialReportVersion, FinancialReportVersion.id == FinancialReportLine.version_id)
        .join(FinancialReport, FinancialReport.id == FinancialReportVersion.report_id)
        .where(FinancialReport.agreement_id == agreement_id, FinancialReportVersion.status == FinanceReportStatus.ACCEPTED))
    return Decimal(total or 0).quantize(CENT)


def disbursed_before(session: Session, tranche: Tranche) -> Decimal:
    """The ledger's disbursements to the tranche's grant (reversals included) other than this tranche's own."""
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_eur), 0))
        .where(LedgerEntry.agreement_id == tranche.agreement_id, LedgerEntry.kind == EntryKind.DISBURSEMENT,
               sa.or_(LedgerEntry.tranche_id.is_(None), LedgerEntry.tranche_id != tranche.id)))
    return Decimal(total or 0).quantize(CENT)


def release_conditions(session: Session, tranche: Tranche) -> list[Condition]:
    """The tranche's money conditions (none, one or two), each met or not, with its figures."""
    result: list[Condition] = []
    if tranche.requires_finance_period:
        done = accepted_through(session, tranche.agreement_id)
        result.append(Condition(FINANCE_PERIOD, done >= tranche.requires_finance_period,
                                tranche.requires_finance_period, done))
    if tranche.min_spent_pct is not None:
        spent, disbursed = spent_accepted(session, tranche.agreement_id), disbursed_before(session, tranche)
        pct = Decimal(tranche.min_spent_pct)
        share = (spent * 100 / disbursed).quantize(Decimal("0.01")) if disbursed else Decimal("0")
        result.append(Condition(SPENT_SHARE, spent * 100 >= pct * disbursed, pct, share, spent, disbursed))
    return result


def unmet(session: Session, tranche: Tranche) -> list[Condition]:
    return [c for c in release_conditions(session, tranche) if not c.met]


def validate_row(call: Call, start: date, end: date, position: int, finance_period: int | None,
                 min_spent_pct: Decimal | None) -> list[str]:
    """What is wrong with a tranche's money conditions as typed on the agreement or amendment form."""
    errors: list[str] = []
    if finance_period is not None:
        count = period_count(call, start, end)
        if not 1 <= finance_period <= count:
            errors.append(_("Tranche %(n)d: the financial reporting period must be between 1 and %(count)d, the "
                            "grant's periods.", n=position, count=count))
    if min_spent_pct is not None and (not min_spent_pct.is_finite() or not Decimal(0) <= min_spent_pct <= Decimal(100)
                                      or min_spent_pct != min_spent_pct.quantize(CENT)):
        errors.append(_("Tranche %(n)d: the share spent is a percentage from 0 to 100, with at most two decimals.",
                        n=position))
    return errors
