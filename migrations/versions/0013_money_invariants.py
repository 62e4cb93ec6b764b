"""money invariants held by the database (issue 19)

Revision ID: 0013_money_invariants
Revises: 0012_data_entry
Create Date: 2026-12-02 09:15:00+00:00

The service (`portal/grants/ledger.py`, `portal/grants/services.py`) checks these rules first and
answers with a domain error; the database refuses whatever gets past it (a bug, a mutated check, a
hand-written UPDATE):

1. Commitments ≥ payments, per grant. Checked when a ledger entry is inserted (the ledger is
   append-only, so an insert is the only way the sums change) and when an agreement version is written
   (its committed amount may not go below what was paid). This holds after every single statement,
   so the check is immediate on both databases. On PostgreSQL the trigger locks the agreement row
   first, so that two raw concurrent payments cannot both pass (the service takes the same lock).

2. The tranches of a grant add up to its commitment (the committed amount of the newest agreement
   version), whenever the grant has tranches. This does NOT hold after every statement: signing
   inserts the version and the tranches one row at a time, and an amendment inserts the new version
   and updates the planned tranches in one flush. It holds at the end of the transaction, so it is
   checked there:
   - PostgreSQL: DEFERRABLE INITIALLY DEFERRED constraint triggers on `tranche` and
     `agreement_version` re-check the grant at COMMIT (or at `SET CONSTRAINTS ALL IMMEDIATE`).
   - SQLite has no deferred triggers, but it has deferred foreign keys. After every change of a
     tranche or a version, a trigger re-evaluates the grant and keeps one row in
     `money_invariant_breach` while the rule is broken (deleting it as soon as the rule holds again).
     That row's `blocked_by` references a key that never exists, under a DEFERRABLE INITIALLY
     DEFERRED foreign key: SQLite counts it as an open violation and refuses the COMMIT while it is
     there ("FOREIGN KEY constraint failed"). Intermediate states inside the transaction are fine; a
     statement outside a transaction is checked at its end. (It relies on `PRAGMA foreign_keys=ON`,
     which `portal.db` sets on every connection.) The table has no model: `migrations/env.py` leaves
     it out of the model comparison.

3. A tranche in payment is frozen: once requested, its amount, planned date, grant and position no
   longer change; once paid, nothing in its row changes and it cannot be deleted (immediate BEFORE
   triggers on both databases).

SQLite keeps NUMERIC money as floating point, so its sums are compared to the cent (± 0.005).
"""

from alembic import op
import sqlalchemy as sa  # noqa: F401


revision = '0013_money_invariants'
down_revision = '0012_data_entry'
branch_labels = None
depends_on = None


# PostgreSQL ------------------------------------------------------------------------------------------------

