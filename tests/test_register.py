"""The pseudonymised service-user register (issue 16): the personal number's check, episodes kept as versions, the
number stored nowhere, every read audited, the duplicate check across providers, re-keying, and who sees what."""

from __future__ import annotations

import logging
import random
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from config import DEV_REGISTER_KEY, ProductionConfig
from portal.db import Base
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.models import (
    AuditEvent,
    Municipality,
    RegisterDuplicateResolution,
    RegisterEpisode,
    RegisterEpisodeVersion,
    ServiceType,
)
from portal.register import duplicates, keys, services
from tests import factories
from tests.conftest import login

WEIGHTS = (7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def make_number(born: date, serial: int, region: int = 45) -> str:
    """A valid ЕМБГ built with the published algorithm (independently of the portal's code): DDMMYYY RR BBB K."""
    first = f"{born.day:02d}{born.month:02d}{born.year % 1000:03d}{region:02d}{serial:03d}"
    m = 11 - sum(int(d) * w for d, w in zip(first, WEIGHTS, strict=True)) % 11
    return first + str(m if m <= 9 else 0)


def wrong_check_digit(number: str) -> str:
    return number[:12] + str((int(number[12]) + 1) % 10)


# The personal number ---------------------------------------------------------------------------------------------

def test_valid_numbers_pass_and_say_the_birth_date_and_sex(app):
    rng = random.Random(16)
    with app.test_request_context():
        for _i in range(300):
            born = date(1925, 1, 1) + timedelta(days=rng.randrange(0, 36000))
            serial = rng.randrange(0, 1000)
            number, facts, problem = services.read_number(make_number(born, serial))
            assert problem == "" and facts.checksum_ok, number
            assert facts.birth_date == born
            assert facts.sex.value == ("male" if serial < 500 else "female")
        # Spaces and dashes people type are ignored.
        number = make_number(date(1950, 3, 7), 123)
        assert services.read_number(f"{number[:7]} {number[7:9]}-{number[9:]}")[2] == ""


def test_a_known_number_by_hand(app):
    # 0101990450006: Σ = 0·7+1·6+0·5+1·4+9·3+9·2+0·7+4·6+5·5+0·4+0·3+0·2 = 104; 104 mod 11 = 5; 11 − 5 = 6.
    assert services.check_digit("010199045000") == 6
    with app.test_request_context():
        assert services.read_number("0101990450006")[2] == ""
        assert services.read_number("0101990450007")[2] != ""


def test_invalid_numbers_are_refused(app):
    number = make_number(date(1960, 5, 17), 321)
    with app.test_request_context():
        for raw in ("", "123", number + "1", number[:12], "A" + number[1:], "3102960450001", "0113960450001",
                    "0000000000000"):
            assert services.read_number(raw)[2], raw
            assert services.read_number(raw)[1] is None, raw
        future = services.today_in_skopje() + timedelta(days=40)
        assert services.read_number(make_number(future, 1))[2]
        # A failing check digit alone: the facts are there, the caller asks for a confirmation.
        _n, facts, problem = services.read_number(wrong_check_digit(number))
        assert problem and facts is not None and not facts.checksum_ok
    # A wrong digit anywhere changes the check digit, unless the sum lands on 10 and 11 (both give 0).
    for i in range(12):
        for digit in "0123456789":
            changed = number[:i] + digit + number[i + 1:12]
            raw = 11 - sum(int(d) * w for d, w in zip(changed, WEIGHTS, strict=True)) % 11
            if digit != number[i] and raw <= 9:
                assert services.check_digit(changed) != int(number[12]) or int(number[12]) == 0, changed


def test_age_bands_follow_the_monthly_reports():
    on = date(2026, 6, 1)
    assert services.age_band(2026, on) == "0_17" and services.age_band(2009, on) == "0_17"
    assert services.age_band(2008, on) == "18_64" and services.age_band(1962, on) == "18_64"
    assert services.age_band(1961, on) == "65_79" and services.age_band(1947, on) == "65_79"
    assert services.age_band(1946, on) == "80_plus" and services.age_band(1900, on) == "80_plus"


# Building registers ------------------------------------------------------------------------------------------------

def _grant(session, w, provider="provider", municipality="municipality", codes=("home_help_care", "day_care")):
    return factories.signed_grant(session, w.users["admin"], w.orgs[provider], w.orgs[municipality],
                                  start=factories.months_ago(10), service_codes=codes)


def _type(session, code="home_help_care") -> int:
    return session.scalar(sa.select(ServiceType.id).where(ServiceType.code == code))


def _data(session, start: date, service="home_help_care", **kw) -> services.EpisodeData:
    values = dict(decision_number="08-1234/2", decision_date=start - timedelta(days=10), decision_centre="ЦСР Куманово",
                  service_type_id=_type(session, service), start_date=start, disability="no",
                  municipality_id=session.scalar(sa.select(Municipality.id).order_by(Municipality.id)),
                  local_reference="K-17")
    values.update(kw)
    return services.EpisodeData(**values)


def _add(app, session, user, agreement, number, start, service="home_help_care", **kw):
    with app.test_request_context():
        episode = services.add_episode(session, user, agreement, number, _data(session, start, service, **kw))
        session.commit()
    return episode


@pytest.fixture
def two_grants(app, world, session):
    with app.test_request_context():
        world.grant_a = _grant(session, world)
        world.grant_b = _grant(session, world, "provider_b", "municipality_b")
        session.commit()
    return world


def _month(n_back: int, day: int = 1) -> date:
    return factories.months_ago(n_back).replace(day=day)


def test_adding_fills_sex_and_year_from_the_number_and_checks_them(app, two_grants, session):
    w = two_grants
    number = make_number(date(1941, 2, 3), 612)
    episode = _add(app, session, w.users["provider"], w.grant_a, number, _month(5))
    v = episode.current
    assert (v.sex.value, v.birth_year, v.version, v.change) == ("female", 1941, 1, "added")
    with app.test_request_context(), pytest.raises(ValidationFailed) as caught:
        services.add_episode(session, w.users["provider"], w.grant_a, make_number(date(1941, 2, 3), 100),
                             _data(session, _month(5), sex="female", birth_year=1950))
    assert {"sex", "birth_year"} <= set(caught.value.field_errors)
    session.rollback()


def test_a_failing_check_digit_needs_an_explicit_confirmation(app, two_grants, session):
    w = two_grants
    number = wrong_check_digit(make_number(date(1975, 8, 9), 40))
    with app.test_request_context():
        with pytest.raises(ValidationFailed) as caught:
            services.add_episode(session, w.users["provider"], w.grant_a, number, _data(session, _month(4)))
        assert "personal_number" in caught.value.field_errors
        session.rollback()
        episode = services.add_episode(session, w.users["provider"], w.grant_a, number, _data(session, _month(4)),
                                       confirm_checksum=True)
        session.commit()
    row = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "register.episode_added",
                                                     AuditEvent.object_id == str(episode.id)))
    assert row.after["checksum_confirmed"] is True


