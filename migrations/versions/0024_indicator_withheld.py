"""small-cell suppression flags stored with the snapshot (issue 15 speed with issue 16's rule)

Revision ID: 0024_indicator_withheld
Revises: 0023_register_indicators
Create Date: 2026-12-02 17:30:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0024_indicator_withheld'
down_revision = '0023_register_indicators'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The flag the small-cell suppression rule (portal.indicators.suppression) gives each stored observation for a
    # reader outside the ministry: small / secondary; NULL = shown. Computed at each refresh; `value` stays exact.
    with op.batch_alter_table('indicator_value', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withheld', sa.String(length=10), nullable=True))
    # A snapshot stored before this revision has no flags (it would show small cells): it is derived data, so it is
    # dropped and the next reader (or the cron refresh) computes a new one with its flags.
    op.execute("DELETE FROM indicator_value")
    op.execute("DELETE FROM indicator_refresh")


def downgrade() -> None:
    with op.batch_alter_table('indicator_value', schema=None) as batch_op:
        batch_op.drop_column('withheld')
