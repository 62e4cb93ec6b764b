"""Thirty people pressing the same button at once, through the real routes on PostgreSQL.

Each request runs in its own thread with its own database connection (a pool of 40), released by a
barrier. For every conflict the issue names — sign-ins, an award, a signature, a tranche request,
approval and payment, an amendment — exactly one request wins, every other one gets a 409-class
answer in the user's language, and none gets a 500. The races run in order on one demo world in a
schema of their own: award the reserve application → sign it → request its advance → approve → pay →
amend."""

from __future__ import annotations

import io
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from portal import clock
from portal.demo import DEMO_PASSWORD
from portal.models import (
    AgreementVersion,
    Application,
    ApplicationStatus,
    AuditEvent,
    AwardDecision,
    GrantAgreement,
    LedgerEntry,
    LoginAttempt,
    Tranche,
    TrancheStatus,
    User,
)
from tests import files
from tests.conftest import demo_schema_app, is_postgres, login

PARALLEL = 30

pytestmark = pytest.mark.postgres_only


@pytest.fixture(scope="module")
def race_app(tmp_path_factory):
    if not is_postgres():
        pytest.skip("parallel connections racing for one row are proven on PostgreSQL")
    uploads = tmp_path_factory.mktemp("race-uploads")
    # The races need the demo's people, calls, awards and agreements, not its months of reports.
    with demo_schema_app("race", PARALLEL + 10, STORAGE_BACKEND="local", UPLOAD_DIR=uploads) as app:
        yield app


def _read(app, query):
    with app.app_context():
        from portal.db import db

        try:
            return query(db)
        finally:
            db.close()


def _user(app, email: str) -> User:
    return _read(app, lambda db: db.scalar(sa.select(User).where(User.email == email)))


def _race(app, user: User | None, method: str, url, data) -> list:
    """PARALLEL clients (signed in as `user`) send the same request at the same moment; their answers."""
    barrier = threading.Barrier(PARALLEL)

    def one(n: int):
        client = app.test_client()
        if user is not None:
            login(client, user)
        payload = data(n) if callable(data) else data
        barrier.wait(timeout=60)
        return client.open(url, method=method, data=payload)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(one, range(PARALLEL)))


def _statuses(responses) -> Counter:
    return Counter(r.status_code for r in responses)


def _assert_one_winner(responses, win: int = 302) -> None:
    statuses = _statuses(responses)
    assert statuses[win] == 1, statuses
    assert set(statuses) <= {win, 409}, statuses
    for r in responses:
        if r.status_code == 409:
            page = r.get_data(as_text=True)
            assert "Traceback" not in page
            assert re.search(r"[\u0400-\u04FF]", page), "the refusal speaks Macedonian, the default language"


def test_parallel_sign_ins_and_the_throttle(race_app):
    # Ten correct sign-ins to one account at once (a double click, a second device): all succeed.
    answers = _race(race_app, None, "POST", "/login",
                    {"email": "finance@demo.example", "password": DEMO_PASSWORD})
    assert _statuses(answers) == Counter({302: PARALLEL})
    # Thirty wrong passwords at once: exactly five are checked, the rest are throttled (429), none fails.
    answers = _race(race_app, None, "POST", "/login", {"email": "admin@demo.example", "password": "wrong-password-1"})
    statuses = _statuses(answers)
    limit = race_app.config["LOGIN_MAX_FAILURES_ACCOUNT"]
    assert statuses == Counter({200: limit, 429: PARALLEL - limit}), statuses
    failures = _read(race_app, lambda db: db.scalar(sa.select(sa.func.count()).select_from(LoginAttempt).where(
        LoginAttempt.email == "admin@demo.example", LoginAttempt.succeeded.is_(False))))
    assert failures == limit


