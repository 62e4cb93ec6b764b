"""Grant agreements from awards, amendments as new versions, and the four-eyes tranche workflow.
Money moves only through `portal.grants.ledger`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit, clock
from portal.applications import review
from portal.db import lock_row
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.grants import ledger
from portal.models import (
    AgreementVersion,
    Application,
    ApplicationStatus,
    GrantAgreement,
    Outcome,
    Tranche,
    TrancheStatus,
    User,
)

MAX_MONTHS = 60
START_WITHIN_MONTHS = 5


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has fewer days (31 Jan + 1 → 28/29 Feb)."""
    import calendar

    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass
class TrancheRow:
    planned_date: date
    amount_eur: Decimal
    reports_required_through: int = 0
    finance_period: int | None = None  # financial reports accepted up to this period (issue 18)
    min_spent_pct: Decimal | None = None  # at least this share of what was disbursed before spent


@dataclass
class Terms:
    signature_date: date
    start_date: date
    end_date: date
    committed_eur: Decimal
    tranches: list[TrancheRow]
    document_id: int | None = None


def _validate(terms: Terms, errors: dict[str, list[str]], call=None) -> None:
    if terms.end_date <= terms.start_date:
        errors.setdefault("end_date", []).append(_("The end date comes after the start date."))
    elif terms.end_date > add_months(terms.start_date, MAX_MONTHS):
        errors.setdefault("end_date", []).append(_("A grant runs at most 60 months."))
    if terms.committed_eur <= 0:
        errors.setdefault("committed_eur", []).append(_("The committed amount is above zero."))
    total = sum((t.amount_eur for t in terms.tranches), Decimal("0"))
    if terms.tranches and total != terms.committed_eur:
        errors.setdefault("tranches", []).append(
            _("The tranches add up to %(total)s EUR but the commitment is %(committed)s EUR.",
              total=str(total), committed=str(terms.committed_eur)))
    if any(t.amount_eur <= 0 or t.reports_required_through < 0 for t in terms.tranches):
        errors.setdefault("tranches", []).append(_("Each tranche has an amount above zero."))
    if call is not None and "end_date" not in errors:
        from portal.finance_reports.conditions import validate_row

        for position, row in enumerate(terms.tranches, start=1):
            for message in validate_row(call, terms.start_date, terms.end_date, position, row.finance_period,
                                        row.min_spent_pct):
                errors.setdefault("tranches", []).append(message)


def _conditions(row: TrancheRow) -> dict:
    """A validated row's release conditions, as the tranche's columns hold them."""
    pct = None if row.min_spent_pct is None else Decimal(row.min_spent_pct).quantize(Decimal("0.01"))
    return {"reports_required_through": row.reports_required_through, "requires_finance_period": row.finance_period,
            "min_spent_pct": pct}


def start_warning(terms: Terms) -> str | None:
    """Services must start within five months of signature."""
    if terms.start_date > add_months(terms.signature_date, START_WITHIN_MONTHS):
        return _("The services start more than five months after signature.")
    return None


