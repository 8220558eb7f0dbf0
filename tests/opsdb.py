"""OPS databases for the PostgreSQL tests, built from OPS's own schema dump.

The pipeline never creates OPS's tables on PostgreSQL; OPS's migrations do. The tests stand in for
them with the repository's copy of the migrated schema (``tests/ops_schema/ops_schema.sql``) and
OPS's reference rows (``ops_initial_data.sql``), loaded by the admin role exactly as a DBA would:
``psql -v ON_ERROR_STOP=1 -f``. The app role (the user of ``OPS_PIPELINE_TEST_PG_URL``) gets only
what the pipeline's role gets in production: USAGE on schema ``ops``, SELECT/INSERT/UPDATE on its
tables, USAGE/SELECT/UPDATE on its sequences and CREATE on the database (for schema
``ops_pipeline``). It owns none of OPS's tables, so it cannot alter, drop or truncate them.

Building the schema takes seconds, so it is done once per test session into a template database;
each test gets a copy (``CREATE DATABASE ... TEMPLATE``), which takes a fraction of that.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from sqlalchemy.engine import URL, make_url

OPS_SCHEMA_DIR = Path(__file__).resolve().parent / "ops_schema"
SCHEMA_SQL = OPS_SCHEMA_DIR / "ops_schema.sql"
INITIAL_DATA_SQL = OPS_SCHEMA_DIR / "ops_initial_data.sql"


class OpsDatabases:
    """Makes OPS databases on one server: a template built once, then a copy per test."""

    def __init__(self, app_url: str, admin_url: str | None = None, bindir: str | None = None) -> None:
        self.app = make_url(app_url)
        self.admin = make_url(admin_url) if admin_url else self.app.set(database="postgres")
        self.bindir = bindir
        self.app_role = self.app.username
        self.template = f"ops_template_{secrets.token_hex(4)}"
        # No pool: a test that stops and restarts the server must not leave dead connections here.
        self._admin_engine = create_engine(self.admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._built = False

    # -- the template ---------------------------------------------------------------------------

    def build_template(self) -> str:
        """Create the template database from the two SQL files, grant the app role, return its name."""
        if self._built:
            return self.template
        self._execute(f'CREATE DATABASE "{self.template}"')
        try:
            for path in (SCHEMA_SQL, INITIAL_DATA_SQL):
                self.run_sql_file(self.template, path)
            self.grant_app_role(self.template)
        except BaseException:
            self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            raise
        self._built = True
        return self.template

    def grant_app_role(self, database: str) -> None:
        """What the pipeline's role may do in OPS's schema: read and write rows, take ids, nothing more."""
        role = self._quote_role()
        engine = create_engine(self.admin.set(database=database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f"GRANT USAGE ON SCHEMA ops TO {role}"))
                conn.execute(text(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ops TO {role}"))
                conn.execute(text(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ops TO {role}"))
        finally:
            engine.dispose()

    def run_sql_file(self, database: str, path: Path) -> None:
        """Run an SQL file as the admin role: psql when there is one (as OPS's docs do), else psycopg."""
        psql = self._psql()
        if psql:
            url = self.admin.set(database=database)
            env = dict(os.environ, PGPASSWORD=url.password or "", PGCONNECT_TIMEOUT="10")
            args = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", url.host or "localhost",
                    "-p", str(url.port or 5432), "-U", url.username or "postgres", "-d", database,
                    "-f", str(path)]
            done = subprocess.run(args, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"psql -f {path.name} failed ({done.returncode}): {done.stderr.strip()}")
            return
        import psycopg

        sql = path.read_text(encoding="utf-8")
        with psycopg.connect(self._libpq(database), autocommit=True) as conn:
            conn.execute(sql)  # no parameters: psycopg sends the script as one simple query

    # -- per-test copies ------------------------------------------------------------------------

    def pipeline_template(self) -> str:
        """A second template: OPS's database plus the pipeline's own schema, made by ``db init`` as
        the app role (once per session: the Alembic upgrade is then not repeated per test)."""
        if getattr(self, "_pipeline_template", None) is None:
            from ops_pipeline.db.engine import init_schema

            name = f"{self.template}_pipeline"
            init_schema(self.create(name))
            self._pipeline_template = name
        return self._pipeline_template

    def create(self, name: str | None = None, template: str | None = None) -> str:
        """A fresh copy of the template (or of ``template``), owned by the admin role; returns the app
        role's URL for it."""
        self.build_template()
        name = name or f"ops_t_{secrets.token_hex(4)}"
        # FILE_COPY (PostgreSQL 15+) copies the files after a checkpoint, which fsync=off makes cheap;
        # the default copies block by block through the WAL and measured slower here.
        strategy = " STRATEGY FILE_COPY" if self._server_version() >= 150000 else ""
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or self.template}"{strategy}')
        self._execute(f'GRANT CONNECT, CREATE ON DATABASE "{name}" TO {self._quote_role()}')
        return self.app.set(database=name).render_as_string(hide_password=False)

    def admin_url(self, database: str) -> str:
        """The admin role's URL for ``database`` (to break a copy of OPS on purpose, say)."""
        return self.admin.set(database=database).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if getattr(self, "_pipeline_template", None):
            self.drop(self._pipeline_template)
            self._pipeline_template = None
        if self._built:
            self.drop(self.template)
            self._built = False
        self._admin_engine.dispose()

    # -- helpers --------------------------------------------------------------------------------

    def _execute(self, sql: str) -> None:
        with self._admin_engine.connect() as conn:
            conn.execute(text(sql))

    def _server_version(self) -> int:
        with self._admin_engine.connect() as conn:
            return int(conn.execute(text("SHOW server_version_num")).scalar())

    def _quote_role(self) -> str:
        return self._admin_engine.dialect.identifier_preparer.quote(self.app_role)

    def _psql(self) -> str | None:
        if self.bindir and (Path(self.bindir) / "psql").exists():
            return str(Path(self.bindir) / "psql")
        return shutil.which("psql")

    def _libpq(self, database: str) -> str:
        url: URL = self.admin.set(drivername="postgresql", database=database)
        return url.render_as_string(hide_password=False)


