"""Where the envelope stands: totals, breakdowns, the series over time and the quarterly Interim
Financial Report table — all from the ledger, in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.calls import services as calls
from portal.grants import ledger
from portal.models import (
    Application,
    Call,
    CallKind,
    EntryKind,
    GrantAgreement,
    LedgerEntry,
    Municipality,
    Organisation,
    Programme,
    ServiceType,
    Tranche,
    TrancheStatus,
)
from portal.models.applications import application_service_type

ZERO = Decimal("0.00")


@dataclass
class Row:
    label: str
    allocated: Decimal | None = None
    committed: Decimal = ZERO
    disbursed: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return (self.allocated if self.allocated is not None else self.committed) - self.committed


@dataclass
class Dashboard:
    totals: ledger.Totals
    rate: Decimal
    by_call: list[Row]
    by_region: list[Row]
    by_municipality: list[Row]
    by_service: list[Row]
    months: list[tuple[str, Decimal, Decimal, Decimal]] = field(default_factory=list)  # month, committed, paid, planned


def _entries(session: Session, programme: Programme) -> list[Any]:
    return session.execute(
        sa.select(LedgerEntry.kind, LedgerEntry.amount_eur, LedgerEntry.entry_date, LedgerEntry.call_id,
                  GrantAgreement.id, Application.id, Organisation.municipality_id)
        .join(GrantAgreement, GrantAgreement.id == LedgerEntry.agreement_id)
        .join(Application, Application.id == GrantAgreement.application_id)
        .join(Organisation, Organisation.id == GrantAgreement.municipality_org_id)
        .where(LedgerEntry.programme_id == programme.id).order_by(LedgerEntry.entry_date, LedgerEntry.id)).all()


def _main_service(session: Session, application_ids: set[int]) -> dict[int, Any]:
    """Each grant counts under its first service type (no double counting)."""
    if not application_ids:
        return {}
    applications = session.scalars(sa.select(Application).where(Application.id.in_(application_ids))
                                   .options(sa.orm.selectinload(Application.service_types)))
    return {a.id: (a.service_types[0] if a.service_types else None) for a in applications}


def _month(session: Session, column: Any) -> Any:
    """'YYYY-MM' of a date column, in the database's own words."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(column, "YYYY-MM")
    return sa.func.strftime("%Y-%m", column)


def _first_service() -> sa.Subquery:
    """Each application's first service type (catalogue order): a grant counts under it, never twice."""
    rank = sa.func.row_number().over(partition_by=application_service_type.c.application_id,
                                     order_by=(ServiceType.sort_order, ServiceType.id))
    ranked = (sa.select(application_service_type.c.application_id, application_service_type.c.service_type_id,
                        rank.label("rank"))
              .join(ServiceType, ServiceType.id == application_service_type.c.service_type_id).subquery())
    return (sa.select(ranked.c.application_id, ranked.c.service_type_id).where(ranked.c.rank == 1)
            .subquery("first_service"))


def _money(expression: Any) -> Any:
    return sa.type_coerce(sa.func.coalesce(sa.func.sum(expression), 0), sa.Numeric(14, 2))


def _per_month(session: Session, programme: Programme) -> sa.Subquery:
    """Per month: committed, disbursed and the tranches still planned, summed by the database."""
    committed = sa.case((LedgerEntry.kind == EntryKind.COMMITMENT, LedgerEntry.amount_eur), else_=0)
    paid = sa.case((LedgerEntry.kind == EntryKind.COMMITMENT, 0), else_=LedgerEntry.amount_eur)
    entries = (sa.select(_month(session, LedgerEntry.entry_date).label("month"), _money(committed).label("committed"),
                         _money(paid).label("paid"), sa.type_coerce(sa.literal(0), sa.Numeric(14, 2)).label("planned"))
               .join(GrantAgreement, GrantAgreement.id == LedgerEntry.agreement_id)
               .join(Application, Application.id == GrantAgreement.application_id)
               .join(Organisation, Organisation.id == GrantAgreement.municipality_org_id)
               .where(LedgerEntry.programme_id == programme.id).group_by(sa.literal_column("1")))
    planned = (sa.select(_month(session, Tranche.planned_date).label("month"), sa.literal(0).label("committed"),
                         sa.literal(0).label("paid"), _money(Tranche.amount_eur).label("planned"))
               .join(GrantAgreement, GrantAgreement.id == Tranche.agreement_id)
               .join(Call, Call.id == GrantAgreement.call_id)
               .where(Call.programme_id == programme.id, Tranche.status != TrancheStatus.PAID)
               .group_by(sa.literal_column("1")))
    both = sa.union_all(entries, planned).subquery("both")
    return (sa.select(both.c.month, _money(both.c.committed).label("committed"), _money(both.c.paid).label("paid"),
                      _money(both.c.planned).label("planned")).group_by(both.c.month).subquery("months"))


