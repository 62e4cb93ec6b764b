"""Grievance redress (issue 17): public intake without an account, the secret link, handling, sensitive cases,
deadlines in Skopje time, the rate limit and the honeypot, the figures, and no complainant data outside the
ministry's handlers."""

from __future__ import annotations

import io
import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal import clock
from portal.grievances import figures, services
from portal.models import AuditEvent, Grievance, GrievanceMessage, GrievanceStatus, OutboxEmail, Role
from tests import factories, files
from tests.conftest import login

ADDRESSES = itertools.count(1)
LINK = re.compile(r"/concerns/follow/([A-Za-z0-9_\-]{20,})")


@pytest.fixture
def grm(app, world, session):
    """The world with a signed grant of provider A in municipality A, and a second reviewer."""
    with app.test_request_context():
        world.grant = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                             world.orgs["municipality"])
        world.users["reviewer2"] = factories.user(session, Role.REVIEWER, world.orgs["ministry"],
                                                  email="reviewer2@test.example")
        session.commit()
    world.municipality_id = world.orgs["municipality"].municipality_id
    return world


def _form(w, **overrides) -> dict:
    data = {"category": "service_quality", "municipality_id": str(w.municipality_id), "agreement_id": "0",
            "about": "", "description": "Негователката доаѓа само два пати неделно наместо секој ден.",
            "identity": "anonymous", "contact_name": "", "contact_email": "", "contact_phone": "", "website": ""}
    data.update(overrides)
    return data


def _submit(client, w, **overrides):
    return client.post("/concerns/new", data=_form(w, **overrides))


def _new_case(app, session, w, *, category="service_quality", anonymous=True, agreement=None, when=None):
    with app.test_request_context():
        if when is not None:
            original = clock.now
            clock.now = lambda: when
        try:
            case, secret = services.submit(session, services.IntakeData(
                category=category, municipality_id=w.municipality_id, agreement_id=agreement.id if agreement else None,
                about="", description="Опис на проблемот со услугата во домот.", anonymous=anonymous,
                contact_name="" if anonymous else "Петре Петровски",
                contact_email="" if anonymous else "petre@example.org",
                contact_phone="" if anonymous else "+389 70 123 456"), f"10.0.{next(ADDRESSES)}.1")
        finally:
            if when is not None:
                clock.now = original
        session.commit()
    return case, secret


def test_the_public_form_works_without_an_account_in_every_language(app, grm):
    client = app.test_client()
    for lang in ("mk", "sq", "en"):
        client.post("/language", data={"language": lang, "next": "/"})
        page = client.get("/concerns/new")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert f'lang="{lang}"' in html and 'name="website"' in html and "<script>" not in html.split("</head>")[1]


def test_anonymous_submission_followed_and_answered_through_the_secret_link_only(app, grm, session):
    client = app.test_client()
    response = _submit(client, grm)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    secret = LINK.search(html).group(1)
    case = session.scalar(sa.select(Grievance).order_by(Grievance.id.desc()))
    assert case.tracking_code in html and case.anonymous
    assert secret not in case.secret_hash and case.secret_hash == services.digest(secret)  # only a hash is kept
    assert not session.scalars(sa.select(OutboxEmail)).all()  # anonymous: no mail
    # The ministry replies; the complainant reads it and answers through the link, still without an account.
    with app.test_request_context():
        services.reply(session, grm.users["reviewer"], case, "Ќе го провериме распоредот до петок.")
        services.add_note(session, grm.users["reviewer"], case, "Внатрешно: да се јави на давателот.")
        session.commit()
    page = client.get(f"/concerns/follow/{secret}")
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Ќе го провериме распоредот" in text
    assert "Внатрешно" not in text  # internal notes never reach the complainant
    answer = client.post(f"/concerns/follow/{secret}", data={"body": "Благодарам, ќе почекам."})
    assert answer.status_code == 303
    session.expire_all()
    assert [m.body for m in case.messages if m.kind.value == "complainant"] == ["Благодарам, ќе почекам."]
    assert session.scalar(sa.select(AuditEvent.action).where(AuditEvent.object_type == "grievance",
                                                             AuditEvent.action == "grievance.complainant_wrote"))


def test_extra_fields_change_nothing(app, grm, session):
    response = _submit(app.test_client(), grm, category="safeguarding", sensitive="0", status="closed",
                       handler_id=str(grm.users["reviewer"].id), contact_email="x@example.org")
    assert response.status_code == 200
    case = session.scalar(sa.select(Grievance))
    assert case.sensitive and case.status == GrievanceStatus.RECEIVED and case.handler_id is None
    assert case.anonymous and case.contact_email == ""  # anonymous: contact fields are dropped


