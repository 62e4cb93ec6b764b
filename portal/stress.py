"""`flask --app wsgi seed-stress`: a national-scale dataset for the benchmark — every local government, 2,000
grants of 60 months each with their monthly reports and disaggregations (≈120,000 reports), the ledger, and the
service-user registers (200,000 people with a few planted duplicates: `portal.stress_register`).

Written with bulk inserts (the services would take hours for this much history); the figures obey every rule
the services enforce, and versions are inserted as drafts and then moved to their status in one statement,
so the freezing triggers hold. Never in production."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import audit
from portal.calls.services import allocated_total, get_programme, rate_on
from portal.demo_reports import split_like
from portal.models import (
    AgreementVersion,
    Application,
    ApplicationStatus,
    AwardDecision,
    Call,
    CallKind,
    CallStatus,
    EntryKind,
    GrantAgreement,
    HardToEmployCategory,
    LedgerEntry,
    MonthlyReport,
    Municipality,
    Organisation,
    OrgKind,
    Outcome,
    ReportHireLine,
    ReportServiceLine,
    ReportVersion,
    Role,
    ServiceType,
    Tranche,
    TrancheStatus,
    User,
)
from portal.models.applications import application_service_type
from portal.organisations.services import edb_check_digit

BATCH = 50  # grants per round of inserts
FIRST_START = date(2020, 12, 1)


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


def _next_ids(session: Session, *models) -> dict:
    return {m: (session.scalar(sa.select(sa.func.max(m.id))) or 0) + 1 for m in models}


def _fix_sequences(session: Session, tables: list[str]) -> None:
    """Explicit ids were inserted: move PostgreSQL's sequences past them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (fixed names)
                                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))


