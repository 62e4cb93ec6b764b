"""financial report entries per month on staff lines and MKD at the rate of the entry date (issue 18)

Revision ID: 0021_finance_entries
Revises: 0020_finance_conditions
Create Date: 2026-12-02 16:10:00+00:00
"""

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0021_finance_entries'
down_revision = '0020_finance_conditions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('daily_exchange_rate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('mkd_per_eur', sa.Numeric(precision=10, scale=4), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('loaded_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('mkd_per_eur > 0', name=op.f('ck_daily_exchange_rate_rate_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_daily_exchange_rate')),
    sa.UniqueConstraint('day', name=op.f('uq_daily_exchange_rate_day'))
    )
    op.create_table('financial_report_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=True),
    sa.Column('entry_date', sa.Date(), nullable=False),
    sa.Column('spent_eur', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('rate_mkd', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('rate_day', sa.Date(), nullable=True),
    sa.CheckConstraint('(rate_mkd IS NULL AND rate_day IS NULL) OR (rate_mkd > 0 AND rate_day <= entry_date)',
                       name=op.f('ck_financial_report_entry_rate_fixed')),
    sa.CheckConstraint('month IS NULL OR month <= entry_date', name=op.f('ck_financial_report_entry_month_dates')),
    sa.CheckConstraint('spent_eur >= 0', name=op.f('ck_financial_report_entry_spent_not_negative')),
    sa.ForeignKeyConstraint(['line_id'], ['financial_report_line.id'],
                            name=op.f('fk_financial_report_entry_line_id_financial_report_line'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_financial_report_entry')),
    sa.UniqueConstraint('line_id', 'entry_date', name='uq_financial_report_entry_date')
    )
    with op.batch_alter_table('financial_report_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_financial_report_entry_line_id'), ['line_id'], unique=False)
    _backfill()
    _freeze_up()


def _backfill() -> None:
    """Lines written before entries existed get one entry each: dated the period's last day, on a staff line as its
    period's last month. No rate is fixed for them (they were submitted before rates were recorded)."""
    if op.get_bind().dialect.name == "postgresql":
        month = "CAST(date_trunc('month', r.period_end) AS date)"
    else:
        month = "date(r.period_end, 'start of month')"
    op.execute(
        "INSERT INTO financial_report_entry (line_id, month, entry_date, spent_eur) "  # noqa: S608 (fixed text)
        f"SELECT l.id, CASE WHEN b.category = 'staff' THEN {month} END, r.period_end, l.spent_eur "
        "FROM financial_report_line l JOIN financial_report_version v ON v.id = l.version_id "
        "JOIN financial_report r ON r.id = v.report_id JOIN application_budget_line b ON b.id = l.budget_line_id")


PG_FUNCTION = """
CREATE FUNCTION financial_report_entry_frozen() RETURNS trigger AS $$
DECLARE
    owner integer;
BEGIN
    IF TG_OP = 'INSERT' THEN owner := NEW.line_id; ELSE owner := OLD.line_id; END IF;
    IF (SELECT v.status FROM financial_report_version v JOIN financial_report_line l ON l.version_id = v.id
        WHERE l.id = owner) = 'draft' THEN
        IF TG_OP = 'UPDATE' AND NEW.line_id IS DISTINCT FROM OLD.line_id AND
           (SELECT v.status FROM financial_report_version v JOIN financial_report_line l ON l.version_id = v.id
            WHERE l.id = NEW.line_id) <> 'draft' THEN
            RAISE EXCEPTION 'an entry cannot move to a submitted financial report version';
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM financial_report_line WHERE id = OLD.line_id) THEN
        RETURN OLD;  -- the line itself is being deleted (its own trigger decides)
    END IF;
    RAISE EXCEPTION '% of an entry of a submitted financial report version is not allowed (a correction is a new version)',
        TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

#: SQLite: the status of the version owning the entry's line.
OWNER = ("(SELECT v.status FROM financial_report_version v JOIN financial_report_line l ON l.version_id = v.id "
         "WHERE l.id = {row}.line_id) != 'draft'")


def _freeze_up() -> None:
    """Past draft, a version's entries (amounts, dates and the rates fixed at submission) never change."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER financial_report_entry_frozen BEFORE INSERT OR UPDATE OR DELETE "
                   "ON financial_report_entry FOR EACH ROW EXECUTE FUNCTION financial_report_entry_frozen()")
    elif dialect == "sqlite":
        for operation, when in (("INSERT", OWNER.format(row="NEW")), ("DELETE", OWNER.format(row="OLD")),
                                ("UPDATE", f"{OWNER.format(row='OLD')} OR {OWNER.format(row='NEW')}")):
            op.execute(f"CREATE TRIGGER financial_report_entry_frozen_{operation.lower()} BEFORE {operation} "
                       f"ON financial_report_entry WHEN {when} "
                       "BEGIN SELECT RAISE(ABORT, 'the entries of a submitted financial report version cannot change'); END")


def _freeze_down() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS financial_report_entry_frozen ON financial_report_entry")
        op.execute("DROP FUNCTION IF EXISTS financial_report_entry_frozen()")
    elif dialect == "sqlite":
        for operation in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS financial_report_entry_frozen_{operation}")


def downgrade() -> None:
    _freeze_down()
    with op.batch_alter_table('financial_report_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_financial_report_entry_line_id'))
    op.drop_table('financial_report_entry')
    op.drop_table('daily_exchange_rate')
