"""The money ledger: envelope → call allocations → commitments → disbursements.

Every entry is in EUR (exact decimal) with its MKD equivalent and the rate used that day. The three
invariants are checked inside the writing transaction, after locking, in this order, the programme
row, the call row and the agreement row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's
`BEGIN IMMEDIATE` already serialises writers):

- commitments of the programme ≤ its envelope;
- commitments of a call ≤ the call's allocation;
- disbursements of a grant ≤ its commitment.

Corrections are reversing entries; the database refuses UPDATE and DELETE on `ledger_entry`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import audit, clock
from portal.calls import services as calls
from portal.errors import InvalidTransition, ValidationFailed
from portal.models import Call, CallKind, EntryKind, GrantAgreement, LedgerEntry, Programme, Tranche, User

CENT = Decimal("0.01")


class OverLimit(ValidationFailed):
    """An entry that would break one of the invariants."""


@dataclass(frozen=True)
class Locked:
    programme: Programme
    call: Call
    agreement: GrantAgreement


def _lock(session: Session, agreement: GrantAgreement) -> Locked:
    """Lock programme → call → agreement, always in this order (no deadlocks between writers)."""
    call = session.get(Call, agreement.call_id)
    programme = session.scalar(sa.select(Programme).where(Programme.id == call.programme_id).with_for_update())
    session.scalar(sa.select(Call).where(Call.id == call.id).with_for_update())
    session.scalar(sa.select(GrantAgreement).where(GrantAgreement.id == agreement.id).with_for_update())
    return Locked(programme, call, agreement)


def lock(session: Session, agreement: GrantAgreement) -> Locked:
    """For services that change an agreement or its tranches: take the ledger's locks first, in the
    ledger's order, so that no two writers ever wait on each other in a cycle."""
    return _lock(session, agreement)


def _sum(session: Session, kind: EntryKind, *where) -> Decimal:
    return Decimal(session.scalar(sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_eur), 0))
                                  .where(LedgerEntry.kind == kind, *where)) or 0)


def committed_in_programme(session: Session, programme_id: int) -> Decimal:
    return _sum(session, EntryKind.COMMITMENT, LedgerEntry.programme_id == programme_id)


def committed_in_call(session: Session, call_id: int) -> Decimal:
    return _sum(session, EntryKind.COMMITMENT, LedgerEntry.call_id == call_id)


def committed_to(session: Session, agreement_id: int) -> Decimal:
    return _sum(session, EntryKind.COMMITMENT, LedgerEntry.agreement_id == agreement_id)


def paid_to(session: Session, agreement_id: int) -> Decimal:
    return _sum(session, EntryKind.DISBURSEMENT, LedgerEntry.agreement_id == agreement_id)


def _entry(session: Session, actor: User, locked: Locked, kind: EntryKind, amount: Decimal, note: str,
           on: date | None, tranche: Tranche | None = None, reverses: LedgerEntry | None = None) -> LedgerEntry:
    day = on or clock.utc_to_skopje(clock.now()).date()
    rate = calls.rate_on(session, day)
    entry = LedgerEntry(programme_id=locked.programme.id, call_id=locked.call.id, agreement_id=locked.agreement.id,
                        tranche_id=tranche.id if tranche else None, kind=kind, amount_eur=amount.quantize(CENT),
                        eur_mkd=rate, amount_mkd=(amount * rate).quantize(CENT), entry_date=day,
                        reverses_id=reverses.id if reverses else None, note=note.strip(), created_by_id=actor.id)
    session.add(entry)
    session.flush()
    audit.record(session, actor, f"ledger.{kind.value}", entry,
                 after={"agreement": locked.agreement.number, "amount_eur": entry.amount_eur,
                        "amount_mkd": entry.amount_mkd, "eur_mkd": rate, "reverses": entry.reverses_id})
    return entry


def _money(value: Decimal) -> str:
    from portal.i18n import money

    return money(value)


