"""The programme and its calls: creation, the envelope rule, publication, amendments, rubric."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit, clock, i18n
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.models import Call, CallAmendment, CallKind, CallStatus, ExchangeRate, Programme, RubricCriterion, ServiceType, User

DEFAULT_ENVELOPE = Decimal("10800000.00")
DEFAULT_RATE = Decimal("61.5000")
CENT = Decimal("0.01")

CALL_FIELDS = ["kind", "title_mk", "title_sq", "title_en", "description_mk", "description_sq", "description_en",
               "opens_at", "closes_at", "allocation_eur", "grant_ceiling_eur", "min_cofinancing_pct",
               "required_documents", "report_evidence", "linked_call_id", "status", "register_required"]


def ensure_programme(session: Session) -> Programme:
    """The programme row and a first exchange rate (idempotent; part of the reference data)."""
    programme = session.scalar(sa.select(Programme).order_by(Programme.id))
    if programme is None:
        programme = Programme(name="Social Services Improvement Project (SSIP)", loan_reference="IBRD 8902-MK / P162246",
                              envelope_eur=DEFAULT_ENVELOPE)
        session.add(programme)
    if session.scalar(sa.select(ExchangeRate.id).limit(1)) is None:
        session.add(ExchangeRate(valid_from=date(2018, 1, 1), eur_mkd=DEFAULT_RATE))
    session.flush()
    return programme


def get_programme(session: Session, *, for_update: bool = False) -> Programme:
    query = sa.select(Programme).order_by(Programme.id).limit(1)
    if for_update:
        query = query.with_for_update()
    programme = session.scalar(query)
    return programme if programme is not None else ensure_programme(session)


def rate_on(session: Session, day: date) -> Decimal:
    rate = session.scalar(sa.select(ExchangeRate.eur_mkd).where(ExchangeRate.valid_from <= day)
                          .order_by(ExchangeRate.valid_from.desc()).limit(1))
    return rate or DEFAULT_RATE


def to_mkd(session: Session, amount: Decimal | None, day: date | None = None) -> Decimal | None:
    if amount is None:
        return None
    return (amount * rate_on(session, day or clock.now().date())).quantize(CENT)


def allocated_total(session: Session, exclude_call_id: int | None = None) -> Decimal:
    """What the programme's calls hold together."""
    programme = get_programme(session)
    query = sa.select(sa.func.coalesce(sa.func.sum(Call.allocation_eur), 0)).where(Call.programme_id == programme.id)
    if exclude_call_id:
        query = query.where(Call.id != exclude_call_id)
    return Decimal(session.scalar(query) or 0)


def committable_allocation(session: Session) -> Decimal:
    """What the calls that can commit money hold: the budgets of the calls for grant applications (a call for
    expressions of interest never carries a commitment, so its indicative budget is not money allocated)."""
    programme = get_programme(session)
    return Decimal(session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Call.allocation_eur), 0)).where(
        Call.programme_id == programme.id, Call.kind == CallKind.GRANT)) or 0)


def parse_money(value: Any, field_name: str, errors: dict, *, required: bool = True) -> Decimal | None:
    if value in (None, ""):
        if required:
            errors[field_name] = [_("Enter an amount in euro, for example 250000.00.")]
        return None
    try:
        amount = Decimal(str(value).replace(" ", "").replace(",", "."))
    except InvalidOperation:
        errors[field_name] = [_("Enter an amount in euro, for example 250000.00.")]
        return None
    if amount < 0 or amount != amount.quantize(CENT) or not amount.is_finite():
        errors[field_name] = [_("Enter a positive amount with at most two decimals.")]
        return None
    return amount


