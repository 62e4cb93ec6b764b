"""Reading an uploaded XLSX without trusting it: limits checked while reading, never after.

Before openpyxl sees the file, every member of the zip is decompressed once, in 64 KB pieces, counting the
bytes that actually come out (not the sizes the zip directory claims; a member longer than it claims fails its
CRC check and is refused as damaged). In the worksheets the `<row>` and `<c>` tags are counted on the way. The
first limit passed stops the reading, so a hostile file (60,000 rows of 17 cells: 27 MB of XML in 2 MB zipped)
is refused after reading a few MB, in milliseconds, and memory stays flat. Only then is the workbook opened
in openpyxl's read-only (streaming) mode, and rows are taken one at a time, with the same row limit again.

The limits (config): BULK_MAX_ROWS rows per sheet (default 5,000), BULK_MAX_CELLS cells in the workbook
(150,000), BULK_MAX_XML_MB MB of decompressed content (20), UPLOAD_MAX_ZIP_ENTRIES members."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from openpyxl.cell.cell import TYPE_FORMULA
from openpyxl.utils import get_column_letter

from portal import i18n

CHUNK = 64 * 1024
ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")
CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s>/]")
OPEN = re.compile(rb"<[A-Za-z_]")
CLOSE = re.compile(rb"</|/>")
MAX_DEPTH = 100  # elements nested in one another: a template has fewer than 10; hostile files have thousands
TAIL = 32  # bytes kept between pieces so a tag cut in two is still found (and never counted twice)
MAX_COLUMNS = 40  # columns read per row: the template has at most 17; more are never imported


class Refused(Exception):
    """The file is refused as a whole; `message` says why, in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def limits() -> dict[str, int]:
    config = current_app.config
    return {"rows": int(config.get("BULK_MAX_ROWS", 5000)), "cells": int(config.get("BULK_MAX_CELLS", 150_000)),
            "bytes": int(config.get("BULK_MAX_XML_MB", 20)) * 1024 * 1024,
            "entries": int(config.get("UPLOAD_MAX_ZIP_ENTRIES", 1000))}


def _count(pattern: re.Pattern, buffer: bytes, tail: int) -> int:
    """Matches in `buffer` not already counted: those lying wholly in its first `tail` bytes (the end of the piece
    before) were. `findall` runs in C, so counting keeps pace with the decompressor."""
    return len(pattern.findall(buffer)) - (len(pattern.findall(buffer[:tail])) if tail else 0)


def check_package(data: bytes, max_rows: int | None = None, max_cells: int | None = None, size: int | None = None,
                  entries: int | None = None) -> None:
    """Decompress every member counting what comes out; raise `Refused` at the first limit passed."""
    limit = limits()
    max_rows, max_cells = max_rows or limit["rows"], max_cells or limit["cells"]
    size, entries = size or limit["bytes"], entries or limit["entries"]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > entries:
                raise Refused(_("The file holds too many parts (%(n)d, at most %(max)d). Download the template and "
                                "fill it in.", n=len(members), max=entries))
            total = cell_count = 0
            for member in members:
                sheet = member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml")
                xml = member.filename.endswith((".xml", ".rels"))
                row_count, depth, tail = 0, 0, b""
                with archive.open(member) as stream:
                    while piece := stream.read(CHUNK):
                        total += len(piece)
                        if total > size:
                            raise Refused(_("The file expands to more than %(mb)d MB of content: it is far larger than "
                                            "a filled-in template. Upload the template with your figures only.",
                                            mb=size // (1024 * 1024)))
                        if not xml:
                            continue
                        buffer = tail + piece
                        depth += _count(OPEN, buffer, len(tail)) - _count(CLOSE, buffer, len(tail))
                        if depth > MAX_DEPTH:
                            raise Refused(_("The file's content is nested far deeper than a spreadsheet's: it is not a "
                                            "filled-in template. Download the template and fill it in."))
                        if not sheet:
                            tail = buffer[-TAIL:]
                            continue
                        row_count += _count(ROW, buffer, len(tail))
                        cell_count += _count(CELL, buffer, len(tail))
                        tail = buffer[-TAIL:]
                        if row_count > max_rows:
                            raise Refused(_("A sheet of the file has more than %(max)s rows. The template holds one row "
                                            "per grant, month and service type or group: remove the extra rows.",
                                            max=i18n.number(max_rows)))
                        if cell_count > max_cells:
                            raise Refused(_("The file has more than %(max)s cells. Remove everything that is not part "
                                            "of the template.", max=i18n.number(max_cells)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError, OSError):
        raise Refused(_("The XLSX file cannot be read: it may be damaged. Save it again and upload it.")) from None


def open_workbook(data: bytes) -> Any:
    """The workbook in read-only (streaming) mode, after `check_package`."""
    from openpyxl import load_workbook

    check_package(data)
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # openpyxl raises many kinds for a damaged file
        raise Refused(_("The XLSX file cannot be read: it may be damaged. Save it again and upload it.")) from None


def open_upload(data: bytes, not_xlsx: str | None = None) -> Any:
    """An uploaded file as a workbook: first its real type (`detect_type`, which also refuses zip bombs), then
    `open_workbook`. Anything that is not an XLSX is refused with `not_xlsx` (the upload's own words)."""
    from portal.documents.validation import detect_type
    from portal.errors import ValidationFailed

    config = current_app.config
    try:
        kind = detect_type(io.BytesIO(data), config["UPLOAD_MAX_ZIP_ENTRIES"], config["UPLOAD_MAX_EXPANDED_MB"] * 1024 * 1024)
    except ValidationFailed as exc:
        raise Refused(str(exc.message)) from None
    if kind != "xlsx":
        raise Refused(not_xlsx or _("This is not an XLSX file. Download the template, fill it in and upload it as XLSX."))
    return open_workbook(data)


def rows(sheet: Any) -> Iterator[tuple[int, tuple]]:
    """(row number, cells) one row at a time, at most MAX_COLUMNS cells each; `Refused` past the row limit."""
    limit = limits()["rows"]
    try:
        for number, cells in enumerate(sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS), start=1):
            if number > limit:
                raise Refused(_("A sheet of the file has more than %(max)s rows. The template holds one row per grant, "
                                "month and service type or group: remove the extra rows.", max=i18n.number(limit)))
            yield number, cells
    except Refused:
        raise
    except Exception:
        raise Refused(_("The XLSX file cannot be read: it may be damaged. Save it again and upload it.")) from None


def record(sheet: str, number: int, keys: list[str], cells: tuple, informational: set[str] | frozenset[str],
           problem: Callable[[str, int, str, str], None]) -> dict[str, Any] | None:
    """One data row of a bulk upload as a record keyed by column key (`_row`: its number), or None when it is empty.
    A formula is never evaluated: the cell is refused through `problem`, its value kept as None and its key listed
    in `_formula`. Informational columns (shown in the template, never imported) and unknown ones are left out."""
    values: dict[str, Any] = {"_row": number}
    for index, (key, cell) in enumerate(zip(keys, cells, strict=False)):
        value = cell.value
        if cell.data_type == TYPE_FORMULA or (isinstance(value, str) and value.startswith("=")):
            problem(sheet, number, key or get_column_letter(index + 1), _("Formulas are not accepted: type the value itself."))
            values[key] = None
            values.setdefault("_formula", set()).add(key)
            continue
        if key and key not in informational:
            values[key] = value
    if any(v not in (None, "") for k, v in values.items() if not k.startswith("_")) or "_formula" in values:
        return values
    return None
