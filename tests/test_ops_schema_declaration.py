"""The package's declaration of OPS's tables (ops_pipeline/db/ops_models.py) is OPS's schema.

A PostgreSQL database is built from OPS's schema dump (tests/ops_schema/ops_schema.sql, OPS at its
Alembic head) and reflected with SQLAlchemy's inspector; every declared table, version table and
the ``transaction`` table must match it column for column: name, type, nullability, primary key,
foreign keys, unique constraints and indexes, enum members, sequences. The comparison lives in
:func:`differences`, and the last tests prove it notices a declaration that has drifted.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import Column, Integer, String, UniqueConstraint, create_engine, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from ops_pipeline.db import ops_models
from ops_pipeline.db.opscheck import column_type

pytestmark = pytest.mark.postgres

SCHEMA = ops_models.SCHEMA


@pytest.fixture(scope="module")
def reflected(ops_databases) -> dict:
    """Everything the comparison needs from OPS's schema, reflected once for the module."""
    url = ops_databases.create()
    # search_path without ops, so that the inspector names every enum type with its schema
    engine = create_engine(url, connect_args={"options": "-c search_path=public"})
    try:
        insp = inspect(engine)
        names = set(insp.get_table_names(schema=SCHEMA))
        tables = {}
        for table in ops_models.OpsBase.metadata.tables.values():
            if table.name not in names:
                continue
            tables[table.name] = {
                "columns": {c["name"]: c for c in insp.get_columns(table.name, schema=SCHEMA)},
                "pk": insp.get_pk_constraint(table.name, schema=SCHEMA)["constrained_columns"],
                "fks": insp.get_foreign_keys(table.name, schema=SCHEMA),
                "uniques": insp.get_unique_constraints(table.name, schema=SCHEMA),
                "indexes": insp.get_indexes(table.name, schema=SCHEMA),
            }
        return {
            "tables": tables,
            "enums": {e["name"]: tuple(e["labels"]) for e in insp.get_enums(schema=SCHEMA)},
            "sequences": set(insp.get_sequence_names(schema=SCHEMA)),
        }
    finally:
        engine.dispose()
        ops_databases.drop(make_url(url).database)


def _fk(constrained, table, referred, ondelete) -> tuple:
    return (table, tuple(constrained), referred, (ondelete or "").upper() or None)


def differences(reflected: dict) -> list[str]:
    """Every way the declaration differs from the reflected schema, one line each."""
    found: list[str] = []
    metadata = ops_models.OpsBase.metadata
    undeclared_fks = {(t, (c,), f"{SCHEMA}.{rt}", od)
                      for t, c, rt, rc, od in ops_models.UNDECLARED_FOREIGN_KEYS}
    for table in metadata.tables.values():
        live = reflected["tables"].get(table.name)
        if live is None:
            found.append(f"{table.name}: no such table")
            continue
        columns = live["columns"]
        names = set(table.columns.keys())
        if set(columns) != names:
            found.append(f"{table.name}: columns differ: declared only {sorted(names - set(columns))}"
                         f", in OPS only {sorted(set(columns) - names)}")
        for column in table.columns:
            have = columns.get(column.name)
            if have is None:
                continue
            declared, actual = column_type(column.type), column_type(have["type"])
            if declared != actual:
                found.append(f"{table.name}.{column.name}: type {declared}, OPS has {actual}")
            if column.nullable != have["nullable"]:
                found.append(f"{table.name}.{column.name}: nullable={column.nullable}, OPS has {have['nullable']}")
        key = [c.name for c in table.primary_key.columns]
        if key != live["pk"]:
            found.append(f"{table.name}: primary key {key}, OPS has {live['pk']}")
        declared_fks = {
            _fk([e.parent.name for e in fk.elements], table.name,
                f"{fk.elements[0].column.table.schema}.{fk.elements[0].column.table.name}", fk.ondelete)
            for fk in table.foreign_key_constraints
        }
        declared_fks |= {fk for fk in undeclared_fks if fk[0] == table.name}
        live_fks = {_fk(fk["constrained_columns"], table.name, f"{fk['referred_schema']}.{fk['referred_table']}",
                        fk["options"].get("ondelete")) for fk in live["fks"]}
        if declared_fks != live_fks:
            found.append(f"{table.name}: foreign keys declared only {sorted(declared_fks - live_fks)}, "
                         f"in OPS only {sorted(live_fks - declared_fks)}")
        found += _unique_differences(table, live)
    enums = reflected["enums"]
    for name, members in ops_models.ENUMS.items():
        if enums.get(name) != members:  # the database's order too
            found.append(f"enum {name}: declared {members}, OPS has {enums.get(name)}")
    for table in metadata.tables.values():
        for column in table.columns:
            seq = column.default if column.default is not None and column.default.is_sequence else None
            if seq is not None and seq.name not in reflected["sequences"]:
                found.append(f"{table.name}.{column.name}: sequence {seq.name} is not in OPS")
    return found


