"""The demo data obeys the rules of data entry (issue 14): it is built through the services, so it has to pass
them, and this test re-checks what it left behind against each rule as it stands now."""

from __future__ import annotations

import sqlalchemy as sa

from portal import clock
from portal.calls.services import get_programme
from portal.documents import services as documents
from portal.eois import services as eois
from portal.models import EoiStatus, ExpressionOfInterest, MonthlyReport, VersionStatus
from portal.reports import services as reports
from portal.reports import validation


def test_the_demo_data_obeys_every_data_entry_rule(app, session):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.test_request_context():
        submitted = session.scalars(sa.select(ExpressionOfInterest).where(
            ExpressionOfInterest.status != EoiStatus.DRAFT)).all()
        assert submitted
        for eoi in submitted:
            data = eois._data_of(eoi)
            total = eois.services_total(data)
            assert eoi.cofinancing_pct == (eoi.cofinancing_eur * 100 / total).quantize(eois.CENT), eoi.reference
            assert eoi.cofinancing_pct >= eoi.call.min_cofinancing_pct, eoi.reference
            assert eois.missing_documents(session, eoi) == [], eoi.reference
        programme = get_programme(session)
        checked = 0
        for report in session.scalars(sa.select(MonthlyReport)):
            past_draft = [v for v in report.versions if v.status != VersionStatus.DRAFT]
            if not past_draft:
                continue
            opens = validation.submittable_from(report.month, programme.report_early_days)
            for version in past_draft:
                assert clock.utc_to_skopje(version.submitted_at).date() >= opens, (report.month, version.submitted_at)
            assert reports.missing_evidence(session, report) == [], reports.report_reference(report)
            # The figures and their explanations pass the rules as they stand today, with the month before.
            context = reports.submission_context(session, report.agreement, report.month)
            outcome = validation.check(reports.data_of(session, past_draft[-1]), context)
            assert outcome.ok, (reports.report_reference(report), [i.message for i in outcome.errors])
            checked += 1
        assert checked >= 10
        assert all(d.purpose in documents.OBJECT_PURPOSES["report"]
                   for d in documents.documents_for(session, "report", report.id))
        # No report of the current month was submitted.
        current = reports.first_of(reports.today_in_skopje())
        assert not session.scalar(sa.select(sa.func.count(MonthlyReport.id)).where(
            MonthlyReport.month >= current, MonthlyReport.first_submitted_at.is_not(None)))


def test_the_stress_data_obeys_the_report_rules(app, session):
    """`flask seed-stress` writes its reports with bulk inserts, not through the services: every version it leaves
    must still pass the blocking rules of a report (the sums, the new beneficiaries and newly hired women of issue 15);
    only warnings and the explanation they ask for are left aside."""
    from portal.stress import seed_stress

    with app.test_request_context():
        counts = seed_stress(session, grants=4, months=6, providers=2, echo=lambda _line: None)
        assert counts["reports"] >= 20
        checked = 0
        for report in session.scalars(sa.select(MonthlyReport)):
            version = report.newest
            context = reports.context_for(report.agreement, report.month)
            errors = [i for i in validation.check(reports.data_of(session, version), context).errors
                      if i.path != ("explanation",)]
            assert errors == [], (report.month, [i.message for i in errors])
            assert sum(line.new_this_month for line in version.services) == sum(
                line.new_female + line.new_male for line in version.services)
            checked += 1
        assert checked == counts["reports"]
