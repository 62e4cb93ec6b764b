"""The reporting-rate page: each month of each grant classified as on time, late, returned, missing or not due;
totals per month; filters; who sees what; and a number of SQL statements that does not grow with the grants."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.grants import services as grants
from portal.models import OrgKind, Role, ServiceType
from portal.reports import completeness
from portal.reports import services as reports
from portal.reports.services import Timeliness
from tests import factories
from tests.conftest import count_queries, login


def _grants(app, session, world, count: int, municipality=None, codes=("home_help_care",)):
    """`count` grants of new providers from three months ago, each with its first month accepted on time."""
    made = []
    with app.test_request_context():
        for _ in range(count):
            provider = factories.org(session, OrgKind.PROVIDER)
            user = factories.user(session, Role.PROVIDER, provider)
            agreement = factories.signed_grant(session, world.users["admin"], provider,
                                               municipality or world.orgs["municipality"], service_codes=codes)
            factories.report(session, user, agreement, agreement.current.start_date, accept_by=world.users["reviewer"])
            made.append(agreement)
        session.commit()
    return made


def test_each_month_is_classified_and_counted(app, session, world):
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                           world.orgs["municipality"], start=factories.months_ago(4))
        provider, reviewer = world.users["provider"], world.users["reviewer"]
        m = [grants.add_months(agreement.current.start_date, n) for n in range(5)]  # m[4] is the current month
        on_time = factories.report(session, provider, agreement, m[0], accept_by=reviewer)
        on_time.first_submitted_at = reports.deadline(reports.get_programme(session), m[0]) - timedelta(hours=1)
        on_time.submitted_on_time = True  # as the service decides at a first submission before the due date
        factories.report(session, provider, agreement, m[1])  # submitted now, long after its due date
        returned = factories.report(session, provider, agreement, m[3])
        reports.return_report(session, reviewer, returned, "Поправете.")
        session.commit()
        data = completeness.build(session, world.users["reviewer"], completeness.Filters())
    row = next(r for r in data.grant_rows if r.agreement_id == agreement.id)
    by_month = dict(zip(data.months, [cell.status for cell in row.cells], strict=True))
    assert [by_month[month] for month in m] == [Timeliness.ON_TIME, Timeliness.LATE, Timeliness.MISSING,
                                                Timeliness.RETURNED, Timeliness.OPEN]
    assert by_month[grants.add_months(m[0], -1)] is None  # before the grant
    totals = {t.month: t for t in data.totals}
    assert (totals[m[0]].due, totals[m[0]].rate(), totals[m[0]].rate(Timeliness.ON_TIME)) == (1, 100, 100)
    assert (totals[m[1]].rate(), totals[m[1]].rate(Timeliness.ON_TIME)) == (100, 0)
    assert (totals[m[2]].due, totals[m[2]].rate()) == (1, 0)
    assert totals[m[4]].due == 0 and totals[m[4]].rate() is None  # nothing due yet
    place = next(r for r in data.municipality_rows if r.grants and row.municipality == r.municipality)
    cells = dict(zip(data.months, place.cells, strict=True))
    assert [(cells[month].reported, cells[month].due) for month in m] == [(1, 1), (1, 1), (0, 1), (0, 1), (0, 0)]


def test_filters_and_who_sees_which_grants(app, client, session, world):
    home = _grants(app, session, world, 1)[0]
    other = _grants(app, session, world, 1, municipality=world.orgs["municipality_b"], codes=("day_care",))[0]
    login(client, world.users["reviewer"])
    page = client.get("/reports/completeness").get_data(as_text=True)
    assert home.number in page and other.number in page
    day_care = session.scalar(sa.select(ServiceType.id).where(ServiceType.code == "day_care"))
    page = client.get(f"/reports/completeness?service_type={day_care}").get_data(as_text=True)
    assert home.number not in page and other.number in page
    regions = {org.municipality.region_id for org in (world.orgs["municipality"], world.orgs["municipality_b"])}
    page = client.get(f"/reports/completeness?region={world.orgs['municipality'].municipality.region_id}").get_data(
        as_text=True)
    assert home.number in page and (other.number in page) == (len(regions) == 1)
    login(client, world.users["municipality"])
    page = client.get("/reports/completeness").get_data(as_text=True)
    assert home.number in page and other.number not in page
    login(client, world.users["monitor"])
    page = client.get("/reports/completeness").get_data(as_text=True)
    assert home.number in page and not re.search(r'href="/reports/\d', page)  # aggregates, no links into reports
    login(client, world.users["provider"])
    assert client.get("/reports/completeness").status_code == 403


def test_the_download_is_utf8_with_a_bom(app, client, session, world):
    agreement = _grants(app, session, world, 1)[0]
    login(client, world.users["admin"])
    response = client.get("/reports/completeness.csv")
    assert response.data.startswith("\ufeff".encode())
    assert agreement.number in response.get_data(as_text=True)
    assert client.get("/reports/completeness.xlsx").status_code == 200
    assert client.get("/reports/completeness.pdf").status_code == 404


# municipalities: one count less; the financial reports' section: two (the counts per state, the first overdue periods)
@pytest.mark.parametrize(("by", "expected"), [("grant", 8), ("municipality", 7)])
def test_the_page_answers_in_the_same_number_of_statements_for_1_or_7_grants(app, client, session, world, by, expected):
    _grants(app, session, world, 1)
    login(client, world.users["reviewer"])
    assert client.get(f"/reports/completeness?by={by}").status_code == 200
    with count_queries(app) as few:
        client.get(f"/reports/completeness?by={by}")
    _grants(app, session, world, 6, municipality=world.orgs["municipality_b"])
    with count_queries(app) as many:
        response = client.get(f"/reports/completeness?by={by}")
    assert response.status_code == 200
    assert (few.count, many.count) == (expected, expected), "\n".join(many.statements)


@pytest.mark.parametrize(("role", "path", "expected"), [
    ("provider", "/reports", 6), ("reviewer", "/reports?status=all", 4),
])
def test_report_lists_do_not_grow_with_the_grants(app, client, session, world, role, path, expected):
    def more(count):
        with app.test_request_context():
            for _ in range(count):
                agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                                   world.orgs["municipality"])
                factories.report(session, world.users["provider"], agreement, agreement.current.start_date)
            session.commit()

    more(1)
    login(client, world.users[role])
    assert client.get(path).status_code == 200
    with count_queries(app) as few:
        client.get(path)
    more(4)
    with count_queries(app) as many:
        assert client.get(path).status_code == 200
    assert (few.count, many.count) == (expected, expected), "\n".join(many.statements)
