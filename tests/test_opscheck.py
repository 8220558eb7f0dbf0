"""Before a load, the pipeline checks that OPS's database has every table and column it writes.

Each test breaks its own copy of the OPS database the way an old or half-migrated OPS would be
broken (as the admin role: the app role cannot alter OPS's tables) and expects one line naming it.
"""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, event, text

from ops_pipeline.db import ops_models
from ops_pipeline.db.opscheck import HINT, check_ops_schema, compatible, normalise_type, schema_problems
from ops_pipeline.errors import SchemaMissing


def _as_admin(ops_pg, *statements: str) -> None:
    engine = create_engine(ops_pg.admin_url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _check(url: str, **kwargs) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            check_ops_schema(conn, **kwargs)
    finally:
        engine.dispose()


def _failure(url: str, **kwargs) -> str:
    with pytest.raises(SchemaMissing) as caught:
        _check(url, **kwargs)
    error = caught.value
    assert error.hint == HINT
    line = error.one_line()
    assert "\n" not in line
    return error.message


@pytest.mark.postgres
def test_a_fresh_ops_database_passes(ops_pg_url):
    _check(ops_pg_url)
    # and the read-only reference tables are there too
    _check(ops_pg_url, tables=ops_models.READ_TABLES)


@pytest.mark.postgres
def test_the_check_is_one_catalog_query(ops_pg_url):
    engine = create_engine(ops_pg_url)
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        with engine.connect() as conn:
            statements.clear()
            check_ops_schema(conn)
    finally:
        engine.dispose()
    assert len(statements) == 1


@pytest.mark.postgres
def test_a_missing_column_is_named_with_its_type(ops_pg):
    _as_admin(ops_pg, "ALTER TABLE ops.budget_line_item DROP COLUMN proc_shop_fee_percentage")
    message = _failure(ops_pg.url)
    assert message == "the OPS database lacks ops.budget_line_item.proc_shop_fee_percentage (numeric(12,5))"


@pytest.mark.postgres
def test_a_missing_table_is_named(ops_pg):
    _as_admin(ops_pg, "DROP TABLE ops.can_history_version")
    assert _failure(ops_pg.url) == "the OPS database lacks table ops.can_history_version"


@pytest.mark.postgres
def test_a_missing_schema_is_named(pg_url):
    assert _failure(pg_url) == "the OPS database lacks schema ops"


@pytest.mark.postgres
@pytest.mark.parametrize("alter, expected", [
    ("ALTER TABLE ops.can ALTER COLUMN number TYPE varchar(10)",
     "the OPS database has ops.can.number as character varying(10), the pipeline writes character varying(30)"),
    ("ALTER TABLE ops.budget_line_item ALTER COLUMN amount TYPE numeric(12,0)",
     "the OPS database has ops.budget_line_item.amount as numeric(12,0), the pipeline writes numeric(12,2)"),
    ("ALTER TABLE ops.agreement ALTER COLUMN agreement_type TYPE text",
     "the OPS database has ops.agreement.agreement_type as text, the pipeline writes ops.agreementtype"),
    ("ALTER TABLE ops.ops_event ALTER COLUMN event_details TYPE json",
     "the OPS database has ops.ops_event.event_details as json, the pipeline writes jsonb"),
    ("ALTER TABLE ops.transaction ALTER COLUMN id TYPE integer",
     "the OPS database has ops.transaction.id as integer, the pipeline writes bigint"),
    ("ALTER TABLE ops.budget_line_item ALTER COLUMN comments SET NOT NULL",
     "the OPS database has ops.budget_line_item.comments NOT NULL, the pipeline may leave it empty"),
    ("ALTER TYPE ops.budgetlineitemstatus RENAME VALUE 'PLANNED_MOD' TO 'PLANNED_MODIFICATION'",
     "the OPS database has enum ops.budgetlineitemstatus without PLANNED_MOD"),
    ("ALTER TABLE ops.agreement ADD COLUMN approved_by integer NOT NULL",
     "the OPS database has ops.agreement.approved_by NOT NULL without a default, which the pipeline does not write"),
])
def test_a_different_column_is_named(ops_pg, alter, expected):
    _as_admin(ops_pg, alter)
    assert _failure(ops_pg.url) == expected


@pytest.mark.postgres
def test_wider_columns_and_new_optional_ones_pass(ops_pg):
    _as_admin(ops_pg,
              "ALTER TABLE ops.can ALTER COLUMN number TYPE varchar(60)",
              "ALTER TABLE ops.budget_line_item ALTER COLUMN amount TYPE numeric(15,2)",
              "ALTER TABLE ops.agreement ADD COLUMN extra text",
              "ALTER TABLE ops.agreement ADD COLUMN flag boolean NOT NULL DEFAULT false")
    _check(ops_pg.url)


@pytest.mark.postgres
def test_many_problems_still_make_one_line(ops_pg):
    _as_admin(ops_pg, *(f"ALTER TABLE ops.can DROP COLUMN {c}" for c in ("description", "nick_name", "number")),
              "ALTER TABLE ops.can_version DROP COLUMN nick_name", "DROP TABLE ops.project_history_version")
    message = _failure(ops_pg.url)
    assert message.startswith("the OPS database lacks ops.can.number (character varying(30)); it also lacks ")
    assert message.endswith("(and 2 more)")
    assert len(schema_problems_of(ops_pg.url)) == 5


def schema_problems_of(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return schema_problems(conn)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_app_role_cannot_change_ops_tables(ops_pg_url):
    # The fixture gives the pipeline's role what production gives it: rows, not tables.
    engine = create_engine(ops_pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM ops.portfolio")).scalar() == 10
            with pytest.raises(Exception, match="must be owner"):
                conn.execute(text("ALTER TABLE ops.can ADD COLUMN x integer"))
            conn.rollback()
            with pytest.raises(Exception, match="permission denied"):
                conn.execute(text("DELETE FROM ops.portfolio"))
            conn.rollback()
            conn.execute(text("CREATE SCHEMA ops_pipeline"))
            conn.execute(text("SELECT nextval('ops.can_id_seq')"))
            conn.rollback()
    finally:
        engine.dispose()


@pytest.mark.parametrize("declared, actual, ok", [
    ("character varying(30)", "character varying(30)", True),
    ("character varying(30)", "character varying(60)", True),
    ("character varying(30)", "character varying", True),
    ("character varying(30)", "text", True),
    ("character varying(30)", "character varying(29)", False),
    ("character varying", "character varying(30)", False),
    ("text", "character varying", True),
    ("numeric(12,2)", "numeric(14,2)", True),
    ("numeric(12,2)", "numeric(12,5)", False),
    ("numeric(12,2)", "numeric(11,2)", False),
    ("integer", "bigint", False),
    ("ops.agreementtype", "ops.agreementtype", True),
    ("ops.agreementtype", "character varying", False),
])
def test_compatible(declared, actual, ok):
    assert compatible(declared, actual) is ok


def test_normalise_type_spells_as_format_type():
    assert normalise_type("VARCHAR(30)") == "character varying(30)"
    assert normalise_type("NUMERIC(12, 5)") == "numeric(12,5)"
    assert normalise_type("TIMESTAMP WITHOUT TIME ZONE") == "timestamp without time zone"
    assert normalise_type("INTEGER[]") == "integer[]"
