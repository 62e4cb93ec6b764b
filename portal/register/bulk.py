"""Bulk import of a grant's register from XLSX or CSV (issue 16): the provider's own grant, all or nothing.

Every row goes through the checks of the form (`services.checked_entry`, `services._check_end`: one place), then
through the checks of a register — the same person twice in the file, or already in this register, in the same
service with overlapping dates. Nothing is written unless every row is valid; otherwise every problem is listed by
sheet, row and column. Messages name the row and column, never the value: a personal number typed in the wrong
column is not echoed back.

The personal numbers are read from the uploaded bytes in memory, turned into keys and dropped: they are never
stored, logged, audited or shown back, and the file itself is not kept. Hostile files are refused the way the
monthly reports' bulk upload refuses them: an XLSX through `portal.reports.xlsx_reader` (limits checked while
decompressing, formulas refused), a CSV by size, rows, columns and strict UTF-8 before any row is read."""

from __future__ import annotations

import csv
import io
import numbers
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from openpyxl.cell.cell import TYPE_FORMULA
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from portal import audit, i18n
from portal.errors import NotAllowed, ValidationFailed
from portal.labels import LEAVING_REASON
from portal.models import GrantAgreement, LeavingReason, Municipality, RegisterEpisode, User
from portal.register import access, keys, services
from portal.reports import xlsx_reader
from portal.reports.bulk import NO, YES

SHEET = "register"
KEY = re.compile(r"\[([a-z_]+)\]\s*$")
MAX_ERRORS = 500
REQUIRED = ("personal_number", "decision_number", "decision_date", "decision_centre", "service_type", "start_date",
            "disability", "municipality")
OPTIONAL = ("confirm_checksum", "end_date", "leaving_reason", "local_reference")
#: Where a field error of the services lands in the file (sex and year of birth come from the number).
FIELD_COLUMN = {"service_type_id": "service_type", "municipality_id": "municipality", "sex": "personal_number",
                "birth_year": "personal_number"}


def columns() -> list[tuple[str, str]]:
    """(key, label) of every column of the template, in order."""
    return [("personal_number", _("Personal number (ЕМБГ)")),
            ("confirm_checksum", _("Check digit fails, but written so on the decision (yes)")),
            ("decision_number", _("Number of the ЦСР decision")), ("decision_date", _("Date of the decision")),
            ("decision_centre", _("Centre for Social Work that decided")), ("service_type", _("Service (code)")),
            ("start_date", _("First day of the service")), ("end_date", _("Last day of the service (if ended)")),
            ("leaving_reason", _("Reason for leaving (code)")), ("disability", _("Disability (yes/no)")),
            ("municipality", _("Municipality where the person lives (code)")),
            ("local_reference", _("Your own reference (optional)"))]


@dataclass
class Problem:
    sheet: str
    row: int | None
    column: str
    message: str


@dataclass
class Outcome:
    problems: list[Problem] = field(default_factory=list)
    added: int = 0
    ended: int = 0
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Reader:
    def __init__(self, outcome: Outcome, sheet: str) -> None:
        self.outcome, self.sheet = outcome, sheet
        self.letters: dict[str, str] = {}

    def problem(self, row: int | None, key: str, message: str) -> None:
        letter = self.letters.get(key, "")
        column = f"{letter} ({key})" if letter and key else (letter or key)
        self.outcome.problems.append(Problem(self.sheet, row, column, message))


# Reading the file ------------------------------------------------------------------------------------------------

def _limits() -> tuple[int, int]:
    limit = xlsx_reader.limits()
    return limit["rows"], limit["bytes"]


