"""Fifty real parallel connections on PostgreSQL against the same grant month: one report row (the unique
constraint decides), and one submission (the version counter decides) — never two."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.errors import Conflict, InvalidTransition
from portal.models import (
    AgreementVersion,
    Application,
    ApplicationStatus,
    AuditEvent,
    Call,
    CallKind,
    CallStatus,
    GrantAgreement,
    MonthlyReport,
    OrgKind,
    Programme,
    ReportVersion,
    Role,
    ServiceType,
    User,
    VersionStatus,
)
from portal.reports import services as reports
from tests import factories
from tests.conftest import is_postgres

PARALLEL = 50
MONTH = date(2019, 3, 1)


@pytest.fixture
def isolated(base_app):
    """A programme, call and agreement of their own (2019–2020, so no reminder or list of the other tests
    sees them), committed for real; removed again afterwards — the reports with the freezing triggers
    suspended for that one transaction."""
    if not is_postgres():
        pytest.skip("parallel connections racing for one row are proven on PostgreSQL")
    base = base_app.extensions["db_engine"]
    engine = sa.create_engine(base.url, pool_size=PARALLEL + 5, max_overflow=0)
    with base_app.app_context(), Session(engine) as setup:
        provider, municipality = factories.org(setup, OrgKind.PROVIDER), factories.org(setup, OrgKind.MUNICIPALITY)
        users = [factories.user(setup, Role.PROVIDER, provider).id for _ in range(3)]
        ministry = factories.org(setup, OrgKind.MINISTRY)
        admin = factories.user(setup, Role.ADMIN, ministry)
        programme = Programme(name="Reports race", loan_reference="TEST", envelope_eur=Decimal("1000.00"))
        setup.add(programme)
        setup.flush()
        now = clock.now()
        call = Call(programme_id=programme.id, kind=CallKind.GRANT, reference=f"RACE-{now:%H%M%S%f}", title_mk="Т",
                    title_sq="T", title_en="T", opens_at=now - timedelta(days=2), closes_at=now, allocation_eur=Decimal("1000.00"),
                    status=CallStatus.DECIDED)
        setup.add(call)
        setup.flush()
        application = Application(call_id=call.id, organisation_id=provider.id, municipality_org_id=municipality.id,
                                  status=ApplicationStatus.AWARDED, beneficiaries_per_month=40)
        application.service_types = [setup.scalar(sa.select(ServiceType).where(ServiceType.code == "home_help_care"))]
        setup.add(application)
        setup.flush()
        agreement = GrantAgreement(application_id=application.id, call_id=call.id, organisation_id=provider.id,
                                   municipality_org_id=municipality.id, number=call.reference, created_by_id=admin.id)
        setup.add(agreement)
        setup.flush()
        setup.add(AgreementVersion(agreement_id=agreement.id, version=1, signature_date=date(2019, 1, 10),
                                   start_date=date(2019, 2, 1), end_date=date(2020, 12, 31),
                                   committed_eur=Decimal("1000.00"), created_by_id=admin.id))
        setup.commit()
        ids = {"agreement": agreement.id, "users": users, "application": application.id, "call": call.id,
               "programme": programme.id}
    yield base_app, engine, ids
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))  # the freezing triggers stay out
        versions = sa.select(ReportVersion.id).join(MonthlyReport).where(MonthlyReport.agreement_id == ids["agreement"])
        for table in ("report_service_line", "report_hire_line"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE version_id IN "  # noqa: S608 (table names from the code)
                                 f"({versions.compile(compile_kwargs={'literal_binds': True})})"))
        conn.execute(sa.delete(ReportVersion).where(ReportVersion.report_id.in_(
            sa.select(MonthlyReport.id).where(MonthlyReport.agreement_id == ids["agreement"]))))
        conn.execute(sa.delete(MonthlyReport).where(MonthlyReport.agreement_id == ids["agreement"]))
        conn.execute(sa.delete(AgreementVersion).where(AgreementVersion.agreement_id == ids["agreement"]))
        conn.execute(sa.delete(GrantAgreement).where(GrantAgreement.id == ids["agreement"]))
        conn.execute(sa.text("DELETE FROM application_service_type WHERE application_id = :id"), {"id": ids["application"]})
        conn.execute(sa.delete(Application).where(Application.id == ids["application"]))
        conn.execute(sa.delete(Call).where(Call.id == ids["call"]))
        conn.execute(sa.delete(Programme).where(Programme.id == ids["programme"]))
    engine.dispose()


def _race(app, engine, work):
    """Run `work(session)` in PARALLEL threads, each on its own connection, released at the same moment."""
    barrier = threading.Barrier(PARALLEL)

    def attempt(n: int):
        with app.test_request_context(), Session(engine) as session:
            session.execute(sa.text("SELECT 1"))  # hold a connection before the start
            barrier.wait(timeout=60)
            try:
                result = work(session, n)
                session.commit()
                return result
            except (Conflict, InvalidTransition) as refused:
                session.rollback()
                return refused

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(attempt, range(PARALLEL)))


def test_50_parallel_starts_of_the_same_month_give_one_report(isolated):
    app, engine, ids = isolated

    def start(session, n):
        user = session.get(User, ids["users"][n % len(ids["users"])])
        return reports.start(session, user, session.get(GrantAgreement, ids["agreement"]), MONTH).id

    results = _race(app, engine, start)
    assert len(set(results)) == 1 and all(isinstance(r, int) for r in results)
    with Session(engine) as check:
        assert check.scalar(sa.select(sa.func.count()).select_from(MonthlyReport)
                            .where(MonthlyReport.agreement_id == ids["agreement"])) == 1
        assert check.scalar(sa.select(sa.func.count()).select_from(ReportVersion).join(MonthlyReport)
                            .where(MonthlyReport.agreement_id == ids["agreement"])) == 1


def test_50_parallel_submissions_of_the_same_month_give_one(isolated):
    app, engine, ids = isolated

    def start_fill_and_submit(session, n):
        user = session.get(User, ids["users"][n % len(ids["users"])])
        agreement = session.get(GrantAgreement, ids["agreement"])
        report = reports.start(session, user, agreement, MONTH)
        reports.save(session, user, report, factories.report_data(session, agreement, served=20 + n % 5),
                     report.newest.edit_version)
        reports.submit(session, user, report)
        return report.id

    results = _race(app, engine, start_fill_and_submit)
    succeeded = [r for r in results if isinstance(r, int)]
    assert len(succeeded) == 1, results
    assert all(isinstance(r, (Conflict, InvalidTransition)) for r in results if not isinstance(r, int))
    with Session(engine) as check:
        report = check.scalar(sa.select(MonthlyReport).where(MonthlyReport.agreement_id == ids["agreement"]))
        assert [v.status for v in report.versions] == [VersionStatus.SUBMITTED]
        submitted = check.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "report.submitted", AuditEvent.object_id == str(report.id),
            AuditEvent.object_type == "monthly_report"))
        assert submitted == 1