def test_free_text_refuses_a_personal_number_and_the_same_person_twice(app, two_grants, session):
    w = two_grants
    number = make_number(date(1980, 1, 2), 7)
    with app.test_request_context():
        with pytest.raises(ValidationFailed) as caught:
            services.add_episode(session, w.users["provider"], w.grant_a, number,
                                 _data(session, _month(4), local_reference=number[:6] + " " + number[6:]))
        assert "local_reference" in caught.value.field_errors
        session.rollback()
    _add(app, session, w.users["provider"], w.grant_a, number, _month(6))
    with app.test_request_context(), pytest.raises(ValidationFailed) as caught:
        services.add_episode(session, w.users["provider"], w.grant_a, number, _data(session, _month(2)))
    assert "personal_number" in caught.value.field_errors
    session.rollback()
    # Another service of the same grant is a different episode.
    _add(app, session, w.users["provider"], w.grant_a, number, _month(2), "day_care")


def test_ending_and_correcting_add_versions_and_overwrite_nothing(app, two_grants, session):
    w = two_grants
    provider = w.users["provider"]
    episode = _add(app, session, provider, w.grant_a, make_number(date(1944, 4, 4), 10), _month(6))
    with app.test_request_context():
        services.end_episode(session, provider, episode, _month(1, 15), "moved", 1)
        session.commit()
        with pytest.raises(InvalidTransition):
            services.end_episode(session, provider, episode, _month(1, 16), "moved", 2)
        data = services.correction_defaults(episode)
        data.decision_number, data.note = "08-1234/3", "Погрешен број на решение."
        with pytest.raises(Conflict):
            services.correct_episode(session, provider, episode, data, 1)  # read before the end: stale
        session.rollback()
        services.correct_episode(session, provider, episode, data, 2)
        session.commit()
        with pytest.raises(NotAllowed):
            services.correct_episode(session, w.users["provider_b"], episode, data, 3)
    session.expire_all()
    versions = session.scalars(sa.select(RegisterEpisodeVersion).where(RegisterEpisodeVersion.episode_id == episode.id)
                               .order_by(RegisterEpisodeVersion.version)).all()
    assert [(v.version, v.change, v.decision_number) for v in versions] == [
        (1, "added", "08-1234/2"), (2, "ended", "08-1234/2"), (3, "corrected", "08-1234/3")]
    assert versions[0].end_date is None and versions[1].end_date == _month(1, 15)
    actions = session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "register_episode",
                                                                 AuditEvent.object_id == str(episode.id))
                              .order_by(AuditEvent.id)).all()
    assert actions == ["register.episode_added", "register.episode_ended", "register.episode_corrected"]
    # The audit rows name what changed, not the values (those are in the episode's history only).
    rows = session.scalars(sa.select(AuditEvent).where(AuditEvent.object_type == "register_episode",
                                                       AuditEvent.object_id == str(episode.id)).order_by(AuditEvent.id)).all()
    assert rows[1].after == {"version": 2, "changed": ["end_date", "leaving_reason"]}
    assert rows[2].after == {"version": 3, "changed": ["decision_number"]} and rows[2].before == {"version": 2}
    assert not [r for r in rows if "08-1234" in str(r.before) + str(r.after) or "K-17" in str(r.after)]


