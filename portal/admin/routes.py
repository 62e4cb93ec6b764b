from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import access, audit
from portal.access import permission_required
from portal.admin import services
from portal.admin.forms import (
    ActionForm,
    AuditFilterForm,
    DeactivateUserForm,
    EditUserForm,
    InviteUserForm,
    NewOrganisationForm,
    ResetMfaForm,
)
from portal.auth import mfa
from portal.db import db
from portal.errors import ValidationFailed
from portal.labels import label
from portal.models import ROLES_BY_KIND, LegalForm, Municipality, Organisation, OrgKind, OrgStatus, Role, User
from portal.organisations import services as org_services
from portal.pagination import paginate
from portal.web import apply_errors, page_arg, page_size

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _user(user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _role_choices(kind: OrgKind | None = None):
    roles = ROLES_BY_KIND[kind] if kind else list(Role)
    return [(r.value, services.role_label(r)) for r in roles]


@bp.get("/users")
@permission_required(access.can_manage_users)
def users():
    search = request.args.get("q", "").strip()[:100]
    role = request.args.get("role", "")
    status = request.args.get("status", "")
    query = services.users_query(search=search, role=role, status=status)
    page = paginate(db, query, page_arg(), page_size())
    return render_template("admin/users.html", page=page, q=search, role=role, status=status,
                           role_choices=_role_choices(), role_label=services.role_label)


@bp.route("/users/invite", methods=["GET", "POST"])
@permission_required(access.can_manage_users)
def invite_user():
    form = InviteUserForm()
    orgs = db.scalars(sa.select(Organisation).order_by(Organisation.kind, Organisation.name)).all()
    form.organisation_id.choices = [(o.id, o.name) for o in orgs]
    form.role.choices = _role_choices()
    if request.method == "GET" and request.args.get("organisation_id", "").isdigit():
        form.organisation_id.data = int(request.args["organisation_id"])
    if form.validate_on_submit():
        org = db.get(Organisation, form.organisation_id.data)
        try:
            if org is None:
                raise ValidationFailed(field_errors={"organisation_id": [_("Choose an organisation.")]})
            user = services.invite_user(db, current_user, org, form.email.data, form.full_name.data,
                                        Role(form.role.data), form.language.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("An invitation has been sent to %(email)s. The link is valid for 72 hours.", email=user.email),
                  "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/invite.html", form=form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@permission_required(access.can_manage_users)
def user_detail(user_id: int):
    user = _user(user_id)
    form = EditUserForm(obj=user)
    form.role.choices = _role_choices(user.organisation.kind)
    if not form.is_submitted():
        form.role.data = user.role.value
        form.version_id.data = str(user.version_id)
    if form.validate_on_submit():
        try:
            services.update_user(db, current_user, user, form.full_name.data, Role(form.role.data),
                                 int(form.version_id.data or 0))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The changes have been saved."), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    events = db.scalars(audit.filtered_query(audit.AuditFilter(object_type="user_account", object_id=str(user.id)))
                        .limit(20)).all()
    return render_template("admin/user_detail.html", user=user, form=form, action_form=ActionForm(),
                           events=events, role_label=services.role_label,
                           can_reset_mfa=mfa.is_enrolled(user) and mfa.can_reset(current_user, user))


@bp.route("/users/<int:user_id>/deactivate", methods=["GET", "POST"])
@permission_required(access.can_manage_users)
def deactivate_user(user_id: int):
    user = _user(user_id)
    form = DeactivateUserForm()
    if form.validate_on_submit():
        try:
            services.deactivate_user(db, current_user, user, form.reason.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("%(name)s has been deactivated and signed out everywhere.", name=user.full_name), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/deactivate.html", user=user, form=form)


@bp.route("/users/<int:user_id>/two-factor-reset", methods=["GET", "POST"])
@permission_required(access.can_manage_users)
def reset_mfa(user_id: int):
    user = _user(user_id)
    form = ResetMfaForm()
    if form.validate_on_submit():
        try:
            mfa.reset(db, current_user, user, form.reason.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The second factor of %(name)s has been reset and they have been signed out everywhere. "
                    "They set up a new one at their next sign-in.", name=user.full_name), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/reset_mfa.html", user=user, form=form, can_reset=mfa.can_reset(current_user, user))


@bp.post("/users/<int:user_id>/reactivate")
@permission_required(access.can_manage_users)
def reactivate_user(user_id: int):
    user = _user(user_id)
    if ActionForm().validate_on_submit():
        services.reactivate_user(db, current_user, user)
        db.commit()
        flash(_("%(name)s can sign in again.", name=user.full_name), "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/resend-invitation")
@permission_required(access.can_manage_users)
def resend_invitation(user_id: int):
    user = _user(user_id)
    if ActionForm().validate_on_submit():
        services.resend_invitation(db, current_user, user)
        db.commit()
        flash(_("A new invitation has been sent to %(email)s.", email=user.email), "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.get("/organisations")
@permission_required(access.can_list_organisations)
def organisations():
    kind = request.args.get("kind", "")
    status = request.args.get("status", "")
    search = request.args.get("q", "").strip()[:100]
    query = sa.select(Organisation).options(sa.orm.joinedload(Organisation.municipality))
    if kind in {k.value for k in OrgKind}:
        query = query.where(Organisation.kind == OrgKind(kind))
    if status in {s.value for s in OrgStatus}:
        query = query.where(Organisation.status == OrgStatus(status))
    if search:
        like = f"%{search.lower()}%"
        query = query.where(sa.or_(sa.func.lower(Organisation.name).like(like), Organisation.tax_number.like(like)))
    query = query.order_by(Organisation.kind, Organisation.name)
    page = paginate(db, query, page_arg(), page_size())
    return render_template("admin/organisations.html", page=page, kind=kind, status=status, q=search,
                           kind_choices=[(k.value, org_services.kind_label(k)) for k in OrgKind],
                           status_choices=[(s.value, org_services.status_label(s)) for s in OrgStatus])


@bp.route("/organisations/new", methods=["GET", "POST"])
@permission_required(access.can_manage_organisations)
def new_organisation():
    form = NewOrganisationForm()
    municipalities = db.scalars(sa.select(Municipality).order_by(Municipality.name_mk)).all()
    form.municipality_id.choices = [(0, "—")] + [(m.id, m.name()) for m in municipalities]
    if form.validate_on_submit():
        try:
            org = org_services.create_organisation(
                db, current_user, OrgKind(form.kind.data), form.name.data, form.municipality_id.data or None,
                {"tax_number": form.tax_number.data or "",
                 "legal_form": LegalForm(form.legal_form.data) if form.legal_form.data else None})
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The organisation has been created. Invite its users now."), "success")
            return redirect(url_for("organisations.detail", org_id=org.id))
    return render_template("admin/new_organisation.html", form=form)


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.get("/audit")
@permission_required(access.can_view_audit)
def audit_log():
    form = AuditFilterForm(request.args)
    form.action.choices = [("", _("All actions"))] + [(a, label(a, "audit_action")) for a in audit.known_actions(db)]
    filters = audit.AuditFilter(
        action=request.args.get("action", "")[:64], actor=request.args.get("actor", "")[:254],
        object_type=request.args.get("object_type", "")[:64], object_id=request.args.get("object_id", "")[:64],
        date_from=_parse_date(request.args.get("date_from")), date_to=_parse_date(request.args.get("date_to")),
    )
    page = paginate(db, audit.filtered_query(filters), page_arg(), 50)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("admin/audit.html", form=form, page=page, args=args)
