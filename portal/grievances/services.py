"""Grievance redress: every state change of a case, in one place (issue 17).

received → acknowledged → (escalated) → closed → re-opened (acknowledged again) → … Each step writes an audit row;
messages are only ever added. Deadlines are counted in Skopje calendar days from the day the concern arrived: a
case received on 2 March with 7 days to acknowledge is due by the end of 9 March, Skopje time (stored in UTC)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from portal import audit, clock, mail
from portal.api import ratelimit
from portal.errors import DomainError, InvalidTransition, NotAllowed, ValidationFailed
from portal.grievances import access
from portal.models import (
    SENSITIVE_CATEGORIES,
    AuditEvent,
    GrantAgreement,
    Grievance,
    GrievanceCategory,
    GrievanceHandler,
    GrievanceMessage,
    GrievanceMessageKind,
    GrievanceSettings,
    GrievanceStatus,
    Municipality,
    Organisation,
    OrgKind,
    Role,
    User,
)

RATE_WINDOW_SECONDS = 3600
CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY34679"  # no 0/O, 1/I, 2/Z, 5/S, 8/B
MAX_BODY = 10_000


class TooManySubmissions(DomainError):
    status = 429
    default_message = _l("Too many concerns have been sent from this connection in the last hour. Wait an hour and "
                         "send it again, or call the ministry.")


class Refused(DomainError):
    status = 400
    default_message = _l("The form could not be accepted. Reload the page and send it again.")


# Settings and deadlines ---------------------------------------------------------------------------------------

def get_settings(session: Session) -> GrievanceSettings:
    row = session.scalar(sa.select(GrievanceSettings).order_by(GrievanceSettings.id).limit(1))
    if row is None:
        row = GrievanceSettings(acknowledge_days=7, resolve_days=30, sensitive_threshold=5, submissions_per_hour=5)
        session.add(row)
        session.flush()
    return row


def due_at(received_at: datetime, days: int) -> datetime:
    """The end of the `days`-th Skopje calendar day after the day of receipt, in UTC."""
    local_day = clock.utc_to_skopje(received_at).date() + timedelta(days=days + 1)
    return clock.skopje_to_utc(datetime.combine(local_day, time.min))


@dataclass
class SettingsData:
    acknowledge_days: int
    resolve_days: int
    sensitive_threshold: int
    submissions_per_hour: int


def update_settings(session: Session, actor: User, data: SettingsData) -> GrievanceSettings:
    if not access.can_manage_settings(actor):
        raise NotAllowed()
    errors: dict[str, list] = {}
    if not 1 <= data.acknowledge_days <= 90:
        errors["acknowledge_days"] = [_("Enter a number of days from 1 to 90.")]
    if not 1 <= data.resolve_days <= 365 or data.resolve_days < data.acknowledge_days:
        errors["resolve_days"] = [_("Enter a number of days from 1 to 365, not fewer than the days to acknowledge.")]
    if not 1 <= data.sensitive_threshold <= 100:
        errors["sensitive_threshold"] = [_("Enter a whole number from 1 to 100.")]
    if not 1 <= data.submissions_per_hour <= 1000:
        errors["submissions_per_hour"] = [_("Enter a whole number from 1 to 1000.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    row = get_settings(session)
    fields = ["acknowledge_days", "resolve_days", "sensitive_threshold", "submissions_per_hour"]
    before = audit.snapshot(row, fields)
    for name in fields:
        setattr(row, name, getattr(data, name))
    audit.record(session, actor, "grievance.settings_changed", row, before=before, after=audit.snapshot(row, fields))
    return row


# Public intake -------------------------------------------------------------------------------------------------

def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_code(session: Session) -> str:
    while True:
        code = "GRM-" + "".join(secrets.choice(CODE_ALPHABET) for _i in range(4)) + "-" + \
            "".join(secrets.choice(CODE_ALPHABET) for _i in range(4))
        if session.scalar(sa.select(Grievance.id).where(Grievance.tracking_code == code)) is None:
            return code


def signed_grants(session: Session) -> list[tuple[int, str]]:
    """The grants a person may name: signed agreements, shown by what is public about them (the provider and the
    municipality), never their money or contacts."""
    provider = sa.orm.aliased(Organisation)
    municipality = sa.orm.aliased(Organisation)
    rows = session.execute(
        sa.select(GrantAgreement.id, provider.name, municipality.name)
        .join(provider, provider.id == GrantAgreement.organisation_id)
        .join(municipality, municipality.id == GrantAgreement.municipality_org_id)
        .order_by(municipality.name, provider.name)).all()
    return [(gid, f"{pname} — {mname}") for gid, pname, mname in rows]


@dataclass
class IntakeData:
    category: str
    municipality_id: int | None
    agreement_id: int | None
    about: str
    description: str
    anonymous: bool
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    language: str = "mk"
    honeypot: str = ""


def _check_intake(session: Session, data: IntakeData) -> dict[str, list]:
    errors: dict[str, list] = {}
    if data.category not in {c.value for c in GrievanceCategory}:
        errors["category"] = [_("Choose what the concern is about.")]
    if not data.municipality_id or session.get(Municipality, data.municipality_id) is None:
        errors["municipality_id"] = [_("Choose the municipality where it happened.")]
    if data.agreement_id and session.get(GrantAgreement, data.agreement_id) is None:
        errors["agreement_id"] = [_("Choose a service from the list, or leave it empty.")]
    description = data.description.strip()
    if len(description) < 10:
        errors["description"] = [_("Describe what happened in a few words (at least 10 characters).")]
    elif len(description) > MAX_BODY:
        errors["description"] = [_("Shorten the description to at most %(n)d characters.", n=MAX_BODY)]
    if not data.anonymous:
        if not data.contact_name.strip():
            errors["contact_name"] = [_("Enter your name, or choose to stay anonymous.")]
        if not data.contact_email.strip() and not data.contact_phone.strip():
            errors["contact_email"] = [_("Enter an e-mail address or a phone number, so that we can answer you.")]
    return errors


def _count_submission(session: Session, address: str, limit: int) -> None:
    now = int(clock.now().timestamp())
    window = now - now % RATE_WINDOW_SECONDS
    if ratelimit.hit(session, f"grievance:{address}"[:80], window) > limit:
        raise TooManySubmissions()


def submit(session: Session, data: IntakeData, address: str, evidence: tuple[BinaryIO, str] | None = None,
           ) -> tuple[Grievance, str]:
    """A new case from anyone (no account). Returns it with the secret of its link (shown once, only its hash is
    kept). The honeypot field, invisible to people, must stay empty; each address may send a few an hour."""
    if data.honeypot:
        raise Refused()
    errors = _check_intake(session, data)
    if errors:
        raise ValidationFailed(field_errors=errors)
    settings = get_settings(session)
    _count_submission(session, address, settings.submissions_per_hour)
    now = clock.now()
    category = GrievanceCategory(data.category)
    secret = secrets.token_urlsafe(32)
    case = Grievance(
        tracking_code=_new_code(session), secret_hash=digest(secret), category=category,
        sensitive=category in SENSITIVE_CATEGORIES, municipality_id=data.municipality_id,
        agreement_id=data.agreement_id or None, about=data.about.strip()[:300], description=data.description.strip(),
        anonymous=data.anonymous, language=data.language if data.language in ("mk", "sq", "en") else "mk",
        contact_name="" if data.anonymous else data.contact_name.strip()[:200],
        contact_email="" if data.anonymous else data.contact_email.strip().lower()[:254],
        contact_phone="" if data.anonymous else data.contact_phone.strip()[:40],
        status=GrievanceStatus.RECEIVED, received_at=now, acknowledge_due_at=due_at(now, settings.acknowledge_days),
        resolve_due_at=due_at(now, settings.resolve_days))
    session.add(case)
    session.flush()
    # No contact details and no free text in the audit trail (messages are referred to by id): who complained and
    # what was written is known to the case's handlers only.
    event = audit.record(session, None, "grievance.submitted", case, actor_email="",
                         after={"code": case.tracking_code, "category": category, "sensitive": case.sensitive,
                                "municipality_id": case.municipality_id, "agreement_id": case.agreement_id,
                                "anonymous": case.anonymous})
    event.ip = ""  # the complainant's address is not kept (it could name an anonymous person)
    if evidence is not None:
        from portal.documents import services as documents

        ministry = session.scalar(sa.select(Organisation).where(Organisation.kind == OrgKind.MINISTRY)
                                  .order_by(Organisation.id).limit(1))
        if ministry is not None:
            stream, filename = evidence
            documents.upload(session, None, owner=ministry, object_type="grievance", object_id=case.id,
                             purpose="grievance_evidence", stream=stream, filename=filename)
            for pending in session.new:  # the upload's audit row, not written yet: without the address either
                if isinstance(pending, AuditEvent):
                    pending.ip = ""
    if case.contact_email:
        _mail_complainant(session, case, _l("Your concern %(code)s has been received"), "mail/grievance_received.txt",
                          link=follow_link(secret))
    return case, secret


def follow_link(secret: str) -> str:
    return f"{current_app.config['PORTAL_BASE_URL']}/concerns/follow/{secret}"


def by_secret(session: Session, secret: str) -> Grievance | None:
    """The case a secret link opens, or None (a wrong or malformed secret opens nothing)."""
    if not secret or len(secret) > 100:
        return None
    return session.scalar(sa.select(Grievance).where(Grievance.secret_hash == digest(secret)))


def _mail_complainant(session: Session, case: Grievance, subject, template: str, **context) -> None:
    if not case.contact_email:
        return
    with force_locale(case.language):
        text = str(subject) % {"code": case.tracking_code}
        body = render_template(template, case=case, **context)
    mail.queue(session, case.contact_email, text, body)


def _body(text: str, field: str = "body") -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(field_errors={field: [_("Write the message first.")]})
    if len(text) > MAX_BODY:
        raise ValidationFailed(field_errors={field: [_("Shorten the message to at most %(n)d characters.", n=MAX_BODY)]})
    return text


def complainant_writes(session: Session, case: Grievance, body: str) -> GrievanceMessage:
    """The complainant answers through the secret link (the route has found the case by its secret)."""
    message = GrievanceMessage(grievance_id=case.id, kind=GrievanceMessageKind.COMPLAINANT, body=_body(body),
                               at=clock.now())
    session.add(message)
    session.flush()
    event = audit.record(session, None, "grievance.complainant_wrote", case, actor_email="",
                         after={"code": case.tracking_code, "message_id": message.id})
    event.ip = ""
    return message


# Handling by the ministry ---------------------------------------------------------------------------------------

def _handle(actor: User, case: Grievance) -> None:
    if not access.can_handle(actor, case):
        raise NotAllowed()


def _open(case: Grievance) -> None:
    if case.status == GrievanceStatus.CLOSED:
        raise InvalidTransition(_("This case is closed. Re-open it first."))


def _add(session: Session, case: Grievance, kind: GrievanceMessageKind, body: str, actor: User | None,
         organisation_id: int | None = None) -> GrievanceMessage:
    message = GrievanceMessage(grievance_id=case.id, kind=kind, body=body, author_id=actor.id if actor else None,
                               organisation_id=organisation_id, at=clock.now())
    session.add(message)
    session.flush()
    return message


def _mark_acknowledged(case: Grievance) -> None:
    if case.acknowledged_at is None:
        case.acknowledged_at = clock.now()
    if case.status == GrievanceStatus.RECEIVED:
        case.status = GrievanceStatus.ACKNOWLEDGED


def acknowledge(session: Session, actor: User, case: Grievance, body: str = "") -> Grievance:
    """Tell the complainant the concern is being looked at (with an optional message to them)."""
    _handle(actor, case)
    if case.status != GrievanceStatus.RECEIVED:
        raise InvalidTransition(_("This case has already been acknowledged."))
    _mark_acknowledged(case)
    if (body or "").strip():
        _add(session, case, GrievanceMessageKind.REPLY, _body(body), actor)
    audit.record(session, actor, "grievance.acknowledged", case, after={"acknowledged_at": case.acknowledged_at,
                                                                       "on_time": case.acknowledged_at <= case.acknowledge_due_at})
    _mail_complainant(session, case, _l("Your concern %(code)s is being handled"), "mail/grievance_update.txt")
    return case


def handler_choices(session: Session) -> list[User]:
    return list(session.scalars(sa.select(User).where(User.role.in_((Role.ADMIN, Role.REVIEWER)), User.active.is_(True),
                                                      User.password_hash.is_not(None)).order_by(User.full_name)))


def _name(session: Session, case: Grievance, user: User, by: User) -> None:
    if not any(h.user_id == user.id for h in case.named):
        session.add(GrievanceHandler(grievance=case, user_id=user.id, named_by_id=by.id, at=clock.now()))


def assign(session: Session, actor: User, case: Grievance, handler_id: int | None) -> Grievance:
    """An administrator assigns the handler; both are then named on the case (for a sensitive case, the only
    people who see it)."""
    if not access.can_assign_case(actor, case):
        raise NotAllowed()
    handler = session.get(User, handler_id) if handler_id else None
    if handler is None or not access.is_handler(handler) or not handler.is_active:
        raise ValidationFailed(field_errors={"handler_id": [_("Choose a ministry administrator or reviewer.")]})
    before = {"handler_id": case.handler_id}
    case.handler_id = handler.id
    _name(session, case, handler, actor)
    _name(session, case, actor, actor)
    session.flush()
    audit.record(session, actor, "grievance.assigned", case, before=before,
                 after={"handler_id": handler.id, "handler": handler.email})
    return case


def mark_sensitive(session: Session, actor: User, case: Grievance, reason: str) -> Grievance:
    """A handler finds that a case is about abuse or fraud after all: from now on only the people named on it see
    it — the handler who marks it and the assigned handler. It is never put to the provider or municipality again
    (what they were told before stays in the record). The flag is not removed through the portal."""
    _handle(actor, case)
    if case.sensitive:
        raise InvalidTransition(_("This case is already sensitive."))
    text = _body(reason, "reason")
    case.sensitive = True
    _name(session, case, actor, actor)
    if case.handler is not None:
        _name(session, case, case.handler, actor)
    message = _add(session, case, GrievanceMessageKind.NOTE, text, actor)
    audit.record(session, actor, "grievance.marked_sensitive", case, before={"sensitive": False},
                 after={"sensitive": True, "message_id": message.id})
    return case


def add_note(session: Session, actor: User, case: Grievance, body: str) -> GrievanceMessage:
    """An internal note: never shown to the complainant, the provider or the municipality."""
    _handle(actor, case)
    message = _add(session, case, GrievanceMessageKind.NOTE, _body(body), actor)
    audit.record(session, actor, "grievance.note_added", case, after={"message_id": message.id})
    return message


def reply(session: Session, actor: User, case: Grievance, body: str) -> GrievanceMessage:
    """A reply to the complainant (shown on their page; e-mailed when they gave an address). Replying to a case
    not yet acknowledged acknowledges it."""
    _handle(actor, case)
    _open(case)
    message = _add(session, case, GrievanceMessageKind.REPLY, _body(body), actor)
    _mark_acknowledged(case)
    audit.record(session, actor, "grievance.replied", case, after={"message_id": message.id})
    _mail_complainant(session, case, _l("A reply to your concern %(code)s"), "mail/grievance_update.txt")
    return message


def ask_party(session: Session, actor: User, case: Grievance, body: str) -> GrievanceMessage:
    """Ask the provider and the municipality of the grant to answer (cases about a grant, not sensitive)."""
    _handle(actor, case)
    _open(case)
    if case.agreement_id is None or case.sensitive:
        raise InvalidTransition(_("Only a case about a grant, and not sensitive, can be put to its provider and "
                                  "municipality."))
    message = _add(session, case, GrievanceMessageKind.ORG_REQUEST, _body(body), actor)
    case.org_asked_at = clock.now()
    audit.record(session, actor, "grievance.party_asked", case, after={"message_id": message.id})
    return message


def party_answers(session: Session, actor: User, case: Grievance, body: str) -> GrievanceMessage:
    if not access.can_answer(actor, case):
        raise NotAllowed()
    message = _add(session, case, GrievanceMessageKind.ORG_ANSWER, _body(body), actor, actor.organisation_id)
    audit.record(session, actor, "grievance.party_answered", case, after={"message_id": message.id})
    return message


def escalate(session: Session, actor: User, case: Grievance, reason: str) -> Grievance:
    _handle(actor, case)
    _open(case)
    if case.status == GrievanceStatus.ESCALATED:
        raise InvalidTransition(_("This case has already been escalated."))
    text = _body(reason, "reason")
    before = {"status": case.status}
    _mark_acknowledged(case)
    case.status = GrievanceStatus.ESCALATED
    case.escalated_at = clock.now()
    message = _add(session, case, GrievanceMessageKind.NOTE, text, actor)
    audit.record(session, actor, "grievance.escalated", case, before=before, after={"status": case.status,
                                                                                   "message_id": message.id})
    return case


def close(session: Session, actor: User, case: Grievance, outcome: str, accepted: bool | None) -> Grievance:
    """Close with the outcome (sent to the complainant) and whether they accepted it (None: not known)."""
    _handle(actor, case)
    _open(case)
    text = _body(outcome, "outcome")
    before = {"status": case.status}
    _mark_acknowledged(case)
    now = clock.now()
    case.status = GrievanceStatus.CLOSED
    case.closed_at = now
    if case.first_closed_at is None:
        case.first_closed_at = now
    case.outcome = text
    case.complainant_accepted = accepted
    message = _add(session, case, GrievanceMessageKind.REPLY, text, actor)
    audit.record(session, actor, "grievance.closed", case, before=before,
                 after={"status": case.status, "accepted": accepted, "on_time": now <= case.resolve_due_at,
                        "message_id": message.id})
    _mail_complainant(session, case, _l("Your concern %(code)s has been answered"), "mail/grievance_update.txt")
    return case


def reopen(session: Session, actor: User, case: Grievance, reason: str) -> Grievance:
    """Re-open a closed case (for instance, the complainant did not accept the outcome). The first closing still
    counts for "resolved on time"; the outcome given then stays in the messages."""
    _handle(actor, case)
    if case.status != GrievanceStatus.CLOSED:
        raise InvalidTransition(_("Only a closed case can be re-opened."))
    text = _body(reason, "reason")
    case.status = GrievanceStatus.ACKNOWLEDGED
    case.closed_at = None
    case.reopened_count += 1
    message = _add(session, case, GrievanceMessageKind.NOTE, text, actor)
    audit.record(session, actor, "grievance.reopened", case, before={"status": GrievanceStatus.CLOSED},
                 after={"status": case.status, "message_id": message.id, "reopened_count": case.reopened_count})
    return case


# Reading -------------------------------------------------------------------------------------------------------

def _visible(user: User) -> sa.ColumnElement[bool]:
    """The cases `user` may see, as a WHERE clause (the same rule as `access.can_view`)."""
    if access.is_handler(user):
        named = sa.exists().where(GrievanceHandler.grievance_id == Grievance.id, GrievanceHandler.user_id == user.id)
        rule = sa.or_(Grievance.sensitive.is_(False), Grievance.handler_id == user.id, named)
        if access.can_assign(user):
            unnamed = sa.and_(Grievance.handler_id.is_(None),
                              ~sa.exists().where(GrievanceHandler.grievance_id == Grievance.id))
            rule = sa.or_(rule, unnamed)
        return rule
    if user.role in (Role.PROVIDER, Role.MUNICIPALITY):
        column = GrantAgreement.organisation_id if user.role == Role.PROVIDER else GrantAgreement.municipality_org_id
        mine = sa.select(GrantAgreement.id).where(column == user.organisation_id)
        return sa.and_(Grievance.sensitive.is_(False), Grievance.agreement_id.in_(mine))
    return sa.false()


def get_visible(session: Session, user: User, case_id: int) -> Grievance:
    from portal.errors import NotFound

    case = session.get(Grievance, case_id)
    if case is None:
        raise NotFound()
    if not access.can_view(user, case):
        raise NotAllowed()
    return case


def visible_query(user: User, status: str = "", overdue_only: bool = False) -> sa.Select[tuple[Grievance]]:
    """The cases `user` may see, newest first, optionally of one status or overdue only."""
    query = (sa.select(Grievance).where(_visible(user)).options(selectinload(Grievance.municipality))
             .order_by(Grievance.received_at.desc(), Grievance.id.desc()))
    if status in {s.value for s in GrievanceStatus}:
        query = query.where(Grievance.status == GrievanceStatus(status))
    if overdue_only:
        query = query.where(overdue_clause(clock.now()))
    return query


def visible_cases(session: Session, user: User, status: str = "", overdue_only: bool = False) -> list[Grievance]:
    return list(session.scalars(visible_query(user, status, overdue_only)))


def overdue_clause(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(Grievance.status != GrievanceStatus.CLOSED,
                   sa.or_(sa.and_(Grievance.acknowledged_at.is_(None), Grievance.acknowledge_due_at < now),
                          Grievance.resolve_due_at < now))


def is_overdue(case: Grievance, now: datetime | None = None) -> bool:
    now = now or clock.now()
    if case.status == GrievanceStatus.CLOSED:
        return False
    return (case.acknowledged_at is None and case.acknowledge_due_at < now) or case.resolve_due_at < now


def messages_for(case: Grievance, user: User | None) -> list[GrievanceMessage]:
    """The messages a person may read: the complainant (user None) their exchange with the ministry; a provider or
    municipality the ministry's questions to them and the answers; the handlers everything."""
    if user is None:
        kinds = {GrievanceMessageKind.REPLY, GrievanceMessageKind.COMPLAINANT}
    elif access.can_handle(user, case):
        return list(case.messages)
    else:
        kinds = {GrievanceMessageKind.ORG_REQUEST, GrievanceMessageKind.ORG_ANSWER}
    return [m for m in case.messages if m.kind in kinds]


