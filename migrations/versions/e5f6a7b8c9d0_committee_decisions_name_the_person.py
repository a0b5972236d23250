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
    pass


def downgrade():
    pass
