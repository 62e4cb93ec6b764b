"""Multi-factor sign-in (TOTP, RFC 6238) for the ministry: enrolment, the second step of sign-in,
replay, recovery codes, throttling, the required roles, the administrator's reset."""

from __future__ import annotations

import hashlib
import re
import time

import pyotp
import pytest
import sqlalchemy as sa

from config import DevelopmentConfig, ProductionConfig, TestingConfig
from portal.auth.sessions import MFA_PASSED
from portal.models import AuditEvent, LoginAttempt, MfaRecoveryCode, User, UserMfa
from tests import factories
from tests.conftest import login

PASSWORD = factories.PASSWORD
SECRET_RE = re.compile(r'id="mfa-secret">([A-Z2-7 ]+)<')
CODE_RE = re.compile(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>")


def post_login(client, email, password=PASSWORD, next_url=""):
    return client.post("/login", data={"email": email, "password": password, "next": next_url})


def code_at(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def wrong_code(secret: str) -> str:
    valid = {code_at(secret, k) for k in (-2, -1, 0, 1, 2)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 999999, 7919)) if c not in valid)


def enrol(client, user: User) -> tuple[str, list[str]]:
    """Enrol a signed-in user through the pages; return the secret read from the page and the codes."""
    page = client.get("/account/two-factor/setup")
    assert page.status_code == 200
    secret = SECRET_RE.search(page.get_data(as_text=True)).group(1).replace(" ", "")
    done = client.post("/account/two-factor/setup", data={"code": code_at(secret)})
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = CODE_RE.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def login_passed(client, session, user: User) -> None:
    """Sign in as the login view does after both steps (the user's current session version)."""
    session.expire_all()
    login(client, session.get(User, user.id))
    with client.session_transaction() as sess:
        sess[MFA_PASSED] = user.id


@pytest.fixture
def enrolled(app, world, session):
    """The finance officer, enrolled through the pages; returns (user, secret, recovery codes)."""
    client = app.test_client()
    user = world.users["finance"]
    login(client, user)
    secret, codes = enrol(client, user)
    session.expire_all()
    return session.get(User, user.id), secret, codes


def actions(session, user_id=None) -> list[str]:
    query = sa.select(AuditEvent.action).where(AuditEvent.action.like("mfa.%")).order_by(AuditEvent.id)
    if user_id is not None:
        query = query.where(AuditEvent.object_id == str(user_id))
    return list(session.scalars(query))


# Enrolment -----------------------------------------------------------------------------------------

def test_enrolment_page_draws_the_qr_code_on_the_server_and_shows_the_key(client, world):
    login(client, world.users["finance"])
    response = client.get("/account/two-factor/setup")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<svg" in body and "<script" not in body.split("<main")[1]
    assert SECRET_RE.search(body)
    assert "Content-Security-Policy" in response.headers
    # The same secret until it is confirmed: a reload does not invalidate a scan.
    assert SECRET_RE.search(client.get("/account/two-factor/setup").get_data(as_text=True)).group(1) == \
        SECRET_RE.search(body).group(1)


def test_enrolment_needs_a_valid_code_then_shows_ten_recovery_codes_stored_hashed(app, client, world, session):
    user = world.users["finance"]
    version = user.session_version
    login(client, user)
    body = client.get("/account/two-factor/setup").get_data(as_text=True)
    secret = SECRET_RE.search(body).group(1).replace(" ", "")

    wrong = client.post("/account/two-factor/setup", data={"code": wrong_code(secret)})
    assert wrong.status_code == 200
    assert "error-summary" in wrong.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, user.id).mfa_enrolled_at is None
    assert actions(session, user.id)[-1] == "mfa.failed"

    done = client.post("/account/two-factor/setup", data={"code": code_at(secret)})
    codes = CODE_RE.findall(done.get_data(as_text=True))
    assert done.status_code == 200 and len(codes) == 10 and len(set(codes)) == 10
    session.expire_all()
    fresh = session.get(User, user.id)
    assert fresh.mfa_enrolled_at is not None
    assert fresh.session_version == version + 1  # every other session ended
    row = session.get(UserMfa, user.id)
    assert row.secret == secret and row.pending_secret is None and row.last_used_step is not None
    stored = set(session.scalars(sa.select(MfaRecoveryCode.code_hash).where(MfaRecoveryCode.user_id == user.id)))
    assert stored == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes}
    assert "mfa.enrolled" in actions(session, user.id)
    # This browser stays signed in (a new session), and the codes are never shown again.
    assert client.get("/account").status_code == 200
    assert not CODE_RE.search(client.get("/account/two-factor").get_data(as_text=True))


