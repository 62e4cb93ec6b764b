"""The service-user register: every rule in one place (issue 16).

The personal number (ЕМБГ, `DDMMYYYRRBBBK`) is checked here, turned into the keyed hash (`keys.person_key`) and
dropped: it is never stored, logged, audited or shown back. Adding an episode writes version 1; ending and
correcting write the next version (nothing is overwritten); every change and every read of a page with entries
writes an audit row, none of which holds the number or the hash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from portal import audit
from portal.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationFailed
from portal.models import (
    GrantAgreement,
    LeavingReason,
    Municipality,
    RegisterEpisode,
    RegisterEpisodeVersion,
    Role,
    Sex,
    User,
)
from portal.register import access, keys
from portal.reports.services import today_in_skopje

WEIGHTS = (7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
#: Age bands of the monthly reports (portal.models.reports): the age a person reaches in the year.
AGE_BANDS = (("0_17", 0, 17), ("18_64", 18, 64), ("65_79", 65, 79), ("80_plus", 80, 200))
#: Thirteen digits in a row (spaces, dots, dashes and slashes ignored): what a personal number looks like.
LOOKS_LIKE_NUMBER = re.compile(r"\d{13}")
#: The fields of a version. Audit rows name the fields a change touched, never their values: the values are in the
#: episode's own (append-only) history, and the audit trail, kept for ever and read by administrators, holds no
#: decision number, reference or date of anyone's service.
FIELDS = ["decision_number", "decision_date", "decision_centre", "service_type_id", "start_date", "end_date",
          "leaving_reason", "sex", "birth_year", "disability", "municipality_id", "local_reference", "withdrawn"]


# The personal number ---------------------------------------------------------------------------------------------

def check_digit(first_twelve: str) -> int:
    """The ЕМБГ check digit: m = 11 − (Σ digit × weight mod 11) with weights 7,6,5,4,3,2,7,6,5,4,3,2; m for 1–9,
    0 when m is 10 or 11."""
    m = 11 - sum(int(d) * w for d, w in zip(first_twelve, WEIGHTS, strict=True)) % 11
    return m if m <= 9 else 0


@dataclass(frozen=True)
class NumberFacts:
    """What a personal number says (kept only while the entry is checked)."""

    birth_date: date
    sex: Sex
    checksum_ok: bool


def normalise(raw: str) -> str:
    return re.sub(r"[\s.\-]", "", raw or "")


def read_number(raw: str) -> tuple[str, NumberFacts | None, str]:
    """(the digits, what they say, "" or the problem). A failing check digit alone still gives the facts: the caller
    decides whether the provider has confirmed the number (some numbers issued in the 1990s fail it)."""
    number = normalise(raw)
    if not number:
        return number, None, _("Enter the person's personal number (ЕМБГ).")
    if len(number) != 13 or not number.isascii() or not number.isdigit():
        return number, None, _("A personal number has exactly 13 digits.")
    day, month, year3 = int(number[0:2]), int(number[2:4]), int(number[4:7])
    year = 1000 + year3 if year3 >= 800 else 2000 + year3
    try:
        birth = date(year, month, day)
    except ValueError:
        return number, None, _("The first seven digits of a personal number are a date of birth (DDMMYYY); these "
                               "are not a real date.")
    if birth > today_in_skopje() or birth.year < 1900:
        return number, None, _("The date of birth in this personal number is not possible.")
    sex = Sex.MALE if int(number[9:12]) < 500 else Sex.FEMALE
    ok = check_digit(number[:12]) == int(number[12])
    return number, NumberFacts(birth, sex, ok), "" if ok else _(
        "The check digit of this personal number is wrong. Check it against the ЦСР decision; if it is written "
        "exactly so there, tick the confirmation below.")


def age_band(birth_year: int, on: date) -> str:
    age = on.year - birth_year
    return next((code for code, low, high in AGE_BANDS if low <= age <= high), AGE_BANDS[-1][0])


# Episodes ------------------------------------------------------------------------------------------------------------

@dataclass
class EpisodeData:
    decision_number: str = ""
    decision_date: date | None = None
    decision_centre: str = ""
    service_type_id: int | None = None
    start_date: date | None = None
    sex: str = ""
    birth_year: int | None = None
    disability: str = ""  # "yes" / "no"
    municipality_id: int | None = None
    local_reference: str = ""
    # Corrections only.
    end_date: date | None = None
    leaving_reason: str = ""
    withdrawn: bool = False
    note: str = ""


def service_types_of(agreement: GrantAgreement) -> list:
    return list(agreement.application.service_types)


def no_number_in(errors: dict[str, list[str]], **texts: str) -> None:
    for name, text in texts.items():
        if LOOKS_LIKE_NUMBER.search(re.sub(r"[\s.\-/]", "", text or "")):
            errors.setdefault(name, []).append(_("Do not write a personal number here: the register keeps none."))


def _check(session: Session, agreement: GrantAgreement, data: EpisodeData, errors: dict[str, list[str]],
           facts: NumberFacts | None = None, correction: bool = False) -> None:
    today = today_in_skopje()
    terms = agreement.current
    data.decision_number = (data.decision_number or "").strip()
    data.decision_centre = (data.decision_centre or "").strip()
    data.local_reference = (data.local_reference or "").strip()
    data.note = (data.note or "").strip()
    if not data.decision_number:
        errors.setdefault("decision_number", []).append(_("Enter the number of the ЦСР decision."))
    elif len(data.decision_number) > 40:
        errors.setdefault("decision_number", []).append(_("At most %(n)s characters.", n=40))
    if not data.decision_centre:
        errors.setdefault("decision_centre", []).append(_("Enter the Centre for Social Work that decided."))
    elif len(data.decision_centre) > 120:
        errors.setdefault("decision_centre", []).append(_("At most %(n)s characters.", n=120))
    if len(data.local_reference) > 40:
        errors.setdefault("local_reference", []).append(_("At most %(n)s characters.", n=40))
    no_number_in(errors, decision_number=data.decision_number, decision_centre=data.decision_centre,
                 local_reference=data.local_reference, note=data.note)
    if data.decision_date is None:
        errors.setdefault("decision_date", []).append(_("Enter the date of the decision."))
    elif data.decision_date > today:
        errors.setdefault("decision_date", []).append(_("The decision cannot be dated in the future."))
    if data.service_type_id not in {t.id for t in service_types_of(agreement)}:
        errors.setdefault("service_type_id", []).append(_("Choose one of the services of this grant."))
    if data.start_date is None:
        errors.setdefault("start_date", []).append(_("Enter the date the service started."))
    elif data.start_date > today:
        errors.setdefault("start_date", []).append(_("The service cannot start in the future: enter it once it has."))
    elif not terms.start_date <= data.start_date <= terms.end_date:
        errors.setdefault("start_date", []).append(_("The start must fall within the grant agreement (%(start)s – "
                                                     "%(end)s).", start=terms.start_date.isoformat(),
                                                     end=terms.end_date.isoformat()))
    if facts is not None:  # filled from the personal number when left empty, and checked against it
        data.sex = data.sex or facts.sex.value
        data.birth_year = data.birth_year or facts.birth_date.year
        if data.sex != facts.sex.value:
            errors.setdefault("sex", []).append(_("This does not match the personal number."))
        if data.birth_year != facts.birth_date.year:
            errors.setdefault("birth_year", []).append(_("This does not match the personal number."))
    if data.sex not in {s.value for s in Sex}:
        errors.setdefault("sex", []).append(_("Choose the person's sex."))
    if data.birth_year is None or not 1900 <= data.birth_year <= today.year:
        errors.setdefault("birth_year", []).append(_("Enter a year of birth from 1900 to this year."))
    if data.disability not in ("yes", "no"):
        errors.setdefault("disability", []).append(_("Say whether the person has a disability."))
    if data.municipality_id is None or session.get(Municipality, data.municipality_id) is None:
        errors.setdefault("municipality_id", []).append(_("Choose the municipality where the person lives."))
    if correction:
        if data.end_date is not None or data.leaving_reason:
            _check_end(data.end_date, data.leaving_reason, data.start_date, errors)
        if not data.note:
            errors.setdefault("note", []).append(_("Say what was wrong and why it is corrected."))


def _check_end(end: date | None, reason: str, start: date | None, errors: dict[str, list[str]]) -> None:
    if end is None:
        errors.setdefault("end_date", []).append(_("Enter the last day of the service."))
    elif end > today_in_skopje():
        errors.setdefault("end_date", []).append(_("The service cannot end in the future: enter it once it has."))
    elif start is not None and end < start:
        errors.setdefault("end_date", []).append(_("The service cannot end before it started."))
    if reason not in {r.value for r in LeavingReason}:
        errors.setdefault("leaving_reason", []).append(_("Choose the reason for leaving."))


def _overlaps(a_start: date, a_end: date | None, b_start: date, b_end: date | None) -> bool:
    return a_start <= (b_end or date.max) and b_start <= (a_end or date.max)


REGISTER_LOCK = 816224602  # advisory lock namespace: one writer at a time per register (the key is the grant's id)


def lock_register(session: Session, agreement: GrantAgreement) -> None:
    """One writer at a time per register, to the end of the transaction: the same-person check reads the register
    and then adds, so two people adding the same person at once (a form and an import, two imports) must not both
    pass it. A transaction-level advisory lock on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers already.
    What this session read of the register before is read again."""
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(CAST(:space AS integer), CAST(:grant AS integer))"),
                        {"space": REGISTER_LOCK, "grant": agreement.id})
        session.expire_all()


def _same_person_here(session: Session, agreement: GrantAgreement, person_key: str, service_type_id: int,
                      start: date, end: date | None, except_id: int | None = None) -> RegisterEpisode | None:
    for episode in episodes_of(session, agreement):
        v = episode.current
        if (episode.id != except_id and episode.person_key == person_key and not v.withdrawn
                and v.service_type_id == service_type_id and _overlaps(v.start_date, v.end_date, start, end)):
            return episode
    return None


def _version(episode_id: int | None, number: int, data: EpisodeData, actor: User, change: str) -> RegisterEpisodeVersion:
    return RegisterEpisodeVersion(
        episode_id=episode_id, version=number, decision_number=data.decision_number, decision_date=data.decision_date,
        decision_centre=data.decision_centre, service_type_id=data.service_type_id, start_date=data.start_date,
        end_date=data.end_date, leaving_reason=LeavingReason(data.leaving_reason) if data.leaving_reason else None,
        sex=Sex(data.sex), birth_year=data.birth_year, disability=data.disability == "yes",
        municipality_id=data.municipality_id, local_reference=data.local_reference, withdrawn=data.withdrawn,
        change=change, note=data.note, created_by_id=actor.id)


def checked_entry(session: Session, agreement: GrantAgreement, personal_number: str, data: EpisodeData,
                  confirm_checksum: bool = False, key: Any = None) -> tuple[str, int, NumberFacts]:
    """The checks of a new entry — the form's and the bulk import's (`portal.register.bulk`), one place: raises
    ValidationFailed naming every field, or gives the person's key (and key version) and what the number says. The
    number itself goes no further. `key` (number → (key, version)) lets an import check the secrets once."""
    errors: dict[str, list[str]] = {}
    number, facts, problem = read_number(personal_number)
    if problem and not (facts is not None and confirm_checksum):
        errors["personal_number"] = [problem]
    data.end_date, data.leaving_reason, data.withdrawn = None, "", False
    _check(session, agreement, data, errors, facts)
    if errors or facts is None:
        raise ValidationFailed(field_errors=errors)
    person_key, key_version = key(number) if key is not None else keys.person_key(session, number)
    return person_key, key_version, facts


def same_person_message(existing: RegisterEpisode) -> str:
    return _("This person already has an episode of this service in this register (%(ref)s) that overlaps this one. "
             "Correct or end that one instead.", ref=reference_of(existing))


def add_episode(session: Session, actor: User, agreement: GrantAgreement, personal_number: str, data: EpisodeData,
                confirm_checksum: bool = False) -> RegisterEpisode:
    if not access.can_keep(actor, agreement):
        raise NotAllowed()
    person_key, key_version, facts = checked_entry(session, agreement, personal_number, data, confirm_checksum)
    del personal_number  # nothing of the number goes further than this line
    lock_register(session, agreement)
    existing = _same_person_here(session, agreement, person_key, data.service_type_id, data.start_date, None)
    if existing is not None:
        raise ValidationFailed(field_errors={"personal_number": [same_person_message(existing)]})
    episode = RegisterEpisode(agreement_id=agreement.id, person_key=person_key, key_version=key_version,
                              current_version=1, created_by_id=actor.id)
    session.add(episode)
    session.flush()
    version = _version(episode.id, 1, data, actor, "added")
    session.add(version)
    session.flush()
    session.refresh(episode, ["versions"])
    audit.record(session, actor, "register.episode_added", episode,
                 after={"version": 1, "agreement_id": agreement.id,
                        "checksum_confirmed": bool(facts and not facts.checksum_ok)})
    return episode


def _next_version(session: Session, actor: User, episode: RegisterEpisode, expected_version: int | None,
                  data: EpisodeData, change: str) -> RegisterEpisodeVersion:
    if expected_version != episode.current_version:
        raise Conflict()
    previous = audit.snapshot(episode.current, FIELDS)
    number = episode.current_version + 1
    version = _version(episode.id, number, data, actor, change)
    session.add(version)
    episode.current_version = number  # the UPDATE checks the version it read: a concurrent change fails here
    try:
        session.flush()
    except StaleDataError:
        raise Conflict() from None
    session.refresh(episode, ["versions"])
    current = audit.snapshot(version, FIELDS)
    audit.record(session, actor, f"register.episode_{change}", episode, before={"version": number - 1},
                 after={"version": number, "changed": [name for name in FIELDS if previous[name] != current[name]]})
    return version


def _data_of(version: RegisterEpisodeVersion) -> EpisodeData:
    return EpisodeData(
        decision_number=version.decision_number, decision_date=version.decision_date,
        decision_centre=version.decision_centre, service_type_id=version.service_type_id,
        start_date=version.start_date, sex=version.sex.value, birth_year=version.birth_year,
        disability="yes" if version.disability else "no", municipality_id=version.municipality_id,
        local_reference=version.local_reference, end_date=version.end_date,
        leaving_reason=version.leaving_reason.value if version.leaving_reason else "", withdrawn=version.withdrawn,
        note="")


def end_episode(session: Session, actor: User, episode: RegisterEpisode, end: date | None, reason: str,
                expected_version: int | None) -> RegisterEpisodeVersion:
    if not access.can_keep(actor, episode.agreement):
        raise NotAllowed()
    current = episode.current
    if current.end_date is not None or current.withdrawn:
        raise InvalidTransition(_("This episode has already ended. Correct it if its end is wrong."))
    errors: dict[str, list[str]] = {}
    _check_end(end, reason, current.start_date, errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    data = _data_of(current)
    data.end_date, data.leaving_reason = end, reason
    return _next_version(session, actor, episode, expected_version, data, "ended")


def correct_episode(session: Session, actor: User, episode: RegisterEpisode, data: EpisodeData,
                    expected_version: int | None) -> RegisterEpisodeVersion:
    if not access.can_keep(actor, episode.agreement):
        raise NotAllowed()
    errors: dict[str, list[str]] = {}
    _check(session, episode.agreement, data, errors, correction=True)
    if errors:
        raise ValidationFailed(field_errors=errors)
    if not data.end_date:
        data.leaving_reason = ""
    lock_register(session, episode.agreement)
    if not data.withdrawn and _same_person_here(session, episode.agreement, episode.person_key, data.service_type_id,
                                                data.start_date, data.end_date, except_id=episode.id):
        raise ValidationFailed(field_errors={"start_date": [_(
            "Another episode of this person and service in this register overlaps these dates.")]})
    return _next_version(session, actor, episode, expected_version, data, "corrected")


def correction_defaults(episode: RegisterEpisode) -> EpisodeData:
    return _data_of(episode.current)


# Reading -------------------------------------------------------------------------------------------------------------

def reference_of(episode: RegisterEpisode) -> str:
    """How a page names an episode: its number in the portal and the provider's own reference."""
    local = episode.current.local_reference
    return f"#{episode.id}" + (f" ({local})" if local else "")


