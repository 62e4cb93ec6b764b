from flask import Blueprint, Response, abort, redirect
from flask_babel import gettext as _
from flask_login import current_user

from portal import access
from portal.db import db
from portal.documents import services
from portal.documents.storage import StorageMissing, content_disposition
from portal.errors import render_error
from portal.extensions import login_manager
from portal.models import Document

bp = Blueprint("documents", __name__, url_prefix="/documents")


@bp.get("/<int:doc_id>")
def download(doc_id: int):
    document = db.get(Document, doc_id)
    if document is None:
        abort(404)
    if not current_user.is_authenticated and not access.can_download_document(current_user, document):
        return login_manager.unauthorized()
    try:
        result = services.prepare_download(db, current_user, document)
    except StorageMissing:
        db.rollback()
        services.log.error("document %s: object %s missing from storage", document.id, document.storage_key)
        return render_error(404, _("The file of this document is missing from storage. The administrators have been "
                                   "told; give them the request id below."))
    db.commit()
    if result.url:
        return redirect(result.url)
    headers = {
        "Content-Disposition": content_disposition(document.original_name),
        "Content-Length": str(document.size),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    # The chunks need no request context (plain file or S3 stream), so none is kept alive while
    # the download runs.
    return Response(result.chunks, mimetype=document.content_type, headers=headers, direct_passthrough=True)


def attach(object_type: str, object_id: int, owner, done: str, back: str):
    """The one shape of every *attach a document* route (a report's evidence, an agreement's documents, a financial
    report's invoices): the upload form of the object's purposes, the document service, one commit, a message in
    the reader's language, and back to the page's documents. The route checks who may attach first."""
    from flask import flash

    from portal.documents.forms import upload_form
    from portal.errors import ValidationFailed

    form = upload_form(services.OBJECT_PURPOSES[object_type])
    if form.validate_on_submit():
        replaces = db.get(Document, int(form.replaces.data)) if (form.replaces.data or "").isdigit() else None
        try:
            services.upload(db, current_user, owner=owner, object_type=object_type, object_id=object_id,
                            purpose=form.purpose.data, stream=form.file.data.stream, filename=form.file.data.filename,
                            replaces=replaces)
        except ValidationFailed as exc:
            db.rollback()
            flash(" ".join(str(m) for messages in exc.field_errors.values() for m in messages) or str(exc.message),
                  "error")
        else:
            db.commit()
            flash(done, "success")
    else:
        flash(_("Choose the kind of document and the file, then upload."), "error")
    return redirect(back + "#documents")
