"""Each indicator's measure and its one time rule, on hand-built data whose right answers are worked out here:
a stock is the same for every period ending in the same month (Q4 = H2 = year), carried months are marked and
bounded by the carry window, a grant starting mid-quarter, cumulative figures never decrease, a running period is
read at its last month."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from portal import clock
from portal.indicators.compute import Filters, compute
from portal.models import Indicator, ReportHireLine, ReportServiceLine, ReportVersion
from portal.reports import services as reports
from tests import factories

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)  # November's report is not due yet; October's is


def month(m: int, year: int = 2025) -> date:
    return date(year, m, 1)


@pytest.fixture
def two_grants(app, session, world, monkeypatch):
    """Grant A (from July 2025) reports July–December 2025, every month accepted.
    Grant B (from July 2025) reports July and August, then stops.
    Grant C starts mid-quarter (1 November 2025), reports November and December; its November is returned once
    and corrected (accepted with 12 instead of 50)."""
    admin, reviewer = world.users["admin"], world.users["reviewer"]
    monkeypatch.setattr(clock, "now", lambda: NOW)
    with app.test_request_context():
        a = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"], start=month(7),
                                   number="MEAS-A")
        b = factories.signed_grant(session, admin, world.orgs["provider_b"], world.orgs["municipality_b"],
                                   start=month(7), number="MEAS-B", service_codes=("day_care",))
        c = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"], start=month(11),
                                   number="MEAS-C", service_codes=("day_care",))
        for m, served in zip(range(7, 13), (20, 22, 24, 26, 28, 30), strict=True):
            factories.report(session, world.users["provider"], a, month(m), served=served, accept_by=reviewer)
        for m, served in ((7, 10), (8, 11)):
            factories.report(session, world.users["provider_b"], b, month(m), served=served, hires={"roma": 2},
                             accept_by=reviewer)
        nov = factories.report(session, world.users["provider"], c, month(11), served=50,
                               explanation="Нова услуга од ноември.")
        reports.return_report(session, reviewer, nov, "Бројот не одговара на решенијата.")
        reports.revise(session, world.users["provider"], nov)
        reports.save(session, world.users["provider"], nov, factories.report_data(session, c, served=12),
                     nov.newest.edit_version)
        reports.submit(session, world.users["provider"], nov)
        reports.accept(session, reviewer, nov)
        factories.report(session, world.users["provider"], c, month(12), served=14, accept_by=reviewer)
        session.commit()
    return {"a": a, "b": b, "c": c}


def observe(app, session, **filters):
    with app.test_request_context():
        found = compute(session, Filters(**{"period_types": ("month", "quarter", "half", "year"),
                                            "start": month(1), "end": month(12, 2026), **filters}), now=NOW)
    return {(o.indicator, o.period, o.dimension, o.category): o for o in found}


def test_a_stock_is_the_same_for_every_period_ending_in_the_same_month(app, session, two_grants):
    o = observe(app, session)
    # December 2025: A current (30), C current (14), B's August is four months back: missing
    december = o[("BEN", "2025-12", "total", "")]
    assert december.value == 30 + 14
    assert (december.grants_current, december.grants_carried, december.grants_missing) == (2, 0, 1)
    for period in ("2025-Q4", "2025-H2", "2025"):
        same = o[("BEN", period, "total", "")]
        assert (same.value, same.as_of_month, same.grants_missing) == (december.value, month(12), 1), period
    # The same holds for every stock and its disaggregations
    for code in ("HTE", "MUN", "BEN_FEMALE"):
        assert o[(code, "2025-Q4", "total", "")].value == o[(code, "2025", "total", "")].value == \
            o[(code, "2025-12", "total", "")].value, code
    assert o[("BEN", "2025-Q4", "sex", "female")].value == o[("BEN", "2025-H2", "sex", "female")].value


def test_carried_months_are_marked_and_bounded_by_the_window(app, session, two_grants):
    o = observe(app, session)
    # B's August (11) carried into September and October (1 and 2 months), not November (3 = the window)
    assert o[("BEN", "2025-09", "total", "")].value == 24 + 11
    october = o[("BEN", "2025-10", "total", "")]
    assert (october.value, october.grants_current, october.grants_carried) == (26 + 11, 1, 1)
    november = o[("BEN", "2025-11", "total", "")]
    assert (november.value, november.grants_current, november.grants_carried, november.grants_missing) == \
        (28 + 12, 2, 0, 1)
    assert o[("HTE", "2025-10", "total", "")].value == 2  # B's hard-to-employ staff carried too
    assert o[("HTE", "2025-11", "total", "")].value == 0
    # A narrower window: B's August no longer reaches October
    session.execute(sa.update(Indicator).where(Indicator.code == "BEN").values(carry_months=2))
    session.commit()
    narrower = observe(app, session)
    assert narrower[("BEN", "2025-10", "total", "")].value == 26
    assert narrower[("BEN", "2025-10", "total", "")].grants_missing == 1
    assert narrower[("BEN", "2025-09", "total", "")].value == 24 + 11


def test_a_grant_starting_mid_quarter(app, session, two_grants):
    o = observe(app, session)
    # C is not expected before November: nothing missing for it in October
    assert o[("BEN", "2025-10", "total", "")].grants_missing == 0
    assert o[("GRANTS", "2025-Q4", "total", "")].value == 3 and o[("GRANTS", "2025-Q3", "total", "")].value == 2
    new = {m: _new(session, m) for m in range(7, 13)}
    assert o[("BEN_NEW", "2025-Q4", "total", "")].value == new[10] + new[11] + new[12]
    # the flow of a quarter is its months added up; the corrected November counts once, with its accepted figure
    assert o[("BEN_NEW", "2025-11", "total", "")].value == new[11]
    assert o[("BEN", "2025-11", "service_type", "day_care")].value == 12  # C's accepted correction, not 50


def _new(session, m: int, column: str = "new_this_month") -> int:
    """Hand count: the new beneficiaries of the accepted versions of month m."""
    from portal.models import MonthlyReport

    return session.scalar(sa.select(sa.func.coalesce(sa.func.sum(getattr(ReportServiceLine, column)), 0))
                          .join(ReportVersion, ReportVersion.id == ReportServiceLine.version_id)
                          .join(MonthlyReport, sa.and_(MonthlyReport.id == ReportVersion.report_id,
                                                       MonthlyReport.accepted_version == ReportVersion.version))
                          .where(MonthlyReport.month == month(m)))


def test_cumulative_figures_add_every_month_since_the_start_and_never_decrease(app, session, two_grants):
    o = observe(app, session)
    since = 0
    for m in range(7, 13):
        since += _new(session, m)
        assert o[("BEN_CUM", f"2025-{m:02d}", "total", "")].value == since
    women = sum(_new(session, m, "new_female") for m in range(7, 13))
    assert o[("BEN_CUM", "2025", "sex", "female")].value == women
    assert o[("BEN_CUM", "2025", "sex", "female")].value + o[("BEN_CUM", "2025", "sex", "male")].value == since
    # 2026: no report, still the same people served since the start
    assert o[("BEN_CUM", "2026-Q1", "total", "")].value == since
    hired = session.scalar(sa.select(sa.func.sum(ReportHireLine.new_this_month)))
    assert o[("HTE_CUM", "2026", "total", "")].value == hired
    for code in ("BEN_CUM", "HTE_CUM", "COMMITTED"):
        series = [o[key].value for key in sorted(k for k in o if k[0] == code and k[2] == "total" and k[1][5:].isdigit())]
        assert series and series == sorted(series), code


def test_a_running_period_is_read_at_its_last_month(app, session, two_grants):
    o = observe(app, session)
    # Now is November 2026: 2026-Q4, 2026-H2 and 2026 stand for November 2026; nothing accepted in 2026, so
    # every stock is empty and says that the three grants are missing
    for period in ("2026-11", "2026-Q4", "2026-H2", "2026"):
        stock = o[("BEN", period, "total", "")]
        assert (stock.value, stock.as_of_month, stock.grants_missing) == (0, month(11, 2026), 3), period
    assert ("BEN", "2026-12", "total", "") not in o  # no period after this month


def test_the_first_wording_of_a_stock_takes_the_new_time_rule_and_an_edited_one_stays(app, session):
    from portal.indicators.catalogue import PREVIOUS_DEFINITIONS, load_defaults

    ben = session.scalar(sa.select(Indicator).where(Indicator.code == "BEN"))
    hte = session.scalar(sa.select(Indicator).where(Indicator.code == "HTE"))
    ben.definition_en = PREVIOUS_DEFINITIONS["BEN"] + " report in the period, added up over the grants."
    hte.definition_en = "Our own definition, agreed with the task team."
    session.commit()
    assert load_defaults(session)["definitions"] == 1
    assert ben.definition_en.startswith("Stock at the period's end") and ben.measure == "stock"
    assert hte.definition_en == "Our own definition, agreed with the task team."