def test_the_database_refuses_to_change_a_version(app, two_grants, session):
    w = two_grants
    episode = _add(app, session, w.users["provider"], w.grant_a, make_number(date(1944, 4, 5), 11), _month(6))
    for statement in ("UPDATE register_episode_version SET decision_number = 'x' WHERE episode_id = :id",
                      "DELETE FROM register_episode_version WHERE episode_id = :id"):
        with pytest.raises(sa.exc.DBAPIError):
            with session.begin_nested():
                session.execute(sa.text(statement), {"id": episode.id})


# The number is stored nowhere ----------------------------------------------------------------------------------------

def _every_text(session) -> list[str]:
    """Every value of every column of every table, as text (the whole database, dumped)."""
    values = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(sa.select(table)):
            values.extend(str(v) for v in row if v is not None)
    return values


def test_the_personal_number_is_stored_nowhere_and_logged_nowhere(app, client, two_grants, session, caplog):
    w = two_grants
    number = make_number(date(1938, 11, 30), 777)
    caplog.set_level(logging.DEBUG)
    login(client, w.users["provider"])
    form = {"personal_number": number, "decision_number": "08-55/1", "decision_date": (_month(3) - timedelta(days=3)).isoformat(),
            "decision_centre": "ЦСР Куманово", "service_type_id": str(_type(session)), "start_date": _month(3).isoformat(),
            "disability": "yes", "municipality_id": str(session.scalar(sa.select(Municipality.id))), "sex": ""}
    # A mistake first: the page comes back without the number in it.
    refused = client.post(f"/grants/{w.grant_a.id}/register/new", data=form | {"decision_number": ""})
    assert refused.status_code == 422 and number not in refused.get_data(as_text=True)
    response = client.post(f"/grants/{w.grant_a.id}/register/new", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    page = client.get(f"/grants/{w.grant_a.id}/register").get_data(as_text=True)
    episode = session.scalar(sa.select(RegisterEpisode).where(RegisterEpisode.agreement_id == w.grant_a.id))
    assert episode is not None and episode.current.birth_year == 1938 and episode.current.sex.value == "female"
    session.expire_all()
    stored = _every_text(session)
    assert not [v for v in stored if number in v or number[:9] in v or number[4:] in v]
    # The keyed hash is in the episode only: not in the audit rows, the pages or the logs.
    audit_text = " ".join(str(r) for r in session.execute(sa.select(AuditEvent.before, AuditEvent.after,
                                                                    AuditEvent.object_id)).all())
    assert episode.person_key not in audit_text and number not in audit_text
    assert episode.person_key not in page and number not in page
    logged = caplog.text
    assert number not in logged and episode.person_key not in logged


# Every read is audited -----------------------------------------------------------------------------------------------

def test_every_page_with_entries_writes_register_viewed(app, client, two_grants, session):
    w = two_grants
    episode = _add(app, session, w.users["provider"], w.grant_a, make_number(date(1950, 6, 6), 66), _month(6))
    for role, url in (("provider", f"/grants/{w.grant_a.id}/register"), ("reviewer", f"/registers/episodes/{episode.id}"),
                      ("admin", "/registers/duplicates"), ("provider", f"/registers/episodes/{episode.id}/correct"),
                      ("admin", "/registers")):
        login(client, w.users[role])
        last = session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))
        assert client.get(url).status_code == 200, url
        session.expire_all()
        rows = session.scalars(sa.select(AuditEvent).where(AuditEvent.id > last,
                                                           AuditEvent.action == "register.viewed")).all()
        assert len(rows) == 1 and rows[0].actor_id == w.users[role].id, url


