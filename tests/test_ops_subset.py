"""The embedded OPS subset on SQLite: OPS's tables as declared, seeded with OPS's reference rows.

The seeded rows must be the rows OPS's own initial data holds (tests/ops_schema/ops_initial_data.sql,
parsed here), so that a CAN's portfolio id means the same on SQLite as in OPS.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, event, func, inspect, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_pipeline.db import ops_models
from ops_pipeline.db.ops_models import create_subset, table, transaction_table, version_table
from ops_pipeline.errors import DatabaseError
from tests.opsdb import initial_rows

MAP = {"schema_translate_map": {"ops": None, "ops_pipeline": None}}


def transactional_sqlite(path, *, mapped: bool = True):
    """A SQLite engine as the pipeline makes them: foreign keys on, DDL inside the transaction (one
    fsync for the whole subset, not one per CREATE), OPS's schema mapped to none."""
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")

    return engine.execution_options(**MAP) if mapped else engine


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = transactional_sqlite(tmp_path / "ops.db")
    yield engine
    engine.dispose()


def _rows(conn, t) -> list[dict]:
    """Stored rows without the load-time audit stamps, keyed like the SQL file's, sorted by id."""
    rows = [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]
    return [{k: v for k, v in r.items() if k not in ("created_on", "updated_on")} for r in rows]


def _expected(name: str) -> list[dict]:
    rows = sorted(initial_rows(name), key=lambda r: r["id"])
    return [{k: v for k, v in r.items() if k not in ("created_on", "updated_on")} for r in rows]


def test_the_subset_has_every_declared_table(sqlite_engine):
    with sqlite_engine.begin() as conn:
        create_subset(conn)
        names = set(inspect(conn).get_table_names())
    assert names == {t.name for t in ops_models.OpsBase.metadata.tables.values()}
    assert {"budget_line_item", "contract_budget_line_item", "budget_line_item_version", "transaction"} <= names


@pytest.mark.parametrize("name", ["division", "division_version", "portfolio", "portfolio_version",
                                  "product_service_code", "product_service_code_version",
                                  "object_class_code", "object_class_code_version"])
def test_seeded_rows_are_ops_initial_data(sqlite_engine, name):
    with sqlite_engine.begin() as conn:
        create_subset(conn)
        stored = _rows(conn, table(name))
    expected = _expected(name)
    assert len(expected) == {"division": 9, "portfolio": 10, "product_service_code": 2,
                             "object_class_code": 16}[name.removesuffix("_version")]
    assert stored == expected


def test_the_seed_transaction_is_upstreams(sqlite_engine):
    with sqlite_engine.begin() as conn:
        create_subset(conn)
        stored = [dict(r._mapping) for r in conn.execute(select(transaction_table))]
    (expected,) = initial_rows("transaction")
    assert stored == [dict(expected, issued_at=dt.datetime.fromisoformat(expected["issued_at"]))]


def test_creating_twice_changes_nothing(sqlite_engine):
    counts = []
    for _ in range(2):
        with sqlite_engine.begin() as conn:
            create_subset(conn)
            counts.append({name: conn.execute(select(func.count()).select_from(table(name))).scalar()
                           for name in ("division", "division_version", "portfolio", "portfolio_version",
                                        "transaction")})
    assert counts[0] == counts[1] == {"division": 9, "division_version": 9, "portfolio": 10,
                                      "portfolio_version": 10, "transaction": 1}


def test_a_missing_reference_row_is_put_back(sqlite_engine):
    with sqlite_engine.begin() as conn:
        create_subset(conn)
        conn.execute(table("portfolio_version").delete().where(table("portfolio_version").c.id == 4))
    with sqlite_engine.begin() as conn:
        create_subset(conn)
        assert _rows(conn, table("portfolio_version")) == _expected("portfolio_version")


def test_a_connection_without_the_schema_map_gets_it(tmp_path):
    engine = transactional_sqlite(tmp_path / "bare.db", mapped=False)
    try:
        with engine.begin() as conn:
            create_subset(conn)
            assert conn.execute(select(func.count()).select_from(table("portfolio"))).scalar() == 10
    finally:
        engine.dispose()


