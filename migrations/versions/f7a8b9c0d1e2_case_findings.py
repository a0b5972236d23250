"""case findings: what the rubric reads of a case, kept on its deadline set

Revision ID: f7a8b9c0d1e2
Revises: e5f6a7b8c9d0
Create Date: 2026-11-29 16:00:00

Existing deadline sets have no findings yet (NULL: reports replay those cases). The recorded
full rebuild is forgotten, so the next sweep (or `flask rederive --fix`) rebuilds every case's
deadline rows and findings.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f7a8b9c0d1e2'
down_revision = 'e5f6a7b8c9d0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deadline_sets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('findings', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('findings_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('chain_length', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('findings_version', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_deadline_sets_findings_version'),
                              ['findings_version'], unique=False)
    op.execute("DELETE FROM deadline_backfills")


def downgrade():
    with op.batch_alter_table('deadline_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deadline_sets_findings_version'))
        batch_op.drop_column('findings_version')
        batch_op.drop_column('chain_length')
        batch_op.drop_column('findings_from')
        batch_op.drop_column('findings')
