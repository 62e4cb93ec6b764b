from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, SubmitField
from wtforms.validators import Optional


class UploadForm(FlaskForm):
    purpose = SelectField(_l("Kind of document"), validators=[Optional()], validate_choice=False)
    file = FileField(_l("File"), validators=[FileRequired(_l("Choose a file to upload."))])
    replaces = HiddenField()
    submit = SubmitField(_l("Upload"))


def upload_form(purposes: tuple[str, ...], **kwargs) -> UploadForm:
    from portal.documents.services import purpose_label

    form = UploadForm(**kwargs)
    form.purpose.choices = [(p, purpose_label(p)) for p in purposes]
    form.file.description = _("PDF, JPEG, PNG, DOCX, XLSX, ODT or ODS, up to %(mb)d MB.",
                              mb=current_app.config["MAX_UPLOAD_MB"])
    return form
