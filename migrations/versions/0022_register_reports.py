"""monthly reports filled from the service-user register; the call setting that requires one (issue 16)

`call.register_required`: the calls that exist (the pilot) keep it off; a call created in the portal from now on
starts with it on (the service's default, not the column's). `report_version.beneficiaries_from_register`: the
version's beneficiary figures were filled from the register, not typed — frozen with the rest of a submitted version
(the triggers of 0007 are rewritten with this column added to what they keep).

Revision ID: 0022_register_reports
Revises: 0021_finance_entries
Create Date: 2026-12-02 16:10:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0022_register_reports'
down_revision = '0021_finance_entries'
branch_labels = None
depends_on = None

#: What the triggers of 0007 keep in a version past draft.
FROZEN_0007 = ("report_id", "version", "staff_total", "staff_female", "staff_male", "certified_caregivers", "narrative",
               "explanation", "correction_reason", "created_by_id", "created_at", "submitted_by_id", "submitted_at")
FROZEN = (*FROZEN_0007, "beneficiaries_from_register")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION report_version_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'report_version %% was submitted and cannot be deleted', OLD.id;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.status = 'draft' OR (%(new)s) IS DISTINCT FROM (%(old)s)
                                  OR NEW.warnings::text IS DISTINCT FROM OLD.warnings::text) THEN
        RAISE EXCEPTION 'report_version %% was submitted: its figures cannot change (a correction is a new version)', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def _freeze(columns: tuple[str, ...]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION % {"new": ", ".join(f"NEW.{c}" for c in columns),
                                  "old": ", ".join(f"OLD.{c}" for c in columns)})
    elif dialect == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in (*columns, "warnings"))
        op.execute("DROP TRIGGER IF EXISTS report_version_frozen_update")
        op.execute("CREATE TRIGGER report_version_frozen_update BEFORE UPDATE ON report_version "
                   f"WHEN OLD.status != 'draft' AND (NEW.status = 'draft' OR {changed}) "
                   "BEGIN SELECT RAISE(ABORT, 'a submitted report version cannot change'); END")


def upgrade() -> None:
    # Plain ALTER TABLE … ADD COLUMN (no batch copy on SQLite: the report triggers name report_version).
    op.add_column('call', sa.Column('register_required', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('report_version', sa.Column('beneficiaries_from_register', sa.Boolean(), server_default=sa.false(),
                                              nullable=False))
    # The calls that exist (the pilot round) do not require a register: the column's default says so for every row.
    call = sa.table('call', sa.column('register_required', sa.Boolean()))
    op.execute(call.update().values(register_required=False))
    _freeze(FROZEN)


def downgrade() -> None:
    _freeze(FROZEN_0007)
    # ALTER TABLE … DROP COLUMN in place (SQLite 3.35+): a batch copy of report_version would break the triggers of its
    # lines, which name it.
    op.execute("ALTER TABLE report_version DROP COLUMN beneficiaries_from_register")
    op.execute('ALTER TABLE "call" DROP COLUMN register_required')
