"""Preconditions for `tests/test_audit_coverage.py`: each builds, through the services and factories, the state
in which one route's happy path can run on the access matrix's world (`world_docs`), or computes what the
request needs (a second-factor code, a bulk template downloaded from the portal)."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from portal import clock
from tests import factories

# The review workflow on the world's grant application (provider A's, submitted; the reviewer chairs the
# committee and is assigned): each step through the services, up to the one the route drives.

def second_reviewer(app, w, session) -> None:
    from portal.models import Role

    w.second = factories.user(session, Role.REVIEWER, w.orgs["ministry"], email="second-reviewer@test.example")
    session.commit()


def assignment_of(s, application, reviewer) -> int | None:
    from portal.models import ReviewAssignment

    return s.scalar(sa.select(ReviewAssignment.id).where(ReviewAssignment.application_id == application.id,
                                                         ReviewAssignment.reviewer_id == reviewer.id))


def checklist_answers(w, s) -> dict[str, str]:
    from portal.applications import review

    return {f"item-{i}": "yes" for i, _item in enumerate(review.checklist(w.app["own"].call))}


def sheet(w, *values) -> dict[str, str]:
    data = {}
    for criterion, value in zip(w.app["own"].call.criteria, values, strict=True):
        data[f"score-{criterion.id}"] = str(value)
        data[f"justification-{criterion.id}"] = "Образложено со примери од апликацијата."
    return data


def scorable(app, w, session) -> None:
    """Endorsed by municipality A, screened eligible, the reviewer declared free of conflicts."""
    from portal.applications import review
    from portal.applications import services as applications

    with app.test_request_context():
        own = w.app["own"]
        applications.endorse(session, w.users["municipality"], own, True, "")
        review.screen(session, w.users["admin"], own, {item: True for item in review.checklist(own.call)}, "")
        review.declare(session, w.users["reviewer"], w.assignment, False, "")
        session.commit()


def scores_in(first, second):
    """Both reviewers' sheets submitted (`second` None: only the reviewer's)."""
    def setup(app, w, session) -> None:
        from portal.applications import review
        from portal.models import Role

        scorable(app, w, session)
        with app.test_request_context():
            inputs = {c.id: review.ScoreInput(str(v), "Образложено.") for c, v in zip(w.app["own"].call.criteria, first,
                                                                                        strict=True)}
            review.submit_scores(session, w.users["reviewer"], w.assignment, inputs)
            if second is not None:
                w.second = factories.user(session, Role.REVIEWER, w.orgs["ministry"], email="second-reviewer@test.example")
                assignment = review.assign(session, w.users["admin"], w.app["own"], w.second)
                review.declare(session, w.second, assignment, False, "")
                inputs = {c.id: review.ScoreInput(str(v), "Образложено.")
                          for c, v in zip(w.app["own"].call.criteria, second, strict=True)}
                review.submit_scores(session, w.second, assignment, inputs)
            session.commit()

    return setup


def scored_and_closed(app, w, session) -> None:
    """Two agreeing sheets, and the call's deadline passed (decisions come after it)."""
    scores_in((40, 40), (42, 40))(app, w, session)
    w.app["own"].call.closes_at = clock.now() - timedelta(minutes=1)
    session.commit()


def newest_review(s, assignment_id: int) -> int | None:
    from portal.models import Review

    return s.scalar(sa.select(sa.func.max(Review.id)).where(Review.assignment_id == assignment_id))


def provider_c(app, w, session) -> None:
    """A third verified provider, with no application in the world's grant call yet."""
    from portal.models import OrgKind, Role

    w.orgs["provider_c"] = factories.org(session, OrgKind.PROVIDER, name="Давател В")
    w.users["provider_c"] = factories.user(session, Role.PROVIDER, w.orgs["provider_c"], email="provider_c@test.example")
    session.commit()


def bulk_file(app, w, session) -> None:
    """The provider's template, downloaded through the portal, with good figures in the months that ended: the
    world has no report yet for its third month, so the file creates one."""
    from tests.test_report_bulk import filled, template_for

    w.bulk = filled(template_for(app, session, w.users["provider"]))


def token(purpose_name: str, user_key: str | None = None):
    def setup(app, w, session) -> None:
        from portal.auth import services as auth
        from portal.models import TokenPurpose

        if user_key is None:
            from portal.admin import services as admin
            from portal.models import Role

            with app.test_request_context():
                w.invited = admin.invite_user(session, w.users["admin"], w.orgs["provider"], "invited@test.example",
                                              "Поканета Лице", Role.PROVIDER, "mk")
        user = w.invited if user_key is None else w.users[user_key]
        with app.test_request_context():
            w.raw = auth.issue_token(session, user, TokenPurpose[purpose_name])
        w.token_user = user
        session.commit()

    return setup


def enrolled(user_key: str):
    """`user_key` enrolled in the second factor through the service, with the code that confirmed it forgotten
    (so the current code serves once more)."""
    def setup(app, w, session) -> None:
        import pyotp

        from portal.auth import mfa
        from portal.models import UserMfa

        user = w.users[user_key]
        with app.test_request_context():
            secret = mfa.start_enrolment(session, user)
            mfa.confirm_enrolment(session, user, pyotp.TOTP(secret).now(), "127.0.0.1")
            session.get(UserMfa, user.id).last_used_step = None
            session.commit()
        w.secret = secret

    return setup


def pending_enrolment(app, w, session) -> None:
    from portal.auth import mfa

    with app.test_request_context():
        w.secret = mfa.start_enrolment(session, w.users["provider"])
        session.commit()


def totp(w) -> str:
    import pyotp

    return pyotp.TOTP(w.secret).now()


