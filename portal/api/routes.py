"""`/api/v1/`: read-only JSON for the monitors — indicators, observations in long format, grants and the
finance summary — with pagination, ETags and errors as JSON; plus the OpenAPI document that describes it
and the programme's IATI activity file. Authenticated with a personal token (`Authorization: Bearer …`) or,
from the browser, the signed-in session."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from portal import access, clock
from portal.api import cache, iati, openapi, ratelimit, tokens
from portal.calls.services import get_programme
from portal.db import db
from portal.errors import ValidationFailed
from portal.grants import ledger
from portal.grants.services import terms_in_force
from portal.indicators import dashboard, freshness, snapshot, suppression
from portal.indicators.compute import parse_filters
from portal.models import (
    Call,
    EntryKind,
    GrantAgreement,
    Indicator,
    LedgerEntry,
    Municipality,
    Organisation,
    Region,
)
from portal.models.applications import application_service_type

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100


def error(status: int, message: str, details: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"status": status, "message": str(message), "request_id": g.get("request_id", "")}}
    if details:
        body["error"]["details"] = {k: [str(m) for m in v] for k, v in details.items()}
    response = current_app.response_class(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ssip"'
    return response


@bp.before_request
def _rate_limit() -> Response | None:
    wait = ratelimit.check(db)
    if wait is None:
        return None
    response = error(429, _("Too many requests to the API: at most %(token)d a minute per token and %(address)d per "
                            "address. Wait %(seconds)d seconds, then continue.",
                            token=current_app.config["API_RATE_LIMIT_TOKEN"],
                            address=current_app.config["API_RATE_LIMIT_ADDRESS"], seconds=wait))
    response.headers["Retry-After"] = str(max(1, wait))
    return response


def authenticated(view: Callable[..., Any]) -> Callable[..., Any]:
    """A monitor or ministry user, by token or by the signed-in session; otherwise 401/403 as JSON."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization")
        if header is not None:
            user = tokens.authenticate(db, header)
            if user is None:
                return error(401, _("The token is missing, malformed, revoked or unknown. Create one under JSON API and "
                                    "tokens in the portal and send it as Authorization: Bearer <token>."))
        elif current_user.is_authenticated:
            user = current_user
        else:
            return error(401, _("Sign in, or send a personal token as Authorization: Bearer <token>."))
        if not access.can_use_api(user):
            return error(403, _("This API is for the World Bank monitors and the ministry."))
        g.api_user = user
        try:
            return view(*args, **kwargs)
        except ValidationFailed as exc:
            return error(400, exc.message, exc.field_errors)

    return wrapped


def _json(payload: Any, as_of: snapshot.AsOf | None = None) -> Response:
    """The body with an ETag; `If-None-Match` with the same tag gets 304 and no body. A data answer carries `meta`:
    when its figures were computed (`data_as_of`, UTC) and from which data version; the tag covers the data and the
    version, not the time (a live answer is computed at every request, from the same data)."""
    if as_of is not None:
        payload = {**payload, "meta": as_of.as_dict()}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    tagged = body if as_of is None else json.dumps(
        [{k: v for k, v in payload.items() if k != "meta"}, as_of.data_version], ensure_ascii=False, default=str)
    tag = '"' + hashlib.sha256(tagged.encode("utf-8")).hexdigest()[:32] + '"'
    key = g.pop("api_cache_key", None)
    if key is not None and as_of is not None and as_of.data_version == key[0]:
        cache.of().put(key, body, tag)  # computed from the version in the key: the answer the data gives now
    return _respond(body, tag)


