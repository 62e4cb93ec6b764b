from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import access
from portal.access import permission_required
from portal.admin.forms import CatalogueEntryForm
from portal.db import db
from portal.errors import ValidationFailed
from portal.models import Region
from portal.reference import services
from portal.web import apply_errors

bp = Blueprint("reference", __name__, url_prefix="/admin/reference")


def _catalogue(slug: str) -> services.Catalogue:
    catalogue = services.CATALOGUES.get(slug)
    if catalogue is None:
        abort(404)
    return catalogue


@bp.get("/")
@permission_required(access.can_manage_reference)
def index():
    return render_template("reference/index.html", catalogues=services.CATALOGUES, title=services.catalogue_title)


@bp.get("/<slug>")
@permission_required(access.can_manage_reference)
def entries(slug: str):
    catalogue = _catalogue(slug)
    region_id = request.args.get("region", type=int)
    rows = services.list_entries(db, catalogue, region_id=region_id)
    regions = services.list_entries(db, services.CATALOGUES["regions"]) if slug == "municipalities" else []
    return render_template("reference/entries.html", catalogue=catalogue, rows=rows, regions=regions,
                           region_id=region_id, title=services.catalogue_title(slug))


def _form_for(catalogue: services.Catalogue, entry=None) -> CatalogueEntryForm:
    form = CatalogueEntryForm(obj=entry)
    if "category_id" in catalogue.fields:
        categories = services.list_entries(db, services.CATALOGUES["service-categories"])
        form.category_id.choices = [(c.id, c.name()) for c in categories]
    if entry is not None and not form.is_submitted():
        form.active.data = "1" if getattr(entry, "active", True) else "0"
        form.requires_note.data = "1" if getattr(entry, "requires_note", False) else "0"
    return form


def _values(form: CatalogueEntryForm) -> dict:
    return {
        "name_mk": form.name_mk.data, "name_sq": form.name_sq.data, "name_en": form.name_en.data,
        "category_id": form.category_id.data, "sort_order": form.sort_order.data or 0,
        "requires_note": form.requires_note.data == "1", "active": form.active.data == "1",
    }


@bp.route("/<slug>/new", methods=["GET", "POST"])
@permission_required(access.can_manage_reference)
def new(slug: str):
    catalogue = _catalogue(slug)
    if not catalogue.creatable:
        abort(404)
    form = _form_for(catalogue)
    if form.validate_on_submit():
        try:
            services.create_entry(db, current_user, catalogue, form.code.data, _values(form))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The entry has been added."), "success")
            return redirect(url_for("reference.entries", slug=slug))
    return render_template("reference/edit.html", form=form, catalogue=catalogue, entry=None,
                           title=services.catalogue_title(slug))


@bp.route("/<slug>/<int:entry_id>/edit", methods=["GET", "POST"])
@permission_required(access.can_manage_reference)
def edit(slug: str, entry_id: int):
    catalogue = _catalogue(slug)
    entry = db.get(catalogue.model, entry_id)
    if entry is None:
        abort(404)
    form = _form_for(catalogue, entry)
    if form.validate_on_submit():
        try:
            services.update_entry(db, current_user, catalogue, entry, _values(form))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            db.commit()
            flash(_("The changes have been saved."), "success")
            return redirect(url_for("reference.entries", slug=slug))
    return render_template("reference/edit.html", form=form, catalogue=catalogue, entry=entry,
                           title=services.catalogue_title(slug), Region=Region)
