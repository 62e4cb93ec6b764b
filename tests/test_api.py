"""The JSON API: personal tokens (hashed, revocable), who may call it, pagination, ETags, errors as JSON — and
schemathesis generating requests from the OpenAPI document and checking every answer against it; the IATI
file against the official IATI 2.03 activity schema."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from decimal import Decimal

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
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
                         ("region=abc", "region"), ("color=blue", "color"), ("to=", "to"), ("service_type=", "service_type"),
                         ("indicator=" + "B" * 200, "indicator"), ("from=4987-41", "from")):
        response = client.get(f"/api/v1/observations?{query}", headers=bearer)
        assert response.status_code == 400 and field in response.json["error"]["details"], query
    # A range that ends before it starts selects no month: an empty page, as documented.
    empty = client.get("/api/v1/observations?from=2025-06&to=2025-01", headers=bearer)
    assert empty.status_code == 200 and empty.json["data"] == [] and empty.json["total"] == 0
    # Errors in the language the client asks for; otherwise the token holder's (the monitor reads English).
    asked = {"sq": "Disa parametra", "mk": "Некои параметри", "en": "Some parameters"}
    for lang, start in asked.items():
        answer = client.get("/api/v1/observations?to=", headers={**bearer, "Accept-Language": lang}).json
        assert answer["error"]["message"].startswith(start), (lang, answer)
    world.users["monitor"].preferred_language = "en"
    session.commit()
    assert client.get("/api/v1/observations?to=", headers=bearer).json["error"]["message"].startswith("Some parameters")
    # A method the address does not take: 405 that says which ones it does.
    refused = client.post("/api/v1/indicators", headers=bearer)
    assert refused.status_code == 405 and "GET" in refused.headers["Allow"]
    assert client.get("/api/v1/openapi.json").json["components"]["securitySchemes"]["session"]["name"] == \
        app.config["SESSION_COOKIE_NAME"]
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
              response_schema_conformance, negative_data_rejection, positive_data_acceptance, missing_required_header,
              unsupported_method, allow_header_conformance, ignored_auth, use_after_free, ensure_resource_availability]
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
    assert iati_ruleset_errors(document) == []
    assert iati_codelist_errors(document) == []
    types = [t.get("code") for t in document.iter("transaction-type")]
    assert types.count("2") == 2 and types.count("3") == 1  # two commitments, the advance paid
    transactions = sorted(v.findtext("value") for v in document.iter("transaction"))
    assert transactions == ["12000.00", "40000.00", "40000.00"]
    assert len(list(document.iter("result"))) == 2
    activity = document.find("iati-activity")
    # The ministry publishes; the World Bank funds; the loan and the project are other identifiers.
    reporting = activity.find("reporting-org")
    assert reporting.get("type") == "10" and reporting.get("ref") != "44000"
    assert activity.findtext("iati-identifier").startswith(reporting.get("ref") + "-")
    assert [(p.get("role"), p.get("ref")) for p in activity.iter("participating-org")][0] == ("1", "44000")
    assert {o.get("ref") for o in activity.iter("other-identifier")} == {"P162246", "IBRD-8902-MK"}
    assert activity.find("default-flow-type").get("code") == "20"  # OOF, not ODA, for an IBRD loan
    assert activity.find("default-finance-type").get("code") == "110"
    # Receivers typed from their legal form, with their tax number under the registration prefix.
    receivers = {r.get("ref"): r.get("type") for r in activity.iter("receiver-org")}
    for provider in (world.orgs["provider"], world.orgs["provider_b"]):
        expected = {"association": "22", "company": "72"}.get(provider.legal_form.value, "90")
        assert receivers[f"MK-CRN-{provider.tax_number}"] == expected
    # Cyrillic names are tagged Macedonian; English ones carry no tag.
    for narrative in activity.iter("narrative"):
        lang = narrative.get("{http://www.w3.org/XML/1998/namespace}lang")
        if re.search(r"[\u0400-\u04FF]", narrative.text or ""):
            assert lang == "mk", narrative.text
    # Budgets per year and planned disbursements from the tranche plans (the unpaid ones).
    budgets = {b.find("period-start").get("iso-date")[:4]: b.findtext("value") for b in activity.iter("budget")}
    assert sum(Decimal(v) for v in budgets.values()) == Decimal("80000.00")
    planned = sorted(p.findtext("value") for p in activity.iter("planned-disbursement"))
    assert sum(Decimal(v) for v in planned) == Decimal("68000.00")  # 80,000 planned, the 12,000 advance paid
    dates = {d.get("type"): d.get("iso-date") for d in activity.iter("activity-date")}
    assert dates["1"] == "2025-01-01" and dates["2"] == "2024-12-12" and "3" in dates
    # Only results: timeliness and money rates stay out unless the catalogue says so.
    titles = [i.findtext("title/narrative") for i in activity.iter("indicator")]
    assert titles and not any(t.startswith("Monthly reports submitted on time") or "committed" in t.lower()
                              or "disbursed" in t.lower() for t in titles)
    assert "Grievances resolved on time (%)" in titles  # the results framework follows it
    assert any(p.find("actual") is not None for p in activity.iter("period")
               if p.find("period-start").get("iso-date") == "2025-01-01")
    assert activity.get("last-updated-datetime")  # when the figures were computed
    broken = etree.fromstring(response.data)
    broken.find("iati-activity").remove(broken.find("iati-activity/iati-identifier"))
    assert not validator.validate(broken)  # the schema check can fail
    wrong = etree.fromstring(response.data)
    wrong.find("iati-activity/recipient-country").set("percentage", "60")
    wrong.find("iati-activity/default-flow-type").set("code", "99")
    assert iati_ruleset_errors(wrong) and iati_codelist_errors(wrong)  # and so can the rules


def _iati_resources() -> str:
    spec = importlib.util.find_spec("iati")
    return os.path.join(os.path.dirname(spec.origin), "resources", "standard", "2-03")


def iati_ruleset_errors(document) -> list[str]:
    """The IATI Standard's activity ruleset (standard_ruleset.json, shipped in pyIATI), evaluated here:
    atleast_one, date_order, regex_matches, sum, no_more_than_one."""
    import json
    from datetime import date as date_type

    rules = json.load(open(os.path.join(_iati_resources(), "rulesets", "standard_ruleset.json")))
    errors = []
    today = date_type.today().isoformat()
    for context, checks in rules.items():
        if "iati-organisation" in context:
            continue
        for element in document.xpath(context):
            for rule, spec in checks.items():
                for case in spec["cases"]:
                    found = {p: element.xpath(p) for p in case.get("paths", [])}
                    if rule == "atleast_one" and not any(found.values()):
                        errors.append(f"{context}: none of {case['paths']}")
                    elif rule == "no_more_than_one" and sum(bool(v) for v in found.values()) > 1:
                        errors.append(f"{context}: more than one of {case['paths']}")
                    elif rule == "regex_matches":
                        errors += [f"{context}: {v!r} ~ {case['regex']}" for values in found.values() for v in values
                                   if not re.fullmatch(case["regex"], str(v))]
                    elif rule == "sum" and any(found.values()):
                        total = sum(Decimal(str(v)) for values in found.values() for v in values)
                        if total != Decimal(str(case["sum"])):
                            errors.append(f"{context}: {case['paths']} add up to {total}, not {case['sum']}")
                    elif rule == "date_order":
                        less = element.xpath(case["less"]) if case["less"] != "NOW" else [today]
                        more = element.xpath(case["more"]) if case["more"] != "NOW" else [today]
                        if less and more and str(less[0])[:10] > str(more[0])[:10]:
                            errors.append(f"{context}: {case['less']} {less[0]} after {case['more']} {more[0]}")
    return errors


def iati_codelist_errors(document) -> list[str]:
    """Codes of the file's closed code lists against the IATI 2.03 code lists."""
    from lxml import etree

    def codes(name):
        tree = etree.parse(os.path.join(_iati_resources(), "codelists", f"{name}.xml"))
        return {c.text for c in tree.iter("code")}

    checks = {"//reporting-org/@type": "OrganisationType", "//participating-org/@type": "OrganisationType",
              "//participating-org/@role": "OrganisationRole", "//receiver-org/@type": "OrganisationType",
              "//default-flow-type/@code": "FlowType", "//default-finance-type/@code": "FinanceType",
              "//finance-type/@code": "FinanceType", "//default-aid-type/@code": "AidType",
              "//activity-date/@type": "ActivityDateType", "//activity-status/@code": "ActivityStatus",
              "//other-identifier/@type": "OtherIdentifierType", "//budget/@status": "BudgetStatus",
              "//budget/@type": "BudgetType", "//transaction-type/@code": "TransactionType",
              "//indicator/@measure": "IndicatorMeasure", "//result/@type": "ResultType",
              "//@xml:lang": "Language"}
    errors = []
    for path, codelist in checks.items():
        allowed = codes(codelist)
        errors += [f"{path}={v}" for v in document.xpath(path) if str(v) not in allowed]
    return errors


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