def second_factor_passed(client, w, session) -> None:
    """Signed in as the login view leaves an enrolled user after both steps."""
    from portal.auth.sessions import MFA_PASSED

    with client.session_transaction() as sess:
        sess[MFA_PASSED] = w.users["provider_b"].id


def password_step(client, w, session) -> None:
    """The first step of signing in, which leaves the browser half-way (waiting for the code)."""
    response = client.post("/login", data={"email": w.users["finance"].email, "password": factories.PASSWORD})
    assert response.status_code == 302 and "/login/code" in response.headers["Location"]


def local_minute(days: int) -> str:
    """A time `days` from now as the form's datetime-local field shows it (Skopje time, to the minute)."""
    return (clock.utc_to_skopje(clock.now()) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def report_id(s, agreement, month: str) -> int | None:
    from portal.models import MonthlyReport

    return s.scalar(sa.select(MonthlyReport.id).where(MonthlyReport.agreement_id == agreement.id,
                                                      MonthlyReport.month == date.fromisoformat(f"{month}-01")))


# Grievance redress (issue 17): the world's own concern is acknowledged and put to provider A and municipality A.

def grievance_form(w) -> dict[str, str]:
    """What a person without an account types into the public form."""
    return {"category": "staff_conduct", "municipality_id": str(w.orgs["municipality"].municipality_id),
            "agreement_id": str(w.agreement["own"].id), "description": "Негувателката беше груба со мојата мајка.",
            "identity": "anonymous", "website": ""}


def fresh_grievance(app, w, session) -> None:
    """A concern just received (not acknowledged yet)."""
    from portal.grievances import services as grievances

    with app.test_request_context():
        w.fresh, _secret = grievances.submit(session, grievances.IntakeData(
            category="access", municipality_id=w.orgs["municipality"].municipality_id, agreement_id=None, about="",
            description="Одбиени сме без образложение.", anonymous=True), "198.51.100.7")
        session.commit()


def closed_grievance(app, w, session) -> None:
    from portal.grievances import services as grievances

    with app.test_request_context():
        grievances.close(session, w.users["reviewer"], w.grievance["own"], "Распоредот е вратен.", False)
        session.commit()


# Grantee financial reports (issue 18): the world's grants have two budget lines each; provider A submitted its
# first quarter and has a draft of its second.

def finance_grant(app, w, session) -> None:
    """A further grant of provider A with one approved budget line and no financial report yet."""
    from decimal import Decimal

    from portal.models import BudgetLine

    with app.test_request_context():
        w.fgrant = factories.signed_grant(session, w.users["admin"], w.orgs["provider"], w.orgs["municipality"])
        session.add(BudgetLine(application_id=w.fgrant.application_id, position=0, category="staff", description="",
                               quantity=Decimal("1"), unit_cost_eur=Decimal("5000.00"), months=1,
                               amount_eur=Decimal("5000.00")))
        session.commit()


def amendable_grant(app, w, session) -> None:
    """A further grant of provider A with two approved budget lines and no budget amendment yet (issue 18)."""
    from decimal import Decimal

    from portal.models import BudgetLine

    with app.test_request_context():
        w.agrant = factories.signed_grant(session, w.users["admin"], w.orgs["provider"], w.orgs["municipality"])
        for position, amount in enumerate(("6000.00", "4000.00")):
            session.add(BudgetLine(application_id=w.agrant.application_id, position=position, category="staff",
                                   description="", quantity=Decimal("1"), unit_cost_eur=Decimal(amount), months=1,
                                   amount_eur=Decimal(amount)))
        session.commit()


def amendment_lines(w, s) -> dict[str, str]:
    """The amendment form as the provider fills it in: 500.00 moved from the second line to the first."""
    first, second = sorted(line.id for line in w.agrant.application.budget_lines)
    return {f"line-{first}": "6500.00", f"line-{second}": "3500.00", "reason": "Повеќе часови нега."}


def finance_bulk_file(app, w, session) -> None:
    """The spreadsheet template of provider A's draft (its second period), as the portal gives it."""
    from portal.finance_reports import bulk as finance_bulk

    with app.test_request_context():
        w.fbulk = finance_bulk.template(session, w.users["provider"], w.agreement["own"], 2)


def returned_finance_report(app, w, session) -> None:
    from portal.finance_reports import services as finance

    with app.test_request_context():
        finance.return_report(session, w.users["finance"], w.freport["own"], "Недостасува извод од банка.")
        session.commit()


# The service-user register (issue 16): the world has one episode in each grant's register (the same person).

def register_file(app, w, session) -> None:
    """A register file with one new person for provider A's grant, in the columns of the import's template."""
    from tests.test_register import make_number
    from tests.test_register_bulk import HEADER, row, xlsx

    start = w.agreement["own"].current.start_date
    w.register_file = xlsx([row(session, make_number(date(1947, 10, 2), 613), start)], HEADER)


def register_form(w, s) -> dict[str, str]:
    """A new person in provider A's register, as the add form is filled in (sex and year of birth from the number)."""
    from portal.models import Municipality
    from tests.test_register import make_number

    start = w.agreement["own"].current.start_date
    return {"personal_number": make_number(date(1947, 10, 1), 612), "decision_number": "08-200/4",
            "decision_date": (start - timedelta(days=2)).isoformat(), "decision_centre": "ЦСР Куманово",
            "service_type_id": str(w.agreement["own"].application.service_types[0].id), "start_date": start.isoformat(),
            "disability": "yes", "municipality_id": str(s.scalar(sa.select(Municipality.id).order_by(Municipality.id)))}
