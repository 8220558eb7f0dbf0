"""Batched reads and writes derived from the ORM tables: COPY on PostgreSQL (psycopg 3), the
driver's executemany elsewhere.

Rows travel as plain tuples in one *comparable* form, the same whichever database is on the
other side: money as text with exactly its column's places (``'1234.50'``, ``'-5.00'``), dates as
ISO text (``'2025-03-11'``), everything else as the driver returns it. :func:`read_rows` returns
stored rows in that form and :func:`insert_rows` / :func:`update_rows` accept it, so the loader
compares staged and stored rows as tuples, without a Decimal or a date object per value.

Table and column names always come from the ORM ``Table``; nothing here names a table itself.
All functions run on the caller's connection, inside its transaction.
"""
from __future__ import annotations

import contextlib
import json
import re
from operator import itemgetter
from typing import Iterable, Iterator, Sequence

from sqlalchemy import Date, DateTime, Numeric, Table, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

#: Below this many rows a COPY is not worth its set-up; an executemany does.
COPY_THRESHOLD = 200
#: From this many new rows on, PostgreSQL checks the table's foreign keys once for the whole table
#: instead of once per row (see :func:`foreign_keys_checked_once`); None: always per row.
BULK_FOREIGN_KEYS = 10_000
#: How long that waits for the table locks it needs before it checks per row after all (seconds).
BULK_LOCK_WAIT = 2.0


def _psycopg(conn: Connection):
    """The psycopg 3 connection under ``conn`` when COPY can be used, else None."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return None
    return conn.connection.driver_connection


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def table_name(conn: Connection, table: Table) -> str:
    """The table's name for hand-written SQL, schema-qualified as the connection maps it.

    OPS's tables live in schema ``ops`` and the pipeline's own in ``ops_pipeline`` on
    PostgreSQL; SQLite has no schemas, and its engines map both to none
    (``schema_translate_map``). Compiled statements apply that map themselves; raw SQL here
    must too, or it would name a schema SQLite does not have.
    """
    schema = table.schema
    mapping = conn.get_execution_options().get("schema_translate_map")
    if mapping and schema in mapping:
        schema = mapping[schema]
    preparer = conn.dialect.identifier_preparer
    name = preparer.quote(table.name)
    return f"{preparer.quote_schema(schema)}.{name}" if schema else name


_table_name = table_name


def _columns(table: Table, names: Sequence[str]) -> list:
    """The model's columns, in the order asked (a KeyError names a column the model lacks)."""
    return [table.c[name] for name in names]


