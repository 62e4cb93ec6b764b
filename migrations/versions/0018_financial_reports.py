"""grantee financial reports: one per grant and reporting period, kept as versions (nothing overwritten), a
line per approved budget line with the expenditure and the finance officer's eligible/ineligible amounts, the
co-financing received; on each call the reporting period's length (default 3 months) and the allowed variance
per budget line (default 10 %) (issue 18)

Revision ID: 0018_financial_reports
Revises: 0017_grievances
Create Date: 2026-12-02 13:06:43.317166+00:00
"""

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0018_financial_reports'
down_revision = '0017_grievances'
branch_labels = None
depends_on = None

STATUSES = ('draft', 'submitted', 'returned', 'accepted')


def upgrade() -> None:
    op.create_table('financial_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('period_number', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum(*STATUSES, name='financial_report_status',
                              native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('accepted_version', sa.Integer(), nullable=True),
    sa.Column('first_submitted_at', UTCDateTime(), nullable=True),
    sa.Column('last_submitted_at', UTCDateTime(), nullable=True),
    sa.Column('accepted_at', UTCDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('accepted_version IS NULL OR accepted_version <= current_version',
                       name=op.f('ck_financial_report_accepted_version')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_financial_report_period_dates')),
    sa.CheckConstraint('period_number >= 1', name=op.f('ck_financial_report_period_number')),
    sa.ForeignKeyConstraint(['agreement_id'], ['grant_agreement.id'], name=op.f('fk_financial_report_agreement_id_grant_agreement')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_financial_report_created_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_financial_report')),
    sa.UniqueConstraint('agreement_id', 'period_number', name='uq_financial_report_period')
    )
    with op.batch_alter_table('financial_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_financial_report_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_financial_report_status'), ['status'], unique=False)

    op.create_table('financial_report_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum(*STATUSES, name='financial_report_version_status',
                              native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('cofinancing_municipality_eur', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('cofinancing_other_eur', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', UTCDateTime(), nullable=True),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', UTCDateTime(), nullable=True),
    sa.Column('review_comment', sa.Text(), nullable=False),
    sa.Column('edit_version', sa.Integer(), nullable=False),
    sa.CheckConstraint('cofinancing_municipality_eur >= 0 AND cofinancing_other_eur >= 0',
                       name=op.f('ck_financial_report_version_cofinancing_not_negative')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_financial_report_version_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['report_id'], ['financial_report.id'], name=op.f('fk_financial_report_version_report_id_financial_report')),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['user_account.id'], name=op.f('fk_financial_report_version_reviewed_by_id_user_account')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['user_account.id'],
                       name=op.f('fk_financial_report_version_submitted_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_financial_report_version')),
    sa.UniqueConstraint('report_id', 'version', name='uq_financial_report_version_number')
    )
    with op.batch_alter_table('financial_report_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_financial_report_version_report_id'), ['report_id'], unique=False)

    op.create_table('financial_report_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('budget_line_id', sa.Integer(), nullable=False),
    sa.Column('spent_eur', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('eligible_eur', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('ineligible_eur', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('ineligible_reason', sa.Text(), nullable=False),
    sa.CheckConstraint(('eligible_eur IS NULL OR (eligible_eur >= 0 AND ineligible_eur >= 0 '
                        'AND eligible_eur + ineligible_eur = spent_eur)'), name=op.f('ck_financial_report_line_eligibility_sums')),
    sa.CheckConstraint('spent_eur >= 0', name=op.f('ck_financial_report_line_spent_not_negative')),
    sa.ForeignKeyConstraint(['budget_line_id'], ['application_budget_line.id'],
                       name=op.f('fk_financial_report_line_budget_line_id_application_budget_line')),
    sa.ForeignKeyConstraint(['version_id'], ['financial_report_version.id'],
                       name=op.f('fk_financial_report_line_version_id_financial_report_version'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_financial_report_line')),
    sa.UniqueConstraint('version_id', 'budget_line_id', name='uq_financial_report_line_budget_line')
    )
    with op.batch_alter_table('financial_report_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_financial_report_line_budget_line_id'), ['budget_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_financial_report_line_version_id'), ['version_id'], unique=False)

    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finance_period_months', sa.Integer(), server_default='3', nullable=False))
        batch_op.add_column(sa.Column('budget_variance_pct', sa.Numeric(precision=5, scale=2), server_default='10.00', nullable=False))
    _freeze_up()



#: What a financial report version keeps once it is past draft: its amounts, texts and who submitted it. Only its
#: status and the review (who, when, comment) still change.
FROZEN = ("report_id", "version", "cofinancing_municipality_eur", "cofinancing_other_eur", "narrative", "created_by_id",
          "created_at", "submitted_by_id", "submitted_at")

PG_FUNCTIONS = """
CREATE FUNCTION financial_report_version_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'financial_report_version %% was submitted and cannot be deleted', OLD.id;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.status = 'draft' OR (%(new)s) IS DISTINCT FROM (%(old)s)) THEN
        RAISE EXCEPTION 'financial_report_version %% was submitted: its amounts cannot change (a correction is a new version)',
            OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION financial_report_line_frozen() RETURNS trigger AS $$
DECLARE
    owner integer;
BEGIN
    IF TG_OP = 'INSERT' THEN owner := NEW.version_id; ELSE owner := OLD.version_id; END IF;
    IF (SELECT status FROM financial_report_version WHERE id = owner) = 'draft' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP <> 'UPDATE' OR (NEW.version_id, NEW.budget_line_id, NEW.spent_eur)
                             IS DISTINCT FROM (OLD.version_id, OLD.budget_line_id, OLD.spent_eur)
       OR (OLD.eligible_eur IS NOT NULL AND (NEW.eligible_eur, NEW.ineligible_eur, NEW.ineligible_reason)
                                            IS DISTINCT FROM (OLD.eligible_eur, OLD.ineligible_eur, OLD.ineligible_reason)) THEN
        RAISE EXCEPTION '%% of a submitted financial report version is not allowed (its eligibility is set once)', TG_OP;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
""" % {"new": ", ".join(f"NEW.{c}" for c in FROZEN), "old": ", ".join(f"OLD.{c}" for c in FROZEN)}

SQLITE_LINE_CHANGED = ("NEW.version_id IS NOT OLD.version_id OR NEW.budget_line_id IS NOT OLD.budget_line_id "
                       "OR NEW.spent_eur IS NOT OLD.spent_eur OR (OLD.eligible_eur IS NOT NULL AND "
                       "(NEW.eligible_eur IS NOT OLD.eligible_eur OR NEW.ineligible_eur IS NOT OLD.ineligible_eur "
                       "OR NEW.ineligible_reason IS NOT OLD.ineligible_reason))")


def _freeze_up() -> None:
    """The database itself keeps submitted versions as they were: their amounts and lines never change; the finance
    officer's eligibility is written once, at acceptance."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTIONS)
        op.execute("CREATE TRIGGER financial_report_version_frozen BEFORE UPDATE OR DELETE ON financial_report_version "
                   "FOR EACH ROW EXECUTE FUNCTION financial_report_version_frozen()")
        op.execute("CREATE TRIGGER financial_report_line_frozen BEFORE INSERT OR UPDATE OR DELETE ON financial_report_line "
                   "FOR EACH ROW EXECUTE FUNCTION financial_report_line_frozen()")
    elif dialect == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FROZEN)
        op.execute("CREATE TRIGGER financial_report_version_frozen_update BEFORE UPDATE ON financial_report_version "
                   f"WHEN OLD.status != 'draft' AND (NEW.status = 'draft' OR {changed}) "
                   "BEGIN SELECT RAISE(ABORT, 'a submitted financial report version cannot change'); END")
        op.execute("CREATE TRIGGER financial_report_version_frozen_delete BEFORE DELETE ON financial_report_version "
                   "WHEN OLD.status != 'draft' "
                   "BEGIN SELECT RAISE(ABORT, 'a submitted financial report version cannot be deleted'); END")
        owner = "(SELECT status FROM financial_report_version WHERE id = {row}.version_id) != 'draft'"
        for operation, when in (("INSERT", owner.format(row="NEW")), ("DELETE", owner.format(row="OLD")),
                                ("UPDATE", f"{owner.format(row='OLD')} AND ({SQLITE_LINE_CHANGED})")):
            op.execute(f"CREATE TRIGGER financial_report_line_frozen_{operation.lower()} BEFORE {operation} "
                       f"ON financial_report_line WHEN {when} "
                       "BEGIN SELECT RAISE(ABORT, 'the lines of a submitted financial report version cannot change'); END")


def _freeze_down() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS financial_report_version_frozen ON financial_report_version")
        op.execute("DROP TRIGGER IF EXISTS financial_report_line_frozen ON financial_report_line")
        op.execute("DROP FUNCTION IF EXISTS financial_report_version_frozen()")
        op.execute("DROP FUNCTION IF EXISTS financial_report_line_frozen()")
    elif dialect == "sqlite":
        for name in ("version_frozen_update", "version_frozen_delete", "line_frozen_insert", "line_frozen_delete",
                     "line_frozen_update"):
            op.execute(f"DROP TRIGGER IF EXISTS financial_report_{name}")


def downgrade() -> None:
    _freeze_down()
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_column('budget_variance_pct')
        batch_op.drop_column('finance_period_months')

    with op.batch_alter_table('financial_report_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_financial_report_line_version_id'))
        batch_op.drop_index(batch_op.f('ix_financial_report_line_budget_line_id'))

    op.drop_table('financial_report_line')
    with op.batch_alter_table('financial_report_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_financial_report_version_report_id'))

    op.drop_table('financial_report_version')
    with op.batch_alter_table('financial_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_financial_report_status'))
        batch_op.drop_index(batch_op.f('ix_financial_report_agreement_id'))

    op.drop_table('financial_report')