def test_one_winner_from_award_to_amendment(race_app):
    admin, finance = _user(race_app, "admin@demo.example"), _user(race_app, "finance@demo.example")
    reserve = _read(race_app, lambda db: db.scalar(sa.select(Application).where(
        Application.status == ApplicationStatus.RESERVE)))
    assert reserve is not None, "the demo has an application on the reserve list"

    # An award from the reserve list.
    answers = _race(race_app, admin, "POST", f"/applications/{reserve.id}/decide", {
        "outcome": "award", "amount": "1000.00", "conditions": "", "reasons": "Средства ослободени во повикот.",
        "confirm": "y", "version_id": str(reserve.version_id)})
    _assert_one_winner(answers)
    awards = _read(race_app, lambda db: db.scalar(sa.select(sa.func.count()).select_from(AwardDecision).where(
        AwardDecision.application_id == reserve.id, AwardDecision.outcome == "award")))
    assert awards == 1

    # Its signature: every officer types another agreement number; one agreement results.
    today = clock.utc_to_skopje(clock.now()).date()
    start = today.replace(day=1) + timedelta(days=32)
    start = start.replace(day=1)

    def signature(n: int) -> dict:
        return {"number": f"SSIP-GA-RACE-{n:03d}", "signature_date": today.isoformat(), "start_date": start.isoformat(),
                "end_date": (start + timedelta(days=700)).isoformat(), "committed_eur": "1000.00",
                "tranches-0-planned_date": start.isoformat(), "tranches-0-amount_eur": "300.00",
                "tranches-0-reports_required_through": "0",
                "tranches-1-planned_date": (start + timedelta(days=200)).isoformat(), "tranches-1-amount_eur": "700.00",
                "tranches-1-reports_required_through": "6"}

    answers = _race(race_app, finance, "POST", f"/applications/{reserve.id}/agreement", signature)
    _assert_one_winner(answers)
    agreement = _read(race_app, lambda db: db.scalar(sa.select(GrantAgreement).where(
        GrantAgreement.application_id == reserve.id)))
    commitments = _read(race_app, lambda db: db.scalars(sa.select(LedgerEntry.amount_eur).where(
        LedgerEntry.agreement_id == agreement.id)).all())
    assert commitments == [Decimal("1000.00")]

    advance = _read(race_app, lambda db: db.scalar(sa.select(Tranche).where(
        Tranche.agreement_id == agreement.id, Tranche.position == 1)))
    # The advance's release requested by many finance clicks at once: one request.
    answers = _race(race_app, finance, "POST", f"/tranches/{advance.id}/request", {"version_id": str(advance.version_id)})
    _assert_one_winner(answers)
    advance = _read(race_app, lambda db: db.get(Tranche, advance.id))
    assert advance.status == TrancheStatus.REQUESTED

    # Approved by another ministry user (four eyes), thirty times at once: one approval.
    answers = _race(race_app, admin, "POST", f"/tranches/{advance.id}/approve",
                    {"version_id": str(advance.version_id), "confirmed": "yes"})
    _assert_one_winner(answers)
    advance = _read(race_app, lambda db: db.get(Tranche, advance.id))
    assert advance.status == TrancheStatus.APPROVED

    # Paid: one disbursement, never thirty.
    answers = _race(race_app, finance, "POST", f"/tranches/{advance.id}/pay", {
        "paid_on": today.isoformat(), "bank_reference": "MK07 RACE", "version_id": str(advance.version_id),
        "confirmed": "yes"})
    _assert_one_winner(answers)
    paid = _read(race_app, lambda db: db.scalars(sa.select(LedgerEntry.amount_eur).where(
        LedgerEntry.agreement_id == agreement.id, LedgerEntry.kind == "disbursement")).all())
    assert paid == [Decimal("300.00")]

    # Thirty amendments from the same version, each with its own amount: one new version, one ledger entry.
    def amendment(n: int) -> dict:
        data = signature(0)
        data.pop("number")
        amount = Decimal("1000.00") - n - 1
        data.update({"committed_eur": str(amount), "tranches-1-amount_eur": str(amount - Decimal("300.00")),
                     "reason": f"Намалување {n}", "expected_version": "1"})
        return data

    answers = _race(race_app, finance, "POST", f"/grants/{agreement.id}/amend", amendment)
    _assert_one_winner(answers)
    versions = _read(race_app, lambda db: db.scalars(sa.select(AgreementVersion.committed_eur).where(
        AgreementVersion.agreement_id == agreement.id).order_by(AgreementVersion.version)).all())
    assert len(versions) == 2
    entries = _read(race_app, lambda db: db.scalars(sa.select(LedgerEntry.amount_eur).where(
        LedgerEntry.agreement_id == agreement.id, LedgerEntry.kind == "commitment").order_by(LedgerEntry.id)).all())
    assert entries == [Decimal("1000.00"), versions[1] - Decimal("1000.00")]
    # The second officer's form is refused with the first one's change named; nothing is booked twice.
    loser = next(r for r in answers if r.status_code == 409)
    assert str(versions[1]) in loser.get_data(as_text=True)
    amended = _read(race_app, lambda db: db.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "agreement.amended", AuditEvent.object_id == str(agreement.id))))
    assert amended == 1