def _placeholder(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


# -- reads ---------------------------------------------------------------------------------------

def _comparable(conn: Connection, column) -> str:
    """SQL that reads ``column`` in the comparable form described in the module docstring."""
    name = _quote(conn, column.name)
    postgres = conn.dialect.name == "postgresql"
    if isinstance(column.type, Numeric) and column.type.scale is not None:
        if postgres:  # numeric(p, s)::text always shows s places and never "-0.00"
            return f"CAST({name} AS TEXT)"
        # SQLite keeps NUMERIC as INTEGER or REAL (what SQLAlchemy itself writes): print it back.
        return f"CASE WHEN {name} IS NULL THEN NULL ELSE printf('%.{column.type.scale}f', {name}) END"
    if isinstance(column.type, Date) and not isinstance(column.type, DateTime):
        if postgres:  # independent of the session's DateStyle
            return f"to_char({name}, 'YYYY-MM-DD')"
        return f"substr({name}, 1, 10)"  # SQLAlchemy stores SQLite dates as ISO text
    return name


def read_rows(conn: Connection, table: Table, columns: Sequence[str], any_of: dict[str, Iterable]) -> list[tuple]:
    """The rows whose column matches any listed value (``{"id": [...], "can_id": [...]}``, OR-ed;
    None matches NULL),
    as comparable tuples in ``columns`` order, sorted (so by the first column).

    One statement whatever the number of values: an array parameter on PostgreSQL, a JSON array
    through ``json_each`` on SQLite (no limit on bound variables, no IN list to compile).
    """
    conditions, params = [], []
    for name, values in any_of.items():
        values = set(values)
        column = table.c[name]
        quoted = _quote(conn, column.name)
        if None in values:  # None matches NULL
            values.discard(None)
            conditions.append(f"{quoted} IS NULL")
        values = sorted(values)
        if not values:
            continue
        if conn.dialect.name == "postgresql":
            if all(v.__class__ is int for v in values):
                # An array literal is dumped at C speed; a list of 100,000 ints is not. The array
                # has the column's own type: with another, the server cannot hash the lookup and
                # compares each row with every value.
                conditions.append(f"{quoted} = ANY(CAST(%s AS {column.type.compile(dialect=conn.dialect)}[]))")
                params.append("{" + ",".join(map(str, values)) + "}")
            else:
                conditions.append(f"{quoted} = ANY(%s)")
                params.append(values)
        elif conn.dialect.name == "sqlite":
            conditions.append(f"{quoted} IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(values))
        else:  # pragma: no cover - the pipeline supports PostgreSQL and SQLite
            raise NotImplementedError(f"bulk reads are not implemented for {conn.dialect.name}")
    if not conditions:
        return []
    selected = ", ".join(_comparable(conn, c) for c in _columns(table, columns))
    statement = f"SELECT {selected} FROM {_table_name(conn, table)} WHERE {' OR '.join(conditions)}"
    # The driver's own cursor: SQLAlchemy's result rows would add half again to a large read.
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(statement, tuple(params))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    # Sorted here rather than by ORDER BY: the server would spill 100,000 wide rows to disk.
    rows.sort(key=itemgetter(0))
    return rows


def read_all(conn: Connection, table: Table, columns: Sequence[str]) -> list[tuple]:
    """Every row of a (small, reference) table, as comparable tuples sorted by the first column."""
    selected = ", ".join(_comparable(conn, c) for c in _columns(table, columns))
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(f"SELECT {selected} FROM {_table_name(conn, table)}")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    rows.sort(key=itemgetter(0))
    return rows


# -- writes --------------------------------------------------------------------------------------

def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence]) -> int:
    """Insert ``rows`` (sequences of values in ``columns`` order, comparable form). Returns the count."""
    if not rows:
        return 0
    names = [_quote(conn, c.name) for c in _columns(table, columns)]
    target = f"{_table_name(conn, table)} ({', '.join(names)})"
    raw = _psycopg(conn) if len(rows) >= COPY_THRESHOLD else None
    if raw is not None:
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
    else:
        marks = ", ".join([_placeholder(conn)] * len(names))
        conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({marks})", [tuple(r) for r in rows])
    return len(rows)


