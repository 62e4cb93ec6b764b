from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, IntegerField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional

from portal.labels import GRIEVANCE_CATEGORY

DAYS = _l("Enter a whole number of days.")


class IntakeForm(FlaskForm):
    category = SelectField(_l("What is the concern about?"), validate_choice=False, validators=[Optional()])
    municipality_id = SelectField(_l("Municipality where it happened"), coerce=int, validate_choice=False,
                                  validators=[Optional()])
    agreement_id = SelectField(_l("The service, if you know it"), coerce=int, validate_choice=False,
                               validators=[Optional()],
                               description=_l("Services funded by the programme. Leave it as it is if you do not know."))
    about = StringField(_l("Or name the provider or service in your words"), validators=[Optional(), Length(max=300)])
    description = TextAreaField(_l("What happened?"), validators=[Optional(), Length(max=10000)],
                                description=_l("When and where it happened, who was affected, and what you would like "
                                               "to be done. Do not write anyone's personal number. If you name a "
                                               "service, its provider and municipality may read this description "
                                               "(never your name or contacts)."))
    evidence = FileField(_l("A document or photo (optional)"))
    identity = RadioField(_l("Do you want to give your name?"), default="anonymous",
                          choices=[("anonymous", _l("No, I stay anonymous: I will follow the case with a secret link")),
                                   ("named", _l("Yes, here are my contact details"))])
    contact_name = StringField(_l("Your name"), validators=[Optional(), Length(max=200)])
    contact_email = EmailField(_l("Your e-mail address"), validators=[Optional(), Email(), Length(max=254)])
    contact_phone = StringField(_l("Your phone number"), validators=[Optional(), Length(max=40)])
    # The honeypot: hidden from people (and from screen readers) by the stylesheet; programs that fill in every
    # field fill it in too, and the concern is refused.
    website = StringField(_l("Leave this field empty"), validators=[Optional()])
    submit = SubmitField(_l("Send the concern"))

    def fill_choices(self, municipalities, grants) -> None:
        self.category.choices = [("", "—")] + [(code, text) for code, text in GRIEVANCE_CATEGORY.items()]
        self.municipality_id.choices = [(0, "—")] + [(m.id, m.name()) for m in municipalities]
        self.agreement_id.choices = [(0, _l("I do not know / not in the list"))] + grants


class MessageForm(FlaskForm):
    body = TextAreaField(_l("Message"), validators=[Optional(), Length(max=10000)])
    submit = SubmitField(_l("Send"))


class AcknowledgeForm(FlaskForm):
    body = TextAreaField(_l("Message to the complainant (optional)"), validators=[Optional(), Length(max=10000)])
    submit = SubmitField(_l("Acknowledge"))


class AssignForm(FlaskForm):
    handler_id = SelectField(_l("Handler"), coerce=int, validate_choice=False, validators=[Optional()])
    submit = SubmitField(_l("Assign"))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=10000)])
    submit = SubmitField(_l("Confirm"))


class CloseForm(FlaskForm):
    outcome = TextAreaField(_l("Outcome (sent to the complainant)"), validators=[Optional(), Length(max=10000)])
    accepted = RadioField(_l("Did the complainant accept the outcome?"), default="unknown",
                          choices=[("yes", _l("Yes")), ("no", _l("No")), ("unknown", _l("Not known yet"))])
    submit = SubmitField(_l("Close the case"))


class SettingsForm(FlaskForm):
    acknowledge_days = IntegerField(_l("Days to acknowledge a concern"),
                                    validators=[InputRequired(DAYS), NumberRange(min=1, max=90)])
    resolve_days = IntegerField(_l("Days to resolve a concern"), validators=[InputRequired(DAYS),
                                                                         NumberRange(min=1, max=365)])
    sensitive_threshold = IntegerField(
        _l("Fewest sensitive cases the figures show"), validators=[InputRequired(), NumberRange(min=1, max=100)],
        description=_l("Below this number, sensitive cases are left out of the figures (so that no one can be "
                       "recognised)."))
    submissions_per_hour = IntegerField(_l("Concerns one connection may send per hour"),
                                        validators=[InputRequired(), NumberRange(min=1, max=1000)])
    submit = SubmitField(_l("Save"))