def commit(session: Session, actor: User, agreement: GrantAgreement, amount: Decimal, note: str = "",
           on: date | None = None) -> LedgerEntry:
    """Commit `amount` (a signed agreement, or the increase of an amendment) after checking the
    envelope and the call's allocation under lock."""
    if amount <= 0:
        raise ValidationFailed(field_errors={"amount": [_("A commitment is above zero.")]})
    locked = _lock(session, agreement)
    envelope_left = locked.programme.envelope_eur - committed_in_programme(session, locked.programme.id)
    call_left = locked.call.allocation_eur - committed_in_call(session, locked.call.id)
    if amount > envelope_left:
        raise OverLimit(field_errors={"amount": [
            _("This commitment (%(amount)s EUR) exceeds what is left of the programme envelope (%(left)s EUR).",
              amount=_money(amount), left=_money(envelope_left))]})
    if amount > call_left:
        raise OverLimit(field_errors={"amount": [
            _("This commitment (%(amount)s EUR) exceeds what is left of the call's allocation (%(left)s EUR).",
              amount=_money(amount), left=_money(call_left))]})
    return _entry(session, actor, locked, EntryKind.COMMITMENT, amount, note, on)


def decommit(session: Session, actor: User, agreement: GrantAgreement, amount: Decimal, note: str,
             on: date | None = None) -> LedgerEntry:
    """Lower a commitment (an amendment that reduces the grant): never below what has been paid."""
    if amount <= 0:
        raise ValidationFailed(field_errors={"amount": [_("A reduction is above zero.")]})
    locked = _lock(session, agreement)
    remaining = committed_to(session, agreement.id) - paid_to(session, agreement.id)
    if amount > remaining:
        raise OverLimit(field_errors={"amount": [
            _("The commitment cannot go below what has been paid: at most %(left)s EUR can be released.",
              left=_money(remaining))]})
    return _entry(session, actor, locked, EntryKind.COMMITMENT, -amount, note, on)


def disburse(session: Session, actor: User, agreement: GrantAgreement, amount: Decimal, note: str = "",
             on: date | None = None, tranche: Tranche | None = None) -> LedgerEntry:
    """Record a payment, never more than the grant's commitment minus what was already paid."""
    if amount <= 0:
        raise ValidationFailed(field_errors={"amount": [_("A payment is above zero.")]})
    locked = _lock(session, agreement)
    left = committed_to(session, agreement.id) - paid_to(session, agreement.id)
    if amount > left:
        raise OverLimit(field_errors={"amount": [
            _("This payment (%(amount)s EUR) exceeds what is left of the grant's commitment (%(left)s EUR).",
              amount=_money(amount), left=_money(left))]})
    return _entry(session, actor, locked, EntryKind.DISBURSEMENT, amount, note, on, tranche=tranche)


def reverse(session: Session, actor: User, entry: LedgerEntry, reason: str) -> LedgerEntry:
    """A correction: a new entry with the opposite amount, pointing at the one it reverses (once)."""
    if not reason.strip():
        raise ValidationFailed(field_errors={"reason": [_("Say why the entry is reversed.")]})
    if entry.reverses_id is not None:
        raise InvalidTransition(_("A reversing entry cannot itself be reversed; record a new entry instead."))
    agreement = session.get(GrantAgreement, entry.agreement_id)
    locked = _lock(session, agreement)
    if session.scalar(sa.select(LedgerEntry.id).where(LedgerEntry.reverses_id == entry.id)) is not None:
        raise InvalidTransition(_("This entry has already been reversed."))
    if entry.kind == EntryKind.COMMITMENT and entry.amount_eur > 0:
        if committed_to(session, agreement.id) - entry.amount_eur < paid_to(session, agreement.id):
            raise OverLimit(field_errors={"reason": [
                _("Reversing this commitment would leave the grant with less committed than paid.")]})
    if entry.kind == EntryKind.COMMITMENT and entry.amount_eur < 0:
        # Undoing a reduction commits the money again: the envelope and the call must still have it.
        increase = -entry.amount_eur
        if increase > locked.programme.envelope_eur - committed_in_programme(session, locked.programme.id) or \
                increase > locked.call.allocation_eur - committed_in_call(session, locked.call.id):
            raise OverLimit(field_errors={"reason": [_("The envelope or the call no longer has this money.")]})
    return _entry(session, actor, locked, entry.kind, -entry.amount_eur, reason, None, reverses=entry)