# Duplicates ----------------------------------------------------------------------------------------------------------

def test_duplicates_are_found_across_providers_and_nowhere_else(app, two_grants, session):
    w = two_grants
    a, b = w.users["provider"], w.users["provider_b"]
    same = make_number(date(1939, 1, 1), 501)
    boundary = make_number(date(1940, 2, 2), 502)
    apart = make_number(date(1941, 3, 3), 503)
    other_service = make_number(date(1942, 4, 4), 504)
    withdrawn = make_number(date(1943, 5, 5), 505)
    alone = make_number(date(1944, 6, 6), 506)
    planted = (_add(app, session, a, w.grant_a, same, _month(6)), _add(app, session, b, w.grant_b, same, _month(3)))
    # One ends on the 2nd of a month, the other starts on the 20th: the same month is billed twice.
    first = _add(app, session, a, w.grant_a, boundary, _month(8))
    with app.test_request_context():
        services.end_episode(session, a, first, _month(4, 2), "other_service", 1)
        session.commit()
    second = _add(app, session, b, w.grant_b, boundary, _month(4, 20))
    # Months apart: ended in month −7, started again in month −5 with the other provider.
    gone = _add(app, session, a, w.grant_a, apart, _month(9))
    with app.test_request_context():
        services.end_episode(session, a, gone, _month(7, 28), "moved", 1)
        session.commit()
    _add(app, session, b, w.grant_b, apart, _month(5))
    _add(app, session, a, w.grant_a, other_service, _month(6))
    _add(app, session, b, w.grant_b, other_service, _month(6), "day_care")
    wrong = _add(app, session, a, w.grant_a, withdrawn, _month(6))
    _add(app, session, b, w.grant_b, withdrawn, _month(6))
    with app.test_request_context():
        data = services.correction_defaults(wrong)
        data.withdrawn, data.note = True, "Погрешно лице."
        services.correct_episode(session, a, wrong, data, 1)
        session.commit()
    _add(app, session, a, w.grant_a, alone, _month(6))
    with app.test_request_context():
        found = duplicates.find(session)
    assert {(p.first.id, p.second.id) for p in found} == {(planted[0].id, planted[1].id), (first.id, second.id)}
    pair = next(p for p in found if p.first.id == first.id)
    assert pair.months_from == pair.months_to == _month(4)
    assert next(p for p in found if p.first.id == planted[0].id).months_to is None

    with app.test_request_context():
        with pytest.raises(NotAllowed):
            duplicates.resolve(session, a, planted[0].id, planted[1].id, "legitimate", "x")
        with pytest.raises(ValidationFailed):
            duplicates.resolve(session, w.users["reviewer"], planted[0].id, planted[1].id, "legitimate", "")
        duplicates.resolve(session, w.users["reviewer"], planted[0].id, planted[1].id, "corrected",
                           "Давателот Б го затвори својот запис.")
        session.commit()
        with pytest.raises(InvalidTransition):
            duplicates.resolve(session, w.users["admin"], planted[0].id, planted[1].id, "legitimate", "Повторно.")
        session.rollback()
    assert session.scalar(sa.select(sa.func.count(RegisterDuplicateResolution.id))) == 1
    assert session.scalar(sa.select(AuditEvent.action).where(AuditEvent.object_type == "register_duplicate_resolution")) \
        == "register.duplicate_resolved"


