from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    MonthField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.applications.services import ApplicationData, HireRow, LineRow, PositionRow
from portal.calls.forms import MultiCheckboxField

NUMBER = _l("Enter a whole number, 0 or more.")
AMOUNT = _l("Enter an amount in euro, for example 250000.00.")


class StartForm(FlaskForm):
    municipality = SelectField(_l("Municipality where the services will run"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("Start the application"))


class PositionForm(Form):
    title = StringField(_l("Position"), validators=[Optional(), Length(max=200)])
    count = IntegerField(_l("Number of people"), validators=[Optional(), NumberRange(min=0, message=NUMBER)])

    def is_blank(self) -> bool:
        return not self.title.data and self.count.data is None


class HireForm(Form):
    category_id = HiddenField()
    count = IntegerField(_l("Planned hires"), validators=[Optional(), NumberRange(min=0, message=NUMBER)])


class LineForm(Form):
    category = SelectField(_l("Category"), validate_choice=False, validators=[Optional()])
    description = StringField(_l("Description"), validators=[Optional(), Length(max=300)])
    quantity = DecimalField(_l("Quantity (or users)"), places=2, validators=[Optional(), NumberRange(min=0)])
    unit_cost_eur = DecimalField(_l("Unit cost (EUR)"), places=2, validators=[Optional(), NumberRange(min=0, message=AMOUNT)])
    months = IntegerField(_l("Months"), validators=[Optional(), NumberRange(min=1, max=60)], default=1)

    def is_blank(self) -> bool:
        return not self.category.data and not self.description.data and self.quantity.data is None \
            and self.unit_cost_eur.data is None


class ApplicationForm(FlaskForm):
    version_id = HiddenField()
    title = StringField(_l("Title of the project"), validators=[Optional(), Length(max=300)])
    summary = TextAreaField(_l("Summary of the services"), validators=[Optional(), Length(max=20000)],
                            description=_l("What you will provide, to whom, and how people will reach the service."))
    service_type_ids = MultiCheckboxField(_l("Service types"), coerce=int, validate_choice=False)
    beneficiaries_per_month = IntegerField(_l("Target beneficiaries per month"),
                                           validators=[Optional(), NumberRange(min=0, message=NUMBER)])
    start_month = MonthField(_l("Start month"), validators=[Optional()], description=_l("For example 2027-03."))
    duration_months = IntegerField(_l("Duration (months)"), validators=[Optional(), NumberRange(
        min=1, max=60, message=_l("The duration is between 1 and 60 months."))])
    positions = FieldList(FormField(PositionForm), min_entries=1)
    certified_caregivers = IntegerField(_l("Caregivers with the required certification"),
                                        validators=[Optional(), NumberRange(min=0, message=NUMBER)])
    hires = FieldList(FormField(HireForm))
    lines = FieldList(FormField(LineForm), min_entries=1)
    cofinancing_eur = DecimalField(_l("Your co-financing (EUR)"), places=2,
                                   validators=[Optional(), NumberRange(min=0, message=AMOUNT)])
    add_position = SubmitField(_l("Add a position"))
    add_line = SubmitField(_l("Add a budget line"))
    save = SubmitField(_l("Save the draft"))
    submit = SubmitField(_l("Submit the application"))

    def to_data(self) -> ApplicationData:
        positions = [PositionRow(title=(row.form.title.data or "").strip(), count=row.form.count.data or 0)
                     for row in self.positions if not row.form.is_blank()]
        hires = [HireRow(category_id=int(row.form.category_id.data), count=row.form.count.data or 0)
                 for row in self.hires if (row.form.category_id.data or "").isdigit() and row.form.count.data]
        lines = [LineRow(category=row.form.category.data or "", description=row.form.description.data or "",
                         quantity=row.form.quantity.data or Decimal("0"),
                         unit_cost_eur=row.form.unit_cost_eur.data or Decimal("0"), months=row.form.months.data or 1)
                 for row in self.lines if not row.form.is_blank()]
        return ApplicationData(
            title=self.title.data or "", summary=self.summary.data or "",
            service_type_ids=list(self.service_type_ids.data or []),
            beneficiaries_per_month=self.beneficiaries_per_month.data, start_month=self.start_month.data,
            duration_months=self.duration_months.data, certified_caregivers=self.certified_caregivers.data,
            cofinancing_eur=self.cofinancing_eur.data, positions=positions, hires=hires, lines=lines)


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Withdraw the application"))


class EndorseForm(FlaskForm):
    decision = RadioField(_l("Your municipality's answer"), choices=[
        ("endorse", _l("Endorse the application")), ("decline", _l("Decline the endorsement"))],
        validators=[DataRequired(_l("Choose whether you endorse the application."))])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=4000)],
                           description=_l("Required when you decline. The provider reads it."))
    submit = SubmitField(_l("Record the answer"))


