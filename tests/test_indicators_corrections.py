"""Indicators with corrections in every state and with returned months: only the accepted version of a
month counts — never a correction in progress, never a superseded version beside the one that replaced it.

One grant (provider A, municipality A, home help) from January 2025; figures are beneficiaries served,
every one new that month (factories.report_data):

| month | history                                                              | counts |
|-------|----------------------------------------------------------------------|--------|
| Jan   | 28 accepted; correction requested, 10 typed in the draft             | 28     |
| Feb   | 30 accepted; correction to 10 submitted                              | 30     |
| Mar   | 30 accepted; correction to 10 submitted and returned                 | 30     |
| Apr   | 20 accepted; corrected to 25 (accepted); corrected again to 26 (accepted) | 26 |
| May   | 50 submitted and returned, never resubmitted                         | —      |
| Jun   | 60 submitted and returned; revised to 35 and accepted                | 35     |
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from portal import clock
from portal.indicators.compute import Filters, compute
from portal.models import ReportStatus, VersionStatus
from portal.reports import services as reports
from tests import factories

JAN, FEB, MAR, APR, MAY, JUN = (date(2025, m, 1) for m in range(1, 7))
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
WHY = "Објаснување на промената."


def _data(session, grant, served):
    return factories.report_data(session, grant, served=served, explanation=WHY)


def _accepted(session, provider, reviewer, grant, month, served):
    return factories.report(session, provider, grant, month, accept_by=reviewer, data=_data(session, grant, served))


def _correct(session, provider, report, grant, served, *, submit=True):
    reports.request_correction(session, provider, report, "Погрешно внесено.")
    reports.save(session, provider, report, _data(session, grant, served), report.newest.edit_version)
    if submit:
        reports.submit(session, provider, report)


@pytest.fixture
def history(app, session, world, monkeypatch):
    provider, reviewer = world.users["provider"], world.users["reviewer"]
    monkeypatch.setattr(clock, "now", lambda: NOW)
    with app.test_request_context():
        grant = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                       start=JAN, number="CORR-1")
        jan = _accepted(session, provider, reviewer, grant, JAN, 28)
        _correct(session, provider, jan, grant, 10, submit=False)                  # requested (a draft)
        feb = _accepted(session, provider, reviewer, grant, FEB, 30)
        _correct(session, provider, feb, grant, 10)                                # submitted
        mar = _accepted(session, provider, reviewer, grant, MAR, 30)
        _correct(session, provider, mar, grant, 10)
        reports.return_report(session, reviewer, mar, "Не се согласува.")          # returned
        apr = _accepted(session, provider, reviewer, grant, APR, 20)
        _correct(session, provider, apr, grant, 25)
        reports.accept(session, reviewer, apr)                                     # accepted; 20 superseded
        _correct(session, provider, apr, grant, 26)
        reports.accept(session, reviewer, apr)                                     # accepted; 25 superseded
        may = factories.report(session, provider, grant, MAY, data=_data(session, grant, 50))
        reports.return_report(session, reviewer, may, "Проверете.")                # a returned month
        jun = factories.report(session, provider, grant, JUN, data=_data(session, grant, 60))
        reports.return_report(session, reviewer, jun, "Проверете.")
        reports.revise(session, provider, jun)
        reports.save(session, provider, jun, _data(session, grant, 35), jun.newest.edit_version)
        reports.submit(session, provider, jun)
        reports.accept(session, reviewer, jun)
        session.commit()
        observations = compute(session, Filters(period_types=("month", "quarter"), start=JAN, end=JUN), now=NOW)
    return {"reports": {"jan": jan, "feb": feb, "mar": mar, "apr": apr, "may": may, "jun": jun},
            "values": {(o.indicator, o.period): o.value for o in observations if o.dimension == "total"},
            "carried": {(o.indicator, o.period): (o.grants_current, o.grants_carried, o.grants_missing)
                        for o in observations if o.dimension == "total"}}


def test_the_states_are_the_ones_described(history):
    r = history["reports"]
    statuses = {name: [v.status for v in report.versions] for name, report in r.items()}
    assert statuses == {
        "jan": [VersionStatus.ACCEPTED, VersionStatus.DRAFT],
        "feb": [VersionStatus.ACCEPTED, VersionStatus.SUBMITTED],
        "mar": [VersionStatus.ACCEPTED, VersionStatus.RETURNED],
        "apr": [VersionStatus.SUPERSEDED, VersionStatus.SUPERSEDED, VersionStatus.ACCEPTED],
        "may": [VersionStatus.RETURNED],
        "jun": [VersionStatus.RETURNED, VersionStatus.ACCEPTED],
    }
    assert [r[name].accepted_version for name in ("jan", "feb", "mar", "apr", "may", "jun")] == [1, 1, 1, 3, None, 2]
    assert r["may"].status == ReportStatus.RETURNED


def test_each_month_counts_its_accepted_version_only(history):
    v = history["values"]
    assert v[("BEN", "2025-01")] == 28  # not the 10 of the correction being typed
    assert v[("BEN", "2025-02")] == 30  # not the 10 submitted for review
    assert v[("BEN", "2025-03")] == 30  # not the 10 returned
    assert v[("BEN", "2025-04")] == 26  # not 20 + 25 + 26 = 71, nor the first 20
    assert v[("BEN", "2025-05")] == 26  # returned, never accepted: April's figure carried, and marked so
    may = history["carried"][("BEN", "2025-05")]
    assert may == (0, 1, 0)  # no grant current, one carried, none missing
    assert v[("BEN", "2025-06")] == 35  # the accepted revision, not the returned 60 (nor 95)


def test_quarters_take_the_last_accepted_month_and_add_each_accepted_month_once(history):
    v = history["values"]
    assert v[("BEN", "2025-Q1")] == 30  # the stock: the latest accepted month of the quarter (March)
    assert v[("BEN", "2025-Q2")] == 35  # June (May returned)
    assert v[("BEN_NEW", "2025-Q1")] == 88  # the flow: 28 + 30 + 30
    assert v[("BEN_NEW", "2025-Q2")] == 61  # 26 + 35
