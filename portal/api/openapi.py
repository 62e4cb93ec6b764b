"""The OpenAPI 3 description of `/api/v1/`: exactly what the routes accept and answer (schemathesis runs
against it in the test suite)."""

from __future__ import annotations

from typing import Any

MONTH = {"type": "string", "pattern": r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$", "example": "2026-10"}
ID = {"type": "string", "pattern": r"^[0-9]{1,9}$", "example": "3"}
CODES = {"type": "string", "pattern": r"^[A-Za-z0-9_]{1,40}(,[A-Za-z0-9_]{1,40}){0,19}$", "example": "BEN,HTE"}


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGING = [
    _param("page", {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1}, "Page number, from 1."),
    _param("per_page", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "Items per page, at most 500."),
]
FILTERS = [
    _param("indicator", CODES,
           "Indicator codes, comma-separated (default: all active indicators)."),
    _param("period_type", {"type": "string", "pattern": r"^(month|quarter|half|year)(,(month|quarter|half|year))*$",
                           "example": "quarter"},
           "Kinds of period, comma-separated: month, quarter, half, year (default: quarter)."),
    _param("from", MONTH, "First month (YYYY-MM)."),
    _param("to", MONTH, "Last month (YYYY-MM); a `from` after `to` selects no month (an empty page)."),
    _param("region", ID, "Planning region id."),
    _param("municipality", ID, "Local government id."),
    _param("service_type", ID, "Service type id."),
]
ERROR = {"$ref": "#/components/schemas/Error"}


TOO_MANY: dict[str, Any] = {
    "description": "Too many requests from this token or address in the current minute; wait Retry-After seconds.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until the next window."}},
    "content": {"application/json": {"schema": ERROR}}}


def _responses(schema: dict[str, Any], *, etag: bool = True) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    if etag:
        ok["headers"] = {"ETag": {"schema": {"type": "string"}, "description": "Send it back as If-None-Match."}}
    responses: dict[str, Any] = {"200": ok,
                                 "400": {"description": "A parameter is not valid.", "content": {"application/json": {"schema": ERROR}}},
                                 "401": {"description": "No valid token and no signed-in session.",
                                         "content": {"application/json": {"schema": ERROR}}},
                                 "403": {"description": "The user is not a monitor or ministry user.",
                                         "content": {"application/json": {"schema": ERROR}}},
                                 "429": TOO_MANY}
    if etag:
        responses["304"] = {"description": "Not modified (the ETag sent in If-None-Match still holds)."}
    return responses


META = {"type": "object", "required": ["data_as_of", "data_version", "source"],
        "description": "When the figures were computed (UTC) and from which data version: a snapshot's computation "
                       "time, or the time of the request for an answer computed live.",
        "properties": {"data_as_of": {"type": "string", "format": "date-time"},
                       "data_version": {"type": ["integer", "null"]},
                       "source": {"type": "string", "enum": ["snapshot", "live"]}}}


def _page_of(item: str) -> dict[str, Any]:
    return {"type": "object", "required": ["data", "page", "per_page", "total", "pages", "links", "meta"],
            "properties": {"meta": META, "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
                           "page": {"type": "integer"}, "per_page": {"type": "integer"}, "total": {"type": "integer"},
                           "pages": {"type": "integer"},
                           "links": {"type": "object", "required": ["self"],
                                     "properties": {"self": {"type": "string"}, "next": {"type": "string"},
                                                    "prev": {"type": "string"}}}}}


NULLABLE_NUMBER = {"type": ["number", "null"]}
NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}
LANGUAGES = {"type": "object", "required": ["mk", "sq", "en"],
             "properties": {"mk": {"type": "string"}, "sq": {"type": "string"}, "en": {"type": "string"}}}
