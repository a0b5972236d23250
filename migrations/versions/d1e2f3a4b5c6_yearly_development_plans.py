"""yearly development plans: the plan of a branch and year, its versions and its measures

Revision ID: d1e2f3a4b5c6
Revises: c8d9e0f1a2b3
Create Date: 2026-12-03 07:00:00

A plan is set once per branch and year (unique); its quota and targets are versions, an
adjustment adds one (unique per plan and number, so two concurrent adjustments conflict).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd1e2f3a4b5c6'
down_revision = 'c8d9e0f1a2b3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'development_plans',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'],
                                name=op.f('fk_development_plans_org_id_organisations')),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                                name=op.f('fk_development_plans_created_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_development_plans')),
        sa.UniqueConstraint('org_id', 'year', name='uq_development_plans_org_year'))
    op.create_table(
        'plan_versions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('quota', sa.Integer(), nullable=False),
        sa.Column('targets', sa.JSON(), nullable=False),
        sa.Column('effective_on', sa.Date(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['development_plans.id'],
                                name=op.f('fk_plan_versions_plan_id_development_plans')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                                name=op.f('fk_plan_versions_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_versions')),
        sa.UniqueConstraint('plan_id', 'version', name='uq_plan_versions_plan_version'))
    op.create_table(
        'plan_measures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('owner', sa.String(length=100), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['development_plans.id'],
                                name=op.f('fk_plan_measures_plan_id_development_plans')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                                name=op.f('fk_plan_measures_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_measures')))
    with op.batch_alter_table('plan_measures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_measures_plan_id'), ['plan_id'], unique=False)


def downgrade():
    with op.batch_alter_table('plan_measures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_measures_plan_id'))
    op.drop_table('plan_measures')
    op.drop_table('plan_versions')
    op.drop_table('development_plans')
