"""Grantee financial reports (issue 18): the variance rule at its boundary, versions that never overwrite, stale
forms, exact sums, who sees what, and the audit trail."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.finance_reports import services as finance
from portal.i18n import money
from portal.models import AuditEvent, BudgetLine, FinanceReportStatus, FinancialReport, FinancialReportVersion
from tests import factories
from tests.conftest import login
from tests.test_form_markup import check_markup


def budget(session, agreement, amounts=("1000.00", "2500.50")) -> list[BudgetLine]:
    """Approved budget lines on the grant's application (staff, then operating costs)."""
    lines = []
    for position, amount in enumerate(amounts):
        line = BudgetLine(application_id=agreement.application_id, position=position,
                          category="staff" if position == 0 else "operating", description=f"Линија {position + 1}",
                          quantity=Decimal("1"), unit_cost_eur=Decimal(amount), months=1, amount_eur=Decimal(amount))
        session.add(line)
        lines.append(line)
    session.flush()
    session.expire(agreement.application, ["budget_lines"])
    return lines


@pytest.fixture
def grant(app, world, session):
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           start=factories.months_ago(4))
        budget(session, agreement)
        session.commit()
    return agreement


def _fill(lines, *amounts, municipality="0", other="0"):
    return finance.FigureData(spent={line.id: amount for line, amount in zip(lines, amounts, strict=True)},
                              cofinancing_municipality=municipality, cofinancing_other=other)


def _started(session, world, grant, number=1):
    report = finance.start(session, world.users["provider"], grant, number)
    session.flush()
    return report


def _submitted(session, world, grant, *amounts, number=1, **cofinancing):
    report = _started(session, world, grant, number)
    lines = finance.budget_lines(grant)
    finance.save(session, world.users["provider"], report, _fill(lines, *amounts, **cofinancing), report.newest.edit_version)
    finance.submit(session, world.users["provider"], report)
    return report


def test_periods_are_quarters_from_the_start_month_to_the_end(app, grant):
    with app.test_request_context():
        periods = finance.periods(grant)
    assert len(periods) == 8  # 24 months, quarterly by default
    assert periods[0].start == grant.current.start_date.replace(day=1)
    assert periods[1].start == finance._add_months(periods[0].start, 3)
    assert periods[-1].end == grant.current.end_date


def test_the_variance_rule_at_its_boundary_names_the_line(app, world, session, grant):
    """Exactly +10 % is accepted; one cent more is refused with the line named; negative amounts are refused."""
    with app.test_request_context():
        report = _started(session, world, grant)
        lines = finance.budget_lines(grant)
        assert finance.line_limit(lines[1], Decimal("10")) == Decimal("2750.55")
        version = finance.save(session, world.users["provider"], report, _fill(lines, "1100.00", "2750.55"),
                               report.newest.edit_version)
        assert [line.spent_eur for line in version.lines] == [Decimal("1100.00"), Decimal("2750.55")]
        with pytest.raises(ValidationFailed) as refused:
            finance.save(session, world.users["provider"], report, _fill(lines, "1100.01", "2750.55"),
                         report.newest.edit_version)
        assert list(refused.value.field_errors) == [f"line-{lines[0].id}"]
        message = refused.value.field_errors[f"line-{lines[0].id}"][0]
        assert "Линија 1" in message and money(Decimal("1100.01")) in message and money(Decimal("1100.00")) in message
        with pytest.raises(ValidationFailed) as negative:
            finance.save(session, world.users["provider"], report, _fill(lines, "-0.01", "0"), report.newest.edit_version)
        assert f"line-{lines[0].id}" in negative.value.field_errors
        with pytest.raises(ValidationFailed) as fraction:
            finance.save(session, world.users["provider"], report, _fill(lines, "10.001", "0"), report.newest.edit_version)
        assert f"line-{lines[0].id}" in fraction.value.field_errors
        for hostile in ("1e30", "NaN", "-Infinity", "9" * 25, "abc"):
            with pytest.raises(ValidationFailed):
                finance.save(session, world.users["provider"], report, _fill(lines, hostile, "0"), report.newest.edit_version)
        assert report.newest.lines[0].spent_eur == Decimal("1100.00")  # nothing refused was written


