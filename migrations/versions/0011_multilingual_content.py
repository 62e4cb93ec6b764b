"""multilingual content fields and four-eyes notifications (issue 13)

Rubric criterion descriptions and call amendment notes in Macedonian (required), Albanian and English
(optional; an empty translation is shown in Macedonian with a note). The existing single-language text
becomes the Macedonian one.

Revision ID: 0011_multilingual
Revises: 0010_mfa
Create Date: 2026-12-02 09:15:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0011_multilingual'
down_revision = '0010_mfa'
branch_labels = None
depends_on = None

# (table, the old single-language column, its new Macedonian name)
RENAMED = [("rubric_criterion", "description", "description"), ("call_amendment", "note", "note")]


def upgrade() -> None:
    for table, old, stem in RENAMED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(old, new_column_name=f"{stem}_mk", existing_type=sa.Text(), existing_nullable=False)
            batch.add_column(sa.Column(f"{stem}_sq", sa.Text(), nullable=False, server_default=""))
            batch.add_column(sa.Column(f"{stem}_en", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    for table, old, stem in RENAMED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column(f"{stem}_en")
            batch.drop_column(f"{stem}_sq")
            batch.alter_column(f"{stem}_mk", new_column_name=old, existing_type=sa.Text(), existing_nullable=False)
