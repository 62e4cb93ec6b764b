"""tranche release conditions on financial reports and budget amendments (issue 18)

Revision ID: 0020_finance_conditions
Revises: 0019_service_register
Create Date: 2026-12-02 16:10:00+00:00
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0020_finance_conditions'
down_revision = '0019_service_register'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