def test_the_variance_rule_counts_the_accepted_periods_before(app, world, session, grant):
    """Over all periods: what earlier accepted reports spent counts towards the line's limit."""
    with app.test_request_context():
        first = _submitted(session, world, grant, "600.00", "0")
        finance.accept(session, world.users["finance"], first)
        second = _started(session, world, grant, 2)
        lines = finance.budget_lines(grant)
        finance.save(session, world.users["provider"], second, _fill(lines, "500.00", "0"), second.newest.edit_version)
        with pytest.raises(ValidationFailed) as refused:
            finance.save(session, world.users["provider"], second, _fill(lines, "500.01", "0"), second.newest.edit_version)
        assert money(Decimal("1100.01")) in refused.value.field_errors[f"line-{lines[0].id}"][0]


def test_a_stale_form_is_refused_and_writes_nothing(app, world, session, grant, client):
    with app.test_request_context():
        report = _started(session, world, grant)
        lines = finance.budget_lines(grant)
        read = report.newest.edit_version
        finance.save(session, world.users["provider"], report, _fill(lines, "10.00", "0"), read)
        with pytest.raises(Conflict):
            finance.save(session, world.users["provider"], report, _fill(lines, "20.00", "0"), read)
        with pytest.raises(Conflict):
            finance.save(session, world.users["provider"], report, _fill(lines, "20.00", "0"), None)
        session.commit()
    login(client, world.users["provider"])
    response = client.post(f"/financial-reports/{report.id}/edit",
                           data={f"line-{lines[0].id}": "30.00", "edit_version": str(read), "save": "1"})
    assert response.status_code == 409
    session.expire_all()
    assert session.get(FinancialReport, report.id).newest.lines[0].spent_eur == Decimal("10.00")


def test_return_starts_a_new_version_and_keeps_the_old(app, world, session, grant):
    with app.test_request_context():
        report = _submitted(session, world, grant, "400.00", "100.25", municipality="250.00")
        with pytest.raises(ValidationFailed):
            finance.return_report(session, world.users["finance"], report, "  ")
        finance.return_report(session, world.users["finance"], report, "Недостасува фактура.")
        with pytest.raises(InvalidTransition):
            finance.save(session, world.users["provider"], report, _fill(finance.budget_lines(grant), "1", "1"),
                         report.newest.edit_version)
        second = finance.revise(session, world.users["provider"], report)
        assert second.version == 2 and second.status == FinanceReportStatus.DRAFT
        lines = finance.budget_lines(grant)
        finance.save(session, world.users["provider"], report, _fill(lines, "380.00", "100.25", municipality="250.00"),
                     second.edit_version)
        finance.submit(session, world.users["provider"], report)
        finance.accept(session, world.users["finance"], report, {lines[0].id: "30.00"}, {lines[0].id: "Без фактура."})
        session.commit()
        session.expire_all()
        versions = session.scalars(sa.select(FinancialReportVersion).where(FinancialReportVersion.report_id == report.id)
                                   .order_by(FinancialReportVersion.version)).all()
    assert [(v.version, v.status) for v in versions] == [(1, FinanceReportStatus.RETURNED), (2, FinanceReportStatus.ACCEPTED)]
    assert [line.spent_eur for line in versions[0].lines] == [Decimal("400.00"), Decimal("100.25")]
    assert versions[0].review_comment == "Недостасува фактура."
    assert [(line.eligible_eur, line.ineligible_eur) for line in versions[1].lines] == [
        (Decimal("350.00"), Decimal("30.00")), (Decimal("100.25"), Decimal("0.00"))]
    assert versions[1].lines[0].ineligible_reason == "Без фактура."
    assert session.get(FinancialReport, report.id).accepted_version == 2


