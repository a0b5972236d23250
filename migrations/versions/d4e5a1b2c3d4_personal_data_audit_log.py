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
    pass


def downgrade():
    pass
