"""Connecting to the database: URL resolution, engines, schema creation and checks."""
from __future__ import annotations

import datetime as dt
import json
import os

from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from ..errors import DatabaseError, SchemaMissing, UsageError
from ..redact import redact_url
from ..rules.portfolios import SEEDED_PORTFOLIOS
from .models import SCHEMA_VERSION, Base, Division, Portfolio, SchemaInfo

ENV_URL = "OPS_PIPELINE_DB_URL"
DIVISIONS = {
    "DCFD": "Division of Child and Family Development",
    "DECONI": "Division of Economic Independence",
    "DFS": "Division of Family Strengthening",
    "OCDO": "Office of the Chief Data Officer",
    "OD": "Office of the Director",
}


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
    normalised by :func:`normalise_url`."""
    if url:
        return normalise_url(url)
    if env.get(ENV_URL):
        return normalise_url(env[ENV_URL])
    vcap = env.get("VCAP_SERVICES")
    if vcap:
        found = url_from_vcap(vcap)
        if found:
            return normalise_url(found)
    raise UsageError(
        "no database given", hint=f"pass --db URL or set {ENV_URL} (e.g. sqlite:///ops.db)"
    )


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
                             hint="e.g. sqlite:///ops.db or postgresql+psycopg://user:password@host/db")
        raise UsageError(f"{value!r} is not a database URL", hint=f"for a SQLite file use sqlite:///{value}")
    target = SCHEMES.get(scheme.lower())
    if target is None:
        shown = f" {scheme!r}" if scheme.isprintable() and "@" not in scheme and len(scheme) <= 40 else ""
        raise UsageError(f"unsupported database URL scheme{shown}",
                         hint=f"supported: {', '.join(f'{s}://' for s in SCHEMES)}")
    return f"{target}://{rest}"


def url_from_vcap(vcap: str) -> str | None:
    """The ``uri`` of the first ``aws-rds`` service in cloud.gov's VCAP_SERVICES, for SQLAlchemy."""
    try:
        services = json.loads(vcap)
    except ValueError:
        raise UsageError("VCAP_SERVICES is not valid JSON") from None
    for service in services.get("aws-rds", []) if isinstance(services, dict) else []:
        uri = (service.get("credentials") or {}).get("uri")
        if uri:
            for prefix in ("postgres://", "postgresql://"):
                if uri.startswith(prefix):
                    return "postgresql+psycopg://" + uri[len(prefix):]
            return uri
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


def _secrets(url: str) -> list[str]:
    """The secret values a URL carries: its password, and any password-like query option."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return []
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if any(word in key.lower() for word in ("password", "secret", "token", "key")):
            found.extend([value] if isinstance(value, str) else value)
    return [str(s) for s in found if s]


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
        _sqlite_pragmas(engine)
    return engine


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
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return DatabaseError(f"cannot use the {target}: {text[:300]}", hint=f"check --db / {ENV_URL}")


def init_schema(url: str) -> dict:
    """Create the tables and seed divisions and portfolios. Safe to run again."""
    engine = make_engine(url)
    created = []
    try:
        with engine.begin() as conn:
            existing = set(inspect(conn).get_table_names())
            Base.metadata.create_all(conn)
            created = [t for t in Base.metadata.sorted_tables if t.name not in existing]
            seeded = _seed(conn)
            info = conn.execute(select(SchemaInfo).where(SchemaInfo.id == 1)).first()
            if info is None:
                conn.execute(SchemaInfo.__table__.insert().values(
                    id=1, version=SCHEMA_VERSION, created_at=dt.datetime.now(dt.timezone.utc)))
            elif info.version < SCHEMA_VERSION:
                conn.execute(SchemaInfo.__table__.update().values(version=SCHEMA_VERSION))
    except (DBAPIError, SQLAlchemyError) as exc:
        raise connection_error(exc, url) from None
    finally:
        engine.dispose()
    return {"database": describe(url), "tables_created": [t.name for t in created],
            "seeded": seeded, "schema_version": SCHEMA_VERSION}


def _seed(conn) -> dict:
    divisions = {row.abbreviation: row.id for row in conn.execute(select(Division.abbreviation, Division.id))}
    added = {"division": 0, "portfolio": 0}
    for abbreviation, name in DIVISIONS.items():
        if abbreviation not in divisions:
            result = conn.execute(Division.__table__.insert().values(name=name, abbreviation=abbreviation))
            divisions[abbreviation] = result.inserted_primary_key[0]
            added["division"] += 1
    portfolios = set(conn.execute(select(Portfolio.abbreviation)).scalars())
    for portfolio in SEEDED_PORTFOLIOS:
        if portfolio.abbreviation not in portfolios:
            conn.execute(Portfolio.__table__.insert().values(
                name=portfolio.name, abbreviation=portfolio.abbreviation,
                division_id=divisions[portfolio.division]))
            added["portfolio"] += 1
    return added


def check_schema(conn) -> None:
    """Refuse clearly when the schema is missing or older than this code expects."""
    names = set(inspect(conn).get_table_names())
    if SchemaInfo.__tablename__ not in names:
        raise SchemaMissing(
            "the database has no ops-pipeline schema", hint="create it with: ops-pipeline db init --db URL"
        )
    version = conn.execute(select(SchemaInfo.version).where(SchemaInfo.id == 1)).scalar()
    if version is None or version < SCHEMA_VERSION:
        raise SchemaMissing(
            f"the database schema is version {version}, this ops-pipeline needs {SCHEMA_VERSION}",
            hint="upgrade it with: ops-pipeline db init --db URL",
        )
    if version > SCHEMA_VERSION:
        raise SchemaMissing(
            f"the database schema is version {version}, newer than this ops-pipeline ({SCHEMA_VERSION})",
            hint="upgrade ops-pipeline",
        )