def test_accepting_checks_the_ineligible_part(app, world, session, grant):
    with app.test_request_context():
        report = _submitted(session, world, grant, "400.00", "0")
        line = finance.budget_lines(grant)[0]
        with pytest.raises(ValidationFailed) as no_reason:
            finance.accept(session, world.users["finance"], report, {line.id: "10.00"}, {})
        assert f"reason-{line.id}" in no_reason.value.field_errors
        with pytest.raises(ValidationFailed) as too_much:
            finance.accept(session, world.users["finance"], report, {line.id: "400.01"}, {line.id: "x"})
        assert f"ineligible-{line.id}" in too_much.value.field_errors
        with pytest.raises(NotAllowed):
            finance.accept(session, world.users["reviewer"], report)
        with pytest.raises(NotAllowed):
            finance.accept(session, world.users["provider"], report)


def test_sums_are_exact_decimals(app, world, session, grant):
    """Thirds of a cent never appear: 0.10 + 0.20 is 0.30, and the totals add up to the cent across periods."""
    with app.test_request_context():
        first = _submitted(session, world, grant, "0.10", "0.20", municipality="0.10", other="0.20")
        finance.accept(session, world.users["finance"], first)
        second = _submitted(session, world, grant, "333.33", "666.67", number=2, municipality="1000.00")
        finance.accept(session, world.users["admin"], second, {finance.budget_lines(grant)[1].id: "0.01"},
                       {finance.budget_lines(grant)[1].id: "Заокружување."})
        session.commit()
        summary = finance.grant_finance(session, grant)
    assert summary.total("spent") == Decimal("1000.30")
    assert summary.total("eligible") == Decimal("1000.29") and summary.total("ineligible") == Decimal("0.01")
    assert summary.total("approved") == Decimal("3500.50")
    assert summary.cofinancing_received == Decimal("1000.30")
    assert summary.disbursed == Decimal("0") and summary.committed == Decimal("40000.00")
    assert all(isinstance(line.spent, Decimal) for line in summary.lines)


def test_only_accepted_reports_count_in_the_summary(app, world, session, grant):
    with app.test_request_context():
        _submitted(session, world, grant, "100.00", "0")
        session.commit()
        assert finance.grant_finance(session, grant).total("spent") == Decimal("0.00")


def test_access(app, world, session, grant, client):
    """Providers only their own; the ministry reads submitted reports, finance and administrators review;
    municipalities and monitors see the grant's summary only (no report, no documents)."""
    with app.test_request_context():
        report = _submitted(session, world, grant, "100.00", "0")
        with pytest.raises(NotAllowed):
            finance.start(session, world.users["provider_b"], grant, 2)
        session.commit()
    expected = {"provider": 200, "provider_b": 403, "admin": 200, "finance": 200, "reviewer": 200,
                "municipality": 403, "municipality_b": 403, "monitor": 403}
    for role, status in expected.items():
        login(client, world.users[role])
        assert client.get(f"/financial-reports/{report.id}").status_code == status, role
    summary = {"provider": 200, "provider_b": 403, "municipality": 200, "municipality_b": 403, "monitor": 200,
               "finance": 200}
    for role, status in summary.items():
        login(client, world.users[role])
        response = client.get(f"/grants/{grant.id}/finance")
        assert response.status_code == status, role
        if role == "monitor":
            page = response.get_data(as_text=True)
            assert "/documents/" not in page and f"/financial-reports/{report.id}" not in page
            assert "100,00" in page or "100.00" in page
    login(client, world.users["provider_b"])
    assert client.post(f"/financial-reports/{report.id}/edit", data={}).status_code == 403
    assert client.post(f"/grants/{grant.id}/finance/2/start", data={}).status_code == 403
    assert client.get("/financial-reports/999999").status_code == 404
    login(client, world.users["reviewer"])
    assert client.post(f"/financial-reports/{report.id}/review", data={"accept": "1"}).status_code == 403


def test_a_draft_is_the_providers_own(app, world, session, grant, client):
    with app.test_request_context():
        report = _started(session, world, grant)
        session.commit()
    login(client, world.users["finance"])
    assert client.get(f"/financial-reports/{report.id}").status_code == 403


