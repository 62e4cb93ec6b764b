"""robustness: the API rate-limit counter shared by all workers (issue 12)

Revision ID: 0009_robustness
Revises: 2e3e046b0a8a
Create Date: 2026-12-02 09:15:00+00:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0009_robustness'
down_revision = '2e3e046b0a8a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'api_rate_counter',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('window_start', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_api_rate_counter')),
    )


def downgrade() -> None:
    op.drop_table('api_rate_counter')
