"""unique-person indicators from the service-user register (issue 16)

Revision ID: 0023_register_indicators
Revises: 0022_register_reports
Create Date: 2026-12-02 16:10:00+00:00
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0023_register_indicators'
down_revision = '0022_register_reports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