def _csv_rows(data: bytes) -> list[tuple[int, list[Any]]]:
    """The rows of a CSV, refused as a whole when it is not what a spreadsheet saves: UTF-8 (with or without a
    BOM), comma, semicolon or tab separated, within the size, row and column limits."""
    max_rows, max_bytes = _limits()
    if len(data) > max_bytes:
        raise _Refused(_("The file is larger than %(mb)d MB: far larger than a register. Upload one grant's register.",
                         mb=max_bytes // (1024 * 1024)))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _Refused(_("The CSV file is not UTF-8 text. In the spreadsheet, save it as “CSV UTF-8” (or upload the "
                         "XLSX template).")) from None
    if "\x00" in text:
        raise _Refused(_("The CSV file holds control characters: it is not a spreadsheet saved as CSV."))
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    found: list[tuple[int, list[Any]]] = []
    try:
        for number, cells in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1):
            if number > max_rows:
                raise _Refused(_("The file has more than %(max)s rows. Split it into several files.",
                                 max=i18n.number(max_rows)))
            found.append((number, cells[:xlsx_reader.MAX_COLUMNS]))
    except csv.Error:
        raise _Refused(_("The CSV file cannot be read (a cell is far too long or a quote is not closed).")) from None
    return found


def _xlsx_rows(data: bytes) -> tuple[str, list[tuple[int, list[Any]]]]:
    try:
        workbook = xlsx_reader.open_upload(
            data, _("This is not an XLSX or CSV file. Download the template, fill it in and upload it."))
    except xlsx_reader.Refused as exc:
        raise _Refused(exc.message) from None
    try:
        if not workbook.sheetnames:
            raise xlsx_reader.Refused(_("The file is empty: its first row must hold the column headers."))
        name = SHEET if SHEET in workbook.sheetnames else workbook.sheetnames[0]
        found = []
        for number, cells in xlsx_reader.rows(workbook[name]):
            found.append((number, [_FORMULA if cell.data_type == TYPE_FORMULA else cell.value for cell in cells]))
        return name, found
    except xlsx_reader.Refused as exc:
        raise _Refused(exc.message) from None
    finally:
        workbook.close()


_FORMULA = object()


def _header(cells: list[Any], reader: _Reader) -> list[str]:
    known = {k for k, _label in columns()}
    names: list[str] = []
    for index, value in enumerate(cells):
        letter = get_column_letter(index + 1)
        text = "" if value is None or value is _FORMULA else str(value).strip()
        if not text:
            names.append("")
            continue
        match = KEY.search(text)
        key = match.group(1) if match else text.lower()
        if key not in known:
            reader.problem(1, letter, _("This column is not part of the template. Remove it, or download the "
                                        "template again."))
            key = ""
        elif key in reader.letters:
            reader.problem(1, letter, _("The column %(key)s appears twice.", key=key))
            key = ""
        else:
            reader.letters[key] = letter
        names.append(key)
    labels = dict(columns())
    for key in REQUIRED:
        if key not in reader.letters:
            reader.problem(1, "", _("The column “%(label)s [%(key)s]” is missing.", label=labels[key], key=key))
    return names


# One row -----------------------------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real) and value == value and abs(value) != float("inf") and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Any) -> str:
    """The personal number as typed; a spreadsheet that took it for a number dropped its leading zero."""
    text = _text(value)
    return text.zfill(13) if text.isdigit() and 10 <= len(text) < 13 and not isinstance(value, str) else text


def _date(value: Any) -> date | None | bool:
    """A date cell: the date, None when empty, False when it is not a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        return None
    for pattern, order in ((r"(\d{4})-(\d{1,2})-(\d{1,2})", (1, 2, 3)), (r"(\d{1,2})\.(\d{1,2})\.(\d{4})\.?", (3, 2, 1)),
                           (r"(\d{1,2})/(\d{1,2})/(\d{4})", (3, 2, 1))):
        match = re.fullmatch(pattern, text)
        if match:
            try:
                return date(*(int(match.group(i)) for i in order))
            except ValueError:
                return False
    return False


def _yes_no(value: Any) -> str | None:
    """"yes", "no", "" (empty) or None (neither)."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    text = _text(value).lower()
    if not text:
        return ""
    return "yes" if text in YES else "no" if text in NO else None


class _Lookups:
    def __init__(self, session: Session, agreement: GrantAgreement) -> None:
        self.types: dict[str, int] = {}
        for t in services.service_types_of(agreement):
            for name in (t.code, t.name_mk, t.name_sq, t.name_en):
                if (name or "").strip():
                    self.types[name.strip().lower()] = t.id
        self.places: dict[str, int] = {}
        self.municipalities = list(session.scalars(sa.select(Municipality)))  # held: the checks `get` them by id
        for m in self.municipalities:
            for name in (m.code, m.name_mk, m.name_sq, m.name_en):
                if (name or "").strip():
                    self.places[name.strip().lower()] = m.id
        self.reasons = {r.value: r.value for r in LeavingReason}
        self.reasons.update({str(text).lower(): code for code, text in LEAVING_REASON.items()})


