"""Connecting to the database: URL resolution, engines, schema creation and checks.

The pipeline's own tables are created and upgraded by the Alembic migrations in
``ops_pipeline/db/migrations`` (:func:`upgrade_schema`); :func:`check_schema` refuses a database
whose pipeline schema is not at their head.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import unquote

from sqlalchemy import create_engine, event, func, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from ..errors import DatabaseError, SchemaMissing, UsageError
from .. import vcap
from ..redact import known_secrets, redact_url, remember_url, scrub_secrets, scrub_text
from .models import PIPELINE_SCHEMA

ENV_URL = "OPS_PIPELINE_DB_URL"
#: SQLite has no schemas: OPS's (``ops``) and the pipeline's (``ops_pipeline``) map to none there.
SQLITE_SCHEMA_MAP = {"ops": None, PIPELINE_SCHEMA: None}


#: URL schemes the installed drivers serve, and the scheme SQLAlchemy gets for each: cloud.gov and
#: Heroku print postgres://, which SQLAlchemy no longer knows, and a bare postgresql:// would ask
#: for psycopg2, which is not installed.
SCHEMES = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
}


def resolve_url(url: str | None = None, env=os.environ) -> str:
    """The database URL: the option, else ``OPS_PIPELINE_DB_URL``, else cloud.gov's VCAP_SERVICES;
    normalised by :func:`normalise_url`. Its secrets are masked in every message from now on
    (:func:`ops_pipeline.redact.remember_url`)."""
    found = url or env.get(ENV_URL) or url_from_vcap(env.get(vcap.ENV_NAME))
    if not found:
        raise UsageError(
            "no database given", hint=f"pass --db URL or set {ENV_URL} (e.g. sqlite:///ops.db)"
        )
    remember_url(found)
    return normalise_url(found)


def normalise_url(url: str) -> str:
    """``url`` with the scheme SQLAlchemy needs for it (``postgres://`` → ``postgresql+psycopg://``).

    Raises :class:`UsageError` for a value that is not a URL (a file name such as ``ops.db``) or
    whose scheme no installed driver serves; the message never shows a password.
    """
    value = url.strip()
    scheme, sep, rest = value.partition("://")
    if not sep:
        # Echo the value only when it cannot hold a password (user:password@host) and is one
        # printable line of a sane length.
        if "@" in value or not value or not value.isprintable() or len(value) > 200:
            raise UsageError("the database is not given as a URL",
                             hint="e.g. sqlite:///ops.db or postgresql+psycopg://host/db")
        raise UsageError(f"{value!r} is not a database URL", hint=f"for a SQLite file use sqlite:///{value}")
    target = SCHEMES.get(scheme.lower())
    if target is None:
        shown = f" {scheme!r}" if scheme.isprintable() and "@" not in scheme and len(scheme) <= 40 else ""
        raise UsageError(f"unsupported database URL scheme{shown}",
                         hint=f"supported: {', '.join(f'{s}://' for s in SCHEMES)}")
    return f"{target}://{rest}"


def url_from_vcap(document: str | None) -> str | None:
    """The ``uri`` of the first ``aws-rds`` service in a VCAP_SERVICES document, for SQLAlchemy."""
    for service in vcap.services("aws-rds", {vcap.ENV_NAME: document or ""}):
        credentials = service.get("credentials")
        uri = credentials.get("uri") if isinstance(credentials, dict) else None
        if uri and isinstance(uri, str):
            return normalise_url(uri)
    return None


def describe(url: str) -> dict:
    """Which database, for reports and logs: dialect, host and database name, never the password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return {"url": redact_url(url)}
    return {
        "dialect": parsed.get_backend_name(),
        "host": parsed.host,
        "port": parsed.port,
        "database": parsed.database,
        "url": redact_url(parsed.render_as_string(hide_password=True)),
    }


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(f"not a database URL: {redact_url(url)}") from None
    kwargs: dict = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 10)
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise UsageError(f"no driver for {parsed.drivername}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        _create_private_sqlite_file(parsed)
        _sqlite_pragmas(engine)
        engine = engine.execution_options(schema_translate_map=SQLITE_SCHEMA_MAP)
    return engine


#: A new SQLite database file is private: it holds the data as it is, PII columns included.
SQLITE_FILE_MODE = 0o600


def _create_private_sqlite_file(parsed) -> None:
    """Create the SQLite database file 0600 (whatever the umask) before SQLite opens it.

    SQLite creates its rollback journal, WAL and shared-memory files (``-journal``, ``-wal``,
    ``-shm``) with the permissions of the database file, so they are private too. An existing
    file keeps its mode: the operator chose it.
    """
    database = parsed.database or ""
    if parsed.query.get("uri") in ("true", "1"):  # a URI filename: file:path?mode=...
        if database.startswith("file:"):  # else SQLite takes it as an ordinary file name
            database, _, options = database.partition("?")
            if "mode=memory" in options:
                return
            database = unquote(database[len("file:"):])
            if database.startswith("//"):  # file://localhost/path or file:///path
                database = "/" + database[2:].partition("/")[2]
    if not database or database.startswith(":memory:"):
        return
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     SQLITE_FILE_MODE)
    except FileExistsError:
        return
    except OSError:  # no such folder, not writable...: SQLite says so when it connects
        return
    try:
        os.fchmod(fd, SQLITE_FILE_MODE)
    finally:
        os.close(fd)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy issue BEGIN itself, so the whole load is one transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # IMMEDIATE takes the write lock at once: a second loader waits instead of deadlocking.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def connection_error(exc: BaseException, url: str) -> DatabaseError:
    """A one-line error for a database failure, without the password or the SQL."""
    where = describe(url)
    target = f"{where.get('dialect', 'database')} at {where.get('host') or where.get('database') or '?'}"
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    text = scrub_secrets(scrub_text(text), known_secrets(urls=(url,)))
    return DatabaseError(f"cannot use the {target}: {text[:300]}", hint=f"check --db / {ENV_URL}")


