from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    DecimalField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from portal.calls.forms import MultiCheckboxField
from portal.eois.services import EoiData, ServiceRow

NUMBER = _l("Enter a whole number, 0 or more.")
AMOUNT = _l("Enter an amount in euro, for example 250000.00.")


class ServiceRowForm(Form):
    service_type_id = SelectField(_l("Service type"), coerce=int, validate_choice=False, validators=[Optional()])
    beneficiaries_per_month = IntegerField(_l("Beneficiaries per month"), validators=[Optional(), NumberRange(min=0, message=NUMBER)])
    annual_cost_eur = DecimalField(_l("Estimated annual cost (EUR)"), places=2,
                                   validators=[Optional(), NumberRange(min=0, message=AMOUNT)])
    partners = StringField(_l("Partner providers, if known"), validators=[Optional(), Length(max=500)])

    def is_blank(self) -> bool:
        return not self.service_type_id.data and self.beneficiaries_per_month.data is None \
            and self.annual_cost_eur.data is None and not self.partners.data


class EoiForm(FlaskForm):
    version_id = HiddenField()
    needs_assessment = TextAreaField(_l("Needs assessment summary"), validators=[Optional(), Length(max=20000)],
                                     description=_l("Who needs which services in the municipality, and how you know."))
    target_groups = TextAreaField(_l("Target groups"), validators=[Optional(), Length(max=4000)],
                                  description=_l("For example: older people living alone, persons with disabilities."))
    people_in_need = IntegerField(_l("Estimated people in need"), validators=[Optional(), NumberRange(min=0, message=NUMBER)])
    services = FieldList(FormField(ServiceRowForm), min_entries=1)
    cofinancing_eur = DecimalField(_l("Municipal co-financing (EUR)"), places=2,
                                   validators=[Optional(), NumberRange(min=0, message=AMOUNT)])
    cofinancing_pct = DecimalField(_l("Municipal co-financing (%)"), places=2,
                                   validators=[Optional(), NumberRange(min=0, max=100)])
    coordinator_name = StringField(_l("Municipal coordinator"), validators=[Optional(), Length(max=200)])
    coordinator_email = EmailField(_l("Coordinator's email"), validators=[Optional(), Email(), Length(max=254)])
    coordinator_phone = StringField(_l("Coordinator's phone"), validators=[Optional(), Length(max=40)])
    add_row = SubmitField(_l("Add a service"))
    save = SubmitField(_l("Save the draft"))
    submit = SubmitField(_l("Submit to the ministry"))

    def to_data(self) -> EoiData:
        rows = [ServiceRow(service_type_id=row.form.service_type_id.data or 0,
                           beneficiaries_per_month=row.form.beneficiaries_per_month.data or 0,
                           annual_cost_eur=row.form.annual_cost_eur.data or Decimal("0"),
                           partners=row.form.partners.data or "")
                for row in self.services if not row.form.is_blank()]
        return EoiData(needs_assessment=self.needs_assessment.data or "", target_groups=self.target_groups.data or "",
                       people_in_need=self.people_in_need.data, cofinancing_eur=self.cofinancing_eur.data,
                       cofinancing_pct=self.cofinancing_pct.data, coordinator_name=self.coordinator_name.data or "",
                       coordinator_email=(self.coordinator_email.data or "").lower(),
                       coordinator_phone=self.coordinator_phone.data or "", services=rows)


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Withdraw the expression of interest"))


class MessageForm(FlaskForm):
    body = TextAreaField(_l("Message"), validators=[DataRequired(_l("Write a message first.")), Length(max=8000)])
    submit = SubmitField(_l("Send"))


class ClarificationForm(FlaskForm):
    message = TextAreaField(_l("What should the municipality clarify?"), validators=[Optional(), Length(max=8000)])
    fields = MultiCheckboxField(_l("Parts the municipality may change"), validate_choice=False)
    until = DateTimeLocalField(_l("Reopened until (Skopje time)"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                               validators=[DataRequired(_l("Enter a date and time like 2026-12-31 16:00 (Skopje time)."))])
    submit = SubmitField(_l("Ask for clarification"))


class DecisionForm(FlaskForm):
    decision = SelectField(_l("Decision"), choices=[("accept", _l("Accept")), ("reject", _l("Reject"))])
    reason = TextAreaField(_l("Reasons"), validators=[Optional(), Length(max=8000)],
                           description=_l("The municipality receives them by email."))
    submit = SubmitField(_l("Record the decision"))