def test_a_wrong_secret_is_refused(app, grm, session):
    case, secret = _new_case(app, session, grm)
    client = app.test_client()
    for wrong in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "x", "a" * 200, case.tracking_code,
                  case.secret_hash):
        assert client.get(f"/concerns/follow/{wrong}").status_code == 404
        assert client.post(f"/concerns/follow/{wrong}", data={"body": "Лажно."}).status_code == 404
    assert not session.scalars(sa.select(GrievanceMessage)).all()


def test_a_named_complainant_gets_the_link_by_mail(app, grm, session):
    response = _submit(app.test_client(), grm, identity="named", contact_name="Петре Петровски",
                       contact_email="Petre@Example.org")
    assert response.status_code == 200
    secret = LINK.search(response.get_data(as_text=True)).group(1)
    mail = session.scalar(sa.select(OutboxEmail).where(OutboxEmail.to_address == "petre@example.org"))
    assert mail is not None and secret in mail.body_text
    # A named concern without a way to answer is refused, with the field named.
    refused = _submit(app.test_client(), grm, identity="named", contact_name="Петре")
    assert refused.status_code == 422 and 'id="contact_email-error"' in refused.get_data(as_text=True)


def test_sensitive_categories_are_flagged_and_seen_only_by_their_named_handlers(app, grm, session):
    case, _secret = _new_case(app, session, grm, category="safeguarding", agreement=grm.grant)
    ordinary, _ = _new_case(app, session, grm, category="service_quality", agreement=grm.grant)
    assert case.sensitive and not ordinary.sensitive
    admin, reviewer = grm.users["admin"], grm.users["reviewer"]

    def sees(user) -> tuple[int, bool]:
        client = app.test_client()
        login(client, user)
        status = client.get(f"/grievances/{case.id}").status_code
        listed = case.tracking_code in client.get("/grievances").get_data(as_text=True)
        return status, listed

    # Nobody named yet: the administrators (who assign it) only.
    assert sees(admin) == (200, True)
    assert sees(reviewer)[0] == 403 and not sees(reviewer)[1]
    with app.test_request_context():
        services.assign(session, admin, case, reviewer.id)
        session.commit()
    assert sees(reviewer) == (200, True) and sees(admin) == (200, True)  # the handler and the admin who assigned
    for key in ("reviewer2", "finance", "provider", "municipality", "monitor", "provider_b"):
        status, listed = sees(grm.users[key])
        assert status in (302, 403) and not listed, key
    other_admin = factories.user(session, Role.ADMIN, grm.orgs["ministry"], email="admin2@test.example")
    session.commit()
    assert sees(other_admin)[0] == 403 and not sees(other_admin)[1]
    # The ordinary case about the same grant is seen by every handler and by the grant's provider and municipality.
    for key in ("reviewer2", "provider", "municipality"):
        client = app.test_client()
        login(client, grm.users[key])
        assert client.get(f"/grievances/{ordinary.id}").status_code == 200, key
    client = app.test_client()
    login(client, grm.users["provider_b"])
    assert client.get(f"/grievances/{ordinary.id}").status_code == 403
    # Hidden from counts below the threshold, counted once there are enough of them.
    with app.test_request_context():
        result = figures.compute(session)
        assert not result.sensitive_shown and result.total.received == 1
        services.update_settings(session, admin, services.SettingsData(7, 30, 1, 5))
        result = figures.compute(session)
        assert result.sensitive_shown and result.total.received == 2
        assert sum(t.received for _n, t in result.by_municipality) == 1  # never broken down by municipality


def test_deadlines_are_counted_in_skopje_days(app, grm, session):
    # 23:30 UTC on 1 March is already 2 March in Skopje (UTC+1): acknowledge by the end of 9 March, Skopje time.
    case, _ = _new_case(app, session, grm, when=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    assert clock.utc_to_skopje(case.acknowledge_due_at).replace(tzinfo=None) == datetime(2026, 3, 10, 0, 0)
    assert case.acknowledge_due_at == datetime(2026, 3, 9, 23, 0, tzinfo=UTC)
    # 30 days crosses the change to summer time (29 March): the end of 1 April in Skopje is 22:00 UTC.
    assert case.resolve_due_at == datetime(2026, 4, 1, 22, 0, tzinfo=UTC)
    assert services.due_at(datetime(2026, 3, 1, 22, 59, tzinfo=UTC), 7) == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)
    # The configured number of days applies to concerns received afterwards.
    with app.test_request_context():
        services.update_settings(session, grm.users["admin"], services.SettingsData(3, 10, 5, 5))
        session.commit()
    later, _ = _new_case(app, session, grm, when=datetime(2026, 7, 10, 8, 0, tzinfo=UTC))
    assert later.acknowledge_due_at == datetime(2026, 7, 13, 22, 0, tzinfo=UTC)
    assert later.resolve_due_at == datetime(2026, 7, 20, 22, 0, tzinfo=UTC)


