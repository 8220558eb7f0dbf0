"""The pipeline's own schema (runs, lineage, the source-file ledger) as Alembic migrations.

The migrations ship in the package and are configured here, in code: no ``alembic.ini`` is read
at run time. Alembic records the revision in ``ops_pipeline.ops_pipeline_version`` on PostgreSQL
(``ops_pipeline_version`` on SQLite), never in OPS's own ``ops.alembic_version``.

A database made by ``db init`` before the migrations existed (commit a0276dc) has the table
``ops_pipeline_schema`` holding version 1 and no version table: :func:`upgrade` recognises it as
the baseline revision and stamps it before upgrading.

Every function works on the caller's connection, inside its transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from ..models import PIPELINE_SCHEMA

#: Alembic's version table for the pipeline's revisions.
VERSION_TABLE = "ops_pipeline_version"
#: The revision that is the schema ``db init`` created before migrations (commit a0276dc).
BASELINE = "0001"
#: That schema's own version marker (one row, version 1), dropped by revision 0002.
LEGACY_TABLE = "ops_pipeline_schema"
LEGACY_VERSION = 1
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Revision:
    """Where a database's pipeline schema stands."""

    current: str | None  #: the stored revision; None when there is none (empty or legacy)
    head: str  #: the newest revision this ops-pipeline knows
    legacy: bool = False  #: made by a ``db init`` from before the migrations
    known: bool = True  #: ``current`` is one of this ops-pipeline's revisions

    @property
    def is_head(self) -> bool:
        return self.current == self.head


def pipeline_schema(conn: Connection) -> str | None:
    """The schema of the pipeline's tables on ``conn``: ``ops_pipeline``, or None where the
    connection maps it away (SQLite engines from ``make_engine``) or the database has no schemas."""
    mapping = conn.get_execution_options().get("schema_translate_map") or {}
    if PIPELINE_SCHEMA in mapping:
        return mapping[PIPELINE_SCHEMA]
    return None if conn.dialect.name == "sqlite" else PIPELINE_SCHEMA


def _config(conn: Connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = conn
    return config


def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(HERE))


def head() -> str:
    """The newest revision of the pipeline's schema."""
    return _scripts().get_current_head()


def _stored(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE,
                                                     "version_table_schema": pipeline_schema(conn)})
    return context.get_current_revision()


def _legacy_version(conn: Connection) -> int | None:
    """The version in a pre-migration database's ``ops_pipeline_schema`` (None: no such table)."""
    if not inspect(conn).has_table(LEGACY_TABLE):
        return None
    quoted = conn.dialect.identifier_preparer.quote(LEGACY_TABLE)
    return conn.execute(text(f"SELECT max(version) FROM {quoted}")).scalar() or 0


def status(conn: Connection) -> Revision:
    """Where the database's pipeline schema stands; reads only."""
    scripts = _scripts()
    newest = scripts.get_current_head()
    current = _stored(conn)
    if current is None:
        return Revision(None, newest, legacy=_legacy_version(conn) is not None)
    known = any(script.revision == current for script in scripts.walk_revisions())
    return Revision(current, newest, known=known)


def upgrade(conn: Connection, target: str = "heads") -> tuple[str | None, str]:
    """Create or upgrade the pipeline's schema to ``target``; returns (from, to) revisions.

    Runs on ``conn`` inside its transaction, so a failed step leaves the database as it was.
    """
    from alembic import command
    from alembic.util import CommandError

    from ...errors import SchemaMissing

    if conn.dialect.name == "postgresql":
        # Two upgrades at once (two app instances starting): the second waits, then finds the head.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "ops_pipeline migrations"})
    before = status(conn)
    config = _config(conn)
    if not before.known:
        raise SchemaMissing(f"the database's ops-pipeline schema is at revision {before.current}, "
                            "which this ops-pipeline does not know", hint="upgrade ops-pipeline")
    if before.legacy:
        version = _legacy_version(conn)
        if version != LEGACY_VERSION:
            raise SchemaMissing(f"the database's ops-pipeline schema has version {version}, not "
                                f"{LEGACY_VERSION}, and no migration revision",
                                hint="restore it from a backup or create a new database")
        command.stamp(config, BASELINE)
    try:
        command.upgrade(config, target)
    except CommandError as exc:  # Alembic's own refusals (an unknown target...): one line, no traceback
        raise SchemaMissing(f"cannot upgrade the ops-pipeline schema: {str(exc).splitlines()[0][:200]}") from None
    return (BASELINE if before.legacy else before.current), _stored(conn)
