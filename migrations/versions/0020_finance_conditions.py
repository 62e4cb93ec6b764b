"""tranche release conditions on financial reports and budget amendments (issue 18)

Revision ID: 0020_finance_conditions
Revises: 0019_service_register
Create Date: 2026-12-02 16:10:00+00:00
"""

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0020_finance_conditions'
down_revision = '0019_service_register'
branch_labels = None
depends_on = None

#: The tranche's money conditions. On SQLite the columns are added in place (ALTER TABLE … ADD COLUMN with its
#: CHECK): recreating the table would drop the money-invariant triggers of migration 0013.
TRANCHE_COLUMNS = [
    ("requires_finance_period", "INTEGER", "ck_tranche_finance_period",
     "requires_finance_period IS NULL OR requires_finance_period >= 1", sa.Integer()),
    ("min_spent_pct", "NUMERIC(5, 2)", "ck_tranche_min_spent_pct",
     "min_spent_pct IS NULL OR (min_spent_pct >= 0 AND min_spent_pct <= 100)", sa.Numeric(precision=5, scale=2)),
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, sql_type, check, condition, type_ in TRANCHE_COLUMNS:
        if sqlite:
            op.execute(f"ALTER TABLE tranche ADD COLUMN {name} {sql_type} CONSTRAINT {check} CHECK ({condition})")
        else:
            op.add_column('tranche', sa.Column(name, type_, nullable=True))
            op.create_check_constraint(check, 'tranche', condition)

    op.create_table('budget_amendment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'rejected', name='budget_amendment_status',
                                native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', UTCDateTime(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('number >= 1', name=op.f('ck_budget_amendment_number')),
    sa.ForeignKeyConstraint(['agreement_id'], ['grant_agreement.id'],
                            name=op.f('fk_budget_amendment_agreement_id_grant_agreement')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'],
                            name=op.f('fk_budget_amendment_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'],
                            name=op.f('fk_budget_amendment_requested_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_amendment')),
    sa.UniqueConstraint('agreement_id', 'number', name='uq_budget_amendment_number')
    )
    with op.batch_alter_table('budget_amendment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_budget_amendment_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index('uq_budget_amendment_one_pending', ['agreement_id'], unique=True,
                              sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    op.create_table('budget_amendment_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('amendment_id', sa.Integer(), nullable=False),
    sa.Column('budget_line_id', sa.Integer(), nullable=False),
    sa.Column('amount_before_eur', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('amount_eur', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.CheckConstraint('amount_eur >= 0 AND amount_before_eur >= 0',
                       name=op.f('ck_budget_amendment_line_amounts_not_negative')),
    sa.ForeignKeyConstraint(['amendment_id'], ['budget_amendment.id'],
                            name=op.f('fk_budget_amendment_line_amendment_id_budget_amendment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['budget_line_id'], ['application_budget_line.id'],
                            name=op.f('fk_budget_amendment_line_budget_line_id_application_budget_line')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_amendment_line')),
    sa.UniqueConstraint('amendment_id', 'budget_line_id', name='uq_budget_amendment_line')
    )
    with op.batch_alter_table('budget_amendment_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_budget_amendment_line_amendment_id'), ['amendment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_budget_amendment_line_budget_line_id'), ['budget_line_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('budget_amendment_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_budget_amendment_line_budget_line_id'))
        batch_op.drop_index(batch_op.f('ix_budget_amendment_line_amendment_id'))
    op.drop_table('budget_amendment_line')
    with op.batch_alter_table('budget_amendment', schema=None) as batch_op:
        batch_op.drop_index('uq_budget_amendment_one_pending')
        batch_op.drop_index(batch_op.f('ix_budget_amendment_agreement_id'))
    op.drop_table('budget_amendment')
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, _sql_type, check, _condition, _type in reversed(TRANCHE_COLUMNS):
        if sqlite:
            op.execute(f"ALTER TABLE tranche DROP COLUMN {name}")
        else:
            op.drop_constraint(check, 'tranche', type_='check')
            op.drop_column('tranche', name)
