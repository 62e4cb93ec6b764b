"""indicator freshness: a data version moved with every change the indicators depend on, the version each
snapshot was computed from, and the index of the reviewer queue (issue 15)

Revision ID: 0015_indicator_freshness
Revises: 0014_results
Create Date: 2026-12-02 10:00:00+00:00
"""

from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

from portal.db import UTCDateTime


revision = '0015_indicator_freshness'
down_revision = '0014_results'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'indicator_data_version',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.Column('changed_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_data_version')),
    )
    op.bulk_insert(table, [{'id': 1, 'version': 1, 'changed_at': datetime.now(UTC)}])
    with op.batch_alter_table('indicator_refresh') as batch:
        batch.add_column(sa.Column('data_version', sa.BigInteger(), nullable=True))
    # Snapshots computed before the counter existed are stale by construction (no version): the next reader or
    # `flask refresh-indicators` recomputes them.
    with op.batch_alter_table('monthly_report') as batch:
        batch.create_index('ix_monthly_report_queue', ['status', 'last_submitted_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('monthly_report') as batch:
        batch.drop_index('ix_monthly_report_queue')
    with op.batch_alter_table('indicator_refresh') as batch:
        batch.drop_column('data_version')
    op.drop_table('indicator_data_version')
