"""What the report service itself refuses (before the database's freezing triggers), and the optimistic
lock of the report row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.errors import InvalidTransition
from portal.models import AuditEvent, MonthlyReport, ReportStatus, ReportVersion
from portal.reports import services as reports
from tests import factories
from tests.test_reports import ctx, grant  # noqa: F401  (fixtures)


def _saved_rows(session, report) -> int:
    return session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.object_type == "monthly_report", AuditEvent.object_id == str(report.id),
        AuditEvent.action == "report.saved"))


def test_editing_an_accepted_report_is_refused_by_the_service_with_a_409(session, grant, ctx):  # noqa: F811
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    report = factories.report(session, provider, grant.grant, grant.month, served=30, accept_by=reviewer)
    assert report.status == ReportStatus.ACCEPTED
    accepted = report.newest
    saved_before = _saved_rows(session, report)
    changed = factories.report_data(session, grant.grant, served=12)
    # A domain error from the service, not the database's refusal (which would be a DatabaseError, a 500).
    with pytest.raises(InvalidTransition) as refused:
        reports.save(session, provider, report, changed, accepted.edit_version)
    assert refused.value.status == 409
    with pytest.raises(InvalidTransition):
        reports.submit(session, provider, report)
    session.flush()  # nothing pending: the service wrote nothing before refusing
    session.expire_all()
    assert session.get(ReportVersion, accepted.id).services[0].total == 30
    assert _saved_rows(session, report) == saved_before


def test_the_report_row_has_its_version_column_and_it_catches_a_concurrent_write(session, grant, ctx):  # noqa: F811
    columns = {c["name"] for c in sa.inspect(session.connection()).get_columns("monthly_report")}
    assert "version_id" in columns
    assert MonthlyReport.__mapper__.version_id_col is MonthlyReport.__table__.c.version_id
    provider = grant.users["provider"]
    report = reports.start(session, provider, grant.grant, grant.month)
    reports.save(session, provider, report, factories.report_data(session, grant.grant), report.newest.edit_version)
    session.flush()
    # Another transaction submits (or reviews) the report meanwhile: its row's counter moves on.
    session.execute(sa.text("UPDATE monthly_report SET version_id = version_id + 1 WHERE id = :id"), {"id": report.id})
    report.status = ReportStatus.SUBMITTED  # this session's write, based on the counter it read
    with pytest.raises(sa.orm.exc.StaleDataError):
        session.flush()
