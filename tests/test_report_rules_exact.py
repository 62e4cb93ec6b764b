"""Every blocking rule of a monthly report at once, with the exact field each error is attached to and the
exact message with its figures. Mutation testing showed that an error attached to the wrong field, without
its message or with a wrong sum passed every test; here it does not."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from portal.reports import validation
from portal.reports.validation import Context, HireFigures, Issue, ReportData, ReportWarning, ServiceFigures

CONTEXT = Context(month=date(2025, 1, 1), first_month=date(2025, 1, 1), last_month=date(2026, 12, 1),
                  current_month=date(2026, 11, 1), capacity=40, today=date(2026, 11, 20))


def _data() -> ReportData:
    """One service line (10 served) whose every sum is off by a different amount, staff and hires that break
    each rule once."""
    line = ServiceFigures(service_type_id=7, label="Помош", total=10, female=4, male=5,  # 9
                          age_0_17=1, age_18_64=2, age_65_79=3, age_80_plus=2,  # 8
                          with_disability=5, without_disability=2,  # 7
                          new_this_month=3, continuing=3, left_this_month=11, service_hours=100,  # 6; 11 left
                          new_female=1, new_male=2, new_age_18_64=1, new_age_65_79=1, new_age_80_plus=1,
                          new_with_disability=1, new_without_disability=2)  # the new add up: not broken here
    roma = HireFigures(category_id=3, label="Роми", total=4, female=5, new_this_month=1, new_female=1,
                       continuing=2)  # 3; 5 women
    other = HireFigures(category_id=4, label="Друга", requires_note=True, total=2, female=0, new_this_month=2)
    return ReportData(services=[line], hires=[roma, other], staff_total=5, staff_female=3, staff_male=1,
                      certified_caregivers=6, explanation="Објаснето.")


def test_every_blocking_rule_names_its_field_and_its_figures(app):
    sums = dict((parts[0], what) for parts, what in validation.BENEFICIARY_SUMS)
    with app.test_request_context():
        result = validation.check(_data(), CONTEXT)
        served = "%(service)s: %(what)s add up to %(sum)d, but the beneficiaries served are %(total)d."
        expected = [
            Issue(("service", 7, "female"), _(served, service="Помош", what=sums["female"], sum=9, total=10)),
            Issue(("service", 7, "age_0_17"), _(served, service="Помош", what=sums["age_0_17"], sum=8, total=10)),
            Issue(("service", 7, "with_disability"), _(served, service="Помош", what=sums["with_disability"], sum=7,
                                                       total=10)),
            Issue(("service", 7, "new_this_month"), _(served, service="Помош", what=sums["new_this_month"], sum=6,
                                                      total=10)),
            Issue(("service", 7, "left_this_month"), _(
                "%(service)s: %(left)d left the service, more than the %(total)d served this month.",
                service="Помош", left=11, total=10)),
            Issue(("staff", "staff_female"), _(
                "Women (%(women)d) and men (%(men)d) on the staff add up to %(sum)d, but the staff working on the grant "
                "are %(total)d.", women=3, men=1, sum=4, total=5)),
            Issue(("staff", "certified_caregivers"), _(
                "Certified caregivers (%(n)d) cannot be more than the staff working on the grant (%(total)d).", n=6, total=5)),
            Issue(("staff", "staff_total"), _(
                "Staff from hard-to-employ groups (%(n)d) cannot be more than the staff working on the grant (%(total)d): "
                "count each person once, under one primary group.", n=6, total=5)),
            Issue(("hire", 3, "new_this_month"), _(
                "%(group)s: newly hired (%(new)d) and continuing (%(old)d) add up to %(sum)d, but the staff from this "
                "group are %(total)d.", group="Роми", new=1, old=2, sum=3, total=4)),
            Issue(("hire", 3, "female"), _(
                "%(group)s: the women (%(n)d) cannot be more than the staff from this group (%(total)d).",
                group="Роми", n=5, total=4)),
            Issue(("hire", 4, "note"), _("%(group)s: say which group these staff belong to in the note.", group="Друга")),
        ]
        assert [(i.path, str(i.message)) for i in result.errors] == [(i.path, str(i.message)) for i in expected]
        assert not result.ok


def test_figures_that_add_up_pass_and_each_rule_is_an_inequality_not_an_off_by_one(app):
    data = _data()
    line, roma, other = data.services[0], data.hires[0], data.hires[1]
    line.male, line.age_80_plus, line.without_disability, line.continuing, line.left_this_month = 6, 4, 5, 7, 10
    data.staff_male, data.certified_caregivers = 2, 5
    roma.female, roma.continuing, roma.total, roma.new_this_month = 3, 2, 3, 1
    other.note, data.staff_total, data.staff_female = "Самохрани родители", 6, 4
    data.certified_caregivers = 6  # equal to the staff: allowed
    with app.test_request_context():
        result = validation.check(data, CONTEXT)
    assert result.errors == []
    assert data.hard_to_employ == 5 and data.beneficiaries == 10


def _new_data() -> ReportData:
    """10 served, 4 of them new; every sum adds up and every new part is within its served part."""
    line = ServiceFigures(service_type_id=7, label="Помош", total=10, female=6, male=4, age_18_64=2, age_65_79=5,
                          age_80_plus=3, with_disability=3, without_disability=7, new_this_month=4, continuing=6,
                          service_hours=40, new_female=3, new_male=1, new_age_18_64=1, new_age_65_79=2, new_age_80_plus=1,
                          new_with_disability=1, new_without_disability=3)
    roma = HireFigures(category_id=3, label="Роми", total=3, female=2, new_this_month=2, new_female=1, continuing=1)
    return ReportData(services=[line], hires=[roma], staff_total=4, staff_female=3, staff_male=1,
                      explanation="Објаснето.")


def test_the_new_beneficiaries_and_newly_hired_women_rules_name_their_field_and_figures(app):
    """Issue 15: the new this month broken down by sex, age band and disability, each breakdown adding up to the
    new and each part within the same part of those served; newly hired women within the newly hired and the women."""
    sums = dict((parts[0], what) for parts, what in validation.NEW_SUMS)
    labels = validation.BENEFICIARY_LABELS
    data = _new_data()
    line, roma = data.services[0], data.hires[0]
    line.new_female, line.new_male = 5, 0  # 5 ≠ 4 new (5 ≤ 6 women: within)
    line.new_age_80_plus = 4  # the ages add up to 7, and 4 new aged 80+ of 3 served
    line.new_with_disability, line.new_without_disability = 4, 0  # 4 = 4, but 4 new with a disability of 3 served
    roma.new_female = 3  # 3 newly hired women: more than the 2 newly hired and the 2 women
    with app.test_request_context():
        result = validation.check(data, CONTEXT)
        new_sum = "%(service)s: %(what)s add up to %(sum)d, but those new this month are %(new)d."
        part = ("%(service)s, %(field)s: %(new)d, more than the %(served)d under “%(served_field)s”. The new "
                "beneficiaries are among those served this month.")
        expected = [
            Issue(("service", 7, "new_female"), _(new_sum, service="Помош", what=sums["new_female"], sum=5, new=4)),
            Issue(("service", 7, "new_age_0_17"), _(new_sum, service="Помош", what=sums["new_age_0_17"], sum=7, new=4)),
            Issue(("service", 7, "new_age_80_plus"), _(part, service="Помош", field=labels["new_age_80_plus"], new=4,
                                                       served=3, served_field=labels["age_80_plus"])),
            Issue(("service", 7, "new_with_disability"), _(part, service="Помош", field=labels["new_with_disability"],
                                                           new=4, served=3, served_field=labels["with_disability"])),
            Issue(("hire", 3, "new_female"), _(
                "%(group)s: the newly hired women (%(n)d) cannot be more than the newly hired (%(new)d).",
                group="Роми", n=3, new=2)),
            Issue(("hire", 3, "new_female"), _(
                "%(group)s: the newly hired women (%(n)d) cannot be more than the women from this group (%(women)d).",
                group="Роми", n=3, women=2)),
        ]
        assert [(i.path, str(i.message)) for i in result.errors] == [(i.path, str(i.message)) for i in expected]


def test_the_new_rules_are_inequalities_at_their_bounds_and_a_valid_breakdown_passes(app):
    data = _new_data()
    with app.test_request_context():
        assert validation.check(data, CONTEXT).errors == []
        line, roma = data.services[0], data.hires[0]
        # Every new part equal to its served part, the newly hired women equal to the newly hired and to the women.
        line.new_this_month, line.continuing = 10, 0
        for name, served in validation.NEW_PART_OF.items():
            setattr(line, name, getattr(line, served))
        roma.female = roma.new_female = roma.new_this_month = 2
        assert validation.check(data, CONTEXT).errors == []
        roma.female = 1  # one woman in the group, two newly hired women: refused on the field
        assert [i.path for i in validation.check(data, CONTEXT).errors] == [("hire", 3, "new_female")]
        roma.female, line.new_male, line.male = 2, 3, 3  # the new men add up no more, served ones neither
        assert [i.path for i in validation.check(data, CONTEXT).errors] == [("service", 7, "female"),
                                                                            ("service", 7, "new_female")]


def test_a_warning_is_stored_with_its_code_and_message():
    assert ReportWarning("no_staff", "Нема персонал.").as_dict() == {"code": "no_staff", "message": "Нема персонал."}


def test_a_month_is_submittable_from_the_first_of_the_next_or_some_days_before():
    assert validation.submittable_from(date(2025, 1, 1)) == date(2025, 2, 1)
    assert validation.submittable_from(date(2025, 11, 1)) == date(2025, 12, 1)
    assert validation.submittable_from(date(2025, 12, 1)) == date(2026, 1, 1)  # over the year's end
    assert validation.submittable_from(date(2025, 12, 1), early_days=3) == date(2025, 12, 29)
    assert validation.submittable_from(date(2024, 2, 1), early_days=1) == date(2024, 2, 29)  # a leap year


def test_the_month_must_be_in_the_grant_begun_and_ended_with_exact_messages(app):
    def month_issues(**changes):
        values = dict(CONTEXT.__dict__) | changes
        context = Context(**values)
        return [(i.path, str(i.message)) for i in (validation.check_month(context) or validation.check_ended(context))]

    with app.test_request_context():
        assert month_issues() == []
        assert month_issues(month=date(2026, 12, 1), current_month=date(2026, 12, 1), today=date(2027, 1, 2)) == []  # the last
        outside = "The month %(month)s is outside the grant, which runs from %(first)s to %(last)s."
        assert month_issues(month=date(2024, 12, 1)) == [(("month",), _(outside, month="2024-12", first="2025-01",
                                                                          last="2026-12"))]
        assert month_issues(month=date(2027, 1, 1)) == [(("month",), _(outside, month="2027-01", first="2025-01",
                                                                         last="2026-12"))]
        assert month_issues(month=date(2026, 12, 1)) == [(("month",), _(
            "The month %(month)s has not begun yet: a month is reported once it is under way.", month="2026-12"))]
        not_ended = ("The month %(month)s has not ended yet: its report can be submitted from %(day)s. You can save it as "
                     "a draft until then.")
        assert month_issues(month=date(2026, 11, 1), today=date(2026, 11, 30)) == [(("month",), _(
            not_ended, month="2026-11", day="01.12.2026"))]
        assert month_issues(month=date(2026, 11, 1), today=date(2026, 12, 1)) == []
        assert month_issues(month=date(2026, 11, 1), today=date(2026, 11, 28), early_days=3) == []
        assert month_issues(month=date(2026, 11, 1), today=date(2026, 11, 27), early_days=3) == [(("month",), _(
            not_ended, month="2026-11", day="28.11.2026"))]
        assert month_issues(month=date(2026, 11, 1), today=None) == []


def test_the_continuity_warning_counts_who_continues_exactly(app):
    def warnings(continuing: int, previous_lines, previous=None, served: int = 10, staff: int = 5):
        line = ServiceFigures(service_type_id=7, label="Помош", total=served, female=served, male=0, age_80_plus=served,
                              without_disability=served, new_this_month=served - continuing, continuing=continuing)
        data = ReportData(services=[line], staff_total=staff, staff_female=staff, certified_caregivers=0,
                          explanation="Објаснето.")
        context = Context(**(dict(CONTEXT.__dict__) | {"previous_lines": previous_lines, "previous": previous}))
        return [(w.code, str(w.message)) for w in validation.check(data, context).warnings
                if w.code in ("continuity", "zero_report")]

    text = ("%(service)s: %(continuing)d continuing from last month, but last month %(served)d were served and "
            "%(left)d left, so %(expected)d would continue. Someone who comes back after leaving counts as "
            "continuing only if they did not leave; explain the difference.")
    with app.test_request_context():
        assert warnings(6, {7: (9, 3)}) == []  # 9 served, 3 left: 6 continue
        assert warnings(7, {7: (9, 3)}) == [("continuity", _(text, service="Помош", continuing=7, served=9, left=3,
                                                               expected=6))]
        assert warnings(0, {8: (9, 3)}) == []  # a service not offered last month: nobody continues
        assert warnings(1, {8: (9, 3)}) == [("continuity", _(text, service="Помош", continuing=1, served=0, left=0,
                                                               expected=0))]
        assert warnings(0, {7: (3, 5)}) == []  # more left than were served: none continue, never fewer
        assert warnings(3, None) == []  # the first month: nothing to compare
        assert warnings(0, None, previous=(12, 4), served=0, staff=0) == [("zero_report", _(
            "This report has no beneficiaries and no staff, but the month before had %(served)d beneficiaries and "
            "%(staff)d staff. If the service stopped, say why.", served=12, staff=4))]
        assert warnings(0, None, previous=(0, 0), served=0, staff=0) == []
        assert warnings(0, None, previous=(12, 4), served=0, staff=1) == []
