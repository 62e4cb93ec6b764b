"""Reference data: loading (idempotent) and editing by administrators."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit
from portal.errors import NotAllowed, ValidationFailed
from portal.models import HardToEmployCategory, Municipality, Region, ServiceCategory, ServiceType, User
from portal.reference.catalogues import HARD_TO_EMPLOY, SERVICE_CATALOGUE

DATA_DIR = Path(__file__).resolve().parent / "data"


def load_reference_data(session: Session) -> dict[str, int]:
    """Insert what is missing; never overwrite what an administrator corrected."""
    added = {"regions": 0, "municipalities": 0, "service_categories": 0, "service_types": 0,
             "hard_to_employ": 0}
    regions = {r.code: r for r in session.scalars(sa.select(Region))}
    with open(DATA_DIR / "regions.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            code = int(row["code"])
            if code not in regions:
                regions[code] = Region(code=code, name_mk=row["name_mk"], name_sq=row["name_sq"],
                                       name_en=row["name_en"])
                session.add(regions[code])
                added["regions"] += 1
    session.flush()
    existing = set(session.scalars(sa.select(Municipality.code)))
    with open(DATA_DIR / "municipalities.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["code"] in existing:
                continue
            session.add(Municipality(code=row["code"], kind=row["kind"], region=regions[int(row["region_code"])],
                                     name_mk=row["name_mk"], name_sq=row["name_sq"], name_en=row["name_en"]))
            added["municipalities"] += 1
    categories = {c.code: c for c in session.scalars(sa.select(ServiceCategory))}
    type_codes = set(session.scalars(sa.select(ServiceType.code)))
    for position, (code, mk, sq, en, services) in enumerate(SERVICE_CATALOGUE, start=1):
        category = categories.get(code)
        if category is None:
            category = ServiceCategory(code=code, name_mk=mk, name_sq=sq, name_en=en, sort_order=position)
            session.add(category)
            added["service_categories"] += 1
        for order, (s_code, s_mk, s_sq, s_en) in enumerate(services, start=1):
            if s_code not in type_codes:
                session.add(ServiceType(code=s_code, category=category, name_mk=s_mk, name_sq=s_sq,
                                        name_en=s_en, sort_order=position * 100 + order))
                added["service_types"] += 1
    hte_codes = set(session.scalars(sa.select(HardToEmployCategory.code)))
    for position, (code, mk, sq, en, note) in enumerate(HARD_TO_EMPLOY, start=1):
        if code not in hte_codes:
            session.add(HardToEmployCategory(code=code, name_mk=mk, name_sq=sq, name_en=en, requires_note=note,
                                             sort_order=position))
            added["hard_to_employ"] += 1
    session.flush()
    from portal.calls.services import ensure_programme
    from portal.indicators.catalogue import load_defaults

    ensure_programme(session)
    added.update(load_defaults(session))
    from portal.finance_reports.rates import seed_indicative

    added["exchange_rates"] = seed_indicative(session)  # the NBRM daily series: indicative until loaded (rates-load)
    return added


@dataclass(frozen=True)
class Catalogue:
    slug: str
    model: type
    fields: tuple[str, ...]
    creatable: bool


CATALOGUES: dict[str, Catalogue] = {
    "regions": Catalogue("regions", Region, ("name_mk", "name_sq", "name_en"), False),
    "municipalities": Catalogue("municipalities", Municipality, ("name_mk", "name_sq", "name_en"), False),
    "service-categories": Catalogue("service-categories", ServiceCategory,
                                    ("name_mk", "name_sq", "name_en", "sort_order", "active"), True),
    "service-types": Catalogue("service-types", ServiceType,
                               ("name_mk", "name_sq", "name_en", "category_id", "sort_order", "active"), True),
    "hard-to-employ": Catalogue("hard-to-employ", HardToEmployCategory,
                                ("name_mk", "name_sq", "name_en", "requires_note", "sort_order", "active"), True),
}


def catalogue_title(slug: str) -> str:
    return {
        "regions": _("Planning regions"),
        "municipalities": _("Local governments"),
        "service-categories": _("Service categories"),
        "service-types": _("Service types"),
        "hard-to-employ": _("Hard-to-employ groups"),
    }[slug]


def list_entries(session: Session, catalogue: Catalogue, region_id: int | None = None) -> list[Any]:
    model = catalogue.model
    query = sa.select(model)
    if model is Municipality:
        query = query.options(sa.orm.joinedload(Municipality.region)).order_by(Municipality.code)
        if region_id:
            query = query.where(Municipality.region_id == region_id)
    elif model is ServiceType:
        query = query.options(sa.orm.joinedload(ServiceType.category)).order_by(ServiceType.sort_order)
    elif model is Region:
        query = query.order_by(Region.code)
    else:
        query = query.order_by(model.sort_order)
    return list(session.scalars(query))


def _validate(session: Session, catalogue: Catalogue, values: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for lang in ("mk", "sq", "en"):
        if f"name_{lang}" in values and not str(values[f"name_{lang}"] or "").strip():
            errors[f"name_{lang}"] = [_("Enter the name in every language.")]
    if "category_id" in values and session.get(ServiceCategory, values["category_id"] or 0) is None:
        errors["category_id"] = [_("Choose a category.")]
    if errors:
        raise ValidationFailed(field_errors=errors)


def update_entry(session: Session, actor: User, catalogue: Catalogue, entry: Any, values: dict[str, Any]) -> Any:
    if not access.can_manage_reference(actor):
        raise NotAllowed()
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in catalogue.fields}
    _validate(session, catalogue, values)
    before = audit.snapshot(entry, list(catalogue.fields))
    for key, value in values.items():
        setattr(entry, key, value)
    after = audit.snapshot(entry, list(catalogue.fields))
    if before != after:
        audit.record(session, actor, "reference.updated", entry, before=before, after=after)
    return entry


def create_entry(session: Session, actor: User, catalogue: Catalogue, code: str, values: dict[str, Any]) -> Any:
    if not access.can_manage_reference(actor) or not catalogue.creatable:
        raise NotAllowed()
    code = (code or "").strip().lower()
    if not code or not code.replace("_", "").isalnum() or not code.isascii():
        raise ValidationFailed(field_errors={"code": [
            _("Use lower-case Latin letters, digits and underscores for the code.")]})
    model = catalogue.model
    if session.scalar(sa.select(model.id).where(model.code == code)) is not None:
        raise ValidationFailed(field_errors={"code": [_("This code is already used.")]})
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in catalogue.fields}
    _validate(session, catalogue, values)
    entry = model(code=code, **values)
    session.add(entry)
    session.flush()
    audit.record(session, actor, "reference.created", entry,
                 after={"code": code, **audit.snapshot(entry, list(catalogue.fields))})
    return entry
