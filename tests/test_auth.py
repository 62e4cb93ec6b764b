"""Sign-in, throttling, timing, sessions, links and passwords (ASVS V2, V3)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from portal.auth import services
from portal.models import AuditEvent, LoginAttempt, Role, TokenPurpose, User, UserToken
from tests import factories
from tests.conftest import login

PASSWORD = factories.PASSWORD


def main_part(html: str) -> str:
    return html.split("<main")[1].split("</main>")[0]


def post_login(client, email, password, next_url=""):
    return client.post("/login", data={"email": email, "password": password, "next": next_url})


def test_login_with_the_right_password_signs_in_and_opens_home(client, world):
    response = post_login(client, "provider@test.example", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert "Давател А" in client.get("/").get_data(as_text=True)


def test_email_is_case_insensitive(client, world):
    assert post_login(client, "  Provider@Test.Example ", PASSWORD).status_code == 302


@pytest.mark.parametrize("email,password", [("provider@test.example", "wrong password!!"),
                                            ("nobody@test.example", PASSWORD)])
def test_unknown_account_and_wrong_password_get_the_same_answer(client, world, email, password):
    response = post_login(client, email, password)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "error-summary" in body
    wrong = post_login(client, "provider@test.example", "wrong password!!").get_data(as_text=True)
    unknown = post_login(client, "nobody@test.example", PASSWORD).get_data(as_text=True)
    assert main_part(wrong).replace("provider@test.example", "X") == main_part(unknown).replace("nobody@test.example", "X")


class RecordingHasher(PasswordHasher):
    """argon2's own hasher, noting which hashes each sign-in verified."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.verified: list[str] = []

    def verify(self, hash, password):  # noqa: A002 (argon2's parameter name)
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


def test_an_unknown_account_verifies_the_dummy_hash_like_a_wrong_password_verifies_the_real_one(app, world, session):
    """The deterministic half of the timing defence: an unknown account pays exactly one argon2 verification
    (of the dummy hash, with the same parameters as real hashes), as a known account with a wrong password does."""
    with app.app_context():
        real_hash = services.hash_password(PASSWORD)
        session.get(User, world.users["provider"].id).password_hash = real_hash
        session.commit()
        hasher = RecordingHasher(time_cost=app.config["ARGON2_TIME_COST"], memory_cost=app.config["ARGON2_MEMORY_KIB"])
        dummy = app.extensions["dummy_hash"]
    app.extensions["password_hasher"] = hasher
    try:
        assert post_login(app.test_client(), "ghost@test.example", "not the password").status_code == 200
        assert hasher.verified == [dummy]
        hasher.verified.clear()
        assert post_login(app.test_client(), "provider@test.example", "not the password").status_code == 200
        assert hasher.verified == [real_hash]
        assert dummy.split("$")[1:4] == real_hash.split("$")[1:4]  # the dummy costs the same: argon2id, version, m/t/p
    finally:
        app.extensions.pop("password_hasher", None)


def test_unknown_account_takes_as_long_as_a_wrong_password(app, world, session):
    """The measured half (production argon2 cost): paired runs, unknown then wrong, and the median of the
    per-pair differences. Pairing cancels a load change that lasts longer than one pair; the tolerance (half
    the wrong-password time) still separates a missing dummy hash (a few ms against argon2's 100+ ms)."""
    app.config.update(ARGON2_TIME_COST=3, ARGON2_MEMORY_KIB=65536)
    app.extensions.pop("password_hasher", None)
    try:
        with app.app_context():
            real = session.get(User, world.users["provider"].id)
            real.password_hash = services.hash_password(PASSWORD)
            session.commit()
        differences: list[float] = []
        wrong_times: list[float] = []
        for i in range(9):
            pair = {}
            for kind, email in (("unknown", f"ghost{i}@test.example"), ("wrong", "provider@test.example")):
                client = app.test_client()
                start = time.perf_counter()
                post_login(client, email, f"not the password {i}")
                pair[kind] = time.perf_counter() - start
            differences.append(pair["unknown"] - pair["wrong"])
            wrong_times.append(pair["wrong"])
            # Keep the account under the throttle threshold.
            session.execute(sa.delete(LoginAttempt))
            session.commit()
        wrong = statistics.median(wrong_times)
        assert abs(statistics.median(differences)) < max(0.020, wrong * 0.5), (differences, wrong_times)
    finally:
        app.extensions.pop("password_hasher", None)