def create_agreement(session: Session, actor: User, application: Application, number: str,
                     terms: Terms) -> GrantAgreement:
    """Turn an award into a signed agreement and commit its amount (envelope and call checked under lock)."""
    if not access.can_manage_agreements(actor):
        raise NotAllowed()
    # Two officers recording the same signature at once: the second waits here, then finds the first's.
    lock_row(session, application)
    if application.status != ApplicationStatus.AWARDED:
        raise InvalidTransition(_("Only an awarded application becomes a grant agreement."))
    if session.scalar(sa.select(GrantAgreement.id).where(GrantAgreement.application_id == application.id)):
        raise InvalidTransition(_("This award already has its agreement."))
    errors: dict[str, list[str]] = {}
    if not number.strip():
        errors["number"] = [_("Enter the agreement number.")]
    elif session.scalar(sa.select(GrantAgreement.id).where(GrantAgreement.number == number.strip())):
        errors["number"] = [_("Another agreement already has this number.")]
    _validate(terms, errors, application.call)
    award = review.latest_decisions(session, [application.id]).get(application.id)
    if award is None or award.outcome != Outcome.AWARD:
        raise InvalidTransition(_("Only an awarded application becomes a grant agreement."))
    if terms.committed_eur > (award.amount_eur or 0):
        errors.setdefault("committed_eur", []).append(
            _("The agreement cannot commit more than the award (%(award)s EUR).", award=str(award.amount_eur)))
    if errors:
        raise ValidationFailed(field_errors=errors)
    agreement = GrantAgreement(application_id=application.id, call_id=application.call_id,
                               organisation_id=application.organisation_id,
                               municipality_org_id=application.municipality_org_id, number=number.strip(),
                               created_by_id=actor.id, created_at=clock.now())
    session.add(agreement)
    session.flush()
    session.add(AgreementVersion(agreement=agreement, version=1, signature_date=terms.signature_date,
                                 start_date=terms.start_date, end_date=terms.end_date,
                                 committed_eur=terms.committed_eur, document_id=terms.document_id,
                                 created_by_id=actor.id))
    for position, row in enumerate(terms.tranches, start=1):
        session.add(Tranche(agreement=agreement, position=position, planned_date=row.planned_date,
                            amount_eur=row.amount_eur, **_conditions(row)))
    session.flush()
    ledger.commit(session, actor, agreement, terms.committed_eur, _("Agreement %(number)s signed", number=agreement.number),
                  on=terms.signature_date)
    audit.record(session, actor, "agreement.signed", agreement,
                 after={"number": agreement.number, "committed_eur": terms.committed_eur,
                        "tranches": len(terms.tranches)})
    session.refresh(agreement)
    return agreement


def stale_amendment_message(session: Session, agreement: GrantAgreement) -> str:
    newest = session.scalar(sa.select(AgreementVersion).where(AgreementVersion.agreement_id == agreement.id)
                            .order_by(AgreementVersion.version.desc()).limit(1))
    author_user = session.get(User, newest.created_by_id)
    author = author_user.full_name if author_user else ""
    return _("Someone else amended this agreement while you were editing it: version %(v)d by %(who)s commits "
             "%(amount)s EUR (reason: %(reason)s). Your amendment was not saved. Review their change below, then "
             "make yours again if it is still needed.", v=newest.version, who=author,
             amount=str(newest.committed_eur), reason=newest.reason or "—")


