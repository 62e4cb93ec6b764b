"""Every list, table and download that holds organisations' rows, opened as every role, after planting
four grants of two providers in two municipalities (see tests/scoping.py): each role sees exactly its
own rows. A new list is one line in SCOPED."""

from __future__ import annotations

import pytest

from tests.scoping import ALL, EOI_A, MUNICIPALITY_A, PROVIDER_A, ROLES, Scoped, check, plant

MINISTRY_ALL = {"admin": ALL, "reviewer": ALL, "finance": ALL}

SCOPED = [
    Scoped("/grants", {"provider": PROVIDER_A, "municipality": MUNICIPALITY_A, **MINISTRY_ALL}),
    Scoped("/reports?status=submitted", {"provider": PROVIDER_A, "municipality": MUNICIPALITY_A, **MINISTRY_ALL}),
    Scoped("/reports/completeness?by=grant", {"municipality": MUNICIPALITY_A, **MINISTRY_ALL, "monitor": ALL}),
    Scoped("/reports/completeness.csv?by=grant", {"municipality": MUNICIPALITY_A, **MINISTRY_ALL, "monitor": ALL}),
    Scoped("/reports/completeness.xlsx?by=grant", {"municipality": MUNICIPALITY_A, **MINISTRY_ALL, "monitor": ALL}),
    Scoped("/financial-reports/overview", {"provider": PROVIDER_A, "municipality": MUNICIPALITY_A, **MINISTRY_ALL,
                                           "monitor": ALL}),
    Scoped("/financial-reports/overview.csv", {"provider": PROVIDER_A, "municipality": MUNICIPALITY_A, **MINISTRY_ALL,
                                               "monitor": ALL}),
    Scoped("/financial-reports/overview.xlsx", {"provider": PROVIDER_A, "municipality": MUNICIPALITY_A, **MINISTRY_ALL,
                                                "monitor": ALL}),
    Scoped("/applications", {"provider": PROVIDER_A, "municipality": MUNICIPALITY_A}, marker="title"),
    Scoped("/eois", {"municipality": EOI_A}, marker="eoi"),
    Scoped("/", {"provider": PROVIDER_A}),  # the municipality's home lists no grants
    Scoped("/grievances", {"provider": PROVIDER_A, "municipality": MUNICIPALITY_A, "admin": ALL, "reviewer": ALL},
           marker="grievance"),
    Scoped("/registers", {"provider": PROVIDER_A, "municipality": MUNICIPALITY_A, "admin": ALL, "reviewer": ALL}),
    Scoped("/account/api-tokens", {role: frozenset({role}) for role in ("monitor", "admin", "finance")}, marker="token"),
]


@pytest.fixture
def planted(app, session, world):
    return plant(app, session, world)


@pytest.mark.parametrize("scoped", SCOPED, ids=str)
def test_each_role_sees_exactly_its_organisations_rows(client, world, planted, scoped):
    for role in ROLES:
        check(client, world, planted, scoped, role)


def test_the_api_answers_token_holders_with_every_grant_and_nobody_else(app, session, world, planted, client):
    """The API is for the ministry and the monitors (aggregate and programme-wide by design): a token sees every
    planted grant; without one, nothing; a provider or a municipality cannot hold one."""
    from portal.api import tokens
    from portal.errors import NotAllowed
    from tests.scoping import text_of

    with app.test_request_context():
        _row, secret = tokens.create(session, world.users["monitor"], "scoping")
        for role in ("provider", "municipality"):
            with pytest.raises(NotAllowed):
                tokens.create(session, world.users[role], "scoping")
        session.commit()
    answer = client.get("/api/v1/grants", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200
    assert {key for key, number in planted.numbers.items() if number in text_of(answer)} == ALL
    refused = client.get("/api/v1/grants")
    assert refused.status_code == 401
    assert not any(number in text_of(refused) for number in planted.numbers.values())