def test_subtypes_write_as_ops_writes_them(sqlite_engine):
    with sqlite_engine.begin() as conn:
        create_subset(conn)
    with Session(sqlite_engine) as session:
        project = ops_models.ResearchProject(title="Child Care Research Partnerships")
        agreement = ops_models.ContractAgreement(name="CCRP Contract")
        session.add_all([project, agreement])
        session.flush()
        line = ops_models.ContractBudgetLineItem(agreement_id=agreement.id, amount=1234.5)
        session.add(line)
        session.commit()
        ids = project.id, agreement.id, line.id
    with sqlite_engine.connect() as conn:
        parent = conn.execute(select(table("agreement")).where(table("agreement").c.id == ids[1])).one()
        assert (parent.agreement_type, parent.notes) == ("CONTRACT", "")
        child = conn.execute(select(table("contract_agreement"))).one()
        assert (child.id, child.delivered_status) == (ids[1], False)
        bli = conn.execute(select(table("budget_line_item"))).one()
        assert (bli.budget_line_item_type, bli.status, bli.on_hold, bli.certified, bli.closed) == (
            "CONTRACT", "DRAFT", False, False, False)
        assert conn.execute(select(table("research_project").c.id)).scalar() == ids[0]
        assert conn.execute(select(table("project").c.project_type)).scalar() == "RESEARCH"


def test_agreement_names_are_unique_per_type_ignoring_case(sqlite_engine):
    agreement = table("agreement")
    with sqlite_engine.begin() as conn:
        create_subset(conn)
        conn.execute(insert(agreement).values(name="CCRP Contract", agreement_type="CONTRACT"))
        conn.execute(insert(agreement).values(name="CCRP CONTRACT", agreement_type="GRANT"))
    with pytest.raises(IntegrityError):
        with sqlite_engine.begin() as conn:
            conn.execute(insert(agreement).values(name="ccrp contract", agreement_type="CONTRACT"))


def test_version_table_names_and_columns():
    version = version_table("budget_line_item")
    assert version is version_table(table("budget_line_item")) is version_table("ops.budget_line_item")
    assert version.name == "budget_line_item_version"
    assert [c.name for c in version.primary_key.columns] == ["id", "transaction_id"]
    assert set(version.c.keys()) == set(table("budget_line_item").c.keys()) | set(ops_models.VERSION_COLUMNS)
    assert not version.foreign_keys
    with pytest.raises(KeyError):
        version_table("transaction")


@pytest.mark.postgres
def test_postgresql_is_refused(ops_pg_url):
    engine = create_engine(ops_pg_url)
    try:
        with engine.begin() as conn, pytest.raises(DatabaseError, match="only on SQLite"):
            create_subset(conn)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_declaration_writes_into_real_ops(ops_pg_url):
    # The same classes on OPS's real schema, as the pipeline's role: ids come from OPS's sequences
    # (project 1000, agreement 1, budget line 15000), enums and jsonb are accepted as declared.
    engine = create_engine(ops_pg_url)
    try:
        with Session(engine) as session:
            project = ops_models.AdministrativeAndSupportProject(title="Support")
            agreement = ops_models.GrantAgreement(name="A grant", aln_numbers=[93, 600])
            session.add_all([project, agreement])
            session.flush()
            line = ops_models.GrantBudgetLineItem(agreement_id=agreement.id, amount=10, budget_line_item_type="GRANT")
            event = ops_models.OpsEvent(event_type="CREATE_BLI", event_status="SUCCESS", event_details={"new_bli": {}})
            session.add_all([line, event])
            session.flush()
            assert (project.id, agreement.id, line.id) == (1000, 1, 15000)
            session.commit()
        with engine.begin() as conn:
            tx = conn.execute(insert(transaction_table).values(issued_at=dt.datetime(2026, 1, 1))
                              .returning(transaction_table.c.id)).scalar()
            assert tx == 2  # the seed's transaction is 1
            conn.execute(insert(version_table("project")).values(
                id=1000, project_type="ADMINISTRATIVE_AND_SUPPORT", title="Support", description="",
                transaction_id=tx, operation_type=0))
            assert conn.execute(select(table("grant_agreement").c.aln_numbers)).scalar() == [93, 600]
            assert conn.execute(select(table("ops_event").c.event_details)).scalar() == {"new_bli": {}}
    finally:
        engine.dispose()