@dataclass
class _Row:
    row: int
    data: services.EpisodeData
    person_key: str
    key_version: int
    confirmed: bool  # a failing check digit, confirmed
    end: date | None
    reason: str


def _read_row(session: Session, agreement: GrantAgreement, number: int, values: dict[str, Any], lookups: _Lookups,
              reader: _Reader, key) -> _Row | None:
    errors: dict[str, list[str]] = {}
    parsed: dict[str, Any] = {}
    for name in ("decision_date", "start_date", "end_date"):
        day = _date(values.get(name))
        if day is False:
            errors[name] = [_("Enter a date as YYYY-MM-DD or DD.MM.YYYY.")]
            day = None
        parsed[name] = day
    confirm = _yes_no(values.get("confirm_checksum"))
    if confirm is None:
        errors["confirm_checksum"] = [_("Write yes to confirm the number as written on the decision, or leave the "
                                        "cell empty.")]
    disability = _yes_no(values.get("disability"))
    if disability is None:
        errors["disability"] = [_("Write yes or no.")]
    service = _text(values.get("service_type")).lower()
    if service and service not in lookups.types:
        errors["service_type"] = [_("Not a service of this grant: write one of the codes on the codes sheet.")]
    place = _text(values.get("municipality")).lower()
    if place and place not in lookups.places:
        errors["municipality"] = [_("Not a municipality: write one of the codes on the codes sheet.")]
    reason = _text(values.get("leaving_reason")).lower()
    if reason and reason not in lookups.reasons:
        errors["leaving_reason"] = [_("Not a reason for leaving: write one of the codes on the codes sheet.")]
    data = services.EpisodeData(
        decision_number=_text(values.get("decision_number")), decision_date=parsed["decision_date"],
        decision_centre=_text(values.get("decision_centre")), service_type_id=lookups.types.get(service),
        start_date=parsed["start_date"], disability=disability or "", municipality_id=lookups.places.get(place),
        local_reference=_text(values.get("local_reference")))
    end, leaving = parsed["end_date"], lookups.reasons.get(reason, "")
    checked: dict[str, list[str]] = {}
    if end is not None or reason:
        services._check_end(end, leaving, data.start_date, checked)
    found = None
    try:
        found = services.checked_entry(session, agreement, _number(values.get("personal_number")), data,
                                       confirm == "yes", key)
    except ValidationFailed as exc:
        checked.update({k: [str(m) for m in v] for k, v in exc.field_errors.items()})
    if "personal_number" in checked:  # sex and year of birth are read from it: nothing to add about them
        checked.pop("sex", None)
        checked.pop("birth_year", None)
    for name, messages in checked.items():
        column = FIELD_COLUMN.get(name, name)
        if column not in errors:  # a cell that could not be read says so once
            errors.setdefault(column, []).extend(messages)
    for column, messages in errors.items():
        for message in dict.fromkeys(messages):
            reader.problem(number, column, message)
    if errors or found is None:
        return None
    person_key, key_version, facts = found
    return _Row(number, data, person_key, key_version, not facts.checksum_ok, end, leaving)


def _rows(session: Session, agreement: GrantAgreement, data: bytes, filename: str, reader: _Reader) -> list[_Row]:
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        reader.sheet, rows = _xlsx_rows(data)
    elif data[:5] == b"%PDF-" or not filename.lower().endswith((".csv", ".txt")) and b"\x00" in data[:4096]:
        raise _Refused(_("This is not an XLSX or CSV file. Download the template, fill it in and upload it."))
    else:
        reader.sheet, rows = "", _csv_rows(data)
    if not rows:
        raise _Refused(_("The file is empty: its first row must hold the column headers."))
    names = _header(rows[0][1], reader)
    if not reader.outcome.ok:
        return []
    lookups = _Lookups(session, agreement)
    key = keys.keyer(session)
    found: list[_Row] = []
    for number, cells in rows[1:]:
        values: dict[str, Any] = {}
        for name, value in zip(names, cells, strict=False):
            if not name:
                continue
            if value is _FORMULA or (isinstance(value, str) and value.strip().startswith("=")):
                reader.problem(number, name, _("Formulas are not accepted: type the value itself."))
                values["_formula"] = True
                continue
            values[name] = value
        if not any(_text(v) for k, v in values.items() if k != "_formula") and "_formula" not in values:
            continue  # an empty line
        reader.outcome.rows += 1
        if "_formula" in values:
            continue
        row = _read_row(session, agreement, number, values, lookups, reader, key)
        if row is not None:
            found.append(row)
    return found