def episodes_of(session: Session, agreement: GrantAgreement) -> list[RegisterEpisode]:
    return list(session.scalars(
        sa.select(RegisterEpisode).where(RegisterEpisode.agreement_id == agreement.id)
        .options(selectinload(RegisterEpisode.versions).selectinload(RegisterEpisodeVersion.service_type),
                 selectinload(RegisterEpisode.versions).selectinload(RegisterEpisodeVersion.municipality))
        .order_by(RegisterEpisode.id.desc())))


def summary(episodes: list[RegisterEpisode], on: date | None = None) -> dict[str, int]:
    """Episodes active on a day (default today), ended, withdrawn; and unique people active."""
    on = on or today_in_skopje()
    active = [e for e in episodes if not e.current.withdrawn and _overlaps(e.current.start_date, e.current.end_date, on, on)]
    return {"active": len(active), "people_active": len({e.person_key for e in active}),
            "ended": sum(1 for e in episodes if e.current.end_date is not None and not e.current.withdrawn),
            "withdrawn": sum(1 for e in episodes if e.current.withdrawn), "all": len(episodes)}


def agreement_for(session: Session, actor: User, agreement_id: int, keep: bool = False) -> GrantAgreement:
    agreement = session.get(GrantAgreement, agreement_id)
    if agreement is None:
        raise NotFound()
    if not (access.can_keep(actor, agreement) if keep else access.can_view(actor, agreement)):
        raise NotAllowed()
    return agreement