@dataclass
class CallData:
    kind: CallKind
    title_mk: str
    title_sq: str
    title_en: str
    description_mk: str
    description_sq: str
    description_en: str
    opens_at: datetime  # UTC
    closes_at: datetime  # UTC
    allocation_eur: Decimal
    grant_ceiling_eur: Decimal | None
    min_cofinancing_pct: Decimal
    service_type_ids: list[int]
    required_documents: list[str] = field(default_factory=list)
    linked_call_id: int | None = None
    amendment_note: str = ""
    # Shortening a published call's deadline: the number of drafts the administrator saw on the confirmation.
    confirmed_drafts: int | None = None
    report_evidence: list[str] = field(default_factory=list)
    # The amendment note in Albanian and English (optional; shown in Macedonian when empty).
    amendment_note_sq: str = ""
    amendment_note_en: str = ""
    # Grant calls created from now on require their grants to keep a service-user register (issue 16); changed in the
    # review settings (`ReviewSettings.register_required`), never by editing the call.
    register_required: bool = True


def _validate(session: Session, data: CallData, call: Call | None) -> None:
    errors: dict[str, list[str]] = {}
    # Macedonian is required; an empty Albanian or English title is shown in Macedonian.
    if not data.title_mk.strip():
        errors["title_mk"] = [_("Enter the title in Macedonian.")]
    if data.closes_at <= data.opens_at:
        errors["closes_at"] = [_("The call must close after it opens.")]
    if not 0 <= data.min_cofinancing_pct <= 100:
        errors["min_cofinancing_pct"] = [_("Enter a percentage between 0 and 100.")]
    if not data.service_type_ids:
        errors["service_type_ids"] = [_("Choose at least one eligible service type.")]
    elif session.scalar(sa.select(sa.func.count()).where(ServiceType.id.in_(data.service_type_ids))) != len(
            set(data.service_type_ids)):
        errors["service_type_ids"] = [_("Choose service types from the list.")]
    if data.kind == CallKind.GRANT and data.linked_call_id:
        linked = session.get(Call, data.linked_call_id)
        if linked is None or linked.kind != CallKind.EOI:
            errors["linked_call_id"] = [_("Choose a call for expressions of interest.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    programme = get_programme(session, for_update=True)  # serialises allocation changes on PostgreSQL
    others = allocated_total(session, exclude_call_id=call.id if call else None)
    if others + data.allocation_eur > programme.envelope_eur:
        raise ValidationFailed(field_errors={"allocation_eur": [
            _("The calls together may not exceed the envelope: at most %(free)s EUR is still unallocated.",
              free=i18n.money(programme.envelope_eur - others))]})


def _apply(session: Session, call: Call, data: CallData) -> None:
    call.kind = data.kind
    for name in ("title_mk", "title_sq", "title_en", "description_mk", "description_sq", "description_en"):
        setattr(call, name, getattr(data, name).strip())
    call.opens_at, call.closes_at = data.opens_at, data.closes_at
    call.allocation_eur = data.allocation_eur
    call.grant_ceiling_eur = data.grant_ceiling_eur
    call.min_cofinancing_pct = data.min_cofinancing_pct
    call.required_documents = list(data.required_documents)
    call.report_evidence = list(data.report_evidence) if data.kind == CallKind.GRANT else []
    call.linked_call_id = data.linked_call_id if data.kind == CallKind.GRANT else None
    call.service_types = list(session.scalars(sa.select(ServiceType).where(ServiceType.id.in_(data.service_type_ids))))


def _snapshot(call: Call) -> dict[str, Any]:
    values = audit.snapshot(call, CALL_FIELDS)
    values["service_types"] = sorted(st.code for st in call.service_types)
    return values


def next_reference(session: Session, kind: CallKind, year: int) -> str:
    prefix = f"{'EOI' if kind == CallKind.EOI else 'GRANT'}-{year}-"
    existing = session.scalars(sa.select(Call.reference).where(Call.reference.like(prefix + "%"))).all()
    number = max((int(ref.rsplit("-", 1)[1]) for ref in existing), default=0) + 1
    return f"{prefix}{number:02d}"


def create_call(session: Session, actor: User, data: CallData) -> Call:
    if not access.can_manage_calls(actor):
        raise NotAllowed()
    _validate(session, data, None)
    programme = get_programme(session)
    call = Call(programme_id=programme.id, reference=next_reference(session, data.kind, clock.now().year),
                kind=data.kind, title_mk="", title_sq="", title_en="", opens_at=data.opens_at,
                closes_at=data.closes_at, allocation_eur=data.allocation_eur)
    _apply(session, call, data)
    call.register_required = data.kind == CallKind.GRANT and data.register_required
    session.add(call)
    session.flush()
    audit.record(session, actor, "call.created", call, after=_snapshot(call))
    return call


def update_call(session: Session, actor: User, call: Call, data: CallData, version_id: int) -> Call:
    """Drafts change freely; a change to a published call is recorded as an amendment that
    applicants see. Decided calls no longer change."""
    if not access.can_manage_calls(actor):
        raise NotAllowed()
    if version_id != call.version_id:
        raise Conflict()
    if call.status == CallStatus.DECIDED:
        raise InvalidTransition(_("A decided call can no longer be changed."))
    if call.status != CallStatus.DRAFT and data.kind != call.kind:
        raise ValidationFailed(field_errors={"kind": [_("The kind of a published call cannot change.")]})
    if call.status != CallStatus.DRAFT and not data.amendment_note.strip():
        raise ValidationFailed(field_errors={"amendment_note": [
            _("Explain the change: applicants read this note with the amendment.")]})
    _validate(session, data, call)
    old_deadline = call.closes_at
    if call.status == CallStatus.PUBLISHED:
        check_deadline_change(session, call, data.closes_at, data.confirmed_drafts)
    before = _snapshot(call)
    _apply(session, call, data)
    after = _snapshot(call)
    changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if not changed:
        return call
    if call.status != CallStatus.DRAFT:
        session.add(CallAmendment(call=call, actor_id=actor.id, note_mk=data.amendment_note.strip(),
                                  note_sq=data.amendment_note_sq.strip(), note_en=data.amendment_note_en.strip(),
                                  changes=changed))
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None
    audit.record(session, actor, "call.amended" if call.status != CallStatus.DRAFT else "call.updated", call,
                 before=before, after=after)
    if call.status == CallStatus.PUBLISHED and call.closes_at != old_deadline:
        _announce_deadline(session, actor, call, old_deadline, data.amendment_note.strip())
    return call


class ShorteningNeedsConfirmation(InvalidTransition):
    """Moving a published call's deadline earlier: the administrator confirms, seeing the drafts affected."""

    def __init__(self, drafts: int, before: datetime, after: datetime) -> None:
        super().__init__(_("The deadline moves earlier, from %(before)s to %(after)s: %(n)d drafts not yet submitted "
                           "have less time. Confirm the change on the next page.", before=_local(before),
                           after=_local(after), n=drafts))
        self.drafts, self.before, self.after = drafts, before, after


def drafts_affected(session: Session, call: Call) -> int:
    """Drafts on the call that a shorter deadline cuts short: EOIs in draft or withdrawn, applications in draft."""
    from portal.models import Application, ApplicationStatus, EoiStatus, ExpressionOfInterest

    if call.kind == CallKind.EOI:
        return session.scalar(sa.select(sa.func.count(ExpressionOfInterest.id)).where(
            ExpressionOfInterest.call_id == call.id,
            ExpressionOfInterest.status.in_((EoiStatus.DRAFT, EoiStatus.WITHDRAWN)))) or 0
    return session.scalar(sa.select(sa.func.count(Application.id)).where(
        Application.call_id == call.id, Application.status == ApplicationStatus.DRAFT)) or 0


def check_deadline_change(session: Session, call: Call, closes_at: datetime, confirmed_drafts: int | None) -> None:
    """A published call's deadline may move later freely; earlier only into the future, and only when the
    administrator has confirmed it knowing how many drafts are affected."""
    if closes_at >= call.closes_at:
        return
    if closes_at <= clock.now():
        raise ValidationFailed(field_errors={"closes_at": [_(
            "A published call's deadline cannot be moved into the past: applicants are preparing their submissions. "
            "Choose a time in the future, or close the call after its deadline.")]})
    drafts = drafts_affected(session, call)
    if confirmed_drafts != drafts:
        raise ShorteningNeedsConfirmation(drafts, call.closes_at, closes_at)


def _announce_deadline(session: Session, actor: User, call: Call, before: datetime, note: str) -> int:
    """Tell every applicant of the call (each user of an organisation with an EOI or an application on it, in their
    own language) that the deadline changed."""
    from flask import render_template
    from flask_babel import force_locale

    from portal import mail
    from portal.models import Application, ExpressionOfInterest

    owner = ExpressionOfInterest if call.kind == CallKind.EOI else Application
    organisations = sa.select(owner.organisation_id).where(owner.call_id == call.id)
    users = list(session.scalars(sa.select(User).where(User.organisation_id.in_(organisations), User.active.is_(True),
                                                       User.password_hash.is_not(None)).order_by(User.id)))
    for user in users:
        with force_locale(user.preferred_language):
            subject = _("The deadline of call %(ref)s has changed", ref=call.reference)
            body = render_template("mail/call_deadline.txt", user=user, call=call, before=_local(before),
                                   after=_local(call.closes_at), note=note)
        mail.queue(session, user.email, subject, body)
    audit.record(session, actor, "call.deadline_announced", call, before={"closes_at": before},
                 after={"closes_at": call.closes_at, "recipients": len(users)})
    return len(users)


def _local(value: datetime) -> str:
    from portal.i18n import local_datetime

    return local_datetime(value)


TRANSITIONS = {
    (CallStatus.DRAFT, CallStatus.PUBLISHED): "call.published",
    (CallStatus.PUBLISHED, CallStatus.CLOSED): "call.closed",
    (CallStatus.CLOSED, CallStatus.DECIDED): "call.decided",
}


def change_status(session: Session, actor: User, call: Call, wanted: CallStatus) -> Call:
    if not access.can_manage_calls(actor):
        raise NotAllowed()
    action = TRANSITIONS.get((call.status, wanted))
    if action is None:
        raise InvalidTransition(_("A call that is %(current)s cannot become %(wanted)s.",
                                  current=status_label(call.status), wanted=status_label(wanted)))
    now = clock.now()
    if wanted == CallStatus.PUBLISHED:
        if call.closes_at <= now:
            raise InvalidTransition(_("The closing date has passed. Move it into the future before publishing."))
        if call.kind == CallKind.GRANT and not call.criteria:
            raise InvalidTransition(_("A call for grant applications needs a scoring rubric before it is published."))
        call.published_at = now
    if wanted == CallStatus.CLOSED and now < call.closes_at:
        raise InvalidTransition(_("The call is still open until its closing date; it can be closed after that."))
    before = {"status": call.status.value}
    call.status = wanted
    audit.record(session, actor, action, call, before=before, after={"status": wanted.value})
    return call


def status_label(status: CallStatus) -> str:
    from portal.labels import label

    return label(status, "call_status")


def kind_label(kind: CallKind) -> str:
    from portal.labels import label

    return label(kind, "call_kind")


def rubric_locked(session: Session, call: Call) -> bool:
    """The rubric is editable until the first score on this call is recorded."""
    from portal.models import CriterionScore

    return bool(session.scalar(sa.select(sa.func.count(CriterionScore.id)).join(
        RubricCriterion, RubricCriterion.id == CriterionScore.criterion_id).where(RubricCriterion.call_id == call.id)))


@dataclass
class CriterionData:
    name_mk: str
    name_sq: str
    name_en: str
    description: str  # Macedonian
    max_score: Decimal
    weight: Decimal
    description_sq: str = ""
    description_en: str = ""


def set_rubric(session: Session, actor: User, call: Call, rows: list[CriterionData], version_id: int | None = None) -> Call:
    """`version_id`: the call's version the form was built from (None for the seed and services that hold the
    row already); a rubric saved from an older version is refused, and saving bumps the call's version."""
    if not access.can_manage_calls(actor):
        raise NotAllowed()
    if version_id is not None and version_id != call.version_id:
        raise Conflict()
    if rubric_locked(session, call):
        raise InvalidTransition(_("Scores have been recorded: the rubric can no longer change."))
    if call.status == CallStatus.DECIDED:
        raise InvalidTransition(_("A decided call can no longer be changed."))
    errors: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        if not row.name_mk.strip():
            errors[f"criteria-{index}-name_mk"] = [_("Row %(n)d: enter the criterion's name in Macedonian.", n=index + 1)]
        if row.max_score <= 0 or row.weight <= 0:
            errors[f"criteria-{index}-max_score"] = [_("Row %(n)d: the maximum score and the weight must be above zero.",
                                                       n=index + 1)]
    if errors:
        raise ValidationFailed(field_errors=errors)
    # Compared in Macedonian (the one name every criterion has), with each text's translations.
    before = [{"name": c.name_mk, "max": str(c.max_score), "weight": str(c.weight),
               "texts": [c.name_sq, c.name_en, c.description_mk, c.description_sq, c.description_en]}
              for c in call.criteria]
    call.criteria = [RubricCriterion(position=i, name_mk=r.name_mk.strip(), name_sq=r.name_sq.strip(),
                                     name_en=r.name_en.strip(), description_mk=r.description.strip(),
                                     description_sq=r.description_sq.strip(), description_en=r.description_en.strip(),
                                     max_score=r.max_score, weight=r.weight) for i, r in enumerate(rows)]
    after = [{"name": r.name_mk.strip(), "max": str(r.max_score), "weight": str(r.weight),
              "texts": [r.name_sq.strip(), r.name_en.strip(), r.description.strip(), r.description_sq.strip(),
                        r.description_en.strip()]} for r in rows]
    if before != after and call.status != CallStatus.DRAFT:
        from flask_babel import force_locale

        notes = {}
        for code in ("mk", "sq", "en"):
            with force_locale(code):
                notes[f"note_{code}"] = _("The scoring rubric was changed.")
        session.add(CallAmendment(call=call, actor_id=actor.id, **notes,
                                  changes={"rubric": {"before": before, "after": after}}))
    # The criteria live in their own rows: touch the call so that its version moves with its rubric.
    sa.orm.attributes.flag_modified(call, "title_mk")
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None
    audit.record(session, actor, "call.rubric_set", call, before={"criteria": before}, after={"criteria": after})
    return call


def public_calls(session: Session) -> list[Call]:
    return list(session.scalars(
        sa.select(Call).where(Call.status != CallStatus.DRAFT)
        .options(sa.orm.selectinload(Call.service_types))
        .order_by(Call.closes_at.desc())))


def all_calls(session: Session) -> list[Call]:
    return list(session.scalars(sa.select(Call).order_by(Call.created_at.desc())))


def envelope_summary(session: Session) -> dict[str, Decimal]:
    programme = get_programme(session)
    allocated = allocated_total(session)
    return {"envelope": programme.envelope_eur, "allocated": allocated, "unallocated": programme.envelope_eur - allocated}


def update_programme(session: Session, actor: User, name: str, loan_reference: str, envelope_text: str,
                     version_id: int) -> Programme:
    if not access.can_manage_calls(actor):
        raise NotAllowed()
    programme = get_programme(session, for_update=True)
    if version_id != programme.version_id:
        raise Conflict()
    errors: dict[str, list[str]] = {}
    envelope = parse_money(envelope_text, "envelope_eur", errors)
    if envelope is not None and envelope < allocated_total(session):
        errors["envelope_eur"] = [_("The envelope cannot be smaller than what the calls already hold (%(total)s EUR).",
                                    total=i18n.money(allocated_total(session)))]
    if envelope is not None and envelope <= 0:
        errors["envelope_eur"] = [_("Enter a positive amount with at most two decimals.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    before = audit.snapshot(programme, ["name", "loan_reference", "envelope_eur"])
    programme.name, programme.loan_reference, programme.envelope_eur = name.strip(), loan_reference.strip(), envelope
    after = audit.snapshot(programme, ["name", "loan_reference", "envelope_eur"])
    if before != after:
        audit.record(session, actor, "programme.updated", programme, before=before, after=after)
    return programme


def add_rate(session: Session, actor: User, valid_from: date, eur_mkd: Decimal) -> ExchangeRate:
    if not access.can_manage_calls(actor):
        raise NotAllowed()
    if session.scalar(sa.select(ExchangeRate.id).where(ExchangeRate.valid_from == valid_from)) is not None:
        raise ValidationFailed(field_errors={"valid_from": [_("A rate from this date exists already.")]})
    rate = ExchangeRate(valid_from=valid_from, eur_mkd=eur_mkd)
    session.add(rate)
    session.flush()
    audit.record(session, actor, "exchange_rate.added", rate, after={"valid_from": valid_from, "eur_mkd": eur_mkd})
    return rate


def rates(session: Session) -> list[ExchangeRate]:
    return list(session.scalars(sa.select(ExchangeRate).order_by(ExchangeRate.valid_from.desc())))


@dataclass
class ReviewSettings:
    endorsement_closes_at: datetime | None  # UTC
    funds_per_user: bool
    checklist: list[str]
    reviewers_required: int
    discrepancy_pct: Decimal
    chair_id: int | None
    tranche_template: list[list[int]] | None = None  # None: leave as it is
    # Grantee financial reports (issue 18): the period length in months and the allowed variance per budget line in
    # percent. None: leave as it is.
    finance_period_months: int | None = None
    budget_variance_pct: Decimal | None = None
    # Whether the call's grants keep a service-user register that fills their monthly reports (issue 16). None: leave
    # as it is.
    register_required: bool | None = None


def parse_tranche_template(text: str) -> list[list[int]]:
    """One tranche per line, `share %; months after start; reports accepted through`, e.g. `30; 0; 0`.
    Shares add up to 100; months go up; empty text means the standard template."""
    rows: list[list[int]] = []
    for number, line in enumerate((raw for raw in text.splitlines() if raw.strip()), start=1):
        parts = [p.strip().rstrip("%") for p in line.replace(",", ";").split(";")]
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValidationFailed(field_errors={"tranche_template": [
                _("Line %(n)d: write the share in %%, the month after the start and the month of reports, "
                  "separated by semicolons, like 30; 0; 0.", n=number)]})
        rows.append([int(p) for p in parts])
    if rows:
        months = [row[1] for row in rows]
        if sum(row[0] for row in rows) != 100 or any(row[0] <= 0 for row in rows):
            raise ValidationFailed(field_errors={"tranche_template": [_("The shares of the tranches add up to 100.")]})
        if months != sorted(months) or months[-1] > 60 or any(row[2] > 60 for row in rows):
            raise ValidationFailed(field_errors={"tranche_template": [
                _("The months go up from the start and stay within 60.")]})
    return rows


def _finance_settings_errors(session: Session, call: Call, settings: ReviewSettings) -> dict[str, list[str]]:
    """The financial-report settings of a grant call: a period of 1 to 12 months, which cannot change once a grant of
    the call has a financial report (its periods would move); a variance from 0 to 100 % with at most two decimals."""
    from portal.models import FinancialReport, GrantAgreement

    errors: dict[str, list[str]] = {}
    months = settings.finance_period_months
    if months is not None and months != call.finance_period_months:
        if not 1 <= months <= 12:
            errors["finance_period_months"] = [_("Enter a number of months from 1 to 12.")]
        elif session.scalar(sa.select(FinancialReport.id).join(GrantAgreement, GrantAgreement.id == FinancialReport.agreement_id)
                            .where(GrantAgreement.call_id == call.id).limit(1)) is not None:
            errors["finance_period_months"] = [_("Grants of this call already have financial reports: the length of "
                                                 "their periods can no longer change.")]
    pct = settings.budget_variance_pct
    if pct is not None and (not pct.is_finite() or not Decimal("0") <= pct <= 100 or pct != pct.quantize(Decimal("0.01"))):
        errors["budget_variance_pct"] = [_("Enter a percentage from 0 to 100 with at most two decimals.")]
    return errors


def _register_setting_errors(session: Session, call: Call, wanted: bool | None) -> dict[str, list[str]]:
    """A register can be required only before any grant of the call has a monthly report: months already reported
    were typed, and a register started late does not hold everyone served since the start (the reports would jump,
    and continuity would break). Switching the requirement off is always allowed: later reports are typed again, and
    versions already filled from the register keep saying so."""
    from portal.models import GrantAgreement, MonthlyReport

    if not wanted or call.register_required:
        return {}
    reported = session.scalar(sa.select(MonthlyReport.id).join(GrantAgreement, GrantAgreement.id == MonthlyReport.agreement_id)
                              .where(GrantAgreement.call_id == call.id).limit(1))
    if reported is not None:
        return {"register_required": [_("Grants of this call already have monthly reports: a service-user register can "
                                        "no longer be required for them (their registers would not hold everyone "
                                        "served since the start).")]}
    return {}


def set_review_settings(session: Session, actor: User, call: Call, settings: ReviewSettings, version_id: int) -> Call:
    """The review settings of a provider grant call: endorsement deadline, per-user funding, the eligibility
    checklist, reviewers per application, the discrepancy threshold and the committee chair."""
    from portal.models import Role

    if not access.can_manage_calls(actor):
        raise NotAllowed()
    if version_id != call.version_id:
        raise Conflict()
    if call.kind != CallKind.GRANT:
        raise InvalidTransition(_("Review settings belong to calls for grant applications."))
    errors: dict[str, list[str]] = {}
    if settings.endorsement_closes_at is not None and settings.endorsement_closes_at <= call.closes_at:
        errors["endorsement_closes_at"] = [_("The endorsement deadline comes after the call closes.")]
    if not 1 <= settings.reviewers_required <= 9:
        errors["reviewers_required"] = [_("Enter a number from 1 to 9.")]
    if not Decimal("0") < settings.discrepancy_pct <= 100:
        errors["discrepancy_pct"] = [_("Enter a percentage above 0 and at most 100.")]
    if settings.chair_id is not None:
        chair = session.get(User, settings.chair_id)
        if chair is None or not chair.active or chair.role not in (Role.REVIEWER, Role.ADMIN):
            errors["chair_id"] = [_("Choose an active ministry reviewer or administrator as chair.")]
    errors |= _finance_settings_errors(session, call, settings)
    errors |= _register_setting_errors(session, call, settings.register_required)
    if errors:
        raise ValidationFailed(field_errors=errors)
    fields = ["endorsement_closes_at", "funds_per_user", "eligibility_checklist", "reviewers_required",
              "discrepancy_share", "chair_id", "tranche_template", "finance_period_months", "budget_variance_pct",
              "register_required"]
    before = audit.snapshot(call, fields)
    call.endorsement_closes_at = settings.endorsement_closes_at
    call.funds_per_user = settings.funds_per_user
    call.eligibility_checklist = [line.strip()[:300] for line in settings.checklist if line.strip()]
    call.reviewers_required = settings.reviewers_required
    call.discrepancy_share = (settings.discrepancy_pct / 100).quantize(Decimal("0.0001"))
    call.chair_id = settings.chair_id
    if settings.tranche_template is not None:
        call.tranche_template = settings.tranche_template
    if settings.finance_period_months is not None:
        call.finance_period_months = settings.finance_period_months
    if settings.budget_variance_pct is not None:
        call.budget_variance_pct = settings.budget_variance_pct
    if settings.register_required is not None:
        call.register_required = settings.register_required
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None
    after = audit.snapshot(call, fields)
    if before != after:
        audit.record(session, actor, "call.review_settings", call, before=before, after=after)
    return call