def test_the_ministry_lists_and_resolves_through_its_page(app, client, two_grants, session):
    w = two_grants
    number = make_number(date(1939, 9, 9), 9)
    first = _add(app, session, w.users["provider"], w.grant_a, number, _month(6))
    second = _add(app, session, w.users["provider_b"], w.grant_b, number, _month(2))
    login(client, w.users["reviewer"])
    page = client.get("/registers/duplicates").get_data(as_text=True)
    assert f"#{first.id}" in page and f"#{second.id}" in page and first.person_key not in page
    url = f"/registers/duplicates/{first.id}/{second.id}/resolve"
    assert client.post(url, data={"outcome": "legitimate", "reason": ""}).status_code == 422
    response = client.post(url, data={"outcome": "legitimate", "reason": "Преселба во текот на месецот."})
    assert response.status_code == 303
    assert client.post(url, data={"outcome": "legitimate", "reason": "Пак."}).status_code == 409


# Re-keying -----------------------------------------------------------------------------------------------------------

def test_rekeying_keeps_duplicates_detectable(app, two_grants, session):
    w = two_grants
    number = make_number(date(1936, 7, 7), 700)
    before = _add(app, session, w.users["provider"], w.grant_a, number, _month(6))
    old_hash = before.person_key
    new_key = "a-new-register-key-for-this-test-0123456789"
    # A new secret without the old one behind it: refused, nothing split in two.
    app.config.update(REGISTER_HMAC_KEY=new_key)
    with app.test_request_context(), pytest.raises(keys.KeyMismatch):
        services.add_episode(session, w.users["provider_b"], w.grant_b, number, _data(session, _month(2)))
    session.rollback()
    app.config.update(REGISTER_HMAC_KEY=new_key, REGISTER_HMAC_OLD_KEYS=(DEV_REGISTER_KEY,))
    result = app.test_cli_runner().invoke(args=["register-rekey"])
    assert result.exit_code == 0 and "1 episodes re-keyed" in result.output, result.output
    session.expire_all()
    rekeyed = session.get(RegisterEpisode, before.id)
    assert rekeyed.key_version == 2 and rekeyed.person_key != old_hash
    after = _add(app, session, w.users["provider_b"], w.grant_b, number, _month(2))
    assert after.key_version == 2 and after.person_key == rekeyed.person_key
    with app.test_request_context():
        assert [(p.first.id, p.second.id) for p in duplicates.find(session)] == [(before.id, after.id)]
    assert session.scalar(sa.select(AuditEvent.after).where(AuditEvent.action == "register.rekeyed")) == \
        {"key_version": 2, "episodes_rekeyed": 1}
    # Going back to the first key alone is refused too.
    app.config.update(REGISTER_HMAC_KEY=DEV_REGISTER_KEY, REGISTER_HMAC_OLD_KEYS=())
    with app.test_request_context(), pytest.raises(keys.KeyMismatch):
        keys.check_keys(session)


def test_production_requires_its_own_register_key():
    strong = "s" * 48
    with pytest.raises(RuntimeError, match="REGISTER_HMAC_KEY"):
        ProductionConfig(SECRET_KEY=strong).validate()
    for bad in ("", "short", DEV_REGISTER_KEY, strong):
        with pytest.raises(RuntimeError, match="REGISTER_HMAC_KEY"):
            ProductionConfig(SECRET_KEY=strong, REGISTER_HMAC_KEY=bad).validate()
    ProductionConfig(SECRET_KEY=strong, REGISTER_HMAC_KEY="r" * 48).validate()


# Who sees what -------------------------------------------------------------------------------------------------------

