"""Organisations: provider self-registration, profile edits, verification."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit, mail
from portal.auth.services import normalise_email, send_link
from portal.db import utcnow
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.models import (
    LegalForm,
    Municipality,
    Organisation,
    OrgKind,
    OrgStatus,
    Role,
    TokenPurpose,
    User,
)

EDB_WEIGHTS = (7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

AUDITED_FIELDS = [
    "name", "kind", "status", "municipality_id", "tax_number", "legal_form", "licence_number",
    "licence_valid_from", "licence_valid_until", "address", "city", "contact_person",
    "contact_email", "contact_phone",
]
#: What provider staff may change on their own organisation.
PROVIDER_EDITABLE = {"address", "city", "contact_person", "contact_email", "contact_phone",
                     "licence_number", "licence_valid_from", "licence_valid_until"}
LICENCE_FIELDS = {"licence_number", "licence_valid_from", "licence_valid_until"}
ADMIN_EDITABLE = PROVIDER_EDITABLE | {"name", "tax_number", "legal_form"}


def edb_check_digit(first12: str) -> int:
    total = sum(int(d) * w for d, w in zip(first12, EDB_WEIGHTS, strict=True))
    return (-total % 11) % 10


def clean_tax_number(value: str) -> str:
    """Validate a Macedonian tax number (EDB): 13 digits, the last a mod-11 check digit.
    Accepts an optional `MK` / `МК` prefix, spaces and dashes."""
    number = re.sub(r"[\s\-]", "", value or "").upper()
    for prefix in ("MK", "МК"):
        if number.startswith(prefix):
            number = number[len(prefix):]
    if not re.fullmatch(r"[0-9]{13}", number):
        raise ValidationFailed(field_errors={"tax_number": [
            _("The tax number (EDB) has 13 digits, for example 4030000375897.")]})
    if edb_check_digit(number[:12]) != int(number[12]):
        raise ValidationFailed(field_errors={"tax_number": [
            _("This tax number (EDB) is not valid: its last digit does not match. Check it on the "
              "registration certificate.")]})
    return number


def _check_licence_dates(valid_from: date | None, valid_until: date | None) -> None:
    if valid_from and valid_until and valid_from > valid_until:
        raise ValidationFailed(field_errors={"licence_valid_until": [
            _("The licence end date must be on or after its start date.")]})


def _check_unique(session: Session, tax_number: str | None, email: str | None, org_id: int | None = None) -> None:
    errors: dict[str, list[str]] = {}
    if tax_number:
        query = sa.select(Organisation.id).where(Organisation.tax_number == tax_number)
        if org_id:
            query = query.where(Organisation.id != org_id)
        if session.scalar(query) is not None:
            errors["tax_number"] = [_("An organisation with this tax number is already registered. "
                                      "Ask its users to invite you, or contact the ministry.")]
    if email and session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        errors["email"] = [_("An account with this email address already exists. Sign in, or reset "
                             "your password.")]
    if errors:
        raise ValidationFailed(field_errors=errors)


@dataclass
class ProviderRegistration:
    name: str
    tax_number: str
    legal_form: LegalForm
    licence_number: str
    licence_valid_from: date | None
    licence_valid_until: date | None
    address: str
    city: str
    contact_phone: str
    full_name: str
    email: str
    language: str = "mk"


def register_provider(session: Session, data: ProviderRegistration) -> tuple[Organisation, User]:
    """A provider registers itself: the organisation waits for verification and its first
    user receives an activation link to set a password (proving the address is theirs)."""
    tax_number = clean_tax_number(data.tax_number)
    email = normalise_email(data.email)
    _check_licence_dates(data.licence_valid_from, data.licence_valid_until)
    _check_unique(session, tax_number, email)
    org = Organisation(
        kind=OrgKind.PROVIDER, status=OrgStatus.PENDING, name=data.name.strip(), tax_number=tax_number,
        legal_form=data.legal_form, licence_number=data.licence_number.strip(),
        licence_valid_from=data.licence_valid_from, licence_valid_until=data.licence_valid_until,
        address=data.address.strip(), city=data.city.strip(), contact_person=data.full_name.strip(),
        contact_email=email, contact_phone=data.contact_phone.strip(),
    )
    session.add(org)
    session.flush()
    user = User(email=email, full_name=data.full_name.strip(), role=Role.PROVIDER, organisation=org,
                preferred_language=data.language)
    session.add(user)
    session.flush()
    audit.record(session, None, "organisation.registered", org, after=audit.snapshot(org, AUDITED_FIELDS),
                 actor_email=email)
    send_link(session, user, TokenPurpose.ACTIVATION)
    return org, user


def _check_version(org: Organisation, version_id: int | None) -> None:
    if version_id is not None and version_id != org.version_id:
        raise Conflict()


def update_organisation(session: Session, actor: User, org: Organisation, changes: dict, version_id: int | None) -> Organisation:
    """Edit an organisation's profile. Provider staff may change contact details and the
    licence; a licence change sends a verified provider back to verification."""
    if not access.can_edit_organisation(actor, org):
        raise NotAllowed()
    _check_version(org, version_id)
    allowed = ADMIN_EDITABLE if access.is_admin(actor) else PROVIDER_EDITABLE
    if org.kind != OrgKind.PROVIDER:
        allowed = allowed - LICENCE_FIELDS - {"tax_number", "legal_form"}
    changes = {k: (v.strip() if isinstance(v, str) else v) for k, v in changes.items() if k in allowed}
    if "legal_form" in changes:
        if changes["legal_form"] in {f.value for f in LegalForm}:
            changes["legal_form"] = LegalForm(changes["legal_form"])
        else:
            del changes["legal_form"]
    if "name" in changes and not changes["name"]:
        raise ValidationFailed(field_errors={"name": [_("This field is required.")]})
    if "tax_number" in changes:
        changes["tax_number"] = clean_tax_number(changes["tax_number"])
        _check_unique(session, changes["tax_number"], None, org.id)
    _check_licence_dates(changes.get("licence_valid_from", org.licence_valid_from),
                         changes.get("licence_valid_until", org.licence_valid_until))
    if org.kind == OrgKind.PROVIDER:
        missing = [name for name in sorted(LICENCE_FIELDS) if name in changes and not changes[name]]
        if missing:
            raise ValidationFailed(field_errors={name: [_("A provider must keep its licence details.")]
                                                 for name in missing})
    if "contact_email" in changes:
        changes["contact_email"] = normalise_email(changes["contact_email"])
    before = audit.snapshot(org, AUDITED_FIELDS)
    changed = {k: v for k, v in changes.items() if getattr(org, k) != v}
    if not changed:
        return org
    for key, value in changed.items():
        setattr(org, key, value)
    if (org.kind == OrgKind.PROVIDER and not access.is_admin(actor) and LICENCE_FIELDS & changed.keys()
            and org.status == OrgStatus.VERIFIED):
        org.status = OrgStatus.PENDING
        org.status_reason = _("The licence was changed and needs to be verified again.")
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None
    audit.record(session, actor, "organisation.updated", org, before=before,
                 after=audit.snapshot(org, AUDITED_FIELDS))
    return org


VERIFICATION_TRANSITIONS = {
    (OrgStatus.PENDING, OrgStatus.VERIFIED),
    (OrgStatus.PENDING, OrgStatus.REJECTED),
    (OrgStatus.REJECTED, OrgStatus.VERIFIED),
    (OrgStatus.VERIFIED, OrgStatus.PENDING),
}


def decide_verification(session: Session, actor: User, org: Organisation, decision: OrgStatus, reason: str) -> Organisation:
    """Verify a provider's registration and licence, refuse it, or suspend a verification."""
    if not access.can_verify_provider(actor, org):
        raise NotAllowed()
    if (org.status, decision) not in VERIFICATION_TRANSITIONS:
        raise InvalidTransition(_("This organisation is already in that state."))
    reason = (reason or "").strip()
    if decision != OrgStatus.VERIFIED and not reason:
        raise ValidationFailed(field_errors={"reason": [_("Give the reason: the provider will read it.")]})
    if decision == OrgStatus.VERIFIED and not org.licence_valid_on(utcnow().date()):
        raise ValidationFailed(field_errors={"decision": [
            _("The licence is missing or not valid today. Ask the provider to update its licence "
              "before verifying.")]})
    before = {"status": org.status.value}
    org.status = decision
    org.status_reason = reason
    if decision == OrgStatus.VERIFIED:
        org.verified_at = utcnow()
        org.verified_by_id = actor.id
    audit.record(session, actor, f"organisation.{decision.value}", org, before=before,
                 after={"status": decision.value, "reason": reason})
    for member in org.users:
        if not member.active or not member.is_activated:
            continue
        with force_locale(member.preferred_language):
            subject = _("Your organisation's registration on the grant portal: %(status)s",
                        status=status_label(decision))
            body = render_template("mail/verification.txt", user=member, org=org, decision=decision,
                                   reason=reason)
        mail.queue(session, member.email, subject, body)
    return org


