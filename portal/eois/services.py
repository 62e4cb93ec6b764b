"""Municipal expressions of interest: drafts, submission before the deadline (Skopje time),
withdrawal, clarification requests, decisions, and the per-call summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import access, audit, clock, i18n, mail
from portal.documents import services as documents
from portal.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationFailed
from portal.models import (
    Call,
    CallKind,
    CallStatus,
    EoiMessage,
    EoiService,
    EoiStatus,
    EoiSubmission,
    ExpressionOfInterest,
    MessageKind,
    Municipality,
    Organisation,
    Region,
    ServiceType,
    User,
)

FIELDS = ["needs_assessment", "target_groups", "people_in_need", "cofinancing_eur", "cofinancing_pct",
          "coordinator_name", "coordinator_email", "coordinator_phone"]
#: What a clarification request can reopen (the service rows and the documents count as one field each).
REOPENABLE = FIELDS + ["services", "documents"]


@dataclass
class ServiceRow:
    service_type_id: int
    beneficiaries_per_month: int
    annual_cost_eur: Decimal
    partners: str = ""


@dataclass
class EoiData:
    needs_assessment: str = ""
    target_groups: str = ""
    people_in_need: int | None = None
    cofinancing_eur: Decimal | None = None
    cofinancing_pct: Decimal | None = None
    coordinator_name: str = ""
    coordinator_email: str = ""
    coordinator_phone: str = ""
    services: list[ServiceRow] = field(default_factory=list)


def field_label(name: str) -> str:
    return {
        "needs_assessment": _("Needs assessment summary"),
        "target_groups": _("Target groups"),
        "people_in_need": _("Estimated people in need"),
        "cofinancing_eur": _("Municipal co-financing (EUR)"),
        "cofinancing_pct": _("Municipal co-financing (%)"),
        "coordinator_name": _("Municipal coordinator"),
        "coordinator_email": _("Coordinator's email"),
        "coordinator_phone": _("Coordinator's phone"),
        "services": _("Proposed services"),
        "documents": _("Documents"),
    }[name]


def status_label(status: EoiStatus) -> str:
    from portal.labels import label

    return label(status, "eoi_status")


# Starting and editing ---------------------------------------------------------------------------

def start(session: Session, actor: User, call: Call) -> ExpressionOfInterest:
    """The municipality's one EOI for this call: the existing one, or a new draft. Two people
    starting at once still get one (the unique constraint decides)."""
    if not access.can_prepare_eoi(actor):
        raise NotAllowed()
    if call.kind != CallKind.EOI or call.status != CallStatus.PUBLISHED:
        raise InvalidTransition(_("This call does not take expressions of interest now."))
    query = sa.select(ExpressionOfInterest).where(ExpressionOfInterest.call_id == call.id,
                                                  ExpressionOfInterest.organisation_id == actor.organisation_id)
    existing = session.scalar(query)
    if existing is not None:
        return existing
    eoi = ExpressionOfInterest(call_id=call.id, organisation_id=actor.organisation_id,
                               coordinator_name=actor.full_name, coordinator_email=actor.email)
    try:
        with session.begin_nested():
            session.add(eoi)
    except sa.exc.IntegrityError:
        return session.scalar(query)
    audit.record(session, actor, "eoi.created", eoi, after={"call": call.reference})
    return eoi


def editable_fields(eoi: ExpressionOfInterest, now: datetime) -> set[str]:
    """Drafts can always be saved (nothing typed is lost); only submission waits on the deadline."""
    if eoi.status in (EoiStatus.DRAFT, EoiStatus.WITHDRAWN):
        return set(REOPENABLE)
    if eoi.status == EoiStatus.CLARIFICATION and eoi.reopen_until and now < eoi.reopen_until:
        return set(eoi.reopened_fields)
    return set()


def _validate_values(session: Session, call: Call, data: EoiData, complete: bool) -> None:
    errors: dict[str, list[str]] = {}
    if data.people_in_need is not None and data.people_in_need < 0:
        errors["people_in_need"] = [_("Enter a whole number, 0 or more.")]
    if data.cofinancing_pct is not None and not 0 <= data.cofinancing_pct <= 100:
        errors["cofinancing_pct"] = [_("Enter a percentage between 0 and 100.")]
    if data.cofinancing_eur is not None and data.cofinancing_eur < 0:
        errors["cofinancing_eur"] = [_("Enter a positive amount with at most two decimals.")]
    eligible = {t.id for t in call.service_types}
    for index, row in enumerate(data.services):
        if row.service_type_id not in eligible:
            errors[f"services-{index}-service_type_id"] = [
                _("Row %(n)d: choose one of the service types this call funds.", n=index + 1)]
        if row.beneficiaries_per_month < 0 or row.annual_cost_eur < 0:
            errors[f"services-{index}-beneficiaries_per_month"] = [
                _("Row %(n)d: numbers cannot be negative.", n=index + 1)]
    if complete:
        for name in ("needs_assessment", "target_groups", "coordinator_name", "coordinator_email"):
            if not str(getattr(data, name) or "").strip():
                errors.setdefault(name, [_("Fill this in before submitting.")])
        for name in ("people_in_need", "cofinancing_eur"):
            if getattr(data, name) is None:
                errors.setdefault(name, [_("Fill this in before submitting.")])
        if not data.services:
            errors["services-0-service_type_id"] = [_("Propose at least one service before submitting.")]
        for name, messages in _cofinancing_errors(call, data).items():
            errors.setdefault(name, messages)
    if errors:
        raise ValidationFailed(field_errors=errors)


CENT = Decimal("0.01")


def services_total(data: EoiData) -> Decimal:
    """The estimated annual cost of the proposed services: the base of the co-financing share."""
    return sum((row.annual_cost_eur or Decimal("0") for row in data.services), Decimal("0"))


def derive_cofinancing(data: EoiData) -> EoiData:
    """One figure is typed, the other derived, so they can never disagree: the share is the amount over the
    services' annual cost; only when no amount is typed is the amount derived from a typed share."""
    total = services_total(data)
    if data.cofinancing_eur is not None:
        data.cofinancing_pct = (data.cofinancing_eur * 100 / total).quantize(CENT) if total > 0 else None
    elif data.cofinancing_pct is not None and total > 0:
        data.cofinancing_eur = (total * data.cofinancing_pct / 100).quantize(CENT)
    return data


