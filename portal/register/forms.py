"""Forms of the service-user register. They only read what was typed; `services` decides what is valid."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Length, NumberRange, Optional

from portal.labels import DUPLICATE_OUTCOME, LEAVING_REASON, SEX

YES_NO = [("yes", _l("Yes")), ("no", _l("No"))]


class EpisodeForm(FlaskForm):
    personal_number = StringField(
        _l("Personal number (ЕМБГ)"), validators=[Optional(), Length(max=40)],
        description=_l("13 digits, from the ЦСР decision. It is checked and turned into a code that cannot be turned "
                       "back; the number itself is not kept anywhere."))
    confirm_checksum = BooleanField(_l("The check digit fails, but the number is written exactly so on the decision"))
    decision_number = StringField(_l("Number of the ЦСР decision"), validators=[Optional(), Length(max=40)])
    decision_date = DateField(_l("Date of the decision"), validators=[Optional()])
    decision_centre = StringField(_l("Centre for Social Work that decided"), validators=[Optional(), Length(max=120)],
                                  description=_l("For example: ЈУ МЦСР Скопје, ЦСР Куманово."))
    service_type_id = SelectField(_l("Service"), coerce=int, validate_choice=False, validators=[Optional()])
    start_date = DateField(_l("First day of the service"), validators=[Optional()])
    sex = RadioField(_l("Sex"), choices=[("", _l("From the personal number"))] + list(SEX.items()), default="",
                     validate_choice=False, validators=[Optional()])
    birth_year = IntegerField(_l("Year of birth"), validators=[Optional(), NumberRange(min=1900, max=2100)],
                              description=_l("Left empty, it is taken from the personal number. Only the year is "
                                             "kept; the age band is worked out from it."))
    disability = RadioField(_l("Does the person have a disability?"), choices=YES_NO, validate_choice=False,
                            validators=[Optional()])
    municipality_id = SelectField(_l("Municipality where the person lives"), coerce=int, validate_choice=False,
                                  validators=[Optional()])
    local_reference = StringField(_l("Your own reference (optional)"), validators=[Optional(), Length(max=40)],
                                  description=_l("A file number of yours that helps you find the person. Not a name "
                                                 "and not the personal number."))
    submit = SubmitField(_l("Add to the register"))

    def fill_choices(self, service_types, municipalities) -> None:
        self.service_type_id.choices = [(0, "—")] + [(t.id, t.name()) for t in service_types]
        self.municipality_id.choices = [(0, "—")] + [(m.id, m.name()) for m in municipalities]


class CorrectForm(EpisodeForm):
    personal_number = None  # the person does not change: an episode entered for the wrong person is withdrawn
    confirm_checksum = None
    sex = RadioField(_l("Sex"), choices=list(SEX.items()), validate_choice=False, validators=[Optional()])
    birth_year = IntegerField(_l("Year of birth"), validators=[Optional(), NumberRange(min=1900, max=2100)])
    end_date = DateField(_l("Last day of the service (if it has ended)"), validators=[Optional()])
    leaving_reason = SelectField(_l("Reason for leaving"), choices=[("", "—")] + list(LEAVING_REASON.items()),
                                 validate_choice=False, validators=[Optional()])
    withdrawn = BooleanField(_l("Entered in error (wrong person, never served): withdraw this episode"))
    note = TextAreaField(_l("What was wrong, and why it is corrected"), validators=[Optional(), Length(max=5000)])
    version = HiddenField()
    submit = SubmitField(_l("Save the correction"))


class EndForm(FlaskForm):
    end_date = DateField(_l("Last day of the service"), validators=[Optional()])
    leaving_reason = SelectField(_l("Reason for leaving"), choices=[("", "—")] + list(LEAVING_REASON.items()),
                                 validate_choice=False, validators=[Optional()])
    version = HiddenField()
    submit = SubmitField(_l("End the episode"))


class ResolveForm(FlaskForm):
    outcome = RadioField(_l("Decision"), choices=list(DUPLICATE_OUTCOME.items()), validate_choice=False,
                         validators=[Optional()])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=5000)])
    submit = SubmitField(_l("Record the decision"))


class ImportForm(FlaskForm):
    file = FileField(_l("Filled-in register (XLSX or CSV)"), validators=[FileRequired(_l("Choose the filled-in file."))])
    submit = SubmitField(_l("Upload and import"))
