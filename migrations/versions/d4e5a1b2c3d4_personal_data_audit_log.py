"""personal data audit log

Revision ID: d4e5a1b2c3d4
Revises: c189e51d3845
Create Date: 2026-11-29 07:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4e5a1b2c3d4'
down_revision = 'c189e51d3845'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('personal_data_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('subjects', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('remote', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_personal_data_access_case_id_cases')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_personal_data_access_org_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_personal_data_access_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_data_access'))
    )
    with op.batch_alter_table('personal_data_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_personal_data_access_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_personal_data_access_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_personal_data_access_org_id_at', ['org_id', 'at'], unique=False)
        batch_op.create_index('ix_personal_data_access_user_id_at', ['user_id', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('personal_data_access', schema=None) as batch_op:
        batch_op.drop_index('ix_personal_data_access_user_id_at')
        batch_op.drop_index('ix_personal_data_access_org_id_at')
        batch_op.drop_index(batch_op.f('ix_personal_data_access_case_id'))
        batch_op.drop_index(batch_op.f('ix_personal_data_access_at'))

    op.drop_table('personal_data_access')
