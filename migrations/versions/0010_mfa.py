"""multi-factor sign-in for the ministry (issue 12)

Revision ID: 0010_mfa
Revises: 0009_robustness
Create Date: 2026-12-02 09:15:00+00:00
"""

import sqlalchemy as sa
from alembic import op

import portal.db

revision = '0010_mfa'
down_revision = '0009_robustness'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mfa_enrolled_at', portal.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table('user_mfa',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=True),
    sa.Column('pending_secret', sa.String(length=64), nullable=True),
    sa.Column('last_used_step', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_mfa_user_id_user_account')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_mfa'))
    )
    op.create_table('mfa_recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_mfa_recovery_code_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mfa_recovery_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_mfa_recovery_code_code_hash'))
    )
    with op.batch_alter_table('mfa_recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mfa_recovery_code_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mfa_recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mfa_recovery_code_user_id'))
    op.drop_table('mfa_recovery_code')
    op.drop_table('user_mfa')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('mfa_enrolled_at')
