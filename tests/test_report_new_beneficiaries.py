"""The new beneficiaries by sex, age band and disability, and the newly hired hard-to-employ women (issue 15), as a
provider types them in the form and as the report, its history and its review show them. The rules themselves are
tested in test_report_validation.py (properties) and test_report_rules_exact.py (exact messages)."""

from __future__ import annotations

import re

from flask_babel import force_locale
from flask_babel import gettext as _

from portal.models import MonthlyReport, ReportStatus
from portal.models.reports import NEW_BREAKDOWN_FIELDS
from portal.reports import services as reports
from portal.reports import validation
from tests import factories
from tests.conftest import login
from tests.test_reports import _form, grant  # noqa: F401  (the fixture)


def test_the_form_names_a_broken_new_breakdown_in_the_users_language_and_keeps_what_was_typed(app, client, session,
                                                                                                grant):  # noqa: F811
    provider = grant.users["provider"]
    with app.test_request_context():
        report = reports.start(session, provider, grant.grant, grant.month)
        reports.save(session, provider, report, factories.report_data(session, grant.grant, served=30),
                     report.newest.edit_version)
        session.commit()
    login(client, provider)
    line = report.newest.services[0]
    type_id = line.service_type_id
    page = client.get(f"/reports/{report.id}/edit").get_data(as_text=True)
    for name in NEW_BREAKDOWN_FIELDS:
        assert f'id="service-{type_id}-{name}"' in page and f'for="service-{type_id}-{name}"' in page
    assert re.search(r'id="hire-\d+-new_female"', page)  # the newly hired women of each hard-to-employ group
    # 20 new women and girls of 15 served, and 20 + 15 new is not the 30 new this month.
    response = client.post(f"/reports/{report.id}/edit", data=_form(report, {f"service-{type_id}-new_female": "20"},
                                                                     submit_report="1", confirm="y"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'href="#service-{type_id}-new_female"' in page and 'value="20"' in page
    rule = "%(service)s: %(what)s add up to %(sum)d, but those new this month are %(new)d."
    with app.test_request_context(), force_locale(provider.preferred_language):
        expected = _(rule, service=line.service_type.name(), what=validation.NEW_SUMS[0][1], sum=35, new=30)
        assert provider.preferred_language != "en" and _(rule) != rule  # said in the provider's language
    assert expected in page
    session.expire_all()
    stored = session.get(MonthlyReport, report.id)
    assert stored.status == ReportStatus.DRAFT and stored.newest.services[0].new_female == 20  # the draft keeps it
    # Corrected: 14 new women and girls, 16 new men and boys (of 15 and 15 served) — submitted.
    response = client.post(f"/reports/{report.id}/edit", data=_form(stored, {
        f"service-{type_id}-new_female": "14", f"service-{type_id}-new_male": "16"}, submit_report="1", confirm="y"))
    assert response.status_code == 422  # 16 new men and boys of the 15 served
    assert f'href="#service-{type_id}-new_male"' in response.get_data(as_text=True)
    session.expire_all()
    stored = session.get(MonthlyReport, report.id)
    response = client.post(f"/reports/{report.id}/edit", data=_form(stored, {
        f"service-{type_id}-new_female": "15", f"service-{type_id}-new_male": "15"}, submit_report="1", confirm="y"))
    assert response.status_code == 302
    session.expire_all()
    stored = session.get(MonthlyReport, report.id)
    assert stored.status == ReportStatus.SUBMITTED and stored.newest.services[0].new_male == 15


def test_the_report_its_history_and_its_review_show_the_new_figures(app, client, session, grant):  # noqa: F811
    provider, reviewer = grant.users["provider"], grant.users["reviewer"]
    with app.test_request_context():
        data = factories.report_data(session, grant.grant, served=30, staff=8, hires={"roma": 3})
        data.hires[0].new_female, data.hires[0].female = 2, 2
        report = factories.report(session, provider, grant.grant, grant.month, data=data)
        reports.return_report(session, reviewer, report, "Проверете ги новите корисници.")
        reports.revise(session, provider, report)
        version = report.newest
        assert version.hires[0].new_female == 2 and version.services[0].new_age_65_79 == 10  # the copy keeps them
        changed = reports.data_of(session, version)
        changed.services[0].age_65_79, changed.services[0].age_80_plus = 9, 12
        changed.services[0].new_age_65_79, changed.services[0].new_age_80_plus = 9, 12
        reports.save(session, provider, report, changed, version.edit_version)
        reports.submit(session, provider, report)
        session.commit()
        with force_locale(reviewer.preferred_language):
            new_women = str(validation.HIRE_LABELS["new_female"])
            new_old = str(validation.BENEFICIARY_LABELS["new_age_65_79"])
    other = app.test_client()
    login(other, reviewer)
    page = other.get(f"/reports/{report.id}").get_data(as_text=True)
    assert 'id="review"' in page
    assert new_women in page and new_old in page  # in the figures and in the changes between versions
    history = page.split('id="history"')[1]
    assert f": {new_old}</td><td>10</td><td>9</td>" in history