def _cofinancing_errors(call: Call, data: EoiData) -> dict[str, list[str]]:
    """The co-financing rule of submission: the share (derived from the amount) at least the call's minimum."""
    total = services_total(data)
    if data.cofinancing_eur is None or total <= 0:
        return {}
    share = (data.cofinancing_eur * 100 / total).quantize(CENT)
    minimum = call.min_cofinancing_pct or Decimal("0")
    if data.cofinancing_eur > total:
        return {"cofinancing_eur": [_("The co-financing (%(amount)s EUR) cannot exceed the cost of the proposed services "
                                      "(%(total)s EUR).", amount=i18n.money(data.cofinancing_eur), total=i18n.money(total))]}
    if share < minimum:
        needed = (total * minimum / 100).quantize(CENT, rounding="ROUND_UP")
        return {"cofinancing_eur": [_(
            "Municipal co-financing: %(amount)s EUR of %(total)s EUR is %(share)s %%, below this call's minimum of "
            "%(minimum)s %%: at least %(needed)s EUR is needed.", amount=i18n.money(data.cofinancing_eur),
            total=i18n.money(total), share=i18n.decimal(share, 2), minimum=i18n.decimal(minimum, 2), needed=i18n.money(needed))]}
    return {}


def submission_problems(session: Session, eoi: ExpressionOfInterest) -> dict[str, list[str]]:
    """Every rule a submission must pass, by field — the same list the form shows before *Submit* and the
    server checks on submission."""
    try:
        _validate_values(session, eoi.call, derive_cofinancing(_data_of(eoi)), complete=True)
        errors: dict[str, list[str]] = {}
    except ValidationFailed as exc:
        errors = {k: [str(m) for m in v] for k, v in exc.field_errors.items()}
    missing = missing_documents(session, eoi)
    if missing:
        errors["documents"] = [_("Attach the documents this call requires before submitting: %(missing)s.",
                                 missing=", ".join(documents.purpose_label(p) for p in missing))]
    return errors


