"""Provider grant applications: drafts, server-side budget arithmetic, submission before the
deadline (Skopje time), withdrawal, and the municipality's endorsement.

Review, scoring, ranking and decisions live in `portal.applications.review`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import access, audit, clock, mail
from portal.documents import services as documents
from portal.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationFailed
from portal.models import (
    Application,
    ApplicationStatus,
    ApplicationSubmission,
    BudgetCategory,
    BudgetLine,
    Call,
    CallKind,
    CallStatus,
    Eligibility,
    Endorsement,
    EoiStatus,
    ExpressionOfInterest,
    HardToEmployCategory,
    Municipality,
    Organisation,
    OrgKind,
    PlannedHire,
    ServiceType,
    StaffPosition,
    User,
)

CENT = Decimal("0.01")
MAX_MONTHS = 60
#: How long municipalities have to endorse after the call closes, unless the call sets a date.
DEFAULT_ENDORSEMENT_DAYS = 14

FIELDS = ["title", "summary", "beneficiaries_per_month", "start_month", "duration_months", "certified_caregivers",
          "cofinancing_eur"]


@dataclass
class PositionRow:
    title: str
    count: int


@dataclass
class HireRow:
    category_id: int
    count: int


@dataclass
class LineRow:
    category: str
    description: str
    quantity: Decimal
    unit_cost_eur: Decimal
    months: int = 1


@dataclass
class ApplicationData:
    title: str = ""
    summary: str = ""
    service_type_ids: list[int] = field(default_factory=list)
    beneficiaries_per_month: int | None = None
    start_month: date | None = None
    duration_months: int | None = None
    certified_caregivers: int | None = None
    cofinancing_eur: Decimal | None = None
    positions: list[PositionRow] = field(default_factory=list)
    hires: list[HireRow] = field(default_factory=list)
    lines: list[LineRow] = field(default_factory=list)


def status_label(status: ApplicationStatus) -> str:
    from portal.labels import label

    return label(status, "application_status")


def endorsement_label(value: Endorsement) -> str:
    from portal.labels import label

    return label(value, "endorsement")


def eligibility_label(value: Eligibility) -> str:
    from portal.labels import label

    return label(value, "eligibility")


def category_label(category: BudgetCategory | str) -> str:
    return {
        "staff": _("Staff"), "training": _("Training"), "equipment": _("Equipment"), "premises": _("Premises"),
        "operating": _("Operating costs"), "other": _("Other"),
        "per_user": _("Service price per user per month"),
    }[str(category)]


def categories_for(call: Call) -> list[BudgetCategory]:
    """The budget categories of this call: the per-user price only where the call funds per user."""
    return [c for c in BudgetCategory if c != BudgetCategory.PER_USER or call.funds_per_user]


def endorsement_deadline(call: Call) -> datetime:
    return call.endorsement_closes_at or call.closes_at + timedelta(days=DEFAULT_ENDORSEMENT_DAYS)


# Arithmetic ----------------------------------------------------------------------------------------

def line_amount(row: LineRow) -> Decimal:
    """quantity × unit cost × months, rounded half-up to the cent."""
    return (Decimal(row.quantity) * Decimal(row.unit_cost_eur) * max(int(row.months or 1), 1)).quantize(
        CENT, rounding=ROUND_HALF_UP)


def totals(lines: list[LineRow], cofinancing: Decimal | None) -> tuple[Decimal, Decimal]:
    """(total budget, requested from the programme = total − the provider's co-financing)."""
    total = sum((line_amount(r) for r in lines), Decimal("0.00"))
    requested = total - (cofinancing or Decimal("0"))
    return total.quantize(CENT), max(requested, Decimal("0.00")).quantize(CENT)


def cofinancing_share(total: Decimal, cofinancing: Decimal | None) -> Decimal:
    if not total or cofinancing is None:
        return Decimal("0.00")
    return (cofinancing * 100 / total).quantize(CENT, rounding=ROUND_HALF_UP)


# Starting -------------------------------------------------------------------------------------------

def eligible_municipalities(session: Session, call: Call) -> list[Organisation]:
    """Municipalities whose expression of interest was accepted in the call this one is linked to."""
    if call.linked_call_id is None:
        return []
    return list(session.scalars(
        sa.select(Organisation).join(ExpressionOfInterest, ExpressionOfInterest.organisation_id == Organisation.id)
        .join(Municipality, Organisation.municipality_id == Municipality.id)
        .where(ExpressionOfInterest.call_id == call.linked_call_id, ExpressionOfInterest.status == EoiStatus.ACCEPTED,
               Organisation.kind == OrgKind.MUNICIPALITY)
        .order_by(Municipality.name_mk)))


def open_grant_calls(session: Session) -> list[Call]:
    now = clock.now()
    return list(session.scalars(sa.select(Call).where(
        Call.kind == CallKind.GRANT, Call.status == CallStatus.PUBLISHED, Call.opens_at <= now, Call.closes_at > now)
        .order_by(Call.closes_at)))


def start(session: Session, actor: User, call: Call, municipality_org_id: int) -> Application:
    """The provider's one application for this call and municipality: the existing one or a new draft."""
    if not access.can_prepare_application(actor):
        raise NotAllowed()
    if call.kind != CallKind.GRANT or call.status != CallStatus.PUBLISHED:
        raise InvalidTransition(_("This call does not take applications now."))
    if municipality_org_id not in {m.id for m in eligible_municipalities(session, call)}:
        raise ValidationFailed(field_errors={"municipality": [
            _("Choose a municipality whose expression of interest the ministry accepted.")]})
    query = sa.select(Application).where(Application.call_id == call.id,
                                         Application.organisation_id == actor.organisation_id,
                                         Application.municipality_org_id == municipality_org_id)
    existing = session.scalar(query)
    if existing is not None:
        return existing
    application = Application(call_id=call.id, organisation_id=actor.organisation_id,
                              municipality_org_id=municipality_org_id)
    try:
        with session.begin_nested():
            session.add(application)
    except sa.exc.IntegrityError:
        return session.scalar(query)
    audit.record(session, actor, "application.created", application,
                 after={"call": call.reference, "municipality_org_id": municipality_org_id})
    return application


# Editing ---------------------------------------------------------------------------------------------

def is_editable(application: Application) -> bool:
    return application.status in (ApplicationStatus.DRAFT, ApplicationStatus.WITHDRAWN)


def validate(session: Session, call: Call, data: ApplicationData, complete: bool) -> None:
    """Specific errors, keyed by form field; `complete` adds what submission requires."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    eligible_types = {t.id for t in call.service_types}
    if any(t not in eligible_types for t in data.service_type_ids):
        add("service_type_ids", _("Choose only service types this call funds."))
    if data.duration_months is not None and not 1 <= data.duration_months <= MAX_MONTHS:
        add("duration_months", _("The duration is between 1 and %(max)d months.", max=MAX_MONTHS))
    for name in ("beneficiaries_per_month", "certified_caregivers"):
        if getattr(data, name) is not None and getattr(data, name) < 0:
            add(name, _("Enter a whole number, 0 or more."))
    if data.cofinancing_eur is not None and data.cofinancing_eur < 0:
        add("cofinancing_eur", _("Enter a positive amount with at most two decimals."))
    for index, row in enumerate(data.positions, start=1):
        if not row.title.strip() or row.count < 1:
            add("positions", _("Staffing row %(n)d: give the position and a number of people, 1 or more.", n=index))
    categories = {c.value for c in categories_for(call)}
    for index, line in enumerate(data.lines, start=1):
        if line.category not in categories:
            add("lines", _("Budget row %(n)d: choose one of the categories of this call.", n=index))
        if line.quantity <= 0 or line.unit_cost_eur < 0 or not 1 <= (line.months or 1) <= MAX_MONTHS:
            add("lines", _("Budget row %(n)d: the quantity must be above 0, the unit cost 0 or more and the "
                           "months between 1 and 60.", n=index))
    seen: set[int] = set()
    for row in data.hires:
        if row.count < 0:
            add("hires", _("Planned hires cannot be negative."))
        if row.category_id in seen:
            add("hires", _("Each hard-to-employ group appears once."))
        seen.add(row.category_id)
    total_staff = sum(max(r.count, 0) for r in data.positions)
    hires = sum(max(r.count, 0) for r in data.hires)
    if data.positions and hires > total_staff:
        add("hires", _("Planned hires from hard-to-employ groups (%(hires)d) cannot exceed the total staff (%(staff)d).",
                       hires=hires, staff=total_staff))
    if data.positions and (data.certified_caregivers or 0) > total_staff:
        add("certified_caregivers", _("Certified caregivers cannot exceed the total staff (%(staff)d).",
                                      staff=total_staff))
    total, requested = totals(data.lines, data.cofinancing_eur)
    if data.cofinancing_eur is not None and data.lines and data.cofinancing_eur > total:
        add("cofinancing_eur", _("Co-financing cannot exceed the total budget (%(total)s EUR).", total=_money(total)))
    if complete:
        for name in ("title", "summary"):
            if not str(getattr(data, name) or "").strip():
                add(name, _("Fill this in before submitting."))
        if not data.service_type_ids:
            add("service_type_ids", _("Choose at least one service type."))
        for name in ("beneficiaries_per_month", "start_month", "duration_months", "certified_caregivers",
                     "cofinancing_eur"):
            if getattr(data, name) is None:
                add(name, _("Fill this in before submitting."))
        if not data.positions:
            add("positions", _("Add at least one position to the staffing plan."))
        if not data.lines:
            add("lines", _("Add at least one budget line."))
        elif requested <= 0:
            add("cofinancing_eur", _("The requested amount must be above zero."))
        if call.grant_ceiling_eur is not None and requested > call.grant_ceiling_eur:
            add("lines", _("The requested amount (%(requested)s EUR) is above the ceiling of this call "
                           "(%(ceiling)s EUR). Lower the budget or raise your co-financing.",
                           requested=_money(requested), ceiling=_money(call.grant_ceiling_eur)))
        # Compared exactly (9.999 % is below a 10 % minimum) and shown rounded down, never up to the minimum.
        exact = data.cofinancing_eur * 100 / total if total and data.cofinancing_eur is not None else Decimal("0")
        if data.lines and data.cofinancing_eur is not None and exact < call.min_cofinancing_pct:
            add("cofinancing_eur", _("Co-financing is %(share)s%% of the budget; this call requires at least %(min)s%%.",
                                     share=_money(exact.quantize(CENT, rounding=ROUND_DOWN)),
                                     min=_money(call.min_cofinancing_pct)))
    if errors:
        raise ValidationFailed(field_errors=errors)


def data_of(application: Application) -> ApplicationData:
    return ApplicationData(
        **{name: getattr(application, name) for name in FIELDS},
        service_type_ids=[t.id for t in application.service_types],
        positions=[PositionRow(p.title, p.count) for p in application.positions],
        hires=[HireRow(h.category_id, h.count) for h in application.hires],
        lines=[LineRow(str(line.category), line.description, line.quantity, line.unit_cost_eur, line.months)
               for line in application.budget_lines])


def snapshot(application: Application) -> dict[str, Any]:
    values = audit.snapshot(application, FIELDS + ["total_eur", "requested_eur"])
    values["service_types"] = [t.code for t in application.service_types]
    values["positions"] = [{"title": p.title, "count": p.count} for p in application.positions]
    values["hires"] = {h.category.code: h.count for h in application.hires}
    values["lines"] = [{"category": str(line.category), "description": line.description, "quantity": str(line.quantity),
                        "unit_cost_eur": str(line.unit_cost_eur), "months": line.months,
                        "amount_eur": str(line.amount_eur)} for line in application.budget_lines]
    return values


def save(session: Session, actor: User, application: Application, data: ApplicationData,
         version_id: int) -> Application:
    if not access.can_edit_application(actor, application):
        raise NotAllowed()
    if version_id != application.version_id:
        raise Conflict()
    if not is_editable(application):
        raise InvalidTransition(_("This application has been submitted and can no longer be changed."))
    call = application.call
    validate(session, call, data, complete=False)
    before = snapshot(application)
    for name in FIELDS:
        value = getattr(data, name)
        setattr(application, name, value.strip() if isinstance(value, str) else value)
    if data.start_month is not None:
        application.start_month = data.start_month.replace(day=1)
    application.service_types = list(session.scalars(sa.select(ServiceType).where(
        ServiceType.id.in_(data.service_type_ids or [0]))))
    application.positions = [StaffPosition(position=i, title=r.title.strip(), count=r.count)
                             for i, r in enumerate(data.positions)]
    # Update the rows of categories kept in place: replacing them would insert the new row before the
    # old one is deleted and break the one-row-per-category constraint.
    wanted = {r.category_id: r.count for r in data.hires if r.count > 0}
    kept = [h for h in application.hires if h.category_id in wanted]
    for hire in kept:
        hire.count = wanted.pop(hire.category_id)
    application.hires = kept + [PlannedHire(category_id=c, count=n) for c, n in wanted.items()]
    application.budget_lines = [
        BudgetLine(position=i, category=BudgetCategory(r.category), description=r.description.strip(),
                   quantity=r.quantity, unit_cost_eur=r.unit_cost_eur, months=r.months or 1, amount_eur=line_amount(r))
        for i, r in enumerate(data.lines)]
    application.total_eur, application.requested_eur = totals(data.lines, data.cofinancing_eur)
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None
    session.refresh(application)
    after = snapshot(application)
    if before != after:
        audit.record(session, actor, "application.saved", application, before=before, after=after)
    return application


def missing_documents(session: Session, application: Application) -> list[str]:
    present = {d.purpose for d in documents.documents_for(session, "application", application.id)}
    return [p for p in (application.call.required_documents or []) if p not in present]


def submit(session: Session, actor: User, application: Application) -> ApplicationSubmission:
    if not access.can_edit_application(actor, application):
        raise NotAllowed()
    if not is_editable(application):
        raise InvalidTransition(_("This application has already been submitted."))
    now = clock.now()
    call = application.call
    if not call.is_open(now):
        raise InvalidTransition(_("The deadline of this call (%(when)s, Skopje time) has passed, so the application "
                                  "cannot be submitted. Your draft has been kept.", when=_local(call.closes_at)))
    provider = application.organisation
    if not provider.is_verified:
        raise InvalidTransition(_("Your organisation has not been verified by the ministry yet. You can keep "
                                  "preparing the draft and submit it once the verification is done."))
    if not provider.licence_valid_on(clock.utc_to_skopje(now).date()):
        raise InvalidTransition(_("Your organisation's licence for social services is not valid today. Update the "
                                  "licence on your organisation's profile, then submit."))
    validate(session, call, data_of(application), complete=True)
    missing = missing_documents(session, application)
    if missing:
        raise ValidationFailed(field_errors={"documents": [
            _("Upload the required documents first: %(list)s.",
              list=", ".join(documents.purpose_label(p) for p in missing))]})
    if application.reference is None:
        count = session.scalar(sa.select(sa.func.count(Application.id)).where(
            Application.call_id == call.id, Application.reference.is_not(None))) or 0
        application.reference = f"{call.reference}-A{count + 1:03d}"
    number = len(application.submissions) + 1
    submission = ApplicationSubmission(application=application, number=number, submitted_at=now,
                                       submitted_by_id=actor.id, snapshot=snapshot(application))
    session.add(submission)
    before = {"status": application.status.value}
    application.status = ApplicationStatus.SUBMITTED
    application.submitted_at = now
    # A resubmission asks the municipality (and the screening) again.
    application.endorsement = Endorsement.PENDING
    application.endorsement_reason = ""
    application.endorsed_by_id = None
    application.endorsed_at = None
    application.eligibility = Eligibility.PENDING
    application.eligibility_answers = {}
    application.eligibility_reason = ""
    session.flush()
    audit.record(session, actor, "application.submitted", application, before=before,
                 after={"status": "submitted", "reference": application.reference, "submission": number,
                        "requested_eur": application.requested_eur})
    with force_locale(actor.preferred_language):
        subject = _("Receipt: application %(ref)s", ref=application.reference)
        body = render_template("mail/application_receipt.txt", application=application, submission=submission,
                               when=_local(now))
    mail.queue(session, actor.email, subject, body)
    notify_members(session, application.municipality_org_id, "mail/application_endorsement_request.txt",
                   _l("Endorsement requested: application %(ref)s"), application=application,
                   deadline=_local(endorsement_deadline(call)))
    return submission


def withdraw(session: Session, actor: User, application: Application, reason: str) -> Application:
    if not access.can_edit_application(actor, application):
        raise NotAllowed()
    if application.status != ApplicationStatus.SUBMITTED:
        raise InvalidTransition(_("Only a submitted application without a decision can be withdrawn."))
    if clock.now() >= application.call.closes_at:
        raise InvalidTransition(_("The deadline has passed: the application can no longer be withdrawn."))
    application.status = ApplicationStatus.WITHDRAWN
    application.withdrawn_at = clock.now()
    audit.record(session, actor, "application.withdrawn", application, before={"status": "submitted"},
                 after={"status": "withdrawn", "reason": reason.strip()})
    return application


# Municipal endorsement ------------------------------------------------------------------------

def endorse(session: Session, actor: User, application: Application, endorsed: bool, reason: str) -> Application:
    if not access.can_endorse(actor, application):
        raise NotAllowed()
    if application.status != ApplicationStatus.SUBMITTED:
        raise InvalidTransition(_("Only a submitted application can be endorsed or declined."))
    if application.endorsement != Endorsement.PENDING:
        raise InvalidTransition(_("Your municipality has already answered this application."))
    deadline = endorsement_deadline(application.call)
    if clock.now() >= deadline:
        raise InvalidTransition(_("The endorsement deadline (%(when)s, Skopje time) has passed.",
                                  when=_local(deadline)))
    if not endorsed and not reason.strip():
        raise ValidationFailed(field_errors={"reason": [_("Give the reason for declining: the provider reads it.")]})
    application.endorsement = Endorsement.ENDORSED if endorsed else Endorsement.DECLINED
    application.endorsement_reason = reason.strip()
    application.endorsed_by_id = actor.id
    application.endorsed_at = clock.now()
    audit.record(session, actor, f"application.{application.endorsement.value}", application,
                 before={"endorsement": "pending"},
                 after={"endorsement": application.endorsement.value, "reason": reason.strip()})
    notify_members(session, application.organisation_id, "mail/application_endorsement.txt",
                   _l("Municipal endorsement: application %(ref)s"), application=application)
    return application


# Lists ------------------------------------------------------------------------------------------------

def for_provider(session: Session, organisation_id: int) -> list[Application]:
    return list(session.scalars(sa.select(Application).where(Application.organisation_id == organisation_id)
                                .options(sa.orm.joinedload(Application.call),
                                         sa.orm.joinedload(Application.municipality_org))
                                .order_by(Application.created_at.desc())))


def for_municipality(session: Session, organisation_id: int) -> list[Application]:
    """Every application naming the municipality, once submitted."""
    return list(session.scalars(sa.select(Application).where(
        Application.municipality_org_id == organisation_id, Application.status != ApplicationStatus.DRAFT)
        .options(sa.orm.joinedload(Application.call), sa.orm.joinedload(Application.organisation))
        .order_by(Application.submitted_at.desc())))


def get_visible(session: Session, actor: User, application_id: int) -> Application:
    application = session.get(Application, application_id)
    if application is None:
        raise NotFound()
    if not access.can_view_application(actor, application):
        raise NotAllowed()
    return application


def hard_to_employ_categories(session: Session) -> list[HardToEmployCategory]:
    return list(session.scalars(sa.select(HardToEmployCategory).order_by(HardToEmployCategory.sort_order)))


# Helpers -------------------------------------------------------------------------------------------

def notify_members(session: Session, organisation_id: int, template: str, subject_text: Any, **context: Any) -> None:
    """Mail every active member of an organisation, each in their own language. `subject_text` is a lazy string
    (`_l`, so that it is extracted for translation) with a `%(ref)s` for the application's reference."""
    members = session.scalars(sa.select(User).where(User.organisation_id == organisation_id, User.active.is_(True),
                                                    User.password_hash.is_not(None)))
    for member in members:
        application = context.get("application")
        with force_locale(member.preferred_language):
            subject = str(subject_text) % {"ref": application.reference if application else ""}
            body = render_template(template, user=member, **context)
        mail.queue(session, member.email, subject, body)


def _local(value: datetime) -> str:
    from portal.i18n import local_datetime

    return local_datetime(value)


def _money(value: Decimal | None) -> str:
    from portal.i18n import money

    return money(value)
