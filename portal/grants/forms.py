from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, FieldList, Form, FormField, HiddenField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.grants.services import Terms, TrancheRow

DATE = _l("Enter a date like 2027-03-31.")
AMOUNT = _l("Enter an amount in euro, for example 250000.00.")
PCT = _l("Enter a percentage from 0 to 100, for example 50.")


class TrancheForm(Form):
    planned_date = DateField(_l("Planned date"), validators=[Optional()])
    amount_eur = DecimalField(_l("Amount (EUR)"), places=2, validators=[Optional(), NumberRange(min=0, message=AMOUNT)])
    reports_required_through = IntegerField(_l("Reports accepted up to month"), default=0,
                                            validators=[Optional(), NumberRange(min=0, max=60)])
    # Money conditions (issue 18): empty means none; the service checks the period against the grant's periods.
    requires_finance_period = IntegerField(_l("Financial reports accepted up to period"),
                                           validators=[Optional(), NumberRange(min=1, max=60)])
    min_spent_pct = DecimalField(_l("Spent of the money disbursed before, at least (%)"), places=2,
                                 validators=[Optional(), NumberRange(min=0, max=100, message=PCT)])

    def is_blank(self) -> bool:
        return self.planned_date.data is None and self.amount_eur.data is None


class TermsForm(FlaskForm):
    signature_date = DateField(_l("Signature date"), validators=[DataRequired(DATE)])
    start_date = DateField(_l("Start date"), validators=[DataRequired(DATE)])
    end_date = DateField(_l("End date"), validators=[DataRequired(DATE)])
    committed_eur = DecimalField(_l("Committed amount (EUR)"), places=2,
                                 validators=[DataRequired(AMOUNT), NumberRange(min=0, message=AMOUNT)])
    tranches = FieldList(FormField(TrancheForm), min_entries=3)
    add_tranche = SubmitField(_l("Add a tranche"))

    def to_terms(self) -> Terms:
        rows = [TrancheRow(row.form.planned_date.data, row.form.amount_eur.data, row.form.reports_required_through.data or 0,
                           row.form.requires_finance_period.data, row.form.min_spent_pct.data)
                for row in self.tranches if not row.form.is_blank()]
        return Terms(signature_date=self.signature_date.data, start_date=self.start_date.data,
                     end_date=self.end_date.data, committed_eur=self.committed_eur.data, tranches=rows)

    def tranche_errors(self) -> list[str]:
        return [str(_l("Each tranche needs a planned date and an amount.")) for row in self.tranches
                if not row.form.is_blank() and (row.form.planned_date.data is None or row.form.amount_eur.data is None)][:1]


class AgreementForm(TermsForm):
    number = StringField(_l("Agreement number"), validators=[DataRequired(_l("Enter the agreement number.")),
                                                             Length(max=60)])
    submit = SubmitField(_l("Record the signed agreement"))


class AmendmentForm(TermsForm):
    # The agreement version this form was built from: a save from an older one is refused.
    expected_version = HiddenField()
    reason = TextAreaField(_l("Reason for the amendment"), validators=[Optional(), Length(max=4000)])
    submit = SubmitField(_l("Record the amendment"))


class PaymentForm(FlaskForm):
    paid_on = DateField(_l("Payment date"), validators=[DataRequired(DATE)])
    bank_reference = StringField(_l("Bank reference"), validators=[Optional(), Length(max=80)])
    submit = SubmitField(_l("Mark as paid"))


class ReverseForm(FlaskForm):
    reason = StringField(_l("Reason for the correction"), validators=[DataRequired(_l("Say why the entry is reversed.")),
                                                                     Length(max=500)])
    submit = SubmitField(_l("Reverse"))