def _respond(body: str, tag: str) -> Response:
    wanted = request.headers.get("If-None-Match", "")
    if tag in [t.strip() for t in wanted.split(",")] or wanted.strip() == "*":
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(body, mimetype="application/json")
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def cached(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answers kept per data version (`portal.api.cache`): the version is read (one primary-key read) and an
    answer already computed from it, for the same path, parameters and language, is sent as it was."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        now = clock.now()
        key = (freshness.current(db), clock.utc_to_skopje(now).date().isoformat(), request.path,
               tuple(sorted(request.args.items(multi=True))), str(get_locale() or ""), _exact())
        hit = cache.of().get(key)
        if hit is not None:
            return _respond(*hit)
        g.api_cache_key = key
        try:
            return view(*args, **kwargs)
        finally:
            g.pop("api_cache_key", None)

    return wrapped


def _exact() -> bool:
    """Ministry staff get exact figures; monitors get small cells of people withheld (portal.indicators.suppression)."""
    return suppression.exact_for(g.get("api_user"))


def _paging() -> tuple[int, int]:
    errors: dict[str, list[str]] = {}
    values = {}
    for name, default, top in (("page", 1, 10**6), ("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)):
        raw = request.args.get(name, "")
        if raw == "":
            values[name] = default
        elif raw.isdigit() and 1 <= int(raw) <= top:
            values[name] = int(raw)
        else:
            errors[name] = [_("%(name)s is a whole number from 1 to %(top)d.", name=name, top=top)]
    if errors:
        raise ValidationFailed(_("Some parameters are not valid."), field_errors=errors)
    return values["page"], values["per_page"]


def _page(items: list[Any], endpoint: str) -> dict[str, Any]:
    page, per_page = _paging()
    total = len(items)
    pages = max(1, math.ceil(total / per_page))
    args = {k: v for k, v in request.args.items() if k != "page"}
    links = {"self": url_for(endpoint, page=page, **args)}
    if page < pages:
        links["next"] = url_for(endpoint, page=page + 1, **args)
    if page > 1:
        links["prev"] = url_for(endpoint, page=min(page - 1, pages), **args)
    return {"data": items[(page - 1) * per_page:page * per_page], "page": page, "per_page": per_page, "total": total,
            "pages": pages, "links": links}


KNOWN = {
    "api.indicators": {"indicator", "level", "page", "per_page"},
    "api.observations": {"indicator", "period_type", "from", "to", "region", "municipality", "service_type", "dimension",
                         "page", "per_page"},
    "api.grants": {"region", "municipality", "service_type", "page", "per_page"},
    "api.finance": set(),
    "api.index": set(),
}


# The same patterns the OpenAPI document publishes: what it says is accepted is what is accepted.
MONTH = re.compile(openapi.MONTH["pattern"])


def _empty_range() -> bool:
    """`from` after `to` selects no month: an empty page, as the OpenAPI document says."""
    start, end = request.args.get("from", ""), request.args.get("to", "")
    return bool(MONTH.fullmatch(start) and MONTH.fullmatch(end) and start > end)


CODES = re.compile(openapi.CODES["pattern"])


def _unknown_parameters() -> None:
    """Unknown parameters, parameters given empty (`to=`), and indicator codes that no code can be are
    refused, each named — what the OpenAPI document says is accepted, and nothing more."""
    unknown = sorted(set(request.args) - KNOWN.get(request.endpoint or "", set()))
    if unknown:
        raise ValidationFailed(_("Unknown parameters: %(names)s.", names=", ".join(unknown)),
                               field_errors={name: [_("This parameter is not known.")] for name in unknown})
    errors: dict[str, list[str]] = {}
    for name, value in request.args.items(multi=True):
        if not value.strip():
            errors[name] = [_("Give a value, or leave the parameter out.")]
    if "indicator" in request.args and "indicator" not in errors and not CODES.fullmatch(request.args["indicator"]):
        errors["indicator"] = [_("Indicator codes: letters, digits and _, at most 40 each, separated by commas.")]
    if errors:
        raise ValidationFailed(_("Some parameters are not valid."), field_errors=errors)


@bp.get("/")
@authenticated
def index():
    _unknown_parameters()
    return _json({"name": "SSIP grant portal API", "version": "1",
                  "endpoints": [url_for(e) for e in ("api.indicators", "api.observations", "api.grants", "api.finance",
                                                     "api.openapi", "api.iati")]})


@bp.get("/indicators")
@authenticated
@cached
def indicators():
    _unknown_parameters()
    level = request.args.get("level", "")
    if level and level not in ("objective", "intermediate"):
        raise ValidationFailed(_("Some parameters are not valid."), field_errors={"level": [
            _("level is objective or intermediate.")]})
    filters = parse_filters(request.args, default_types=("half",))
    query = sa.select(Indicator).where(Indicator.active.is_(True)).order_by(Indicator.sort_order)
    if filters.codes:
        query = query.where(Indicator.code.in_(filters.codes))
    if level:
        query = query.where(Indicator.level == level)
    rows = list(db.scalars(query))
    today = clock.utc_to_skopje(clock.now()).date()
    live = _live_as_of(filters)
    halves, snap = suppression.read(db, filters, _exact(), dimensions=("total",))
    statuses = {s.indicator.code: s for s in dashboard.statuses(rows, halves, today)}
    items = [_indicator(i, statuses[i.code]) for i in rows]
    return _json(_page(items, "api.indicators"), live or snapshot.as_of(db, snap))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _indicator(indicator: Indicator, status: dashboard.Status) -> dict[str, Any]:
    return {"code": indicator.code, "name": {"mk": indicator.name_mk, "sq": indicator.name_sq, "en": indicator.name_en},
            "definition": {"mk": indicator.definition_mk, "sq": indicator.definition_sq, "en": indicator.definition_en},
            "unit": indicator.unit, "level": indicator.level.value,
            "baseline": {"value": _number(indicator.baseline), "date": indicator.baseline_date.isoformat()},
            "targets": [{"year": int(year), "value": _number(value)} for year, value in sorted((indicator.targets or {}).items())],
            "end_target": {"value": _number(indicator.end_target),
                           "date": indicator.end_target_date.isoformat() if indicator.end_target_date else None},
            "previous": {"value": _number(status.previous),
                         "date": status.previous_date.isoformat() if status.previous_date else None},
            "current": {"value": _number(status.current),
                        "date": status.current_date.isoformat() if status.current_date else None},
            "disaggregations": list(indicator.disaggregations or []), "measure": indicator.measure,
            "carry_months": indicator.carry_months, "source": indicator.source}


def _live_as_of(filters) -> snapshot.AsOf | None:
    """A filtered answer is computed live: its data version is read before the figures are."""
    return snapshot.as_of(db, None) if snapshot.live_only(filters) else None


DIMENSIONS = ("total", "service_type", "municipality", "region", "sex", "age_band", "disability", "hte_category", "call",
              "grievance_category")


@bp.get("/observations")
@authenticated
@cached
def observations():
    _unknown_parameters()
    if _empty_range():
        return _json(_page([], "api.observations"), snapshot.as_of(db, None))
    filters = parse_filters(request.args)
    dimension = request.args.get("dimension", "")
    if dimension and dimension not in DIMENSIONS:
        raise ValidationFailed(_("Some parameters are not valid."), field_errors={"dimension": [
            _("dimension is one of: %(names)s.", names=", ".join(DIMENSIONS))]})
    live = _live_as_of(filters)
    observations, snap = suppression.read(db, filters, _exact(), dimensions=(dimension,) if dimension else None)
    items = [o.as_dict() for o in observations]
    return _json(_page(items, "api.observations"), live or snapshot.as_of(db, snap))


@bp.get("/grants")
@authenticated
def grants():
    _unknown_parameters()
    filters = parse_filters(request.args)
    as_of = snapshot.as_of(db, None)  # read live from the tables: the version before reading them
    terms = terms_in_force()
    provider, local = sa.orm.aliased(Organisation), sa.orm.aliased(Organisation)
    paid = (sa.select(LedgerEntry.agreement_id, LedgerEntry.kind, sa.func.sum(LedgerEntry.amount_eur).label("amount"))
            .group_by(LedgerEntry.agreement_id, LedgerEntry.kind).subquery())
    query = (sa.select(GrantAgreement.id, GrantAgreement.number, Call.reference, provider.name, Municipality.code,
                       Municipality.name_en, Region.code, terms.c.start_date, terms.c.end_date,
                       GrantAgreement.application_id)
             .join(terms, terms.c.agreement_id == GrantAgreement.id)
             .join(Call, Call.id == GrantAgreement.call_id)
             .join(provider, provider.id == GrantAgreement.organisation_id)
             .join(local, local.id == GrantAgreement.municipality_org_id)
             .join(Municipality, Municipality.id == local.municipality_id)
             .join(Region, Region.id == Municipality.region_id).order_by(GrantAgreement.number))
    if filters.region_id:
        query = query.where(Region.id == filters.region_id)
    if filters.municipality_id:
        query = query.where(Municipality.id == filters.municipality_id)
    if filters.service_type_id:
        query = query.where(sa.exists().where(application_service_type.c.application_id == GrantAgreement.application_id,
                                              application_service_type.c.service_type_id == filters.service_type_id))
    rows = db.execute(query).all()
    money = {(a, k): amount for a, k, amount in db.execute(sa.select(paid))}
    from portal.models import ServiceType

    types: dict[int, list[str]] = {}
    for application_id, code in db.execute(
            sa.select(application_service_type.c.application_id, ServiceType.code)
            .join(ServiceType, ServiceType.id == application_service_type.c.service_type_id)
            .order_by(ServiceType.sort_order)):
        types.setdefault(application_id, []).append(code)
    from portal.reports.services import accepted_through_many

    accepted = accepted_through_many(db, [r[0] for r in rows])
    items = [{"number": number, "call": call, "provider": provider_name,
              "municipality": {"code": m_code, "name": m_name}, "region": region_code,
              "service_types": types.get(application_id, []), "start_date": start.isoformat(), "end_date": end.isoformat(),
              "committed_eur": str(money.get((agreement_id, EntryKind.COMMITMENT), 0) or 0),
              "disbursed_eur": str(money.get((agreement_id, EntryKind.DISBURSEMENT), 0) or 0),
              "reports_accepted_through_month": accepted.get(agreement_id, 0)}
             for agreement_id, number, call, provider_name, m_code, m_name, region_code, start, end, application_id in rows]
    return _json(_page(items, "api.grants"), as_of)


@bp.get("/finance")
@authenticated
def finance():
    _unknown_parameters()
    as_of = snapshot.as_of(db, None)  # read live, like the grants
    programme = get_programme(db)
    totals = ledger.totals(db, programme)
    by_call = []
    sums = {(c, k): amount for c, k, amount in db.execute(
        sa.select(LedgerEntry.call_id, LedgerEntry.kind, sa.func.sum(LedgerEntry.amount_eur))
        .group_by(LedgerEntry.call_id, LedgerEntry.kind))}
    for call in db.scalars(sa.select(Call).where(Call.programme_id == programme.id).order_by(Call.id)):
        by_call.append({"call": call.reference, "kind": call.kind.value, "allocated_eur": str(call.allocation_eur),
                        "committed_eur": str(sums.get((call.id, EntryKind.COMMITMENT), 0) or 0),
                        "disbursed_eur": str(sums.get((call.id, EntryKind.DISBURSEMENT), 0) or 0)})
    return _json({"programme": programme.name, "loan": programme.loan_reference, "currency": "EUR",
                  "envelope_eur": str(totals.envelope), "allocated_eur": str(totals.allocated),
                  "committed_eur": str(totals.committed), "disbursed_eur": str(totals.disbursed),
                  "uncommitted_eur": str(totals.uncommitted), "by_call": by_call,
                  "as_of": clock.utc_to_skopje(clock.now()).date().isoformat()}, as_of)


@bp.get("/openapi.json", endpoint="openapi")
def openapi_document():
    """The OpenAPI 3 description (public: it holds no data)."""
    return _json(openapi.document(request.url_root.rstrip("/"), current_app.config["SESSION_COOKIE_NAME"]))


@bp.get("/iati-activity.xml", endpoint="iati")
def iati_activity():
    """The programme as an IATI 2.03 activity: public, as IATI data is meant to be (aggregates and money only)."""
    return Response(iati.activity_file(db), mimetype="application/xml",
                    headers={"Content-Disposition": 'inline; filename="ssip-iati-activity.xml"'})