def test_every_state_change_is_audited(app, world, session, grant):
    with app.test_request_context():
        last = session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))
        report = _submitted(session, world, grant, "100.00", "0")
        finance.return_report(session, world.users["finance"], report, "Поправете.")
        version = finance.revise(session, world.users["provider"], report)
        finance.save(session, world.users["provider"], report, _fill(finance.budget_lines(grant), "90.00", "0"),
                     version.edit_version)
        finance.submit(session, world.users["provider"], report)
        finance.accept(session, world.users["finance"], report)
        session.commit()
        rows = session.execute(sa.select(AuditEvent.action, AuditEvent.actor_email, AuditEvent.object_id)
                               .where(AuditEvent.id > last, AuditEvent.object_type == "financial_report")
                               .order_by(AuditEvent.id)).all()
    assert [r.action for r in rows] == [
        "financial_report.created", "financial_report.saved", "financial_report.submitted", "financial_report.returned",
        "financial_report.revision_started", "financial_report.saved", "financial_report.submitted",
        "financial_report.accepted"]
    assert {r.object_id for r in rows} == {str(report.id)}
    assert rows[3].actor_email == world.users["finance"].email


def test_the_provider_journey_through_the_pages(app, world, session, grant, client):
    """Start, save, submit with the confirmation, the finance officer returns, the provider revises."""
    login(client, world.users["provider"])
    page = client.get(f"/grants/{grant.id}/finance")
    assert page.status_code == 200 and "/finance/1/start" in page.get_data(as_text=True)
    response = client.post(f"/grants/{grant.id}/finance/1/start")
    assert response.status_code == 302
    report = session.scalar(sa.select(FinancialReport).where(FinancialReport.agreement_id == grant.id))
    lines = finance.budget_lines(grant)
    form = client.get(f"/financial-reports/{report.id}/edit")
    assert form.status_code == 200
    data = {f"line-{lines[0].id}": "1100.01", f"line-{lines[1].id}": "12,50", "cofinancing_municipality": "100",
            "cofinancing_other": "0", "edit_version": "1", "submit_report": "1", "confirm": "y"}
    refused = client.post(f"/financial-reports/{report.id}/edit", data=data)
    assert refused.status_code == 422 and "Линија 1" in refused.get_data(as_text=True)
    check_markup(form.get_data(as_text=True), "form")
    check_markup(refused.get_data(as_text=True), "form with errors")
    check_markup(page.get_data(as_text=True), "grant finance")
    data[f"line-{lines[0].id}"] = "1100.00"
    assert client.post(f"/financial-reports/{report.id}/edit", data=data).status_code == 302
    session.expire_all()
    report = session.get(FinancialReport, report.id)
    assert report.status == FinanceReportStatus.SUBMITTED and report.newest.spent_eur == Decimal("1112.50")
    login(client, world.users["finance"])
    review_page = client.get(f"/financial-reports/{report.id}").get_data(as_text=True)
    assert "send_back" in review_page
    check_markup(review_page, "review")
    refused = client.post(f"/financial-reports/{report.id}/review", data={"send_back": "1"})
    assert refused.status_code == 422
    check_markup(refused.get_data(as_text=True), "review with errors")
    check_markup(client.get("/financial-reports").get_data(as_text=True), "queue")
    assert client.post(f"/financial-reports/{report.id}/review",
                       data={"send_back": "1", "comment": "Фактурата недостасува."}).status_code == 302
    assert client.get("/financial-reports?status=returned").status_code == 200
    login(client, world.users["provider"])
    assert client.post(f"/financial-reports/{report.id}/revise").status_code == 302
    session.expire_all()
    assert [v.status for v in session.get(FinancialReport, report.id).versions] == [
        FinanceReportStatus.RETURNED, FinanceReportStatus.DRAFT]