def _unique_differences(table, live) -> list[str]:
    """Unique constraints and unique indexes, both ways: what a loader can collide with."""
    found = []
    declared = {}
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            declared[constraint.name] = (tuple(c.name for c in constraint.columns), None)
    for index in table.indexes:
        if index.unique:
            where = index.dialect_options["postgresql"].get("where")
            exprs = tuple(_expression(e) for e in index.expressions)
            declared[index.name] = (exprs, str(where) if where is not None else None)
    actual = {}
    for constraint in live["uniques"]:
        actual[constraint["name"]] = (tuple(constraint["column_names"]), None)
    for index in live["indexes"]:
        if index["unique"] and index["name"] not in actual:
            exprs = tuple(c if c is not None else e for c, e in
                          zip(index["column_names"], index.get("expressions") or index["column_names"]))
            actual[index["name"]] = (exprs, index.get("dialect_options", {}).get("postgresql_where"))
    for name in sorted(set(declared) | set(actual)):
        if name not in actual:
            found.append(f"{table.name}: unique {name} is not in OPS")
        elif name not in declared:
            found.append(f"{table.name}: OPS has unique {name} {actual[name]}, not declared")
        elif _norm_unique(declared[name]) != _norm_unique(actual[name]):
            found.append(f"{table.name}: unique {name} declared {declared[name]}, OPS has {actual[name]}")
    return found


def _expression(expr) -> str:
    """An index's column or expression as SQL, without table names: ``lower(name)``."""
    if isinstance(expr, Column):
        return expr.name
    return re.sub(r"\b\w+\.", "", str(expr.compile(dialect=postgresql.dialect())))


def _norm_unique(value) -> tuple:
    columns, where = value
    strip = lambda s: "".join(ch for ch in s.lower() if ch not in "() ").replace("::text", "")  # noqa: E731
    return tuple(strip(c) for c in columns), strip(where) if where else None


def test_the_declaration_matches_ops_schema(reflected):
    found = differences(reflected)
    assert found == [], "\n".join(found)


def test_every_declared_table_is_compared(reflected):
    # Guards the comparison itself: it must have seen every declared table, the version tables too.
    declared = set(t.name for t in ops_models.OpsBase.metadata.tables.values())
    assert declared == set(reflected["tables"])
    assert len(declared) == 2 * len(ops_models.BASE_TABLES) + 1
    assert "budget_line_item_version" in declared and "transaction" in declared


@pytest.mark.parametrize("change, expected", [
    (("can", "number", "type", String(20)), "can.number: type character varying(20), OPS has character varying(30)"),
    (("budget_line_item", "proc_shop_fee_percentage", "type", ops_models.BudgetLineItem.amount.type),
     "budget_line_item.proc_shop_fee_percentage: type numeric(12,2), OPS has numeric(12,5)"),
    (("agreement", "notes", "nullable", True), "agreement.notes: nullable=True, OPS has False"),
    (("budget_line_item_version", "amount", "nullable", False),
     "budget_line_item_version.amount: nullable=False, OPS has True"),
    (("project", "id", "type", ops_models.transaction_table.c.id.type), "project.id: type bigint, OPS has integer"),
])
def test_a_drifted_declaration_is_reported(reflected, monkeypatch, change, expected):
    table, column, attribute, value = change
    monkeypatch.setattr(ops_models.table(table).c[column], attribute, value)
    assert expected in differences(reflected)


def test_a_missing_foreign_key_and_enum_member_are_reported(reflected, monkeypatch):
    monkeypatch.setattr(ops_models, "UNDECLARED_FOREIGN_KEYS", ops_models.UNDECLARED_FOREIGN_KEYS[1:])
    monkeypatch.setitem(ops_models.ENUMS, "agreementtype", ("CONTRACT", "GRANT"))
    found = differences(reflected)
    assert any(line.startswith("contract_agreement: foreign keys") and "ops.vendor" in line for line in found)
    assert any(line.startswith("enum agreementtype") for line in found)


def test_a_missing_unique_index_is_reported(reflected, monkeypatch):
    table = ops_models.table("agreement")
    index = next(i for i in table.indexes if i.name == "ix_agreement_name_type_lower")
    monkeypatch.setattr(table, "indexes", table.indexes - {index})
    assert "agreement: OPS has unique ix_agreement_name_type_lower" in " ".join(differences(reflected))


def test_a_declared_column_ops_lacks_is_reported(reflected, monkeypatch):
    columns = dict(reflected["tables"]["can"]["columns"])
    del columns["number"]
    monkeypatch.setitem(reflected["tables"]["can"], "columns", columns)
    assert any(line.startswith("can: columns differ: declared only ['number']") for line in differences(reflected))


def test_column_type_spells_types_as_postgresql_does():
    assert column_type(String()) == "character varying"
    assert column_type(Integer()) == "integer"
    assert column_type(ops_models.GrantAgreement.aln_numbers.type) == "integer[]"
    assert column_type(ops_models.OpsEvent.event_details.type) == "jsonb"
    assert column_type(ops_models.Agreement.agreement_type.type) == "ops.agreementtype"
    assert column_type(ops_models.Division.created_on.type) == "timestamp without time zone"
    assert column_type(ops_models.User.oidc_id.type) == "uuid"
