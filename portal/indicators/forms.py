from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

REQUIRED = _l("This field is required.")
FALLBACK = _l("Optional: left empty, the Macedonian text is shown with a note.")


class IndicatorForm(FlaskForm):
    version_id = HiddenField()
    name_mk = StringField(_l("Name (Macedonian)"), validators=[DataRequired(REQUIRED), Length(max=300)])
    name_sq = StringField(_l("Name (Albanian)"), validators=[Optional(), Length(max=300)], description=FALLBACK)
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=300)], description=FALLBACK)
    definition_mk = TextAreaField(_l("Definition (Macedonian)"), validators=[Optional(), Length(max=4000)])
    definition_sq = TextAreaField(_l("Definition (Albanian)"), validators=[Optional(), Length(max=4000)])
    definition_en = TextAreaField(_l("Definition (English)"), validators=[Optional(), Length(max=4000)])
    level = SelectField(_l("Level"), choices=[("objective", _l("Development objective")),
                                              ("intermediate", _l("Intermediate result"))])
    baseline = StringField(_l("Baseline"), validators=[DataRequired(REQUIRED)])
    baseline_date = StringField(_l("Baseline date"), validators=[DataRequired(REQUIRED)],
                                description=_l("A date like 2018-09-13."))
    targets = TextAreaField(_l("Yearly targets"), validators=[Optional(), Length(max=2000)],
                            description=_l("One year per line: year; target, for example 2026; 2000."))
    end_target = StringField(_l("End target"), validators=[Optional()])
    end_target_date = StringField(_l("End target date"), validators=[Optional()])
    disaggregations = SelectMultipleField(_l("Disaggregations shown and downloaded"), validate_choice=False,
                                          widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    source = TextAreaField(_l("Source"), validators=[Optional(), Length(max=1000)])
    active = BooleanField(_l("Shown on the dashboard and in the downloads"))
    iati_result = BooleanField(_l("Published as a result in the IATI file"),
                               description=_l("Leave unticked for rates that describe how the programme runs "
                                              "(timeliness, money committed or paid) rather than what it achieves."))
    carry_months = StringField(_l("Carry window (months)"), validators=[Optional(), Length(max=3)],
                               description=_l("A stock only: how many months a grant's latest accepted month stands "
                                              "for when later reports are missing (1: never carried; default 3)."))
    submit = SubmitField(_l("Save"))


class TokenForm(FlaskForm):
    name = StringField(_l("Name of the token"), validators=[DataRequired(_l(
        "Give the token a name, such as the script that will use it.")), Length(max=100)],
        description=_l("What will use it, for example “ISR dashboard refresh”."))
    submit = SubmitField(_l("Create a token"))


class IsrCommentForm(FlaskForm):
    """The ministry's comment on an indicator for an ISR period; the service checks it (empty, length, version)."""
    version = HiddenField()
    body = TextAreaField(_l("Comment"), description=_l(
        "What the figure shows for this period and why: progress, delays, corrections. At most 4000 characters."))
    language = SelectField(_l("Written in"), choices=[("mk", "Македонски"), ("sq", "Shqip"), ("en", "English")],
                           validate_choice=False)
    submit = SubmitField(_l("Save as a new version"))