def _data_of(eoi: ExpressionOfInterest) -> EoiData:
    return EoiData(**{name: getattr(eoi, name) for name in FIELDS},
                   services=[ServiceRow(s.service_type_id, s.beneficiaries_per_month, s.annual_cost_eur, s.partners)
                             for s in eoi.services])


def snapshot(eoi: ExpressionOfInterest) -> dict[str, Any]:
    values = audit.snapshot(eoi, FIELDS)
    values["services"] = [{"service_type": s.service_type.code, "beneficiaries_per_month": s.beneficiaries_per_month,
                           "annual_cost_eur": str(s.annual_cost_eur), "partners": s.partners} for s in eoi.services]
    return values


def save(session: Session, actor: User, eoi: ExpressionOfInterest, data: EoiData, version_id: int) -> ExpressionOfInterest:
    """Save what was typed. Only the fields open for editing change; others are ignored."""
    if not access.can_edit_eoi(actor, eoi):
        raise NotAllowed()
    if version_id != eoi.version_id:
        raise Conflict()
    now = clock.now()
    open_fields = editable_fields(eoi, now)
    if not open_fields:
        raise InvalidTransition(_("This expression of interest can no longer be changed."))
    _validate_values(session, eoi.call, data, complete=False)
    data = derive_cofinancing(data)
    if data.cofinancing_pct is not None and data.cofinancing_pct > 100:
        raise ValidationFailed(field_errors={"cofinancing_eur": [_(
            "The co-financing (%(amount)s EUR) cannot exceed the cost of the proposed services (%(total)s EUR).",
            amount=i18n.money(data.cofinancing_eur), total=i18n.money(services_total(data)))]})
    before = snapshot(eoi)
    for name in FIELDS:
        if name in open_fields:
            value = getattr(data, name)
            setattr(eoi, name, value.strip() if isinstance(value, str) else value)
    if "services" in open_fields:
        eoi.services = [EoiService(position=i, service_type_id=r.service_type_id,
                                   beneficiaries_per_month=r.beneficiaries_per_month,
                                   annual_cost_eur=r.annual_cost_eur, partners=r.partners.strip())
                        for i, r in enumerate(data.services)]
    if {"cofinancing_eur", "cofinancing_pct", "services"} & open_fields:
        derived = derive_cofinancing(_data_of(eoi))  # the share always follows the amount and the services' cost
        eoi.cofinancing_eur, eoi.cofinancing_pct = derived.cofinancing_eur, derived.cofinancing_pct
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None
    session.refresh(eoi)
    after = snapshot(eoi)
    if before != after:
        audit.record(session, actor, "eoi.saved", eoi, before=before, after=after)
    return eoi


def missing_documents(session: Session, eoi: ExpressionOfInterest) -> list[str]:
    present = {d.purpose for d in documents.documents_for(session, "eoi", eoi.id)}
    return [p for p in (eoi.call.required_documents or []) if p not in present]


