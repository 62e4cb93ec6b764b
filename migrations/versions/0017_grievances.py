"""grievance redress: cases raised by anyone (with or without an account), the handlers named on them, their
append-only messages (the database refuses UPDATE and DELETE), the mechanism's settings; evidence sent without
an account has no uploading user (issue 17)

Revision ID: 0017_grievances
Revises: 0016_indicator_measures
Create Date: 2026-12-02 13:20:00+00:00
"""

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0017_grievances'
down_revision = '0016_indicator_measures'
branch_labels = None
depends_on = None

CATEGORIES = ('service_quality', 'access', 'staff_conduct', 'safeguarding', 'fraud', 'data_protection', 'other')
STATUSES = ('received', 'acknowledged', 'escalated', 'closed')
KINDS = ('note', 'reply', 'complainant', 'org_request', 'org_answer')


def upgrade() -> None:
    op.create_table(
        'grievance_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('acknowledge_days', sa.Integer(), nullable=False),
        sa.Column('resolve_days', sa.Integer(), nullable=False),
        sa.Column('sensitive_threshold', sa.Integer(), nullable=False),
        sa.Column('submissions_per_hour', sa.Integer(), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.CheckConstraint('acknowledge_days BETWEEN 1 AND 90', name=op.f('ck_grievance_settings_acknowledge_days')),
        sa.CheckConstraint('resolve_days BETWEEN 1 AND 365 AND resolve_days >= acknowledge_days',
                           name=op.f('ck_grievance_settings_resolve_days')),
        sa.CheckConstraint('sensitive_threshold BETWEEN 1 AND 100', name=op.f('ck_grievance_settings_sensitive_threshold')),
        sa.CheckConstraint('submissions_per_hour BETWEEN 1 AND 1000', name=op.f('ck_grievance_settings_submissions_per_hour')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grievance_settings')),
    )
    op.create_table(
        'grievance',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tracking_code', sa.String(length=20), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('category', sa.Enum(*CATEGORIES, name='grievance_category', native_enum=False, create_constraint=True,
                                      length=32), nullable=False),
        sa.Column('sensitive', sa.Boolean(), nullable=False),
        sa.Column('municipality_id', sa.Integer(), nullable=False),
        sa.Column('agreement_id', sa.Integer(), nullable=True),
        sa.Column('about', sa.String(length=300), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('anonymous', sa.Boolean(), nullable=False),
        sa.Column('contact_name', sa.String(length=200), nullable=False),
        sa.Column('contact_email', sa.String(length=254), nullable=False),
        sa.Column('contact_phone', sa.String(length=40), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('status', sa.Enum(*STATUSES, name='grievance_status', native_enum=False, create_constraint=True,
                                    length=32), nullable=False),
        sa.Column('received_at', UTCDateTime(), nullable=False),
        sa.Column('acknowledge_due_at', UTCDateTime(), nullable=False),
        sa.Column('resolve_due_at', UTCDateTime(), nullable=False),
        sa.Column('acknowledged_at', UTCDateTime(), nullable=True),
        sa.Column('escalated_at', UTCDateTime(), nullable=True),
        sa.Column('closed_at', UTCDateTime(), nullable=True),
        sa.Column('first_closed_at', UTCDateTime(), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.Column('complainant_accepted', sa.Boolean(), nullable=True),
        sa.Column('reopened_count', sa.Integer(), nullable=False),
        sa.Column('handler_id', sa.Integer(), nullable=True),
        sa.Column('org_asked_at', UTCDateTime(), nullable=True),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.CheckConstraint("language IN ('mk', 'sq', 'en')", name=op.f('ck_grievance_language')),
        sa.CheckConstraint('acknowledge_due_at <= resolve_due_at', name=op.f('ck_grievance_deadlines_in_order')),
        sa.CheckConstraint("NOT anonymous OR (contact_name = '' AND contact_email = '' AND contact_phone = '')",
                           name=op.f('ck_grievance_anonymous_has_no_contact')),
        sa.CheckConstraint('reopened_count >= 0', name=op.f('ck_grievance_reopened_not_negative')),
        sa.ForeignKeyConstraint(['agreement_id'], ['grant_agreement.id'], name=op.f('fk_grievance_agreement_id_grant_agreement')),
        sa.ForeignKeyConstraint(['handler_id'], ['user_account.id'], name=op.f('fk_grievance_handler_id_user_account')),
        sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_grievance_municipality_id_municipality')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grievance')),
        sa.UniqueConstraint('secret_hash', name=op.f('uq_grievance_secret_hash')),
        sa.UniqueConstraint('tracking_code', name=op.f('uq_grievance_tracking_code')),
    )
    with op.batch_alter_table('grievance', schema=None) as batch_op:
        for column in ('agreement_id', 'category', 'handler_id', 'municipality_id', 'received_at', 'sensitive', 'status'):
            batch_op.create_index(batch_op.f(f'ix_grievance_{column}'), [column], unique=False)
    op.create_table(
        'grievance_handler',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('grievance_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('named_by_id', sa.Integer(), nullable=True),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['grievance_id'], ['grievance.id'], name=op.f('fk_grievance_handler_grievance_id_grievance')),
        sa.ForeignKeyConstraint(['named_by_id'], ['user_account.id'], name=op.f('fk_grievance_handler_named_by_id_user_account')),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_grievance_handler_user_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grievance_handler')),
        sa.UniqueConstraint('grievance_id', 'user_id', name='uq_grievance_handler'),
    )
    with op.batch_alter_table('grievance_handler', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grievance_handler_grievance_id'), ['grievance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grievance_handler_user_id'), ['user_id'], unique=False)
    op.create_table(
        'grievance_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('grievance_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum(*KINDS, name='grievance_message_kind', native_enum=False, create_constraint=True,
                                  length=32), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('organisation_id', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_grievance_message_author_id_user_account')),
        sa.ForeignKeyConstraint(['grievance_id'], ['grievance.id'], name=op.f('fk_grievance_message_grievance_id_grievance')),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'],
                                name=op.f('fk_grievance_message_organisation_id_organisation')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grievance_message')),
    )
    with op.batch_alter_table('grievance_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grievance_message_grievance_id'), ['grievance_id'], unique=False)
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.alter_column('uploaded_by_id', existing_type=sa.Integer(), nullable=True)
    _messages_append_only_up()


PG_FUNCTION = """
CREATE FUNCTION grievance_message_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'grievance_message is append-only: % is not allowed', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def _messages_append_only_up() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER grievance_message_no_change BEFORE UPDATE OR DELETE ON grievance_message "
                   "FOR EACH ROW EXECUTE FUNCTION grievance_message_append_only()")
        op.execute("CREATE TRIGGER grievance_message_no_truncate BEFORE TRUNCATE ON grievance_message "
                   "FOR EACH STATEMENT EXECUTE FUNCTION grievance_message_append_only()")
    elif dialect == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER grievance_message_no_{operation.lower()} BEFORE {operation} ON grievance_message "
                       "BEGIN SELECT RAISE(ABORT, 'grievance_message is append-only'); END")


def _messages_append_only_down() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS grievance_message_no_truncate ON grievance_message")
        op.execute("DROP TRIGGER IF EXISTS grievance_message_no_change ON grievance_message")
        op.execute("DROP FUNCTION IF EXISTS grievance_message_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS grievance_message_no_update")
        op.execute("DROP TRIGGER IF EXISTS grievance_message_no_delete")


def downgrade() -> None:
    _messages_append_only_down()
    # Evidence sent without an account has no uploading user: it cannot stay when the column is required again.
    op.execute("DELETE FROM document WHERE uploaded_by_id IS NULL")
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.alter_column('uploaded_by_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('grievance_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grievance_message_grievance_id'))
    op.drop_table('grievance_message')
    with op.batch_alter_table('grievance_handler', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grievance_handler_user_id'))
        batch_op.drop_index(batch_op.f('ix_grievance_handler_grievance_id'))
    op.drop_table('grievance_handler')
    with op.batch_alter_table('grievance', schema=None) as batch_op:
        for column in ('status', 'sensitive', 'received_at', 'municipality_id', 'handler_id', 'category', 'agreement_id'):
            batch_op.drop_index(batch_op.f(f'ix_grievance_{column}'))
    op.drop_table('grievance')
    op.drop_table('grievance_settings')