def test_providers_see_only_their_own_registers(app, client, two_grants, session):
    w = two_grants
    episode = _add(app, session, w.users["provider"], w.grant_a, make_number(date(1945, 5, 9), 45), _month(6))
    checks = {
        "provider": {f"/grants/{w.grant_a.id}/register": 200, f"/registers/episodes/{episode.id}": 200,
                     f"/grants/{w.grant_a.id}/register/new": 200, "/registers/duplicates": 403},
        "provider_b": {f"/grants/{w.grant_a.id}/register": 403, f"/registers/episodes/{episode.id}": 403,
                       f"/grants/{w.grant_a.id}/register/new": 403},
        "admin": {f"/grants/{w.grant_a.id}/register": 200, f"/grants/{w.grant_a.id}/register/new": 403,
                  f"/registers/episodes/{episode.id}/correct": 403, "/registers/duplicates": 200},
        "finance": {f"/grants/{w.grant_a.id}/register": 403, "/registers": 403},
        "municipality": {f"/grants/{w.grant_a.id}/register": 403, f"/registers/episodes/{episode.id}": 403,
                         "/registers": 200, "/registers/duplicates": 403},
        "monitor": {f"/grants/{w.grant_a.id}/register": 403, "/registers/duplicates": 403},
    }
    for role, urls in checks.items():
        login(client, w.users[role])
        for url, status in urls.items():
            assert client.get(url).status_code == status, (role, url)
    login(client, w.users["provider"])
    listing = client.get("/registers").get_data(as_text=True)
    assert w.grant_a.number in listing and w.grant_b.number not in listing
    assert "42/2020" in client.get(f"/grants/{w.grant_a.id}/register").get_data(as_text=True)


def test_the_register_pages_have_clean_markup(app, client, two_grants, session):
    from tests.test_form_markup import check_markup

    w = two_grants
    number = make_number(date(1946, 6, 1), 61)
    first = _add(app, session, w.users["provider"], w.grant_a, number, _month(6))
    _add(app, session, w.users["provider_b"], w.grant_b, number, _month(3))
    login(client, w.users["provider"])
    for url in ("/registers", f"/grants/{w.grant_a.id}/register", f"/grants/{w.grant_a.id}/register/new",
                f"/registers/episodes/{first.id}", f"/registers/episodes/{first.id}/correct"):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", url
        check_markup(response.get_data(as_text=True), url)
    refused = client.post(f"/grants/{w.grant_a.id}/register/new", data={"personal_number": wrong_check_digit(number)})
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    check_markup(body, "new, refused")
    assert 'name="confirm_checksum"' in body and 'aria-invalid="true"' in body
    refused = client.post(f"/registers/episodes/{first.id}/end", data={"version": "1"})
    assert refused.status_code == 422
    check_markup(refused.get_data(as_text=True), "end, refused")
    login(client, w.users["admin"])
    check_markup(client.get("/registers/duplicates").get_data(as_text=True), "duplicates")
    refused = client.post(f"/registers/duplicates/{first.id}/{first.id + 1}/resolve", data={"outcome": "legitimate"})
    assert refused.status_code == 422
    check_markup(refused.get_data(as_text=True), "resolve, refused")


def test_municipalities_see_counts_for_their_grants_and_no_entry(app, client, two_grants, session):
    w = two_grants
    a = w.users["provider"]
    for serial in (1, 2, 3):
        _add(app, session, a, w.grant_a, make_number(date(1950, 1, serial), serial), _month(6))
    gone = _add(app, session, a, w.grant_a, make_number(date(1950, 1, 9), 9), _month(6))
    wrong = _add(app, session, a, w.grant_a, make_number(date(1950, 1, 10), 10), _month(6))
    with app.test_request_context():
        services.end_episode(session, a, gone, _month(1), "died", 1)
        data = services.correction_defaults(wrong)
        data.withdrawn, data.note = True, "Погрешно лице."
        services.correct_episode(session, a, wrong, data, 1)
        session.commit()
        rows = {agreement.id: (episodes, people)
                for agreement, episodes, people in services.visible_agreements(session, w.users["municipality"])}
    assert rows == {w.grant_a.id: (4, 3)}  # grant B runs in municipality B; withdrawn left out; one has ended
    login(client, w.users["municipality"])
    page = client.get("/registers").get_data(as_text=True)
    assert w.grant_a.number in page and w.grant_b.number not in page
    assert f"/grants/{w.grant_a.id}/register" not in page


