"""The checks of a monthly report: property-based tests (hypothesis) for the sum rules, and one test per
blocking rule and per warning. Pure functions: no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.reports import validation
from portal.reports.validation import Context, HireFigures, ReportData, ServiceFigures

MONTH = date(2026, 10, 1)
CONTEXT = Context(month=MONTH, first_month=date(2026, 4, 1), last_month=date(2028, 3, 1), current_month=date(2026, 12, 1),
                  capacity=40, previous=None)
small = st.integers(min_value=0, max_value=400)


@pytest.fixture(autouse=True)
def _request_context(app):
    with app.test_request_context():
        yield


def partition(total: int, parts: int):
    """A strategy for `parts` non-negative integers adding up to `total`."""
    if parts == 1:
        return st.just([total])
    return st.integers(min_value=0, max_value=total).flatmap(
        lambda first: partition(total - first, parts - 1).map(lambda rest: [first, *rest]))


@st.composite
def within(draw, total: int, caps: list[int]):
    """`len(caps)` non-negative integers adding up to `total` (at most the sum of `caps`), each at most its cap."""
    parts = []
    for index, cap in enumerate(caps):
        rest = sum(caps[index + 1:])
        part = draw(st.integers(min_value=max(0, total - rest), max_value=min(cap, total)))
        parts.append(part)
        total -= part
    return parts


@st.composite
def valid_line(draw, service_type_id=1):
    total = draw(small)
    female, male = draw(partition(total, 2))
    ages = draw(partition(total, 4))
    disability = draw(partition(total, 2))
    new, continuing = draw(partition(total, 2))
    new_by_sex = draw(within(new, [female, male]))
    new_ages = draw(within(new, ages))
    new_disability = draw(within(new, disability))
    return ServiceFigures(service_type_id=service_type_id, label="Home help", total=total, female=female, male=male,
                          age_0_17=ages[0], age_18_64=ages[1], age_65_79=ages[2], age_80_plus=ages[3],
                          with_disability=disability[0], without_disability=disability[1], new_this_month=new,
                          new_female=new_by_sex[0], new_male=new_by_sex[1], new_age_0_17=new_ages[0],
                          new_age_18_64=new_ages[1], new_age_65_79=new_ages[2], new_age_80_plus=new_ages[3],
                          new_with_disability=new_disability[0], new_without_disability=new_disability[1],
                          continuing=continuing, left_this_month=draw(st.integers(0, total)), service_hours=draw(small))


@st.composite
def valid_report(draw):
    lines = [draw(valid_line(1)), draw(valid_line(2))]
    staff = draw(st.integers(0, 60))
    women, men = draw(partition(staff, 2))
    groups = draw(partition(draw(st.integers(0, staff)), 3))
    hires = []
    for category_id, total in enumerate(groups, start=1):
        new, continuing = draw(partition(total, 2))
        female = draw(st.integers(0, total))
        hires.append(HireFigures(category_id=category_id, label=f"Group {category_id}", total=total, female=female,
                                 new_this_month=new, new_female=draw(st.integers(0, min(new, female))),
                                 continuing=continuing))
    return ReportData(services=lines, hires=hires, staff_total=staff, staff_female=women, staff_male=men,
                      certified_caregivers=draw(st.integers(0, staff)), explanation="Објаснување.")


def blocking(data: ReportData, context: Context = CONTEXT) -> list[validation.Issue]:
    return validation.check(data, context).errors


@settings(max_examples=200, deadline=None)
@given(valid_report())
def test_figures_whose_breakdowns_add_up_pass(data):
    assert blocking(data) == []


SUM_FIELDS = ["female", "male", "age_0_17", "age_18_64", "age_65_79", "age_80_plus", "with_disability",
              "without_disability", "new_this_month", "continuing"]
NEW_GROUPS = [parts for parts, _what in validation.NEW_SUMS]


@settings(max_examples=200, deadline=None)
@given(valid_report(), st.sampled_from(SUM_FIELDS), st.integers(min_value=1, max_value=50))
def test_any_breakdown_that_does_not_add_up_is_refused_and_named(data, name, extra):
    line = data.services[0]
    setattr(line, name, getattr(line, name) + extra)
    issues = blocking(data)
    assert issues, f"{name} + {extra} passed"
    assert all(issue.path[:2] == ("service", 1) for issue in issues)
    assert any(line.label in issue.message and str(line.total) in issue.message for issue in issues)


@settings(max_examples=200, deadline=None)
@given(valid_report(), st.sampled_from([name for parts in NEW_GROUPS for name in parts]), st.integers(1, 50))
def test_any_new_breakdown_that_does_not_add_up_to_the_new_is_refused_and_named(data, name, extra):
    line = data.services[0]
    setattr(line, name, getattr(line, name) + extra)
    issues = blocking(data)
    group = next(parts for parts in NEW_GROUPS if name in parts)
    assert ("service", 1, group[0]) in [issue.path for issue in issues]
    assert all(issue.path[:2] == ("service", 1) for issue in issues)
    assert any(line.label in issue.message and str(line.new_this_month) in issue.message for issue in issues)


@settings(max_examples=300, deadline=None)
@given(valid_report(), st.sampled_from([(a, b) for parts in NEW_GROUPS for a in parts for b in parts if a != b]),
       st.integers(1, 50))
def test_a_new_part_above_the_same_part_of_those_served_is_refused_exactly_then(data, pair, moved):
    """Moving new beneficiaries from one part to another keeps the sum: only the part rule can break."""
    line = data.services[0]
    taker, giver = pair
    moved = min(moved, getattr(line, giver))
    setattr(line, taker, getattr(line, taker) + moved)
    setattr(line, giver, getattr(line, giver) - moved)
    over = getattr(line, taker) > getattr(line, validation.NEW_PART_OF[taker])
    assert [issue.path for issue in blocking(data)] == ([("service", 1, taker)] if over else [])


@settings(max_examples=200, deadline=None)
@given(valid_report(), st.integers(0, 60))
def test_newly_hired_women_are_at_most_the_newly_hired_and_the_women(data, women):
    hire = data.hires[0]
    hire.new_female = women
    broken = (women > hire.new_this_month) + (women > hire.female)
    assert [issue.path for issue in blocking(data)] == [("hire", 1, "new_female")] * broken


@settings(max_examples=200, deadline=None)
@given(valid_report(), st.integers(min_value=1, max_value=20))
def test_hard_to_employ_staff_never_exceed_the_staff(data, extra):
    data.hires[0].total += extra
    data.hires[0].continuing += extra
    over = data.hard_to_employ > data.staff_total
    assert any(issue.path == ("staff", "staff_total") for issue in blocking(data)) == over


@settings(max_examples=200, deadline=None)
@given(valid_report(), st.integers(min_value=1, max_value=20))
def test_new_and_continuing_staff_add_up_to_the_group(data, extra):
    data.hires[1].new_this_month += extra
    assert ("hire", 2, "new_this_month") in [issue.path for issue in blocking(data)]


@settings(max_examples=100, deadline=None)
@given(valid_report(), st.integers(min_value=1, max_value=10))
def test_staff_by_sex_adds_up_to_the_staff(data, extra):
    data.staff_male += extra
    assert [issue.path for issue in blocking(data)] == [("staff", "staff_female")]


@pytest.mark.parametrize("value", [-1, "12 лица", 2.5, None, True])
def test_figures_are_whole_numbers_zero_or_more(value):
    data = ReportData(services=[ServiceFigures(service_type_id=7, label="Дневен центар", total=value)])
    issues = validation.check_values(data).errors
    assert [issue.path for issue in issues] == [("service", 7, "total")]
    assert "Дневен центар" in issues[0].message


def test_a_draft_may_be_saved_with_open_sums_but_not_submitted():
    data = ReportData(services=[ServiceFigures(service_type_id=1, label="x", total=10, female=3)])
    assert validation.check_values(data).ok
    assert not validation.check(data, CONTEXT).ok


def test_the_month_must_lie_within_the_grant_and_not_in_the_future():
    data = ReportData()
    before = replace(CONTEXT, month=date(2026, 3, 1))
    future = replace(CONTEXT, month=date(2027, 1, 1))
    after = replace(CONTEXT, month=date(2028, 4, 1), current_month=date(2028, 5, 1))
    for context in (before, future, after):
        assert [issue.path for issue in blocking(data, context)] == [("month",)]
    assert blocking(data, replace(CONTEXT, month=date(2026, 12, 1))) == []  # the current month may be reported


def test_leavers_cannot_outnumber_those_served_and_certified_caregivers_the_staff():
    data = ReportData(services=[ServiceFigures(service_type_id=1, label="x", total=2, female=2, age_80_plus=2,
                                               without_disability=2, continuing=2, left_this_month=3)],
                      staff_total=1, staff_female=1, certified_caregivers=2)
    assert {issue.path for issue in blocking(data)} == {("service", 1, "left_this_month"), ("staff", "certified_caregivers")}


def test_the_other_group_needs_a_note():
    data = ReportData(hires=[HireFigures(category_id=9, label="Other", requires_note=True, total=1, new_this_month=1)],
                      staff_total=1, staff_female=1)
    assert [issue.path for issue in blocking(data)] == [("hire", 9, "note")]
    data.hires[0].note = "Лице без државјанство"
    assert blocking(data) == []


def _served(n: int, staff: int = 5) -> ReportData:
    return ReportData(services=[ServiceFigures(service_type_id=1, label="x", total=n, female=n, age_80_plus=n,
                                               with_disability=n, continuing=n)],
                      staff_total=staff, staff_female=staff)


@pytest.mark.parametrize(("served", "staff", "previous", "codes"), [
    (60, 5, None, []),                          # exactly 150 % of 40: no warning
    (61, 5, None, ["capacity"]),                # above 150 %
    (30, 5, (20, 5), []),                       # +50 % exactly
    (31, 5, (20, 5), ["change_beneficiaries"]),
    (9, 5, (20, 5), ["change_beneficiaries"]),  # a fall counts too
    (20, 8, (20, 5), ["change_staff"]),
    (20, 5, (0, 0), []),                        # no base to compare with
    (12, 0, None, ["no_staff"]),
])
def test_warnings(served, staff, previous, codes):
    result = validation.check(_served(served, staff), replace(CONTEXT, previous=previous))
    assert [w.code for w in result.warnings] == codes


def test_warnings_can_be_overridden_only_with_an_explanation():
    data = _served(61)
    result = validation.check(data, CONTEXT)
    assert [issue.path for issue in result.errors] == [("explanation",)]
    data.explanation = "ЦСР упати нови корисници по затворањето на соседниот центар."
    result = validation.check(data, CONTEXT)
    assert result.ok and [w.code for w in result.warnings] == ["capacity"]
    assert "150%" in result.warnings[0].message and "61" in result.warnings[0].message