def submit(session: Session, actor: User, eoi: ExpressionOfInterest) -> EoiSubmission:
    if not access.can_edit_eoi(actor, eoi):
        raise NotAllowed()
    now = clock.now()
    if eoi.status in (EoiStatus.DRAFT, EoiStatus.WITHDRAWN):
        if not eoi.call.is_open(now):
            raise InvalidTransition(_("The deadline of this call (%(when)s, Skopje time) has passed, so the expression "
                                      "of interest cannot be submitted. Your draft has been kept.",
                                      when=_local(eoi.call.closes_at)))
    elif eoi.status == EoiStatus.CLARIFICATION:
        if not eoi.reopen_until or now >= eoi.reopen_until:
            raise InvalidTransition(_("The date set for your clarification has passed. Contact the ministry."))
    else:
        raise InvalidTransition(_("This expression of interest has already been submitted."))
    problems = submission_problems(session, eoi)
    if problems:
        raise ValidationFailed(field_errors=problems)
    if eoi.reference is None:
        municipality = session.get(Municipality, eoi.organisation.municipality_id)
        eoi.reference = f"{eoi.call.reference}-{municipality.code if municipality else eoi.organisation_id}"
    number = len(eoi.submissions) + 1
    submission = EoiSubmission(eoi=eoi, number=number, submitted_at=now, submitted_by_id=actor.id,
                               snapshot=snapshot(eoi))
    session.add(submission)
    before = {"status": eoi.status.value}
    eoi.status = EoiStatus.SUBMITTED
    eoi.submitted_at = now
    eoi.reopened_fields = []
    eoi.reopen_until = None
    session.flush()
    audit.record(session, actor, "eoi.submitted", eoi, before=before,
                 after={"status": "submitted", "reference": eoi.reference, "submission": number})
    recipients = {actor.email: actor, eoi.coordinator_email.lower(): None}
    for address, user in recipients.items():
        if not address:
            continue
        with force_locale(user.preferred_language if user else "mk"):
            subject = _("Receipt: expression of interest %(ref)s", ref=eoi.reference)
            body = render_template("mail/eoi_receipt.txt", eoi=eoi, submission=submission, when=_local(now))
        mail.queue(session, address, subject, body)
    return submission


def withdraw(session: Session, actor: User, eoi: ExpressionOfInterest, reason: str) -> ExpressionOfInterest:
    if not access.can_edit_eoi(actor, eoi):
        raise NotAllowed()
    if eoi.status not in (EoiStatus.SUBMITTED, EoiStatus.CLARIFICATION):
        raise InvalidTransition(_("Only a submitted expression of interest can be withdrawn."))
    if clock.now() >= eoi.call.closes_at:
        raise InvalidTransition(_("The deadline has passed: the expression of interest can no longer be withdrawn."))
    before = {"status": eoi.status.value}
    eoi.status = EoiStatus.WITHDRAWN
    eoi.withdrawn_at = clock.now()
    audit.record(session, actor, "eoi.withdrawn", eoi, before=before, after={"status": "withdrawn", "reason": reason})
    return eoi


# Screening -----------------------------------------------------------------------------------------

def _notify_municipality(session: Session, eoi: ExpressionOfInterest, template: str, subject_text, **context) -> None:
    """Mail the municipality's officers, each in their own language (`subject_text`: a lazy string with %(ref)s)."""
    members = session.scalars(sa.select(User).where(User.organisation_id == eoi.organisation_id,
                                                    User.active.is_(True), User.password_hash.is_not(None)))
    for member in members:
        with force_locale(member.preferred_language):
            subject = str(subject_text) % {"ref": eoi.reference}
            body = render_template(template, eoi=eoi, user=member, **context)
        mail.queue(session, member.email, subject, body)