def test_the_api_rate_limit_is_shared_by_parallel_requests(race_app):
    """Thirty requests at once from one address against a limit of ten: exactly ten are served."""
    saved = dict(race_app.config)
    race_app.config.update(API_RATE_LIMIT_ADDRESS=10, API_RATE_LIMIT_TOKEN=1000)
    try:
        answers = _race(race_app, None, "GET", "/api/v1/openapi.json", None)
    finally:
        race_app.config.update(saved)
    statuses = _statuses(answers)
    assert statuses[200] == 10 and statuses[429] == PARALLEL - 10, statuses
    assert all(r.headers.get("Retry-After") for r in answers if r.status_code == 429)


class _FormReader(HTMLParser):
    """The fields a browser would send for the first form whose action ends with `action`."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.fields, self.textarea, self.select = action, False, {}, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = (not a.get("action") or a["action"].endswith(self.action)) and not self.fields
        elif self.inside and tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            if a.get("type") in ("submit", "file"):
                return
            self.fields[a["name"]] = a.get("value") or ""
        elif self.inside and tag == "textarea":
            self.textarea = a.get("name")
            self.fields[self.textarea] = ""
        elif self.inside and tag == "select":
            self.select = a.get("name")
        elif self.inside and tag == "option" and self.select and ("selected" in a or self.select not in self.fields):
            self.fields[self.select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None

    def handle_data(self, data):
        if self.textarea:
            self.fields[self.textarea] += data


def test_one_submission_of_a_monthly_report(race_app):
    """Thirty clicks on *Submit the report* for one month at once (a provider's double clicks, two staff
    members): one submission, one version past draft, every other answer a 409."""
    from portal.documents import services as documents
    from portal.models import MonthlyReport, ReportVersion
    from portal.reports import services as reports
    from tests import factories

    provider = _user(race_app, "provider@demo.example")
    with race_app.test_request_context():
        from portal.db import db

        agreement = db.scalar(sa.select(GrantAgreement).where(GrantAgreement.organisation_id == provider.organisation_id)
                              .order_by(GrantAgreement.number))
        user = db.get(User, provider.id)
        first, _last = reports.grant_months(agreement)
        report = factories.report(db, user, agreement, first, submit=False)
        for purpose in reports.required_evidence(agreement):
            documents.upload(db, user, owner=agreement.application.organisation, object_type="report",
                             object_id=report.id, purpose=purpose, stream=io.BytesIO(files.PDF), filename="evidence.pdf")
        db.commit()
        report_id = report.id
        db.close()
    client = race_app.test_client()
    login(client, provider)
    reader = _FormReader(f"/reports/{report_id}/edit")
    reader.feed(client.get(f"/reports/{report_id}/edit").get_data(as_text=True))
    form = {**reader.fields, "confirm": "y", "submit_report": "1"}
    assert "edit_version" in form
    answers = _race(race_app, provider, "POST", f"/reports/{report_id}/edit", form)
    statuses = _statuses(answers)
    # The winner is sent to the report; a click that arrives after it finds the report submitted and is sent
    # there too ("shown as submitted"); those that raced it get 409. Never a 5xx, never a second submission.
    assert set(statuses) <= {302, 409} and statuses[302] >= 1, statuses
    assert all(r.headers["Location"].endswith(f"/reports/{report_id}") for r in answers if r.status_code == 302)
    submitted = _read(race_app, lambda db: db.scalar(sa.select(sa.func.count()).select_from(ReportVersion).where(
        ReportVersion.report_id == report_id, ReportVersion.status != "draft")))
    assert submitted == 1
    status = _read(race_app, lambda db: db.get(MonthlyReport, report_id).status)
    assert status.value == "submitted"