def _overlapping(rows: list[_Row], session: Session, agreement: GrantAgreement, reader: _Reader) -> None:
    """The same person in the same service with overlapping dates: twice in the file, or already in the register."""
    here: dict[tuple[str, int], list[RegisterEpisode]] = {}
    for episode in services.episodes_of(session, agreement):
        v = episode.current
        if not v.withdrawn:
            here.setdefault((episode.person_key, v.service_type_id), []).append(episode)
    seen: dict[tuple[str, int], list[_Row]] = {}
    for row in rows:
        slot = (row.person_key, row.data.service_type_id)
        earlier = next((r for r in seen.get(slot, []) if services._overlaps(r.data.start_date, r.end,
                                                                            row.data.start_date, row.end)), None)
        if earlier is not None:
            reader.problem(row.row, "personal_number", _(
                "The same person and service as in row %(row)d, with overlapping dates. Keep one row, or correct the "
                "dates.", row=earlier.row))
        existing = next((e for e in here.get(slot, []) if services._overlaps(e.current.start_date, e.current.end_date,
                                                                           row.data.start_date, row.end)), None)
        if existing is not None:
            reader.problem(row.row, "personal_number", services.same_person_message(existing))
        seen.setdefault(slot, []).append(row)


# The import ----------------------------------------------------------------------------------------------------------

def upload(session: Session, actor: User, agreement: GrantAgreement, data: bytes, filename: str = "") -> Outcome:
    """Check every row of the file, then add every row (ending those with an end date), or nothing."""
    if not access.can_keep(actor, agreement):
        raise NotAllowed()
    outcome = Outcome()
    reader = _Reader(outcome, SHEET)
    try:
        rows = _rows(session, agreement, data, filename or "", reader)
    except _Refused as exc:
        outcome.problems.append(Problem("", None, "", exc.message))
        return outcome
    del data  # the file is not kept
    services.lock_register(session, agreement)  # the register as it stands once no one else is adding to it
    _overlapping(rows, session, agreement, reader)
    if outcome.ok and not rows:
        reader.problem(None, "", _("Nothing to import: the file has no filled-in row below the headers."))
    if not outcome.ok:
        outcome.problems.sort(key=lambda p: (p.row or 0) if p.row != 1 else -1)
        del outcome.problems[MAX_ERRORS:]
        return outcome
    # Two statements, whatever the number of rows: the episodes (their ids returned in order), then their versions.
    ids = session.scalars(sa.insert(RegisterEpisode).returning(RegisterEpisode.id, sort_by_parameter_order=True), [
        dict(agreement_id=agreement.id, person_key=row.person_key, key_version=row.key_version,
             current_version=2 if row.end else 1, created_by_id=actor.id) for row in rows]).all()
    versions = []
    for episode_id, row in zip(ids, rows, strict=True):
        versions.append(services._version(episode_id, 1, row.data, actor, "added"))
        if row.end:
            row.data.end_date, row.data.leaving_reason = row.end, row.reason
            versions.append(services._version(episode_id, 2, row.data, actor, "ended"))
            outcome.ended += 1
    session.add_all(versions)
    session.flush()
    outcome.added = len(ids)
    confirmed = sum(row.confirmed for row in rows)
    audit.record(session, actor, "register.imported", agreement,
                 after={"rows": outcome.rows, "episodes_added": outcome.added, "episodes_ended": outcome.ended,
                        "checksum_confirmed": confirmed})
    return outcome