def request_clarification(session: Session, actor: User, eoi: ExpressionOfInterest, message: str, fields: list[str],
                          until: datetime) -> ExpressionOfInterest:
    if not access.can_screen_eois(actor):
        raise NotAllowed()
    if eoi.status != EoiStatus.SUBMITTED:
        raise InvalidTransition(_("Clarification can be asked only of a submitted expression of interest."))
    errors: dict[str, list[str]] = {}
    if not message.strip():
        errors["message"] = [_("Write what the municipality should clarify.")]
    chosen = [f for f in fields if f in REOPENABLE]
    if not chosen:
        errors["fields"] = [_("Choose at least one part the municipality may change.")]
    if until <= clock.now():
        errors["until"] = [_("Choose a date in the future.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    eoi.status = EoiStatus.CLARIFICATION
    eoi.reopened_fields = chosen
    eoi.reopen_until = until
    session.add(EoiMessage(eoi=eoi, author_id=actor.id, kind=MessageKind.REQUEST, body=message.strip()))
    audit.record(session, actor, "eoi.clarification_requested", eoi, before={"status": "submitted"},
                 after={"status": "clarification", "fields": chosen, "until": until})
    _notify_municipality(session, eoi, "mail/eoi_clarification.txt",
                         _l("Clarification requested: expression of interest %(ref)s"), message=message.strip(),
                         until=_local(until), fields=[field_label(f) for f in chosen])
    return eoi


def add_message(session: Session, actor: User, eoi: ExpressionOfInterest, body: str) -> EoiMessage:
    if not access.can_message_eoi(actor, eoi):
        raise NotAllowed()
    if not body.strip():
        raise ValidationFailed(field_errors={"body": [_("Write a message first.")]})
    message = EoiMessage(eoi=eoi, author_id=actor.id, kind=MessageKind.REPLY, body=body.strip())
    session.add(message)
    session.flush()
    audit.record(session, actor, "eoi.message", eoi, after={"message_id": message.id})
    return message


def decide(session: Session, actor: User, eoi: ExpressionOfInterest, accept: bool, reason: str) -> ExpressionOfInterest:
    if not access.can_screen_eois(actor):
        raise NotAllowed()
    now = clock.now()
    decidable = eoi.status == EoiStatus.SUBMITTED or (
        eoi.status == EoiStatus.CLARIFICATION and eoi.reopen_until is not None and now >= eoi.reopen_until)
    if not decidable:
        raise InvalidTransition(_("A decision can be recorded only on a submitted expression of interest "
                                  "(or after the clarification date has passed)."))
    if not reason.strip():
        raise ValidationFailed(field_errors={"reason": [_("Give the reasons: the municipality reads them.")]})
    before = {"status": eoi.status.value}
    eoi.status = EoiStatus.ACCEPTED if accept else EoiStatus.REJECTED
    eoi.decided_at = now
    eoi.decision_reason = reason.strip()
    session.add(EoiMessage(eoi=eoi, author_id=actor.id, kind=MessageKind.DECISION, body=reason.strip()))
    audit.record(session, actor, f"eoi.{eoi.status.value}", eoi, before=before,
                 after={"status": eoi.status.value, "reason": reason.strip()})
    _notify_municipality(session, eoi, "mail/eoi_decision.txt", _l("Decision on expression of interest %(ref)s"),
                         accepted=accept, reason=reason.strip())
    return eoi


# Lists and summary -------------------------------------------------------------------------------

SCREENED = (EoiStatus.SUBMITTED, EoiStatus.CLARIFICATION, EoiStatus.WITHDRAWN, EoiStatus.ACCEPTED, EoiStatus.REJECTED)


def screening_query(call: Call, region_id: int | None = None, status: str = "",
                    service_type_id: int | None = None) -> sa.Select:
    """EOIs the ministry sees: never drafts."""
    query = (sa.select(ExpressionOfInterest)
             .join(ExpressionOfInterest.organisation).join(Organisation.municipality)
             .options(sa.orm.contains_eager(ExpressionOfInterest.organisation).contains_eager(Organisation.municipality),
                      sa.orm.selectinload(ExpressionOfInterest.services))
             .where(ExpressionOfInterest.call_id == call.id, ExpressionOfInterest.status.in_(SCREENED)))
    if region_id:
        query = query.where(Municipality.region_id == region_id)
    if status in {s.value for s in SCREENED}:
        query = query.where(ExpressionOfInterest.status == EoiStatus(status))
    if service_type_id:
        query = query.where(ExpressionOfInterest.services.any(EoiService.service_type_id == service_type_id))
    return query.order_by(Municipality.name_mk)


def completeness(session: Session, eois: list[ExpressionOfInterest]) -> dict[int, list[str]]:
    """Missing required documents per EOI, in one query for the whole page."""
    if not eois:
        return {}
    from portal.models import Document

    rows = session.execute(sa.select(Document.object_id, Document.purpose).distinct().where(
        Document.object_type == "eoi", Document.object_id.in_([str(e.id) for e in eois]))).all()
    present: dict[str, set[str]] = {}
    for object_id, purpose in rows:
        present.setdefault(object_id, set()).add(purpose)
    return {e.id: [p for p in (e.call.required_documents or []) if p not in present.get(str(e.id), set())]
            for e in eois}


def summary(session: Session, call: Call) -> dict[str, Any]:
    """EOIs received per region, services proposed, total requested against the allocation."""
    counted = (EoiStatus.SUBMITTED, EoiStatus.CLARIFICATION, EoiStatus.ACCEPTED, EoiStatus.REJECTED)
    per_region = session.execute(
        sa.select(Region.id, Region.code, sa.func.count(sa.distinct(ExpressionOfInterest.id)),
                  sa.func.coalesce(sa.func.sum(EoiService.annual_cost_eur), 0),
                  sa.func.coalesce(sa.func.sum(EoiService.beneficiaries_per_month), 0))
        .select_from(Region)
        .join(Municipality, Municipality.region_id == Region.id)
        .join(Organisation, Organisation.municipality_id == Municipality.id)
        .join(ExpressionOfInterest, sa.and_(ExpressionOfInterest.organisation_id == Organisation.id,
                                            ExpressionOfInterest.call_id == call.id,
                                            ExpressionOfInterest.status.in_(counted)))
        .outerjoin(EoiService, EoiService.eoi_id == ExpressionOfInterest.id)
        .group_by(Region.id, Region.code).order_by(Region.code)).all()
    regions = {r.id: r for r in session.scalars(sa.select(Region))}
    by_region = [{"region": regions[rid], "eois": count, "requested": Decimal(requested), "beneficiaries": int(people)}
                 for rid, _code, count, requested, people in per_region]
    per_service = session.execute(
        sa.select(ServiceType.id, sa.func.count(EoiService.id), sa.func.coalesce(sa.func.sum(EoiService.annual_cost_eur), 0),
                  sa.func.coalesce(sa.func.sum(EoiService.beneficiaries_per_month), 0))
        .join(EoiService, EoiService.service_type_id == ServiceType.id)
        .join(ExpressionOfInterest, sa.and_(ExpressionOfInterest.id == EoiService.eoi_id,
                                            ExpressionOfInterest.call_id == call.id,
                                            ExpressionOfInterest.status.in_(counted)))
        .group_by(ServiceType.id)).all()
    types = {t.id: t for t in session.scalars(sa.select(ServiceType))}
    by_service = sorted(({"service_type": types[tid], "proposals": n, "requested": Decimal(cost), "beneficiaries": int(people)}
                         for tid, n, cost, people in per_service), key=lambda row: -row["requested"])
    total = sum((row["requested"] for row in by_region), Decimal("0"))
    return {"by_region": by_region, "by_service": by_service, "requested": total, "allocation": call.allocation_eur,
            "eois": sum(row["eois"] for row in by_region)}


def for_municipality(session: Session, organisation_id: int) -> list[ExpressionOfInterest]:
    return list(session.scalars(sa.select(ExpressionOfInterest)
                                .where(ExpressionOfInterest.organisation_id == organisation_id)
                                .options(sa.orm.joinedload(ExpressionOfInterest.call))
                                .order_by(ExpressionOfInterest.created_at.desc())))


def get_visible(session: Session, actor: User, eoi_id: int) -> ExpressionOfInterest:
    eoi = session.get(ExpressionOfInterest, eoi_id)
    if eoi is None:
        raise NotFound()
    if not access.can_view_eoi(actor, eoi):
        raise NotAllowed()
    return eoi


def _local(value: datetime) -> str:
    from portal.i18n import local_datetime

    return local_datetime(value)
