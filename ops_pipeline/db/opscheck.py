"""Before a load on PostgreSQL: does the OPS database have every table and column the pipeline writes?

The pipeline never creates or alters OPS's tables; OPS's own migrations do. A database that is
missing one (an older OPS, a half-migrated copy, the wrong database) would otherwise fail in the
middle of a load with a driver error about some INSERT. :func:`check_ops_schema` finds that out
first, from the catalog, in one query, and stops with one line naming what is missing or
different: a table, a column, a column of an incompatible type, an enum without a member the
pipeline writes, or a NOT NULL column (without a default) the pipeline would leave empty.

Types are compared in one spelling, PostgreSQL's own (``format_type``): ``character varying(30)``,
``numeric(12,2)``, ``timestamp without time zone``, ``integer[]``, and enums as ``ops.<name>``.
:func:`column_type` spells a SQLAlchemy type that way, so the declaration test
(tests/test_ops_schema_declaration.py) compares declared and reflected types with the same rule.
"""
from __future__ import annotations

import re
from typing import Iterable, NamedTuple

from sqlalchemy import Table, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

from ..errors import SchemaMissing
from . import ops_models

HINT = "run OPS's migrations (alembic upgrade head) against this database"
#: How many problems the one line names before it says how many more there are.
SHOWN = 3

_PG = postgresql.dialect()
_SPELLING = [
    (re.compile(r"^varchar\b"), "character varying"),
    (re.compile(r"^timestamp$"), "timestamp without time zone"),
    (re.compile(r"^time$"), "time without time zone"),
    (re.compile(r"^serial$"), "integer"),
    (re.compile(r"^bigserial$"), "bigint"),
    (re.compile(r"^double$"), "double precision"),
]


def column_type(type_: TypeEngine) -> str:
    """``type_`` as PostgreSQL's ``format_type`` spells it, enums qualified by their schema.

    >>> from sqlalchemy import Numeric, String
    >>> column_type(Numeric(12, 5)), column_type(String(30))
    ('numeric(12,5)', 'character varying(30)')
    """
    spelled = type_.compile(dialect=_PG)
    if "." in spelled:  # a schema-qualified type name: an enum (or a domain)
        return spelled.replace('"', "")
    return normalise_type(spelled)


def normalise_type(spelled: str) -> str:
    """A type name written by SQLAlchemy or by PostgreSQL, in ``format_type``'s spelling."""
    spelled = " ".join(spelled.lower().replace('"', "").split())
    spelled = re.sub(r"\s*,\s*", ",", spelled)
    spelled = re.sub(r"\s*\(\s*", "(", spelled).replace(" )", ")")
    array = ""
    while spelled.endswith("[]"):
        spelled, array = spelled[:-2], array + "[]"
    for pattern, replacement in _SPELLING:
        spelled = pattern.sub(replacement, spelled)
    return spelled + array


_SIZED = re.compile(r"^(character varying|numeric)\((\d+)(?:,(\d+))?\)$")


def compatible(declared: str, actual: str) -> bool:
    """Can a value of the declared type be written into a column of the actual type?

    The same type is; so is a wider one: unlimited ``character varying`` or ``text`` for a
    bounded string, a longer bound, a numeric with more digits before the point and the same scale.
    """
    if declared == actual:
        return True
    strings = ("character varying", "text")
    if declared.startswith("character varying") and actual in strings:
        return True
    if declared == "text" and actual == "character varying":
        return True
    d, a = _SIZED.match(declared), _SIZED.match(actual)
    if not (d and a and d.group(1) == a.group(1)):
        return False
    if d.group(1) == "character varying":
        return int(a.group(2)) >= int(d.group(2))
    d_scale, a_scale = int(d.group(3) or 0), int(a.group(3) or 0)
    return d_scale == a_scale and int(a.group(2)) >= int(d.group(2))


class _Column(NamedTuple):
    type: str
    not_null: bool
    has_default: bool
    labels: tuple[str, ...] | None  # an enum's members


_CATALOG = text("""
    SELECT c.relname AS table_name, a.attname AS column_name,
           CASE WHEN t.typtype = 'e' THEN tn.nspname || '.' || t.typname
                ELSE format_type(a.atttypid, a.atttypmod) END AS column_type,
           a.attnotnull AS not_null, a.atthasdef AS has_default,
           CASE WHEN t.typtype = 'e' THEN
                (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                   FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) END AS labels
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_catalog.pg_attribute a
             ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
     WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND c.relname IN :names
""").bindparams(bindparam("names", expanding=True))


def _tables(tables: Iterable[Table | str]) -> list[Table]:
    found = []
    for item in tables:
        found.append(item if isinstance(item, Table) else ops_models.table(item))
    return found


def schema_problems(conn: Connection, tables: Iterable[Table | str] = ops_models.WRITTEN_TABLES) -> list[str]:
    """What the OPS database lacks or has differently, one phrase each (``lacks table ops.can``);
    empty when everything the pipeline writes is there."""
    declared = _tables(tables)
    schema = ops_models.SCHEMA
    rows = conn.execute(_CATALOG, {"schema": schema, "names": [t.name for t in declared]}).all()
    live: dict[str, dict[str, _Column]] = {}
    for row in rows:
        columns = live.setdefault(row.table_name, {})
        if row.column_name is not None:
            spelled = row.column_type if "." in row.column_type else normalise_type(row.column_type)
            columns[row.column_name] = _Column(spelled, row.not_null, row.has_default,
                                               tuple(row.labels) if row.labels is not None else None)
    if not live and not conn.execute(text("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = :s"),
                                     {"s": schema}).first():
        return [f"lacks schema {schema}"]
    problems: list[str] = []
    enums_reported: set[str] = set()
    for table in declared:
        qualified = f"{schema}.{table.name}"
        columns = live.get(table.name)
        if columns is None:
            problems.append(f"lacks table {qualified}")
            continue
        for column in table.columns:
            want = column_type(column.type)
            have = columns.get(column.name)
            if have is None:
                problems.append(f"lacks {qualified}.{column.name} ({want})")
            elif not compatible(want, have.type):
                problems.append(f"has {qualified}.{column.name} as {have.type}, the pipeline writes {want}")
            elif have.labels is not None and set(column.type.enums) - set(have.labels):
                if have.type not in enums_reported:  # once per type, not per column using it
                    enums_reported.add(have.type)
                    absent = [m for m in column.type.enums if m not in have.labels]
                    problems.append(f"has enum {have.type} without {', '.join(absent)}")
            elif have.not_null and column.nullable and not have.has_default:
                problems.append(f"has {qualified}.{column.name} NOT NULL, the pipeline may leave it empty")
        for name, have in columns.items():
            if name not in table.columns and have.not_null and not have.has_default:
                problems.append(f"has {qualified}.{name} NOT NULL without a default, "
                                f"which the pipeline does not write")
    return problems


def check_ops_schema(conn: Connection, tables: Iterable[Table | str] = ops_models.WRITTEN_TABLES) -> None:
    """Raise :class:`SchemaMissing` unless every OPS table and column the pipeline writes is there.

    PostgreSQL only (on SQLite the pipeline creates the OPS subset itself). Runs one catalog query
    on ``conn`` (inside the caller's transaction), so it is cheap enough to run before every load.
    """
    problems = schema_problems(conn, tables)
    if not problems:
        return
    message = f"the OPS database {problems[0]}"
    if len(problems) > 1:
        message += "; it also " + "; ".join(problems[1:SHOWN])
    if len(problems) > SHOWN:
        message += f" (and {len(problems) - SHOWN} more)"
    raise SchemaMissing(message, hint=HINT)
