"""Provider registration, tax numbers, profiles, verification and lost updates."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.db import utcnow
from portal.errors import ValidationFailed
from portal.models import AuditEvent, Organisation, OrgStatus
from portal.organisations.services import clean_tax_number
from tests.conftest import login


@pytest.mark.parametrize("raw,clean", [
    ("4030000375897", "4030000375897"), ("МК 4020990116747", "4020990116747"),
    ("MK4057009501106", "4057009501106"), (" 4030-0003-75897 ", "4030000375897"),
])
def test_valid_tax_numbers(raw, clean, app):
    with app.app_context():
        assert clean_tax_number(raw) == clean


@pytest.mark.parametrize("raw", ["4030000375890", "403000037589", "40300003758970", "abcdefghijklm", ""])
def test_invalid_tax_numbers(raw, app):
    with app.app_context(), pytest.raises(ValidationFailed) as exc:
        clean_tax_number(raw)
    assert "tax_number" in exc.value.field_errors


def registration(**changes):
    today = utcnow().date()
    data = {"name": "Здружение „Чекор“ Велес", "tax_number": "4030000375897", "legal_form": "association",
            "licence_number": "УП-12/2025", "licence_valid_from": (today - timedelta(days=10)).isoformat(),
            "licence_valid_until": (today + timedelta(days=900)).isoformat(), "address": "ул. Благој Ѓорев 1",
            "city": "Велес", "contact_phone": "+389 43 000 000", "full_name": "Ивана Стојанова",
            "email": "ivana@cekor.example"}
    data.update(changes)
    return data


def test_provider_registers_activates_by_email_and_waits_for_verification(app, client, world, session, mailbox):
    response = client.post("/register", data=registration())
    assert response.status_code == 200
    assert "ivana@cekor.example" in response.get_data(as_text=True)
    org = session.scalar(sa.select(Organisation).where(Organisation.tax_number == "4030000375897"))
    assert org.status == OrgStatus.PENDING
    # A real SMTP server received the activation link.
    [message] = mailbox.to("ivana@cekor.example")
    link = re.search(r"http://\S+/activate/(\S+)", message.get_content()).group(1)
    password = "cekor veles 2026 grant"
    assert client.post(f"/activate/{link}", data={"password": password, "confirm": password}).status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "notice--warning" in home  # pending verification banner
    # A reviewer verifies it; the provider is told by email.
    reviewer = app.test_client()
    login(reviewer, world.users["reviewer"])
    mailbox.clear()
    response = reviewer.post(f"/organisations/{org.id}/verify", data={"decision": "verified", "reason": ""})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Organisation, org.id).status == OrgStatus.VERIFIED
    assert mailbox.to("ivana@cekor.example")
    actions = set(session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_id == str(org.id))))
    assert {"organisation.registered", "organisation.verified"} <= actions


def test_registration_errors_are_specific_and_keep_what_was_typed(client, world):
    response = client.post("/register", data=registration(tax_number="4030000375890", email="not-an-email",
                                                           licence_valid_until="31.12.2027"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="#email"' in body and 'href="#licence_valid_until"' in body
    assert "Здружение „Чекор“ Велес" in body and "УП-12/2025" in body
    response = client.post("/register", data=registration(tax_number="4030000375890"))
    body = response.get_data(as_text=True)
    assert 'href="#tax_number"' in body and 'value="4030000375890"' in body


def test_registration_refuses_a_duplicate_tax_number_or_email(client, world, session):
    taken = world.orgs["provider"].tax_number
    body = client.post("/register", data=registration(tax_number=taken)).get_data(as_text=True)
    assert 'href="#tax_number"' in body
    body = client.post("/register", data=registration(email="provider@test.example")).get_data(as_text=True)
    assert 'href="#email"' in body
    assert session.scalar(sa.select(sa.func.count()).where(Organisation.name == "Здружение „Чекор“ Велес")) == 0


def test_licence_end_before_start_is_refused(client, world):
    today = utcnow().date()
    body = client.post("/register", data=registration(licence_valid_from=today.isoformat(),
                                                      licence_valid_until=(today - timedelta(days=1)).isoformat())
                       ).get_data(as_text=True)
    assert 'href="#licence_valid_until"' in body


def test_verification_needs_a_valid_licence_and_reasons_for_refusal(client, world, session):
    org = world.orgs["provider_b"]
    org.status = OrgStatus.PENDING
    org.licence_valid_until = utcnow().date() - timedelta(days=1)
    session.commit()
    login(client, world.users["reviewer"])
    body = client.post(f"/organisations/{org.id}/verify", data={"decision": "verified"}).get_data(as_text=True)
    assert 'href="#decision"' in body
    body = client.post(f"/organisations/{org.id}/verify", data={"decision": "rejected", "reason": ""}
                       ).get_data(as_text=True)
    assert 'href="#reason"' in body
    assert client.post(f"/organisations/{org.id}/verify",
                       data={"decision": "rejected", "reason": "Лиценцата е истечена."}).status_code == 302
    session.expire_all()
    assert session.get(Organisation, org.id).status == OrgStatus.REJECTED


def test_verifying_twice_is_an_invalid_transition(client, world):
    login(client, world.users["admin"])
    response = client.post(f"/organisations/{world.orgs['provider'].id}/verify", data={"decision": "verified"})
    assert response.status_code == 409


def test_provider_changing_its_licence_goes_back_to_verification(client, world, session):
    org = world.orgs["provider"]
    login(client, world.users["provider"])
    response = client.post(f"/organisations/{org.id}/edit", data={
        "licence_number": "УП-99/2026", "licence_valid_from": org.licence_valid_from.isoformat(),
        "licence_valid_until": org.licence_valid_until.isoformat(), "version_id": str(org.version_id)})
    assert response.status_code == 302
    session.expire_all()
    fresh = session.get(Organisation, org.id)
    assert fresh.licence_number == "УП-99/2026" and fresh.status == OrgStatus.PENDING
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "organisation.updated"))
    assert event.before["licence_number"] != event.after["licence_number"]


def test_two_people_saving_the_same_version_one_gets_a_conflict(app, world, session):
    org = world.orgs["provider"]
    version = str(org.version_id)
    first, second = app.test_client(), app.test_client()
    login(first, world.users["admin"])
    login(second, world.users["provider"])
    common = {"licence_number": org.licence_number, "licence_valid_from": org.licence_valid_from.isoformat(),
              "licence_valid_until": org.licence_valid_until.isoformat(), "version_id": version}
    assert first.post(f"/organisations/{org.id}/edit", data={**common, "name": org.name,
                                                             "city": "Куманово"}).status_code == 302
    response = second.post(f"/organisations/{org.id}/edit", data={**common, "city": "Скопје"})
    assert response.status_code == 409
    session.expire_all()
    assert session.get(Organisation, org.id).city == "Куманово"


def test_members_see_their_organisation_page_with_users(client, world):
    login(client, world.users["municipality"])
    body = client.get(f"/organisations/{world.orgs['municipality'].id}").get_data(as_text=True)
    assert "municipality@test.example" in body


def test_admin_creates_a_municipality_organisation_only_once_per_local_government(client, world, session):
    login(client, world.users["admin"])
    taken = world.orgs["municipality"].municipality_id
    body = client.post("/admin/organisations/new", data={"kind": "municipality", "name": "Дупликат",
                                                         "municipality_id": taken}).get_data(as_text=True)
    assert 'href="#municipality_id"' in body
    assert session.scalar(sa.select(sa.func.count()).where(Organisation.name == "Дупликат")) == 0