PG_STATEMENTS = [
    # 1. commitments ≥ payments
    """
    CREATE FUNCTION money_commitments_cover_payments(agreement integer) RETURNS void AS $$
    DECLARE
        committed numeric;
        paid numeric;
    BEGIN
        PERFORM 1 FROM grant_agreement WHERE id = agreement FOR UPDATE;
        SELECT COALESCE(SUM(amount_eur) FILTER (WHERE kind = 'commitment'), 0),
               COALESCE(SUM(amount_eur) FILTER (WHERE kind = 'disbursement'), 0)
          INTO committed, paid FROM ledger_entry WHERE agreement_id = agreement;
        IF committed < paid THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'money_commitments_cover_payments',
                MESSAGE = format('money invariant: grant %s would have %s EUR committed but %s EUR paid',
                                 agreement, committed, paid);
        END IF;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION ledger_entry_commitments_cover_payments() RETURNS trigger AS $$
    BEGIN
        PERFORM money_commitments_cover_payments(NEW.agreement_id);
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER ledger_entry_commitments_cover_payments AFTER INSERT ON ledger_entry "
    "FOR EACH ROW EXECUTE FUNCTION ledger_entry_commitments_cover_payments()",
    """
    CREATE FUNCTION agreement_version_covers_payments() RETURNS trigger AS $$
    DECLARE
        paid numeric;
    BEGIN
        SELECT COALESCE(SUM(amount_eur), 0) INTO paid FROM ledger_entry
         WHERE agreement_id = NEW.agreement_id AND kind = 'disbursement';
        IF NEW.committed_eur < paid THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'money_version_covers_payments',
                MESSAGE = format('money invariant: grant %s cannot commit %s EUR, %s EUR is already paid',
                                 NEW.agreement_id, NEW.committed_eur, paid);
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER agreement_version_covers_payments AFTER INSERT OR UPDATE OF committed_eur ON agreement_version "
    "FOR EACH ROW EXECUTE FUNCTION agreement_version_covers_payments()",
    # 2. tranches add up to the commitment, at COMMIT
    """
    CREATE FUNCTION money_tranches_add_up(agreement integer) RETURNS void AS $$
    DECLARE
        planned numeric;
        committed numeric;
    BEGIN
        SELECT SUM(amount_eur) INTO planned FROM tranche WHERE agreement_id = agreement;
        IF planned IS NULL THEN
            RETURN;  -- a grant without a schedule
        END IF;
        SELECT committed_eur INTO committed FROM agreement_version
         WHERE agreement_id = agreement ORDER BY version DESC LIMIT 1;
        IF committed IS DISTINCT FROM planned THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'money_tranches_add_up',
                MESSAGE = format('money invariant: the tranches of grant %s add up to %s EUR but it commits %s EUR',
                                 agreement, planned, committed);
        END IF;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION money_tranches_add_up_trigger() RETURNS trigger AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM money_tranches_add_up(OLD.agreement_id);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM money_tranches_add_up(NEW.agreement_id);
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    "CREATE CONSTRAINT TRIGGER tranche_adds_up AFTER INSERT OR UPDATE OR DELETE ON tranche "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION money_tranches_add_up_trigger()",
    "CREATE CONSTRAINT TRIGGER agreement_version_adds_up AFTER INSERT OR UPDATE OR DELETE ON agreement_version "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION money_tranches_add_up_trigger()",
    # 3. a tranche in payment is frozen
    """
    CREATE FUNCTION tranche_in_payment_frozen() RETURNS trigger AS $$
    BEGIN
        IF OLD.status = 'paid' THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'money_paid_tranche_immutable',
                MESSAGE = format('money invariant: tranche %s is paid and cannot be changed (%s)', OLD.id, TG_OP);
        END IF;
        IF TG_OP = 'DELETE' THEN
            IF OLD.status <> 'planned' THEN
                RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'money_tranche_in_payment_frozen',
                    MESSAGE = format('money invariant: tranche %s is in payment and cannot be deleted', OLD.id);
            END IF;
            RETURN OLD;
        END IF;
        IF OLD.status <> 'planned' AND (NEW.amount_eur IS DISTINCT FROM OLD.amount_eur
                OR NEW.planned_date IS DISTINCT FROM OLD.planned_date
                OR NEW.agreement_id IS DISTINCT FROM OLD.agreement_id
                OR NEW.position IS DISTINCT FROM OLD.position) THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'money_tranche_in_payment_frozen',
                MESSAGE = format('money invariant: tranche %s is in payment: its amount and date cannot change', OLD.id);
        END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER tranche_in_payment_frozen BEFORE UPDATE OR DELETE ON tranche "
    "FOR EACH ROW EXECUTE FUNCTION tranche_in_payment_frozen()",
]

PG_DOWN = [
    "DROP TRIGGER IF EXISTS tranche_in_payment_frozen ON tranche",
    "DROP FUNCTION IF EXISTS tranche_in_payment_frozen()",
    "DROP TRIGGER IF EXISTS agreement_version_adds_up ON agreement_version",
    "DROP TRIGGER IF EXISTS tranche_adds_up ON tranche",
    "DROP FUNCTION IF EXISTS money_tranches_add_up_trigger()",
    "DROP FUNCTION IF EXISTS money_tranches_add_up(integer)",
    "DROP TRIGGER IF EXISTS agreement_version_covers_payments ON agreement_version",
    "DROP FUNCTION IF EXISTS agreement_version_covers_payments()",
    "DROP TRIGGER IF EXISTS ledger_entry_commitments_cover_payments ON ledger_entry",
    "DROP FUNCTION IF EXISTS ledger_entry_commitments_cover_payments()",
    "DROP FUNCTION IF EXISTS money_commitments_cover_payments(integer)",
]


# SQLite ----------------------------------------------------------------------------------------------------

#: Money compared to the cent: SQLite sums NUMERIC columns in floating point.
_CENT = "0.005"


def _sqlite_breach_refresh(ref: str) -> str:
    """Statements that re-evaluate rule 2 for the grant `ref` (NEW.agreement_id or OLD.agreement_id)."""
    return f"""
        DELETE FROM money_invariant_breach WHERE agreement_id = {ref};
        INSERT INTO money_invariant_breach (agreement_id, rule, blocked_by)
        SELECT {ref}, 'the tranches add up to the commitment', 0
         WHERE EXISTS (SELECT 1 FROM tranche WHERE agreement_id = {ref})
           AND ABS((SELECT SUM(amount_eur) FROM tranche WHERE agreement_id = {ref})
                   - COALESCE((SELECT committed_eur FROM agreement_version WHERE agreement_id = {ref}
                                ORDER BY version DESC LIMIT 1), 0)) >= {_CENT};"""