class EligibilityForm(FlaskForm):
    reason = TextAreaField(_l("Reasons (required if any answer is no)"), validators=[Optional(), Length(max=8000)],
                           description=_l("The provider receives these reasons."))
    submit = SubmitField(_l("Record the screening"))


class AssignForm(FlaskForm):
    reviewer = SelectField(_l("Reviewer"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("Assign"))


class DeclarationForm(FlaskForm):
    conflict = RadioField(_l("Conflict of interest"), choices=[
        ("none", _l("I have no conflict of interest with this provider, its staff or the municipality")),
        ("declared", _l("I have a conflict of interest"))],
        validators=[DataRequired(_l("Choose one of the two declarations."))])
    note = TextAreaField(_l("Describe the conflict"), validators=[Optional(), Length(max=4000)])
    submit = SubmitField(_l("Record my declaration"))


class ScoreForm(FlaskForm):
    """The criteria's fields are added by the route (one score and one justification per criterion)."""

    reason = TextAreaField(_l("Reason for the rescore"), validators=[Optional(), Length(max=4000)])
    confirm = BooleanField(_l("I understand that submitted scores are locked"))
    submit = SubmitField(_l("Submit my scores"))


class ModerationForm(FlaskForm):
    score = StringField(_l("Agreed score"), validators=[Optional(), Length(max=20)])
    reason = TextAreaField(_l("Reasons"), validators=[Optional(), Length(max=8000)])
    submit = SubmitField(_l("Record the agreed score"))


class DecisionForm(FlaskForm):
    # The application's version when the page was shown: a decision on a changed application is refused.
    version_id = HiddenField()
    outcome = RadioField(_l("Decision"), choices=[("award", _l("Award")), ("reserve", _l("Reserve list")),
                                                  ("reject", _l("Reject"))],
                         validators=[DataRequired(_l("Choose a decision."))])
    amount = DecimalField(_l("Amount awarded (EUR)"), places=2, validators=[Optional(), NumberRange(min=0, message=AMOUNT)])
    conditions = TextAreaField(_l("Conditions"), validators=[Optional(), Length(max=8000)])
    reasons = TextAreaField(_l("Reasons"), validators=[Optional(), Length(max=8000)],
                            description=_l("The provider and the municipality receive them."))
    confirm = BooleanField(_l("I did not score this application and I confirm this decision"))
    submit = SubmitField(_l("Record the decision"))


class ReviewSettingsForm(FlaskForm):
    version_id = HiddenField()
    endorsement_closes_at = DateTimeLocalField(_l("Endorsement deadline (Skopje time)"),
                                               format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"], validators=[Optional()],
                                               description=_l("Empty: 14 days after the call closes."))
    funds_per_user = BooleanField(_l("The call funds a price per user per month"))
    checklist = TextAreaField(_l("Eligibility checklist (one item per line)"), validators=[Optional(), Length(max=8000)],
                              description=_l("Empty: the standard checklist."))
    reviewers_required = IntegerField(_l("Reviewers per application"), validators=[
        DataRequired(_l("Enter a number from 1 to 9.")), NumberRange(min=1, max=9, message=_l("Enter a number from 1 to 9."))])
    discrepancy_pct = DecimalField(_l("Discrepancy threshold (percentage of the maximum score)"), places=2, validators=[
        DataRequired(_l("Enter a percentage above 0 and at most 100.")),
        NumberRange(min=Decimal("0.01"), max=100, message=_l("Enter a percentage above 0 and at most 100."))])
    chair_id = SelectField(_l("Committee chair"), coerce=int, validate_choice=False)
    tranche_template = TextAreaField(_l("Tranche template (one per line: share in percent; month after start; reports through month)"),
                                     validators=[Optional(), Length(max=2000)],
                                     description=_l("For example 30; 0; 0 for an advance. Empty: the standard template."))
    finance_period_months = IntegerField(
        _l("Financial reporting period (months)"), validators=[
            Optional(), NumberRange(min=1, max=12, message=_l("Enter a number of months from 1 to 12."))],
        description=_l("Grantees report their expenditure once per period: 3 for quarterly."))
    budget_variance_pct = DecimalField(
        _l("Allowed variance per budget line (%)"), places=2, validators=[
            Optional(), NumberRange(min=0, max=100, message=_l("Enter a percentage from 0 to 100 with at most two decimals."))],
        description=_l("How far above its approved amount a budget line may go without a budget amendment."))
    register_required = BooleanField(
        _l("Grants of this call keep a service-user register, which fills their monthly reports' beneficiaries"),
        description=_l("Can be switched on only before any grant of the call has a monthly report; switched off, later "
                       "reports are typed again."))
    submit = SubmitField(_l("Save"))
