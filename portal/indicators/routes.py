"""Results indicators for the ministry and the World Bank monitors: the dashboard, the downloads, the
catalogue (administrators) and personal API tokens. Thin routes over `portal.indicators`."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from portal import access, clock
from portal.access import permission_required
from portal.api import cache, tokens
from portal.calls.forms import ConfirmForm
from portal.db import db, reads_only
from portal.errors import NotFound, ValidationFailed
from portal.grants import ledger
from portal.indicators import catalogue_admin, dashboard, exports, snapshot, suppression
from portal.indicators.compute import labels_by_code, parse_filters
from portal.indicators.forms import IndicatorForm, TokenForm
from portal.models import ApiToken, Indicator, Municipality, Region, ServiceType
from portal.web import apply_errors

bp = Blueprint("indicators", __name__)


def _choices() -> dict:
    return {"regions": list(db.scalars(sa.select(Region).order_by(Region.code))),
            "municipalities": list(db.scalars(sa.select(Municipality).order_by(Municipality.name_mk))),
            "types": list(db.scalars(sa.select(ServiceType).where(ServiceType.active.is_(True))
                                     .order_by(ServiceType.sort_order))),
            "indicators": list(db.scalars(sa.select(Indicator).where(Indicator.active.is_(True))
                                          .order_by(Indicator.sort_order)))}


@bp.get("/indicators")
@reads_only
@permission_required(access.can_view_indicators)
def index():
    exact = suppression.exact_for(current_user)  # ministry staff; monitors see small cells withheld
    data = dashboard.build(db, exact=exact)
    # The page's body is the same for every reader of one snapshot, language and day: rendered once and kept (the
    # figures' formatting is most of a request's time); the frame around it (menu, session) is rendered each time.
    key = ("dashboard", data.refreshed.id if data.refreshed else None, data.data_version, data.stale,
           str(get_locale() or ""), clock.utc_to_skopje(clock.now()).date().isoformat(), exact)
    # The whole page is also kept for each reader's session a little while: the frame depends only on who reads
    # (name, role, session version), the language and the session's CSRF token (its signed form is renewed every
    # half hour, well inside its validity); a page with a message waiting, or with parameters, is never served so.
    reader = None
    if data.refreshed is not None and not request.args and not session.get("_flashes"):
        reader = key + (current_user.get_id(), session.get("csrf_token"), int(clock.now().timestamp()) // 1800)
        page = cache.of(key=PAGE_CACHE, max_entries=64, max_bytes=32 * 1024 * 1024).get(reader)
        if page is not None:
            return page[0]
    kept = cache.of(key=DASHBOARD_CACHE, max_entries=32).get(key)
    if kept is not None:
        body = Markup(kept[0])  # noqa: S704 (our own template's output, escaped when it was rendered)
        page = render_template("indicators/dashboard.html", data=data, cached_body=body)
        if reader is not None:
            cache.of(key=PAGE_CACHE, max_entries=64, max_bytes=32 * 1024 * 1024).put(reader, page, "")
        return page
    page = render_template("indicators/dashboard.html", data=data, choices=_choices(), labels=exports.dimension_label)
    start, end = page.find(BODY[0]), page.find(BODY[1])
    if data.refreshed is not None and 0 <= start < end:
        cache.of(key=DASHBOARD_CACHE, max_entries=32).put(key, page[start + len(BODY[0]):end], "")
    return page


DASHBOARD_CACHE = "indicator_dashboard_cache"
PAGE_CACHE = "indicator_dashboard_pages"
BODY = ("<!--dashboard-body-->", "<!--/dashboard-body-->")


def finance_summary() -> list[tuple[str, object, str]]:
    from portal.calls.services import get_programme

    totals = ledger.totals(db, get_programme(db))
    # Each total with its definition: the same text as on the envelope page and in the IFR.
    return [(label, value, definition) for _key, label, value, _mkd, definition in totals.rows()]


@bp.get("/indicators/observations.<fmt>")
@permission_required(access.can_view_indicators)
def download(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    try:
        filters = parse_filters(request.args, default_types=("month", "quarter", "half", "year"))
    except ValidationFailed as exc:
        flash(" ".join(str(m) for messages in exc.field_errors.values() for m in messages), "error")
        return redirect(url_for("indicators.index") + "#downloads")
    indicators = _choices()["indicators"]
    snap = None if snapshot.live_only(filters) else snapshot.ensure(db)
    as_of = snapshot.as_of(db, snap)  # the snapshot's computation time and version; a live answer: now
    headers = {"Content-Disposition": f'attachment; filename="{exports.filename(as_of, fmt)}"', "Cache-Control": "no-store",
               **exports.as_of_headers(as_of)}
    exact = suppression.exact_for(current_user)
    if fmt == "csv":
        names = {i.code: i.name() for i in indicators}
        labels = labels_by_code(db)
        # Small cells withheld from readers outside the ministry: the snapshot's flags were stored at its refresh,
        # so every reader's CSV comes straight from the database (PostgreSQL: COPY); a live answer runs the rule.
        if not exact and snap is None:
            chunks = exports.csv_rows(exports.observation_rows(suppression.read(db, filters, False)[0]), names, labels)
        elif db.get_bind().dialect.name == "postgresql" and snap is not None:
            chunks = exports.csv_copy(db, snap.refresh.id, filters, names, labels, exact)
        else:
            chunks = exports.csv_rows(snapshot.rows(db, filters, snap=snap, exact=exact), names, labels)
        return Response(stream_with_context(chunks), mimetype="text/csv", headers=headers)
    # Built once per snapshot and kept (the workbook of every observation takes seconds to write): the key is the
    # snapshot, the data version, the day (the ISR's current values), the language and the parameters.
    today = clock.utc_to_skopje(clock.now()).date()
    key = None if snap is None or snap.stale else (
        "xlsx", snap.refresh.id, snap.data_version, today.isoformat(), str(get_locale() or ""),
        tuple(sorted(request.args.items(multi=True))), exact)
    kept = cache.of(key="indicator_xlsx_cache", max_entries=8).get(key) if key else None
    if kept is not None:
        return Response(kept[0], mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers=headers)
    observations, _snap = suppression.read(db, filters, exact, snap=snap)
    halves = observations if "half" in filters.period_types else suppression.read(
        db, replace(filters, period_types=("half",)), exact, dimensions=("total",), snap=snap)[0]
    statuses = dashboard.statuses(indicators, halves, today)
    content = exports.xlsx_bytes(exports.frames(observations, indicators, statuses, finance_summary(), as_of=as_of,
                                                    exact=exact))
    if key is not None:
        cache.of(key="indicator_xlsx_cache", max_entries=8).put(key, content, "")
    return Response(content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers=headers)


# The catalogue -------------------------------------------------------------------------------------

@bp.get("/admin/indicators")
@permission_required(access.can_manage_indicators)
def catalogue():
    indicators = list(db.scalars(sa.select(Indicator).order_by(Indicator.sort_order)))
    return render_template("indicators/catalogue.html", indicators=indicators, labels=exports.dimension_label)


@bp.route("/admin/indicators/<int:indicator_id>", methods=["GET", "POST"])
@permission_required(access.can_manage_indicators)
def edit(indicator_id: int):
    indicator = db.get(Indicator, indicator_id)
    if indicator is None:
        raise NotFound()
    form = IndicatorForm(obj=indicator if request.method == "GET" else None)
    form.disaggregations.choices = catalogue_admin.choices(indicator)
    if request.method == "GET":
        catalogue_admin.fill(form, indicator)
    elif form.validate_on_submit():
        try:
            catalogue_admin.update(db, current_user, indicator, catalogue_admin.values_from(form), int(form.version_id.data or 0))
        except ValidationFailed as exc:
            db.rollback()
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The indicator has been saved."), "success")
            return redirect(url_for("indicators.catalogue"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("indicators/edit.html", form=form, indicator=indicator), status


# API tokens ----------------------------------------------------------------------------------------

@bp.route("/account/api-tokens", methods=["GET", "POST"])
@permission_required(access.can_use_api)
def api_tokens():
    form = TokenForm()
    created = None
    if request.method == "POST":
        try:
            if not form.validate_on_submit():
                raise ValidationFailed(field_errors={"name": list(form.name.errors) or [
                    _("Give the token a name, such as the script that will use it.")]})
            _row, created = tokens.create(db, current_user, form.name.data or "")
        except ValidationFailed as exc:
            db.rollback()
            form.name.errors = []
            apply_errors(form, exc)
        else:
            db.commit()
            form = TokenForm(formdata=None)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("indicators/tokens.html", form=form, tokens=tokens.mine(db, current_user), created=created,
                           confirm=ConfirmForm()), status


@bp.post("/account/api-tokens/<int:token_id>/revoke")
@permission_required(access.can_use_api)
def revoke_token(token_id: int):
    token = db.get(ApiToken, token_id)
    if token is None:
        raise NotFound()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    tokens.revoke(db, current_user, token)
    db.commit()
    flash(_("The token has been revoked: requests that send it are refused from now on."), "success")
    return redirect(url_for("indicators.api_tokens"))