# The second step of sign-in -----------------------------------------------------------------------

def test_sign_in_asks_for_the_code_and_the_right_code_signs_in(app, enrolled, session):
    user, secret, _codes = enrolled
    client = app.test_client()
    response = post_login(client, user.email, next_url="/account")
    assert response.status_code == 302 and response.headers["Location"] == "/login/code"
    with client.session_transaction() as sess:
        assert "_user_id" not in sess  # not signed in yet
    page = client.get("/login/code")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.get_data(as_text=True)

    wrong = client.post("/login/code", data={"code": wrong_code(secret)})
    assert wrong.status_code == 200 and "error-summary" in wrong.get_data(as_text=True)
    assert client.get("/account").status_code == 302

    right = client.post("/login/code", data={"code": code_at(secret, 1)})
    assert right.status_code == 302 and right.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    with client.session_transaction() as sess:
        assert sess[MFA_PASSED] == user.id and "mfa_pending" not in sess
    assert actions(session, user.id)[-2:] == ["mfa.failed", "mfa.verified"]


def test_no_page_opens_between_the_password_and_the_code(app, enrolled):
    """Half-way through signing in, every page answers exactly as it does to an anonymous visitor."""
    user, _secret, _codes = enrolled
    pending = app.test_client()
    post_login(pending, user.email)
    anonymous = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.arguments or rule.endpoint in {"static", "mfa.verify", "mfa.setup"}:
            continue
        a = anonymous.get(rule.rule)
        p = pending.get(rule.rule)
        assert (p.status_code, p.headers.get("Location")) == (a.status_code, a.headers.get("Location")), rule.rule
        checked += 1
    assert checked > 20
    # The enrolment page does not let the password alone replace the second factor.
    setup = pending.get("/account/two-factor/setup")
    assert setup.status_code == 302 and setup.headers["Location"] == "/login/code"
    assert pending.post("/account/two-factor/setup", data={"code": "123456"}).headers["Location"] == "/login/code"
    # A POST to a signed-in page does not get through either.
    assert pending.post("/account/password", data={}).status_code == 302
    assert pending.get("/login/code").status_code == 200  # still waiting for the code


def test_a_code_cannot_be_used_twice(app, enrolled, session):
    user, secret, _codes = enrolled
    code = code_at(secret, 1)
    first = app.test_client()
    post_login(first, user.email)
    assert first.post("/login/code", data={"code": code}).status_code == 302
    second = app.test_client()
    post_login(second, user.email)
    replay = second.post("/login/code", data={"code": code})
    assert replay.status_code == 200
    assert "error-summary" in replay.get_data(as_text=True)
    assert second.get("/account").status_code == 302
    # Nor can the code that confirmed the enrolment (same step as now).
    third = app.test_client()
    post_login(third, user.email)
    assert third.post("/login/code", data={"code": code_at(secret, 0)}).status_code == 200
    failed = session.scalars(sa.select(AuditEvent.after).where(AuditEvent.action == "mfa.failed")).all()
    assert {"reason": "reused_code"} in failed


def test_a_recovery_code_works_once(app, enrolled, session):
    user, _secret, codes = enrolled
    client = app.test_client()
    post_login(client, user.email)
    # Typed in capitals without dashes: still the same code.
    response = client.post("/login/code", data={"code": codes[3].replace("-", "").upper()})
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    assert "mfa.recovery_code_used" in actions(session, user.id)
    again = app.test_client()
    post_login(again, user.email)
    assert again.post("/login/code", data={"code": codes[3]}).status_code == 200
    assert again.get("/account").status_code == 302
    assert session.scalar(sa.select(sa.func.count()).where(MfaRecoveryCode.user_id == user.id,
                                                          MfaRecoveryCode.used_at.is_(None))) == 9


