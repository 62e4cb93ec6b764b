from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length

REQUIRED = _l("This field is required.")
EMAIL = _l("Enter an email address like name@example.org.")


class LoginForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(REQUIRED), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=256)])
    next = HiddenField()
    submit = SubmitField(_l("Sign in"))


class SetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(REQUIRED)],
                             description=_l("At least 12 characters. A short sentence is easy to remember."))
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(REQUIRED)])
    submit = SubmitField(_l("Save password"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(REQUIRED), Email(EMAIL), Length(max=254)])
    submit = SubmitField(_l("Send me a link"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(REQUIRED)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(REQUIRED)],
                                 description=_l("At least 12 characters. You will stay signed in here; "
                                                "every other session ends."))
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(REQUIRED)])
    submit = SubmitField(_l("Change password"))


class LanguageForm(FlaskForm):
    language = SelectField(_l("Language"), choices=[("mk", "Македонски"), ("sq", "Shqip"), ("en", "English")])
    next = HiddenField()
    submit = SubmitField(_l("Change language"))


class LogoutForm(FlaskForm):
    submit = SubmitField(_l("Sign out"))


class NameForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[DataRequired(REQUIRED), Length(max=200)])


class MfaCodeForm(FlaskForm):
    """The second step of sign-in: a code from the authenticator app or a recovery code."""

    code = StringField(_l("Code"), validators=[DataRequired(REQUIRED), Length(max=40)],
                       description=_l("The 6-digit code your authenticator app shows now, "
                                      "or one of your recovery codes."))
    submit = SubmitField(_l("Continue"))


class MfaEnrolForm(FlaskForm):
    code = StringField(_l("Code from the app"), validators=[DataRequired(REQUIRED), Length(max=20)],
                       description=_l("The 6-digit code the app shows after you added the portal."))
    submit = SubmitField(_l("Confirm and turn on"))


class MfaRecoveryForm(FlaskForm):
    code = StringField(_l("Code from the app"), validators=[DataRequired(REQUIRED), Length(max=20)],
                       description=_l("The 6-digit code your authenticator app shows now."))
    submit = SubmitField(_l("Make new recovery codes"))
