"""Data that is right when it enters (issue 14), through the services and through the forms: EOI co-financing,
its share derived from the amount and the required documents; monthly reports submitted only once the month has
ended, with the evidence the call requires, and continuity warnings; a published call's deadline moved earlier
only with a confirmation, never into the past, and every applicant told."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal import clock, i18n
from portal.calls import services as calls
from portal.eois import services as eois
from portal.errors import ValidationFailed
from portal.grants import services as grants
from portal.models import AuditEvent, CallStatus, EoiStatus, ExpressionOfInterest, OutboxEmail, ReportStatus
from portal.reports import services as reports
from tests import factories, files
from tests.conftest import login


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        app.preprocess_request()
        yield


@pytest.fixture
def storage(app, tmp_path):
    factories.use_local_storage(app, tmp_path / "uploads")
    yield
    app.extensions["storage"] = None


@pytest.fixture
def call(app, world, session):
    with app.test_request_context():
        created = factories.eoi_call(session, world.users["admin"])
        session.commit()
    return created


def at(monkeypatch, when: datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: when)


def skopje(day: date, hour: int = 12) -> datetime:
    return clock.skopje_to_utc(datetime.combine(day, time(hour)))


# Expressions of interest -------------------------------------------------------------------------------

def _eoi_data(officer, call, cofinancing: str | None, pct: str | None = None, cost: str = "150000.00"):
    return eois.EoiData(needs_assessment="Стари лица живеат сами.", target_groups="Стари лица", people_in_need=300,
                        cofinancing_eur=Decimal(cofinancing) if cofinancing else None,
                        cofinancing_pct=Decimal(pct) if pct else None, coordinator_name=officer.full_name,
                        coordinator_email=officer.email,
                        services=[eois.ServiceRow(call.service_types[0].id, 50, Decimal(cost), "")])


def test_the_share_is_derived_from_the_amount_and_must_reach_the_calls_minimum(world, session, call, storage, ctx):
    officer = world.users["municipality"]
    eoi = factories.filled_eoi(session, officer, call, submit=False)
    # 7,500 of 150,000 typed as 2 %: the share stored is the one the amount gives.
    eois.save(session, officer, eoi, _eoi_data(officer, call, "7500.00", "2"), eoi.version_id)
    assert (eoi.cofinancing_eur, eoi.cofinancing_pct) == (Decimal("7500.00"), Decimal("5.00"))
    # Only a share typed: the amount follows it.
    eois.save(session, officer, eoi, _eoi_data(officer, call, None, "4"), eoi.version_id)
    assert (eoi.cofinancing_eur, eoi.cofinancing_pct) == (Decimal("6000.00"), Decimal("4.00"))
    with pytest.raises(ValidationFailed) as refused:
        eois.submit(session, officer, eoi)
    message = refused.value.field_errors["cofinancing_eur"][0]
    # the amount, the share, the minimum and what is needed, in the user's number format
    for figure in (i18n.money(Decimal("6000")), i18n.decimal(Decimal("4")), i18n.decimal(Decimal("5")),
                   i18n.money(Decimal("7500"))):
        assert figure in message, (figure, message)
    assert eoi.status == EoiStatus.DRAFT
    eois.save(session, officer, eoi, _eoi_data(officer, call, "7500.00"), eoi.version_id)
    eois.submit(session, officer, eoi)
    assert eoi.status == EoiStatus.SUBMITTED and eoi.submissions[0].snapshot["cofinancing_pct"] == "5.00"


def test_co_financing_above_the_cost_is_refused_even_in_a_draft(world, session, call, ctx):
    officer = world.users["municipality"]
    eoi = eois.start(session, officer, call)
    with pytest.raises(ValidationFailed) as refused:
        eois.save(session, officer, eoi, _eoi_data(officer, call, "200000.00"), eoi.version_id)
    assert "cofinancing_eur" in refused.value.field_errors


def test_an_eoi_without_the_required_documents_is_not_submitted(world, session, call, storage, ctx):
    officer = world.users["municipality"]
    eoi = factories.filled_eoi(session, officer, call, submit=False, documents=False)
    assert eois.submission_problems(session, eoi).keys() == {"documents"}
    with pytest.raises(ValidationFailed) as refused:
        eois.submit(session, officer, eoi)
    assert list(refused.value.field_errors) == ["documents"]
    factories.attach_required_documents(session, officer, eoi)
    assert eois.submission_problems(session, eoi) == {}
    eois.submit(session, officer, eoi)
    assert eoi.status == EoiStatus.SUBMITTED


def test_the_eoi_form_shows_the_rules_uploads_before_submit_and_refuses_what_breaks_them(app, client, world, session,
                                                                                       call, storage):
    officer = world.users["municipality"]
    with app.test_request_context():
        eoi = factories.filled_eoi(session, officer, call, submit=False, documents=False)
        session.commit()
    login(client, officer)
    page = client.get(f"/eois/{eoi.id}").get_data(as_text=True)
    # The document upload comes before the submit button, and the checks the server applies are listed there.
    assert page.index('id="documents"') < page.index('name="submit"')
    assert '<section id="before-submitting" class="notice notice--warning"' in page
    assert page.index('id="before-submitting"') < page.index('name="submit"')
    form = {"version_id": str(eoi.version_id), "needs_assessment": "Проценка.", "target_groups": "Стари лица",
            "people_in_need": "300", "cofinancing_eur": "3000.00", "cofinancing_pct": "2",
            "coordinator_name": "Драган", "coordinator_email": "d@test.example",
            "services-0-service_type_id": str(call.service_types[0].id), "services-0-beneficiaries_per_month": "50",
            "services-0-annual_cost_eur": "150000.00", "submit": "1"}
    response = client.post(f"/eois/{eoi.id}", data=form)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'href="#cofinancing_eur"' in body and 'value="2.00"' in body  # the share derived: 3,000 of 150,000
    session.expire_all()
    assert session.get(ExpressionOfInterest, eoi.id).cofinancing_pct == Decimal("2.00")
    response = client.post(f"/eois/{eoi.id}/documents", data={
        "purpose": "council_decision", "file": (io.BytesIO(files.PDF), "odluka.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 302
    form.update(cofinancing_eur="7500.00", version_id=str(session.get(ExpressionOfInterest, eoi.id).version_id))
    response = client.post(f"/eois/{eoi.id}", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    session.expire_all()
    assert session.get(ExpressionOfInterest, eoi.id).status == EoiStatus.SUBMITTED


def test_the_screening_list_shows_co_financing_and_the_missing_documents(app, client, world, session, call, storage):
    with app.test_request_context():
        eoi = factories.filled_eoi(session, world.users["municipality"], call)
        session.commit()
    login(client, world.users["reviewer"])
    page = client.get(f"/review/calls/{call.id}/eois").get_data(as_text=True)
    assert "15.000,00" in page or "15,000.00" in page
    assert eoi.reference in page


# Monthly reports ---------------------------------------------------------------------------------------

@pytest.fixture
def grant(app, world, session):
    with app.test_request_context():
        world.grant = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                             world.orgs["municipality"])
        session.commit()
    return world


def test_a_month_is_submitted_only_once_it_has_ended(world, session, grant, monkeypatch, ctx):
    provider = grant.users["provider"]
    month = factories.months_ago(1)
    last_day = reports.next_month(month) - timedelta(days=1)
    at(monkeypatch, skopje(last_day, 23))
    report = factories.report(session, provider, grant.grant, month, submit=False)
    with pytest.raises(ValidationFailed) as refused:
        reports.submit(session, provider, report)
    assert list(refused.value.field_errors) == ["month"]
    assert reports.next_month(month).strftime("%d.%m.%Y") in refused.value.field_errors["month"][0]
    # With a day of grace configured, the last day of the month is enough.
    programme = calls.get_programme(session)
    reports.update_settings(session, world.users["admin"], programme.report_due_day, programme.report_reminder_days,
                            programme.version_id, 1)
    reports.submit(session, provider, report)
    assert report.status == ReportStatus.SUBMITTED


def test_the_first_minute_of_the_next_month_opens_the_submission(world, session, grant, monkeypatch, ctx):
    provider = grant.users["provider"]
    month = factories.months_ago(1)
    report = factories.report(session, provider, grant.grant, month, submit=False)
    first = clock.skopje_to_utc(datetime.combine(reports.next_month(month), time.min))
    at(monkeypatch, first - timedelta(seconds=1))
    with pytest.raises(ValidationFailed):
        reports.submit(session, provider, report)
    at(monkeypatch, first)
    reports.submit(session, provider, report)


def test_the_settings_form_takes_the_grace_days(app, client, world, session):
    login(client, world.users["admin"])
    page = client.get("/admin/reports/settings").get_data(as_text=True)
    assert 'name="early_days"' in page
    version = calls.get_programme(session).version_id
    bad = client.post("/admin/reports/settings", data={"due_day": "10", "reminder_days": "3", "early_days": "9",
                                                       "version_id": str(version)})
    assert bad.status_code == 422
    good = client.post("/admin/reports/settings", data={"due_day": "10", "reminder_days": "3", "early_days": "1",
                                                        "version_id": str(version)})
    assert good.status_code == 302
    session.expire_all()
    assert calls.get_programme(session).report_early_days == 1


def test_the_evidence_the_call_requires_is_needed_before_submission(world, session, grant, storage, ctx):
    provider = grant.users["provider"]
    grant.grant.application.call.report_evidence = ["timesheet", "payroll"]
    report = factories.report(session, provider, grant.grant, grant.grant.current.start_date, submit=False)
    assert reports.missing_evidence(session, report) == ["timesheet", "payroll"]
    from portal.documents import services as documents

    documents.upload(session, provider, owner=grant.orgs["provider"], object_type="report", object_id=report.id,
                     purpose="timesheet", stream=io.BytesIO(files.PDF), filename="evidencija.pdf")
    with pytest.raises(ValidationFailed) as refused:
        reports.submit(session, provider, report)
    assert list(refused.value.field_errors) == ["evidence"]
    assert "payroll" in refused.value.field_errors["evidence"][0].lower() or "плат" in refused.value.field_errors[
        "evidence"][0].lower()
    documents.upload(session, provider, owner=grant.orgs["provider"], object_type="report", object_id=report.id,
                     purpose="payroll", stream=io.BytesIO(files.PDF), filename="plati.pdf")
    reports.submit(session, provider, report)
    assert report.status == ReportStatus.SUBMITTED


def test_continuity_and_zero_warnings_need_an_explanation(world, session, grant, ctx):
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    first = grant.grant.current.start_date
    data = factories.report_data(session, grant.grant, served=30)
    data.services[0].left_this_month = 5
    factories.report(session, provider, grant.grant, first, data=data, accept_by=reviewer)
    second = reports.start(session, provider, grant.grant, grants.add_months(first, 1))
    # 30 served, 5 left: 25 continue. Typed as 30 new, 0 continuing: a continuity warning.
    reports.save(session, provider, second, factories.report_data(session, grant.grant, served=30),
                 second.newest.edit_version)
    result = reports.check_submission(session, second)
    assert [w.code for w in result.warnings] == ["continuity"] and "25" in result.warnings[0].message
    assert [i.path for i in result.errors] == [("explanation",)]
    fixed = factories.report_data(session, grant.grant, served=30)
    fixed.services[0].continuing, fixed.services[0].new_this_month = 25, 5
    reports.save(session, provider, second, fixed, second.newest.edit_version)
    assert reports.check_submission(session, second).warnings == []
    # A month of zeros after a month with people and staff.
    zero = factories.report_data(session, grant.grant, served=0, staff=0)
    reports.save(session, provider, second, zero, second.newest.edit_version)
    codes = [w.code for w in reports.check_submission(session, second).warnings]
    assert "zero_report" in codes and "continuity" in codes
    zero.explanation = "Услугата беше прекината поради реновирање."
    reports.save(session, provider, second, zero, second.newest.edit_version)
    version = reports.submit(session, provider, second)
    assert "zero_report" in [w["code"] for w in version.warnings]


def test_the_report_form_names_the_month_rule_and_the_continuity_warning(app, client, world, session, grant,
                                                                        monkeypatch):
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    first = grant.grant.current.start_date
    with app.test_request_context():
        factories.report(session, provider, grant.grant, first, served=30, accept_by=reviewer)
        current = reports.start(session, provider, grant.grant, factories.months_ago(0))
        second = factories.report(session, provider, grant.grant, grants.add_months(first, 1), submit=False, served=30,
                                  explanation="")
        session.commit()
    login(client, provider)
    page = client.get(f"/reports/{second.id}/edit").get_data(as_text=True)
    assert "continuing" in page.lower() or "продолж" in page.lower()
    from tests.test_reports import _form

    response = client.post(f"/reports/{second.id}/edit", data=_form(second, submit_report="1", confirm="y"))
    assert response.status_code == 422 and 'id="explanation' in response.get_data(as_text=True)
    response = client.post(f"/reports/{current.id}/edit", data=_form(current, {
        f"service-{grant.grant.application.service_types[0].id}-total": "0"}, submit_report="1", confirm="y"))
    assert response.status_code == 422
    session.expire_all()
    assert reports.report_for(session, grant.grant.id, factories.months_ago(0)).status == ReportStatus.DRAFT


# A published call's deadline ---------------------------------------------------------------------------

def _call_data(call, closes_at, note="Promena na rokot.", confirmed=None):
    return calls.CallData(kind=call.kind, title_mk=call.title_mk, title_sq=call.title_sq, title_en=call.title_en,
                          description_mk=call.description_mk, description_sq=call.description_sq,
                          description_en=call.description_en, opens_at=call.opens_at, closes_at=closes_at,
                          allocation_eur=call.allocation_eur, grant_ceiling_eur=call.grant_ceiling_eur,
                          min_cofinancing_pct=call.min_cofinancing_pct,
                          service_type_ids=[t.id for t in call.service_types],
                          required_documents=list(call.required_documents), amendment_note=note,
                          confirmed_drafts=confirmed)


def test_a_deadline_is_extended_freely_shortened_with_confirmation_and_never_into_the_past(world, session, call,
                                                                                         storage, ctx):
    admin = world.users["admin"]
    factories.filled_eoi(session, world.users["municipality"], call, submit=False)  # a draft
    factories.filled_eoi(session, world.users["municipality_b"], call)  # submitted
    later = call.closes_at + timedelta(days=7)
    calls.update_call(session, admin, call, _call_data(call, later), call.version_id)
    assert call.closes_at == later
    with pytest.raises(ValidationFailed) as refused:
        calls.update_call(session, admin, call, _call_data(call, clock.now() - timedelta(hours=1)), call.version_id)
    assert list(refused.value.field_errors) == ["closes_at"]
    earlier = clock.now() + timedelta(days=2)
    with pytest.raises(calls.ShorteningNeedsConfirmation) as asked:
        calls.update_call(session, admin, call, _call_data(call, earlier), call.version_id)
    assert asked.value.drafts == 1 and call.closes_at == later
    with pytest.raises(calls.ShorteningNeedsConfirmation):  # a confirmation for another number of drafts
        calls.update_call(session, admin, call, _call_data(call, earlier, confirmed=0), call.version_id)
    calls.update_call(session, admin, call, _call_data(call, earlier, confirmed=1), call.version_id)
    assert call.closes_at == earlier and call.status == CallStatus.PUBLISHED
    mails = session.scalars(sa.select(OutboxEmail.to_address)).all()
    officers = {world.users["municipality"].email, world.users["municipality_b"].email}
    assert officers <= set(mails)
    assert session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action == "call.deadline_announced")) == 2


def test_the_deadline_confirmation_page_shows_the_drafts_affected(app, client, world, session, call, storage):
    with app.test_request_context():
        factories.filled_eoi(session, world.users["municipality"], call, submit=False)
        session.commit()
    login(client, world.users["admin"])
    page = client.get(f"/admin/calls/{call.id}/edit").get_data(as_text=True)
    assert 'name="closes_at"' in page and 'name="report_evidence"' in page
    earlier = clock.utc_to_skopje(clock.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    opens = clock.utc_to_skopje(call.opens_at).strftime("%Y-%m-%dT%H:%M")
    form = {"kind": "eoi", "title_mk": call.title_mk, "title_sq": call.title_sq, "title_en": call.title_en,
            "opens_at": opens, "closes_at": earlier, "allocation_eur": "3000000.00", "min_cofinancing_pct": "5",
            "service_type_ids": [str(t.id) for t in call.service_types], "required_documents": ["council_decision"],
            "linked_call_id": "0", "amendment_note": "Порано.", "version_id": str(call.version_id)}
    response = client.post(f"/admin/calls/{call.id}/edit", data=form)
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and 'id="drafts-affected"' in body and ">1 " in body.split('drafts-affected')[1]
    assert 'name="confirmed_drafts" value="1"' in body
    past = clock.utc_to_skopje(clock.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(f"/admin/calls/{call.id}/edit", data=dict(form, closes_at=past)).status_code == 200
    response = client.post(f"/admin/calls/{call.id}/edit", data=dict(form, confirmed_drafts="1"))
    assert response.status_code == 302
    session.expire_all()
    assert clock.utc_to_skopje(session.get(type(call), call.id).closes_at).strftime("%Y-%m-%dT%H:%M") == earlier
    assert session.scalar(sa.select(sa.func.count(OutboxEmail.id)).where(
        OutboxEmail.to_address == world.users["municipality"].email)) >= 1


# Money shown as recorded -------------------------------------------------------------------------------

def test_the_envelope_shows_mkd_as_recorded_allocations_that_can_commit_and_every_definition(app, client, world,
                                                                                             session):
    from portal.grants import ledger
    from portal.models import LedgerEntry

    admin, finance = world.users["admin"], world.users["finance"]
    with app.test_request_context():
        agreement = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"],
                                           amount="40000.00")
        factories.eoi_call(session, admin)  # a call for expressions of interest of 3,000,000: it never commits
        calls.add_rate(session, admin, clock.now().date() - timedelta(days=1), Decimal("62.0000"))  # a new rate
        advance = agreement.tranches[0]
        grants.request_release(session, finance, advance)
        grants.approve_release(session, admin, advance)
        grants.mark_paid(session, finance, advance, clock.now().date(), "MK07-1")
        session.commit()
        entries = session.scalars(sa.select(LedgerEntry)).all()
        assert {e.eur_mkd for e in entries} == {Decimal("61.5000"), Decimal("62.0000")}  # each at its own day's rate
        totals = ledger.totals(session, calls.get_programme(session))
    assert totals.committed_mkd == Decimal("40000.00") * Decimal("61.5")  # not at today's 62
    assert totals.disbursed_mkd == Decimal("12000.00") * Decimal("62")
    assert totals.allocated == Decimal("40000.00")  # the grant call only
    login(client, world.users["finance"])
    page = client.get("/envelope").get_data(as_text=True)
    assert "2.460.000,00" in page and "744.000,00" in page  # MKD as recorded, in the Macedonian format
    assert str(Decimal("40000") * 62) not in page
    with app.test_request_context():
        for key in ("envelope", "allocated", "committed", "disbursed", "uncommitted", "undisbursed"):
            assert f'id="total-{key}"' in page
            assert str(ledger.DEFINITIONS[key]).split(":")[0] in page
    ifr = client.get("/envelope/ifr.csv").get_data(as_text=True)
    with app.test_request_context():
        assert str(ledger.DEFINITIONS["undisbursed"]) in ifr
