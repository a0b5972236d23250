"""cases keep their person's pinyin initials, for the search ("zw" finds 张伟)

Revision ID: f9a0b1c2d3e4
Revises: e2f3a4b5c6d7
Create Date: 2026-12-05 14:00:00

Filled here for the cases already there (workflow/initials.py), then by the application when a
case is opened or its name corrected.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f9a0b1c2d3e4'
down_revision = 'e2f3a4b5c6d7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_initials', sa.String(length=500), nullable=True))
    from workflow.initials import name_initials
    bind = op.get_bind()
    cases = sa.table('cases', sa.column('id', sa.Integer), sa.column('person_name', sa.String),
                     sa.column('name_initials', sa.String))
    rows = bind.execute(sa.select(cases.c.id, cases.c.person_name)).all()
    update = sa.update(cases).where(cases.c.id == sa.bindparam('b_id')) \
        .values(name_initials=sa.bindparam('b_initials'))
    for start in range(0, len(rows), 1000):
        batch = [{'b_id': i, 'b_initials': name_initials(name)}
                 for i, name in rows[start:start + 1000]]
        bind.execute(update, batch)


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('name_initials')
