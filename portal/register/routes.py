"""Pages of the service-user register: the registers a person may read, one grant's register, adding, ending and
correcting an episode, and the ministry's duplicate list. Routes stay thin: `services` and `duplicates` decide, and
every page that shows entries writes a `register.viewed` audit row."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.access import permission_required
from portal.db import db
from portal.errors import DomainError, ValidationFailed
from portal.exports import csv_response, xlsx_response
from portal.labels import AGE_BAND
from portal.models import Municipality
from portal.pagination import page_of, paginate
from portal.register import access, bulk, bulk_template, duplicates, figures, forms, services
from portal.web import apply_errors, page_arg, page_size, version_of

bp = Blueprint("register", __name__)

NO_STORE = {"Cache-Control": "no-store"}


@bp.app_template_global("can_view_register")
def can_view_register(agreement) -> bool:
    """For pages of other blueprints (the agreement page) that link to a grant's register."""
    return access.can_view(current_user, agreement)


@bp.app_template_global("can_list_registers")
def can_list_registers() -> bool:
    return access.can_list_registers(current_user)


@bp.app_template_global("register_contract_check")
def register_contract_check(tranche):
    """For the tranche confirmation page (grants blueprint): the register against the contracted number of users and
    the price per user — ministry roles only (counts, no identities)."""
    from portal import access as portal_access
    from portal.register.contract import contract_check

    if not portal_access.is_ministry(current_user):
        return None
    return contract_check(db, tranche.agreement, tranche.amount_eur)


def _municipalities() -> list:
    return sorted(db.scalars(sa.select(Municipality)), key=lambda m: m.name())


@bp.get("/registers")
@permission_required(access.can_list_registers)
def index():
    page = paginate(db, services.visible_query(current_user), page_arg(), page_size())
    rows = services.with_counts(db, page.items)
    services.record_view(db, current_user, "index", page_number=page.page)
    db.commit()
    return render_template("register/index.html", rows=rows, page=page, ministry=access.is_ministry_reader(current_user),
                           opens=access.can_open_registers(current_user), today=services.today_in_skopje()), 200, \
        NO_STORE


@bp.get("/grants/<int:agreement_id>/register")
@permission_required(access.can_open_registers)
def grant(agreement_id: int):
    agreement = services.agreement_for(db, current_user, agreement_id)
    episodes = services.episodes_of(db, agreement)
    month = figures.chosen_month(request.args.get("month", ""), agreement)
    services.record_view(db, current_user, "grant", agreement, episodes=len(episodes))
    db.commit()
    types = {t.id: t for t in services.service_types_of(agreement)}
    return render_template("register/grant.html", agreement=agreement, episodes=episodes,
                           summary=services.summary(episodes), today=services.today_in_skopje(),
                           age_band=services.age_band, keeps=access.can_keep(current_user, agreement),
                           month=month, age_bands=list(AGE_BAND.items()), month_rows=[(types[t], row) for t, row in
                                                    sorted(figures.month_figures(db, agreement, month).items())
                                                    if t in types]), 200, NO_STORE


@bp.get("/grants/<int:agreement_id>/register.csv")
@permission_required(access.can_open_registers)
def export(agreement_id: int):
    agreement = services.agreement_for(db, current_user, agreement_id, keep=True)
    header, rows = services.export(db, current_user, agreement)
    db.commit()
    return csv_response(f"register-{agreement.id}.csv", header, rows)


@bp.get("/grants/<int:agreement_id>/register.xlsx")
@permission_required(access.can_open_registers)
def export_xlsx(agreement_id: int):
    agreement = services.agreement_for(db, current_user, agreement_id, keep=True)
    header, rows = services.export(db, current_user, agreement)
    db.commit()
    return xlsx_response(f"register-{agreement.id}.xlsx", {_("Service-user register"): (header, rows)})


@bp.get("/grants/<int:agreement_id>/register/template.xlsx")
@permission_required(access.can_open_registers)
def import_template(agreement_id: int):
    agreement = services.agreement_for(db, current_user, agreement_id, keep=True)
    return Response(bulk_template.template(db, current_user, agreement),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="register-{agreement.id}-template.xlsx"',
                             "Cache-Control": "no-store"})


@bp.route("/grants/<int:agreement_id>/register/import", methods=["GET", "POST"])
@permission_required(access.can_open_registers)
def import_file(agreement_id: int):
    agreement = services.agreement_for(db, current_user, agreement_id, keep=True)
    form, outcome, status = forms.ImportForm(), None, 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            upload = form.file.data
            try:
                outcome = bulk.upload(db, current_user, agreement, upload.read(), upload.filename or "")
            except DomainError:
                db.rollback()
                raise
            if outcome.ok:
                db.commit()
                flash(_("People added to the register: %(n)d.", n=outcome.added), "success")
                return redirect(url_for("register.grant", agreement_id=agreement.id), 303)
            db.rollback()
    return render_template("register/import.html", form=form, agreement=agreement, outcome=outcome), status, NO_STORE


def _episode_form(form_class, agreement, **kwargs):
    form = form_class(**kwargs)
    form.fill_choices(services.service_types_of(agreement), _municipalities())
    return form


def _data(form) -> services.EpisodeData:
    data = services.EpisodeData(
        decision_number=form.decision_number.data or "", decision_date=form.decision_date.data,
        decision_centre=form.decision_centre.data or "", service_type_id=form.service_type_id.data or None,
        start_date=form.start_date.data, sex=form.sex.data or "", birth_year=form.birth_year.data,
        disability=form.disability.data or "", municipality_id=form.municipality_id.data or None,
        local_reference=form.local_reference.data or "")
    if isinstance(form, forms.CorrectForm):
        data.end_date, data.leaving_reason = form.end_date.data, form.leaving_reason.data or ""
        data.withdrawn, data.note = bool(form.withdrawn.data), form.note.data or ""
    return data


