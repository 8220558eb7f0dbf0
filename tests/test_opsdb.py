"""The OPS test databases (tests/opsdb.py) load OPS's dump the same way with or without psql."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.postgres


def _counts(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return (conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'ops'")).scalar(),
                    conn.execute(text("SELECT count(*) FROM ops.portfolio_version")).scalar(),
                    conn.execute(text("SELECT last_value FROM ops.transaction_id_seq")).scalar())
    finally:
        engine.dispose()


def test_the_dump_loads_through_psycopg_when_there_is_no_psql(ops_databases, ops_pg, monkeypatch):
    from tests.opsdb import INITIAL_DATA_SQL, SCHEMA_SQL

    name = "ops_t_no_psql"
    ops_databases.drop(name)
    ops_databases._execute(f'CREATE DATABASE "{name}"')
    try:
        monkeypatch.setattr(ops_databases, "_psql", lambda: None)
        for path in (SCHEMA_SQL, INITIAL_DATA_SQL):
            ops_databases.run_sql_file(name, path)
        assert _counts(ops_databases.admin_url(name)) == _counts(ops_pg.admin_url) == (136, 10, 1)
    finally:
        ops_databases.drop(name)