def test_wrong_codes_are_throttled_like_passwords(app, enrolled, session):
    user, secret, _codes = enrolled
    client = app.test_client()
    post_login(client, user.email)
    for _ in range(5):
        assert client.post("/login/code", data={"code": wrong_code(secret)}).status_code == 200
    # The sixth attempt within 15 minutes is refused, even with the right code.
    blocked = client.post("/login/code", data={"code": code_at(secret, 1)})
    assert blocked.status_code == 429
    assert client.get("/account").status_code == 302
    assert "mfa.throttled" in actions(session, user.id)
    # A correct password again does not clear the count of wrong codes.
    other = app.test_client()
    assert post_login(other, user.email).status_code == 302
    assert other.post("/login/code", data={"code": code_at(secret, 1)}).status_code == 429
    assert session.scalar(sa.select(sa.func.count()).where(LoginAttempt.email == f"mfa:{user.id}",
                                                          LoginAttempt.succeeded.is_(False))) == 5


def test_the_half_way_state_expires(app, enrolled):
    user, secret, _codes = enrolled
    client = app.test_client()
    post_login(client, user.email)
    app.config["MFA_PENDING_MINUTES"] = -1
    response = client.post("/login/code", data={"code": code_at(secret, 1)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/account").status_code == 302


def test_the_half_way_state_ends_with_the_users_sessions(app, enrolled, session):
    """A password change, sign-out elsewhere or reset between the two steps voids the half-way state."""
    user, secret, _codes = enrolled
    client = app.test_client()
    post_login(client, user.email)
    session.get(User, user.id).session_version += 1
    session.commit()
    response = client.post("/login/code", data={"code": code_at(secret, 1)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/account").status_code == 302


def test_cancel_forgets_the_half_way_state(app, enrolled):
    user, _secret, _codes = enrolled
    client = app.test_client()
    post_login(client, user.email)
    assert client.post("/login/code/cancel").headers["Location"] == "/login"
    assert client.get("/login/code").headers["Location"] == "/login"


# Required roles --------------------------------------------------------------------------------------

def test_required_role_is_sent_to_enrolment_before_anything_else(app, client, world, session):
    app.config["MFA_REQUIRED"] = True
    user = world.users["reviewer"]
    response = post_login(client, user.email, next_url="/account")
    assert response.status_code == 302 and response.headers["Location"] == "/account/two-factor/setup"
    assert client.get("/account").status_code == 302
    assert client.get("/").status_code == 200 and user.full_name not in client.get("/").get_data(as_text=True)
    page = client.get("/account/two-factor/setup")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    secret = SECRET_RE.search(page.get_data(as_text=True)).group(1).replace(" ", "")
    done = client.post("/account/two-factor/setup", data={"code": code_at(secret)})
    assert done.status_code == 200 and len(CODE_RE.findall(done.get_data(as_text=True))) == 10
    assert done.headers["Cache-Control"] == "no-store"
    assert 'href="/account"' in done.get_data(as_text=True)  # then on to where they were going
    assert client.get("/account").status_code == 200


@pytest.mark.parametrize("role", ["provider", "municipality", "monitor"])
def test_other_roles_sign_in_with_the_password_when_required_for_the_ministry(app, client, world, role):
    app.config["MFA_REQUIRED"] = True
    assert post_login(client, world.users[role].email).headers["Location"] == "/"
    assert client.get("/account").status_code == 200


def test_a_session_without_the_second_factor_is_sent_back_through_it(app, client, world):
    """A session from before MFA was required (or from an activation link) owes the second factor."""
    login(client, world.users["admin"])
    assert client.get("/admin/users").status_code == 200
    app.config["MFA_REQUIRED"] = True
    response = client.get("/admin/users")
    assert response.status_code == 302 and response.headers["Location"] == "/account/two-factor/setup"
    with client.session_transaction() as sess:
        assert "_user_id" not in sess and sess["mfa_pending"]["next"] == "/admin/users"
    assert client.get("/admin/audit").status_code == 302


def test_an_enrolled_session_that_skipped_the_code_is_sent_to_the_code(app, enrolled):
    user, _secret, _codes = enrolled
    client = app.test_client()
    login(client, user)  # a signed-in session that never gave the code
    assert client.get("/account").headers["Location"] == "/login/code"


def _link(app, session, user, purpose) -> str:
    from portal.auth import services

    with app.test_request_context():
        raw = services.issue_token(session, session.get(User, user.id), purpose)
        session.commit()
    return raw


def test_an_activation_link_leads_a_required_role_to_enrolment_not_into_the_portal(app, client, world, session):
    from portal.models import Role, TokenPurpose

    app.config["MFA_REQUIRED"] = True
    with app.app_context():
        invited = factories.user(session, Role.FINANCE, world.orgs["ministry"], password=None)
        session.commit()
    raw = _link(app, session, invited, TokenPurpose.ACTIVATION)
    new = "ministry finance 2026!"
    response = client.post(f"/activate/{raw}", data={"password": new, "confirm": new})
    assert response.status_code == 302 and response.headers["Location"] == "/account/two-factor/setup"
    with client.session_transaction() as sess:
        assert sess["_flashes"]  # "Your password is set."
    assert client.get("/account").status_code == 302
    assert client.get("/account/two-factor/setup").status_code == 200


def test_a_reset_link_does_not_skip_the_second_factor(app, client, enrolled, session):
    from portal.models import TokenPurpose

    user, secret, _codes = enrolled
    raw = _link(app, session, user, TokenPurpose.RESET)
    new = "a brand new password 2026"
    response = client.post(f"/password/reset/{raw}", data={"password": new, "confirm": new})
    assert response.headers["Location"] == "/login/code"
    assert client.get("/account").status_code == 302
    # Nor may the link's holder replace the second factor.
    assert client.get("/account/two-factor/setup").headers["Location"] == "/login/code"
    assert client.post("/login/code", data={"code": code_at(secret, 1)}).status_code == 302
    assert client.get("/account").status_code == 200


def test_changing_the_password_keeps_the_second_factor_passed_in_this_session(app, enrolled, session):
    user, _secret, _codes = enrolled
    client = app.test_client()
    login_passed(client, session, user)
    new = "another long password 2026"
    response = client.post("/account/password", data={"current_password": PASSWORD, "new_password": new,
                                                      "confirm": new})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200


# Recovery codes from the account page ---------------------------------------------------------------

def test_new_recovery_codes_need_a_code_and_replace_the_old_ones(app, enrolled, session):
    user, secret, old = enrolled
    client = app.test_client()
    login_passed(client, session, user)
    assert client.post("/account/two-factor/recovery-codes", data={"code": wrong_code(secret)}).status_code == 200
    response = client.post("/account/two-factor/recovery-codes", data={"code": code_at(secret, 1)})
    new = CODE_RE.findall(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert "mfa.recovery_codes_replaced" in actions(session, user.id)
    other = app.test_client()
    post_login(other, user.email)
    assert other.post("/login/code", data={"code": old[0]}).status_code == 200
    assert other.post("/login/code", data={"code": new[0]}).status_code == 302


# The administrator's reset --------------------------------------------------------------------------

def test_admin_reset_ends_the_users_sessions_and_is_audited(app, enrolled, world, session):
    user, secret, codes = enrolled
    victim = app.test_client()
    post_login(victim, user.email)
    victim.post("/login/code", data={"code": code_at(secret, 1)})
    assert victim.get("/account").status_code == 200

    admin = app.test_client()
    login(admin, world.users["admin"])
    assert f"/admin/users/{user.id}/two-factor-reset" in admin.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert admin.get(f"/admin/users/{user.id}/two-factor-reset").status_code == 200
    no_reason = admin.post(f"/admin/users/{user.id}/two-factor-reset", data={"reason": "  "})
    assert no_reason.status_code == 200 and "error-summary" in no_reason.get_data(as_text=True)
    done = admin.post(f"/admin/users/{user.id}/two-factor-reset", data={"reason": "Phone lost; called back."})
    assert done.status_code == 302

    assert victim.get("/account").status_code == 302  # signed out everywhere
    session.expire_all()
    fresh = session.get(User, user.id)
    assert fresh.mfa_enrolled_at is None and session.get(UserMfa, user.id) is None
    assert not session.scalars(sa.select(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id)).all()
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "mfa.reset"))
    assert event.actor_email == world.users["admin"].email and event.object_id == str(user.id)
    assert event.after["reason"] == "Phone lost; called back." and event.before["mfa_enrolled_at"]
    # Not required here: the password alone signs in again; with MFA required, enrolment comes first.
    assert post_login(app.test_client(), user.email).headers["Location"] == "/"
    app.config["MFA_REQUIRED"] = True
    assert post_login(app.test_client(), user.email).headers["Location"] == "/account/two-factor/setup"


@pytest.mark.parametrize("role", ["finance", "reviewer", "provider", "municipality", "monitor"])
def test_only_an_administrator_can_reset_a_second_factor(app, enrolled, world, session, role):
    user, _secret, _codes = enrolled
    target = world.users["reviewer"] if role == "finance" else user
    client = app.test_client()
    login_passed(client, session, world.users[role])
    assert client.get(f"/admin/users/{target.id}/two-factor-reset").status_code == 403
    assert client.post(f"/admin/users/{target.id}/two-factor-reset", data={"reason": "x"}).status_code == 403
    session.expire_all()
    assert session.get(User, user.id).mfa_enrolled_at is not None
    assert "mfa.reset" not in actions(session)


def test_an_administrator_cannot_reset_their_own_second_factor(app, world, session):
    admin = world.users["admin"]
    client = app.test_client()
    login(client, admin)
    enrol(client, admin)
    assert client.get(f"/admin/users/{admin.id}/two-factor-reset").status_code == 200
    assert client.post(f"/admin/users/{admin.id}/two-factor-reset", data={"reason": "mine"}).status_code == 409
    session.expire_all()
    assert session.get(User, admin.id).mfa_enrolled_at is not None


def test_the_operator_can_reset_from_the_command_line(app, enrolled, session):
    user, _secret, _codes = enrolled
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["mfa-reset", "--email", user.email, "--reason", " "])
    assert refused.exit_code != 0
    result = runner.invoke(args=["mfa-reset", "--email", user.email.upper(), "--reason", "Only admin lost the phone."])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.get(User, user.id).mfa_enrolled_at is None
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "mfa.reset"))
    assert event.actor_email == "cli" and event.actor_id is None
    assert runner.invoke(args=["mfa-reset", "--email", "nobody@test.example", "--reason", "x"]).exit_code != 0


