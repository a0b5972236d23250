"""deadline rows, alert delivery and read marks

Adds the `deadlines` rows the alert sweep reads by due date (with `deadline_sets` recording
which case version they were built from and `deadline_backfills` recording full rebuilds), the
delivery bookkeeping of the alert outbox, per-user read marks and the users' alert e-mail.
The rows of existing cases are not built here (that needs the replay): the first sweep after
this upgrade finds no backfill recorded and rebuilds them.

Revision ID: c41fb7b3193f
Revises: 16ce33689802
Create Date: 2026-11-29 03:37:00.237762

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c41fb7b3193f'
down_revision = '16ce33689802'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('deadline_backfills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline_backfills'))
    )
    op.create_table('deadline_sets',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('case_version', sa.Integer(), nullable=False),
    sa.Column('known_on', sa.Date(), nullable=True),
    sa.Column('complete_until', sa.Date(), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_deadline_sets_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_deadline_sets'))
    )
    with op.batch_alter_table('deadline_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadline_sets_complete_until'), ['complete_until'], unique=False)
        batch_op.create_index(batch_op.f('ix_deadline_sets_known_on'), ['known_on'], unique=False)

    op.create_table('deadlines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('responsible', sa.String(length=20), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('met', sa.Boolean(), nullable=False),
    sa.Column('met_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_deadlines_case_id_cases')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_deadlines_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadlines'))
    )
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadlines_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_deadlines_met_due_on', ['met', 'due_on'], unique=False)

    op.create_table('notification_reads',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_notification_reads_notification_id_notifications')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_reads_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'notification_id', name=op.f('pk_notification_reads'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_notifications_delivered_at', ['delivered_at'], unique=False)
        batch_op.create_index('ix_notifications_escalated_to_id', ['escalated_to_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_escalated_to_id')
        batch_op.drop_index('ix_notifications_delivered_at')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('last_error')
        batch_op.drop_column('attempts')

    op.drop_table('notification_reads')
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_deadlines_met_due_on')
        batch_op.drop_index(batch_op.f('ix_deadlines_case_id'))

    op.drop_table('deadlines')
    with op.batch_alter_table('deadline_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deadline_sets_known_on'))
        batch_op.drop_index(batch_op.f('ix_deadline_sets_complete_until'))

    op.drop_table('deadline_sets')
    op.drop_table('deadline_backfills')