def test_the_demo_has_quarterly_financial_reports_that_obey_the_rules(app, session):
    """Both pilot grants report their first quarter; Сончев зрак's was returned and corrected (both versions kept);
    every submitted version is within the variance rule as it stands now."""
    from portal.models import GrantAgreement

    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.test_request_context():
        reports = {}
        for number in ("SSIP-GA-2026-001", "SSIP-GA-2026-002"):
            agreement = session.scalar(sa.select(GrantAgreement).where(GrantAgreement.number == number))
            reports[number] = finance.report_for(session, agreement.id, 1)
            assert reports[number] is not None and reports[number].accepted_version is not None, number
        assert [v.status for v in reports["SSIP-GA-2026-002"].versions] == [FinanceReportStatus.RETURNED,
                                                                            FinanceReportStatus.ACCEPTED]
        for report in session.scalars(sa.select(FinancialReport)):
            assert report.period_end < finance.today_in_skopje()
            for version in report.versions:
                assert version.submitted_at is not None
                assert finance.variance_errors(session, report, {
                    line.budget_line_id: line.spent_eur for line in version.lines}) == {}, finance.reference(report)
                assert version.submitted_at.date() > report.period_end
        assert finance.grant_finance(session, reports["SSIP-GA-2026-001"].agreement).total("ineligible") > 0


def test_supporting_documents_reach_the_provider_and_the_ministry_never_a_monitor(app, world, session, grant, client,
                                                                                  tmp_path):
    import io

    from portal.models import Document
    from tests import files

    factories.use_local_storage(app, tmp_path)
    try:
        with app.test_request_context():
            report = _started(session, world, grant)
            session.commit()
        login(client, world.users["provider"])
        response = client.post(f"/financial-reports/{report.id}/documents", content_type="multipart/form-data",
                               data={"purpose": "invoice", "file": (io.BytesIO(files.PDF), "faktura.pdf")})
        assert response.status_code == 302
        document = session.scalar(sa.select(Document).where(Document.object_type == "financial_report",
                                                            Document.object_id == str(report.id)))
        assert document is not None and document.purpose == "invoice"
        with app.test_request_context():
            finance.submit(session, world.users["provider"], session.get(FinancialReport, report.id))
            session.commit()
        for role, status in (("provider", 200), ("finance", 200), ("monitor", 403), ("municipality", 403),
                             ("provider_b", 403)):
            login(client, world.users[role])
            assert client.get(f"/documents/{document.id}").status_code == status, role
        login(client, world.users["finance"])
        assert f"/documents/{document.id}" in client.get(f"/financial-reports/{report.id}").get_data(as_text=True)
    finally:
        app.extensions["storage"] = None


def test_the_call_sets_the_period_and_the_variance(app, world, session, grant, client):
    """Per call: the period length (fixed once a grant of the call has a financial report) and the variance."""
    call = grant.call
    login(client, world.users["admin"])
    url = f"/admin/calls/{call.id}/review-settings"
    page = client.get(url)
    assert page.status_code == 200 and 'name="budget_variance_pct"' in page.get_data(as_text=True)
    data = {"version_id": str(call.version_id), "reviewers_required": "2", "discrepancy_pct": "20", "chair_id": "0",
            "finance_period_months": "6", "budget_variance_pct": "5.00"}
    assert client.post(url, data=data).status_code == 302
    session.expire_all()
    assert (call.finance_period_months, call.budget_variance_pct) == (6, Decimal("5.00"))
    with app.test_request_context():
        assert len(finance.periods(grant)) == 4
        assert finance.line_limit(finance.budget_lines(grant)[1], finance.variance_pct(grant)) == Decimal("2625.52")
        assert session.scalar(sa.select(AuditEvent.after).where(AuditEvent.action == "call.review_settings")
                              .order_by(AuditEvent.id.desc()).limit(1))["budget_variance_pct"] == "5.00"
        _started(session, world, grant)
        session.commit()
    data |= {"version_id": str(call.version_id), "finance_period_months": "3"}
    refused = client.post(url, data=data)
    assert refused.status_code == 422 and 'id="finance_period_months-error"' in refused.get_data(as_text=True)
    for bad in ("100.01", "-1", "2.555"):
        assert client.post(url, data=data | {"finance_period_months": "6", "budget_variance_pct": bad}).status_code == 422