def test_the_rate_limit_and_the_honeypot(app, grm, session):
    with app.test_request_context():
        services.update_settings(session, grm.users["admin"], services.SettingsData(7, 30, 5, 2))
        session.commit()
    client = app.test_client()
    assert _submit(client, grm, website="http://spam.example").status_code == 400  # the honeypot
    assert session.scalar(sa.select(sa.func.count(Grievance.id))) == 0
    assert [_submit(client, grm).status_code for _i in range(3)] == [200, 200, 429]
    assert session.scalar(sa.select(sa.func.count(Grievance.id))) == 2
    other = app.test_client()  # another address is not affected
    assert other.post("/concerns/new", data=_form(grm), environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 200


def test_evidence_goes_through_the_document_service_and_only_handlers_open_it(app, grm, session, tmp_path):
    factories.use_local_storage(app, tmp_path)
    response = app.test_client().post("/concerns/new", content_type="multipart/form-data",
                                      data=_form(grm, evidence=(io.BytesIO(files.PDF), "фотографија.pdf")))
    assert response.status_code == 200
    from portal.models import Document

    document = session.scalar(sa.select(Document).where(Document.object_type == "grievance"))
    assert document is not None and document.uploaded_by_id is None and document.personal
    # The complainant's address is kept nowhere in the audit trail (it could name an anonymous person).
    assert set(session.scalars(sa.select(AuditEvent.ip).where(AuditEvent.action.in_(
        ("grievance.submitted", "document.uploaded"))))) == {""}
    for key, expected in (("reviewer", 200), ("provider", 403), ("finance", 403), ("monitor", 403)):
        client = app.test_client()
        login(client, grm.users[key])
        assert client.get(f"/documents/{document.id}").status_code == expected, key


def test_handling_from_acknowledgement_to_reopening_is_audited_and_appends_only(app, grm, session):
    case, secret = _new_case(app, session, grm, agreement=grm.grant, anonymous=False)
    client = app.test_client()
    login(client, grm.users["admin"])
    steps = [("assign", {"handler_id": str(grm.users["reviewer"].id)}), ("acknowledge", {"ack-body": "Примено."}),
             ("note", {"note-body": "Да се провери."}), ("ask", {"ask-body": "Дали распоредот е сменет?"}),
             ("escalate", {"escalate-reason": "Потребна е посета."}),
             ("close", {"close-outcome": "Распоредот е вратен.", "close-accepted": "yes"}),
             ("reopen", {"reopen-reason": "Лицето пишува дека не е решено."})]
    for step, data in steps:
        if step == "escalate":
            provider = app.test_client()
            login(provider, grm.users["provider"])
            assert provider.post(f"/grievances/{case.id}/answer", data={"answer-body": "Да, од понеделник."}).status_code == 303
        response = client.post(f"/grievances/{case.id}/{step}", data=data)
        assert response.status_code == 303, (step, response.get_data(as_text=True)[:3000])
    session.expire_all()
    assert case.status == GrievanceStatus.ACKNOWLEDGED and case.reopened_count == 1 and case.first_closed_at
    assert case.complainant_accepted is True
    actions = set(session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "grievance",
                                                                     AuditEvent.object_id == str(case.id))))
    assert {"grievance.submitted", "grievance.assigned", "grievance.acknowledged", "grievance.note_added",
            "grievance.party_asked", "grievance.party_answered", "grievance.escalated", "grievance.closed",
            "grievance.reopened"} <= actions
    # No contact details in the audit trail.
    for after in session.scalars(sa.select(AuditEvent.after).where(AuditEvent.object_type == "grievance")):
        assert "petre@example.org" not in str(after) and "Петровски" not in str(after)
    # Messages are never changed or deleted: the database refuses it.
    message = case.messages[0]
    with pytest.raises(sa.exc.DatabaseError):
        with session.begin_nested():
            session.execute(sa.update(GrievanceMessage).where(GrievanceMessage.id == message.id).values(body="x"))
    with pytest.raises(sa.exc.DatabaseError):
        with session.begin_nested():
            session.execute(sa.delete(GrievanceMessage).where(GrievanceMessage.id == message.id))