#: What each money total means, in one place: shown as text beside the total on the envelope page, in the
#: Interim Financial Report and in the finance summary of the indicator downloads.
DEFINITIONS = {
    "envelope": _l("Envelope: the programme's money for grants, as set in the programme settings."),
    "allocated": _l("Allocated to calls: the budgets of the calls for grant applications, the only calls that can "
                    "commit money (calls for expressions of interest are not counted)."),
    "committed": _l("Committed: the sum of the ledger's commitment entries — signed agreements and their amendments, "
                    "reversals included."),
    "disbursed": _l("Disbursed: the sum of the ledger's disbursement entries — tranches paid, reversals included."),
    "uncommitted": _l("Uncommitted: envelope − committed; what can still be promised in new agreements."),
    "undisbursed": _l("Not yet disbursed: envelope − disbursed; what has not yet been paid out, whether committed "
                      "or not."),
    "mkd": _l("MKD as recorded: each ledger entry is converted at the rate recorded with it on its day, and the "
              "denars are added up; totals that are not ledger entries have no MKD amount."),
}


@dataclass
class Totals:
    envelope: Decimal
    allocated: Decimal
    committed: Decimal
    disbursed: Decimal
    committed_mkd: Decimal = Decimal("0.00")  # the denars recorded with each entry, at its own rate
    disbursed_mkd: Decimal = Decimal("0.00")

    @property
    def uncommitted(self) -> Decimal:
        return self.envelope - self.committed

    @property
    def undisbursed(self) -> Decimal:
        return self.envelope - self.disbursed

    def rows(self) -> list[tuple[str, str, Decimal, Decimal | None, str]]:
        """(key, label, EUR, MKD as recorded or None, definition) of every total, in the order they are shown."""
        labels = {"envelope": _("Envelope"), "allocated": _("Allocated to calls"), "committed": _("Committed"),
                  "disbursed": _("Disbursed"), "uncommitted": _("Uncommitted"), "undisbursed": _("Not yet disbursed")}
        values = {"envelope": (self.envelope, None), "allocated": (self.allocated, None),
                  "committed": (self.committed, self.committed_mkd), "disbursed": (self.disbursed, self.disbursed_mkd),
                  "uncommitted": (self.uncommitted, None), "undisbursed": (self.undisbursed, None)}
        return [(key, labels[key], *values[key], str(DEFINITIONS[key])) for key in labels]


def totals(session: Session, programme: Programme) -> Totals:
    """The programme's totals in two statements: the ledger's sums by kind (EUR, and MKD as recorded with each
    entry), and the budgets of the calls that can commit."""
    zero = (Decimal("0.00"), Decimal("0.00"))
    sums = {kind: (Decimal(eur), Decimal(mkd)) for kind, eur, mkd in session.execute(
        sa.select(LedgerEntry.kind, sa.func.coalesce(sa.func.sum(LedgerEntry.amount_eur), 0),
                  sa.func.coalesce(sa.func.sum(LedgerEntry.amount_mkd), 0))
        .where(LedgerEntry.programme_id == programme.id).group_by(LedgerEntry.kind))}
    allocated = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Call.allocation_eur), 0)).where(
        Call.programme_id == programme.id, Call.kind == CallKind.GRANT))
    committed, committed_mkd = sums.get(EntryKind.COMMITMENT, zero)
    disbursed, disbursed_mkd = sums.get(EntryKind.DISBURSEMENT, zero)
    return Totals(envelope=programme.envelope_eur, allocated=Decimal(allocated or 0), committed=committed,
                  disbursed=disbursed, committed_mkd=committed_mkd, disbursed_mkd=disbursed_mkd)