# Configuration ---------------------------------------------------------------------------------------

def test_mfa_is_required_in_production_and_off_for_development_and_tests(monkeypatch):
    monkeypatch.delenv("MFA_REQUIRED", raising=False)
    monkeypatch.delenv("MFA_REQUIRED_ROLES", raising=False)
    production = ProductionConfig(SECRET_KEY="x" * 40)
    assert production.MFA_REQUIRED is True
    assert set(production.MFA_REQUIRED_ROLES) == {"admin", "finance", "reviewer"}
    assert DevelopmentConfig(SECRET_KEY="x" * 40).MFA_REQUIRED is False
    assert TestingConfig().MFA_REQUIRED is False
    monkeypatch.setenv("MFA_REQUIRED", "false")
    assert ProductionConfig(SECRET_KEY="x" * 40).MFA_REQUIRED is False
    monkeypatch.setenv("MFA_REQUIRED_ROLES", "admin,finanse")
    with pytest.raises(RuntimeError, match="finanse"):
        ProductionConfig(SECRET_KEY="x" * 40).validate()


# Hostile input on the second step ------------------------------------------------------------------

@pytest.mark.parametrize("code", ["12\x0034", "\x1b[31m", "9" * 70_000, "１２３４５６", "<script>", " ", "-" * 40,
                                  "1e30", "abcd-efgh-ijkl-mnop-qrst"])