def _sqlite_statements() -> list[str]:
    statements = [
        # 2. The breach table: one row per grant whose tranches do not add up; the deferred foreign key
        # (to a key that never exists: agreement ids are > 0) refuses COMMIT while a row is there.
        """
        CREATE TABLE money_invariant_breach (
            agreement_id INTEGER NOT NULL PRIMARY KEY CHECK (agreement_id > 0),
            rule VARCHAR(80) NOT NULL,
            blocked_by INTEGER NOT NULL
                REFERENCES money_invariant_breach (agreement_id) DEFERRABLE INITIALLY DEFERRED
        )
        """,
        # 1. commitments ≥ payments
        f"""
        CREATE TRIGGER ledger_entry_commitments_cover_payments AFTER INSERT ON ledger_entry
        WHEN (SELECT COALESCE(SUM(CASE WHEN kind = 'commitment' THEN amount_eur ELSE -amount_eur END), 0)
                FROM ledger_entry WHERE agreement_id = NEW.agreement_id) <= -{_CENT}
        BEGIN
            SELECT RAISE(ABORT, 'money invariant: a grant cannot have less committed than paid');
        END
        """,
        f"""
        CREATE TRIGGER agreement_version_covers_payments AFTER INSERT ON agreement_version
        WHEN NEW.committed_eur - (SELECT COALESCE(SUM(amount_eur), 0) FROM ledger_entry
                                   WHERE agreement_id = NEW.agreement_id AND kind = 'disbursement') <= -{_CENT}
        BEGIN
            SELECT RAISE(ABORT, 'money invariant: an agreement cannot commit less than was paid');
        END
        """,
        f"""
        CREATE TRIGGER agreement_version_covers_payments_update AFTER UPDATE OF committed_eur ON agreement_version
        WHEN NEW.committed_eur - (SELECT COALESCE(SUM(amount_eur), 0) FROM ledger_entry
                                   WHERE agreement_id = NEW.agreement_id AND kind = 'disbursement') <= -{_CENT}
        BEGIN
            SELECT RAISE(ABORT, 'money invariant: an agreement cannot commit less than was paid');
        END
        """,
        # 3. a tranche in payment is frozen (BEFORE, so the row is never written)
        """
        CREATE TRIGGER tranche_paid_no_update BEFORE UPDATE ON tranche WHEN OLD.status = 'paid'
        BEGIN
            SELECT RAISE(ABORT, 'money invariant: a paid tranche cannot be changed');
        END
        """,
        """
        CREATE TRIGGER tranche_in_payment_no_delete BEFORE DELETE ON tranche WHEN OLD.status <> 'planned'
        BEGIN
            SELECT RAISE(ABORT, 'money invariant: a tranche in payment cannot be deleted');
        END
        """,
        """
        CREATE TRIGGER tranche_in_payment_frozen BEFORE UPDATE ON tranche
        WHEN OLD.status <> 'planned' AND (NEW.amount_eur IS NOT OLD.amount_eur OR NEW.planned_date IS NOT OLD.planned_date
                                          OR NEW.agreement_id IS NOT OLD.agreement_id OR NEW.position IS NOT OLD.position)
        BEGIN
            SELECT RAISE(ABORT, 'money invariant: a tranche in payment keeps its amount and date');
        END
        """,
    ]
    # 2. re-evaluated after every change of a tranche or a version
    for table in ("tranche", "agreement_version"):
        statements += [
            f"CREATE TRIGGER {table}_adds_up_insert AFTER INSERT ON {table} BEGIN"
            f"{_sqlite_breach_refresh('NEW.agreement_id')}\n        END",
            f"CREATE TRIGGER {table}_adds_up_update AFTER UPDATE ON {table} BEGIN"
            f"{_sqlite_breach_refresh('OLD.agreement_id')}{_sqlite_breach_refresh('NEW.agreement_id')}\n        END",
            f"CREATE TRIGGER {table}_adds_up_delete AFTER DELETE ON {table} BEGIN"
            f"{_sqlite_breach_refresh('OLD.agreement_id')}\n        END",
        ]
    return statements


SQLITE_TRIGGERS = [
    "ledger_entry_commitments_cover_payments", "agreement_version_covers_payments",
    "agreement_version_covers_payments_update", "tranche_paid_no_update", "tranche_in_payment_no_delete",
    "tranche_in_payment_frozen",
] + [f"{table}_adds_up_{op_}" for table in ("tranche", "agreement_version") for op_ in ("insert", "update", "delete")]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for statement in PG_STATEMENTS:
            op.execute(statement)
    elif dialect == "sqlite":
        for statement in _sqlite_statements():
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for statement in PG_DOWN:
            op.execute(statement)
    elif dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS money_invariant_breach")
