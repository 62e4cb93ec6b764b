from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from portal.auth import mfa, services
from portal.auth.forms import ChangePasswordForm, ForgotPasswordForm, LoginForm, LogoutForm, SetPasswordForm
from portal.auth.mfa_routes import begin_second_step
from portal.auth.services import InvalidCredentials, InvalidToken
from portal.auth.sessions import start_session
from portal.db import db
from portal.errors import Throttled, ValidationFailed
from portal.models import LegalForm, TokenPurpose
from portal.organisations import services as org_services
from portal.organisations.forms import RegisterProviderForm
from portal.security import client_ip
from portal.web import apply_errors, safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("main.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if session.pop("expired", False):
            flash(_("Your session ended because it was inactive or too long. Please sign in again."), "info")
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(db, form.email.data, form.password.data, client_ip())
        except InvalidCredentials as exc:
            db.commit()
            form.form_errors.append(str(exc.message))
        except Throttled as exc:
            db.commit()
            form.form_errors.append(str(exc.message))
            status = 429
        else:
            db.commit()
            if mfa.needs_second_step(user):  # not signed in until the second factor is given
                return begin_second_step(user, form.next.data)
            start_session(user)
            return redirect(safe_next(form.next.data))
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    form = LogoutForm()
    if form.validate_on_submit():
        services.logout(db, current_user)
        db.commit()
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


def _token_page(purpose: TokenPurpose, token: str, template: str, action):
    try:
        services.find_token(db, token, purpose)
    except InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=exc.message), 400
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = action(db, token, form.password.data, form.confirm.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            if mfa.needs_second_step(user):
                response = begin_second_step(user)  # clears the session: flash afterwards
                flash(_("Your password is set."), "success")
                return response
            start_session(user)
            flash(_("Your password is set. Welcome to the portal."), "success")
            return redirect(url_for("main.home"))
    return render_template(template, form=form)


@bp.route("/activate/<token>", methods=["GET", "POST"])
def activate(token: str):
    return _token_page(TokenPurpose.ACTIVATION, token, "auth/activate.html", services.activate_account)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    return _token_page(TokenPurpose.RESET, token, "auth/reset.html", services.reset_password)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(db, form.email.data)
        db.commit()
        return render_template("auth/link_sent.html", email=form.email.data)
    return render_template("auth/forgot.html", form=form)


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = RegisterProviderForm()
    if form.validate_on_submit():
        data = org_services.ProviderRegistration(
            name=form.name.data, tax_number=form.tax_number.data, legal_form=LegalForm(form.legal_form.data),
            licence_number=form.licence_number.data, licence_valid_from=form.licence_valid_from.data,
            licence_valid_until=form.licence_valid_until.data, address=form.address.data or "",
            city=form.city.data or "", contact_phone=form.contact_phone.data or "",
            full_name=form.full_name.data, email=form.email.data, language=session.get("lang", "mk"),
        )
        try:
            org_services.register_provider(db, data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            return render_template("auth/link_sent.html", email=form.email.data, registered=True)
    return render_template("auth/register.html", form=form)


@bp.get("/account")
@login_required
def account():
    return render_template("auth/account.html")


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(db, current_user, form.current_password.data, form.new_password.data,
                                     form.confirm.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            start_session(current_user._get_current_object())
            flash(_("Your password has been changed. Every other session has been signed out."), "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/change_password.html", form=form)