VALUE_AT = {"type": "object", "required": ["value", "date"], "properties": {"value": NULLABLE_NUMBER, "date": NULLABLE_DATE}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["status", "message", "request_id"],
        "properties": {"status": {"type": "integer"}, "message": {"type": "string"}, "request_id": {"type": "string"},
                       "details": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}}}},
    "Indicator": {"type": "object",
                  "required": ["code", "name", "definition", "unit", "level", "baseline", "targets", "end_target", "previous",
                               "current", "disaggregations", "measure", "carry_months", "source"],
                  "properties": {"code": {"type": "string"}, "name": LANGUAGES, "definition": LANGUAGES,
                                 "unit": {"type": "string", "enum": ["number", "percent", "eur"]},
                                 "level": {"type": "string", "enum": ["objective", "intermediate"]},
                                 "baseline": {"type": "object", "required": ["value", "date"],
                                              "properties": {"value": {"type": "number"}, "date": {"type": "string", "format": "date"}}},
                                 "targets": {"type": "array", "items": {"type": "object", "required": ["year", "value"],
                                                                        "properties": {"year": {"type": "integer"},
                                                                                       "value": NULLABLE_NUMBER}}},
                                 "end_target": VALUE_AT, "previous": VALUE_AT, "current": VALUE_AT,
                                 "disaggregations": {"type": "array", "items": {"type": "string"}},
                                 "measure": {"type": "string", "enum": ["cumulative", "cumulative_unique", "stock", "flow",
                                                                              "ratio"],
                                             "description": "cumulative: since the start up to the period's end; "
                                                            "cumulative_unique: different people since the start, "
                                                            "each once (the service-user registers); "
                                                            "stock: at the period's last month (each grant's latest "
                                                            "accepted month, carried at most carry_months); flow: "
                                                            "within the period; ratio: a share at the same instant"},
                                 "carry_months": {"type": "integer", "minimum": 1},
                                 "source": {"type": "string"}}},
    "Observation": {"type": "object",
                    "required": ["indicator", "period_type", "period", "period_start", "period_end", "dimension", "category",
                                 "label", "value", "unit"],
                    "properties": {"indicator": {"type": "string"},
                                   "period_type": {"type": "string", "enum": ["month", "quarter", "half", "year"]},
                                   "period": {"type": "string"}, "period_start": {"type": "string", "format": "date"},
                                   "period_end": {"type": "string", "format": "date"},
                                   "dimension": {"type": "string", "enum": ["total", "service_type", "municipality", "region",
                                                                            "sex", "age_band", "disability", "hte_category",
                                                                            "call", "grievance_category"]},
                                   "category": {"type": "string"}, "label": {"type": "string"},
                                   "value": {"type": ["number", "null"],
                                             "description": "null when withheld (see suppressed)"},
                                   "unit": {"type": "string", "enum": ["number", "percent", "eur"]},
                                   "as_of_month": {"type": ["string", "null"], "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$",
                                                   "description": "The month the value stands for"},
                                   "grants_current": {"type": ["integer", "null"],
                                                      "description": "A stock: grants reporting that month"},
                                   "grants_carried": {"type": ["integer", "null"],
                                                      "description": "A stock: grants carried from an earlier month"},
                                   "grants_missing": {"type": ["integer", "null"],
                                                      "description": "A stock: active grants with nothing accepted "
                                                                     "within the carry window"},
                                   "method": {"type": ["string", "null"], "enum": ["exact", "estimated", "mixed", None],
                                              "description": "BEN_UNIQUE: exact (every grant behind the value keeps a "
                                                             "service-user register: different people counted), "
                                                             "estimated (none does: new beneficiaries of the accepted "
                                                             "reports added up) or mixed"},
                                   "suppressed": {"type": ["string", "null"], "enum": ["small", "secondary", None],
                                                  "description": "Withheld from readers outside the ministry: small "
                                                                 "(a count of 1 to 4 people, shown as <5) or secondary "
                                                                 "(the next smallest cell of a breakdown with one "
                                                                 "small cell, so that it cannot be worked out by "
                                                                 "subtraction); value is then null"}}},
    "Grant": {"type": "object",
              "required": ["number", "call", "provider", "municipality", "region", "service_types", "start_date", "end_date",
                           "committed_eur", "disbursed_eur", "reports_accepted_through_month"],
              "properties": {"number": {"type": "string"}, "call": {"type": "string"}, "provider": {"type": "string"},
                             "municipality": {"type": "object", "required": ["code", "name"],
                                              "properties": {"code": {"type": "string"}, "name": {"type": "string"}}},
                             "region": {"type": "integer"}, "service_types": {"type": "array", "items": {"type": "string"}},
                             "start_date": {"type": "string", "format": "date"}, "end_date": {"type": "string", "format": "date"},
                             "committed_eur": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
                             "disbursed_eur": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
                             "reports_accepted_through_month": {"type": "integer", "minimum": 0}}},
    "Finance": {"type": "object",
                "required": ["programme", "loan", "currency", "envelope_eur", "allocated_eur", "committed_eur", "disbursed_eur",
                             "uncommitted_eur", "by_call", "as_of", "meta"],
                "properties": {"meta": META, "programme": {"type": "string"}, "loan": {"type": "string"}, "currency": {"type": "string"},
                               "envelope_eur": {"type": "string"},
                               "allocated_eur": {"type": "string", "description": "The budgets of the calls for grant "
                                                 "applications, the only calls that can commit money."},
                               "committed_eur": {"type": "string"}, "disbursed_eur": {"type": "string"},
                               "uncommitted_eur": {"type": "string", "description": "Envelope − committed."},
                               "as_of": {"type": "string", "format": "date"},
                               "by_call": {"type": "array", "items": {
                                   "type": "object", "required": ["call", "kind", "allocated_eur", "committed_eur", "disbursed_eur"],
                                   "properties": {"call": {"type": "string"}, "kind": {"type": "string"},
                                                  "allocated_eur": {"type": "string"}, "committed_eur": {"type": "string"},
                                                  "disbursed_eur": {"type": "string"}}}}}},
    "Index": {"type": "object", "required": ["name", "version", "endpoints"],
              "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                             "endpoints": {"type": "array", "items": {"type": "string"}}}},
}