def test_sixth_failure_in_fifteen_minutes_is_refused_with_429_and_other_accounts_still_work(client, world, session):
    for _ in range(5):
        assert post_login(client, "provider@test.example", "wrong password!!").status_code == 200
    refused = post_login(client, "provider@test.example", PASSWORD)
    assert refused.status_code == 429
    assert "15" in refused.get_data(as_text=True)
    assert post_login(client, "municipality@test.example", PASSWORD).status_code == 302
    throttled = session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "login.throttled"))
    assert throttled == 1


def test_throttle_is_kept_in_the_database_and_expires(client, world, session):
    old = datetime.now(UTC) - timedelta(minutes=16)
    for _ in range(5):
        session.add(LoginAttempt(email="provider@test.example", ip="10.0.0.9", succeeded=False, at=old))
    session.commit()
    assert post_login(client, "provider@test.example", PASSWORD).status_code == 302
    for _ in range(5):
        session.add(LoginAttempt(email="provider@test.example", ip="10.0.0.9", succeeded=False))
    session.commit()
    # Another worker (another client, the same database) sees the same count.
    assert post_login(client.application.test_client(), "provider@test.example", PASSWORD).status_code == 429


def test_throttle_per_address(app, client, world, session):
    app.config["LOGIN_MAX_FAILURES_ADDRESS"] = 3
    for i in range(3):
        post_login(client, f"someone{i}@test.example", "wrong password!!")
    assert post_login(client, "provider@test.example", PASSWORD).status_code == 429


def test_failed_logins_are_audited(client, world, session):
    post_login(client, "provider@test.example", "wrong password!!")
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "login.failed"))
    assert event.actor_email == "provider@test.example"
    assert event.request_id and event.ip


def test_login_starts_a_new_session(client, world):
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    post_login(client, "provider@test.example", PASSWORD)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"].startswith(f"{world.users['provider'].id}:")


def test_deactivated_user_cannot_sign_in(client, world, session):
    user = session.get(User, world.users["provider"].id)
    user.active = False
    session.commit()
    response = post_login(client, "provider@test.example", PASSWORD)
    assert response.status_code == 200 and "error-summary" in response.get_data(as_text=True)


def _copy_cookie(client):
    return client.get_cookie("portal_session").value


def test_logout_invalidates_a_copied_cookie(app, client, world):
    post_login(client, "provider@test.example", PASSWORD)
    stolen = _copy_cookie(client)
    assert client.post("/logout").status_code == 302
    other = app.test_client()
    other.set_cookie("portal_session", stolen)
    response = other.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_password_change_ends_every_other_session(app, client, world):
    post_login(client, "provider@test.example", PASSWORD)
    elsewhere = app.test_client()
    post_login(elsewhere, "provider@test.example", PASSWORD)
    new = "a brand new passphrase 2026"
    response = client.post("/account/password", data={"current_password": PASSWORD, "new_password": new,
                                                       "confirm": new})
    assert response.status_code == 302
    assert client.get("/account").status_code == 200  # this session continues
    assert elsewhere.get("/account").status_code == 302  # the other one has ended
    assert post_login(app.test_client(), "provider@test.example", new).status_code == 302


