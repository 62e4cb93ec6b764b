"""Regions, local governments and catalogues: loaded once, editable, never deleted."""

from __future__ import annotations

import sqlalchemy as sa

from portal.models import AuditEvent, HardToEmployCategory, Municipality, Region, ServiceCategory, ServiceType
from portal.reference.services import load_reference_data
from tests.conftest import login


def test_reference_data_is_complete(session):
    assert session.scalar(sa.select(sa.func.count()).select_from(Region)) == 8
    assert session.scalar(sa.select(sa.func.count()).select_from(Municipality)) == 81
    assert session.scalar(sa.select(sa.func.count()).where(Municipality.kind == "city")) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(ServiceCategory)) == 6
    codes = set(session.scalars(sa.select(ServiceType.code)))
    assert {"home_help_care", "personal_assistance", "day_care", "small_group_home", "supported_living"} <= codes
    assert session.scalar(sa.select(sa.func.count()).select_from(HardToEmployCategory)) == 13
    kumanovo = session.scalar(sa.select(Municipality).where(Municipality.name_en == "Kumanovo"))
    assert (kumanovo.name_mk, kumanovo.region.name_en) == ("Куманово", "Northeast")
    for table in (Region, Municipality, ServiceCategory, ServiceType, HardToEmployCategory):
        assert session.scalar(sa.select(sa.func.count()).where(
            sa.or_(table.name_mk == "", table.name_sq == "", table.name_en == ""))) == 0


def test_loading_again_changes_nothing_and_keeps_corrections(app, session):
    veles = session.scalar(sa.select(Municipality).where(Municipality.name_en == "Veles"))
    veles.name_sq = "Velesi (korrigjuar)"
    session.commit()
    with app.app_context():
        added = load_reference_data(session)
    assert set(added.values()) == {0}
    session.expire_all()
    assert session.get(Municipality, veles.id).name_sq == "Velesi (korrigjuar)"


def test_admin_corrects_an_albanian_name_and_it_is_audited(client, world, session):
    kicevo = session.scalar(sa.select(Municipality).where(Municipality.name_en == "Kičevo"))
    login(client, world.users["admin"])
    response = client.post(f"/admin/reference/municipalities/{kicevo.id}/edit", data={
        "name_mk": "Кичево", "name_sq": "Kërçova", "name_en": "Kičevo"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Municipality, kicevo.id).name_sq == "Kërçova"
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "reference.updated"))
    assert event.before["name_sq"] == "Kërçovë" and event.after["name_sq"] == "Kërçova"


def test_names_cannot_be_blank(client, world, session):
    region = session.scalar(sa.select(Region).order_by(Region.code))
    login(client, world.users["admin"])
    body = client.post(f"/admin/reference/regions/{region.id}/edit", data={
        "name_mk": "", "name_sq": region.name_sq, "name_en": region.name_en}).get_data(as_text=True)
    assert 'href="#name_mk"' in body


def test_catalogue_entries_are_added_and_deactivated_not_deleted(client, world, session):
    login(client, world.users["admin"])
    category = session.scalar(sa.select(ServiceCategory).where(ServiceCategory.code == "community"))
    response = client.post("/admin/reference/service-types/new", data={
        "code": "mobile_team", "name_mk": "Мобилен тим", "name_sq": "Ekip mobil", "name_en": "Mobile team",
        "category_id": category.id, "sort_order": 560, "active": "1"})
    assert response.status_code == 302
    entry = session.scalar(sa.select(ServiceType).where(ServiceType.code == "mobile_team"))
    assert entry.category_id == category.id
    response = client.post(f"/admin/reference/service-types/{entry.id}/edit", data={
        "name_mk": "Мобилен тим", "name_sq": "Ekip mobil", "name_en": "Mobile team",
        "category_id": category.id, "sort_order": 560, "active": "0"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(ServiceType, entry.id).active is False
    assert "Мобилен тим" in client.get("/admin/reference/service-types").get_data(as_text=True)


def test_catalogue_codes_are_unique_and_clean(client, world):
    login(client, world.users["admin"])
    for code in ("roma", "Ромска група", "bad code!"):
        body = client.post("/admin/reference/hard-to-employ/new", data={
            "code": code, "name_mk": "А", "name_sq": "B", "name_en": "C"}).get_data(as_text=True)
        assert 'href="#code"' in body, code


def test_regions_and_municipalities_cannot_be_created(client, world):
    login(client, world.users["admin"])
    assert client.get("/admin/reference/municipalities/new").status_code == 404
    assert client.get("/admin/reference/nonsense").status_code == 404


def test_municipality_list_filters_by_region(client, world, session):
    polog = session.scalar(sa.select(Region).where(Region.name_en == "Polog"))
    login(client, world.users["admin"])
    body = client.get(f"/admin/reference/municipalities?region={polog.id}").get_data(as_text=True)
    assert "Тетово" in body and "Битола" not in body
