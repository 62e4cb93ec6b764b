"""Content in three languages (Macedonian required, Albanian and English optional with a visible
"shown in Macedonian" note), the migration that keeps existing texts, and the public call's way in."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command

from portal.calls import guidance
from portal.calls import services as calls
from portal.cli import alembic_config
from portal.errors import ValidationFailed
from portal.models import Call, CallKind, CallStatus, OrgStatus
from tests import factories
from tests.conftest import is_postgres, login


def _page(app, url: str, lang: str, user=None) -> str:
    client = app.test_client()
    if user is not None:
        user.preferred_language = lang
        login(client, user)
    else:
        client.post("/language", data={"language": lang, "next": "/"})
    return client.get(url).get_data(as_text=True)


def _data(call: Call, **changes) -> calls.CallData:
    data = calls.CallData(kind=call.kind, title_mk=call.title_mk, title_sq=call.title_sq, title_en=call.title_en,
                          description_mk=call.description_mk, description_sq=call.description_sq,
                          description_en=call.description_en, opens_at=call.opens_at, closes_at=call.closes_at,
                          allocation_eur=call.allocation_eur, grant_ceiling_eur=call.grant_ceiling_eur,
                          min_cofinancing_pct=call.min_cofinancing_pct,
                          service_type_ids=[t.id for t in call.service_types],
                          required_documents=list(call.required_documents))
    return replace(data, **changes)


@pytest.fixture
def published(app, world, session):
    with app.test_request_context():
        call = factories.eoi_call(session, world.users["admin"])
        session.commit()
    return call


def test_amendment_notes_in_three_languages_fall_back_to_macedonian(app, world, session, published):
    with app.test_request_context():
        calls.update_call(session, world.users["admin"], published, _data(
            published, closes_at=published.closes_at + timedelta(days=7), amendment_note="Рокот е продолжен.",
            amendment_note_sq="Afati u zgjat."), published.version_id)
        session.commit()
    albanian = _page(app, f"/calls/{published.id}", "sq")
    assert "Afati u zgjat." in albanian and "Рокот е продолжен." not in albanian
    english = _page(app, f"/calls/{published.id}", "en")
    assert "Рокот е продолжен." in english and "shown in Macedonian" in english
    macedonian = _page(app, f"/calls/{published.id}", "mk")
    assert "Рокот е продолжен." in macedonian and "прикажано на македонски" not in macedonian


def test_only_the_macedonian_title_is_required(app, world, session, published):
    with app.test_request_context():
        with pytest.raises(ValidationFailed) as caught:
            calls.update_call(session, world.users["admin"], published, _data(
                published, title_mk=" ", amendment_note="x"), published.version_id)
        assert set(caught.value.field_errors) == {"title_mk"}
        session.rollback()
        call = session.get(Call, published.id)
        calls.update_call(session, world.users["admin"], call, _data(
            call, title_sq="", title_en="", amendment_note="Насловот е скратен."), call.version_id)
        session.commit()
    page = _page(app, f"/calls/{published.id}", "sq")
    assert published.title_mk in page and "shfaqur në maqedonisht" in page


def test_rubric_criteria_descriptions_in_three_languages(app, world, session):
    with app.test_request_context():
        admin = world.users["admin"]
        call = factories.eoi_call(session, admin, kind=CallKind.GRANT, publish=False)
        calls.set_rubric(session, admin, call, [
            calls.CriterionData("Потреба", "", "", "Колку е голема потребата.", Decimal("40"), Decimal("1"),
                                description_sq="Sa e madhe është nevoja."),
            calls.CriterionData("Капацитет", "Kapaciteti", "Capacity", "", Decimal("60"), Decimal("1.5"))])
        calls.change_status(session, admin, call, CallStatus.PUBLISHED)
        session.commit()
        criterion = call.criteria[0]
        assert (criterion.description_mk, criterion.description_sq, criterion.description_en) == (
            "Колку е голема потребата.", "Sa e madhe është nevoja.", "")
        with pytest.raises(ValidationFailed):  # the Macedonian name is the one required
            calls.set_rubric(session, admin, call, [
                calls.CriterionData("", "Nevoja", "Need", "", Decimal("40"), Decimal("1"))])
        session.rollback()
    albanian = _page(app, f"/calls/{call.id}", "sq")
    assert "Sa e madhe është nevoja." in albanian and "Kapaciteti" in albanian
    assert "Потреба" in albanian and "shfaqur në maqedonisht" in albanian  # the name has no Albanian version
    english = _page(app, f"/calls/{call.id}", "en")
    assert "Колку е голема потребата." in english and "Capacity" in english


def test_admins_get_the_albanian_and_english_inputs(app, world, session, published):
    client = app.test_client()
    login(client, world.users["admin"])
    form = client.get(f"/admin/calls/{published.id}/edit").get_data(as_text=True)
    assert 'name="amendment_note_sq"' in form and 'name="amendment_note_en"' in form
    rubric = client.get(f"/admin/calls/{published.id}/rubric").get_data(as_text=True)
    assert 'name="criteria-0-description_sq"' in rubric and 'name="criteria-0-description_en"' in rubric


def test_the_migration_keeps_existing_texts_as_macedonian(tmp_path):
    if is_postgres():
        pytest.skip("the data copy is the same on both; proven on a fresh SQLite file")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0010_mfa")
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine)

    def insert(conn, table: str, **values) -> None:
        """A row with the given values and a plain value in every other required column."""
        for column in metadata.tables[table].columns:
            if column.name in values or column.nullable or column.server_default is not None:
                continue
            try:
                kind = column.type.python_type
            except NotImplementedError:
                kind = str
            values[column.name] = {int: 1, bool: False, Decimal: 1, datetime: datetime(2026, 1, 1),
                                   date: date(2026, 1, 1)}.get(kind, "x")
        conn.execute(metadata.tables[table].insert().values(**values))

    with engine.begin() as conn:
        insert(conn, "programme", id=1, envelope_eur=1000)
        insert(conn, "organisation", id=1, kind="ministry", status="verified")
        insert(conn, "user_account", id=1, organisation_id=1, role="admin", email="a@b.example", preferred_language="mk")
        insert(conn, "call", id=1, programme_id=1, kind="grant", status="published", allocation_eur=10,
               min_cofinancing_pct=0, required_documents="[]", eligibility_checklist="[]", tranche_template="[]",
               reviewers_required=2, discrepancy_share=0.2, opens_at=datetime(2026, 1, 1), closes_at=datetime(2026, 2, 1))
        insert(conn, "rubric_criterion", id=1, call_id=1, description="Опис", max_score=10, weight=1)
        insert(conn, "call_amendment", id=1, call_id=1, actor_id=1, note="Белешка", changes="{}")
    command.upgrade(cfg, "0011_multilingual")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT description_mk, description_sq, description_en FROM rubric_criterion"))\
            .one() == ("Опис", "", "")
        assert conn.execute(sa.text("SELECT note_mk, note_sq, note_en FROM call_amendment")).one() == ("Белешка", "", "")
    command.downgrade(cfg, "0010_mfa")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT description FROM rubric_criterion")).scalar() == "Опис"
        assert conn.execute(sa.text("SELECT note FROM call_amendment")).scalar() == "Белешка"
    engine.dispose()


# Who may apply and how ------------------------------------------------------------------------------------

def test_a_visitor_learns_who_may_apply_and_how(app, world, session, published):
    page = _page(app, f"/calls/{published.id}", "mk")
    assert 'id="how-to-apply"' in page and "/login?next=" in page
    assert "/register" not in page.split('id="how-to-apply"')[1].split("</section>")[0]  # EOI: municipalities only
    with app.test_request_context():
        grant = factories.eoi_call(session, world.users["admin"], kind=CallKind.GRANT, linked_call_id=published.id)
        session.commit()
    page = _page(app, f"/calls/{grant.id}", "sq")
    section = page.split('id="how-to-apply"')[1].split("</section>")[0]
    assert "/register" in section and "/login" in section and section.count("<li>") >= 4


def test_the_guidance_knows_where_the_visitor_stands(app, world, session, published):
    with app.test_request_context():
        from flask_login import AnonymousUserMixin

        from portal import clock

        now = clock.now()
        assert guidance.how_to_apply(session, published, AnonymousUserMixin(), now).state == guidance.ANONYMOUS
        assert guidance.how_to_apply(session, published, world.users["municipality"], now).state == guidance.CAN_APPLY
        assert guidance.how_to_apply(session, published, world.users["provider"], now).state == guidance.OTHER_ROLE
        grant = factories.eoi_call(session, world.users["admin"], kind=CallKind.GRANT, linked_call_id=published.id)
        provider = world.users["provider"]
        provider.organisation.status = OrgStatus.PENDING
        assert guidance.how_to_apply(session, grant, provider, now).state == guidance.NOT_VERIFIED
        provider.organisation.status = OrgStatus.VERIFIED
        assert guidance.how_to_apply(session, grant, provider, now).state == guidance.CAN_APPLY
        assert guidance.how_to_apply(session, grant, provider, grant.closes_at + timedelta(minutes=1)).state == \
            guidance.NOT_OPEN


def test_deadlines_show_minutes_not_seconds(app, published):
    page = _page(app, f"/calls/{published.id}", "mk")
    deadline = page.split("<strong>")[1].split("</strong>")[0]
    assert deadline.count(":") == 1, deadline
