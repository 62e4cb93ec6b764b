"""financial report entries per month on staff lines and MKD at the rate of the entry date (issue 18)

Revision ID: 0021_finance_entries
Revises: 0020_finance_conditions
Create Date: 2026-12-02 16:10:00+00:00
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0021_finance_entries'
down_revision = '0020_finance_conditions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
