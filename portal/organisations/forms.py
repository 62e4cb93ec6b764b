from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.models import LegalForm, OrgStatus

REQUIRED = _l("This field is required.")
EMAIL = _l("Enter an email address like name@example.org.")
DATE = _l("Enter a date like 2026-03-31.")


def legal_form_choices():
    return [
        (LegalForm.ASSOCIATION.value, _l("Association / foundation")),
        (LegalForm.COMPANY.value, _l("Company")),
        (LegalForm.INDIVIDUAL.value, _l("Individual (licensed professional)")),
        (LegalForm.PUBLIC_INSTITUTION.value, _l("Public institution")),
    ]


class ContactFields:
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    city = StringField(_l("Town or village"), validators=[Optional(), Length(max=120)])
    contact_phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)],
                                description=_l("For example +389 2 312 3456."))


class RegisterProviderForm(ContactFields, FlaskForm):
    name = StringField(_l("Legal name of the organisation"), validators=[DataRequired(REQUIRED), Length(max=200)],
                       description=_l("As written in the Central Register."))
    tax_number = StringField(_l("Tax number (EDB)"), validators=[DataRequired(REQUIRED), Length(max=20)],
                             description=_l("13 digits, for example 4030000375897."))
    legal_form = SelectField(_l("Legal form"), choices=legal_form_choices, validators=[DataRequired(REQUIRED)])
    licence_number = StringField(_l("Licence number for providing social services"),
                                 validators=[DataRequired(REQUIRED), Length(max=64)])
    licence_valid_from = DateField(_l("Licence valid from"), validators=[DataRequired(DATE)])
    licence_valid_until = DateField(_l("Licence valid until"), validators=[DataRequired(DATE)])
    full_name = StringField(_l("Your full name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    email = EmailField(_l("Your email address"), validators=[DataRequired(REQUIRED), Email(EMAIL), Length(max=254)],
                       description=_l("We send a link to this address to set your password."))
    submit = SubmitField(_l("Register"))


class EditOrganisationForm(ContactFields, FlaskForm):
    version_id = HiddenField()
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    tax_number = StringField(_l("Tax number (EDB)"), validators=[Optional(), Length(max=20)])
    legal_form = SelectField(_l("Legal form"), choices=legal_form_choices, validators=[Optional()])
    licence_number = StringField(_l("Licence number"), validators=[Optional(), Length(max=64)])
    licence_valid_from = DateField(_l("Licence valid from"), validators=[Optional()])
    licence_valid_until = DateField(_l("Licence valid until"), validators=[Optional()])
    contact_person = StringField(_l("Contact person"), validators=[Optional(), Length(max=200)])
    contact_email = EmailField(_l("Contact email"), validators=[Optional(), Email(EMAIL), Length(max=254)])
    submit = SubmitField(_l("Save changes"))


class VerifyForm(FlaskForm):
    decision = SelectField(_l("Decision"), choices=[
        (OrgStatus.VERIFIED.value, _l("Verify the registration and licence")),
        (OrgStatus.REJECTED.value, _l("Do not accept the registration")),
        (OrgStatus.PENDING.value, _l("Suspend the verification (back to pending)")),
    ])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)],
                           description=_l("Required unless you verify. The provider receives it by email."))
    submit = SubmitField(_l("Record the decision"))
