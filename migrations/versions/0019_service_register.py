"""the pseudonymised service-user register: the key versions (fingerprints only), episodes per grant keyed by an
HMAC of the personal number, their append-only versions (the database refuses UPDATE and DELETE), and the
ministry's resolutions of duplicate pairs (issue 16)

Revision ID: 0019_service_register
Revises: 0018_financial_reports
Create Date: 2026-12-02 13:30:00+00:00
"""

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0019_service_register'
down_revision = '0018_financial_reports'
branch_labels = None
depends_on = None

REASONS = ('goals_met', 'decision_ended', 'moved', 'other_service', 'institution', 'declined', 'died', 'other')
SEXES = ('female', 'male')
OUTCOMES = ('legitimate', 'corrected')


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        'register_key',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('activated_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint('version >= 1', name=op.f('ck_register_key_version_positive')),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_register_key')),
    )
    op.create_table(
        'register_episode',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agreement_id', sa.Integer(), nullable=False),
        sa.Column('person_key', sa.String(length=64), nullable=False),
        sa.Column('key_version', sa.Integer(), nullable=False),
        sa.Column('current_version', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('anonymised_at', UTCDateTime(), nullable=True),
        sa.CheckConstraint('current_version >= 1', name=op.f('ck_register_episode_current_version_positive')),
        sa.ForeignKeyConstraint(['agreement_id'], ['grant_agreement.id'],
                                name=op.f('fk_register_episode_agreement_id_grant_agreement')),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'],
                                name=op.f('fk_register_episode_created_by_id_user_account')),
        sa.ForeignKeyConstraint(['key_version'], ['register_key.version'],
                                name=op.f('fk_register_episode_key_version_register_key')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_register_episode')),
    )
    with op.batch_alter_table('register_episode', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_episode_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_register_episode_person_key'), ['person_key'], unique=False)
    op.create_table(
        'register_episode_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('episode_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('decision_number', sa.String(length=40), nullable=False),
        sa.Column('decision_date', sa.Date(), nullable=False),
        sa.Column('decision_centre', sa.String(length=120), nullable=False),
        sa.Column('service_type_id', sa.Integer(), nullable=False),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=True),
        sa.Column('leaving_reason', _enum(REASONS, 'register_leaving_reason'), nullable=True),
        sa.Column('sex', _enum(SEXES, 'register_sex'), nullable=False),
        sa.Column('birth_year', sa.Integer(), nullable=False),
        sa.Column('disability', sa.Boolean(), nullable=False),
        sa.Column('municipality_id', sa.Integer(), nullable=False),
        sa.Column('local_reference', sa.String(length=40), nullable=False),
        sa.Column('withdrawn', sa.Boolean(), nullable=False),
        sa.Column('change', sa.String(length=20), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint('version >= 1', name=op.f('ck_register_episode_version_version_positive')),
        sa.CheckConstraint('end_date IS NULL OR end_date >= start_date',
                           name=op.f('ck_register_episode_version_end_not_before_start')),
        sa.CheckConstraint('(end_date IS NULL) = (leaving_reason IS NULL)',
                           name=op.f('ck_register_episode_version_end_has_reason')),
        sa.CheckConstraint('birth_year BETWEEN 1900 AND 2100', name=op.f('ck_register_episode_version_birth_year_range')),
        sa.CheckConstraint("change IN ('added', 'ended', 'corrected')", name=op.f('ck_register_episode_version_change_kind')),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'],
                                name=op.f('fk_register_episode_version_created_by_id_user_account')),
        sa.ForeignKeyConstraint(['episode_id'], ['register_episode.id'],
                                name=op.f('fk_register_episode_version_episode_id_register_episode')),
        sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'],
                                name=op.f('fk_register_episode_version_municipality_id_municipality')),
        sa.ForeignKeyConstraint(['service_type_id'], ['service_type.id'],
                                name=op.f('fk_register_episode_version_service_type_id_service_type')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_register_episode_version')),
        sa.UniqueConstraint('episode_id', 'version', name='uq_register_episode_version'),
    )
    with op.batch_alter_table('register_episode_version', schema=None) as batch_op:
        for column in ('episode_id', 'municipality_id', 'service_type_id'):
            batch_op.create_index(batch_op.f(f'ix_register_episode_version_{column}'), [column], unique=False)
    op.create_table(
        'register_duplicate_resolution',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('first_episode_id', sa.Integer(), nullable=False),
        sa.Column('second_episode_id', sa.Integer(), nullable=False),
        sa.Column('outcome', _enum(OUTCOMES, 'register_duplicate_outcome'), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('resolved_by_id', sa.Integer(), nullable=False),
        sa.Column('resolved_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint('first_episode_id < second_episode_id',
                           name=op.f('ck_register_duplicate_resolution_pair_ordered')),
        sa.ForeignKeyConstraint(['first_episode_id'], ['register_episode.id'],
                                name=op.f('fk_register_duplicate_resolution_first_episode_id_register_episode')),
        sa.ForeignKeyConstraint(['resolved_by_id'], ['user_account.id'],
                                name=op.f('fk_register_duplicate_resolution_resolved_by_id_user_account')),
        sa.ForeignKeyConstraint(['second_episode_id'], ['register_episode.id'],
                                name=op.f('fk_register_duplicate_resolution_second_episode_id_register_episode')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_register_duplicate_resolution')),
        sa.UniqueConstraint('first_episode_id', 'second_episode_id', name='uq_register_duplicate_pair'),
    )
    with op.batch_alter_table('register_duplicate_resolution', schema=None) as batch_op:
        for column in ('first_episode_id', 'second_episode_id'):
            batch_op.create_index(batch_op.f(f'ix_register_duplicate_resolution_{column}'), [column], unique=False)
    _versions_append_only_up()


#: The one change allowed on a version: retention blanks the decision number, the Centre, the provider's reference and
#: the note, and leaves every other column as it was.
KEPT = ('id', 'episode_id', 'version', 'decision_date', 'service_type_id', 'start_date', 'end_date', 'leaving_reason',
        'sex', 'birth_year', 'disability', 'municipality_id', 'withdrawn', 'change', 'created_by_id', 'created_at')
BLANKED = ('decision_number', 'decision_centre', 'local_reference', 'note')


def _anonymising(same: str) -> str:
    return " AND ".join([f"NEW.{c} = ''" for c in BLANKED] + [f"NEW.{c} {same} OLD.{c}" for c in KEPT])


PG_FUNCTION = f"""
CREATE FUNCTION register_episode_version_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF {_anonymising('IS NOT DISTINCT FROM')} THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'register_episode_version is append-only: % is not allowed', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def _versions_append_only_up() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER register_episode_version_no_change BEFORE UPDATE OR DELETE ON register_episode_version "
                   "FOR EACH ROW EXECUTE FUNCTION register_episode_version_append_only()")
        op.execute("CREATE TRIGGER register_episode_version_no_truncate BEFORE TRUNCATE ON register_episode_version "
                   "FOR EACH STATEMENT EXECUTE FUNCTION register_episode_version_append_only()")
    elif dialect == "sqlite":
        op.execute("CREATE TRIGGER register_episode_version_no_update BEFORE UPDATE ON register_episode_version "
                   f"WHEN NOT ({_anonymising('IS')}) "
                   "BEGIN SELECT RAISE(ABORT, 'register_episode_version is append-only'); END")
        op.execute("CREATE TRIGGER register_episode_version_no_delete BEFORE DELETE ON register_episode_version "
                   "BEGIN SELECT RAISE(ABORT, 'register_episode_version is append-only'); END")


def _versions_append_only_down() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS register_episode_version_no_truncate ON register_episode_version")
        op.execute("DROP TRIGGER IF EXISTS register_episode_version_no_change ON register_episode_version")
        op.execute("DROP FUNCTION IF EXISTS register_episode_version_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS register_episode_version_no_update")
        op.execute("DROP TRIGGER IF EXISTS register_episode_version_no_delete")


def downgrade() -> None:
    _versions_append_only_down()
    with op.batch_alter_table('register_duplicate_resolution', schema=None) as batch_op:
        for column in ('second_episode_id', 'first_episode_id'):
            batch_op.drop_index(batch_op.f(f'ix_register_duplicate_resolution_{column}'))
    op.drop_table('register_duplicate_resolution')
    with op.batch_alter_table('register_episode_version', schema=None) as batch_op:
        for column in ('service_type_id', 'municipality_id', 'episode_id'):
            batch_op.drop_index(batch_op.f(f'ix_register_episode_version_{column}'))
    op.drop_table('register_episode_version')
    with op.batch_alter_table('register_episode', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_episode_person_key'))
        batch_op.drop_index(batch_op.f('ix_register_episode_agreement_id'))
    op.drop_table('register_episode')
    op.drop_table('register_key')
