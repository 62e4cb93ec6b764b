"""data entry rules: EOI, report evidence and timing, bulk (issue 14)

Revision ID: 0012_data_entry
Revises: 0011_multilingual
Create Date: 2026-12-02 09:15:00+00:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0012_data_entry'
down_revision = '0011_multilingual'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The evidence each monthly report of a grant call must carry (document kinds, at least one of each).
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_evidence', sa.JSON(), nullable=False, server_default='[]'))
    # How many days before a month ends its report may already be submitted (0: only once it has ended).
    with op.batch_alter_table('programme', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_early_days', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint(op.f('ck_programme_report_early_days'),
                                         'report_early_days >= 0 AND report_early_days <= 3')


def downgrade() -> None:
    with op.batch_alter_table('programme', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_programme_report_early_days'), type_='check')
        batch_op.drop_column('report_early_days')
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_column('report_evidence')
