"""The pipeline's own schema under Alembic: a database made by ``db init`` at commit a0276dc (before
migrations) is upgraded with its rows; an empty one is created at the head; ``db current`` and a
load refuse a database behind the head.

The a0276dc databases are built from ``tests/data/schema_a0276dc.*.sql``: the DDL that commit's
own ``init_schema`` created, dumped from ``sqlite_master`` and by ``pg_dump --schema-only``.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from ops_pipeline.cli import cli
from ops_pipeline.db import migrations
from ops_pipeline.db.engine import ENV_URL, make_engine, schema_status, upgrade_schema
from ops_pipeline.db.models import Base, Lineage, PipelineRun, SourceFile

from .test_db_engine import staged_run

DATA = Path(__file__).resolve().parent / "data"
PIPELINE_TABLES = {"ops_pipeline_run", "ops_pipeline_lineage", "ops_pipeline_source_file"}
LOOKALIKE_TABLES = {"division", "portfolio", "project", "can", "agreement", "budget_line_item", "procurement_shop"}
HEAD = "0003"


def invoke(*args: str):
    env = {ENV_URL: None, "VCAP_SERVICES": None, "OPS_PIPELINE_DEBUG": None}
    return CliRunner().invoke(cli, ["-q", *args], env=env, catch_exceptions=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ops.db'}"
    return request.getfixturevalue("ops_pg_url")  # OPS's database, without the pipeline's schema


# -- a database from a0276dc, with data ------------------------------------------------------------

STARTED = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone.utc)
RUNS = [
    {"id": "20260301T093000Z-aaaa", "dataset": "budget_workbook", "source": "/data/budget.xlsx",
     "file_sha256": "a" * 64, "staged_sha256": "b" * 64, "status": "loaded",
     "counts": {"budget_line_item": {"inserted": 2, "updated": 0, "unchanged": 0}}},
    {"id": "20260302T093000Z-bbbb", "dataset": "budget_workbook", "source": "s3://bucket/in/budget.xlsx",
     "file_sha256": "c" * 64, "staged_sha256": "d" * 64, "status": "loaded", "counts": {}},
]
LINEAGE = [  # (id, run, entity, entity_id, sheet, rows)
    (1, RUNS[0]["id"], "budget_line_item", 11, "All Budget - Cur", "[3]"),
    (2, RUNS[0]["id"], "budget_line_item", 12, "All Budget - Cur", "[4, 9]"),
    (3, RUNS[1]["id"], "can", 5, None, "[2]"),
]
SOURCE_FILES = [  # (id, location, version_key, version_id, etag, size, sha256, run_id, outcome)
    (1, "s3://bucket/in/budget.xlsx", "v1", "v1", '"e1"', 1234, "c" * 64, RUNS[1]["id"], "succeeded"),
    (2, "s3://bucket/in/broken.xlsx", '"e2"', None, '"e2"', 99, None, None, "invalid"),
]


def _insert_old_rows(conn) -> None:
    """Rows as the a0276dc code wrote them: its version marker, runs, lineage, the ledger, and a
    look-alike division that must survive the upgrade untouched."""
    conn.execute(text("INSERT INTO ops_pipeline_schema (id, version, created_at) VALUES (1, 1, :at)"),
                 {"at": STARTED})
    for run in RUNS:
        conn.execute(text("INSERT INTO ops_pipeline_run (id, dataset, source, file_sha256, staged_sha256, status, "
                          "counts, started_at, finished_at) VALUES (:id, :dataset, :source, :file_sha256, "
                          ":staged_sha256, :status, :counts, :at, :at)"),
                     {**run, "counts": json.dumps(run["counts"]), "at": STARTED})
    # Ids from the tables' own id sequences (PostgreSQL), which must still serve them afterwards.
    for row in LINEAGE:
        conn.execute(text("INSERT INTO ops_pipeline_lineage (run_id, entity, entity_id, file_sha256, sheet, rows) "
                          "VALUES (:run, :entity, :entity_id, :sha, :sheet, :rows)"),
                     dict(zip(("id", "run", "entity", "entity_id", "sheet", "rows"), row), sha="a" * 64))
    for row in SOURCE_FILES:
        conn.execute(text("INSERT INTO ops_pipeline_source_file (location, version_key, version_id, etag, size, "
                          "sha256, run_id, outcome, first_seen_at) VALUES (:location, :key, :vid, :etag, "
                          ":size, :sha, :run, :outcome, :at)"),
                     dict(zip(("id", "location", "key", "vid", "etag", "size", "sha", "run", "outcome"), row),
                          at=STARTED))
    # (qualified on PostgreSQL, where the role named ops finds OPS's own division first)
    schema = "public." if conn.dialect.name == "postgresql" else ""
    conn.execute(text(f"INSERT INTO {schema}division (id, name, abbreviation) VALUES (7, 'Old Division', 'OLD')"))


def _a0276dc_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:
        con.executescript((DATA / "schema_a0276dc.sqlite.sql").read_text())
    return f"sqlite:///{path}"


def _may_create_in_public(ops_pg) -> str:
    """The app role's URL, with CREATE on schema public: where a0276dc's db init created its tables
    (PostgreSQL 15 grants it only to the database owner)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    admin = create_engine(ops_pg.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            role = conn.dialect.identifier_preparer.quote(make_url(ops_pg.url).username)
            conn.execute(text(f"GRANT CREATE ON SCHEMA public TO {role}"))
    finally:
        admin.dispose()
    return ops_pg.url


def _a0276dc_postgres(url: str) -> str:
    # pg_dump's psql meta-commands (\restrict) are for psql; the rest is plain SQL.
    script = "\n".join(line for line in (DATA / "schema_a0276dc.pg.sql").read_text().splitlines()
                       if not line.startswith("\\"))
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(script)
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_url(request, tmp_path) -> str:
    """A database as ``db init`` made it at a0276dc, holding rows."""
    url = (_a0276dc_sqlite(tmp_path) if request.param == "sqlite"
           else _a0276dc_postgres(_may_create_in_public(request.getfixturevalue("ops_pg"))))
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            assert migrations.status(conn).legacy
            _insert_old_rows(conn)
    finally:
        engine.dispose()
    return url


def _tables_by_schema(conn) -> dict[str | None, set[str]]:
    # On PostgreSQL None is schema public: the role named ops would see OPS's schema by default.
    found = {None: set(inspect(conn).get_table_names(schema="public" if conn.dialect.name == "postgresql" else None))}
    if conn.dialect.name == "postgresql":
        found["ops_pipeline"] = set(inspect(conn).get_table_names(schema="ops_pipeline"))
    return found


def test_a_database_from_a0276dc_upgrades_to_head_and_keeps_every_row(old_url):
    assert schema_status(old_url)["legacy"] is True
    result = upgrade_schema(old_url)
    assert (result["from_revision"], result["to_revision"], result["changed"]) == ("0001", HEAD, True)

    engine = make_engine(old_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(select(PipelineRun).order_by(PipelineRun.id)).all()
            assert [(r.id, r.source, r.file_sha256, r.status, r.counts, r.transaction_id) for r in runs] == [
                (run["id"], run["source"], run["file_sha256"], run["status"], run["counts"], None) for run in RUNS]
            assert {r.started_at.replace(tzinfo=r.started_at.tzinfo or dt.timezone.utc) for r in runs} == {STARTED}
            lineage = conn.execute(select(Lineage.id, Lineage.run_id, Lineage.entity, Lineage.entity_id,
                                          Lineage.sheet, Lineage.rows).order_by(Lineage.id)).all()
            assert [tuple(r) for r in lineage] == LINEAGE
            ledger = conn.execute(select(SourceFile.id, SourceFile.location, SourceFile.version_key,
                                         SourceFile.version_id, SourceFile.etag, SourceFile.size, SourceFile.sha256,
                                         SourceFile.run_id, SourceFile.outcome).order_by(SourceFile.id)).all()
            assert [tuple(r) for r in ledger] == SOURCE_FILES
            # the schema really changed
            tables = _tables_by_schema(conn)
            assert "ops_pipeline_schema" not in tables[None]
            assert "transaction_id" in {c["name"] for c in inspect(conn).get_columns(
                "ops_pipeline_run", schema=migrations.pipeline_schema(conn))}
            if conn.dialect.name == "postgresql":
                assert LOOKALIKE_TABLES <= tables[None]  # not ours to drop
                assert conn.execute(text("SELECT name FROM public.division WHERE id = 7")).scalar() == "Old Division"
            else:  # the look-alike tables holding rows are kept whole; OPS's subset takes their names
                assert "ops_pipeline_legacy_division" in tables[None]
                assert conn.execute(text("SELECT name FROM ops_pipeline_legacy_division WHERE id = 7")).scalar() \
                    == "Old Division"
                assert conn.execute(text("SELECT abbreviation FROM division WHERE id = 7")).scalar() == "OTHER"
            if conn.dialect.name == "postgresql":
                assert PIPELINE_TABLES | {"ops_pipeline_version"} == tables["ops_pipeline"]
                assert PIPELINE_TABLES & tables[None] == set()
                assert "alembic_version" not in tables[None]
        # the id sequences moved with their tables: a new row takes the next id
        with engine.begin() as conn:
            new_id = conn.execute(Lineage.__table__.insert().values(
                run_id=RUNS[1]["id"], entity="can", entity_id=6, file_sha256="c" * 64, rows="[3]")).inserted_primary_key[0]
            assert new_id == len(LINEAGE) + 1
    finally:
        engine.dispose()
    current = invoke("db", "current", "--db", old_url)
    assert current.exit_code == 0 and current.stdout.startswith(f"{HEAD} (head) in ")


def test_a_load_refuses_a_database_from_a0276dc_until_it_is_upgraded(old_url, runs_root, tmp_path):
    run = staged_run(runs_root, tmp_path)
    refused = invoke("load", str(run.path), "--db", old_url)
    assert refused.exit_code == 3
    assert refused.stderr == (f"error: load: the database's ops-pipeline schema predates its migrations (this "
                              f"ops-pipeline needs revision {HEAD}) (hint: upgrade it with: ops-pipeline db "
                              "upgrade --db URL)\n")
    upgraded = invoke("db", "upgrade", "--db", old_url)
    assert upgraded.exit_code == 0
    assert upgraded.stderr.startswith(f"schema upgraded from 0001 to {HEAD} in ")
    assert invoke("load", str(run.path), "--db", old_url).exit_code == 0


# -- an empty database ---------------------------------------------------------------------------------

def _schema_snapshot(url: str) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            # On PostgreSQL None stands for public (the role named ops sees OPS's schema by default).
            schemas = {None: "public", "ops_pipeline": "ops_pipeline"} if conn.dialect.name == "postgresql" \
                else {None: None}
            return {(key, table): sorted((c["name"], str(c["type"]), c["nullable"])
                                         for c in inspector.get_columns(table, schema=schema))
                    for key, schema in schemas.items() for table in inspector.get_table_names(schema=schema)}
    finally:
        engine.dispose()


def test_upgrade_from_empty_reaches_head_and_a_second_upgrade_changes_nothing(empty_url):
    first = invoke("db", "upgrade", "--db", empty_url)
    assert first.exit_code == 0, first.output
    assert first.stderr.startswith(f"schema upgraded from nothing to {HEAD} in ")
    snapshot = _schema_snapshot(empty_url)
    second = invoke("db", "upgrade", "--db", empty_url, "--json")
    assert second.exit_code == 0
    data = json.loads(second.stdout)
    assert (data["from_revision"], data["to_revision"], data["changed"]) == (HEAD, HEAD, False)
    assert _schema_snapshot(empty_url) == snapshot
    current = invoke("db", "current", "--db", empty_url)
    assert current.exit_code == 0
    assert current.stdout.startswith(f"{HEAD} (head) in ")
    assert migrations.head() == HEAD


def test_on_postgres_the_pipeline_creates_only_its_own_schema(empty_url):
    upgrade_schema(empty_url)
    tables = _schema_snapshot(empty_url)
    if make_url(empty_url).get_backend_name() == "postgresql":
        assert {table for schema, table in tables if schema is None} == set()
        assert {table for schema, table in tables if schema == "ops_pipeline"} == PIPELINE_TABLES | {
            "ops_pipeline_version"}
    else:  # SQLite: the OPS subset the loads write (OPS's tables, as the package declares them)
        from ops_pipeline.db.ops_models import OpsBase

        ops_tables = {table.name for table in OpsBase.metadata.sorted_tables}
        assert {table for _, table in tables} == PIPELINE_TABLES | ops_tables | {"ops_pipeline_version"}


@pytest.mark.postgres
def test_the_migrations_make_exactly_the_models_tables(pg_url):
    """Alembic's own comparison of the head schema with ``Base.metadata``: nothing to add or drop."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    upgrade_schema(pg_url)
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "include_schemas": True, "version_table": migrations.VERSION_TABLE,
                "version_table_schema": "ops_pipeline", "compare_type": True,
                "include_name": lambda name, kind, parent: kind != "schema" or name == "ops_pipeline"})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_the_baseline_on_sqlite_is_what_a0276dc_created(tmp_path):
    """Revision 0001 alone recreates the a0276dc schema statement for statement (SQLite, where it
    includes the look-alike tables), apart from Alembic's version table."""
    url = f"sqlite:///{tmp_path / 'base.db'}"
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            migrations.upgrade(conn, "0001")
    finally:
        engine.dispose()
    with sqlite3.connect(tmp_path / "base.db") as con:
        made = {sql for (sql,) in con.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                                               "AND name NOT LIKE 'ops_pipeline_version%'")}
    fixture = (DATA / "schema_a0276dc.sqlite.sql").read_text()
    wanted = {statement.strip() for statement in "\n".join(
        line for line in fixture.splitlines() if not line.startswith("--")).split(";\n") if statement.strip()}
    wanted = {s.rstrip(";") for s in wanted}
    assert made == wanted


# -- behind the head ---------------------------------------------------------------------------------

@pytest.fixture
def behind_url(empty_url) -> str:
    """A database at revision 0001, as a pipeline one release older would have left it."""
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            migrations.upgrade(conn, "0001")
    finally:
        engine.dispose()
    return empty_url


def test_db_current_says_a_database_behind_head_needs_upgrading(behind_url):
    result = invoke("db", "current", "--db", behind_url)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (f"error: the database's ops-pipeline schema is at revision 0001, this ops-pipeline "
                             f"needs {HEAD} (hint: upgrade it with: ops-pipeline db upgrade --db URL)\n")


def test_db_current_on_an_empty_database_says_how_to_create_it(empty_url):
    result = invoke("db", "current", "--db", empty_url)
    assert result.exit_code == 3
    assert result.stderr == ("error: the database has no ops-pipeline schema "
                             "(hint: create it with: ops-pipeline db init --db URL)\n")


def test_a_load_refuses_a_database_behind_head(behind_url, runs_root, tmp_path):
    run = staged_run(runs_root, tmp_path)
    result = invoke("load", str(run.path), "--db", behind_url)
    assert result.exit_code == 3
    assert result.stderr == (f"error: load: the database's ops-pipeline schema is at revision 0001, this "
                             f"ops-pipeline needs {HEAD} (hint: upgrade it with: ops-pipeline db upgrade --db URL)\n")
    assert run.__class__(run.path).status("load") == "failed"


def test_a_revision_this_release_does_not_know_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    upgrade_schema(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE ops_pipeline_version SET version_num = '0099'"))
    finally:
        engine.dispose()
    for command in ("current", "upgrade"):
        result = invoke("db", command, "--db", url)
        assert result.exit_code == 3
        assert result.stderr == ("error: the database's ops-pipeline schema is at revision 0099, which this "
                                 "ops-pipeline does not know (hint: upgrade ops-pipeline)\n")


@pytest.mark.postgres
def test_two_upgrades_at_once_on_postgres_both_succeed(pg_url):
    """Two instances starting together (cloud.gov runs db init on each start): one waits for the other."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(upgrade_schema, [pg_url, pg_url]))
    assert {(r["from_revision"], r["to_revision"]) for r in results} == {(None, HEAD), (HEAD, HEAD)}


def test_an_unknown_target_revision_is_one_line_not_a_traceback(tmp_path):
    from ops_pipeline.errors import SchemaMissing

    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    try:
        with pytest.raises(SchemaMissing, match=r"^cannot upgrade the ops-pipeline schema: .*'0042'"):
            with engine.begin() as conn:
                migrations.upgrade(conn, "0042")
    finally:
        engine.dispose()


def test_on_sqlite_the_look_alike_rows_move_into_ops_subset_with_their_ids(tmp_path):
    """What a0276dc's loader wrote into its look-alike tables comes across into OPS's subset, ids
    kept (the lineage points at them), typed as OPS types them; the originals stay whole."""
    url = _a0276dc_sqlite(tmp_path)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _insert_old_rows(conn)
            conn.execute(text("INSERT INTO division (id, name, abbreviation) VALUES (1, 'DFS', 'DFS')"))
            conn.execute(text("INSERT INTO portfolio (id, name, abbreviation, division_id) VALUES (6, 'HMRF', 'HMRF', 1)"))
            conn.execute(text("INSERT INTO project (id, project_type, title) VALUES (3, 'RESEARCH', 'Study')"))
            conn.execute(text("INSERT INTO can (id, number, description, portfolio_id) VALUES "
                              "(5, 'G99HRF2', 'OPRE-HMRF', 6), (6, 'G99NODS', NULL, NULL)"))
            conn.execute(text("INSERT INTO agreement (id, agreement_type, name, project_id) VALUES "
                              "(8, 'GRANT', 'Study Grant', 3), (9, 'AA', 'Study AA', 3)"))
            conn.execute(text("INSERT INTO budget_line_item (id, line_description, amount, proc_shop_fee_amount, "
                              "date_needed, fiscal_year, status, can_id, agreement_id) VALUES "
                              "(11, 'Year 1', 100.5, 2, '2025-03-11', 2025, 'PLANNED', 5, 8), "
                              "(12, 'Year 2', 200, NULL, NULL, NULL, 'DRAFT', 6, 9)"))
    finally:
        engine.dispose()
    assert upgrade_schema(url)["to_revision"] == HEAD
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            def rows(sql):
                return [tuple(r) for r in conn.execute(text(sql))]
            assert rows("SELECT id, project_type, title, description FROM project") == [(3, "RESEARCH", "Study", "")]
            assert rows("SELECT id FROM research_project") == [(3,)]
            # OPS needs a portfolio on every CAN (HMRF is OPS's portfolio 6): the other stays behind
            assert rows("SELECT id, number, portfolio_id FROM can") == [(5, "G99HRF2", 6)]
            # OPS needs agencies for an AA agreement: it stays behind, its line loads without it
            assert rows("SELECT id, agreement_type, name, project_id, notes FROM agreement") == [
                (8, "GRANT", "Study Grant", 3, "")]
            assert rows("SELECT id FROM grant_agreement") == [(8,)]
            assert rows("SELECT id, amount, date_needed, status, can_id, agreement_id, budget_line_item_type "
                        "FROM budget_line_item ORDER BY id") == [
                (11, 100.5, "2025-03-11", "PLANNED", 5, 8, "GRANT"), (12, 200, None, "DRAFT", None, None, "CONTRACT")]
            assert rows("SELECT id FROM grant_budget_line_item") == [(11,)]
            assert rows("SELECT id FROM contract_budget_line_item") == [(12,)]
            # nothing lost: the originals, fee amounts and fiscal years included
            assert rows(f"SELECT id, proc_shop_fee_amount, fiscal_year FROM ops_pipeline_legacy_budget_line_item "
                        "ORDER BY id") == [(11, 2, 2025), (12, None, None)]
            assert rows("SELECT count(*) FROM ops_pipeline_legacy_can") == [(2,)]
            assert rows("SELECT count(*) FROM ops_pipeline_legacy_agreement") == [(2,)]
    finally:
        engine.dispose()
