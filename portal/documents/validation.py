"""What may be uploaded: the type is read from the content, never from the name; Office and ODF
files are zip archives whose directory is checked before anything in them is opened."""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import BinaryIO
from zlib import error as zlib_error

from flask_babel import gettext as _

from portal.errors import ValidationFailed


@dataclass(frozen=True)
class FileType:
    label: str
    content_type: str
    extensions: tuple[str, ...]


TYPES: dict[str, FileType] = {
    "pdf": FileType("PDF", "application/pdf", ("pdf",)),
    "jpeg": FileType("JPEG", "image/jpeg", ("jpg", "jpeg")),
    "png": FileType("PNG", "image/png", ("png",)),
    "docx": FileType("DOCX", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ("docx",)),
    "xlsx": FileType("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ("xlsx",)),
    "odt": FileType("ODT", "application/vnd.oasis.opendocument.text", ("odt",)),
    "ods": FileType("ODS", "application/vnd.oasis.opendocument.spreadsheet", ("ods",)),
}
ODF_MIMETYPES = {"application/vnd.oasis.opendocument.text": "odt",
                 "application/vnd.oasis.opendocument.spreadsheet": "ods"}
ALLOWED_LABELS = ", ".join(t.label for t in TYPES.values())

# Characters that reorder or hide text: a name must read as it is stored.
BIDI_AND_INVISIBLE = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
                      "\u200e", "\u200f", "\u061c", "\u200b", "\ufeff"}
MAX_NAME = 150


def refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field_errors={"file": [message]})


def clean_filename(name: str | None) -> str:
    """A display name: no folders, no control or direction-changing characters, at most 150
    characters with the extension kept. It is never used as a storage key."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = re.sub(r"\s+", " ", name)
    name = "".join(c for c in name if c not in BIDI_AND_INVISIBLE and unicodedata.category(c)[0] != "C")
    name = name.strip().lstrip(".").replace('"', "'")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:10].lower()
    stem = stem[: MAX_NAME - len(ext) - 1].rstrip(" .")
    cleaned = f"{stem}.{ext}" if ext and stem else stem
    return cleaned or "document"


def extension_of(name: str) -> str:
    return name.rpartition(".")[2].lower() if "." in name else ""


def too_expanded(max_expanded: int) -> ValidationFailed:
    return refuse(_("The document would expand to more than %(mb)d MB when opened. Save it again as PDF "
                    "and upload that.", mb=max_expanded // (1024 * 1024)))


def _decompress_counting(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], max_expanded: int) -> None:
    """Inflate every member in small chunks, counting the bytes that really come out, and stop at the
    first member that yields more than its directory entry declares or once the total passes the limit:
    a lying directory (100 B claimed, 200 MB inside) is refused after reading about the limit, never
    more, with flat memory."""
    total = 0
    for entry in entries:
        produced = 0
        try:
            with archive.open(entry) as member:
                # zipfile itself refuses a member longer than declared (BadZipFile); the count is the backstop.
                while chunk := member.read(64 * 1024):
                    produced += len(chunk)
                    total += len(chunk)
                    if produced > entry.file_size or total > max_expanded:
                        raise too_expanded(max_expanded)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
                RuntimeError, zlib_error):
            raise refuse(_("The file is damaged: it looks like an Office document but cannot be read.")) from None


def _inspect_zip(fh: BinaryIO, max_entries: int, max_expanded: int) -> str:
    fh.seek(0)
    try:
        archive = zipfile.ZipFile(fh)  # reads the central directory only
    except (zipfile.BadZipFile, OSError, ValueError):
        raise refuse(_("The file is damaged: it looks like an Office document but cannot be read.")) from None
    with archive:
        entries = archive.infolist()
        if len(entries) > max_entries:
            raise refuse(_("The document contains too many parts (%(n)d). Save it again as PDF and upload that.",
                           n=len(entries)))
        expanded = sum(entry.file_size for entry in entries)
        if expanded > max_expanded:
            raise too_expanded(max_expanded)
        # The directory's sizes are what the file claims; count what actually comes out.
        _decompress_counting(archive, entries, max_expanded)
        names = {entry.filename for entry in entries}
        if "mimetype" in names:
            with archive.open("mimetype") as member:
                declared = member.read(100).decode("ascii", "replace").strip()
            if declared in ODF_MIMETYPES:
                return ODF_MIMETYPES[declared]
        if "[Content_Types].xml" in names:
            if "word/document.xml" in names:
                return "docx"
            if "xl/workbook.xml" in names:
                return "xlsx"
    raise refuse(_("This kind of file is not accepted. Upload one of: %(types)s.", types=ALLOWED_LABELS))


def detect_type(fh: BinaryIO, max_entries: int, max_expanded: int) -> str:
    fh.seek(0)
    head = fh.read(8)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"PK\x03\x04"):
        return _inspect_zip(fh, max_entries, max_expanded)
    raise refuse(_("This kind of file is not accepted. Upload one of: %(types)s.", types=ALLOWED_LABELS))


def check_name_matches(kind: str, filename: str) -> None:
    ext = extension_of(filename)
    file_type = TYPES[kind]
    if ext in file_type.extensions:
        return
    if any(ext in t.extensions for t in TYPES.values()):
        raise refuse(_("The file's content does not match its name: it is a %(actual)s file but its name ends in "
                       ".%(ext)s. Rename it or upload the right file.", actual=file_type.label, ext=ext))
    raise refuse(_("The file name must end in one of: %(exts)s.",
                   exts=", ".join("." + e for t in TYPES.values() for e in t.extensions)))
