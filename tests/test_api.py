"""The JSON API: personal tokens (hashed, revocable), who may call it, pagination, ETags, errors as JSON — and
schemathesis generating requests from the OpenAPI document and checking every answer against it; the IATI
file against the official IATI 2.03 activity schema."""

from __future__ import annotations

import importlib.util
import json
import os
import re

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.api import tokens
from portal.errors import NotAllowed
from portal.models import ApiToken, AuditEvent
from tests.conftest import login
from tests.test_indicators import build


def _token(app, session, user) -> str:
    with app.test_request_context():
        _row, token = tokens.create(session, user, "tests")
        session.commit()
    return token


def test_tokens_are_shown_once_stored_hashed_and_revocable(app, client, session, world):
    monitor = world.users["monitor"]
    login(client, monitor)
    page = client.post("/account/api-tokens", data={"name": "ISR refresh"}).get_data(as_text=True)
    token = re.search(r'id="new-token">([^<]+)<', page).group(1)
    row = session.scalar(sa.select(ApiToken).where(ApiToken.user_id == monitor.id))
    assert token.startswith("ssip_") and row.token_hash == tokens.digest(token) and token not in str(row.__dict__)
    assert token not in client.get("/account/api-tokens").get_data(as_text=True)  # shown once
    anonymous = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert anonymous.get("/api/v1/finance", headers=bearer).status_code == 200
    assert client.post(f"/account/api-tokens/{row.id}/revoke").status_code == 302
    refused = anonymous.get("/api/v1/finance", headers=bearer)
    assert refused.status_code == 401 and refused.is_json and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert {e.action for e in session.scalars(sa.select(AuditEvent))} >= {"api_token.created", "api_token.revoked"}


def test_only_monitors_and_the_ministry_use_the_api(app, session, world):
    client = app.test_client()
    for header in (None, "Bearer nonsense", "Bearer ssip_" + "x" * 43, "Basic dXNlcjpwYXNz"):
        response = client.get("/api/v1/indicators", headers={"Authorization": header} if header else {})
        assert response.status_code == 401 and response.json["error"]["message"], header
    provider = app.test_client()
    login(provider, world.users["provider"])
    assert provider.get("/api/v1/indicators").status_code == 403
    assert provider.post("/account/api-tokens", data={"name": "x"}).status_code == 403
    with app.test_request_context(), pytest.raises(NotAllowed):
        tokens.create(session, world.users["provider"], "x")
    other = _token(app, session, world.users["admin"])
    monitor = app.test_client()
    login(monitor, world.users["monitor"])
    theirs = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == tokens.digest(other)))
    assert monitor.post(f"/account/api-tokens/{theirs.id}/revoke").status_code == 403  # not the monitor's