def amend(session: Session, actor: User, agreement: GrantAgreement, terms: Terms, reason: str,
          expected_version: int | None = None) -> AgreementVersion:
    """A new version of the terms; the difference in the commitment goes to the ledger (an increase passes
    the same envelope and call checks as a new commitment; a decrease never goes below what was paid).

    `expected_version` is the version the person's form was built from: if someone else amended the
    agreement since, nothing is saved and `Conflict` tells who changed what (no lost update)."""
    if not access.can_manage_agreements(actor):
        raise NotAllowed()
    ledger.lock(session, agreement)
    newest = session.scalar(sa.select(sa.func.max(AgreementVersion.version))
                            .where(AgreementVersion.agreement_id == agreement.id))
    if expected_version is None or newest != expected_version:
        raise Conflict(stale_amendment_message(session, agreement))
    session.expire(agreement, ["versions", "tranches"])
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = [_("Give the reason for the amendment.")]
    _validate(terms, errors, agreement.call)
    if errors:
        raise ValidationFailed(field_errors=errors)
    current = agreement.current
    existing = list(agreement.tranches)
    if terms.tranches:
        if len(terms.tranches) < len(existing):
            errors.setdefault("tranches", []).append(_("An amendment keeps every tranche; set a planned one's amount "
                                                       "to what remains instead of removing it."))
        for tranche, row in zip(existing, terms.tranches, strict=False):
            if tranche.status != TrancheStatus.PLANNED and (row.amount_eur != tranche.amount_eur
                                                            or row.planned_date != tranche.planned_date
                                                            or _conditions(row) != _conditions_of(tranche)):
                errors.setdefault("tranches", []).append(
                    _("Tranche %(n)d is already in payment and cannot change.", n=tranche.position))
        if errors:
            raise ValidationFailed(field_errors=errors)
    difference = terms.committed_eur - current.committed_eur
    if difference > 0:
        ledger.commit(session, actor, agreement, difference, reason, on=terms.signature_date)
    elif difference < 0:
        ledger.decommit(session, actor, agreement, -difference, reason, on=terms.signature_date)
    version = AgreementVersion(agreement=agreement, version=current.version + 1, signature_date=terms.signature_date,
                               start_date=terms.start_date, end_date=terms.end_date,
                               committed_eur=terms.committed_eur, reason=reason.strip(), document_id=terms.document_id,
                               created_by_id=actor.id)
    session.add(version)
    for position, row in enumerate(terms.tranches, start=1):
        if position <= len(existing):
            tranche = existing[position - 1]
            if tranche.status == TrancheStatus.PLANNED:
                tranche.planned_date, tranche.amount_eur = row.planned_date, row.amount_eur
                for name, value in _conditions(row).items():
                    setattr(tranche, name, value)
        else:
            session.add(Tranche(agreement=agreement, position=position, planned_date=row.planned_date,
                                amount_eur=row.amount_eur, **_conditions(row)))
    session.flush()
    audit.record(session, actor, "agreement.amended", agreement,
                 before={"version": current.version, "committed_eur": current.committed_eur},
                 after={"version": version.version, "committed_eur": version.committed_eur, "reason": reason.strip(),
                        "tranches": [str(t.amount_eur) for t in terms.tranches],
                        "conditions": [list(_conditions(t).values()) for t in terms.tranches]})
    return version


def _conditions_of(tranche: Tranche) -> dict:
    pct = tranche.min_spent_pct
    return {"reports_required_through": tranche.reports_required_through,
            "requires_finance_period": tranche.requires_finance_period,
            "min_spent_pct": None if pct is None else Decimal(pct)}


def row_of(tranche: Tranche) -> TrancheRow:
    """A tranche as a row of the agreement form (the amendment starts from the tranches as they are)."""
    return TrancheRow(tranche.planned_date, tranche.amount_eur, tranche.reports_required_through,
                      tranche.requires_finance_period, tranche.min_spent_pct)


# Tranches ---------------------------------------------------------------------------------------------

def reports_accepted_through(session: Session, agreement: GrantAgreement) -> int:
    """The last month (1, 2, …) up to which every monthly report is accepted: a tranche conditioned on
    "reports accepted up to month N" can be requested once this reaches N."""
    from portal.reports.services import accepted_through

    return accepted_through(session, agreement.id)


def no_report_warning(session: Session, agreement: GrantAgreement, today: date) -> str | None:
    """Services must start within five months of signature: warn when no report is accepted by then."""
    due = add_months(agreement.versions[0].signature_date, START_WITHIN_MONTHS)
    if today > due and reports_accepted_through(session, agreement) == 0:
        return _("Five months have passed since signature (%(due)s) and no monthly report has been accepted: check "
                 "that the services have started.", due=due.isoformat())
    return None


def release_refusals(session: Session, tranche: Tranche) -> list[str]:
    """Every release condition of the tranche that is not met, as the message that names it: the monthly reports
    accepted up to month N, and the money conditions (`portal.finance_reports.conditions`). One place: the request,
    the approval and the agreement page all ask here."""
    from portal.finance_reports.conditions import unmet

    refusals = []
    accepted = reports_accepted_through(session, tranche.agreement)
    if tranche.reports_required_through > accepted:
        refusals.append(_("This tranche needs the monthly reports accepted up to month %(n)d; they are accepted up to "
                          "month %(done)d.", n=tranche.reports_required_through, done=accepted))
    return refusals + [condition.refusal for condition in unmet(session, tranche)]


