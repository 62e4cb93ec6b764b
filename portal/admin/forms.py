from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.organisations.forms import legal_form_choices

REQUIRED = _l("This field is required.")
EMAIL = _l("Enter an email address like name@example.org.")


class InviteUserForm(FlaskForm):
    organisation_id = SelectField(_l("Organisation"), coerce=int, validators=[DataRequired(REQUIRED)])
    role = SelectField(_l("Role"), validators=[DataRequired(REQUIRED)],
                       description=_l("The roles possible depend on the kind of organisation."))
    full_name = StringField(_l("Full name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    email = EmailField(_l("Email address"), validators=[DataRequired(REQUIRED), Email(EMAIL), Length(max=254)])
    language = SelectField(_l("Language of the invitation"),
                           choices=[("mk", "Македонски"), ("sq", "Shqip"), ("en", "English")])
    submit = SubmitField(_l("Send invitation"))


class EditUserForm(FlaskForm):
    version_id = HiddenField()
    full_name = StringField(_l("Full name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    role = SelectField(_l("Role"), validators=[DataRequired(REQUIRED)])
    submit = SubmitField(_l("Save changes"))


class DeactivateUserForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REQUIRED), Length(max=1000)])
    submit = SubmitField(_l("Deactivate this user"))


class ActionForm(FlaskForm):
    """A form with only the CSRF token, for one-button actions."""

    submit = SubmitField(_l("Confirm"))


class NewOrganisationForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[
        ("ministry", _l("Ministry")), ("municipality", _l("Municipality")),
        ("provider", _l("Service provider")), ("monitor", _l("Monitor (World Bank)")),
    ])
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    municipality_id = SelectField(_l("Local government"), coerce=int, validators=[Optional()], validate_choice=False,
                                  description=_l("Only for municipalities."))
    tax_number = StringField(_l("Tax number (EDB)"), validators=[Optional(), Length(max=20)],
                             description=_l("Only for service providers."))
    legal_form = SelectField(_l("Legal form"), choices=legal_form_choices, validators=[Optional()])
    submit = SubmitField(_l("Create organisation"))


class CatalogueEntryForm(FlaskForm):
    code = StringField(_l("Code"), validators=[Optional(), Length(max=40)],
                       description=_l("A short identifier in Latin letters; it cannot be changed later."))
    name_mk = StringField(_l("Name in Macedonian"), validators=[DataRequired(REQUIRED), Length(max=200)])
    name_sq = StringField(_l("Name in Albanian"), validators=[DataRequired(REQUIRED), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(REQUIRED), Length(max=200)])
    category_id = SelectField(_l("Category"), coerce=int, choices=[], validators=[Optional()], validate_choice=False)
    sort_order = IntegerField(_l("Position in lists"), validators=[Optional()])
    requires_note = SelectField(_l("Requires a note when reported"), choices=[("0", _l("No")), ("1", _l("Yes"))],
                                 validate_choice=False)
    active = SelectField(_l("Status"), choices=[("1", _l("Active")), ("0", _l("Deactivated (kept for history)"))],
                         validate_choice=False)
    submit = SubmitField(_l("Save"))


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = SelectField(_l("Action"), validators=[Optional()])
    actor = StringField(_l("Who (email)"), validators=[Optional(), Length(max=254)])
    object_type = StringField(_l("Object type"), validators=[Optional(), Length(max=64)])
    object_id = StringField(_l("Object id"), validators=[Optional(), Length(max=64)])
    date_from = StringField(_l("From (date)"), validators=[Optional()], description=_l("YYYY-MM-DD"))
    date_to = StringField(_l("To (date)"), validators=[Optional()], description=_l("YYYY-MM-DD"))


class ResetMfaForm(FlaskForm):
    reason = TextAreaField(_l("How you confirmed who asked, and why"),
                           validators=[DataRequired(REQUIRED), Length(max=1000)],
                           description=_l("For example: called back on the number in the staff directory; "
                                          "phone lost. Kept in the audit log."))
    submit = SubmitField(_l("Reset the second factor"))