def test_pages_etags_and_errors(app, session, world, monkeypatch):
    build(app, session, world, monkeypatch)
    from datetime import UTC, datetime

    from portal import clock

    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {_token(app, session, world.users['monitor'])}"}
    first = client.get("/api/v1/observations?indicator=BEN&period_type=month&per_page=5", headers=bearer)
    body = first.json
    assert first.status_code == 200 and len(body["data"]) == 5 and body["total"] > 5 and "next" in body["links"]
    assert {"indicator", "period", "dimension", "category", "value"} <= set(body["data"][0])
    second = client.get(body["links"]["next"], headers=bearer).json
    assert second["page"] == 2 and second["data"] != body["data"]
    again = client.get("/api/v1/observations?indicator=BEN&period_type=month&per_page=5",
                       headers={**bearer, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    for query, field in (("per_page=0", "per_page"), ("from=2025-13", "from"), ("period_type=week", "period_type"),
                         ("region=abc", "region"), ("color=blue", "color"), ("from=2025-06&to=2025-01", "from")):
        response = client.get(f"/api/v1/observations?{query}", headers=bearer)
        assert response.status_code == 400 and field in response.json["error"]["details"], query
    grants = client.get("/api/v1/grants", headers=bearer).json["data"]
    assert {g["number"] for g in grants} >= {"IND-1", "IND-2"}
    assert next(g for g in grants if g["number"] == "IND-1")["reports_accepted_through_month"] == 2
    finance = client.get("/api/v1/finance", headers=bearer).json
    assert (finance["committed_eur"], finance["disbursed_eur"]) == ("80000.00", "12000.00")
    indicators = client.get("/api/v1/indicators?indicator=BEN", headers=bearer).json["data"]
    assert [i["code"] for i in indicators] == ["BEN"] and indicators[0]["baseline"]["value"] == 0
    assert "Билјана" not in json.dumps(grants) + json.dumps(finance)  # organisations, never people


def test_the_api_does_what_its_openapi_document_says(app, session, world, monkeypatch):
    """schemathesis generates requests for every operation from the OpenAPI document (valid and invalid
    parameters alike) and checks each answer: never a server error, documented status codes, content types,
    headers and bodies that match their schemas."""
    from datetime import UTC, datetime

    from hypothesis import given

    from portal import clock

    build(app, session, world, monkeypatch)
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    token = _token(app, session, world.users["monitor"])
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"GET /api/v1/indicators", "GET /api/v1/observations", "GET /api/v1/grants",
                                               "GET /api/v1/finance", "GET /api/v1/iati-activity.xml"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
              response_schema_conformance]
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def conforms(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=checks)

        conforms()


def _iati_schema():
    from lxml import etree

    spec = importlib.util.find_spec("iati")  # the pyIATI package ships the official schemas
    assert spec is not None and spec.origin, "pyIATI (a test dependency) is not installed"
    path = os.path.join(os.path.dirname(spec.origin), "resources", "standard", "2-03", "schemas",
                        "iati-activities-schema.xsd")
    return etree.XMLSchema(etree.parse(path))


def test_the_iati_file_validates_against_the_iati_2_03_schema(app, client, session, world, monkeypatch):
    from lxml import etree

    build(app, session, world, monkeypatch)
    response = client.get("/api/v1/iati-activity.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    document = etree.fromstring(response.data)
    validator = _iati_schema()
    assert validator.validate(document), "\n".join(str(e) for e in validator.error_log)
    assert document.get("version") == "2.03"
    types = [t.get("code") for t in document.iter("transaction-type")]
    assert types.count("2") == 2 and types.count("3") == 1  # two commitments, the advance paid
    values = sorted(v.text for v in document.iter("value"))
    assert values == ["12000.00", "40000.00", "40000.00"]
    assert len(list(document.iter("result"))) == 2 and len(list(document.iter("indicator"))) >= 10
    actual_2025 = [p for p in document.iter("period") if p.find("period-start").get("iso-date") == "2025-01-01"]
    assert any(p.find("actual") is not None for p in actual_2025)
    broken = etree.fromstring(response.data)
    broken.find("iati-activity").remove(broken.find("iati-activity/iati-identifier"))
    assert not validator.validate(broken)  # the schema check can fail


@pytest.mark.parametrize("path", ["/api/v1/grants", "/api/v1/observations?period_type=quarter", "/api/v1/indicators",
                                  "/api/v1/finance"])
def test_api_pages_answer_in_the_same_number_of_statements_whatever_the_data(app, session, world, monkeypatch, path):
    from datetime import UTC, date, datetime

    from portal import clock
    from tests import factories
    from tests.conftest import count_queries

    build(app, session, world, monkeypatch)
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {_token(app, session, world.users['monitor'])}"}
    assert client.get(path, headers=bearer).status_code == 200  # computes the snapshot
    with count_queries(app) as few:
        assert client.get(path, headers=bearer).status_code == 200
    with app.test_request_context():
        for n in range(4):
            extra = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           start=date(2025, 1, 1), number=f"API-X{n}")
            factories.report(session, world.users["provider"], extra, date(2025, 1, 1), accept_by=world.users["reviewer"])
        session.commit()
    assert client.get(path, headers=bearer).status_code == 200  # the data moved: the snapshot is recomputed
    with count_queries(app) as many:
        assert client.get(path, headers=bearer).status_code == 200
    assert few.count == many.count, "\n".join(many.statements)
