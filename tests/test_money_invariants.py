"""The money rules held by the database itself (migration 0013), proven by writes that bypass the
services: raw SQL, and a service check switched off. Each rule is shown refusing the breaking write and
letting the legitimate one through (so a trigger that refuses everything fails here too)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.errors import ValidationFailed
from portal.grants import ledger
from portal.grants import services as grants
from portal.models import LedgerEntry, Tranche, TrancheStatus
from tests import factories
from tests.conftest import is_postgres

REFUSED = (sa.exc.IntegrityError, sa.exc.DatabaseError)


def _grant(session, w):
    """40,000.00 EUR committed; tranches 12,000.00 (an advance) + 28,000.00."""
    return factories.signed_grant(session, w.users["admin"], w.orgs["provider"], w.orgs["municipality"])


def _pay_advance(session, w, agreement) -> Tranche:
    advance = agreement.tranches[0]
    grants.request_release(session, w.users["finance"], advance)
    grants.approve_release(session, w.users["admin"], advance)
    grants.mark_paid(session, w.users["finance"], advance, clock.utc_to_skopje(clock.now()).date(), "MK07-1")
    session.flush()
    return advance


def _raw_entry(session, agreement, kind: str, amount: str) -> None:
    template = session.scalar(sa.select(LedgerEntry).where(LedgerEntry.agreement_id == agreement.id).order_by(LedgerEntry.id))
    session.execute(sa.text(
        "INSERT INTO ledger_entry (programme_id, call_id, agreement_id, kind, amount_eur, eur_mkd, amount_mkd, entry_date, "
        "note, created_by_id, created_at) VALUES (:p, :c, :a, :k, :amount, 61.5, 0, :d, 'raw', :u, :now)"),
        {"p": template.programme_id, "c": template.call_id, "a": agreement.id, "k": kind, "amount": amount,
         "d": date(2027, 1, 1), "u": template.created_by_id, "now": clock.now()})


def _refused(session, statement: str, params: dict | None = None) -> str:
    with pytest.raises(REFUSED) as refused, session.begin_nested():
        session.execute(sa.text(statement), params or {})
    return str(refused.value)


def _accepted(session, statement: str, params: dict | None = None) -> None:
    with session.begin_nested():
        session.execute(sa.text(statement), params or {})


def deferred_rules_hold(session) -> bool:
    """Would COMMIT pass the deferred rule (tranches = commitment) now? PostgreSQL: fire the deferred
    constraint triggers (SET CONSTRAINTS ALL IMMEDIATE). SQLite: the open breach rows are exactly what
    the deferred foreign key refuses at COMMIT."""
    session.flush()
    if is_postgres():
        try:
            with session.begin_nested():
                session.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
                session.execute(sa.text("SET CONSTRAINTS ALL DEFERRED"))
        except REFUSED:
            session.execute(sa.text("SET CONSTRAINTS ALL DEFERRED"))
            return False
        return True
    breaches = session.scalar(sa.text("SELECT count(*) FROM money_invariant_breach"))
    violations = session.execute(sa.text("PRAGMA foreign_key_check(money_invariant_breach)")).all()
    assert breaches == len(violations)  # every breach row is an open deferred violation, and only they are
    return breaches == 0


# 1. Commitments ≥ payments ------------------------------------------------------------------------------

def test_a_raw_payment_beyond_the_commitment_is_refused(app, session, world):
    with app.test_request_context():
        agreement = _grant(session, world)
        _pay_advance(session, world, agreement)
        with pytest.raises(REFUSED) as refused, session.begin_nested():
            _raw_entry(session, agreement, "disbursement", "28000.01")
        assert "money invariant" in str(refused.value)
        with session.begin_nested():
            _raw_entry(session, agreement, "disbursement", "28000.00")  # exactly the rest: allowed
    assert ledger.paid_to(session, agreement.id) == Decimal("40000.00")


def test_a_raw_reduction_below_what_was_paid_is_refused(app, session, world):
    with app.test_request_context():
        agreement = _grant(session, world)
        _pay_advance(session, world, agreement)  # 12,000.00 paid of 40,000.00
        with pytest.raises(REFUSED), session.begin_nested():
            _raw_entry(session, agreement, "commitment", "-28000.01")
        with session.begin_nested():
            _raw_entry(session, agreement, "commitment", "-28000.00")
    assert ledger.committed_to(session, agreement.id) == ledger.paid_to(session, agreement.id) == Decimal("12000.00")


def test_an_amendment_below_what_was_paid_is_refused_even_with_the_service_check_off(app, session, world, monkeypatch):
    """The audit's case: 30,000 paid, an amendment to 20,000. With `decommit`'s check switched off (it sees
    nothing paid), the database still refuses."""
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           amount="78000.00", tranches=[("30000.00", 0), ("48000.00", 3)])
        _pay_advance(session, world, agreement)
        monkeypatch.setattr(ledger, "paid_to", lambda _session, _agreement_id: Decimal("0"))
        version = agreement.current
        terms = grants.Terms(signature_date=version.signature_date, start_date=version.start_date, end_date=version.end_date,
                             committed_eur=Decimal("20000.00"), tranches=[])
        with pytest.raises(REFUSED) as refused, session.begin_nested():
            grants.amend(session, world.users["finance"], agreement, terms, "Намалување",
                         expected_version=version.version)
        assert "money invariant" in str(refused.value)


def test_a_raw_version_committing_less_than_was_paid_is_refused(app, session, world):
    with app.test_request_context():
        agreement = _grant(session, world)
        _pay_advance(session, world, agreement)
        version = agreement.current
        insert = ("INSERT INTO agreement_version (agreement_id, version, signature_date, start_date, end_date, committed_eur, "
                  "reason, created_by_id, created_at) VALUES (:a, 2, :s, :st, :e, :c, 'raw', :u, :now)")
        params = {"a": agreement.id, "s": version.signature_date, "st": version.start_date, "e": version.end_date,
                  "u": version.created_by_id, "now": clock.now()}
        assert "money invariant" in _refused(session, insert, params | {"c": "11999.99"})
        _accepted(session, insert, params | {"c": "12000.00"})


# 2. The tranches add up to the commitment (checked at COMMIT) ---------------------------------------------

def test_tranches_that_do_not_add_up_cannot_be_committed(app, session, world):
    with app.test_request_context():
        agreement = _grant(session, world)
    assert deferred_rules_hold(session)
    first, second = (t.id for t in agreement.tranches)
    session.execute(sa.text("UPDATE tranche SET amount_eur = 22000 WHERE id = :id"), {"id": first})  # +10,000.00
    assert not deferred_rules_hold(session)
    session.execute(sa.text("UPDATE tranche SET amount_eur = 18000 WHERE id = :id"), {"id": second})  # -10,000.00
    assert deferred_rules_hold(session)
    session.execute(sa.text("INSERT INTO tranche (agreement_id, position, planned_date, amount_eur, reports_required_through, "
                            "status, bank_reference, version_id) VALUES (:a, 3, :d, 0.01, 0, 'planned', '', 1)"),
                    {"a": agreement.id, "d": date(2030, 1, 1)})
    assert not deferred_rules_hold(session)
    session.execute(sa.text("DELETE FROM tranche WHERE agreement_id = :a AND position = 3"), {"a": agreement.id})
    assert deferred_rules_hold(session)
    # A new version changes the commitment without the tranches: broken until they follow.
    session.execute(sa.text("UPDATE agreement_version SET committed_eur = 45000 WHERE agreement_id = :a"), {"a": agreement.id})
    assert not deferred_rules_hold(session)


def test_signing_and_amending_pass_through_states_that_do_not_add_up(app, session, world):
    """Signing writes the version and the tranches one row at a time, an amendment the version and the
    rescheduled tranches in one flush: the rule is checked at the end, where it holds."""
    with app.test_request_context():
        agreement = _grant(session, world)
        version = agreement.current
        grants.amend(session, world.users["admin"], agreement, grants.Terms(
            signature_date=version.signature_date, start_date=version.start_date, end_date=version.end_date,
            committed_eur=Decimal("35000.00"),
            tranches=[grants.TrancheRow(t.planned_date, Decimal(a), t.reports_required_through)
                      for t, a in zip(agreement.tranches, ("10000.00", "20000.00"), strict=True)]
            + [grants.TrancheRow(date(2030, 1, 1), Decimal("5000.00"), 12)]), "Распоред",
            expected_version=version.version)
        assert deferred_rules_hold(session)
    assert [t.amount_eur for t in agreement.tranches] == [Decimal("10000.00"), Decimal("20000.00"), Decimal("5000.00")]


def test_the_commit_itself_is_refused(base_app):
    """A real COMMIT (not a savepoint of a test transaction): refused, and nothing of it is kept."""
    engine = base_app.extensions["db_engine"]
    with base_app.test_request_context(), Session(engine) as setup:
        world = factories.World.build(setup)
        agreement = _grant(setup, world)
        number = agreement.number
        setup.execute(sa.text("UPDATE tranche SET amount_eur = amount_eur + 1 WHERE id = :id"),
                      {"id": agreement.tranches[0].id})
        with pytest.raises(REFUSED):
            setup.commit()
        setup.rollback()
    with Session(engine) as check:
        assert check.scalar(sa.text("SELECT count(*) FROM grant_agreement WHERE number = :n"), {"n": number}) == 0


# 3. A tranche in payment is frozen ------------------------------------------------------------------------

def test_a_paid_tranche_cannot_change_or_disappear(app, session, world):
    with app.test_request_context():
        agreement = _grant(session, world)
        advance = _pay_advance(session, world, agreement)
    assert advance.status == TrancheStatus.PAID
    for statement in ("UPDATE tranche SET amount_eur = 12000.01 WHERE id = :id",
                      "UPDATE tranche SET planned_date = '2031-01-01' WHERE id = :id",
                      "UPDATE tranche SET bank_reference = 'OTHER' WHERE id = :id",
                      "UPDATE tranche SET status = 'approved' WHERE id = :id",
                      "DELETE FROM tranche WHERE id = :id"):
        assert "money invariant" in _refused(session, statement, {"id": advance.id}), statement
    assert session.scalar(sa.text("SELECT amount_eur FROM tranche WHERE id = :id"), {"id": advance.id}) == Decimal("12000.00")


def test_a_tranche_in_payment_keeps_its_amount_and_date_while_a_planned_one_may_change(app, session, world):
    with app.test_request_context():
        agreement = _grant(session, world)
        advance, second = agreement.tranches
        grants.request_release(session, world.users["finance"], advance)
        session.flush()
    for statement in ("UPDATE tranche SET amount_eur = 11000 WHERE id = :id",
                      "UPDATE tranche SET planned_date = '2031-01-01' WHERE id = :id",
                      "DELETE FROM tranche WHERE id = :id"):
        assert "money invariant" in _refused(session, statement, {"id": advance.id}), statement
    _accepted(session, "UPDATE tranche SET planned_date = '2031-01-01' WHERE id = :id", {"id": second.id})
    _accepted(session, "UPDATE tranche SET status = 'planned' WHERE id = :id", {"id": advance.id})  # a release withdrawn


def test_an_amendment_cannot_change_a_tranche_in_payment_even_with_the_service_check_off(app, session, world):
    """The audit's case: with the service's check gone, the schedule added up to 88,000 against 78,000.
    Here the amended tranche is written as the service would write it, past the check."""
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           amount="78000.00", tranches=[("30000.00", 0), ("48000.00", 3)])
        advance = _pay_advance(session, world, agreement)
        advance.amount_eur = Decimal("40000.00")
        with pytest.raises(REFUSED) as refused, session.begin_nested():
            session.flush()
        assert "money invariant" in str(refused.value)


def test_the_money_rules_are_database_objects(app, session):
    """The rules live in the schema (a migration that forgot one would fail the tests above; this names them)."""
    if is_postgres():
        names = set(session.scalars(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
        deferred = set(session.scalars(sa.text("SELECT tgname FROM pg_trigger WHERE tgdeferrable AND tginitdeferred")))
        assert {"tranche_adds_up", "agreement_version_adds_up"} <= deferred
    else:
        names = set(session.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
        # A later batch migration that recreates one of these tables drops its triggers on SQLite: this notices.
        assert {f"{table}_adds_up_{op}" for table in ("tranche", "agreement_version")
                for op in ("insert", "update", "delete")} <= names
        assert {"agreement_version_covers_payments_update", "tranche_paid_no_update", "tranche_in_payment_no_delete"} <= names
    assert {"ledger_entry_commitments_cover_payments", "agreement_version_covers_payments",
            "tranche_in_payment_frozen"} <= names


# The service answers first (a domain error, not the database's refusal) --------------------------------

def _terms(agreement, committed: str, amounts: tuple[str, ...]) -> grants.Terms:
    version = agreement.current
    return grants.Terms(signature_date=version.signature_date, start_date=version.start_date, end_date=version.end_date,
                        committed_eur=Decimal(committed),
                        tranches=[grants.TrancheRow(t.planned_date, Decimal(a), t.reports_required_through)
                                  for t, a in zip(agreement.tranches, amounts, strict=True)])


def test_the_service_refuses_an_amendment_below_what_was_paid(app, session, world):
    """The audit's case (78,000 committed, 30,000 paid, amended to 20,000): a validation error naming the amount."""
    from portal.grants.ledger import OverLimit

    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           amount="78000.00", tranches=[("30000.00", 0), ("48000.00", 3)])
        _pay_advance(session, world, agreement)
        version = agreement.current.version
        terms = _terms(agreement, "20000.00", ("30000.00", "48000.00"))
        terms.tranches = []
        with pytest.raises(OverLimit) as refused:
            grants.amend(session, world.users["finance"], agreement, terms, "Намалување", expected_version=version)
        assert "amount" in refused.value.field_errors
        session.expire_all()
        assert (agreement.current.version, ledger.committed_to(session, agreement.id)) == (version, Decimal("78000.00"))


def test_the_service_refuses_to_change_a_paid_tranche_in_an_amendment(app, session, world):
    """The audit's case: the paid 30,000 moved to 40,000 (the schedule then adds up to 88,000 against 78,000, or
    the commitment follows): a validation error on the tranches, nothing written."""
    with app.test_request_context():
        agreement = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                           amount="78000.00", tranches=[("30000.00", 0), ("48000.00", 3)])
        _pay_advance(session, world, agreement)
        version = agreement.current.version
        for committed, amounts in (("78000.00", ("40000.00", "38000.00")), ("88000.00", ("40000.00", "48000.00"))):
            with pytest.raises(ValidationFailed) as refused:
                grants.amend(session, world.users["finance"], agreement, _terms(agreement, committed, amounts), "Промена",
                             expected_version=version)
            assert "tranches" in refused.value.field_errors
        session.expire_all()
        assert [t.amount_eur for t in agreement.tranches] == [Decimal("30000.00"), Decimal("48000.00")]
        assert agreement.current.version == version
