"""indicator measures: what each indicator measures (cumulative, stock, flow, ratio) and how far a stock carries a
grant's last month; new beneficiaries by sex, age band and disability, newly hired hard-to-employ women; the month
and grant counts behind each stored observation; the ministry's ISR comments (issue 15)

Revision ID: 0016_indicator_measures
Revises: 0015_indicator_freshness
Create Date: 2026-12-02 12:50:00+00:00
"""

from alembic import op
import sqlalchemy as sa

from portal.db import UTCDateTime


revision = '0016_indicator_measures'
down_revision = '0015_indicator_freshness'
branch_labels = None
depends_on = None

MEASURES = {
    "BEN": "stock", "HTE": "stock", "MUN": "stock",
    "BEN_FEMALE": "ratio", "HTE_FEMALE": "ratio", "ONTIME": "ratio", "COMMITTED_PCT": "ratio", "DISBURSED_PCT": "ratio",
    "BEN_NEW": "flow", "GRANTS": "flow",
    "COMMITTED": "cumulative", "DISBURSED": "cumulative",
}
# The targets first set on BEN and HTE count people since the start: they move to the cumulative indicators
# (BEN_CUM, HTE_CUM) that `flask seed-reference` adds. Targets an administrator changed stay where they are.
FIRST_TARGETS = {
    "BEN": ({"2024": "1200", "2025": "1600", "2026": "2000", "2027": "2400"}, "2500"),
    "HTE": ({"2024": "500", "2025": "700", "2026": "800", "2027": "850"}, "900"),
}
NEW_BY = ("new_female", "new_male", "new_age_0_17", "new_age_18_64", "new_age_65_79", "new_age_80_plus",
          "new_with_disability", "new_without_disability")


def upgrade() -> None:
    with op.batch_alter_table('indicator') as batch:
        batch.add_column(sa.Column('measure', sa.String(length=20), nullable=False, server_default='flow'))
        batch.add_column(sa.Column('carry_months', sa.Integer(), nullable=False, server_default='3'))
    indicator = sa.table('indicator', sa.column('code', sa.String), sa.column('measure', sa.String),
                         sa.column('targets', sa.JSON), sa.column('end_target', sa.Numeric(16, 2)))
    for code, measure in MEASURES.items():
        op.execute(indicator.update().where(indicator.c.code == code).values(measure=measure))
    bind = op.get_bind()
    for code, (targets, end) in FIRST_TARGETS.items():
        row = bind.execute(sa.select(indicator.c.targets, indicator.c.end_target)
                           .where(indicator.c.code == code)).first()
        if row is not None and (row.targets or {}) == targets and row.end_target is not None \
                and str(row.end_target).split(".")[0] == end:
            bind.execute(indicator.update().where(indicator.c.code == code).values(targets={}, end_target=None))
    with op.batch_alter_table('report_service_line') as batch:
        for column in NEW_BY:
            batch.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('report_hire_line') as batch:
        batch.add_column(sa.Column('new_female', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('indicator_value') as batch:
        batch.add_column(sa.Column('as_of_month', sa.Date(), nullable=True))
        batch.add_column(sa.Column('grants_current', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('grants_carried', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('grants_missing', sa.Integer(), nullable=True))
    op.create_table(
        'isr_comment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('indicator_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=10), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'],
                                name=op.f('fk_isr_comment_created_by_id_user_account')),
        sa.ForeignKeyConstraint(['indicator_id'], ['indicator.id'], name=op.f('fk_isr_comment_indicator_id_indicator')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_isr_comment')),
        sa.UniqueConstraint('indicator_id', 'period', 'version', name='uq_isr_comment_version'),
    )
    with op.batch_alter_table('isr_comment') as batch:
        batch.create_index(batch.f('ix_isr_comment_indicator_id'), ['indicator_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('isr_comment') as batch:
        batch.drop_index(batch.f('ix_isr_comment_indicator_id'))
    op.drop_table('isr_comment')
    with op.batch_alter_table('indicator_value') as batch:
        for column in ('grants_missing', 'grants_carried', 'grants_current', 'as_of_month'):
            batch.drop_column(column)
    with op.batch_alter_table('report_hire_line') as batch:
        batch.drop_column('new_female')
    with op.batch_alter_table('report_service_line') as batch:
        for column in reversed(NEW_BY):
            batch.drop_column(column)
    with op.batch_alter_table('indicator') as batch:
        batch.drop_column('carry_months')
        batch.drop_column('measure')
