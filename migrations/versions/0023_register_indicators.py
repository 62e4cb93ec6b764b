"""unique-person indicators from the service-user register (issue 16)

Revision ID: 0023_register_indicators
Revises: 0022_register_reports
Create Date: 2026-12-02 16:10:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0023_register_indicators'
down_revision = '0022_register_reports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # How each stored observation was formed (BEN_UNIQUE: exact from the registers, estimated from the reports, or
    # mixed). The indicator itself is a catalogue default: `flask seed-reference` adds it (never overwriting).
    with op.batch_alter_table('indicator_value', schema=None) as batch_op:
        batch_op.add_column(sa.Column('method', sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('indicator_value', schema=None) as batch_op:
        batch_op.drop_column('method')
