"""Spending and co-financing against plan, per grant, per call and for the whole programme (issue 18), and the
uses of funds by budget category for the quarterly Interim Financial Report.

Every figure is summed by the database (GROUP BY), never by walking reports in Python: one statement for the
totals per call (the programme's and the page's totals are their sums), one for the grants of the page, and one
for the grant calls offered in the filter — whatever the number of grants and reports.

What each figure measures (`DEFINITIONS`, shown with the page and in the downloads):

- approved: the budget lines of the awarded application (the plan);
- spent and eligible: what the accepted version of each financial report says (a report that is a draft,
  submitted and not yet reviewed, or returned counts nothing);
- disbursed: the ministry's payments to the grant in the ledger (reversals subtracted);
- co-financing declared: what the application declared; received: what accepted reports say was received from
  the municipality and from others.

Who sees which rows: `portal.access.finance_overview_scope` (the ministry and the monitors every grant; a
municipality or a provider its own grants only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import access, clock
from portal.models import (
    Application,
    BudgetCategory,
    BudgetLine,
    Call,
    CallKind,
    CallStatus,
    EntryKind,
    FinancialReport,
    FinancialReportLine,
    FinancialReportVersion,
    GrantAgreement,
    LedgerEntry,
    Organisation,
    User,
)
from portal.pagination import Page

ZERO = Decimal("0.00")
FIGURES = ("approved", "spent", "eligible", "disbursed", "cofinancing_declared", "cofinancing_received")
DEFINITIONS = {
    "approved": _l("Approved budget: the budget lines of the awarded application (the plan)."),
    "spent": _l("Spent: what the accepted financial reports say was spent; drafts, reports waiting for review and "
                "returned reports count nothing."),
    "eligible": _l("Eligible: the part of the accepted expenditure the finance officers found eligible."),
    "disbursed": _l("Disbursed: the ministry's payments to the grant in the ledger, reversals subtracted."),
    "cofinancing_declared": _l("Co-financing declared: what the application declared it would bring."),
    "cofinancing_received": _l("Co-financing received: from the municipality and from others, as the accepted "
                               "financial reports say."),
    "spent_share": _l("Spent as a share of the approved budget."),
}


def labels() -> dict[str, str]:
    return {"approved": _("Approved budget (EUR)"), "spent": _("Spent (EUR)"), "eligible": _("Eligible (EUR)"),
            "disbursed": _("Disbursed (EUR)"), "cofinancing_declared": _("Co-financing declared (EUR)"),
            "cofinancing_received": _("Co-financing received (EUR)"), "spent_share": _("Spent of approved (%)")}


@dataclass
class Figures:
    approved: Decimal = ZERO
    spent: Decimal = ZERO
    eligible: Decimal = ZERO
    disbursed: Decimal = ZERO
    cofinancing_declared: Decimal = ZERO
    cofinancing_received: Decimal = ZERO

    @property
    def spent_share(self) -> Decimal | None:
        """Spent as a percentage of the approved budget, to one decimal (None without a budget)."""
        if not self.approved:
            return None
        return (self.spent * 100 / self.approved).quantize(Decimal("0.1"))

    def add(self, other: Figures) -> None:
        for name in FIGURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def values(self) -> list[Any]:
        return [getattr(self, name) for name in FIGURES] + [self.spent_share]


@dataclass
class GrantRow(Figures):
    agreement_id: int = 0
    number: str = ""
    provider: str = ""
    municipality: str = ""
    call: str = ""


@dataclass
class CallRow(Figures):
    call_id: int = 0
    reference: str = ""
    title: str = ""
    grants: int = 0


@dataclass
class Overview:
    as_of: datetime
    call_id: int | None
    calls: list[CallRow]
    rows: list[GrantRow]
    total: Figures
    grants: int
    page: int = 1
    per_page: int = 0

    def page_of_rows(self) -> Page[GrantRow]:
        """The grant rows as the page the pagination macro shows."""
        return Page(items=self.rows, page=self.page, per_page=self.per_page or max(1, self.grants), total=self.grants)


def _money(expression: Any) -> Any:
    return sa.type_coerce(sa.func.coalesce(sa.func.sum(expression), 0), sa.Numeric(14, 2))


def _in_force() -> Any:
    """The version of a report in force: its accepted one."""
    return sa.and_(FinancialReport.id == FinancialReportVersion.report_id,
                   FinancialReportVersion.version == FinancialReport.accepted_version)


def _grants(actor: User, call_id: int | None) -> sa.Select:
    """One row per grant the actor may see, with every figure summed by the database."""
    budget = (sa.select(BudgetLine.application_id, _money(BudgetLine.amount_eur).label("approved"))
              .group_by(BudgetLine.application_id).subquery("budget"))
    spent = (sa.select(FinancialReport.agreement_id, _money(FinancialReportLine.spent_eur).label("spent"),
                       _money(sa.func.coalesce(FinancialReportLine.eligible_eur, 0)).label("eligible"))
             .select_from(FinancialReportLine)
             .join(FinancialReportVersion, FinancialReportVersion.id == FinancialReportLine.version_id)
             .join(FinancialReport, _in_force()).group_by(FinancialReport.agreement_id).subquery("spent"))
    received = (sa.select(FinancialReport.agreement_id,
                          _money(FinancialReportVersion.cofinancing_municipality_eur
                                 + FinancialReportVersion.cofinancing_other_eur).label("received"))
                .select_from(FinancialReportVersion).join(FinancialReport, _in_force())
                .group_by(FinancialReport.agreement_id).subquery("received"))
    paid = (sa.select(LedgerEntry.agreement_id, _money(LedgerEntry.amount_eur).label("disbursed"))
            .where(LedgerEntry.kind == EntryKind.DISBURSEMENT).group_by(LedgerEntry.agreement_id).subquery("paid"))
    provider = sa.orm.aliased(Organisation)
    local = sa.orm.aliased(Organisation)
    query = (sa.select(GrantAgreement.id.label("agreement_id"), GrantAgreement.number, provider.name.label("provider"),
                       local.name.label("municipality"), Call.id.label("call_id"), Call.reference,
                       Call.title_mk, Call.title_sq, Call.title_en,
                       sa.func.coalesce(budget.c.approved, 0).label("approved"),
                       sa.func.coalesce(spent.c.spent, 0).label("spent"),
                       sa.func.coalesce(spent.c.eligible, 0).label("eligible"),
                       sa.func.coalesce(paid.c.disbursed, 0).label("disbursed"),
                       sa.func.coalesce(Application.cofinancing_eur, 0).label("cofinancing_declared"),
                       sa.func.coalesce(received.c.received, 0).label("cofinancing_received"))
             .join(Application, Application.id == GrantAgreement.application_id)
             .join(Call, Call.id == GrantAgreement.call_id)
             .join(provider, provider.id == GrantAgreement.organisation_id)
             .join(local, local.id == GrantAgreement.municipality_org_id)
             .outerjoin(budget, budget.c.application_id == GrantAgreement.application_id)
             .outerjoin(spent, spent.c.agreement_id == GrantAgreement.id)
             .outerjoin(received, received.c.agreement_id == GrantAgreement.id)
             .outerjoin(paid, paid.c.agreement_id == GrantAgreement.id))
    scope = access.finance_overview_scope(actor)
    if scope is not None:
        kind, organisation_id = scope
        column = GrantAgreement.municipality_org_id if kind == "municipality" else GrantAgreement.organisation_id
        query = query.where(column == organisation_id)
    if call_id is not None:
        query = query.where(GrantAgreement.call_id == call_id)
    return query


def _title(row: Any) -> str:
    code = str(get_locale() or "mk")
    return getattr(row, f"title_{code}", None) or row.title_mk


def _figures(target: Figures, row: Any) -> Figures:
    for name in FIGURES:
        setattr(target, name, Decimal(getattr(row, name) or 0).quantize(Decimal("0.01")))
    return target


def call_choices(session: Session) -> list[tuple[int, str]]:
    """The grant calls offered in the filter: every published grant call (a published call's name is public)."""
    return [(call_id, f"{reference} · {title}") for call_id, reference, title in (
        (row.id, row.reference, _title(row)) for row in session.execute(
            sa.select(Call.id, Call.reference, Call.title_mk, Call.title_sq, Call.title_en)
            .where(Call.kind == CallKind.GRANT, Call.status != CallStatus.DRAFT).order_by(Call.reference)))]


def build(session: Session, actor: User, call_id: int | None = None, *, page: int | None = None,
          per_page: int | None = None) -> Overview:
    """The totals per call (and their sum) over every grant the actor sees, and the grant rows: the page's when
    `page` is given, all of them otherwise (the downloads)."""
    grants = _grants(actor, call_id).subquery("grants")
    c = grants.c
    calls: list[CallRow] = []
    total, count = Figures(), 0
    for row in session.execute(
            sa.select(c.call_id, c.reference, c.title_mk, c.title_sq, c.title_en, sa.func.count().label("grants"),
                      *[_money(getattr(c, name)).label(name) for name in FIGURES])
            .group_by(c.call_id, c.reference, c.title_mk, c.title_sq, c.title_en).order_by(c.reference)):
        call = _figures(CallRow(call_id=row.call_id, reference=row.reference, title=_title(row), grants=row.grants), row)
        calls.append(call)
        total.add(call)
        count += row.grants
    ordered = sa.select(grants).order_by(c.reference, c.number, c.agreement_id)
    if page is not None and per_page:
        page = min(max(1, page), max(1, -(-count // per_page)))
        ordered = ordered.limit(per_page).offset((page - 1) * per_page)
    rows = [_figures(GrantRow(agreement_id=row.agreement_id, number=row.number, provider=row.provider,
                              municipality=row.municipality, call=row.reference), row)
            for row in session.execute(ordered)] if count else []
    return Overview(as_of=clock.now(), call_id=call_id, calls=calls, rows=rows, total=total, grants=count,
                    page=page or 1, per_page=per_page or 0)


def export_sheets(data: Overview) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The views as downloads: the grants (with the total), the calls, and what each figure measures, as of when."""
    from portal.i18n import local_datetime

    names = labels()
    figures = [names[name] for name in (*FIGURES, "spent_share")]
    grant_rows: list[list[Any]] = [[r.number, r.provider, r.municipality, r.call, *r.values()] for r in data.rows]
    grant_rows.append([_("Total"), "", "", "", *data.total.values()])
    call_rows: list[list[Any]] = [[r.reference, r.title, r.grants, *r.values()] for r in data.calls]
    call_rows.append([_("Total"), "", data.grants, *data.total.values()])
    as_of = _("As of %(when)s", when=local_datetime(data.as_of))
    definitions: list[list[Any]] = [[names[key], str(text), as_of] for key, text in DEFINITIONS.items()]
    return {
        _("By grant"): ([_("Agreement"), _("Provider"), _("Municipality"), _("Call"), *figures], grant_rows),
        _("By call"): ([_("Call"), _("Title"), _("Grants"), *figures], call_rows),
        _("Definitions"): ([_("Figure"), _("Definition"), _("As of")], definitions),
    }


# The IFR: uses of funds by budget category ------------------------------------------------------------------

def quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def uses_of_funds(session: Session) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
    """Per calendar quarter and budget category: the eligible expenditure of accepted financial reports whose
    period ends in that quarter, the cumulative eligible expenditure up to it, and the approved budget of the
    category over every signed grant (the plan). Summed by the database per period end and category."""
    from portal.applications.services import category_label

    eligible = session.execute(
        sa.select(FinancialReport.period_end, BudgetLine.category,
                  _money(sa.func.coalesce(FinancialReportLine.eligible_eur, 0)))
        .select_from(FinancialReportLine)
        .join(FinancialReportVersion, FinancialReportVersion.id == FinancialReportLine.version_id)
        .join(FinancialReport, _in_force())
        .join(BudgetLine, BudgetLine.id == FinancialReportLine.budget_line_id)
        .group_by(FinancialReport.period_end, BudgetLine.category)).all()
    planned = {str(category): Decimal(amount) for category, amount in session.execute(
        sa.select(BudgetLine.category, _money(BudgetLine.amount_eur))
        .join(GrantAgreement, GrantAgreement.application_id == BudgetLine.application_id)
        .group_by(BudgetLine.category)).all()}
    by_quarter: dict[str, dict[str, Decimal]] = {}
    for period_end, category, amount in eligible:
        cell = by_quarter.setdefault(quarter(period_end), {})
        cell[str(category)] = cell.get(str(category), ZERO) + Decimal(amount)
    used = set(planned) | {key for cells in by_quarter.values() for key in cells}
    categories = [c.value for c in BudgetCategory if c.value in used]  # in the catalogue's order
    running = dict.fromkeys(categories, ZERO)
    rows = []
    for key in sorted(by_quarter):
        for category in categories:
            amount = by_quarter[key].get(category, ZERO)
            running[category] += amount
            rows.append((key, category_label(category), amount, running[category], planned.get(category, ZERO)))
    return rows


def uses_of_funds_header() -> list[str]:
    return [_("Quarter"), _("Budget category"), _("Eligible in the quarter (EUR)"), _("Eligible, cumulative (EUR)"),
            _("Approved budget (EUR)")]


def uses_of_funds_definition() -> str:
    return _("Uses of funds: the eligible expenditure of accepted financial reports, in the calendar quarter their "
             "reporting period ends in, by budget category; cumulative from the first report; the approved budget is "
             "that of every signed grant's budget lines.")