def test_the_database_keeps_submitted_versions_as_they_were(app, world, session, grant):
    """Past draft, a version's amounts and lines never change and its eligibility is written once (triggers of
    migration 0018 on SQLite and PostgreSQL)."""
    from portal.models import FinancialReportLine

    with app.test_request_context():
        report = _submitted(session, world, grant, "100.00", "0", municipality="10.00")
        session.commit()
        version_id, line_id = report.newest.id, report.newest.lines[0].id
    statements = [
        sa.update(FinancialReportLine).where(FinancialReportLine.id == line_id).values(spent_eur=Decimal("1.00")),
        sa.delete(FinancialReportLine).where(FinancialReportLine.id == line_id),
        sa.insert(FinancialReportLine).values(version_id=version_id, budget_line_id=finance.budget_lines(grant)[0].id,
                                              spent_eur=Decimal("1.00"), ineligible_reason=""),
        sa.update(FinancialReportVersion).where(FinancialReportVersion.id == version_id)
        .values(cofinancing_municipality_eur=Decimal("0.00")),
        sa.update(FinancialReportVersion).where(FinancialReportVersion.id == version_id).values(status="draft"),
        sa.delete(FinancialReportVersion).where(FinancialReportVersion.id == version_id),
    ]
    for statement in statements:
        with pytest.raises(sa.exc.DatabaseError):
            session.execute(statement)
            session.flush()
        session.rollback()
    with app.test_request_context():
        finance.accept(session, world.users["finance"], session.get(FinancialReport, report.id))
        session.commit()
    with pytest.raises(sa.exc.DatabaseError):
        session.execute(sa.update(FinancialReportLine).where(FinancialReportLine.id == line_id)
                        .values(eligible_eur=Decimal("0.00"), ineligible_eur=Decimal("100.00")))
    session.rollback()


def test_the_summary_downloads_as_csv_and_xlsx(app, world, session, grant, client):
    import io

    from openpyxl import load_workbook

    with app.test_request_context():
        report = _submitted(session, world, grant, "0.10", "1234.56", municipality="7.00")
        finance.accept(session, world.users["finance"], report)
        session.commit()
    login(client, world.users["monitor"])
    csv_text = client.get(f"/grants/{grant.id}/finance.csv").get_data().decode("utf-8-sig")
    assert ",0.10," in csv_text and ",1234.56," in csv_text and ",1234.66," in csv_text
    workbook = load_workbook(io.BytesIO(client.get(f"/grants/{grant.id}/finance.xlsx").get_data()))
    assert len(workbook.sheetnames) == 2
    values = [cell for row in workbook.worksheets[1].iter_rows(values_only=True) for cell in row]
    assert 7 in values  # co-financing received from the municipality, a number (never text)
    assert client.get(f"/grants/{grant.id}/finance.pdf").status_code == 404
    login(client, world.users["provider_b"])
    assert client.get(f"/grants/{grant.id}/finance.csv").status_code == 403


def test_the_tranche_approval_shows_what_the_financial_reports_say(app, world, session, grant, client):
    from portal.grants import services as grants

    with app.test_request_context():
        report = _submitted(session, world, grant, "600.00", "0.50")
        finance.accept(session, world.users["finance"], report)
        tranche = grant.tranches[0]
        grants.request_release(session, world.users["finance"], tranche)
        session.commit()
        position = finance.money_position(session, grant)
    assert (position.accepted_through, position.spent, position.spent_share) == (1, Decimal("600.50"), None)
    assert position.periods_ended >= 1
    login(client, world.users["admin"])
    page = client.post(f"/tranches/{tranche.id}/approve", data={"version_id": str(tranche.version_id)})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    with app.test_request_context():
        shown = money(Decimal("600.50"))
    assert f"/grants/{grant.id}/finance" in body
    assert shown in body
    check_markup(body, "tranche approval")


def test_the_provider_is_told_by_email_in_its_language(app, world, session, grant):
    from portal.models import OutboxEmail

    provider = world.users["provider"]
    provider.preferred_language = "sq"
    with app.test_request_context():
        report = _submitted(session, world, grant, "10.00", "0")
        finance.return_report(session, world.users["finance"], report, "Mungon fatura.")
        session.commit()
    mails = session.scalars(sa.select(OutboxEmail).where(OutboxEmail.to_address == provider.email)).all()
    assert len(mails) == 1
    assert "Raporti financiar" in mails[0].subject and "Mungon fatura." in mails[0].body_text
