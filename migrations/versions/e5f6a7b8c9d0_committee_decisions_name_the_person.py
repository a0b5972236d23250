"""committee decisions name the person and the session

Revision ID: e5f6a7b8c9d0
Revises: d4e5a1b2c3d4
Create Date: 2026-11-29 07:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5f6a7b8c9d0'
down_revision = 'd4e5a1b2c3d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shared', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))

    with op.batch_alter_table('step_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_by_member_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('session_ref', sa.String(length=80), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_step_records_decided_by_member_id_roster_members'), 'roster_members',
            ['decided_by_member_id'], ['id'])


def downgrade():
    with op.batch_alter_table('step_records', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_step_records_decided_by_member_id_roster_members'), type_='foreignkey')
        batch_op.drop_column('session_ref')
        batch_op.drop_column('decided_by_member_id')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('shared')
