"""API rate limits per token and per address, counted in the database (shared by every worker)."""

from __future__ import annotations

import sqlalchemy as sa

from portal.api import tokens
from portal.models import ApiRateCounter


def _token(app, session, user) -> str:
    with app.test_request_context():
        _row, raw = tokens.create(session, user, "limit")
        session.commit()
    return raw


def test_a_token_past_its_limit_waits_and_another_token_does_not(app, client, session, world):
    app.config.update(API_RATE_LIMIT_TOKEN=5, API_RATE_LIMIT_ADDRESS=1000)
    first = {"Authorization": f"Bearer {_token(app, session, world.users['monitor'])}"}
    second = {"Authorization": f"Bearer {_token(app, session, world.users['monitor'])}"}
    answers = [client.get("/api/v1/indicators", headers=first) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    refused = answers[-1]
    assert refused.is_json and refused.get_json()["error"]["status"] == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "5" in refused.get_json()["error"]["message"]
    assert client.get("/api/v1/indicators", headers=second).status_code == 200


def test_an_address_past_its_limit_waits_even_without_a_token(app, client, session, world):
    app.config.update(API_RATE_LIMIT_TOKEN=1000, API_RATE_LIMIT_ADDRESS=3)
    answers = [client.get("/api/v1/openapi.json").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    # Pages of the portal itself are not limited by the API's counter.
    assert client.get("/").status_code == 200
    counted = session.scalar(sa.select(sa.func.max(ApiRateCounter.count)).where(ApiRateCounter.key.like("ip:%")))
    assert counted == 5