def check_release_conditions(session: Session, tranche: Tranche) -> None:
    """Refuse (409, nothing changes) while a release condition of the tranche is not met."""
    refusals = release_refusals(session, tranche)
    if refusals:
        raise InvalidTransition(" ".join(refusals))


def _check_tranche_version(tranche: Tranche, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != tranche.version_id:
        raise Conflict(_("Someone else changed tranche %(n)d while you were looking at it: it is now %(status)s, "
                         "%(amount)s EUR. Nothing was done; check it again before you continue.",
                         n=tranche.position, status=tranche_status_label(tranche.status),
                         amount=str(tranche.amount_eur)))


def request_release(session: Session, actor: User, tranche: Tranche, expected_version: int | None = None) -> Tranche:
    if not access.can_request_release(actor):
        raise NotAllowed()
    lock_row(session, tranche)
    _check_tranche_version(tranche, expected_version)
    if tranche.status != TrancheStatus.PLANNED:
        raise InvalidTransition(_("Only a planned tranche can be requested."))
    check_release_conditions(session, tranche)
    tranche.status = TrancheStatus.REQUESTED
    tranche.requested_by_id, tranche.requested_at = actor.id, clock.now()
    from portal.grants import four_eyes

    notified = four_eyes.notify_approvers(session, tranche)  # the second pair of eyes is told by e-mail
    audit.record(session, actor, "tranche.requested", tranche, before={"status": "planned"},
                 after={"status": "requested", "amount_eur": tranche.amount_eur, "approvers_notified": notified})
    return tranche


def approve_release(session: Session, actor: User, tranche: Tranche, expected_version: int | None = None) -> Tranche:
    if not access.can_approve_release(actor):
        raise NotAllowed()
    lock_row(session, tranche)
    _check_tranche_version(tranche, expected_version)
    from portal.grants import four_eyes

    four_eyes.check_approve(actor, tranche)
    check_release_conditions(session, tranche)
    tranche.status = TrancheStatus.APPROVED
    tranche.approved_by_id, tranche.approved_at = actor.id, clock.now()
    audit.record(session, actor, "tranche.approved", tranche, before={"status": "requested"},
                 after={"status": "approved"})
    return tranche


def mark_paid(session: Session, actor: User, tranche: Tranche, paid_on: date, bank_reference: str,
              expected_version: int | None = None) -> Tranche:
    if not access.can_request_release(actor):
        raise NotAllowed()
    ledger.lock(session, tranche.agreement)
    lock_row(session, tranche)
    _check_tranche_version(tranche, expected_version)
    from portal.grants import four_eyes

    four_eyes.check_pay(actor, tranche, paid_on, bank_reference)
    ledger.disburse(session, actor, tranche.agreement, tranche.amount_eur,
                    _("Tranche %(n)d of %(number)s", n=tranche.position, number=tranche.agreement.number),
                    on=paid_on, tranche=tranche)
    tranche.status = TrancheStatus.PAID
    tranche.paid_on, tranche.bank_reference = paid_on, bank_reference.strip()
    audit.record(session, actor, "tranche.paid", tranche, before={"status": "approved"},
                 after={"status": "paid", "paid_on": paid_on, "bank_reference": tranche.bank_reference})
    return tranche


#: Used when a call has no template of its own: an advance, then three tranches on accepted reports.
DEFAULT_TEMPLATE = [[30, 0, 0], [25, 6, 6], [25, 12, 12], [20, 18, 18]]


def schedule_from_template(call, amount: Decimal, start: date) -> list[TrancheRow]:
    """The call's tranche template applied to an amount: shares rounded to the cent, the last tranche
    taking the remainder so that the schedule adds up to the commitment exactly."""
    template = call.tranche_template or DEFAULT_TEMPLATE
    rows, given = [], Decimal("0.00")
    for index, (share, month, reports) in enumerate(template):
        last = index == len(template) - 1
        part = amount - given if last else (amount * share / 100).quantize(Decimal("0.01"))
        given += part
        rows.append(TrancheRow(add_months(start, month), part, reports))
    return rows


# Reading ------------------------------------------------------------------------------------------------

def terms_in_force() -> sa.Subquery:
    """Each agreement's newest version, for set-based queries: agreement_id, start_date, end_date, committed_eur."""
    newest = (sa.select(AgreementVersion.agreement_id, sa.func.max(AgreementVersion.version).label("version"))
              .group_by(AgreementVersion.agreement_id).subquery())
    return (sa.select(AgreementVersion.agreement_id, AgreementVersion.start_date, AgreementVersion.end_date,
                      AgreementVersion.committed_eur)
            .join(newest, sa.and_(newest.c.agreement_id == AgreementVersion.agreement_id,
                                  newest.c.version == AgreementVersion.version)).subquery("terms"))


def award_of(session: Session, application: Application):
    decision = review.latest_decisions(session, [application.id]).get(application.id)
    return decision if decision is not None and decision.outcome == Outcome.AWARD else None


def terms_of(version: AgreementVersion) -> Terms:
    return Terms(signature_date=version.signature_date, start_date=version.start_date, end_date=version.end_date,
                 committed_eur=version.committed_eur, tranches=[])


def visible_agreements(session: Session, actor: User) -> list[GrantAgreement] | None:
    """The ministry sees every agreement, a provider its own, a municipality those in it; monitors see totals."""
    query = visible_agreements_query(actor)
    return None if query is None else list(session.scalars(query).unique())


def visible_agreements_query(actor: User) -> sa.Select | None:
    """`visible_agreements` as a query, for a page of the list (None: the actor sees no agreement list)."""
    query = (sa.select(GrantAgreement).options(sa.orm.selectinload(GrantAgreement.versions),
                                               sa.orm.selectinload(GrantAgreement.tranches),
                                               sa.orm.joinedload(GrantAgreement.application).joinedload(Application.organisation),
                                               sa.orm.joinedload(GrantAgreement.application)
                                               .joinedload(Application.municipality_org))
             .order_by(GrantAgreement.number))
    if actor.is_ministry:
        pass
    elif access.can_prepare_application(actor):
        query = query.where(GrantAgreement.organisation_id == actor.organisation_id)
    elif access.can_endorse_applications(actor):
        query = query.where(GrantAgreement.municipality_org_id == actor.organisation_id)
    else:
        return None
    return query.order_by(GrantAgreement.id)  # after the number: a stable order from page to page


def paid_by_agreement(session: Session, agreements: list[GrantAgreement]) -> dict[int, Decimal]:
    from portal.models import EntryKind, LedgerEntry

    if not agreements:
        return {}
    rows = session.execute(sa.select(LedgerEntry.agreement_id, sa.func.sum(LedgerEntry.amount_eur))
                           .where(LedgerEntry.kind == EntryKind.DISBURSEMENT,
                                  LedgerEntry.agreement_id.in_([a.id for a in agreements]))
                           .group_by(LedgerEntry.agreement_id)).all()
    return {agreement_id: Decimal(total) for agreement_id, total in rows}


def tranche_status_label(status: TrancheStatus) -> str:
    from portal.labels import label

    return label(status, "tranche_status")


def entry_kind_label(kind) -> str:
    from portal.labels import label

    return label(kind, "entry_kind")


def ledger_rows(session: Session) -> list[tuple]:
    from portal.models import Call, LedgerEntry, Organisation

    rows = session.execute(
        sa.select(LedgerEntry, Call.reference, GrantAgreement.number, Organisation.name)
        .join(Call, Call.id == LedgerEntry.call_id).join(GrantAgreement, GrantAgreement.id == LedgerEntry.agreement_id)
        .join(Organisation, Organisation.id == GrantAgreement.organisation_id).order_by(LedgerEntry.id)).all()
    return [(e.id, e.entry_date, entry_kind_label(e.kind), call, number, provider, e.amount_eur, e.eur_mkd, e.amount_mkd,
             e.reverses_id or "", e.note) for e, call, number, provider in rows]