def episode_for(session: Session, actor: User, episode_id: int, keep: bool = False) -> RegisterEpisode:
    episode = session.get(RegisterEpisode, episode_id)
    if episode is None:
        raise NotFound()
    agreement_for(session, actor, episode.agreement_id, keep)
    return episode


def visible_query(actor: User) -> sa.Select:
    """The grants whose registers (or, for a municipality, whose counts) the person may see, by number: a query,
    so that the list is read a page at a time (`with_counts` then counts for that page only)."""
    if not access.can_list_registers(actor):
        raise NotAllowed()
    query = sa.select(GrantAgreement).order_by(GrantAgreement.number, GrantAgreement.id)
    if actor.role == Role.MUNICIPALITY:
        query = query.where(GrantAgreement.municipality_org_id == actor.organisation_id)
    elif not access.is_ministry_reader(actor):
        query = query.where(GrantAgreement.organisation_id == actor.organisation_id)
    return query


def with_counts(session: Session, agreements: list[GrantAgreement]) -> list[tuple[GrantAgreement, int, int]]:
    """Each grant with its episodes (withdrawn ones left out) and the different people being served today."""
    if not agreements:
        return []
    today = today_in_skopje()
    version = RegisterEpisodeVersion
    active = sa.and_(version.start_date <= today, sa.or_(version.end_date.is_(None), version.end_date >= today))
    counts = {row[0]: (row[1], row[2]) for row in session.execute(
        sa.select(RegisterEpisode.agreement_id, sa.func.count(RegisterEpisode.id),
                  sa.func.count(sa.distinct(sa.case((active, RegisterEpisode.person_key)))))
        .join(version, sa.and_(version.episode_id == RegisterEpisode.id,
                               version.version == RegisterEpisode.current_version))
        .where(version.withdrawn.is_(False), RegisterEpisode.agreement_id.in_([a.id for a in agreements]))
        .group_by(RegisterEpisode.agreement_id))}
    return [(a, *counts.get(a.id, (0, 0))) for a in agreements]


