"""What the warnings of a monthly report say (`portal/reports/validation.py`): the figures and the words a
provider reads before explaining them, and the error that asks for that explanation. Mutation testing showed the
warnings' codes were tested but not their messages."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from portal.reports import validation
from portal.reports.validation import Context, ReportData, ServiceFigures

MONTH = date(2027, 3, 1)


def context(**overrides) -> Context:
    values = dict(month=MONTH, first_month=date(2027, 1, 1), last_month=date(2028, 12, 1),
                  current_month=date(2027, 4, 1), capacity=40)
    values.update(overrides)
    return Context(**values)


def figures(served: int, staff: int) -> ReportData:
    return ReportData(services=[ServiceFigures(service_type_id=1, total=served)], staff_total=staff)


def messages(data: ReportData, ctx: Context) -> dict[str, str]:
    return {w.code: str(w.message) for w in validation._warnings(data, ctx)}


def test_the_capacity_warning_names_the_figures(app):
    with app.test_request_context():
        assert messages(figures(61, 5), context()) == {"capacity": _(
            "%(n)d beneficiaries is more than 150%% of the contracted capacity (%(capacity)d a month).", n=61,
            capacity=40)}
        assert messages(figures(60, 5), context()) == {}


def test_the_change_warnings_name_what_changed_and_from_what(app):
    with app.test_request_context():
        change = ("The number of %(what)s changed by more than 50%% from the month before (%(before)d → %(now)d).")
        assert messages(figures(31, 16), context(previous=(20, 10))) == {
            "change_beneficiaries": _(change, what=_("beneficiaries"), before=20, now=31),
            "change_staff": _(change, what=_("staff"), before=10, now=16)}
        assert _("beneficiaries") != _("staff")


def test_served_without_staff_is_a_warning_with_the_number_served(app):
    with app.test_request_context():
        assert messages(figures(12, 0), context()) == {"no_staff": _(
            "%(n)d beneficiaries were served, but no staff are reported.", n=12)}


def test_a_warning_without_an_explanation_is_an_error_on_the_explanation(app):
    with app.test_request_context():
        ask = _("Explain the warnings below before you submit: the reviewer reads your explanation with the report.")
        data = figures(12, 0)
        data.services[0].female, data.services[0].male = 6, 6
        data.services[0].age_18_64, data.services[0].with_disability = 12, 0
        data.services[0].without_disability = 12
        data.services[0].new_this_month = data.services[0].new_male = data.services[0].new_age_18_64 = 0
        result = validation.check(data, context())
        explanation = [str(i.message) for i in result.errors if i.path == ("explanation",)]
        assert [w.code for w in result.warnings] == ["no_staff"]
        assert explanation == [ask]
        data.explanation = "Волонтери."
        assert not [i for i in validation.check(data, context()).errors if i.path == ("explanation",)]


def test_a_figure_that_is_not_a_whole_number_up_to_a_million_names_its_line_and_field(app):
    from portal import i18n
    from portal.reports.validation import BENEFICIARY_LABELS, HIRE_LABELS, MAX_FIGURE, STAFF_LABELS, HireFigures

    with app.test_request_context():
        data = ReportData(services=[ServiceFigures(service_type_id=5, label="Помош во домот", total=MAX_FIGURE,
                                                   female=-1)],
                          hires=[HireFigures(category_id=3, label="Роми", total=MAX_FIGURE + 1)],
                          staff_total=None, staff_female=MAX_FIGURE)
        top = i18n.number(MAX_FIGURE)
        found = {i.path: str(i.message) for i in validation.check_values(data).errors}
        assert found == {
            ("service", 5, "female"): _("%(service)s, %(field)s: enter a whole number from 0 to %(max)s.", max=top,
                                        service="Помош во домот", field=BENEFICIARY_LABELS["female"]),
            ("staff", "staff_total"): _("%(field)s: enter a whole number from 0 to %(max)s.", max=top,
                                        field=STAFF_LABELS["staff_total"]),
            ("hire", 3, "total"): _("%(group)s, %(field)s: enter a whole number from 0 to %(max)s.", max=top,
                                    group="Роми", field=HIRE_LABELS["total"])}
