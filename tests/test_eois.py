"""Calls and expressions of interest: deadlines in Skopje time, one EOI per municipality,
the workflow and its refusals, the summary and its downloads."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from portal import clock
from portal.calls import services as calls
from portal.eois import services as eois
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.models import AuditEvent, CallStatus, EoiStatus, EoiSubmission, ExpressionOfInterest
from tests import factories
from tests.conftest import login


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        app.preprocess_request()
        yield


@pytest.fixture
def call(app, world, session):
    with app.test_request_context():
        created = factories.eoi_call(session, world.users["admin"])
        session.commit()
    return created


def at(monkeypatch, when: datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: when)


# Deadlines ---------------------------------------------------------------------------------------------

def test_skopje_time_conversion_across_summer_time():
    winter = clock.skopje_to_utc(datetime(2027, 3, 27, 16, 0))
    summer = clock.skopje_to_utc(datetime(2027, 3, 29, 16, 0))
    assert winter == datetime(2027, 3, 27, 15, 0, tzinfo=UTC)  # CET, UTC+1
    assert summer == datetime(2027, 3, 29, 14, 0, tzinfo=UTC)  # CEST, UTC+2
    with pytest.raises(clock.NonexistentLocalTime):
        clock.skopje_to_utc(datetime(2027, 3, 28, 2, 30))  # skipped when the clocks go forward
    # The autumn hour that happens twice takes its first (summer-time) occurrence.
    assert clock.skopje_to_utc(datetime(2027, 10, 31, 2, 30)) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("closing_local", [datetime(2027, 3, 28, 3, 30), datetime(2027, 1, 15, 16, 0),
                                           datetime(2027, 10, 31, 16, 0)])
def test_submission_one_second_before_and_after_closing(world, session, monkeypatch, ctx, closing_local):
    closes = clock.skopje_to_utc(closing_local)
    at(monkeypatch, closes - timedelta(days=10))
    call = factories.eoi_call(session, world.users["admin"])
    call.opens_at, call.closes_at = closes - timedelta(days=20), closes
    officer = world.users["municipality"]
    eoi = factories.filled_eoi(session, officer, call, submit=False)
    late = factories.filled_eoi(session, world.users["municipality_b"], call, submit=False)
    at(monkeypatch, closes - timedelta(seconds=1))
    eois.submit(session, officer, eoi)
    assert eoi.status == EoiStatus.SUBMITTED
    at(monkeypatch, closes)
    with pytest.raises(InvalidTransition, match="истече"):  # "the deadline ... has passed", in mk
        eois.submit(session, world.users["municipality_b"], late)
    assert late.status == EoiStatus.DRAFT


def test_a_form_open_when_the_deadline_passed_keeps_the_draft(app, client, world, session, monkeypatch, call):
    officer = world.users["municipality"]
    with app.test_request_context():
        eoi = factories.filled_eoi(session, officer, call, submit=False)
        session.commit()
    at(monkeypatch, call.closes_at + timedelta(seconds=1))
    login(client, officer)
    form = {"version_id": str(eoi.version_id), "needs_assessment": "Нова, подолга проценка на потребите.",
            "target_groups": "Стари лица", "people_in_need": "420", "cofinancing_eur": "15000.00", "cofinancing_pct": "10",
            "coordinator_name": "Драган", "coordinator_email": "d@test.example", "services-0-service_type_id": str(
                call.service_types[0].id), "services-0-beneficiaries_per_month": "60", "services-0-annual_cost_eur": "150000",
            "submit": "1"}
    response = client.post(f"/eois/{eoi.id}", data=form)
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "error-summary" in body and "Нова, подолга проценка" in body
    session.expire_all()
    kept = session.get(ExpressionOfInterest, eoi.id)
    assert kept.status == EoiStatus.DRAFT
    # What was typed is saved in the draft; only the submission is refused.
    assert kept.needs_assessment == "Нова, подолга проценка на потребите."


def test_submit_before_opening_is_refused(world, session, monkeypatch, ctx):
    call = factories.eoi_call(session, world.users["admin"], opens_days=3)
    eoi = factories.filled_eoi(session, world.users["municipality"], call, submit=False)
    with pytest.raises(InvalidTransition):
        eois.submit(session, world.users["municipality"], eoi)


# One EOI per municipality per call -----------------------------------------------------------------------

def test_one_eoi_per_municipality_per_call(world, session, call, ctx):
    first = eois.start(session, world.users["municipality"], call)
    again = eois.start(session, world.users["municipality"], call)
    assert first.id == again.id
    duplicate = ExpressionOfInterest(call_id=call.id, organisation_id=world.orgs["municipality"].id)
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        session.add(duplicate)
        session.flush()


def test_submission_validates_completeness_with_specific_messages(world, session, call, ctx):
    eoi = eois.start(session, world.users["municipality"], call)
    with pytest.raises(ValidationFailed) as exc:
        eois.submit(session, world.users["municipality"], eoi)
    assert {"needs_assessment", "people_in_need", "cofinancing_eur", "services-0-service_type_id"} <= exc.value.field_errors.keys()


def test_ineligible_service_type_is_refused(world, session, call, ctx):
    from portal.models import ServiceType

    eoi = eois.start(session, world.users["municipality"], call)
    foster = session.scalar(sa.select(ServiceType).where(ServiceType.code == "foster_care"))
    data = eois.EoiData(services=[eois.ServiceRow(foster.id, 5, Decimal("1000.00"))])
    with pytest.raises(ValidationFailed) as exc:
        eois.save(session, world.users["municipality"], eoi, data, eoi.version_id)
    assert "services-0-service_type_id" in exc.value.field_errors


# Workflow --------------------------------------------------------------------------------------------

def test_submission_is_read_only_gives_a_reference_a_snapshot_and_an_email(app, world, session, call, mailbox, ctx):
    eoi = factories.filled_eoi(session, world.users["municipality"], call)
    session.commit()
    from portal.mail import deliver_pending

    deliver_pending(session)
    assert eoi.reference.startswith(call.reference + "-MK")
    [snapshot] = session.scalars(sa.select(EoiSubmission)).all()
    assert snapshot.snapshot["people_in_need"] == 420
    assert mailbox.to(world.users["municipality"].email)[0]["Subject"].endswith(eoi.reference)
    with pytest.raises(InvalidTransition):
        eois.save(session, world.users["municipality"], eoi, eois.EoiData(needs_assessment="x"), eoi.version_id)
    with pytest.raises(InvalidTransition):
        eois.submit(session, world.users["municipality"], eoi)


def test_withdraw_until_the_deadline_then_resubmit(world, session, call, monkeypatch, ctx):
    officer = world.users["municipality"]
    eoi = factories.filled_eoi(session, officer, call)
    eois.withdraw(session, officer, eoi, "Ќе ја дополниме проценката")
    assert eoi.status == EoiStatus.WITHDRAWN
    eois.submit(session, officer, eoi)
    assert eoi.status == EoiStatus.SUBMITTED and len(eoi.submissions) == 2
    at(monkeypatch, call.closes_at)
    with pytest.raises(InvalidTransition):
        eois.withdraw(session, officer, eoi, "")
    other = world.users["municipality_b"]
    with pytest.raises(InvalidTransition):
        eois.withdraw(session, other, factories.filled_eoi(session, other, call, submit=False), "")  # a draft


def test_clarification_reopens_only_the_fields_asked_until_the_date(world, session, call, monkeypatch, ctx):
    officer, reviewer = world.users["municipality"], world.users["reviewer"]
    eoi = factories.filled_eoi(session, officer, call)
    until = clock.now() + timedelta(days=5)
    eois.request_clarification(session, reviewer, eoi, "Појаснете го кофинансирањето.", ["cofinancing_eur"], until)
    assert eoi.status == EoiStatus.CLARIFICATION
    data = eois.EoiData(needs_assessment="Сменето?", people_in_need=420, cofinancing_eur=Decimal("30000.00"),
                        cofinancing_pct=Decimal("20"), services=[])
    eois.save(session, officer, eoi, data, eoi.version_id)
    assert eoi.cofinancing_eur == Decimal("30000.00")
    assert eoi.needs_assessment.startswith("Многу")  # not reopened: unchanged
    # The share follows the amount (30,000 of the services' 120,000), whatever was typed for it.
    assert eoi.cofinancing_pct == Decimal("25.00") and len(eoi.services) == 1
    eois.submit(session, officer, eoi)
    assert eoi.status == EoiStatus.SUBMITTED and eoi.reopened_fields == []
    assert [s.number for s in eoi.submissions] == [1, 2]
    assert eoi.submissions[0].snapshot["cofinancing_eur"] == "15000.00"  # the first version is kept


def test_clarification_after_its_date_cannot_be_resubmitted_but_can_be_decided(world, session, call, monkeypatch, ctx):
    officer, reviewer = world.users["municipality"], world.users["reviewer"]
    eoi = factories.filled_eoi(session, officer, call)
    until = clock.now() + timedelta(days=1)
    eois.request_clarification(session, reviewer, eoi, "?", ["documents"], until)
    with pytest.raises(InvalidTransition):
        eois.decide(session, reviewer, eoi, True, "Рано е")
    at(monkeypatch, until)
    with pytest.raises(InvalidTransition):
        eois.submit(session, officer, eoi)
    eois.decide(session, reviewer, eoi, False, "Не одговорија навреме.")
    assert eoi.status == EoiStatus.REJECTED


def test_decisions_need_reasons_the_right_role_and_the_right_state(world, session, call, mailbox, ctx):
    officer, reviewer = world.users["municipality"], world.users["reviewer"]
    draft = factories.filled_eoi(session, world.users["municipality_b"], call, submit=False)
    with pytest.raises(InvalidTransition):
        eois.decide(session, reviewer, draft, True, "ok")
    with pytest.raises(InvalidTransition):
        eois.request_clarification(session, reviewer, draft, "?", ["services"], clock.now() + timedelta(days=1))
    eoi = factories.filled_eoi(session, officer, call)
    for someone in (officer, world.users["finance"], world.users["provider"], world.users["monitor"]):
        with pytest.raises(NotAllowed):
            eois.decide(session, someone, eoi, True, "ok")
    with pytest.raises(ValidationFailed):
        eois.decide(session, reviewer, eoi, True, "  ")
    eois.decide(session, reviewer, eoi, True, "Добро образложена потреба.")
    assert eoi.status == EoiStatus.ACCEPTED
    with pytest.raises(InvalidTransition):
        eois.decide(session, reviewer, eoi, False, "changed my mind")
    with pytest.raises(InvalidTransition):
        eois.withdraw(session, officer, eoi, "")
    actions = set(session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "eoi")))
    assert {"eoi.created", "eoi.saved", "eoi.submitted", "eoi.accepted"} <= actions


def test_another_municipality_cannot_touch_an_eoi(world, session, call, ctx):
    eoi = factories.filled_eoi(session, world.users["municipality"], call, submit=False)
    other = world.users["municipality_b"]
    with pytest.raises(NotAllowed):
        eois.save(session, other, eoi, eois.EoiData(), eoi.version_id)
    with pytest.raises(NotAllowed):
        eois.submit(session, other, eoi)
    with pytest.raises(NotAllowed):
        eois.get_visible(session, other, eoi.id)
    with pytest.raises(NotAllowed):
        eois.get_visible(session, world.users["reviewer"], eoi.id)  # drafts stay private


# Calls and the envelope -----------------------------------------------------------------------------------

def test_call_allocations_never_exceed_the_envelope(world, session, ctx):
    admin = world.users["admin"]
    factories.eoi_call(session, admin, allocation_eur=Decimal("8000000.00"))
    with pytest.raises(ValidationFailed) as exc:
        factories.eoi_call(session, admin, allocation_eur=Decimal("2800000.01"))
    assert "allocation_eur" in exc.value.field_errors
    factories.eoi_call(session, admin, allocation_eur=Decimal("2800000.00"))
    assert calls.envelope_summary(session)["unallocated"] == Decimal("0.00")


def test_call_transitions_and_amendments(world, session, monkeypatch, ctx):
    admin = world.users["admin"]
    call = factories.eoi_call(session, admin, publish=False)
    with pytest.raises(InvalidTransition):
        calls.change_status(session, admin, call, CallStatus.CLOSED)
    calls.change_status(session, admin, call, CallStatus.PUBLISHED)
    with pytest.raises(InvalidTransition):
        calls.change_status(session, admin, call, CallStatus.CLOSED)  # still open
    data = calls.CallData(kind=call.kind, title_mk=call.title_mk, title_sq=call.title_sq, title_en=call.title_en,
                          description_mk="", description_sq="", description_en="", opens_at=call.opens_at,
                          closes_at=call.closes_at + timedelta(days=7), allocation_eur=call.allocation_eur,
                          grant_ceiling_eur=None, min_cofinancing_pct=Decimal("5"),
                          service_type_ids=[t.id for t in call.service_types], required_documents=["council_decision"])
    with pytest.raises(ValidationFailed):
        calls.update_call(session, admin, call, data, call.version_id)  # a published call needs a note
    data.amendment_note = "Рокот е продолжен за една недела."
    calls.update_call(session, admin, call, data, call.version_id)
    [amendment] = call.amendments
    assert "closes_at" in amendment.changes
    at(monkeypatch, call.closes_at)
    calls.change_status(session, admin, call, CallStatus.CLOSED)
    with pytest.raises(NotAllowed):
        calls.change_status(session, world.users["reviewer"], call, CallStatus.DECIDED)


def test_public_call_page_in_three_languages_shows_the_deadline(client, world, session, call):
    for lang, title in (("mk", "Повик за изразување интерес"), ("sq", "Thirrje për shprehje interesi"),
                        ("en", "Call for expressions of interest")):
        client.post("/language", data={"language": lang, "next": "/"})
        body = client.get(f"/calls/{call.id}").get_data(as_text=True)
        assert title in body
    assert client.get("/calls/").status_code == 200


def test_draft_calls_are_not_public(app, client, world, session):
    with app.test_request_context():
        draft = factories.eoi_call(session, world.users["admin"], publish=False, title_mk="Нацрт-повик")
        session.commit()
    assert client.get(f"/calls/{draft.id}").status_code == 404
    assert "Нацрт-повик" not in client.get("/calls/").get_data(as_text=True)


# Screening views and downloads -----------------------------------------------------------------------------

def test_screening_list_query_count_does_not_grow(app, client, world, session, call):
    from tests.conftest import count_queries

    with app.test_request_context():
        factories.filled_eoi(session, world.users["municipality"], call)
        session.commit()
    login(client, world.users["reviewer"])
    client.get(f"/review/calls/{call.id}/eois")
    with count_queries(app) as few:
        client.get(f"/review/calls/{call.id}/eois")
    from portal.models import OrgKind, Role

    with app.test_request_context():
        for _ in range(6):
            org = factories.org(session, OrgKind.MUNICIPALITY)
            factories.filled_eoi(session, factories.user(session, Role.MUNICIPALITY, org), call)
        session.commit()
    with count_queries(app) as many:
        body = client.get(f"/review/calls/{call.id}/eois").get_data(as_text=True)
    assert many.count == few.count, many.statements
    assert body.count("tag--submitted") == 7


def test_summary_downloads_are_formula_safe(app, client, world, session, call):
    with app.test_request_context():
        eoi = factories.filled_eoi(session, world.users["municipality"], call, submit=False)
        eoi.services[0].partners = "=HYPERLINK(\"http://evil\")"
        eois.submit(session, world.users["municipality"], eoi)
        session.commit()
    login(client, world.users["reviewer"])
    page = client.get(f"/review/calls/{call.id}/summary").get_data(as_text=True)
    assert "<svg" in page and "120.000,00" in page
    csv_body = client.get(f"/review/calls/{call.id}/summary.csv").data
    assert csv_body.startswith(b"\xef\xbb\xbf")
    workbook = openpyxl.load_workbook(io.BytesIO(client.get(f"/review/calls/{call.id}/summary.xlsx").data))
    values = [cell.value for sheet in workbook for row in sheet.iter_rows() for cell in row]
    assert Decimal(str(max(v for v in values if isinstance(v, (int, float))))) >= Decimal("120000")
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)


def test_export_cells_are_neutralised():
    from portal.exports import safe_cell

    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(dangerous).startswith("'")
    assert safe_cell(Decimal("5")) == Decimal("5") and safe_cell("Куманово") == "Куманово"


def test_the_decision_mail_speaks_each_officers_language(app, world, session, call, mailbox, ctx):
    from portal.mail import deliver_pending
    from portal.models import Role

    eoi = factories.filled_eoi(session, world.users["municipality"], call)
    albanian = factories.user(session, Role.MUNICIPALITY, world.orgs["municipality"], language="sq")
    eois.decide(session, world.users["reviewer"], eoi, True, "Добро образложено.")
    session.commit()
    deliver_pending(session)
    macedonian = [m["Subject"] for m in mailbox.to(world.users["municipality"].email)]
    assert f"Одлука за изразувањето интерес {eoi.reference}" in macedonian
    assert [m["Subject"] for m in mailbox.to(albanian.email)] == [f"Vendim për shprehjen e interesit {eoi.reference}"]
