"""The pipeline's tables move into their own schema; Alembic replaces the old version marker;
a run records the OPS transaction it wrote.

Revision ID: 0002
Revises: 0001

On PostgreSQL ``ops_pipeline_run``, ``ops_pipeline_lineage`` and ``ops_pipeline_source_file``
move from the default schema into ``ops_pipeline`` (ALTER TABLE ... SET SCHEMA: their rows,
indexes, constraints and id sequences go with them). SQLite has no schemas; there the tables
stay where they are. ``ops_pipeline_schema`` (version 1) is dropped: Alembic's
``ops_pipeline_version`` now says which schema the database has. ``ops_pipeline_run`` gains
``transaction_id``, the OPS (SQLAlchemy-Continuum) transaction a load wrote its history under.

The OPS look-alike tables a pre-migration ``db init`` made in the default schema are left as they
are: on PostgreSQL they may hold what was loaded, and whether to drop them is not ours to guess.
"""
import sqlalchemy as sa
from alembic import op

from ops_pipeline.db.migrations import pipeline_schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("ops_pipeline_run", "ops_pipeline_lineage", "ops_pipeline_source_file")


def upgrade() -> None:
    conn = op.get_bind()
    schema = pipeline_schema(conn)
    if schema is not None:
        quote = conn.dialect.identifier_preparer.quote
        # Unqualified names: found through the search path (env.py: the pipeline's schema, then
        # public), where the old db init created them; a new database has them in place already.
        for table in TABLES:
            where = conn.execute(sa.text(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = to_regclass(:name)"), {"name": quote(table)}).scalar()
            if where != schema:
                op.execute(f"ALTER TABLE {quote(table)} SET SCHEMA {quote(schema)}")
    op.drop_table("ops_pipeline_schema")
    op.add_column("ops_pipeline_run", sa.Column("transaction_id", sa.BigInteger(), nullable=True), schema=schema)


def downgrade() -> None:
    conn = op.get_bind()
    schema = pipeline_schema(conn)
    op.drop_column("ops_pipeline_run", "transaction_id", schema=schema)
    table = op.create_table(
        "ops_pipeline_schema",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(table.insert().values(id=1, version=1, created_at=sa.func.now()))
    if schema is not None:
        quote = conn.dialect.identifier_preparer.quote
        current = conn.execute(sa.text("SELECT current_schema()")).scalar()
        for name in TABLES:
            op.execute(f"ALTER TABLE {quote(schema)}.{quote(name)} SET SCHEMA {quote(current)}")
