"""The review lists answer in the same number of SQL statements whether a call has one scored
application or seven: nothing is loaded per row."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from portal.applications import review
from portal.applications import services as applications
from portal.calls import services as calls
from portal.documents import services as documents
from portal.eois import services as eois
from portal.models import CallKind, OrgKind, Role
from tests import factories, files
from tests.conftest import count_queries, login


@pytest.fixture
def grant(app, world, session, tmp_path):
    app.extensions["storage"] = None
    app.config.update(STORAGE_BACKEND="local", UPLOAD_DIR=tmp_path / "uploads")
    admin, reviewer = world.users["admin"], world.users["reviewer"]
    with app.test_request_context():
        eoi_call = factories.eoi_call(session, admin)
        eois.decide(session, reviewer, factories.filled_eoi(session, world.users["municipality"], eoi_call), True, "Да.")
        call = factories.eoi_call(session, admin, kind=CallKind.GRANT, linked_call_id=eoi_call.id,
                                  grant_ceiling_eur=Decimal("200000.00"), required_documents=["work_plan"])
        calls.set_rubric(session, admin, call, [
            calls.CriterionData("Потреба", "Nevoja", "Need", "", Decimal("40"), Decimal("1")),
            calls.CriterionData("Квалитет", "Cilësia", "Quality", "", Decimal("30"), Decimal("1.5"))])
        calls.set_review_settings(session, admin, call, calls.ReviewSettings(None, False, [], 2, Decimal("20"), reviewer.id),
                                  call.version_id)
        world.second_reviewer = factories.user(session, Role.REVIEWER, world.orgs["ministry"])
        session.commit()
    yield call
    app.extensions["storage"] = None


def _scored_application(session, world, call, provider_user, seed: int) -> None:
    municipality = world.orgs["municipality"]
    application = applications.start(session, provider_user, call, municipality.id)
    applications.save(session, provider_user, application, applications.ApplicationData(
        title=f"Услуга {seed}", summary="Помош во домот.", service_type_ids=[call.service_types[0].id],
        beneficiaries_per_month=30, start_month=factories.a_date(60), duration_months=24, certified_caregivers=3,
        cofinancing_eur=Decimal("9000.00"), positions=[applications.PositionRow("Негувателка", 5)],
        lines=[applications.LineRow("staff", "Плати", Decimal("5"), Decimal("600.00"), 24)]), application.version_id)
    documents.upload(session, provider_user, owner=application.organisation, object_type="application",
                     object_id=application.id, purpose="work_plan", stream=io.BytesIO(files.PDF), filename="plan.pdf")
    applications.submit(session, provider_user, application)
    applications.endorse(session, world.users["municipality"], application, True, "")
    review.screen(session, world.users["admin"], application, {item: True for item in review.checklist(call)}, "")
    for reviewer, base in ((world.users["reviewer"], 30), (world.second_reviewer, 28)):
        assignment = review.assign(session, world.users["admin"], application, reviewer)
        review.declare(session, reviewer, assignment, False, "")
        review.submit_scores(session, reviewer, assignment, {
            c.id: review.ScoreInput(Decimal(min(base - seed % 5, int(c.max_score))), "Образложение.")
            for c in call.criteria})


def _add(app, session, world, call, count: int) -> None:
    with app.test_request_context():
        for n in range(count):
            provider = factories.org(session, OrgKind.PROVIDER)
            _scored_application(session, world, call, factories.user(session, Role.PROVIDER, provider), n)
        session.commit()


# (role, page, exact number of SQL statements per request, the session's user lookup included)
PAGES = [
    ("reviewer", "/review/calls/{call}/applications", 8),
    ("reviewer", "/review/calls/{call}/ranking", 11),
    ("finance", "/review/calls/{call}/ranking.xlsx", 10),
    ("reviewer", "/review/assignments", 3),
    ("municipality", "/applications", 2),
]


@pytest.mark.parametrize(("role", "path", "expected"), PAGES)
def test_review_pages_do_not_grow_with_applications(app, client, world, session, grant, role, path, expected):
    _add(app, session, world, grant, 1)
    login(client, world.users[role])
    url = path.format(call=grant.id)
    assert client.get(url).status_code == 200
    with count_queries(app) as few:
        client.get(url)
    _add(app, session, world, grant, 6)
    with count_queries(app) as many:
        response = client.get(url)
    assert response.status_code == 200
    assert many.count == few.count, "\n".join(many.statements)
    assert many.count == expected, "\n".join(many.statements)
    if path.endswith("/applications") and role == "reviewer":
        assert response.get_data(as_text=True).count("tag--submitted") == 7
    if path.endswith("/ranking"):
        body = response.get_data(as_text=True)
        assert body.count('class="num">') >= 7 * 4
        ranking = review.ranking(session, grant)
        assert len(ranking.rows) == 7 and not ranking.not_ready
