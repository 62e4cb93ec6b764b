import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import access
from portal.access import permission_required, role_required
from portal.db import db
from portal.documents import services as document_services
from portal.documents.forms import upload_form
from portal.errors import ValidationFailed
from portal.models import Document, LegalForm, Organisation, OrgStatus, Role, User
from portal.organisations import services
from portal.organisations.forms import EditOrganisationForm, VerifyForm
from portal.web import apply_errors

bp = Blueprint("organisations", __name__, url_prefix="/organisations")


def _load(org_id: int, check) -> Organisation:
    org = db.get(Organisation, org_id)
    if org is None:
        abort(404)
    if not check(current_user, org):
        abort(403)
    return org


@bp.get("/mine")
@role_required()
def mine():
    return redirect(url_for("organisations.detail", org_id=current_user.organisation_id))


def _render_detail(org: Organisation, form=None, status: int = 200):
    members = db.scalars(sa.select(User).where(User.organisation_id == org.id).order_by(User.full_name)).all()
    documents = document_services.documents_for(db, "organisation", org.id)
    can_upload = access.can_upload_document(current_user, org)
    if form is None and can_upload:
        form = upload_form(document_services.OBJECT_PURPOSES["organisation"])
    return render_template("organisations/detail.html", org=org, members=members, documents=documents,
                           history=document_services.versions_by_series(db, [d.series_id for d in documents]),
                           upload=form if can_upload else None, purpose_label=document_services.purpose_label,
                           can_download=access.can_download_document,
                           can_edit=access.can_edit_organisation(current_user, org),
                           can_verify=access.can_verify_provider(current_user, org)), status


@bp.get("/<int:org_id>")
@role_required()
def detail(org_id: int):
    return _render_detail(_load(org_id, access.can_view_organisation))


@bp.post("/<int:org_id>/documents")
@role_required()
def upload_document(org_id: int):
    org = _load(org_id, access.can_upload_document)
    form = upload_form(document_services.OBJECT_PURPOSES["organisation"])
    replaces = None
    if (form.replaces.data or "").isdigit():
        replaces = db.get(Document, int(form.replaces.data))
        if replaces is None:
            abort(404)
    if form.validate_on_submit():
        try:
            document = document_services.upload(
                db, current_user, owner=org, object_type="organisation", object_id=org.id,
                purpose=form.purpose.data, stream=form.file.data.stream, filename=form.file.data.filename,
                replaces=replaces)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("%(name)s has been uploaded (version %(version)d).", name=document.original_name,
                    version=document.version), "success")
            return redirect(url_for("organisations.detail", org_id=org.id) + "#documents")
    return _render_detail(org, form, status=422)


@bp.route("/<int:org_id>/edit", methods=["GET", "POST"])
@role_required(Role.ADMIN, Role.PROVIDER)
def edit(org_id: int):
    org = _load(org_id, access.can_edit_organisation)
    form = EditOrganisationForm(obj=org)
    is_admin = access.is_admin(current_user)
    if not is_admin:
        del form.name  # only administrators rename organisations
    if not form.is_submitted():
        form.legal_form.data = org.legal_form.value if org.legal_form else LegalForm.ASSOCIATION.value
    if form.validate_on_submit():
        # The service decides which of these the actor may change; the rest is ignored.
        changes = {name: value for name, value in form.data.items() if name in services.ADMIN_EDITABLE}
        try:
            version = int(form.version_id.data or org.version_id)
            services.update_organisation(db, current_user, org, changes, version)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The changes have been saved."), "success")
            return redirect(url_for("organisations.detail", org_id=org.id))
    if not form.is_submitted():
        form.version_id.data = str(org.version_id)
    return render_template("organisations/edit.html", form=form, org=org, is_admin=is_admin)


@bp.route("/<int:org_id>/verify", methods=["GET", "POST"])
@permission_required(access.can_verify_providers)
def verify(org_id: int):
    org = _load(org_id, access.can_verify_provider)
    form = VerifyForm()
    if form.validate_on_submit():
        try:
            services.decide_verification(db, current_user, org, OrgStatus(form.decision.data), form.reason.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The decision has been recorded and the provider informed."), "success")
            return redirect(url_for("organisations.detail", org_id=org.id))
    return render_template("organisations/verify.html", form=form, org=org)