def test_hostile_codes_are_refused_without_a_server_error(app, enrolled, code):
    user, _secret, _codes = enrolled
    client = app.test_client()
    post_login(client, user.email)
    response = client.post("/login/code", data={"code": code})
    assert response.status_code in {200, 400, 422}, response.status_code
    assert client.get("/account").status_code == 302
    raw = client.post("/login/code", data=b"code=%FF%FE%00", content_type="application/x-www-form-urlencoded")
    assert raw.status_code < 500


# Races on PostgreSQL: real parallel connections ------------------------------------------------------

PARALLEL = 20


@pytest.fixture(scope="module")
def race_app():
    """An application on a schema of its own with a pool of real connections (no shared test transaction)."""
    from tests.conftest import is_postgres, schema_app

    if not is_postgres():
        pytest.skip("parallel connections racing for one row are proven on PostgreSQL")
    with schema_app("mfa_race", PARALLEL + 5) as app:
        with app.app_context():
            from portal.db import db
            from portal.models import OrgKind, Role

            ministry = factories.org(db, OrgKind.MINISTRY, name="Министерство")
            for role in (Role.FINANCE, Role.REVIEWER):
                factories.user(db, role, ministry, email=f"{role.value}@race.example")
            db.commit()
            db.close()
        yield app


def _enrol_directly(app, email: str) -> tuple[User, str]:
    from portal.db import db, utcnow

    with app.app_context():
        user = db.scalar(sa.select(User).where(User.email == email))
        secret = pyotp.random_base32()
        db.add(UserMfa(user_id=user.id, secret=secret))
        user.mfa_enrolled_at = utcnow()
        db.commit()
        db.refresh(user)
        db.expunge(user)
        db.close()
    return user, secret