def seed_stress(session: Session, grants: int = 2000, months: int = 60, providers: int = 500, seed: int = 7,
                echo=print, people: int | None = None) -> dict[str, int]:
    """The dataset; `people` different people in the service-user registers (default 100 a grant: 200,000 over
    2,000 grants), built by `portal.stress_register`."""
    rng = random.Random(seed)  # noqa: S311 (reproducible figures, not secrets)
    if session.scalar(sa.select(sa.func.count(GrantAgreement.id))):
        raise RuntimeError("seed-stress builds its dataset in an empty database (no grant agreements yet)")
    programme = get_programme(session)
    now = datetime.now(UTC)
    ministry = session.scalar(sa.select(Organisation).where(Organisation.kind == OrgKind.MINISTRY))
    if ministry is None:
        ministry = Organisation(kind=OrgKind.MINISTRY, name="Министерство (stress)")
        session.add(ministry)
        session.flush()
    admin = session.scalar(sa.select(User).where(User.role == Role.ADMIN).order_by(User.id))
    if admin is None:
        admin = User(email="stress-admin@stress.example", full_name="Stress", role=Role.ADMIN, organisation=ministry)
        session.add(admin)
        session.flush()
    # Every local government gets its municipality organisation.
    taken = set(session.scalars(sa.select(Organisation.municipality_id).where(Organisation.municipality_id.is_not(None))))
    municipalities = list(session.scalars(sa.select(Municipality).order_by(Municipality.id)))
    for m in municipalities:
        if m.id not in taken:
            session.add(Organisation(kind=OrgKind.MUNICIPALITY, name=f"Општина {m.name_mk}", municipality_id=m.id))
    session.flush()
    local_orgs = dict(session.execute(sa.select(Organisation.municipality_id, Organisation.id)
                                      .where(Organisation.kind == OrgKind.MUNICIPALITY)).all())
    provider_ids = []
    for n in range(providers):
        stem = f"49{n:010d}"
        provider = Organisation(kind=OrgKind.PROVIDER, name=f"Давател на услуги {n + 1:03d}",
                                tax_number=stem + str(edb_check_digit(stem)), legal_form="association")
        session.add(provider)
        provider_ids.append(provider)
    session.flush()
    provider_ids = [p.id for p in provider_ids]
    types = list(session.scalars(sa.select(ServiceType).where(ServiceType.active.is_(True)).order_by(ServiceType.sort_order)))
    categories = [c.id for c in session.scalars(sa.select(HardToEmployCategory).order_by(HardToEmployCategory.sort_order))]
    allocation = programme.envelope_eur - allocated_total(session)
    per_grant = (allocation * Decimal("0.95") / grants).quantize(Decimal("0.01"))
    call = Call(programme_id=programme.id, kind=CallKind.GRANT, reference=f"STRESS-{now:%Y%m%d%H%M%S}",
                title_mk="Стрес-тест", title_sq="Test", title_en="Stress test", opens_at=now - timedelta(days=2400),
                closes_at=now - timedelta(days=2300), allocation_eur=allocation, status=CallStatus.DECIDED)
    session.add(call)
    session.flush()
    rate = rate_on(session, date.today())  # noqa: DTZ011 (a rate, whatever the zone)
    counts = {"grants": 0, "reports": 0, "service_lines": 0, "hire_lines": 0, "ledger_entries": 0}
    for first in range(0, grants, BATCH):
        _batch(session, rng, range(first, min(first + BATCH, grants)), months, call, admin, provider_ids, local_orgs,
               municipalities, types, categories, per_grant, rate, counts)
        session.commit()
        if (first // BATCH) % 8 == 0:
            echo(f"  {min(first + BATCH, grants)} grants, {counts['reports']} reports")
    from portal.stress_register import seed_registers

    counts.update(seed_registers(session, rng, grants * 100 if people is None else people, admin.id, echo))
    _fix_sequences(session, ["application", "award_decision", "grant_agreement", "agreement_version", "tranche",
                             "ledger_entry", "monthly_report", "report_version", "report_service_line", "report_hire_line",
                             "register_episode", "register_episode_version"])
    audit.record(session, None, "stress.seeded", object_type="programme", object_id=programme.id, actor_email="seed-stress",
                 after=counts)
    session.commit()
    return counts


def _batch(session, rng, numbers, months, call, admin, provider_ids, local_orgs, municipalities, types, categories,
           per_grant, rate, counts) -> None:
    ids = _next_ids(session, Application, AwardDecision, GrantAgreement, AgreementVersion, Tranche, LedgerEntry,
                    MonthlyReport, ReportVersion, ReportServiceLine, ReportHireLine)
    rows: dict[str, list[dict]] = {k: [] for k in ("application", "types", "award", "agreement", "version", "tranche",
                                                  "ledger", "report", "report_version", "service", "hire")}
    for n in numbers:
        municipality = municipalities[n % len(municipalities)]
        start = _add_months(FIRST_START, n % 12)
        signed = start - timedelta(days=20)
        capacity = rng.randint(20, 80)
        application_id, agreement_id = ids[Application], ids[GrantAgreement]
        ids[Application] += 1
        ids[GrantAgreement] += 1
        offered = rng.sample(types[:6], rng.choice((1, 1, 2)))
        rows["application"].append(dict(id=application_id, call_id=call.id, organisation_id=provider_ids[n % len(provider_ids)],
                                        municipality_org_id=local_orgs[municipality.id], status=ApplicationStatus.AWARDED.value,
                                        reference=f"{call.reference}-{n:05d}", title=f"Услуга {n}",
                                        beneficiaries_per_month=capacity, duration_months=months,
                                        total_eur=per_grant, requested_eur=per_grant))
        rows["types"] += [dict(application_id=application_id, service_type_id=t.id) for t in offered]
        rows["award"].append(dict(id=ids[AwardDecision], application_id=application_id, outcome=Outcome.AWARD.value,
                                  amount_eur=per_grant, reasons="Стрес-тест", decided_by_id=admin.id))
        ids[AwardDecision] += 1
        rows["agreement"].append(dict(id=agreement_id, application_id=application_id, call_id=call.id,
                                      organisation_id=provider_ids[n % len(provider_ids)],
                                      municipality_org_id=local_orgs[municipality.id], number=f"STRESS-{n:05d}",
                                      created_by_id=admin.id))
        rows["version"].append(dict(id=ids[AgreementVersion], agreement_id=agreement_id, version=1, signature_date=signed,
                                    start_date=start, end_date=_add_months(start, months) - timedelta(days=1),
                                    committed_eur=per_grant, created_by_id=admin.id))
        ids[AgreementVersion] += 1
        rows["ledger"].append(dict(id=ids[LedgerEntry], programme_id=call.programme_id, call_id=call.id,
                                   agreement_id=agreement_id, kind=EntryKind.COMMITMENT.value, amount_eur=per_grant,
                                   eur_mkd=rate, amount_mkd=(per_grant * rate).quantize(Decimal("0.01")), entry_date=signed,
                                   created_by_id=admin.id))
        ids[LedgerEntry] += 1
        share = (per_grant / 4).quantize(Decimal("0.01"))
        for position in range(4):
            amount = share if position < 3 else per_grant - 3 * share
            planned = _add_months(start, 15 * position)
            paid = position < 3
            tranche_id = ids[Tranche]
            ids[Tranche] += 1
            rows["tranche"].append(dict(id=tranche_id, agreement_id=agreement_id, position=position + 1, planned_date=planned,
                                        amount_eur=amount, reports_required_through=15 * position,
                                        status=(TrancheStatus.PAID if paid else TrancheStatus.PLANNED).value,
                                        paid_on=planned + timedelta(days=10) if paid else None, bank_reference="STRESS"))
            if paid:
                rows["ledger"].append(dict(id=ids[LedgerEntry], programme_id=call.programme_id, call_id=call.id,
                                           agreement_id=agreement_id, tranche_id=tranche_id,
                                           kind=EntryKind.DISBURSEMENT.value, amount_eur=amount, eur_mkd=rate,
                                           amount_mkd=(amount * rate).quantize(Decimal("0.01")),
                                           entry_date=planned + timedelta(days=10), created_by_id=admin.id))
                ids[LedgerEntry] += 1
        served = rng.randint(capacity // 2, capacity)
        staff = max(3, capacity // 6)
        for month_index in range(months):
            month = _add_months(start, month_index)
            fate = rng.random()
            if fate < 0.01:
                continue  # never submitted: missing
            status = "draft" if fate < 0.02 else "submitted" if fate < 0.04 else "returned" if fate < 0.07 else "accepted"
            report_id, version_id = ids[MonthlyReport], ids[ReportVersion]
            ids[MonthlyReport] += 1
            ids[ReportVersion] += 1
            submitted_at = None if status == "draft" else datetime.combine(
                _add_months(month, 1) + timedelta(days=rng.randint(2, 14)), time(9), tzinfo=UTC)
            left = rng.randint(0, 3)
            new = rng.randint(0, 4)
            served = max(5, min(int(capacity * 1.4), served - left + new))
            rows["report"].append(dict(id=report_id, agreement_id=agreement_id, month=month, month_number=month_index + 1,
                                       status=status, current_version=1,
                                       accepted_version=1 if status == "accepted" else None,
                                       first_submitted_at=submitted_at, last_submitted_at=submitted_at,
                                       accepted_at=submitted_at + timedelta(days=3) if status == "accepted" else None,
                                       submitted_on_time=None if submitted_at is None else submitted_at.day <= 10,
                                       created_by_id=admin.id, created_at=submitted_at or datetime.now(UTC)))
            staff = max(3, staff + rng.choice((-1, 0, 0, 0, 1)))
            women = staff - rng.randint(0, max(1, staff // 4))
            rows["report_version"].append(dict(id=version_id, report_id=report_id, version=1, status="draft",
                                               staff_total=staff, staff_female=women, staff_male=staff - women,
                                               certified_caregivers=staff - 1, narrative="", warnings=[], explanation="",
                                               correction_reason="", created_by_id=admin.id, review_comment="",
                                               submitted_at=submitted_at, submitted_by_id=admin.id if submitted_at else None))
            remaining = served
            for index, service_type in enumerate(offered):
                total = remaining if index == len(offered) - 1 else remaining // 2
                remaining -= total
                female = total * 6 // 10
                young, adult, middle = total // 10, total // 4, total // 3
                disabled = total // 3
                # Everyone is new in a grant's first month; then the month's newcomers join the first service type.
                new_here = total if month_index == 0 else min(total, new if index == 0 else 0)
                new_by_sex = split_like(new_here, [female, total - female])
                new_by_age = split_like(new_here, [young, adult, middle, total - young - adult - middle])
                new_disabled = split_like(new_here, [disabled, total - disabled])[0]
                rows["service"].append(dict(id=ids[ReportServiceLine], version_id=version_id, service_type_id=service_type.id,
                                            total=total, female=female, male=total - female, age_0_17=young,
                                            age_18_64=adult, age_65_79=middle, age_80_plus=total - young - adult - middle,
                                            with_disability=disabled, without_disability=total - disabled,
                                            new_this_month=new_here, new_female=new_by_sex[0], new_male=new_by_sex[1],
                                            new_age_0_17=new_by_age[0], new_age_18_64=new_by_age[1],
                                            new_age_65_79=new_by_age[2], new_age_80_plus=new_by_age[3],
                                            new_with_disability=new_disabled,
                                            new_without_disability=new_here - new_disabled, continuing=total - new_here,
                                            left_this_month=min(left, total), service_hours=total * 30))
                ids[ReportServiceLine] += 1
            hte = min(staff, 4)
            for offset, category in enumerate(rng.sample(categories, 2)):
                count = hte // 2 if offset == 0 else hte - hte // 2
                hired = count if month_index == 0 else 0  # all women, all hired in the grant's first month
                rows["hire"].append(dict(id=ids[ReportHireLine], version_id=version_id, category_id=category, total=count,
                                         female=count, new_this_month=hired, new_female=hired, continuing=count - hired,
                                         note="стрес" if category == categories[-1] else ""))
                ids[ReportHireLine] += 1
        counts["grants"] += 1
    for model, key in ((Application, "application"), (AwardDecision, "award"), (GrantAgreement, "agreement"),
                       (AgreementVersion, "version"), (Tranche, "tranche"), (LedgerEntry, "ledger"),
                       (MonthlyReport, "report"), (ReportVersion, "report_version"), (ReportServiceLine, "service"),
                       (ReportHireLine, "hire")):
        if rows[key]:
            session.execute(sa.insert(model), rows[key])
    session.execute(sa.insert(application_service_type), rows["types"])
    # Versions past draft get their status in one statement (the freezing triggers allow leaving draft).
    first_report = rows["report"][0]["id"] if rows["report"] else 0
    session.execute(sa.update(ReportVersion).where(ReportVersion.report_id >= first_report).values(
        status=sa.select(MonthlyReport.status).where(MonthlyReport.id == ReportVersion.report_id).scalar_subquery()))
    counts["reports"] += len(rows["report"])
    counts["service_lines"] += len(rows["service"])
    counts["hire_lines"] += len(rows["hire"])
    counts["ledger_entries"] += len(rows["ledger"])
