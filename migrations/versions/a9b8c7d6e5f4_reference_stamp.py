"""reference stamp: one value that changes with every change of organisations, rosters, rule
settings or holidays

Revision ID: a9b8c7d6e5f4
Revises: f7a8b9c0d1e2
Create Date: 2026-11-29 18:30:00

Each process keeps the organisation tree, rosters, rule books and working calendar it built, for
as long as this value stays the same (workflow/persistence/reference.py). Triggers give it a new
random value in the statement that changes one of the four tables, whoever runs it; random
rather than counted, so a database restored from a backup never reuses a value some process kept
other rows under.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9b8c7d6e5f4'
down_revision = 'f7a8b9c0d1e2'
branch_labels = None
depends_on = None

TABLES = ("organisations", "roster_members", "rule_settings", "holiday_overrides")
POSTGRES_NEW_VALUE = "floor(random() * 9e18)::bigint"


def upgrade():
    op.create_table('reference_stamps',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('value', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_stamps')))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"INSERT INTO reference_stamps (id, value) VALUES (1, {POSTGRES_NEW_VALUE})")
        op.execute(f"""
            CREATE FUNCTION bump_reference_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE reference_stamps SET value = {POSTGRES_NEW_VALUE} WHERE id = 1;
                RETURN NULL;
            END $$""")
        for table in TABLES:
            op.execute(f"CREATE TRIGGER bump_reference_stamp AFTER INSERT OR UPDATE OR DELETE "
                       f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION bump_reference_stamp()")
    else:  # SQLite: row triggers only, one per event
        op.execute("INSERT INTO reference_stamps (id, value) VALUES (1, random())")
        for table in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER bump_reference_stamp_{table}_{event.lower()} "
                           f"AFTER {event} ON {table} BEGIN "
                           f"UPDATE reference_stamps SET value = random() WHERE id = 1; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER bump_reference_stamp ON {table}")
        op.execute("DROP FUNCTION bump_reference_stamp()")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER bump_reference_stamp_{table}_{event}")
    op.drop_table('reference_stamps')
