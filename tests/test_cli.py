"""Command-line tasks: first administrator, reference and demo data, mail retries."""

from __future__ import annotations

import sqlalchemy as sa

from portal.demo import DEMO_PASSWORD, USERS
from portal.models import Organisation, OrgKind, Role, User
from portal.models.mail import MailStatus, OutboxEmail


def test_create_admin_creates_the_ministry_and_an_activated_admin(app, session):
    session.execute(sa.text("SELECT 1"))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "--email", "First.Admin@Ministry.example", "--name", "Прва Админ"],
                           input="a long enough passphrase\na long enough passphrase\n")
    assert result.exit_code == 0, result.output
    user = session.scalar(sa.select(User).where(User.email == "first.admin@ministry.example"))
    assert user.role == Role.ADMIN and user.is_activated and user.organisation.kind == OrgKind.MINISTRY
    response = app.test_client().post("/login", data={"email": "first.admin@ministry.example",
                                                      "password": "a long enough passphrase"})
    assert response.status_code == 302


def test_create_admin_refuses_a_short_password(app, session):
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", "a@b.example", "--name", "A"],
                                          input="short\nshort\n")
    assert result.exit_code != 0
    assert session.scalar(sa.select(User).where(User.email == "a@b.example")) is None


def test_seed_demo_is_idempotent_and_every_demo_account_signs_in(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    counts = (session.scalar(sa.select(sa.func.count()).select_from(User)),
              session.scalar(sa.select(sa.func.count()).select_from(Organisation)))
    second = runner.invoke(args=["seed-demo"])
    assert "nothing changed" in second.output
    assert counts == (session.scalar(sa.select(sa.func.count()).select_from(User)),
                      session.scalar(sa.select(sa.func.count()).select_from(Organisation)))
    for email, _name, role, _org in USERS:
        client = app.test_client()
        response = client.post("/login", data={"email": email, "password": DEMO_PASSWORD})
        assert response.status_code == 302, email
        assert client.get("/").status_code == 200, (email, role)
    kumanovo = session.scalar(sa.select(User).where(User.email == "kumanovo@demo.example"))
    assert kumanovo.organisation.municipality.name_en == "Kumanovo"


def test_seed_demo_refuses_production(app):
    app.config["PORTAL_ENV"] = "production"
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0 and "production" in result.output


def test_send_mail_delivers_pending_messages(app, session, mailbox):
    session.add(OutboxEmail(to_address="someone@test.example", subject="Тест", body_text="Здраво"))
    session.commit()
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert "sent 1" in result.output
    assert mailbox.to("someone@test.example")[0]["Subject"] == "Тест"


def test_failed_delivery_stays_pending_and_is_retried(app, session):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=2)
    session.add(OutboxEmail(to_address="someone@test.example", subject="S", body_text="B"))
    session.commit()
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert "failed 1" in result.output
    message = session.scalar(sa.select(OutboxEmail))
    assert message.status == MailStatus.PENDING and message.attempts == 1 and message.last_error