def initial_rows(table: str) -> list[dict]:
    """The rows ``ops_initial_data.sql`` inserts into ``ops.<table>``, as column -> Python value.

    Reads pg_dump's ``--column-inserts`` output: one ``INSERT INTO ops.t (cols) VALUES (...);`` per
    row, values being quoted strings (``''`` for a quote, newlines kept), numbers, NULL, true/false.
    """
    sql = INITIAL_DATA_SQL.read_text(encoding="utf-8")
    head = re.compile(r"^INSERT INTO ops\.(\w+) \(([^)]*)\) VALUES \(", re.M)
    rows = []
    for match in head.finditer(sql):
        if match.group(1) != table:
            continue
        columns = [c.strip() for c in match.group(2).split(",")]
        values, pos = _values(sql, match.end())
        if sql[pos:pos + 2] != ");":
            raise ValueError(f"unexpected text after the values of an INSERT into {table}: {sql[pos:pos + 20]!r}")
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _values(sql: str, pos: int) -> tuple[list, int]:
    values: list = []
    while True:
        if sql[pos] == "'":
            end, parts = pos + 1, []
            while True:
                quote = sql.index("'", end)
                parts.append(sql[end:quote])
                if sql[quote + 1:quote + 2] == "'":
                    parts.append("'")
                    end = quote + 2
                    continue
                break
            values.append("".join(parts))
            pos = quote + 1
        elif sql.startswith("NULL", pos):
            values.append(None)
            pos += 4
        elif sql.startswith("true", pos) or sql.startswith("false", pos):
            values.append(sql.startswith("true", pos))
            pos += 4 if values[-1] else 5
        else:
            number = _NUMBER.match(sql, pos)
            if not number:
                raise ValueError(f"cannot read an SQL value at {sql[pos:pos + 20]!r}")
            values.append(float(number.group()) if number.group(1) else int(number.group()))
            pos = number.end()
        if sql.startswith(", ", pos):
            pos += 2
            continue
        return values, pos
