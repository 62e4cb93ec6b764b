from flask import Blueprint, jsonify, redirect, render_template, session
from flask_login import current_user

from portal.auth import services as auth_services
from portal.auth.forms import LanguageForm
from portal.db import db
from portal.errors import ValidationFailed
from portal.main import services
from portal.web import safe_next

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return render_template("main/landing.html")
    data = services.dashboard_for(db, current_user)
    return render_template(f"main/home_{current_user.role.value}.html", **data)


@bp.get("/healthz")
def healthz():
    ok = services.database_ok(db)
    body = {"status": "ok" if ok else "unavailable", "database": "ok" if ok else "unreachable"}
    return jsonify(body), 200 if ok else 503


@bp.post("/language")
def set_language():
    form = LanguageForm()
    if form.validate_on_submit():
        try:
            auth_services.set_language(db, current_user if current_user.is_authenticated else None,
                                       form.language.data)
        except ValidationFailed:
            pass
        else:
            session["lang"] = form.language.data
            db.commit()
    return redirect(safe_next(form.next.data))