def kind_label(kind: OrgKind) -> str:
    from portal.labels import label

    return label(kind, "org_kind")


def legal_form_label(form: LegalForm | None) -> str:
    from portal.labels import label

    return label(form, "legal_form")


def status_label(status: OrgStatus) -> str:
    from portal.labels import label

    return label(status, "org_status")


def create_organisation(session: Session, actor: User, kind: OrgKind, name: str, municipality_id: int | None,
                        extra: dict) -> Organisation:
    """An administrator adds an organisation (ministry, municipality, monitor or provider)."""
    if not access.can_manage_organisations(actor):
        raise NotAllowed()
    errors: dict[str, list[str]] = {}
    if kind == OrgKind.MUNICIPALITY:
        if not municipality_id or session.get(Municipality, municipality_id) is None:
            errors["municipality_id"] = [_("Choose the local government this organisation represents.")]
        elif session.scalar(sa.select(Organisation.id).where(Organisation.municipality_id == municipality_id)):
            errors["municipality_id"] = [_("This local government already has an organisation in the portal.")]
    else:
        municipality_id = None
    if errors:
        raise ValidationFailed(field_errors=errors)
    org = Organisation(kind=kind, name=name.strip(), municipality_id=municipality_id,
                       status=OrgStatus.VERIFIED if kind != OrgKind.PROVIDER else OrgStatus.PENDING)
    if kind == OrgKind.PROVIDER:
        tax_number = clean_tax_number(extra.get("tax_number", ""))
        _check_unique(session, tax_number, None)
        org.tax_number = tax_number
        org.legal_form = extra.get("legal_form") or LegalForm.ASSOCIATION
    session.add(org)
    session.flush()
    audit.record(session, actor, "organisation.created", org, after=audit.snapshot(org, AUDITED_FIELDS))
    return org
