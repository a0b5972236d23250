"""an index on step records by step and case: the cases with a given step (transferred,
voted for admission) found without reading every step record

Revision ID: a3b4c5d6e7f8
Revises: e6f7a8b9c0d1
Create Date: 2026-12-03 11:00:00

At 1,000,000 cases (13 million step records) the case page of a case with an admission vote
waited seconds on a full scan of the step records for the transferred cases and the year's
votes (docs/performance.md).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3b4c5d6e7f8'
down_revision = 'e6f7a8b9c0d1'
branch_labels = None
depends_on = None


def upgrade():
    # built by hand beforehand (CREATE INDEX CONCURRENTLY, docs/operations.md): kept
    built = {i['name'] for i in sa.inspect(op.get_bind()).get_indexes('step_records')}
    if 'ix_step_records_step_case' in built:
        return
    # not in batch mode: the table (and its append-only triggers) stays as it is on SQLite
    op.create_index('ix_step_records_step_case', 'step_records', ['step', 'case_id'],
                    unique=False)


def downgrade():
    op.drop_index('ix_step_records_step_case', table_name='step_records')