def test_no_personal_data_of_the_complainant_in_provider_or_municipality_views(app, grm, session):
    case, _ = _new_case(app, session, grm, agreement=grm.grant, anonymous=False)
    with app.test_request_context():
        services.add_note(session, grm.users["reviewer"], case, "Внатрешна белешка за Петре.")
        services.reply(session, grm.users["reviewer"], case, "Одговор до лицето.")
        services.ask_party(session, grm.users["reviewer"], case, "Објаснете го распоредот.")
        session.commit()
    for key in ("provider", "municipality"):
        client = app.test_client()
        login(client, grm.users[key])
        pages = [client.get("/grievances"), client.get(f"/grievances/{case.id}"), client.get("/")]
        for page in pages:
            text = page.get_data(as_text=True)
            assert page.status_code == 200
            for secret_bit in ("Петре", "petre@example.org", "+389 70 123 456", "Внатрешна белешка", "Одговор до лицето",
                               "anonymous", "анонимн"):
                assert secret_bit not in text, (key, secret_bit)
        assert "Објаснете го распоредот" in pages[1].get_data(as_text=True)
        assert client.get("/grievances/figures").status_code == 403


def test_figures_equal_the_cases(app, grm, session):
    base = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    cases = [_new_case(app, session, grm, category=c, when=base + timedelta(days=i))[0]
             for i, c in enumerate(["service_quality", "access", "access", "staff_conduct", "other"])]
    with app.test_request_context():
        original = clock.now
        try:
            clock.now = lambda: base + timedelta(days=2)
            services.acknowledge(session, grm.users["reviewer"], cases[0])  # on time
            clock.now = lambda: base + timedelta(days=12)
            services.acknowledge(session, grm.users["reviewer"], cases[1])  # late
            services.close(session, grm.users["reviewer"], cases[0], "Решено.", True)  # on time
            clock.now = lambda: base + timedelta(days=60)
            services.close(session, grm.users["reviewer"], cases[1], "Решено доцна.", None)  # late
            result = figures.compute(session, clock.now())
        finally:
            clock.now = original
    assert result.total.received == 5 == session.scalar(sa.select(sa.func.count(Grievance.id)))
    assert (result.total.acknowledged, result.total.acknowledged_on_time) == (2, 1)
    assert (result.total.resolved, result.total.resolved_on_time) == (2, 1)
    assert result.total.overdue == 3
    assert result.by_category["access"].received == 2 and result.by_category["safeguarding"].received == 0
    assert sum(t.received for t in result.by_category.values()) == 5
    assert [(m, t.received) for m, t in result.by_month] == [("2026-05", 5)]
    client = app.test_client()
    login(client, grm.users["finance"])
    page = client.get("/grievances/figures")
    assert page.status_code == 200 and "05/2026" in page.get_data(as_text=True)
    download = client.get("/grievances/figures.csv")
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    import csv

    table = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    received = {row[1]: row[2] for row in table[1:]}
    assert len(table) == 1 + 1 + 7 + 1 + 1  # header, total, 7 categories, 1 municipality, 1 month
    assert table[1][2] == "5"  # (figures as of now: the same cases, the same count)
    assert received["2026-05"] == "5"
    assert "Петре" not in download.get_data(as_text=True) and "Опис на проблемот" not in download.get_data(as_text=True)


def test_overdue_cases_on_the_handlers_home_page(app, grm, session):
    old, _ = _new_case(app, session, grm, when=clock.now() - timedelta(days=10))
    for key, shown in (("admin", True), ("reviewer", True), ("provider", False)):
        client = app.test_client()
        login(client, grm.users[key])
        assert (old.tracking_code in client.get("/").get_data(as_text=True)) is shown, key