def document(server: str, cookie_name: str = "portal_session") -> dict[str, Any]:
    secured = [{"bearer": []}, {"session": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "SSIP grant portal API", "version": "1.0.0",
                 "description": "Read-only results indicators, observations, grants and finance of the Social Services "
                                "Improvement Project (World Bank loan 8902-MK). Computed from accepted monthly reports "
                                "and the ledger only; no personal data."},
        "servers": [{"url": server}],
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "A personal token created in the portal."},
            "session": {"type": "apiKey", "in": "cookie", "name": cookie_name}}},
        "security": secured,
        "paths": {
            "/api/v1/": {"get": {"operationId": "index", "summary": "What the API offers",
                                 "responses": _responses({"$ref": "#/components/schemas/Index"})}},
            "/api/v1/indicators": {"get": {
                "operationId": "indicators", "summary": "The indicator catalogue with baseline, targets, previous and "
                                                        "current (half-year) values",
                "parameters": [FILTERS[0], _param("level", {"type": "string", "enum": ["objective", "intermediate"]},
                                                  "Only indicators of this level."), *PAGING],
                "responses": _responses(_page_of("Indicator"))}},
            "/api/v1/observations": {"get": {
                "operationId": "observations", "summary": "Indicator values in long format: one row per indicator, "
                                                          "period and category of a disaggregation",
                "parameters": [*FILTERS, _param("dimension", {"type": "string", "enum": [
                    "total", "service_type", "municipality", "region", "sex", "age_band", "disability", "hte_category",
                    "call", "grievance_category"]}, "Only this disaggregation."), *PAGING],
                "responses": _responses(_page_of("Observation"))}},
            "/api/v1/grants": {"get": {
                "operationId": "grants", "summary": "Grant agreements with their money and reporting",
                "parameters": [*FILTERS[4:], *PAGING], "responses": _responses(_page_of("Grant"))}},
            "/api/v1/finance": {"get": {"operationId": "finance", "summary": "The envelope, commitments and disbursements",
                                        "responses": _responses({"$ref": "#/components/schemas/Finance"})}},
            "/api/v1/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": [],
                                             "responses": {"200": {"description": "OK", "content": {
                                                 "application/json": {"schema": {"type": "object"}}}},
                                                 "304": {"description": "Not modified."}, "429": TOO_MANY}}},
            "/api/v1/iati-activity.xml": {"get": {"operationId": "iati", "summary": "The programme as an IATI 2.03 activity",
                                                  "security": [], "responses": {"200": {"description": "OK", "content": {
                                                      "application/xml": {"schema": {"type": "string"}}}},
                                                      "429": TOO_MANY}}},
        },
    }
