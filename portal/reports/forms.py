"""Forms of the monthly reports. The report form is built for each report: one group of fields per
service type of the grant and one row per hard-to-employ group, named as the validation paths
(`service-5-female`, `hire-3-note`, `staff_total`) so that every message lands on its field."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.models.reports import BENEFICIARY_FIELDS, HIRE_FIELDS, STAFF_FIELDS
from portal.reports.validation import BENEFICIARY_LABELS, HIRE_LABELS, STAFF_LABELS, HireFigures, ReportData, ServiceFigures

WHOLE = re.compile(r"^\s*\d{1,9}\s*$")


def parse_whole(raw: Any) -> Any:
    """A typed figure: an int when it is a whole number, 0 when left empty, otherwise the text as typed
    (the validation names the field and the rule, and the form shows the text again)."""
    if raw is None:
        return 0
    text = str(raw).strip()
    if text == "":
        return 0
    return int(text) if WHOLE.match(text) else text


class ReportFormBase(FlaskForm):
    edit_version = HiddenField()
    narrative = TextAreaField(_l("Narrative: issues, changes, remarks"), validators=[Optional(), Length(max=8000)])
    explanation = TextAreaField(_l("Explanation of the warnings"), validators=[Optional(), Length(max=4000)],
                                description=_l("Needed only when the report shows warnings: say why the figures are "
                                               "right. The reviewer reads it with the report."))
    confirm = BooleanField(_l("I confirm that these figures are correct and match the evidence kept by the provider."))
    save = SubmitField(_l("Save the draft"))
    submit_report = SubmitField(_l("Submit the report"))

    services_ids: list[int] = []
    hire_ids: list[int] = []

    def to_data(self, template: ReportData) -> ReportData:
        """The figures as typed, in the shape of `template` (the report's own service types and groups)."""
        services = []
        for line in template.services:
            values = {name: parse_whole(self[f"service-{line.service_type_id}-{name}"].data) for name in BENEFICIARY_FIELDS}
            services.append(ServiceFigures(service_type_id=line.service_type_id, label=line.label, **values))
        hires = []
        for hire in template.hires:
            values = {name: parse_whole(self[f"hire-{hire.category_id}-{name}"].data) for name in HIRE_FIELDS}
            hires.append(HireFigures(category_id=hire.category_id, label=hire.label, requires_note=hire.requires_note,
                                     note=(self[f"hire-{hire.category_id}-note"].data or "").strip(), **values))
        return ReportData(services=services, hires=hires, narrative=self.narrative.data or "",
                          explanation=self.explanation.data or "",
                          **{name: parse_whole(self[name].data) for name in STAFF_FIELDS})


def report_form(template: ReportData, **kwargs: Any) -> ReportFormBase:
    """A form class for this report's shape, instantiated (with the request's data when posted)."""
    attrs: dict[str, Any] = {}
    for line in template.services:
        for name in BENEFICIARY_FIELDS:
            attrs[f"service-{line.service_type_id}-{name}"] = StringField(BENEFICIARY_LABELS[name], default="0")
    for name in STAFF_FIELDS:
        attrs[name] = StringField(STAFF_LABELS[name], default="0")
    for hire in template.hires:
        for name in HIRE_FIELDS:
            attrs[f"hire-{hire.category_id}-{name}"] = StringField(HIRE_LABELS[name], default="0")
        attrs[f"hire-{hire.category_id}-note"] = StringField(HIRE_LABELS["note"], validators=[Optional(), Length(max=300)])
    form_class = type("ReportForm", (ReportFormBase,), attrs)
    form = form_class(**kwargs)
    form.services_ids = [line.service_type_id for line in template.services]
    form.hire_ids = [hire.category_id for hire in template.hires]
    return form


def fill(form: ReportFormBase, data: ReportData) -> None:
    """Show stored figures in the form (on GET)."""
    for line in data.services:
        for name in BENEFICIARY_FIELDS:
            form[f"service-{line.service_type_id}-{name}"].data = str(getattr(line, name))
    for name in STAFF_FIELDS:
        form[name].data = str(getattr(data, name))
    for hire in data.hires:
        for name in HIRE_FIELDS:
            form[f"hire-{hire.category_id}-{name}"].data = str(getattr(hire, name))
        form[f"hire-{hire.category_id}-note"].data = hire.note
    form.narrative.data, form.explanation.data = data.narrative, data.explanation


class ReviewForm(FlaskForm):
    comment = TextAreaField(_l("Comments to the provider"), validators=[Optional(), Length(max=4000)])
    confirm = BooleanField(_l("I have checked the figures, the warnings and the evidence."))
    accept = SubmitField(_l("Accept the report"))
    send_back = SubmitField(_l("Return with comments"))


class CorrectionForm(FlaskForm):
    reason = TextAreaField(_l("What is wrong in the accepted report"),
                           validators=[DataRequired(_l("Say what is wrong in the accepted report.")), Length(max=4000)])
    submit = SubmitField(_l("Request a correction"))


class BulkUploadForm(FlaskForm):
    file = FileField(_l("Filled-in template (XLSX)"), validators=[FileRequired(_l("Choose the filled-in XLSX file."))])
    submit_reports = BooleanField(_l("Submit the months I changed once imported (otherwise they are saved as drafts)"),
                                  default=True)
    submit = SubmitField(_l("Upload and import"))


class SettingsForm(FlaskForm):
    version_id = HiddenField()
    due_day = IntegerField(_l("Reports are due on this day of the following month"),
                           validators=[DataRequired(_l("Enter a day between 1 and 28 (every month has it)."))])
    reminder_days = IntegerField(_l("Reminder, days before the due date"),
                                 validators=[Optional()])
    early_days = IntegerField(_l("Days before a month ends that its report may be submitted"), default=0,
                              validators=[Optional()])
    submit = SubmitField(_l("Save"))
