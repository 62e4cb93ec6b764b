"""The one document service every capability uses: upload (validated, stored, versioned,
audited) and download (permission first, then stream or a short-lived presigned link)."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import access, audit
from portal.db import utcnow
from portal.documents import scan as virus_scan
from portal.documents.storage import get_storage
from portal.documents.validation import TYPES, check_name_matches, clean_filename, detect_type, refuse
from portal.errors import Conflict, DomainError, NotAllowed, ValidationFailed, too_large_message
from portal.models import Document, Organisation, User

log = logging.getLogger(__name__)
MB = 1024 * 1024


class TooLarge(DomainError):
    status = 413


@dataclass(frozen=True)
class Purpose:
    label: object
    personal: bool  # personal evidence (names, pay): never shown to monitors


PURPOSES: dict[str, Purpose] = {
    "licence": Purpose(_l("Licence for providing social services"), False),
    "statute": Purpose(_l("Statute"), False),
    "registration_certificate": Purpose(_l("Registration certificate (Central Register)"), False),
    "council_decision": Purpose(_l("Municipal council decision"), False),
    "signed_agreement": Purpose(_l("Signed agreement"), False),
    "timesheet": Purpose(_l("Timesheet"), True),
    "payroll": Purpose(_l("Payroll"), True),
    "employment_registration": Purpose(_l("Employment agency registration"), True),
    "needs_assessment": Purpose(_l("Needs assessment"), False),
    "cofinancing_statement": Purpose(_l("Co-financing statement"), False),
    "agreement_amendment": Purpose(_l("Signed amendment"), False),
    "work_plan": Purpose(_l("Work plan"), False),
    "budget_detail": Purpose(_l("Detailed budget"), False),
    "call_text": Purpose(_l("Text of the call"), False),
    "call_annex": Purpose(_l("Annex to the call"), False),
    "other": Purpose(_l("Other document"), False),
    "grievance_evidence": Purpose(_l("Evidence sent with a concern"), True),
    "invoice": Purpose(_l("Invoice"), False),
    "bank_statement": Purpose(_l("Bank statement"), False),
}

#: The purposes each kind of object accepts; later capabilities add their own object types.
OBJECT_PURPOSES: dict[str, tuple[str, ...]] = {
    "organisation": ("licence", "statute", "registration_certificate", "council_decision", "other"),
    "eoi": ("council_decision", "needs_assessment", "cofinancing_statement", "other"),
    "call": ("call_text", "call_annex"),
    "application": ("work_plan", "budget_detail", "cofinancing_statement", "licence", "statute", "other"),
    "agreement": ("signed_agreement", "agreement_amendment", "other"),
    "report": ("timesheet", "payroll", "employment_registration", "other"),
    "grievance": ("grievance_evidence",),
    "financial_report": ("invoice", "payroll", "bank_statement", "other"),
}


def purpose_label(purpose: str) -> str:
    found = PURPOSES.get(purpose)
    return str(found.label) if found else purpose


def _spool(stream: BinaryIO, limit: int) -> tuple[tempfile.SpooledTemporaryFile, int, str]:
    """Copy the upload into memory (or an anonymous temporary file past 1 MB, removed on close),
    counting and hashing as it goes; stop as soon as the limit is passed."""
    spool = tempfile.SpooledTemporaryFile(max_size=MB)
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := stream.read(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise TooLarge(too_large_message())
            digest.update(chunk)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, size, digest.hexdigest()


def _scan(spool: BinaryIO) -> None:
    host = current_app.config.get("CLAMAV_HOST")
    if not host:
        return
    try:
        found = virus_scan.scan(spool, host, current_app.config["CLAMAV_PORT"])
    except virus_scan.ScanUnavailable as exc:
        log.error("virus scan unavailable: %s", exc)
        raise refuse(_("The file could not be checked for viruses just now. Try again in a few minutes.")) from None
    if found:
        log.warning("upload refused, virus scanner found %s", found)
        raise refuse(_("The virus scanner found a threat in this file (%(name)s). It was not stored.", name=found))


def latest_version(session: Session, series_id: str) -> int:
    return session.scalar(sa.select(sa.func.max(Document.version)).where(Document.series_id == series_id)) or 0


def upload(session: Session, actor: User | None, *, owner: Organisation, object_type: str, object_id: object, purpose: str,
           stream: BinaryIO, filename: str | None, replaces: Document | None = None) -> Document:
    if not access.can_upload_document(actor, owner, object_type):
        raise NotAllowed()
    if replaces is not None:
        if (replaces.owner_organisation_id, replaces.object_type, replaces.object_id) != (owner.id, object_type, str(object_id)):
            raise NotAllowed()
        purpose = replaces.purpose
    if purpose not in OBJECT_PURPOSES.get(object_type, ()):
        raise ValidationFailed(field_errors={"purpose": [_("Choose what kind of document this is.")]})
    name = clean_filename(filename)
    config = current_app.config
    spool, size, digest = _spool(stream, config["MAX_UPLOAD_MB"] * MB)
    with spool:
        if size == 0:
            raise refuse(_("The file is empty. Choose the file again and upload it."))
        kind = detect_type(spool, config["UPLOAD_MAX_ZIP_ENTRIES"], config["UPLOAD_MAX_EXPANDED_MB"] * MB)
        check_name_matches(kind, name)
        _scan(spool)
        key = f"{object_type}/{utcnow():%Y/%m}/{uuid.uuid4().hex}"
        document = Document(
            series_id=replaces.series_id if replaces else uuid.uuid4().hex,
            version=latest_version(session, replaces.series_id) + 1 if replaces else 1,
            owner_organisation_id=owner.id, object_type=object_type, object_id=str(object_id), purpose=purpose,
            original_name=name, content_type=TYPES[kind].content_type, size=size, sha256=digest, storage_key=key,
            personal=PURPOSES[purpose].personal, uploaded_by_id=actor.id if actor is not None else None,
        )
        storage = get_storage()
        storage.put(key, spool, document.content_type)
    try:
        with session.begin_nested():
            session.add(document)
    except sa.exc.IntegrityError:
        storage.delete(key)  # the row was refused, so the bytes belong to nothing
        raise Conflict(_("Someone replaced this document at the same time. Reload the page and check the "
                         "newest version.")) from None
    except BaseException:
        storage.delete(key)
        raise
    audit.record(session, actor, "document.uploaded", document, after={
        "series_id": document.series_id, "version": document.version, "purpose": purpose, "name": name,
        "size": size, "sha256": digest, "object": f"{object_type}:{object_id}"})
    return document


@dataclass
class Download:
    document: Document
    url: str | None = None
    chunks: Iterator[bytes] | None = None


def prepare_download(session: Session, actor: User, document: Document) -> Download:
    """Check the permission, then open the bytes (or sign a 60-second link to them)."""
    if not access.can_download_document(actor, document):
        raise NotAllowed()
    storage = get_storage()
    audit.record(session, actor if getattr(actor, "is_authenticated", False) else None, "document.downloaded", document)
    if current_app.config.get("S3_PRESIGNED_DOWNLOADS"):
        url = storage.presigned_url(document.storage_key, document.original_name, document.content_type, expires=60)
        if url:
            return Download(document, url=url)
    return Download(document, chunks=storage.open(document.storage_key))


def documents_for(session: Session, object_type: str, object_id: object) -> list[Document]:
    """The newest version of every document of an object, with older versions reachable by series."""
    newest = (sa.select(Document.series_id, sa.func.max(Document.version).label("version"))
              .where(Document.object_type == object_type, Document.object_id == str(object_id))
              .group_by(Document.series_id).subquery())
    return list(session.scalars(
        sa.select(Document)
        .join(newest, sa.and_(Document.series_id == newest.c.series_id, Document.version == newest.c.version))
        .options(sa.orm.joinedload(Document.uploaded_by))
        .order_by(Document.purpose, Document.uploaded_at.desc())))


def versions_by_series(session: Session, series_ids: list[str]) -> dict[str, list[Document]]:
    history: dict[str, list[Document]] = {}
    if not series_ids:
        return history
    for document in session.scalars(sa.select(Document).where(Document.series_id.in_(series_ids))
                                    .options(sa.orm.joinedload(Document.uploaded_by))
                                    .order_by(Document.series_id, Document.version.desc())):
        history.setdefault(document.series_id, []).append(document)
    return history


def sweep_storage(session: Session, older_than_minutes: int = 60) -> dict[str, int]:
    """Remove what an interrupted upload left behind: temporary files of writes that never finished,
    and stored objects that no document row points at (the worker died between storing the bytes and
    committing the row). Only objects older than `older_than_minutes` are touched, so an upload in
    progress is never swept. Run by `flask send-mail` (cron) and `flask sweep-uploads`."""
    import time

    storage = get_storage()
    cutoff = time.time() - older_than_minutes * 60
    removed = {"unfinished": 0, "orphaned": 0}
    candidates = []
    for key, unfinished in storage.stored_before(cutoff):
        if unfinished:
            storage.delete(key)
            removed["unfinished"] += 1
        elif not key.startswith("healthcheck/"):
            candidates.append(key)
    for start in range(0, len(candidates), 500):
        chunk = candidates[start:start + 500]
        known = set(session.scalars(sa.select(Document.storage_key).where(Document.storage_key.in_(chunk))))
        for key in chunk:
            if key not in known:
                storage.delete(key)
                removed["orphaned"] += 1
    if any(removed.values()):
        log.warning("storage sweep removed %(unfinished)d unfinished and %(orphaned)d orphaned objects", removed)
    return removed