def _race_codes(app, user: User, codes) -> list:
    """PARALLEL browsers half-way through signing in as `user` send their code at the same moment."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(PARALLEL)

    def one(n: int):
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["mfa_pending"] = {"uid": user.id, "ver": user.session_version, "at": time.time(), "next": ""}
        barrier.wait(timeout=60)
        return client.post("/login/code", data={"code": codes(n) if callable(codes) else codes})

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(one, range(PARALLEL)))


def _count(app, query) -> int:
    from portal.db import db

    with app.app_context():
        try:
            return db.scalar(query)
        finally:
            db.close()


@pytest.mark.postgres_only
def test_one_code_sent_by_twenty_browsers_at_once_signs_in_exactly_one(race_app):
    user, secret = _enrol_directly(race_app, "finance@race.example")
    statuses = sorted(r.status_code for r in _race_codes(race_app, user, code_at(secret)))
    assert statuses.count(302) == 1, statuses
    # The others: "already used" (counted as failures like wrong codes, so past five: 429), never a 500.
    assert set(statuses) <= {200, 302, 429}, statuses
    assert _count(race_app, sa.select(sa.func.count()).where(AuditEvent.action == "mfa.verified")) == 1


@pytest.mark.postgres_only
def test_twenty_wrong_codes_at_once_are_counted_one_at_a_time(race_app):
    user, secret = _enrol_directly(race_app, "reviewer@race.example")
    limit = race_app.config["LOGIN_MAX_FAILURES_ACCOUNT"]
    statuses = sorted(r.status_code for r in _race_codes(race_app, user, wrong_code(secret)))
    assert statuses == [200] * limit + [429] * (PARALLEL - limit), statuses
    assert _count(race_app, sa.select(sa.func.count()).where(
        LoginAttempt.email == f"mfa:{user.id}", LoginAttempt.succeeded.is_(False))) == limit
