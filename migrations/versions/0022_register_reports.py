"""monthly reports filled from the service-user register; the call setting that requires one (issue 16)

Revision ID: 0022_register_reports
Revises: 0021_finance_entries
Create Date: 2026-12-02 16:10:00+00:00
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0022_register_reports'
down_revision = '0021_finance_entries'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
