"""The ISR pages on the indicators blueprint: the table for a reporting period, its CSV and XLSX, and one page per
indicator and period with the comment's versions and the form that adds one. Thin routes over
`portal.indicators.isr`."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from portal import access
from portal.access import permission_required
from portal.db import db
from portal.errors import Conflict, ValidationFailed
from portal.indicators import exports, isr, suppression
from portal.indicators.forms import IsrCommentForm
from portal.indicators.routes import bp
from portal.web import apply_errors, version_of


@bp.get("/indicators/isr")
@permission_required(access.can_view_indicators)
def isr_view():
    period = isr.pick(request.args.get("period"), request.args.get("kind"))
    report = isr.build(db, period, exact=suppression.exact_for(current_user))
    return render_template("indicators/isr.html", isr=report, periods=isr.choices(period.kind), kinds=isr.KINDS,
                           may_comment=access.can_comment_isr(current_user))


@bp.get("/indicators/isr.<fmt>")
@permission_required(access.can_view_indicators)
def isr_download(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    report = isr.build(db, isr.pick(request.args.get("period"), request.args.get("kind")),
                       exact=suppression.exact_for(current_user))
    headers = {"Content-Disposition": f'attachment; filename="{isr.filename(report, fmt)}"', "Cache-Control": "no-store",
               **exports.as_of_headers(report.as_of)}
    if fmt == "csv":
        return Response(isr.csv_bytes(report), mimetype="text/csv", headers=headers)
    return Response(isr.xlsx_bytes(report), headers=headers,
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.route("/indicators/isr/<period_key>/<int:indicator_id>", methods=["GET", "POST"])
@permission_required(access.can_view_indicators)
def isr_comment(period_key: str, indicator_id: int):
    period = isr.pick(period_key)
    indicator = isr.commentable(db, indicator_id)
    may_comment = access.can_comment_isr(current_user)
    if request.method == "POST" and not may_comment:
        abort(403)
    form = IsrCommentForm()
    status = 200
    if request.method == "GET":
        latest = isr.newest(db, indicator, period)
        form.version.data = str(latest.version if latest else 0)
        form.body.data = latest.body if latest else ""
        form.language.data = latest.language if latest else str(get_locale() or "mk")
    elif form.validate_on_submit():
        try:
            saved = isr.add_comment(db, current_user, indicator, period, form.body.data or "", form.language.data or "",
                                    version_of(form.version.data))
        except ValidationFailed as exc:
            db.rollback()
            apply_errors(form, exc)
        except Conflict as exc:
            # Keep what this person typed, show the other text and carry the newest version (409, nothing saved).
            db.rollback()
            db.expire_all()
            form.form_errors.append(str(exc.message))
            latest = isr.newest(db, indicator, period)
            form.version.data = str(latest.version if latest else 0)
            status = 409
        else:
            db.commit()
            flash(_("The comment has been saved as version %(v)d.", v=saved.version) if saved else
                  _("The comment is unchanged: no new version was added."), "success")
            return redirect(url_for("indicators.isr_view", period=period.key) + f"#isr-{indicator.code}")
    if status == 200 and (form.errors or form.form_errors):
        status = 422
    row = isr.build(db, period, indicators=[indicator], exact=suppression.exact_for(current_user)).rows[0]
    return render_template("indicators/isr_comment.html", form=form, period=period, row=row,
                           history=isr.versions(db, indicator, period), may_comment=may_comment), status