def visible_agreements(session: Session, actor: User) -> list[tuple[GrantAgreement, int, int]]:
    """Every grant of `visible_query` with its counts (the page reads them a page at a time)."""
    return with_counts(session, list(session.scalars(visible_query(actor))))


def export(session: Session, actor: User, agreement: GrantAgreement) -> tuple[list[str], list[list[Any]]]:
    """The provider's own register as a table, current versions, without the keyed hashes; audited."""
    from portal.labels import label

    if not access.can_keep(actor, agreement):
        raise NotAllowed()
    header = [_("Episode"), _("Your own reference"), _("Service"), _("From"), _("To"), _("Reason for leaving"),
              _("Number of the ЦСР decision"), _("Date of the decision"), _("Centre for Social Work that decided"),
              _("Sex"), _("Year of birth"), _("Age band"), _("Disability"), _("Municipality of residence"),
              _("Withdrawn (entered in error)"), _("Version")]
    today = today_in_skopje()
    episodes = episodes_of(session, agreement)
    rows = [[e.id, v.local_reference, v.service_type.name(), v.start_date.isoformat(),
             v.end_date.isoformat() if v.end_date else "", label(v.leaving_reason, "leaving_reason"), v.decision_number,
             v.decision_date.isoformat(), v.decision_centre, label(v.sex, "sex"), v.birth_year,
             label(age_band(v.birth_year, today), "age_band"), _("yes") if v.disability else _("no"),
             v.municipality.name(), _("yes") if v.withdrawn else _("no"), v.version]
            for e in episodes for v in [e.current]]
    audit.record(session, actor, "register.exported", agreement, after={"episodes": len(rows)})
    return header, rows


def record_view(session: Session, actor: User, page: str, obj: Any = None, **after: Any) -> None:
    """Every read of a page that shows register entries: who, which page, which grant or episode."""
    audit.record(session, actor, "register.viewed", obj, object_type=None if obj is not None else "register",
                 object_id=None if obj is not None else "", after={"page": page, **after})