def test_password_change_checks_the_current_password_and_rules(client, login_as):
    login_as("provider")
    response = client.post("/account/password", data={"current_password": "nope", "new_password": "short",
                                                       "confirm": "other"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="#current_password"' in body


def test_deactivation_ends_sessions_immediately(app, client, world, session):
    login(client, world.users["provider"])
    assert client.get("/account").status_code == 200
    admin = app.test_client()
    login(admin, world.users["admin"])
    response = admin.post(f"/admin/users/{world.users['provider'].id}/deactivate", data={"reason": "left the NGO"})
    assert response.status_code == 302
    assert client.get("/account").status_code == 302


@pytest.mark.parametrize("field,minutes", [("seen_at", 31), ("started_at", 12 * 60 + 1)])
def test_idle_and_absolute_timeouts(client, world, field, minutes):
    login(client, world.users["provider"])
    with client.session_transaction() as sess:
        sess[field] = sess[field] - minutes * 60
    response = client.get("/account")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_activity_within_the_idle_window_keeps_the_session(client, world):
    login(client, world.users["provider"])
    with client.session_transaction() as sess:
        sess["seen_at"] = sess["seen_at"] - 29 * 60
    assert client.get("/account").status_code == 200
    with client.session_transaction() as sess:  # the activity moved the idle clock
        seen = sess["seen_at"]
        sess["seen_at"] = seen - 29 * 60 - 50
    assert client.get("/account").status_code == 200 and seen > 0


def test_the_session_is_not_re_signed_on_every_request(client, world):
    login(client, world.users["provider"])
    client.get("/account")
    response = client.get("/account")  # within SEEN_EVERY of the last: nothing in the session changed
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


@pytest.mark.parametrize("target,expected", [
    ("/account", "/account"),
    ("/admin/users?page=2", "/admin/users?page=2"),
    ("//evil.example/x", "/"),
    ("/\\evil.example", "/"),
    ("\\\\evil.example", "/"),
    ("https://evil.example/", "/"),
    ("javascript:alert(1)", "/"),
    ("http:/evil.example", "/"),
    ("/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"),
    ("", "/"),
])
def test_next_only_redirects_inside_the_portal(client, world, target, expected):
    response = post_login(client, "provider@test.example", PASSWORD, next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_cookies_are_httponly_and_samesite_lax(client, world):
    response = post_login(client, "provider@test.example", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookies_are_secure():
    from config import ProductionConfig

    assert ProductionConfig(SECRET_KEY="x" * 40).SESSION_COOKIE_SECURE is True


# Links --------------------------------------------------------------------------------------------

def _issue(app, session, user, purpose):
    with app.test_request_context():
        raw = services.issue_token(session, session.get(User, user.id), purpose)
        session.commit()
    return raw


def test_activation_link_sets_the_password_once(app, client, world, session):
    with app.app_context():
        invited = factories.user(session, Role.MUNICIPALITY, world.orgs["municipality"], password=None)
        session.commit()
    raw = _issue(app, session, invited, TokenPurpose.ACTIVATION)
    assert client.get(f"/activate/{raw}").status_code == 200
    new = "opstina kumanovo 2026!"
    response = client.post(f"/activate/{raw}", data={"password": new, "confirm": new})
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    assert app.test_client().get(f"/activate/{raw}").status_code == 400  # single use
    assert post_login(app.test_client(), invited.email, new).status_code == 302


def test_expired_link_is_refused(app, client, world, session):
    raw = _issue(app, session, world.users["provider"], TokenPurpose.RESET)
    token = session.scalar(sa.select(UserToken).order_by(UserToken.id.desc()))
    token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    session.commit()
    response = client.get(f"/password/reset/{raw}")
    assert response.status_code == 400
    assert 'href="/password/forgot"' in response.get_data(as_text=True)


def test_a_new_link_replaces_the_previous_one(app, client, world, session):
    first = _issue(app, session, world.users["provider"], TokenPurpose.RESET)
    second = _issue(app, session, world.users["provider"], TokenPurpose.RESET)
    assert client.get(f"/password/reset/{first}").status_code == 400
    assert client.get(f"/password/reset/{second}").status_code == 200


def test_reset_with_a_short_password_keeps_the_link_usable(app, client, world, session):
    raw = _issue(app, session, world.users["provider"], TokenPurpose.RESET)
    response = client.post(f"/password/reset/{raw}", data={"password": "short", "confirm": "short"})
    assert response.status_code == 200
    assert "12" in response.get_data(as_text=True)
    assert client.get(f"/password/reset/{raw}").status_code == 200


def test_forgot_password_answers_the_same_for_unknown_addresses(client, world, session):
    known = client.post("/password/forgot", data={"email": "provider@test.example"}).get_data(as_text=True)
    unknown = client.post("/password/forgot", data={"email": "ghost@test.example"}).get_data(as_text=True)
    assert main_part(known).replace("provider@test.example", "X") == main_part(unknown).replace("ghost@test.example", "X")
    assert session.scalar(sa.select(sa.func.count()).select_from(UserToken)) == 1


@pytest.mark.parametrize("password,ok", [
    ("short", False), ("aaaaaaaaaaaaaaaa", False), ("provider@test.example", False),
    ("twelve chars", True), ("correct horse battery staple", True),
])
def test_password_rules(app, password, ok):
    with app.app_context():
        assert (services.password_problems(password, "provider@test.example") == []) is ok


def test_passwords_are_hashed_with_argon2id(world, session):
    stored = session.get(User, world.users["provider"].id).password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
