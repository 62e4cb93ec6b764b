"""What signing, amending and paying a grant leave behind (`portal/grants/services.py`): the version written,
the ledger entry with its date, note and tranche, the audit row with who, what and the figures before and
after, and each refusal with the field it names and what it says. Mutation testing showed these unchecked: an
amendment booked on the wrong day, a payment without its tranche, an audit row without its figures or a
refusal attached to no field passed every other test."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import gettext as _

from portal import clock
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.grants import ledger
from portal.grants import services as grants
from portal.grants.services import Terms, TrancheRow
from portal.models import AuditEvent, EntryKind, GrantAgreement, LedgerEntry, Outcome, TrancheStatus
from tests import factories
from tests.test_grant_workflow import ctx, g  # noqa: F401  (fixtures shared with the workflow)
from tests.test_ledger import award, sign, terms  # noqa: F401


def audit_rows(session, action: str) -> list[AuditEvent]:
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def entries(session, agreement) -> list[LedgerEntry]:
    return list(session.scalars(sa.select(LedgerEntry).where(LedgerEntry.agreement_id == agreement.id)
                                .order_by(LedgerEntry.id)))


def refusal(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        call()
    return {field: [str(m) for m in messages] for field, messages in refused.value.field_errors.items()}


# Signing --------------------------------------------------------------------------------------------------

def test_signing_writes_version_one_its_tranches_the_commitment_and_the_audit_row(session, award):  # noqa: F811
    finance = award.users["finance"]
    agreement = grants.create_agreement(session, finance, award.application, "  SSIP-GA-900 ", terms(
        tranches=(("30000.00", 0), ("48000.00", 3))))
    assert (agreement.number, agreement.call_id, agreement.organisation_id, agreement.municipality_org_id,
            agreement.created_by_id) == ("SSIP-GA-900", award.application.call_id, award.application.organisation_id,
                                         award.application.municipality_org_id, finance.id)
    (version,) = agreement.versions
    assert (version.version, version.signature_date, version.start_date, version.end_date, version.committed_eur,
            version.created_by_id) == (1, date(2027, 1, 15), date(2027, 2, 1), date(2029, 1, 31), Decimal("78000.00"),
                                       finance.id)
    assert [(t.position, t.amount_eur, t.reports_required_through, t.status) for t in agreement.tranches] == [
        (1, Decimal("30000.00"), 0, TrancheStatus.PLANNED), (2, Decimal("48000.00"), 3, TrancheStatus.PLANNED)]
    (entry,) = entries(session, agreement)
    assert (entry.kind, entry.amount_eur, entry.entry_date, entry.note, entry.tranche_id) == (
        EntryKind.COMMITMENT, Decimal("78000.00"), date(2027, 1, 15), _("Agreement %(number)s signed", number="SSIP-GA-900"),
        None)
    (row,) = audit_rows(session, "agreement.signed")
    assert (row.actor_id, row.object_type, row.object_id, row.before) == (finance.id, "grant_agreement",
                                                                          str(agreement.id), None)
    assert row.after == {"number": "SSIP-GA-900", "committed_eur": "78000.00", "tranches": 2}


def test_signing_refusals_name_their_field(session, award):  # noqa: F811
    finance = award.users["finance"]
    assert refusal(lambda: grants.create_agreement(session, finance, award.application, "  ", terms())) == {
        "number": [_("Enter the agreement number.")]}
    assert refusal(lambda: grants.create_agreement(session, finance, award.application, "N-1", terms(
        committed="78000.01", tranches=(("78000.01", 0),)))) == {
        "committed_eur": [_("The agreement cannot commit more than the award (%(award)s EUR).", award="78000.00")]}
    # Everything wrong at once: each field says its own.
    assert refusal(lambda: grants.create_agreement(session, finance, award.application, "", terms(
        committed="0", tranches=(("0", 0),), end_date=date(2027, 2, 1)))) == {
        "number": [_("Enter the agreement number.")],
        "end_date": [_("The end date comes after the start date.")],
        "committed_eur": [_("The committed amount is above zero.")],
        "tranches": [_("Each tranche has an amount above zero.")]}
    sign(session, award)
    with pytest.raises(InvalidTransition) as caught:
        sign(session, award)
    assert str(caught.value.message) == _("This award already has its agreement.")


def test_an_agreement_number_is_unique(session, award):  # noqa: F811
    existing = factories.signed_grant(session, award.users["admin"], award.orgs["provider"], award.orgs["municipality"],
                                      number="SSIP-GA-777")
    assert refusal(lambda: grants.create_agreement(session, award.users["finance"], award.application,
                                                   " SSIP-GA-777 ", terms())) == {
        "number": [_("Another agreement already has this number.")]}
    assert existing.number == "SSIP-GA-777"


def test_only_an_award_decision_becomes_an_agreement(session, award):  # noqa: F811
    from portal.models import AwardDecision

    session.add(AwardDecision(application_id=award.application.id, outcome=Outcome.RESERVE, amount_eur=None,
                              reasons="Резерва.", decided_by_id=award.users["admin"].id))
    session.flush()
    with pytest.raises(InvalidTransition) as caught:
        sign(session, award)
    assert str(caught.value.message) == _("Only an awarded application becomes a grant agreement.")
    assert grants.award_of(session, award.application) is None


def test_the_terms_rules_and_their_messages():
    def errors(**overrides):
        found: dict[str, list[str]] = {}
        grants._validate(terms(**overrides), found)
        return {field: [str(m) for m in messages] for field, messages in found.items()}

    assert errors() == {}
    assert errors(end_date=date(2027, 2, 1)) == {"end_date": [_("The end date comes after the start date.")]}
    assert errors(end_date=date(2027, 1, 31)) == {"end_date": [_("The end date comes after the start date.")]}
    assert errors(end_date=date(2032, 2, 1)) == {}  # exactly 60 months
    assert errors(end_date=date(2032, 2, 2)) == {"end_date": [_("A grant runs at most 60 months.")]}
    assert errors(committed="0", tranches=()) == {"committed_eur": [_("The committed amount is above zero.")]}
    assert errors(committed="0.01", tranches=(("0.01", 0),)) == {}
    assert errors(tranches=(("30000.00", 0), ("47999.99", 3))) == {"tranches": [_(
        "The tranches add up to %(total)s EUR but the commitment is %(committed)s EUR.", total="77999.99",
        committed="78000.00")]}
    assert errors(tranches=()) == {}  # no schedule yet: nothing to add up
    assert errors(tranches=(("78000.00", -1),)) == {"tranches": [_("Each tranche has an amount above zero.")]}
    assert errors(tranches=(("78000.00", 0), ("0.00", 0))) == {"tranches": [_("Each tranche has an amount above zero.")]}
    assert errors(committed="78000.00", tranches=(("78001.00", 0), ("-1.00", 0))) == {
        "tranches": [_("Each tranche has an amount above zero.")]}


def test_month_arithmetic_at_the_ends_of_months_and_years():
    assert grants.add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert grants.add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert grants.add_months(date(2027, 11, 30), 2) == date(2028, 1, 30)
    assert grants.add_months(date(2027, 12, 15), 12) == date(2028, 12, 15)
    assert grants.add_months(date(2027, 5, 31), 0) == date(2027, 5, 31)
    signed = terms(signature_date=date(2027, 1, 15), start_date=date(2027, 6, 15))
    assert grants.start_warning(signed) is None
    late = terms(signature_date=date(2027, 1, 15), start_date=date(2027, 6, 16))
    assert grants.start_warning(late) == _("The services start more than five months after signature.")


# Amending --------------------------------------------------------------------------------------------------

def test_an_increase_is_a_new_version_a_dated_commitment_and_an_audit_row(session, award):  # noqa: F811
    agreement = sign(session, award)
    finance = award.users["finance"]
    version = grants.amend(session, finance, agreement, terms(
        committed="80000.00", signature_date=date(2027, 6, 1), start_date=date(2027, 2, 1), end_date=date(2029, 3, 31),
        tranches=(("30000.00", 0), ("48000.00", 3), ("2000.00", 6))), "  Повеќе корисници ", expected_version=1)
    assert (version.version, version.signature_date, version.end_date, version.committed_eur, version.reason,
            version.created_by_id) == (2, date(2027, 6, 1), date(2029, 3, 31), Decimal("80000.00"), "Повеќе корисници",
                                       finance.id)
    session.refresh(agreement)
    added = agreement.tranches[2]
    assert (added.position, added.amount_eur, added.reports_required_through, added.planned_date) == (
        3, Decimal("2000.00"), 6, date(2027, 2, 1) + timedelta(days=180))
    increase = entries(session, agreement)[-1]
    assert (increase.kind, increase.amount_eur, increase.entry_date, increase.note) == (
        EntryKind.COMMITMENT, Decimal("2000.00"), date(2027, 6, 1), "Повеќе корисници")
    (row,) = audit_rows(session, "agreement.amended")
    assert (row.actor_id, row.object_type, row.object_id) == (finance.id, "grant_agreement", str(agreement.id))
    assert row.before == {"version": 1, "committed_eur": "78000.00"}
    assert row.after == {"version": 2, "committed_eur": "80000.00", "reason": "Повеќе корисници",
                         "tranches": ["30000.00", "48000.00", "2000.00"],
                         # each tranche's release conditions: monthly reports, financial reports, share spent (issue 18)
                         "conditions": [[0, None, None], [3, None, None], [6, None, None]]}


def test_a_decrease_is_a_dated_negative_commitment_and_a_cent_counts(session, award):  # noqa: F811
    agreement = sign(session, award)
    finance = award.users["finance"]
    grants.amend(session, finance, agreement, terms(committed="77999.00", signature_date=date(2027, 7, 1),
                                                    tranches=(("29999.00", 0), ("48000.00", 3))), "Помалку", expected_version=1)
    grants.amend(session, finance, agreement, terms(committed="78000.00", signature_date=date(2027, 8, 1),
                                                    tranches=(("30000.00", 0), ("48000.00", 3))), "Еден евро", expected_version=2)
    grants.amend(session, finance, agreement, terms(committed="77999.00", signature_date=date(2027, 9, 1),
                                                    tranches=(("29999.00", 0), ("48000.00", 3))), "Пак", expected_version=3)
    assert [(e.amount_eur, e.entry_date, e.note) for e in entries(session, agreement)[1:]] == [
        (Decimal("-1.00"), date(2027, 7, 1), "Помалку"), (Decimal("1.00"), date(2027, 8, 1), "Еден евро"),
        (Decimal("-1.00"), date(2027, 9, 1), "Пак")]
    assert ledger.committed_to(session, agreement.id) == Decimal("77999.00")


def test_an_amendment_that_keeps_the_amount_books_nothing(session, award):  # noqa: F811
    agreement = sign(session, award)
    grants.amend(session, award.users["finance"], agreement, terms(tranches=(("38000.00", 0), ("40000.00", 3))),
                 "Друг распоред", expected_version=1)
    assert [e.amount_eur for e in entries(session, agreement)] == [Decimal("78000.00")]
    session.refresh(agreement)
    assert [t.amount_eur for t in agreement.tranches] == [Decimal("38000.00"), Decimal("40000.00")]


def test_amendment_refusals_name_their_field(session, award):  # noqa: F811
    agreement = sign(session, award)
    finance = award.users["finance"]
    assert refusal(lambda: grants.amend(session, finance, agreement, terms(), "  ", expected_version=1)) == {
        "reason": [_("Give the reason for the amendment.")]}
    assert refusal(lambda: grants.amend(session, finance, agreement, terms(end_date=date(2027, 1, 1)), "",
                                        expected_version=1)) == {
        "reason": [_("Give the reason for the amendment.")], "end_date": [_("The end date comes after the start date.")]}
    assert refusal(lambda: grants.amend(session, finance, agreement, terms(committed="78000.00", tranches=(("78000.00", 0),)),
                                        "Една", expected_version=1)) == {"tranches": [_(
        "An amendment keeps every tranche; set a planned one's amount to what remains instead of removing it.")]}
    with pytest.raises(NotAllowed):
        grants.amend(session, award.users["reviewer"], agreement, terms(), "x", expected_version=1)
    assert [v.version for v in agreement.versions] == [1]


def test_a_tranche_in_payment_keeps_its_amount_and_its_date(session, award):  # noqa: F811
    agreement = sign(session, award)
    finance, admin = award.users["finance"], award.users["admin"]
    advance = agreement.tranches[0]
    grants.request_release(session, finance, advance)
    in_payment = _("Tranche %(n)d is already in payment and cannot change.", n=1)
    assert refusal(lambda: grants.amend(session, finance, agreement, terms(tranches=(("31000.00", 0), ("47000.00", 3))),
                                        "Износ", expected_version=1)) == {"tranches": [in_payment]}
    moved = terms()
    moved.tranches[0].planned_date += timedelta(days=1)
    assert refusal(lambda: grants.amend(session, finance, agreement, moved, "Датум", expected_version=1)) == {
        "tranches": [in_payment]}
    both = terms(committed="31000.00", tranches=(("31000.00", 0),))
    assert refusal(lambda: grants.amend(session, finance, agreement, both, "Двете", expected_version=1)) == {
        "tranches": [_("An amendment keeps every tranche; set a planned one's amount to what remains instead of "
                       "removing it."), in_payment]}
    # Unchanged, the tranche in payment passes and the planned one moves.
    grants.amend(session, finance, agreement, terms(committed="79000.00", tranches=(("30000.00", 0), ("49000.00", 3))),
                 "Втората", expected_version=1)
    session.refresh(agreement)
    assert [(t.amount_eur, t.status) for t in agreement.tranches] == [
        (Decimal("30000.00"), TrancheStatus.REQUESTED), (Decimal("49000.00"), TrancheStatus.PLANNED)]
    grants.approve_release(session, admin, advance)


# Tranches -----------------------------------------------------------------------------------------------------

def test_the_four_eyes_steps_write_who_when_and_what(session, award, monkeypatch):  # noqa: F811
    agreement = sign(session, award)
    finance, admin = award.users["finance"], award.users["admin"]
    advance = agreement.tranches[0]
    moment = clock.now()
    monkeypatch.setattr(clock, "now", lambda: moment)
    grants.request_release(session, finance, advance, expected_version=advance.version_id)
    assert (advance.status, advance.requested_by_id, advance.requested_at) == (TrancheStatus.REQUESTED, finance.id, moment)
    (requested,) = audit_rows(session, "tranche.requested")
    assert (requested.actor_id, requested.object_type, requested.object_id) == (finance.id, "tranche", str(advance.id))
    assert requested.before == {"status": "planned"}
    assert requested.after["status"] == "requested" and requested.after["amount_eur"] == "30000.00"
    assert "approvers_notified" in requested.after
    grants.approve_release(session, admin, advance, expected_version=advance.version_id)
    assert (advance.status, advance.approved_by_id, advance.approved_at) == (TrancheStatus.APPROVED, admin.id, moment)
    (approved,) = audit_rows(session, "tranche.approved")
    assert (approved.actor_id, approved.object_id, approved.before, approved.after) == (
        admin.id, str(advance.id), {"status": "requested"}, {"status": "approved"})
    paid_on = clock.utc_to_skopje(moment).date() - timedelta(days=2)
    stale = advance.version_id - 1
    with pytest.raises(Conflict):
        grants.mark_paid(session, finance, advance, paid_on, "MK07-1", expected_version=stale)
    assert advance.status == TrancheStatus.APPROVED
    grants.mark_paid(session, finance, advance, paid_on, "  MK07-0001 ", expected_version=advance.version_id)
    assert (advance.status, advance.paid_on, advance.bank_reference) == (TrancheStatus.PAID, paid_on, "MK07-0001")
    payment = entries(session, agreement)[-1]
    assert (payment.kind, payment.amount_eur, payment.entry_date, payment.tranche_id, payment.note) == (
        EntryKind.DISBURSEMENT, Decimal("30000.00"), paid_on, advance.id,
        _("Tranche %(n)d of %(number)s", n=1, number=agreement.number))
    (paid,) = audit_rows(session, "tranche.paid")
    assert (paid.actor_id, paid.object_type, paid.object_id) == (finance.id, "tranche", str(advance.id))
    assert paid.before == {"status": "approved"}
    assert paid.after == {"status": "paid", "paid_on": paid_on.isoformat(), "bank_reference": "MK07-0001"}


def test_a_stale_tranche_page_is_refused_at_every_step_with_what_it_is_now(session, award):  # noqa: F811
    agreement = sign(session, award)
    finance, admin = award.users["finance"], award.users["admin"]
    advance = agreement.tranches[0]
    shown = advance.version_id
    with pytest.raises(Conflict) as caught:
        grants.request_release(session, finance, advance, expected_version=shown + 1)
    assert str(caught.value.message) == _(
        "Someone else changed tranche %(n)d while you were looking at it: it is now %(status)s, %(amount)s EUR. "
        "Nothing was done; check it again before you continue.", n=1,
        status=grants.tranche_status_label(TrancheStatus.PLANNED), amount="30000.00")
    assert advance.status == TrancheStatus.PLANNED
    with pytest.raises(InvalidTransition) as caught:
        grants.request_release(session, finance, agreement.tranches[1])
    assert str(caught.value.message) == _(
        "This tranche needs the monthly reports accepted up to month %(n)d; they are accepted up to month %(done)d.",
        n=3, done=0)
    grants.request_release(session, finance, advance)
    with pytest.raises(InvalidTransition) as caught:
        grants.request_release(session, finance, advance)
    assert str(caught.value.message) == _("Only a planned tranche can be requested.")
    with pytest.raises(NotAllowed):
        grants.approve_release(session, award.users["reviewer"], advance)
    with pytest.raises(NotAllowed):
        grants.mark_paid(session, admin, advance, date.today(), "X")
    assert grants.tranche_status_label(TrancheStatus.PAID) != "paid"


def test_a_tranche_on_reports_through_month_zero_is_requested_at_once(session, award):  # noqa: F811
    agreement = sign(session, award, tranches=(("30000.00", 0), ("48000.00", 1)))
    grants.request_release(session, award.users["finance"], agreement.tranches[0])
    assert agreement.tranches[0].status == TrancheStatus.REQUESTED
    with pytest.raises(InvalidTransition):
        grants.request_release(session, award.users["finance"], agreement.tranches[1])
    assert grants.reports_accepted_through(session, agreement) == 0


def test_no_report_five_months_after_signature_is_warned(session, award):  # noqa: F811
    agreement = sign(session, award)  # signed 15 January 2027
    assert grants.no_report_warning(session, agreement, date(2027, 6, 15)) is None
    assert grants.no_report_warning(session, agreement, date(2027, 6, 16)) == _(
        "Five months have passed since signature (%(due)s) and no monthly report has been accepted: check that the "
        "services have started.", due="2027-06-15")


def test_the_template_schedule_adds_up_to_the_cent():
    call = type("CallStub", (), {"tranche_template": None})()
    rows = grants.schedule_from_template(call, Decimal("1000.01"), date(2027, 1, 31))
    assert [(r.planned_date, r.amount_eur, r.reports_required_through) for r in rows] == [
        (date(2027, 1, 31), Decimal("300.00"), 0), (date(2027, 7, 31), Decimal("250.00"), 6),
        (date(2028, 1, 31), Decimal("250.00"), 12), (date(2028, 7, 31), Decimal("200.01"), 18)]
    call.tranche_template = [[33, 0, 0], [33, 1, 2], [34, 2, 4]]
    rows = grants.schedule_from_template(call, Decimal("100.00"), date(2027, 1, 31))
    assert [(r.planned_date, r.amount_eur, r.reports_required_through) for r in rows] == [
        (date(2027, 1, 31), Decimal("33.00"), 0), (date(2027, 2, 28), Decimal("33.00"), 2),
        (date(2027, 3, 31), Decimal("34.00"), 4)]
    assert sum(r.amount_eur for r in grants.schedule_from_template(call, Decimal("0.10"), date(2027, 1, 1))) == Decimal("0.10")


# Reading ----------------------------------------------------------------------------------------------------------

def test_who_sees_which_agreements(app, session, world):
    with app.test_request_context():
        own = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                     number="GA-B")
        other = factories.signed_grant(session, world.users["admin"], world.orgs["provider_b"],
                                       world.orgs["municipality_b"], number="GA-A")
        shared_municipality = factories.signed_grant(session, world.users["admin"], world.orgs["provider_b"],
                                                     world.orgs["municipality"], number="GA-C")
        numbers = {role: None if (found := grants.visible_agreements(session, world.users[role])) is None
                   else [a.number for a in found if a.id in {own.id, other.id, shared_municipality.id}]
                   for role in ("admin", "finance", "reviewer", "provider", "municipality", "monitor")}
    assert numbers == {"admin": ["GA-A", "GA-B", "GA-C"], "finance": ["GA-A", "GA-B", "GA-C"],
                       "reviewer": ["GA-A", "GA-B", "GA-C"], "provider": ["GA-B"], "municipality": ["GA-B", "GA-C"],
                       "monitor": None}


def test_what_was_paid_per_agreement_and_the_ledger_rows(app, session, world):
    with app.test_request_context():
        admin, finance = world.users["admin"], world.users["finance"]
        first = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"], number="GA-P1")
        second = factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"], number="GA-P2")
        ledger.disburse(session, finance, first, Decimal("1000.00"), "Прво")
        ledger.disburse(session, finance, first, Decimal("234.56"), "Второ")
        assert grants.paid_by_agreement(session, [first, second]) == {first.id: Decimal("1234.56")}
        assert grants.paid_by_agreement(session, []) == {}
        rows = [row for row in grants.ledger_rows(session) if row[4] in {"GA-P1", "GA-P2"}]
        kinds = [(row[2], row[4], row[5], row[6], row[9], row[10]) for row in rows]
        provider = world.orgs["provider"].name
        assert kinds == [
            (grants.entry_kind_label(EntryKind.COMMITMENT), "GA-P1", provider, Decimal("40000.00"), "",
             _("Agreement %(number)s signed", number="GA-P1")),
            (grants.entry_kind_label(EntryKind.COMMITMENT), "GA-P2", provider, Decimal("40000.00"), "",
             _("Agreement %(number)s signed", number="GA-P2")),
            (grants.entry_kind_label(EntryKind.DISBURSEMENT), "GA-P1", provider, Decimal("1000.00"), "", "Прво"),
            (grants.entry_kind_label(EntryKind.DISBURSEMENT), "GA-P1", provider, Decimal("234.56"), "", "Второ")]
        assert grants.entry_kind_label(EntryKind.DISBURSEMENT) != grants.entry_kind_label(EntryKind.COMMITMENT)
        call_reference = session.get(GrantAgreement, first.id).call.reference
        assert rows[0][3] == call_reference and rows[0][1] == first.versions[0].signature_date


def test_the_terms_of_a_version_and_the_terms_in_force(app, session, world):
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                           world.orgs["municipality"], amount="40000.00")
        grants.amend(session, world.users["finance"], agreement, Terms(
            signature_date=agreement.versions[0].signature_date, start_date=agreement.versions[0].start_date,
            end_date=agreement.versions[0].end_date, committed_eur=Decimal("39000.00"),
            tranches=[TrancheRow(t.planned_date, t.amount_eur - (Decimal("1000.00") if t.position == 2 else 0),
                                 t.reports_required_through) for t in agreement.tranches]), "Помалку",
            expected_version=1)
        session.refresh(agreement)
        first = grants.terms_of(agreement.versions[0])
        assert (first.signature_date, first.start_date, first.end_date, first.committed_eur, first.tranches) == (
            agreement.versions[0].signature_date, agreement.versions[0].start_date, agreement.versions[0].end_date,
            Decimal("40000.00"), [])
        unamended = factories.signed_grant(session, world.users["admin"], world.orgs["provider_b"],
                                           world.orgs["municipality_b"], amount="25000.00", months=12)
        terms_now = grants.terms_in_force()
        rows = sorted((row.agreement_id, row.committed_eur, row.start_date, row.end_date)
                      for row in session.execute(sa.select(terms_now).where(
                          terms_now.c.agreement_id.in_([agreement.id, unamended.id]))))
        assert rows == sorted([
            (agreement.id, Decimal("39000.00"), agreement.versions[1].start_date, agreement.versions[1].end_date),
            (unamended.id, Decimal("25000.00"), unamended.versions[0].start_date, unamended.versions[0].end_date)])


def test_a_stale_amendment_names_the_newest_version_its_author_amount_and_reason(session, award):  # noqa: F811
    agreement = sign(session, award)
    finance = award.users["finance"]
    with pytest.raises(Conflict) as caught:  # a form without a version: version 1 has no reason
        grants.amend(session, finance, agreement, terms(), "x")
    message = ("Someone else amended this agreement while you were editing it: version %(v)d by %(who)s commits "
               "%(amount)s EUR (reason: %(reason)s). Your amendment was not saved. Review their change below, then "
               "make yours again if it is still needed.")
    assert str(caught.value.message) == _(message, v=1, who=finance.full_name, amount="78000.00", reason="—")
    grants.amend(session, award.users["admin"], agreement, terms(committed="77000.00",
                                                                 tranches=(("29000.00", 0), ("48000.00", 3))),
                 "Помалку", expected_version=1)
    grants.amend(session, finance, agreement, terms(committed="76000.00", tranches=(("28000.00", 0), ("48000.00", 3))),
                 "Уште помалку", expected_version=2)
    with pytest.raises(Conflict) as caught:
        grants.amend(session, finance, agreement, terms(), "Моја", expected_version=2)
    assert str(caught.value.message) == _(message, v=3, who=finance.full_name, amount="76000.00", reason="Уште помалку")
    assert finance.full_name and award.users["admin"].full_name != finance.full_name


def test_only_an_awarded_application_is_signed_and_the_moment_and_document_are_kept(session, award, monkeypatch):  # noqa: F811
    import io

    from portal.documents import services as documents
    from portal.models import ApplicationStatus
    from tests import files

    finance = award.users["finance"]
    award.application.status = ApplicationStatus.RESERVE
    with pytest.raises(InvalidTransition) as caught:
        sign(session, award)
    assert str(caught.value.message) == _("Only an awarded application becomes a grant agreement.")
    award.application.status = ApplicationStatus.AWARDED
    signed_copy = documents.upload(session, finance, owner=award.application.organisation, object_type="agreement",
                                   object_id=award.application.id, purpose="signed_agreement",
                                   stream=io.BytesIO(files.PDF), filename="agreement.pdf")
    amendment_copy = documents.upload(session, finance, owner=award.application.organisation, object_type="agreement",
                                      object_id=award.application.id, purpose="agreement_amendment",
                                      stream=io.BytesIO(files.PDF), filename="amendment.pdf")
    moment = clock.now() - timedelta(days=400)
    monkeypatch.setattr(clock, "now", lambda: moment)
    agreement = sign(session, award, document_id=signed_copy.id)
    assert (agreement.created_at, agreement.versions[0].document_id) == (moment, signed_copy.id)
    version = grants.amend(session, finance, agreement, terms(document_id=amendment_copy.id), "Копија",
                           expected_version=1)
    assert version.document_id == amendment_copy.id


def test_a_tranche_on_accepted_reports_is_requested_once_they_are_accepted(app, session, world):
    from portal.reports import services as reports

    with app.test_request_context():
        app.preprocess_request()
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"],
                                           world.orgs["municipality"], tranches=[("12000.00", 0), ("28000.00", 1)])
        second = agreement.tranches[1]
        with pytest.raises(InvalidTransition):
            grants.request_release(session, world.users["finance"], second)
        factories.report(session, world.users["provider"], agreement, agreement.current.start_date,
                         accept_by=world.users["admin"])
        assert grants.reports_accepted_through(session, agreement) == 1 == reports.accepted_through(session, agreement.id)
        grants.request_release(session, world.users["finance"], second)
        assert second.status == TrancheStatus.REQUESTED


def test_payments_per_agreement_only_for_the_agreements_asked(app, session, world):
    with app.test_request_context():
        admin, finance = world.users["admin"], world.users["finance"]
        first, second, third = (factories.signed_grant(session, admin, world.orgs["provider"], world.orgs["municipality"])
                                for _n in range(3))
        ledger.disburse(session, finance, first, Decimal("100.00"))
        ledger.disburse(session, finance, second, Decimal("250.00"))
        ledger.disburse(session, finance, third, Decimal("7.00"))
        assert grants.paid_by_agreement(session, [first, second]) == {first.id: Decimal("100.00"),
                                                                       second.id: Decimal("250.00")}
        assert grants.paid_by_agreement(session, [third]) == {third.id: Decimal("7.00")}


def test_tranche_and_entry_labels_are_the_words_for_each_status(ctx):  # noqa: F811
    from portal.labels import label

    assert grants.tranche_status_label(TrancheStatus.PAID) == label(TrancheStatus.PAID, "tranche_status")
    assert grants.tranche_status_label(TrancheStatus.PAID) != grants.tranche_status_label(TrancheStatus.PLANNED)
    assert grants.entry_kind_label(EntryKind.DISBURSEMENT) == label(EntryKind.DISBURSEMENT, "entry_kind")
