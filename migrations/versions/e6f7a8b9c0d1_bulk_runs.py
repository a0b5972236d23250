"""bulk runs: a rebuild or verify of every case split into chunks by case-id range

Revision ID: e6f7a8b9c0d1
Revises: f9a0b1c2d3e4
Create Date: 2026-12-05 12:00:00

`bulk_chunks.done_at` is written in the transaction that writes a chunk's results, so a chunk
retried after its worker died writes nothing twice, and a run resumes with its undone chunks.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e6f7a8b9c0d1'
down_revision = 'f9a0b1c2d3e4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'bulk_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('chunks', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_runs')))
    with op.batch_alter_table('bulk_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulk_runs_started_at'), ['started_at'],
                              unique=False)
    op.create_table(
        'bulk_chunks',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('first_id', sa.Integer(), nullable=False),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.Column('params', sa.JSON(), nullable=True),
        sa.Column('dispatched_at', sa.DateTime(), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('done_at', sa.DateTime(), nullable=True),
        sa.Column('cases', sa.Integer(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('failed_at', sa.DateTime(), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['bulk_runs.id'],
                                name=op.f('fk_bulk_chunks_run_id_bulk_runs')),
        sa.PrimaryKeyConstraint('run_id', 'seq', name=op.f('pk_bulk_chunks')))


def downgrade():
    op.drop_table('bulk_chunks')
    with op.batch_alter_table('bulk_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulk_runs_started_at'))
    op.drop_table('bulk_runs')