def update_rows(conn: Connection, table: Table, fields: Sequence[str], rows: Sequence[Sequence]) -> int:
    """Set ``fields`` of existing rows; each row is ``(id, *values in fields order)``."""
    if not rows:
        return 0
    id_column = _quote(conn, table.c.id.name)
    names = [_quote(conn, c.name) for c in _columns(table, fields)]
    raw = _psycopg(conn) if len(rows) >= COPY_THRESHOLD else None
    if raw is None:
        mark = _placeholder(conn)
        assignments = ", ".join(f"{n} = {mark}" for n in names)
        conn.exec_driver_sql(
            f"UPDATE {_table_name(conn, table)} SET {assignments} WHERE {id_column} = {mark}",
            [(*row[1:], row[0]) for row in rows],
        )
        return len(rows)
    temp = _quote(conn, f"_ops_update_{table.name}")
    listed = ", ".join([id_column, *names])
    with raw.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} ON COMMIT DROP AS "
                       f"SELECT {listed} FROM {_table_name(conn, table)} WITH NO DATA")
        cursor.execute(f"TRUNCATE {temp}")
        with cursor.copy(f"COPY {temp} ({listed}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)
        assignments = ", ".join(f"{n} = t.{n}" for n in names)
        cursor.execute(f"UPDATE {_table_name(conn, table)} AS d SET {assignments} "
                       f"FROM {temp} AS t WHERE d.{id_column} = t.{id_column}")
    return len(rows)


# -- ids -----------------------------------------------------------------------------------------

def reserve_ids(conn: Connection, table: Table, count: int, *, floor: int = 0) -> list[int]:
    """Ids for ``count`` new rows, above ``floor`` and above every id in use.

    PostgreSQL takes them from the table's sequence (safe beside other writers); SQLite, whose
    write lock the load holds for the whole transaction, counts up from the largest id.
    """
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        sequence = _sequence(conn, table)
        if floor:
            advance_sequence(conn, table, floor)
        rows = conn.exec_driver_sql("SELECT nextval(%s) FROM generate_series(1, %s)", (sequence, count)).all()
        return [row[0] for row in rows]
    start = max(conn.execute(select(func.max(table.c.id))).scalar() or 0, floor) + 1
    return list(range(start, start + count))


def advance_sequence(conn: Connection, table: Table, past: int = 0) -> None:
    """Move the id sequence past ``past`` and past every id in the table (PostgreSQL only).

    Done *before* rows with explicit ids go in, so that nothing else drawing from the sequence
    meanwhile (OPS itself) can take one of them. Sequences are not transactional: a rolled-back
    load leaves a gap in the ids, never a collision.
    """
    if conn.dialect.name != "postgresql":
        return
    sequence = _sequence(conn, table)
    id_column = _quote(conn, table.c.id.name)
    conn.execute(
        text(f"SELECT setval(:seq, GREATEST(:past, (SELECT COALESCE(MAX({id_column}), 1) "
             f"FROM {_table_name(conn, table)}), (SELECT last_value FROM {sequence})))"),
        {"seq": sequence, "past": int(past)},
    )


def _sequence(conn: Connection, table: Table) -> str:
    sequence = conn.execute(
        text("SELECT pg_get_serial_sequence(:table, :column)"),
        {"table": _table_name(conn, table), "column": table.c.id.name},
    ).scalar()
    if not sequence:
        # OPS's dump leaves some sequences unowned (budget_line_item, can, project, ops_user,
        # vendor, ...): pg_get_serial_sequence knows only owned ones. The column default names it.
        default = conn.execute(
            text("SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
                 "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                 "WHERE d.adrelid = CAST(:table AS regclass) AND a.attname = :column"),
            {"table": _table_name(conn, table), "column": table.c.id.name},
        ).scalar()
        found = re.match(r"nextval\('([^']+)'", default or "")
        sequence = found.group(1) if found else None
    if not sequence:  # pragma: no cover - every model has a serial id
        raise RuntimeError(f"table {table.name} has no id sequence")
    return sequence


# -- foreign keys, checked once --------------------------------------------------------------------

# lock_not_available (lock_timeout), insufficient_privilege (not the tables' owner), deadlock_detected
_CANNOT_ALTER = {"55P03", "42501", "40P01"}


@contextlib.contextmanager
def foreign_keys_checked_once(conn: Connection, table: Table, new_rows: int) -> Iterator[bool]:
    """Around a large insert into ``table`` on PostgreSQL: check its foreign keys in one join.

    PostgreSQL checks a foreign key with one query per inserted row (about 10 µs each here: two
    keys on 100,000 budget lines cost more than the COPY itself). Inside the load's transaction
    this drops the table's validated foreign keys, lets the insert run, and adds them back with
    their own names and definitions, which validates every row in one join: a bad key still fails
    the load, and a crash or rollback restores the constraints with everything else.

    The price: until the load commits, the table and the tables it refers to are locked against
    readers too (ACCESS EXCLUSIVE). So it waits at most ``BULK_LOCK_WAIT`` seconds for those
    locks and needs the tables' ownership; otherwise, and below ``BULK_FOREIGN_KEYS`` new rows or
    on SQLite, it yields False and the keys are checked per row as usual.
    """
    if conn.dialect.name != "postgresql" or BULK_FOREIGN_KEYS is None or new_rows < BULK_FOREIGN_KEYS:
        yield False
        return
    qualified = _table_name(conn, table)
    keys = conn.execute(text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:table AS regclass) AND contype = 'f' AND convalidated ORDER BY conname"),
        {"table": qualified}).all()
    if not keys:
        yield False
        return
    dropped = False
    savepoint = conn.begin_nested()
    try:
        previous = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar()
        conn.execute(text("SELECT set_config('lock_timeout', :wait, true)"),
                     {"wait": f"{max(1, int(BULK_LOCK_WAIT * 1000))}ms"})
        conn.execute(text(f"ALTER TABLE {qualified} "
                          + ", ".join(f"DROP CONSTRAINT {_quote(conn, name)}" for name, _ in keys)))
        conn.execute(text("SELECT set_config('lock_timeout', :previous, true)"), {"previous": previous})
        savepoint.commit()
        dropped = True
    except DBAPIError as exc:
        savepoint.rollback()  # also undoes the lock_timeout set above
        if getattr(exc.orig, "sqlstate", None) not in _CANNOT_ALTER:
            raise
    yield dropped
    if dropped:  # not reached when the insert failed: the rollback restores the keys
        conn.execute(text(f"ALTER TABLE {qualified} " + ", ".join(
            f"ADD CONSTRAINT {_quote(conn, name)} {definition}" for name, definition in keys)))