def build(session: Session, programme: Programme | None = None) -> Dashboard:
    """Every breakdown summed by the database (by call, municipality and first service type in one statement, the
    months in another): the statements and the rows fetched do not grow with the ledger."""
    programme = programme or calls.get_programme(session)
    call_rows = {c.id: Row(f"{c.reference} · {c.title()}", allocated=c.allocation_eur)  # calls that can commit
                 for c in session.scalars(sa.select(Call).where(Call.programme_id == programme.id,
                                                                Call.kind == CallKind.GRANT).order_by(Call.id))}
    municipalities = {m.id: m for m in session.scalars(sa.select(Municipality).options(
        sa.orm.joinedload(Municipality.region)))}
    first = _first_service()
    # One scan of the ledger, grouped by call, municipality and first service type at once (a few hundred rows);
    # each breakdown is then a sum over the others.
    sums = session.execute(
        sa.select(LedgerEntry.call_id, Organisation.municipality_id, first.c.service_type_id, LedgerEntry.kind,
                  _money(LedgerEntry.amount_eur))
        .join(GrantAgreement, GrantAgreement.id == LedgerEntry.agreement_id)
        .join(Application, Application.id == GrantAgreement.application_id)
        .join(Organisation, Organisation.id == GrantAgreement.municipality_org_id)
        .outerjoin(first, first.c.application_id == Application.id)
        .where(LedgerEntry.programme_id == programme.id)
        .group_by(LedgerEntry.call_id, Organisation.municipality_id, first.c.service_type_id, LedgerEntry.kind)).all()
    types = {t.id: t for t in session.scalars(sa.select(ServiceType).where(
        ServiceType.id.in_({type_id for _c, _m, type_id, _k, _a in sums if type_id is not None})))}
    by_region: dict[str, Row] = {}
    by_municipality: dict[str, Row] = {}
    by_service: dict[str, Row] = {}
    places = {m.id: (m.region.name(), m.name()) for m in municipalities.values()}  # each name looked up once
    type_names = {type_id: t.name() for type_id, t in types.items()}
    for call_id, municipality_id, type_id, kind, amount in sums:
        amount = Decimal(amount)
        targets: list[tuple[dict, Any, str | None]] = []
        if call_id in call_rows:
            targets.append((call_rows, call_id, None))
        if municipality_id in places:
            region_name, municipality_name = places[municipality_id]
            targets.append((by_region, region_name, region_name))
            targets.append((by_municipality, municipality_name, municipality_name))
        name = type_names.get(type_id, "—")
        targets.append((by_service, name, name))
        for table, row_key, label in targets:
            row = table.setdefault(row_key, Row(label or ""))
            if EntryKind(kind) == EntryKind.COMMITMENT:
                row.committed += amount
            else:
                row.disbursed += amount
    per_month = _per_month(session, programme)
    months = [(month, Decimal(c), Decimal(p), Decimal(t)) for month, c, p, t in session.execute(
        sa.select(per_month).order_by(per_month.c.month))]
    rate = calls.rate_on(session, clock.utc_to_skopje(clock.now()).date())
    return Dashboard(totals=ledger.totals(session, programme), rate=rate, by_call=list(call_rows.values()),
                     by_region=sorted(by_region.values(), key=lambda r: r.label),
                     by_municipality=sorted(by_municipality.values(), key=lambda r: r.label),
                     by_service=sorted(by_service.values(), key=lambda r: -r.committed), months=months)


def cumulative(months: list[tuple[str, Decimal, Decimal, Decimal]]) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """Running totals per month: committed, disbursed, and disbursed plus the tranches planned so far."""
    out, committed, paid, planned = [], ZERO, ZERO, ZERO
    for month, c, p, t in months:
        committed, paid, planned = committed + c, paid + p, planned + t
        out.append((month, committed, paid, paid + planned))
    return out


def quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def ifr(session: Session, programme: Programme | None = None) -> list[tuple]:
    """Interim Financial Report table: disbursements per quarter by call, municipality and service type,
    with the cumulative total and the envelope not yet disbursed after it (envelope − disbursed, the definition
    `ledger.DEFINITIONS["undisbursed"]` shown with it)."""
    programme = programme or calls.get_programme(session)
    entries = [e for e in _entries(session, programme) if e[0] == EntryKind.DISBURSEMENT]
    call_names = {c.id: c.reference for c in session.scalars(sa.select(Call).where(Call.programme_id == programme.id))}
    municipalities = {m.id: m.name() for m in session.scalars(sa.select(Municipality))}
    services = _main_service(session, {e[5] for e in entries})
    grouped: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    for _kind, amount, day, call_id, _agreement, application_id, municipality_id in entries:
        service = services.get(application_id)
        grouped[(quarter(day), call_names.get(call_id, ""), municipalities.get(municipality_id, ""),
                 service.name() if service else "—")] += amount
    rows, running = [], ZERO
    for key in sorted(grouped):
        running += grouped[key]
        rows.append((*key, grouped[key], running, programme.envelope_eur - running))
    return rows
