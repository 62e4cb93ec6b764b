from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal import clock
from portal.calls.services import CallData, parse_money
from portal.errors import ValidationFailed
from portal.models import CallKind

REQUIRED = _l("This field is required.")
FALLBACK = _l("Optional: left empty, the Macedonian text is shown with a note.")
WHEN = _l("Enter a date and time like 2026-12-31 16:00 (Skopje time).")


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CallForm(FlaskForm):
    version_id = HiddenField()
    kind = SelectField(_l("Kind of call"), choices=[(CallKind.EOI.value, _l("Call for expressions of interest (municipalities)")),
                                                    (CallKind.GRANT.value, _l("Call for grant applications (service providers)"))])
    title_mk = StringField(_l("Title in Macedonian"), validators=[DataRequired(REQUIRED), Length(max=300)])
    title_sq = StringField(_l("Title in Albanian"), validators=[Optional(), Length(max=300)], description=FALLBACK)
    title_en = StringField(_l("Title in English"), validators=[Optional(), Length(max=300)], description=FALLBACK)
    description_mk = TextAreaField(_l("Description in Macedonian"), validators=[Optional(), Length(max=20000)])
    description_sq = TextAreaField(_l("Description in Albanian"), validators=[Optional(), Length(max=20000)])
    description_en = TextAreaField(_l("Description in English"), validators=[Optional(), Length(max=20000)])
    opens_at = DateTimeLocalField(_l("Opens (Skopje time)"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                  validators=[DataRequired(WHEN)])
    closes_at = DateTimeLocalField(_l("Closes (Skopje time)"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                   validators=[DataRequired(WHEN)],
                                   description=_l("Submissions are accepted until this minute, Skopje time."))
    allocation_eur = StringField(_l("Budget allocated to the call (EUR)"), validators=[DataRequired(REQUIRED)])
    grant_ceiling_eur = StringField(_l("Grant ceiling per application (EUR)"), validators=[Optional()],
                                    description=_l("Leave empty for calls for expressions of interest."))
    min_cofinancing_pct = DecimalField(_l("Minimum co-financing (%)"), places=2, default=Decimal("0"),
                                       validators=[Optional(), NumberRange(min=0, max=100)])
    service_type_ids = MultiCheckboxField(_l("Eligible service types"), coerce=int, validate_choice=False)
    required_documents = MultiCheckboxField(_l("Required documents"), validate_choice=False)
    report_evidence = MultiCheckboxField(_l("Evidence every monthly report must carry (grant calls)"),
                                         validate_choice=False,
                                         description=_l("At least one document of each kind chosen, before a report "
                                                        "can be submitted."))
    confirmed_drafts = HiddenField()
    linked_call_id = SelectField(_l("Linked call for expressions of interest"), coerce=int, validate_choice=False,
                                 description=_l("For grant calls: providers apply in municipalities whose expression "
                                                "of interest was accepted in this call."))
    amendment_note = TextAreaField(_l("What changed and why"), validators=[Optional(), Length(max=4000)],
                                   description=_l("Required for a published call: applicants see this note."))
    amendment_note_sq = TextAreaField(_l("What changed and why, in Albanian"), validators=[Optional(), Length(max=4000)],
                                      description=FALLBACK)
    amendment_note_en = TextAreaField(_l("What changed and why, in English"), validators=[Optional(), Length(max=4000)],
                                      description=FALLBACK)
    submit = SubmitField(_l("Save"))

    def to_data(self) -> CallData:
        errors: dict[str, list[str]] = {}
        opens = closes = None
        for name in ("opens_at", "closes_at"):
            try:
                value = clock.skopje_to_utc(getattr(self, name).data)
            except clock.NonexistentLocalTime:
                errors[name] = [str(_l("This time does not exist in Skopje (the clocks move forward that night). "
                                       "Choose another time."))]
                continue
            if name == "opens_at":
                opens = value
            else:
                closes = value
        allocation = parse_money(self.allocation_eur.data, "allocation_eur", errors)
        ceiling = parse_money(self.grant_ceiling_eur.data, "grant_ceiling_eur", errors, required=False)
        if errors:
            raise ValidationFailed(field_errors=errors)
        return CallData(
            kind=CallKind(self.kind.data), title_mk=self.title_mk.data or "", title_sq=self.title_sq.data or "",
            title_en=self.title_en.data or "", description_mk=self.description_mk.data or "",
            description_sq=self.description_sq.data or "", description_en=self.description_en.data or "",
            opens_at=opens, closes_at=closes, allocation_eur=allocation, grant_ceiling_eur=ceiling or None,
            min_cofinancing_pct=self.min_cofinancing_pct.data or Decimal("0"),
            service_type_ids=list(self.service_type_ids.data or []),
            required_documents=list(self.required_documents.data or []),
            linked_call_id=self.linked_call_id.data or None, amendment_note=self.amendment_note.data or "",
            amendment_note_sq=self.amendment_note_sq.data or "", amendment_note_en=self.amendment_note_en.data or "",
            report_evidence=list(self.report_evidence.data or []),
            confirmed_drafts=int(self.confirmed_drafts.data) if (self.confirmed_drafts.data or "").isdigit() else None)


class CriterionRow(Form):
    name_mk = StringField(_l("Criterion (Macedonian)"), validators=[Optional(), Length(max=300)])
    name_sq = StringField(_l("Criterion (Albanian)"), validators=[Optional(), Length(max=300)])
    name_en = StringField(_l("Criterion (English)"), validators=[Optional(), Length(max=300)])
    description = TextAreaField(_l("What the reviewers look for"), validators=[Optional(), Length(max=4000)])
    description_sq = TextAreaField(_l("What the reviewers look for (Albanian)"), validators=[Optional(), Length(max=4000)])
    description_en = TextAreaField(_l("What the reviewers look for (English)"), validators=[Optional(), Length(max=4000)])
    max_score = DecimalField(_l("Maximum score"), places=2, validators=[Optional()])
    weight = DecimalField(_l("Weight"), places=3, validators=[Optional()], default=Decimal("1"))

    def is_blank(self) -> bool:
        return not any((self.name_mk.data, self.name_sq.data, self.name_en.data, self.max_score.data))


class RubricForm(FlaskForm):
    version_id = HiddenField()
    criteria = FieldList(FormField(CriterionRow), min_entries=1)
    add_row = SubmitField(_l("Add a row"))
    submit = SubmitField(_l("Save the rubric"))


class ConfirmForm(FlaskForm):
    submit = SubmitField(_l("Confirm"))


class ProgrammeForm(FlaskForm):
    version_id = HiddenField()
    name = StringField(_l("Programme name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    loan_reference = StringField(_l("Loan reference"), validators=[DataRequired(REQUIRED), Length(max=60)])
    envelope_eur = StringField(_l("Envelope (EUR)"), validators=[DataRequired(REQUIRED)])
    submit = SubmitField(_l("Save"))


class RateForm(FlaskForm):
    valid_from = DateField(_l("Valid from"), validators=[DataRequired(_l("Enter a date like 2026-03-31."))])
    eur_mkd = DecimalField(_l("Denars for one euro"), places=4,
                           validators=[DataRequired(REQUIRED), NumberRange(min=Decimal("0.0001"))])
    submit = SubmitField(_l("Add the rate"))