@contextmanager
def connected(url: str) -> Iterator[Connection]:
    """A connection to ``url`` (its engine disposed after): a database failure inside the block
    becomes the one-line :func:`connection_error`, never a traceback or the password."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise connection_error(exc, url) from None
    finally:
        engine.dispose()


def upgrade_schema(url: str) -> dict:
    """Create the pipeline's tables, or upgrade them to the newest revision, in one transaction.

    Safe to run again: at the head it changes nothing. A database made by ``db init`` before the
    migrations existed is recognised and upgraded with its rows.
    """
    from . import migrations

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            before, after = migrations.upgrade(conn)
    except (DBAPIError, SQLAlchemyError) as exc:
        raise connection_error(exc, url) from None
    finally:
        engine.dispose()
    return {"database": describe(url), "from_revision": before, "to_revision": after,
            "changed": before != after}


def init_schema(url: str) -> dict:
    """``db upgrade``, and on SQLite the OPS tables the loader writes, with their reference rows.

    Safe to run again. On PostgreSQL the OPS tables are OPS's: nothing beyond the pipeline's own
    schema is created. ``seeded`` counts the reference rows (divisions, portfolios) this call added.
    """
    sqlite = make_url(url).get_backend_name() == "sqlite"
    before = _reference_rows(url) if sqlite else {}
    result = upgrade_schema(url)
    seeded = {"division": 0, "portfolio": 0}
    if sqlite:
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                _init_ops_subset(conn)
        except (DBAPIError, SQLAlchemyError) as exc:
            raise connection_error(exc, url) from None
        finally:
            engine.dispose()
        after = _reference_rows(url)
        seeded = {name: after[name] - before.get(name, 0) for name in after}
    return {**result, "seeded": seeded}


def _init_ops_subset(conn) -> None:
    """On SQLite, the embedded default: the OPS tables the loader writes, as the package declares
    them (ops_pipeline.db.ops_models), with OPS's reference rows (safe to run again)."""
    from .ops_models import create_subset

    create_subset(conn)


def _reference_rows(url: str) -> dict:
    """How many divisions and portfolios a SQLite database holds (0 where the table is missing)."""
    from .ops_models import Division, Portfolio

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            existing = set(inspect(conn).get_table_names())
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() if t.name in existing else 0
                    for t in (Division.__table__, Portfolio.__table__)}
    except (DBAPIError, SQLAlchemyError) as exc:
        raise connection_error(exc, url) from None
    finally:
        engine.dispose()


def schema_status(url: str) -> dict:
    """Which revision of the pipeline's schema the database has, and whether it is the head."""
    from . import migrations

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            revision = migrations.status(conn)
    except (DBAPIError, SQLAlchemyError) as exc:
        raise connection_error(exc, url) from None
    finally:
        engine.dispose()
    return {"database": describe(url), "revision": revision.current, "head": revision.head,
            "is_head": revision.is_head, "legacy": revision.legacy, "known": revision.known}


UPGRADE_HINT = "upgrade it with: ops-pipeline db upgrade --db URL"


def schema_problem(revision) -> SchemaMissing | None:
    """The error for a database whose pipeline schema is not at the head (None when it is)."""
    if revision.is_head:
        return None
    if revision.legacy:
        return SchemaMissing("the database's ops-pipeline schema predates its migrations "
                             f"(this ops-pipeline needs revision {revision.head})", hint=UPGRADE_HINT)
    if revision.current is None:
        return SchemaMissing("the database has no ops-pipeline schema",
                             hint="create it with: ops-pipeline db init --db URL")
    if not revision.known:
        return SchemaMissing(f"the database's ops-pipeline schema is at revision {revision.current}, "
                             "which this ops-pipeline does not know", hint="upgrade ops-pipeline")
    return SchemaMissing(f"the database's ops-pipeline schema is at revision {revision.current}, "
                         f"this ops-pipeline needs {revision.head}", hint=UPGRADE_HINT)


def check_schema(conn) -> None:
    """Refuse clearly when the pipeline's schema is missing or not at the newest revision."""
    from . import migrations

    problem = schema_problem(migrations.status(conn))
    if problem is not None:
        raise problem