# A month's figures from the register ---------------------------------------------------------------------------------

def test_month_figures_follow_the_episodes(app, client, two_grants, session):
    """Hand-built: a person leaving and coming back, a change of service, the month boundary, a withdrawn entry."""
    from portal.register.figures import month_figures

    w = two_grants
    a = w.users["provider"]
    home, day = _type(session), _type(session, "day_care")
    m3, m4, m5 = factories.months_ago(3), factories.months_ago(2), factories.months_ago(1)  # three whole months
    steady = make_number(date(1940, 1, 1), 600)  # woman, 80+ in any recent year, served throughout
    returns = make_number(date(1990, 2, 2), 100)  # man: ends on the last day of m3, back on the 10th of m4
    moves = make_number(date(2012, 3, 3), 700)  # girl: home help up to the 14th of m4, day care from the 15th
    boundary = make_number(date(1958, 4, 4), 200)  # man: starts on the 1st of m4
    withdrawn = make_number(date(1970, 5, 5), 300)
    _add(app, session, a, w.grant_a, steady, m3 - timedelta(days=40), disability="yes")
    first = _add(app, session, a, w.grant_a, returns, m3)
    moving = _add(app, session, a, w.grant_a, moves, m3)
    with app.test_request_context():
        services.end_episode(session, a, first, m4 - timedelta(days=1), "declined", 1)
        services.end_episode(session, a, moving, m4.replace(day=14), "other_service", 1)
        session.commit()
    _add(app, session, a, w.grant_a, returns, m4.replace(day=10))
    _add(app, session, a, w.grant_a, moves, m4.replace(day=15), "day_care", disability="yes")
    _add(app, session, a, w.grant_a, boundary, m4)
    wrong = _add(app, session, a, w.grant_a, withdrawn, m3)
    with app.test_request_context():
        data = services.correction_defaults(wrong)
        data.withdrawn, data.note = True, "Погрешно лице."
        services.correct_episode(session, a, wrong, data, 1)
        session.commit()
        march, april, may = (month_figures(session, w.grant_a, m) for m in (m3, m4, m5))
    # m3, home help: steady (continuing), returns and moves (new); returns left (not served on the 1st of m4).
    assert {k: march[home][k] for k in ("total", "new_this_month", "continuing", "left_this_month", "female", "male",
                                        "age_80_plus", "age_0_17", "age_18_64", "with_disability")} == \
        {"total": 3, "new_this_month": 2, "continuing": 1, "left_this_month": 1, "female": 2, "male": 1,
         "age_80_plus": 1, "age_0_17": 1, "age_18_64": 1, "with_disability": 1}
    assert day not in march
    # m4, home help: steady and moves continue; returns (left in m3) and boundary (from the 1st) are new; moves
    # leaves home help. Day care: moves is new there.
    assert {k: april[home][k] for k in ("total", "continuing", "new_this_month", "left_this_month", "new_male")} == \
        {"total": 4, "continuing": 2, "new_this_month": 2, "left_this_month": 1, "new_male": 2}
    assert {k: april[day][k] for k in ("total", "new_this_month", "continuing", "new_female", "new_with_disability",
                                       "new_age_0_17")} == \
        {"total": 1, "new_this_month": 1, "continuing": 0, "new_female": 1, "new_with_disability": 1,
         "new_age_0_17": 1}
    # Continuity holds by construction: continuing(m) = served(m − 1) − left(m − 1).
    for before, after in ((march, april), (april, may)):
        for service in (home, day):
            if service in after and service in before:
                assert after[service]["continuing"] == before[service]["total"] - before[service]["left_this_month"]
    assert may[home]["total"] == 3 and may[home]["new_this_month"] == 0 and may[day]["continuing"] == 1
    for row in (*march.values(), *april.values(), *may.values()):
        assert row["female"] + row["male"] == row["total"] == row["with_disability"] + row["without_disability"]
        assert sum(row[f"age_{b}"] for b in ("0_17", "18_64", "65_79", "80_plus")) == row["total"]
        assert row["new_female"] + row["new_male"] == row["new_this_month"]
    # The register page shows them for the month asked (and falls back to the last ended month on nonsense).
    from tests.test_form_markup import check_markup

    login(client, a)
    for query in (f"?month={m4:%Y-%m}", "?month=2026-13", "?month=..%2F", ""):
        response = client.get(f"/grants/{w.grant_a.id}/register{query}")
        assert response.status_code == 200, query
        body = response.get_data(as_text=True)
        check_markup(body, query)
        assert 'id="month-title"' in body and "<tbody>" in body
    body = client.get(f"/grants/{w.grant_a.id}/register?month={m4:%Y-%m}").get_data(as_text=True)
    assert f'value="{m4:%Y-%m}"' in body