def overdue_for(session: Session, user: User, limit: int = 10) -> list[Grievance]:
    """Overdue cases on a handler's home page: their own first, then the others they may see."""
    if not access.is_handler(user):
        return []
    cases = visible_cases(session, user, overdue_only=True)
    cases.sort(key=lambda c: (c.handler_id != user.id, c.acknowledge_due_at if c.acknowledged_at is None
                              else c.resolve_due_at))
    return cases[:limit]


def queue_overdue_digests(session: Session) -> int:
    """The daily mail (`flask send-mail`, run from cron): each handler with overdue cases gets one message a Skopje
    day listing them — the cases assigned to them, and for administrators also those nobody is assigned to (a
    sensitive case only to the people who may see it). Codes, categories and deadlines only: no complainant data.
    Returns the number of messages queued; a second run the same day queues none."""
    now = clock.now()
    today = clock.utc_to_skopje(now).date()
    day_start = clock.skopje_to_utc(datetime.combine(today, time.min))
    done = set(session.scalars(sa.select(AuditEvent.object_id).where(
        AuditEvent.action == "grievance.overdue_digest", AuditEvent.at >= day_start)))
    queued = 0
    for user in handler_choices(session):
        if str(user.id) in done:
            continue
        cases = [c for c in visible_cases(session, user, overdue_only=True)
                 if c.handler_id == user.id or (c.handler_id is None and access.can_assign(user))]
        if not cases:
            continue
        with force_locale(user.preferred_language):
            subject = _("%(n)d overdue concerns", n=len(cases))
            body = render_template("mail/grievance_overdue.txt", user=user, cases=cases,
                                   base=current_app.config["PORTAL_BASE_URL"])
        mail.queue(session, user.email, subject, body)
        audit.record(session, None, "grievance.overdue_digest", user, actor_email="send-mail",
                     after={"day": today, "cases": [c.tracking_code for c in cases]})
        queued += 1
    return queued
