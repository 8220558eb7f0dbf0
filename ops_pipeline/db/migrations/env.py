"""Alembic's environment for the pipeline's migrations, configured in code.

The caller (:func:`ops_pipeline.db.migrations.upgrade`) hands over an open connection in
``config.attributes["connection"]``; the migrations run inside its transaction.
"""
from alembic import context
from sqlalchemy import text

from ops_pipeline.db.migrations import VERSION_TABLE, pipeline_schema
from ops_pipeline.db.models import Base

connection = context.config.attributes["connection"]
schema = pipeline_schema(connection)
if schema is not None:
    # The version table lives in the pipeline's schema, so that comes first. Looked up before
    # creating: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when it exists.
    exists = connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :name"),
                                {"name": schema}).first()
    if not exists:
        connection.execute(text(f"CREATE SCHEMA {connection.dialect.identifier_preparer.quote_schema(schema)}"))
    # Unqualified names in the revisions find the pipeline's schema first, then the default one
    # (where a pre-migration db init left its tables). Never "$user": a role named ops would
    # otherwise create the pipeline's tables in OPS's schema (or be refused there).
    quoted = connection.dialect.identifier_preparer.quote_schema(schema)
    connection.execute(text(f"SET LOCAL search_path TO {quoted}, public"))

context.configure(connection=connection, target_metadata=Base.metadata,
                  version_table=VERSION_TABLE, version_table_schema=schema)
with context.begin_transaction():
    context.run_migrations()