def test_the_demo_concerns(app, session):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    cases = session.scalars(sa.select(Grievance).order_by(Grievance.received_at)).all()
    assert len(cases) == 5
    assert [c.tracking_code for c in cases if services.is_overdue(c)] and \
        len([c for c in cases if services.is_overdue(c)]) == 1
    sensitive = [c for c in cases if c.sensitive]
    assert len(sensitive) == 1 and sensitive[0].handler is not None
    assert {c.status.value for c in cases} == {"received", "closed", "escalated"}
    for case in cases:  # the deadlines the services computed, and the rules on contacts
        assert case.anonymous == (not case.contact_name)
        assert case.acknowledge_due_at == services.due_at(case.received_at, 7)
    from portal.models import User

    users = {u.email: u for u in session.scalars(sa.select(User).where(User.email.like("%@demo.example")))}
    client = app.test_client()
    login(client, users["reviewer2@demo.example"])
    assert sensitive[0].tracking_code not in client.get("/grievances").get_data(as_text=True)
    login(client, users["reviewer@demo.example"])
    assert sensitive[0].tracking_code in client.get("/grievances").get_data(as_text=True)
    # Idempotent.
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    assert session.scalar(sa.select(sa.func.count(Grievance.id))) == 5


def test_a_handler_marks_a_case_sensitive_and_it_disappears_for_everyone_else(app, grm, session):
    case, _ = _new_case(app, session, grm, agreement=grm.grant)
    client = app.test_client()
    login(client, grm.users["reviewer"])
    response = client.post(f"/grievances/{case.id}/sensitive", data={"sensitive-reason": "Спомнато е насилство."})
    assert response.status_code == 303
    session.expire_all()
    assert case.sensitive and [h.user_id for h in case.named] == [grm.users["reviewer"].id]
    assert client.get(f"/grievances/{case.id}").status_code == 200
    for key in ("admin", "reviewer2", "provider", "municipality"):
        other = app.test_client()
        login(other, grm.users[key])
        assert other.get(f"/grievances/{case.id}").status_code == 403, key
        assert case.tracking_code not in other.get("/grievances").get_data(as_text=True), key
    assert client.post(f"/grievances/{case.id}/sensitive", data={"sensitive-reason": "Пак."}).status_code == 409
    assert client.post(f"/grievances/{case.id}/ask", data={"ask-body": "Прашање."}).status_code == 409


def test_the_daily_mail_lists_overdue_concerns_once_a_day_without_personal_data(app, grm, session):
    late, _ = _new_case(app, session, grm, anonymous=False, when=clock.now() - timedelta(days=10))
    guarded, _ = _new_case(app, session, grm, category="fraud", when=clock.now() - timedelta(days=10))
    with app.test_request_context():
        services.assign(session, grm.users["admin"], late, grm.users["reviewer2"].id)
        services.assign(session, grm.users["admin"], guarded, grm.users["reviewer"].id)
        session.commit()
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code == 0 and "overdue concern digests 2" in result.output, result.output
    mails = {m.to_address: m.body_text for m in session.scalars(sa.select(OutboxEmail))
             if m.to_address != "petre@example.org"}  # (the complainant's own receipt)
    assert late.tracking_code in mails["reviewer2@test.example"]
    assert guarded.tracking_code in mails["reviewer@test.example"]
    assert guarded.tracking_code not in mails["reviewer2@test.example"]
    assert "admin@test.example" not in mails  # both are assigned: the handlers get them
    assert not any("Петровски" in body or "petre@example.org" in body for body in mails.values())
    again = app.test_cli_runner().invoke(args=["send-mail"])
    assert "overdue concern digests 0" in again.output


def test_a_refused_document_comes_back_on_the_form_with_what_was_typed(app, grm, session, tmp_path):
    factories.use_local_storage(app, tmp_path)
    response = app.test_client().post("/concerns/new", content_type="multipart/form-data", data=_form(
        grm, evidence=(io.BytesIO(b"MZ\x90\x00 not a document"), "program.pdf")))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="evidence-error"' in html and "Негователката доаѓа" in html
    assert session.scalar(sa.select(sa.func.count(Grievance.id))) == 0


def test_the_list_is_paged_and_filtered(app, grm, session):
    cases = [_new_case(app, session, grm, when=clock.now() - timedelta(days=d))[0] for d in (1, 2, 12)]
    app.config["PAGE_SIZE"] = 2
    client = app.test_client()
    login(client, grm.users["reviewer"])
    first = client.get("/grievances").get_data(as_text=True)
    assert cases[0].tracking_code in first and cases[2].tracking_code not in first and 'rel="next"' in first
    second = client.get("/grievances?page=2").get_data(as_text=True)
    assert cases[2].tracking_code in second
    overdue = client.get("/grievances?overdue=1").get_data(as_text=True)
    assert cases[2].tracking_code in overdue and cases[0].tracking_code not in overdue