@bp.route("/grants/<int:agreement_id>/register/new", methods=["GET", "POST"])
@permission_required(access.can_open_registers)
def new(agreement_id: int):
    agreement = services.agreement_for(db, current_user, agreement_id, keep=True)
    form = _episode_form(forms.EpisodeForm, agreement)
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                episode = services.add_episode(db, current_user, agreement, form.personal_number.data or "",
                                               _data(form), bool(form.confirm_checksum.data))
            except ValidationFailed as exc:
                db.rollback()
                apply_errors(form, exc)
            else:
                db.commit()
                flash(_("The person is in the register as %(ref)s.", ref=services.reference_of(episode)), "success")
                return redirect(url_for("register.grant", agreement_id=agreement.id), 303)
        form.personal_number.data = ""  # never sent back to the browser: typed again
        form.personal_number.raw_data = []
        return render_template("register/form.html", form=form, agreement=agreement, episode=None), status, NO_STORE
    return render_template("register/form.html", form=form, agreement=agreement, episode=None), 200, NO_STORE


def _episode_page(episode, status: int = 200, end_form=None):
    agreement = episode.agreement
    end_form = end_form or forms.EndForm(version=str(episode.current_version))
    return render_template("register/episode.html", episode=episode, agreement=agreement, end_form=end_form,
                           keeps=access.can_keep(current_user, agreement), today=services.today_in_skopje(),
                           age_band=services.age_band, reference=services.reference_of(episode)), status, NO_STORE


@bp.get("/registers/episodes/<int:episode_id>")
@permission_required(access.can_open_registers)
def episode(episode_id: int):
    item = services.episode_for(db, current_user, episode_id)
    services.record_view(db, current_user, "episode", item)
    db.commit()
    return _episode_page(item)


@bp.post("/registers/episodes/<int:episode_id>/end")
@permission_required(access.can_open_registers)
def end(episode_id: int):
    item = services.episode_for(db, current_user, episode_id, keep=True)
    form = forms.EndForm()
    if not form.validate_on_submit():
        services.record_view(db, current_user, "episode", item)
        db.commit()
        return _episode_page(item, 422, form)
    try:
        services.end_episode(db, current_user, item, form.end_date.data, form.leaving_reason.data or "",
                             version_of(form.version.data))
    except ValidationFailed as exc:
        db.rollback()
        apply_errors(form, exc)
        item = services.episode_for(db, current_user, episode_id)
        services.record_view(db, current_user, "episode", item)
        db.commit()
        return _episode_page(item, 422, form)
    except DomainError:
        db.rollback()
        raise
    db.commit()
    flash(_("The episode has ended."), "success")
    return redirect(url_for("register.episode", episode_id=episode_id), 303)


@bp.route("/registers/episodes/<int:episode_id>/correct", methods=["GET", "POST"])
@permission_required(access.can_open_registers)
def correct(episode_id: int):
    item = services.episode_for(db, current_user, episode_id, keep=True)
    agreement = item.agreement
    if request.method == "GET":
        defaults = services.correction_defaults(item)
        form = _episode_form(forms.CorrectForm, agreement, data={
            **{k: v for k, v in vars(defaults).items() if k not in ("withdrawn", "note")},
            "withdrawn": defaults.withdrawn, "version": str(item.current_version)})
        services.record_view(db, current_user, "correct", item)
        db.commit()
        return render_template("register/form.html", form=form, agreement=agreement, episode=item), 200, NO_STORE
    form = _episode_form(forms.CorrectForm, agreement)
    if form.validate_on_submit():
        try:
            services.correct_episode(db, current_user, item, _data(form), version_of(form.version.data))
        except ValidationFailed as exc:
            db.rollback()
            apply_errors(form, exc)
        except DomainError:
            db.rollback()
            raise
        else:
            db.commit()
            flash(_("The correction is saved as a new version; the earlier ones stay in the history."), "success")
            return redirect(url_for("register.episode", episode_id=episode_id), 303)
    return render_template("register/form.html", form=form, agreement=agreement, episode=item), 422, NO_STORE


@bp.get("/registers/duplicates")
@permission_required(access.can_view_duplicates)
def duplicates_page():
    page = duplicates.listed(db, current_user, page_arg(), page_size())
    services.record_view(db, current_user, "duplicates", pairs=len(page.items), page_number=page.page)
    db.commit()
    return render_template("register/duplicates.html", pairs=page.items, page=page, form=forms.ResolveForm()), 200, \
        NO_STORE


@bp.post("/registers/duplicates/<int:first_id>/<int:second_id>/resolve")
@permission_required(access.can_resolve_duplicates)
def resolve(first_id: int, second_id: int):
    form = forms.ResolveForm()
    if form.validate_on_submit():
        try:
            duplicates.resolve(db, current_user, first_id, second_id, form.outcome.data or "", form.reason.data or "")
        except ValidationFailed as exc:
            db.rollback()
            apply_errors(form, exc)
        except DomainError:
            db.rollback()
            raise
        else:
            db.commit()
            flash(_("The decision on the pair is recorded."), "success")
            return redirect(url_for("register.duplicates_page"), 303)
    pair = duplicates.pair(db, first_id, second_id)
    page = page_of([pair] if pair is not None else [], 1, page_size())
    services.record_view(db, current_user, "duplicates", pairs=len(page.items))
    db.commit()
    return render_template("register/duplicates.html", pairs=page.items, page=page, form=form,
                           failed=(first_id, second_id)), 422, NO_STORE
