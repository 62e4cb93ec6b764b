"""The same person added to one register by several people at once, through the real routes on PostgreSQL: each
request in its own thread with its own connection, released by a barrier. The same-person check reads the register
and then adds; without one writer at a time per register (`services.lock_register`) two of them pass it and the
register holds the person twice."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from portal.models import GrantAgreement, Municipality, RegisterEpisode, Role, User
from portal.register.bulk import columns
from tests.conftest import demo_schema_app, is_postgres, login
from tests.test_register import make_number

PARALLEL = 8

pytestmark = pytest.mark.skipif(not is_postgres(), reason="parallel connections racing for one register are proven "
                                                          "on PostgreSQL (SQLite runs one writer at a time)")


@pytest.fixture(scope="module")
def world():
    with demo_schema_app("regrace", PARALLEL + 6) as app:
        with app.app_context():
            from portal.db import db

            agreement = db.scalar(sa.select(GrantAgreement).order_by(GrantAgreement.id).limit(1))
            provider = db.scalar(sa.select(User).where(User.role == Role.PROVIDER,
                                                       User.organisation_id == agreement.organisation_id).limit(1))
            service = agreement.application.service_types[0]
            place = db.scalar(sa.select(Municipality).order_by(Municipality.id).limit(1))
            facts = {"agreement_id": agreement.id, "service_id": service.id, "service_code": service.code,
                     "place_id": place.id, "place_code": place.code,
                     "start": max(date.today().replace(day=1) - timedelta(days=60), agreement.current.start_date)}
            db.expunge(provider)
            db.close()
        yield app, provider, facts


def _episodes(app, agreement_id: int) -> int:
    with app.app_context():
        from portal.db import db

        try:
            return db.scalar(sa.select(sa.func.count(RegisterEpisode.id))
                             .where(RegisterEpisode.agreement_id == agreement_id))
        finally:
            db.close()


def _race(app, user, url: str, payload) -> list:
    barrier = threading.Barrier(PARALLEL)

    def one(n: int):
        client = app.test_client()
        login(client, user)
        data = payload(n)
        barrier.wait(timeout=60)
        return client.post(url, data=data, content_type="multipart/form-data")

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(one, range(PARALLEL)))


def _form(facts, number: str) -> dict:
    start = facts["start"]
    return {"personal_number": number, "decision_number": "08-55/1",
            "decision_date": (start - timedelta(days=3)).isoformat(), "decision_centre": "ЦСР Куманово",
            "service_type_id": str(facts["service_id"]), "start_date": start.isoformat(), "disability": "no",
            "municipality_id": str(facts["place_id"]), "sex": "", "local_reference": "R-1"}


def _workbook(facts, number: str) -> bytes:
    start = facts["start"]
    values = {"personal_number": number, "confirm_checksum": "", "decision_number": "08-1234/2",
              "decision_date": (start - timedelta(days=10)).isoformat(), "decision_centre": "ЦСР Куманово",
              "service_type": facts["service_code"], "start_date": start.isoformat(), "end_date": "",
              "leaving_reason": "", "disability": "no", "municipality": facts["place_code"], "local_reference": "K-1"}
    book = Workbook()
    sheet = book.active
    sheet.title = "register"
    keys = [key for key, _label in columns()]
    sheet.append([label for _key, label in columns()])
    sheet.append([values.get(key, "") for key in keys])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_the_same_person_added_by_several_people_at_once_is_added_once(world):
    app, provider, facts = world
    before = _episodes(app, facts["agreement_id"])
    number = make_number(date(1941, 3, 14), 311)
    responses = _race(app, provider, f"/grants/{facts['agreement_id']}/register/new", lambda n: _form(facts, number))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [303] + [422] * (PARALLEL - 1), statuses
    refused = next(r for r in responses if r.status_code == 422).get_data(as_text=True)
    assert number not in refused and "Traceback" not in refused
    assert _episodes(app, facts["agreement_id"]) == before + 1


def test_the_same_person_in_files_imported_at_once_and_by_the_form_is_added_once(world):
    app, provider, facts = world
    before = _episodes(app, facts["agreement_id"])
    number = make_number(date(1944, 8, 2), 512)
    url = f"/grants/{facts['agreement_id']}/register"

    def payload(n: int) -> dict:
        if n % 2:  # half of them type the person in, the other half import a file naming the same person
            return _form(facts, number)
        return {"file": (io.BytesIO(_workbook(facts, number)), "register.xlsx")}

    barrier = threading.Barrier(PARALLEL)

    def one(n: int):
        client = app.test_client()
        login(client, provider)
        data = payload(n)
        path = f"{url}/new" if "personal_number" in data else f"{url}/import"
        barrier.wait(timeout=60)
        return client.post(path, data=data, content_type="multipart/form-data")

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        responses = list(pool.map(one, range(PARALLEL)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [303] + [422] * (PARALLEL - 1), statuses
    assert _episodes(app, facts["agreement_id"]) == before + 1
