"""results: which indicators the IATI file publishes as results (issue 15)

Revision ID: 0014_results
Revises: 0013_money_invariants
Create Date: 2026-12-02 09:40:00+00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0014_results'
down_revision = '0013_money_invariants'
branch_labels = None
depends_on = None

NOT_RESULTS = ("ONTIME", "COMMITTED", "COMMITTED_PCT", "DISBURSED", "DISBURSED_PCT")


def upgrade() -> None:
    with op.batch_alter_table('indicator') as batch:
        batch.add_column(sa.Column('iati_result', sa.Boolean(), nullable=False, server_default=sa.true()))
    # Finance and timeliness rates describe how the programme runs, not what it achieves.
    indicator = sa.table('indicator', sa.column('code', sa.String), sa.column('iati_result', sa.Boolean))
    op.execute(indicator.update().where(indicator.c.code.in_(NOT_RESULTS)).values(iati_result=False))


def downgrade() -> None:
    with op.batch_alter_table('indicator') as batch:
        batch.drop_column('iati_result')
