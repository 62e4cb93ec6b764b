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
    Tranche,
    TrancheStatus,
)

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


def build(session: Session, programme: Programme | None = None) -> Dashboard:
    programme = programme or calls.get_programme(session)
    entries = _entries(session, programme)
    call_rows = {c.id: Row(f"{c.reference} · {c.title()}", allocated=c.allocation_eur)  # calls that can commit
                 for c in session.scalars(sa.select(Call).where(Call.programme_id == programme.id,
                                                                Call.kind == CallKind.GRANT).order_by(Call.id))}
    municipalities = {m.id: m for m in session.scalars(sa.select(Municipality).options(
        sa.orm.joinedload(Municipality.region)))}
    services = _main_service(session, {e[5] for e in entries})
    by_region: dict[str, Row] = {}
    by_municipality: dict[str, Row] = {}
    by_service: dict[str, Row] = {}
    monthly: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    for kind, amount, day, call_id, _agreement, application_id, municipality_id in entries:
        municipality = municipalities.get(municipality_id)
        service = services.get(application_id)
        keys = [(call_rows, call_id, None)] if call_id in call_rows else []
        if municipality is not None:
            keys.append((by_region, municipality.region.name(), municipality.region.name()))
            keys.append((by_municipality, municipality.name(), municipality.name()))
        keys.append((by_service, service.name() if service else "—", service.name() if service else "—"))
        for table, key, label in keys:
            row = table.setdefault(key, Row(label or ""))
            if kind == EntryKind.COMMITMENT:
                row.committed += amount
            else:
                row.disbursed += amount
        monthly[f"{day:%Y-%m}"][0 if kind == EntryKind.COMMITMENT else 1] += amount
    planned = session.execute(sa.select(Tranche.planned_date, Tranche.amount_eur)
                              .join(GrantAgreement, GrantAgreement.id == Tranche.agreement_id)
                              .join(Call, Call.id == GrantAgreement.call_id)
                              .where(Call.programme_id == programme.id, Tranche.status != TrancheStatus.PAID)).all()
    for day, amount in planned:
        monthly[f"{day:%Y-%m}"][2] += amount
    months = [(month, *values) for month, values in sorted(monthly.items())]
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