def test_the_provider_downloads_its_register_without_the_codes(app, client, two_grants, session):
    import csv
    import io

    w = two_grants
    number = make_number(date(1952, 12, 12), 812)
    episode = _add(app, session, w.users["provider"], w.grant_a, number, _month(4), local_reference="=HYPERLINK(1)")
    login(client, w.users["provider"])
    response = client.get(f"/grants/{w.grant_a.id}/register.csv")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 2 and rows[1][0] == str(episode.id) and rows[1][1] == "'=HYPERLINK(1)"
    assert episode.person_key not in text and number not in text
    assert session.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "register.exported",
                                                             AuditEvent.object_id == str(w.grant_a.id)))
    login(client, w.users["admin"])
    assert client.get(f"/grants/{w.grant_a.id}/register.csv").status_code == 403


# Retention -------------------------------------------------------------------------------------------------------------

def test_registers_are_anonymised_years_after_the_grant_ends(app, two_grants, session):
    from portal.grants.services import add_months
    from portal.register import retention

    w = two_grants
    number = make_number(date(1944, 8, 8), 808)
    episode = _add(app, session, w.users["provider"], w.grant_a, number, _month(6), local_reference="D-44")
    with app.test_request_context():
        data = services.correction_defaults(episode)
        data.note = "Погрешен датум на решение."
        services.correct_episode(session, w.users["provider"], episode, data, 1)
        session.commit()
    other = _add(app, session, w.users["provider_b"], w.grant_b, number, _month(3))
    original_key = episode.person_key
    end = w.grant_a.current.end_date
    with app.app_context():
        assert retention.due_agreements(session, add_months(end, 60)) == []  # five years to the day: not yet
        # Both grants of this test end on the same day.
        assert [a.id for a in retention.due_agreements(session, add_months(end, 60) + timedelta(days=1))] == \
            [w.grant_a.id, w.grant_b.id]
        result = retention.anonymise_due(session, add_months(end, 60) + timedelta(days=1))
        session.commit()
        assert retention.due_agreements(session, add_months(end, 61)) == []  # done once
    assert result == {"grants": 2, "episodes": 2}
    session.expire_all()
    kept = session.get(RegisterEpisode, episode.id)
    assert kept.anonymised_at is not None and kept.person_key != original_key and len(kept.person_key) == 64
    assert all((v.decision_number, v.decision_centre, v.local_reference, v.note) == ("", "", "", "")
               for v in kept.versions)
    assert [v.start_date for v in kept.versions] == [_month(6)] * 2 and kept.current.birth_year == 1944
    assert session.get(RegisterEpisode, other.id).person_key != kept.person_key
    with app.test_request_context():
        assert duplicates.find(session) == []
    assert session.scalars(sa.select(AuditEvent.after).where(AuditEvent.action == "register.anonymised")).all() == \
        [{"episodes": 1}, {"episodes": 1}]
    # Anything else on a version is still refused by the database.
    with pytest.raises(sa.exc.DBAPIError), session.begin_nested():
        session.execute(sa.text("UPDATE register_episode_version SET decision_number = '', birth_year = 1950 "
                                "WHERE episode_id = :id"), {"id": episode.id})
    result = app.test_cli_runner().invoke(args=["register-anonymise"])  # nothing else is due today
    assert result.exit_code == 0 and "0 episodes of 0 grants anonymised" in result.output, result.output
