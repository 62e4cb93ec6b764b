"""The ledger's refusals as a person sees them: which field the error is attached to and what it says (the
translated message, with its figures). Mutation testing showed these were unchecked: a refusal that named no
field, or said nothing, passed every test."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import gettext as _

from portal.errors import InvalidTransition, ValidationFailed
from portal.grants import ledger
from portal.grants.ledger import OverLimit
from portal.i18n import money as _money
from portal.models import Call, EntryKind, LedgerEntry, Programme
from tests import factories


@pytest.fixture
def grant(app, session, world):
    """40,000.00 committed (tranches 12,000 + 28,000), 10,000.00 of it paid; the call holds 100,000.00 and the
    programme envelope what is committed plus 50,000.00."""
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           amount="40000.00")
        call = session.get(Call, agreement.call_id)
        call.allocation_eur = Decimal("100000.00")
        programme = session.get(Programme, call.programme_id)
        programme.envelope_eur = ledger.committed_in_programme(session, programme.id) + Decimal("50000.00")
        ledger.disburse(session, world.users["finance"], agreement, Decimal("10000.00"), "Аванс")
        session.flush()
    world.agreement, world.finance = agreement, world.users["finance"]
    return world


def _refusal(exc_type, call) -> tuple[str, list[str]] | str:
    with pytest.raises(exc_type) as refused:
        call()
    error = refused.value
    if getattr(error, "field_errors", None):
        assert len(error.field_errors) == 1
        (field, messages), = error.field_errors.items()
        return field, [str(m) for m in messages]
    return str(error.message)


def test_amounts_at_or_below_zero(app, session, grant):
    a, f = grant.agreement, grant.finance
    with app.test_request_context():
        for amount in (Decimal("0"), Decimal("-1")):
            assert _refusal(ValidationFailed, lambda amount=amount: ledger.commit(session, f, a, amount)) == (
                "amount", [_("A commitment is above zero.")])
            assert _refusal(ValidationFailed, lambda amount=amount: ledger.decommit(session, f, a, amount, "x")) == (
                "amount", [_("A reduction is above zero.")])
            assert _refusal(ValidationFailed, lambda amount=amount: ledger.disburse(session, f, a, amount)) == (
                "amount", [_("A payment is above zero.")])


def test_the_envelope_the_call_and_the_commitment_cap_each_entry_with_the_figures(app, session, grant):
    a, f = grant.agreement, grant.finance
    call = session.get(Call, a.call_id)
    with app.test_request_context():
        assert _refusal(OverLimit, lambda: ledger.commit(session, f, a, Decimal("50000.01"))) == ("amount", [_(
            "This commitment (%(amount)s EUR) exceeds what is left of the programme envelope (%(left)s EUR).",
            amount=_money(Decimal("50000.01")), left=_money(Decimal("50000.00")))])
        call.allocation_eur = Decimal("60000.00")  # 40,000 committed: 20,000 left in the call
        assert _refusal(OverLimit, lambda: ledger.commit(session, f, a, Decimal("20000.01"))) == ("amount", [_(
            "This commitment (%(amount)s EUR) exceeds what is left of the call's allocation (%(left)s EUR).",
            amount=_money(Decimal("20000.01")), left=_money(Decimal("20000.00")))])
        assert ledger.commit(session, f, a, Decimal("20000.00")).amount_eur == Decimal("20000.00")  # exactly what is left
        assert _refusal(OverLimit, lambda: ledger.decommit(session, f, a, Decimal("50000.01"), "x")) == ("amount", [_(
            "The commitment cannot go below what has been paid: at most %(left)s EUR can be released.",
            left=_money(Decimal("50000.00")))])
        assert _refusal(OverLimit, lambda: ledger.disburse(session, f, a, Decimal("50000.01"))) == ("amount", [_(
            "This payment (%(amount)s EUR) exceeds what is left of the grant's commitment (%(left)s EUR).",
            amount=_money(Decimal("50000.01")), left=_money(Decimal("50000.00")))])
        assert ledger.disburse(session, f, a, Decimal("50000.00")).amount_eur == Decimal("50000.00")
    assert (ledger.committed_to(session, a.id), ledger.paid_to(session, a.id)) == (Decimal("60000.00"), Decimal("60000.00"))


def test_reversals_say_why_they_are_refused(app, session, grant):
    a, f = grant.agreement, grant.finance
    with app.test_request_context():
        commitment = session.scalar(sa.select(LedgerEntry).where(LedgerEntry.agreement_id == a.id,
                                                                 LedgerEntry.kind == EntryKind.COMMITMENT))
        assert _refusal(ValidationFailed, lambda: ledger.reverse(session, f, commitment, "  ")) == (
            "reason", [_("Say why the entry is reversed.")])
        assert _refusal(OverLimit, lambda: ledger.reverse(session, f, commitment, "Грешка")) == (
            "reason", [_("Reversing this commitment would leave the grant with less committed than paid.")])
        payment = session.scalar(sa.select(LedgerEntry).where(LedgerEntry.agreement_id == a.id,
                                                              LedgerEntry.kind == EntryKind.DISBURSEMENT))
        correction = ledger.reverse(session, f, payment, "Двојно")
        assert (correction.amount_eur, correction.reverses_id, correction.note) == (Decimal("-10000.00"), payment.id, "Двојно")
        assert _refusal(InvalidTransition, lambda: ledger.reverse(session, f, payment, "Пак")) == _(
            "This entry has already been reversed.")
        assert _refusal(InvalidTransition, lambda: ledger.reverse(session, f, correction, "Пак")) == _(
            "A reversing entry cannot itself be reversed; record a new entry instead.")
        # A released reduction comes back only while the envelope still has the money.
        reduction = ledger.decommit(session, f, a, Decimal("5000.00"), "Помалку")
        programme = session.get(Programme, session.get(Call, a.call_id).programme_id)
        programme.envelope_eur = ledger.committed_in_programme(session, programme.id) + Decimal("4999.99")
        assert _refusal(OverLimit, lambda: ledger.reverse(session, f, reduction, "Назад")) == (
            "reason", [_("The envelope or the call no longer has this money.")])
        programme.envelope_eur += Decimal("0.01")
        assert ledger.reverse(session, f, reduction, "Назад").amount_eur == Decimal("5000.00")


def test_reversal_boundaries_on_the_commitment_and_on_the_call(app, session, grant):
    """Mutation testing left these unchecked: a commitment reversed down to exactly what is paid, and a released
    reduction that the call (not the envelope) can or cannot take back."""
    a, f = grant.agreement, grant.finance
    call = session.get(Call, a.call_id)
    with app.test_request_context():
        extra = ledger.commit(session, f, a, Decimal("5000.00"), "Анекс")  # 45,000 committed
        ledger.disburse(session, f, a, Decimal("30000.00"))  # 40,000 paid
        correction = ledger.reverse(session, f, extra, "Погрешен анекс")  # back to 40,000 = paid: allowed
        assert (correction.amount_eur, ledger.committed_to(session, a.id)) == (Decimal("-5000.00"), Decimal("40000.00"))
        payment = session.scalars(sa.select(LedgerEntry).where(LedgerEntry.agreement_id == a.id,
                                                               LedgerEntry.kind == EntryKind.DISBURSEMENT)).all()
        for entry in payment:
            ledger.reverse(session, f, entry, "Поврат")  # nothing paid any more
        reduction = ledger.decommit(session, f, a, Decimal("5000.00"), "Помалку")  # 35,000 committed in the call
        call.allocation_eur = ledger.committed_in_call(session, call.id) + Decimal("4999.99")
        assert _refusal(OverLimit, lambda: ledger.reverse(session, f, reduction, "Назад")) == (
            "reason", [_("The envelope or the call no longer has this money.")])
        call.allocation_eur += Decimal("0.01")
        assert ledger.reverse(session, f, reduction, "Назад").amount_eur == Decimal("5000.00")
    assert ledger.committed_in_call(session, call.id) == call.allocation_eur


def test_the_programme_totals_and_their_rows(app, session, grant):
    """The envelope summary (dashboard, API, indicator page) with exact figures: only this programme's ledger, only
    calls for grant applications in "allocated", the denars as recorded with each entry."""
    from portal.grants.ledger import DEFINITIONS
    from portal.models import CallKind

    a = grant.agreement
    call = session.get(Call, a.call_id)
    programme = session.get(Programme, call.programme_id)
    eoi_call = session.get(Call, call.linked_call_id)
    eoi_call.allocation_eur = Decimal("7.00")  # a call for EOIs commits nothing: not "allocated"
    assert (call.kind, eoi_call.kind) == (CallKind.GRANT, CallKind.EOI)
    other_grant_calls = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Call.allocation_eur), 0)).where(
        Call.programme_id == programme.id, Call.kind == CallKind.GRANT, Call.id != call.id))
    with app.test_request_context():
        totals = ledger.totals(session, programme)
        rate = session.scalar(sa.select(LedgerEntry.eur_mkd).where(LedgerEntry.agreement_id == a.id).limit(1))
        assert (totals.envelope, totals.allocated, totals.committed, totals.disbursed) == (
            programme.envelope_eur, Decimal("100000.00") + Decimal(other_grant_calls), Decimal("40000.00"),
            Decimal("10000.00"))
        assert (totals.committed_mkd, totals.disbursed_mkd) == ((Decimal("40000.00") * rate).quantize(Decimal("0.01")),
                                                                (Decimal("10000.00") * rate).quantize(Decimal("0.01")))
        assert (totals.uncommitted, totals.undisbursed) == (programme.envelope_eur - Decimal("40000.00"),
                                                            programme.envelope_eur - Decimal("10000.00"))
        labels = {"envelope": _("Envelope"), "allocated": _("Allocated to calls"), "committed": _("Committed"),
                  "disbursed": _("Disbursed"), "uncommitted": _("Uncommitted"), "undisbursed": _("Not yet disbursed")}
        assert totals.rows() == [
            ("envelope", labels["envelope"], totals.envelope, None, str(DEFINITIONS["envelope"])),
            ("allocated", labels["allocated"], totals.allocated, None, str(DEFINITIONS["allocated"])),
            ("committed", labels["committed"], totals.committed, totals.committed_mkd, str(DEFINITIONS["committed"])),
            ("disbursed", labels["disbursed"], totals.disbursed, totals.disbursed_mkd, str(DEFINITIONS["disbursed"])),
            ("uncommitted", labels["uncommitted"], totals.uncommitted, None, str(DEFINITIONS["uncommitted"])),
            ("undisbursed", labels["undisbursed"], totals.undisbursed, None, str(DEFINITIONS["undisbursed"])),
        ]
        assert all(label and definition for _key, label, _eur, _mkd, definition in totals.rows())


def test_each_entry_records_its_date_its_tranche_and_its_audit_row(app, session, grant):
    """What an entry keeps beside its amount (mutation testing found none of it checked): the day it was given,
    the tranche a payment settles, and an audit row naming the grant and the amounts; sums stay per grant and
    per call; the smallest amounts and the exact limits pass."""
    from datetime import date

    from portal.models import AuditEvent

    a, f = grant.agreement, grant.finance
    session.get(Programme, session.get(Call, a.call_id).programme_id).envelope_eur += Decimal("1000000.00")
    with app.test_request_context():
        other = factories.signed_grant(session, grant.users["admin"], grant.orgs["provider_b"], grant.orgs["municipality_b"],
                                       amount="30000.00")
        small = ledger.commit(session, f, a, Decimal("0.50"), "Заокружување", on=date(2027, 1, 5))
        released = ledger.decommit(session, f, a, Decimal("0.50"), "Назад", on=date(2027, 1, 6))
        tranche = a.tranches[0]
        paid = ledger.disburse(session, f, a, Decimal("0.50"), "Дел", on=date(2027, 1, 7), tranche=tranche)
        assert [(e.entry_date, e.tranche_id) for e in (small, released, paid)] == [
            (date(2027, 1, 5), None), (date(2027, 1, 6), None), (date(2027, 1, 7), tranche.id)]
        assert (ledger.committed_to(session, a.id), ledger.committed_to(session, other.id)) == (
            Decimal("40000.00"), Decimal("30000.00"))
        assert ledger.committed_in_call(session, a.call_id) == Decimal("40000.00")
        assert ledger.paid_to(session, a.id) == Decimal("10000.50") and ledger.paid_to(session, other.id) == Decimal("0")
        # The limits themselves pass: all that is left of the envelope, then all that is left to release.
        programme = session.get(Programme, session.get(Call, a.call_id).programme_id)
        call = session.get(Call, a.call_id)
        call.allocation_eur = Decimal("10000000.00")
        left = programme.envelope_eur - ledger.committed_in_programme(session, programme.id)
        assert ledger.commit(session, f, a, left).amount_eur == left
        remaining = ledger.committed_to(session, a.id) - ledger.paid_to(session, a.id)
        assert ledger.decommit(session, f, a, remaining, "Сѐ").amount_eur == -remaining
        session.flush()
        row = session.scalar(sa.select(AuditEvent).where(AuditEvent.object_type == "ledger_entry",
                                                         AuditEvent.object_id == str(paid.id)))
        assert (row.action, row.actor_id) == ("ledger.disbursement", f.id)
        assert row.after == {"agreement": a.number, "amount_eur": "0.50", "amount_mkd": str(paid.amount_mkd),
                             "eur_mkd": str(paid.eur_mkd), "reverses": None}
