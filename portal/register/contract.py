"""The contracted number of users and the price per user, checked against the register (issue 16), shown to the
ministry on the tranche page before a release is approved or a payment recorded. Counts only — no identities.

Per grant:
- **the contract**: the application's budget line(s) of the kind *service price per user per month* (`PER_USER`,
  quantity = users, unit cost = the price, months): the contracted users are the quantity (summed over such lines)
  and the price the amount-weighted price per user-month. A grant without such a line is checked against the
  beneficiaries per month of its application, with no price (the money part is left out);
- **per month** of the grant that has ended (Skopje), up to today: the different people the register shows served
  on any day of the month (all services together, withdrawn entries left out), and those above the contracted
  number;
- **the money the register supports**: Σ over those months of min(people, contracted users) × price — people above
  the contracted number are not paid for — beside the per-user budget up to the same month (contracted users × price
  × months), what has been disbursed (the ledger) and the tranche being decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import BudgetCategory, GrantAgreement, RegisterEpisode, RegisterEpisodeVersion
from portal.register.services import today_in_skopje

CENT = Decimal("0.01")


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


@dataclass
class MonthCount:
    month: date
    people: int
    over: int  # people above the contracted number (0 when within it)


@dataclass
class ContractCheck:
    as_of: date  # Skopje day the figures were read
    register_required: bool
    contracted_users: int | None
    price_eur: Decimal | None  # per user per month
    per_user_budget_eur: Decimal | None  # the per-user budget lines in full
    months: list[MonthCount] = field(default_factory=list)  # the grant's ended months, oldest first
    disbursed_eur: Decimal = Decimal("0.00")
    requested_eur: Decimal | None = None  # the tranche being decided
    episodes: int = 0  # in the register, withdrawn ones left out

    @property
    def shown(self) -> bool:
        """Worth showing: the call requires a register, or the provider keeps one anyway."""
        return self.register_required or self.episodes > 0

    @property
    def months_over(self) -> list[MonthCount]:
        return [m for m in self.months if m.over]

    @property
    def person_months(self) -> int:
        return sum(m.people for m in self.months)

    @property
    def paid_person_months(self) -> int:
        """Person-months up to the contracted number each month."""
        cap = self.contracted_users
        return sum(m.people if cap is None else min(m.people, cap) for m in self.months)

    @property
    def supported_eur(self) -> Decimal | None:
        if self.price_eur is None:
            return None
        return (self.price_eur * self.paid_person_months).quantize(CENT)

    @property
    def budget_to_date_eur(self) -> Decimal | None:
        """The per-user budget for the months counted: contracted users × price × months."""
        if self.price_eur is None or self.contracted_users is None:
            return None
        return (self.price_eur * self.contracted_users * len(self.months)).quantize(CENT)

    @property
    def shortfall_eur(self) -> Decimal | None:
        """How much less than the per-user budget to date the register supports (0 when it supports all of it)."""
        if self.supported_eur is None or self.budget_to_date_eur is None:
            return None
        return max(self.budget_to_date_eur - self.supported_eur, Decimal("0.00"))


def _contract(agreement: GrantAgreement) -> tuple[int | None, Decimal | None, Decimal | None]:
    """(contracted users, price per user-month, the per-user lines' amount) from the application's budget."""
    lines = [line for line in agreement.application.budget_lines if line.category == BudgetCategory.PER_USER]
    if not lines:
        return agreement.application.beneficiaries_per_month, None, None
    users = sum((line.quantity for line in lines), Decimal("0"))
    if users <= 0:
        return None, None, None
    price = (sum((line.quantity * line.unit_cost_eur for line in lines), Decimal("0")) / users).quantize(CENT)
    return int(users), price, sum((line.amount_eur for line in lines), Decimal("0")).quantize(CENT)


def _episodes(session: Session, agreement: GrantAgreement) -> list[tuple[str, date, date | None]]:
    """(person key, start, end) of the current version of every episode not withdrawn."""
    version = RegisterEpisodeVersion
    rows = session.execute(
        sa.select(RegisterEpisode.person_key, version.start_date, version.end_date)
        .join(version, sa.and_(version.episode_id == RegisterEpisode.id, version.version == RegisterEpisode.current_version))
        .where(RegisterEpisode.agreement_id == agreement.id, version.withdrawn.is_(False))).all()
    return [(key, start, end) for key, start, end in rows]


def people_per_month(rows: list[tuple[str, date, date | None]], first: date, last: date) -> dict[date, int]:
    """{month: different people served on any day of it} for the months from `first` to `last` (first days)."""
    result: dict[date, int] = {}
    month = first
    while month <= last:
        following = _next_month(month)
        end = following - timedelta(days=1)
        result[month] = len({key for key, start, stop in rows if start <= end and (stop is None or stop >= month)})
        month = following
    return result


def contract_check(session: Session, agreement: GrantAgreement, requested: Decimal | None = None) -> ContractCheck:
    """The check for one grant, as of today in Skopje (see the module's docstring)."""
    from portal.grants import ledger

    today = today_in_skopje()
    terms = agreement.current
    first = terms.start_date.replace(day=1)
    last = min(terms.end_date.replace(day=1), (today.replace(day=1) - timedelta(days=1)).replace(day=1))
    users, price, budget = _contract(agreement)
    rows = _episodes(session, agreement)
    counts = people_per_month(rows, first, last) if last >= first else {}
    months = [MonthCount(month, people, max(people - users, 0) if users is not None else 0)
              for month, people in sorted(counts.items())]
    return ContractCheck(as_of=today, register_required=bool(agreement.call.register_required), contracted_users=users,
                         price_eur=price, per_user_budget_eur=budget, months=months,
                         disbursed_eur=ledger.paid_to(session, agreement.id), requested_eur=requested,
                         episodes=len(rows))
