"""Different people served since the start (BEN_UNIQUE, issue 16): exact from the registers — a person under two
grants counts once, withdrawn entries never, women by their episode — and estimated from the accepted reports of the
grants without a register, each value saying which."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from portal.indicators import unique
from portal.indicators.aggregate import Scope
from portal.indicators.compute import Filters, compute
from portal.models import Indicator, Municipality, Organisation, ServiceType
from portal.register import services
from tests import factories
from tests.test_register import _add, make_number


def _month(n_back: int, day: int = 1) -> date:
    return factories.months_ago(n_back).replace(day=day)


def observe(app, session, **filters) -> dict:
    with app.test_request_context():
        found = compute(session, Filters(**{"period_types": ("month",), "codes": ("BEN_UNIQUE", "BEN_CUM"),
                                            **filters}))
    return {(o.indicator, o.period, o.dimension, o.category): o for o in found}


def latest(found: dict, code: str, dimension: str = "total", category: str = ""):
    periods = sorted(p for (c, p, d, k) in found if c == code and d == dimension and k == category)
    return found[(code, periods[-1], dimension, category)] if periods else None


def _code(session, org) -> str:
    return session.scalar(sa.select(Municipality.code).join(Organisation, Organisation.municipality_id == Municipality.id)
                          .where(Organisation.id == org.id))


@pytest.fixture
def registers(app, world, session):
    """Grants A (provider, municipality) and B (provider_b, municipality_b) keep registers; C (provider_b,
    municipality_b) keeps none and has one accepted report with 7 new beneficiaries (4 women) of home help.

    - W1 (a woman) is served by A from six months ago and by B from three months ago: one person;
    - M1 (a man) by A from six months ago;
    - W2 (a woman) by A in day care from five months ago;
    - X (a man) entered by B and withdrawn: nobody.
    A also has an accepted report (30 new): it is counted by its register, not by the report."""
    w = world
    with app.test_request_context():
        start = factories.months_ago(10)
        w.grant_a = factories.signed_grant(session, w.users["admin"], w.orgs["provider"], w.orgs["municipality"],
                                           start=start, service_codes=("home_help_care", "day_care"))
        w.grant_b = factories.signed_grant(session, w.users["admin"], w.orgs["provider_b"], w.orgs["municipality_b"],
                                           start=start, service_codes=("home_help_care", "day_care"))
        w.grant_c = factories.signed_grant(session, w.users["admin"], w.orgs["provider_b"], w.orgs["municipality_b"],
                                           start=start, service_codes=("home_help_care",))
        factories.report(session, w.users["provider_b"], w.grant_c, factories.months_ago(4), served=7,
                         accept_by=w.users["reviewer"])
        factories.report(session, w.users["provider"], w.grant_a, factories.months_ago(4), served=30,
                         accept_by=w.users["reviewer"])
        session.commit()
    a, b = w.users["provider"], w.users["provider_b"]
    woman, man, woman_2, wrong = (make_number(date(1950, 1, 1), 501), make_number(date(1951, 2, 2), 101),
                                  make_number(date(1952, 3, 3), 502), make_number(date(1953, 4, 4), 102))
    _add(app, session, a, w.grant_a, woman, _month(6))
    with app.test_request_context():  # A's episode ended before B's starts: a move between providers
        services.end_episode(session, a, session.scalars(sa.select(unique.RegisterEpisode)).first(), _month(4, 28),
                             "moved", 1)
        session.commit()
    _add(app, session, b, w.grant_b, woman, _month(3))
    _add(app, session, a, w.grant_a, man, _month(6))
    _add(app, session, a, w.grant_a, woman_2, _month(5), "day_care")
    withdrawn = _add(app, session, b, w.grant_b, wrong, _month(5))
    with app.test_request_context():
        data = services.correction_defaults(withdrawn)
        data.withdrawn, data.note = True, "Погрешно лице."
        services.correct_episode(session, b, withdrawn, data, 1)
        session.commit()
    return w


def test_people_are_counted_once_across_grants_withdrawn_never(app, session, registers):
    with app.test_request_context():
        counts = unique.people_served(session, sets=("total", "service_type", "municipality"))
    assert counts[("total", None)] == {"people": 3, "women": 2}
    home, day = (session.scalar(sa.select(ServiceType.id).where(ServiceType.code == c))
                 for c in ("home_help_care", "day_care"))
    assert counts[("service_type", home)] == {"people": 2, "women": 1}  # W1 (in two grants: once) and M1
    assert counts[("service_type", day)] == {"people": 1, "women": 1}
    a_place = session.get(Organisation, registers.grant_a.municipality_org_id).municipality_id
    b_place = session.get(Organisation, registers.grant_b.municipality_org_id).municipality_id
    assert counts[("municipality", a_place)] == {"people": 3, "women": 2}
    assert counts[("municipality", b_place)] == {"people": 1, "women": 1}  # W1; the withdrawn X never counts
    # Up to five months ago: W1, M1 (six months ago) and W2 (five) — B's entry of W1 adds nobody later.
    with app.test_request_context():
        before = unique.people_served(session, Scope(last=factories.months_ago(5)))
        earliest = unique.people_served(session, Scope(last=factories.months_ago(7)))
    assert before[("total", None)]["people"] == 3
    assert earliest == {}


def test_the_indicator_is_exact_for_registers_and_estimated_elsewhere(app, session, registers):
    found = observe(app, session)
    total = latest(found, "BEN_UNIQUE")
    assert total.value == 3 + 7  # three different people in the registers, seven new in C's accepted report
    assert total.method == unique.MIXED
    assert latest(found, "BEN_UNIQUE", "sex", "female").value == 2 + 4
    assert latest(found, "BEN_UNIQUE", "sex", "male").value == 1 + 3
    a_code, b_code = (_code(session, registers.orgs[k]) for k in ("municipality", "municipality_b"))
    a_place = latest(found, "BEN_UNIQUE", "municipality", a_code)
    b_place = latest(found, "BEN_UNIQUE", "municipality", b_code)
    assert (a_place.value, a_place.method) == (3, unique.EXACT)  # A's report of 30 is not added: A keeps a register
    assert (b_place.value, b_place.method) == (1 + 7, unique.MIXED)
    # Six months ago only the registers had anyone: exact; C's report (four months ago) is not there yet.
    six = found[("BEN_UNIQUE", _month(6).strftime("%Y-%m"), "total", "")]
    assert (six.value, six.method) == (2, unique.EXACT)
    # BEN_CUM still adds every accepted report's new people: 30 + 7.
    assert latest(found, "BEN_CUM").value == 37
    # Cumulative: it never decreases.
    series = [o.value for (c, p, d, k), o in sorted(found.items()) if c == "BEN_UNIQUE" and d == "total"]
    assert series == sorted(series)


def test_without_registers_it_is_the_estimate_of_ben_cum(app, session, world):
    with app.test_request_context():
        grant = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                       start=factories.months_ago(6))
        for n in (4, 3):
            factories.report(session, world.users["provider"], grant, factories.months_ago(n), served=9,
                             accept_by=world.users["reviewer"])
        session.commit()
    found = observe(app, session)
    for (code, period, dimension, category), o in found.items():
        if code == "BEN_UNIQUE":
            assert o.method == unique.ESTIMATED
            assert o.value == found[("BEN_CUM", period, dimension, category)].value


def test_the_catalogue_says_what_it_measures(app, session):
    indicator = session.scalar(sa.select(Indicator).where(Indicator.code == "BEN_UNIQUE"))
    assert indicator.measure == "cumulative_unique"
    assert set(indicator.disaggregations) == {"service_type", "municipality", "region", "sex"}
    assert "exact" in indicator.definition_en and "estimated" in indicator.definition_en


def test_a_new_register_entry_moves_the_data_version(app, session, registers):
    from portal.indicators import freshness

    before = freshness.current(session)
    _add(app, session, registers.users["provider"], registers.grant_a, make_number(date(1960, 5, 5), 110), _month(2))
    assert freshness.current(session) > before


def test_the_demo_keeps_registers_with_a_planted_duplicate(tmp_path):
    from portal.db import db as session
    from portal.register import duplicates
    from tests.conftest import empty_database_app

    with empty_database_app(tmp_path) as app:
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
        with app.test_request_context():
            pairs = duplicates.find(session)
            found = observe(app, session)
            assert len([p for p in pairs if p.resolution is None]) == 1
            pair = pairs[0]
            assert pair.first.agreement.organisation_id != pair.second.agreement.organisation_id  # across providers
            total = latest(found, "BEN_UNIQUE")
            assert total.method == unique.EXACT and total.value > 10
