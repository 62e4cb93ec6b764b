"""Forms of the grantee financial reports, built for each report: one amount per approved budget line, named
`line-<budget line id>` as the service's error keys, so that every message lands on its field."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from portal.finance_reports.services import FigureData, line_label
from portal.models import BudgetLine

AMOUNT = [Optional(), Length(max=40)]


class FinanceFormBase(FlaskForm):
    edit_version = HiddenField()
    cofinancing_municipality = StringField(_l("Co-financing received from the municipality in the period (EUR)"),
                                           validators=AMOUNT, default="0.00")
    cofinancing_other = StringField(_l("Co-financing received from others in the period (EUR)"), validators=AMOUNT,
                                    default="0.00")
    narrative = TextAreaField(_l("Comments on the expenditure"), validators=[Optional(), Length(max=8000)])
    confirm = BooleanField(_l("I confirm that these amounts are correct and match the invoices, payroll and bank "
                              "statements the provider keeps."))
    save = SubmitField(_l("Save the draft"))
    submit_report = SubmitField(_l("Submit the financial report"))

    line_ids: list[int] = []
    staff_months: dict[int, list[date]] = {}  # staff lines: the months of the period (one amount each)
    date_ids: list[int] = []  # other lines: the date of the expense

    def to_data(self) -> FigureData:
        return FigureData(spent={line_id: self[f"line-{line_id}"].data for line_id in self.line_ids},
                          cofinancing_municipality=self.cofinancing_municipality.data,
                          cofinancing_other=self.cofinancing_other.data, narrative=self.narrative.data or "",
                          months={line_id: {m: self[f"month-{line_id}-{m:%Y-%m}"].data for m in months}
                                  for line_id, months in self.staff_months.items() if self._has_months(line_id)},
                          dates={line_id: self[f"date-{line_id}"].data for line_id in self.date_ids})

    def _has_months(self, line_id: int) -> bool:
        """Whether the request carried the staff line's months (a request with its total only keeps the total)."""
        return any(self[f"month-{line_id}-{m:%Y-%m}"].raw_data for m in self.staff_months[line_id])

    def fill(self, data: FigureData, edit_version: int) -> None:
        for line_id in self.line_ids:
            self[f"line-{line_id}"].data = str(data.spent.get(line_id, "0.00"))
        for line_id, months in self.staff_months.items():
            for month in months:
                self[f"month-{line_id}-{month:%Y-%m}"].data = str(data.months.get(line_id, {}).get(month, "0.00"))
        for line_id in self.date_ids:
            self[f"date-{line_id}"].data = str(data.dates.get(line_id) or "")
        self.cofinancing_municipality.data = str(data.cofinancing_municipality)
        self.cofinancing_other.data = str(data.cofinancing_other)
        self.narrative.data = data.narrative
        self.edit_version.data = str(edit_version)


def finance_form(lines: list[BudgetLine], months: list[date] | None = None, **kwargs: Any) -> FinanceFormBase:
    """`months`: the months of the report's period; staff lines then take one amount per month and the other lines
    the date of the expense (`portal.finance_reports.entries`)."""
    from portal.finance_reports.entries import is_staff

    attrs: dict[str, Any] = {f"line-{line.id}": StringField(line_label(line), validators=AMOUNT, default="0.00")
                             for line in lines}
    staff = {line.id: list(months) for line in lines if months and is_staff(line)}
    dated = [line.id for line in lines if months and not is_staff(line)]
    for line in lines:
        for month in staff.get(line.id, []):
            attrs[f"month-{line.id}-{month:%Y-%m}"] = StringField(
                _l("%(month)s (EUR)", month=format_date(month, "LLLL yyyy")), validators=AMOUNT, default="0.00")
        if line.id in dated:
            attrs[f"date-{line.id}"] = StringField(_l("Date of the expense"), validators=[Optional(), Length(max=40)])
    form = type("FinanceForm", (FinanceFormBase,), attrs)(**kwargs)
    form.line_ids, form.staff_months, form.date_ids = [line.id for line in lines], staff, dated
    return form


class ReviewFormBase(FlaskForm):
    comment = TextAreaField(_l("Comments to the provider"), validators=[Optional(), Length(max=4000)])
    accept = SubmitField(_l("Accept the financial report"))
    send_back = SubmitField(_l("Return it with comments"))

    line_ids: list[int] = []

    def ineligible(self) -> dict[int, Any]:
        return {line_id: self[f"ineligible-{line_id}"].data for line_id in self.line_ids}

    def reasons(self) -> dict[int, str]:
        return {line_id: self[f"reason-{line_id}"].data or "" for line_id in self.line_ids}


def review_form(lines: list[BudgetLine], **kwargs: Any) -> ReviewFormBase:
    attrs: dict[str, Any] = {}
    for line in lines:
        attrs[f"ineligible-{line.id}"] = StringField(_l("Ineligible (EUR)"), validators=AMOUNT, default="0.00")
        attrs[f"reason-{line.id}"] = StringField(_l("Reason it is not eligible"),
                                                 validators=[Optional(), Length(max=2000)])
    form = type("FinanceReviewForm", (ReviewFormBase,), attrs)(**kwargs)
    form.line_ids = [line.id for line in lines]
    return form
