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
import queue
import re
import threading
from concurrent.futures import Future
from operator import itemgetter
from typing import Iterable, Iterator, Sequence

from sqlalchemy import Date, DateTime, Numeric, Table, event, func, select, text
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
    sync(conn)
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
    sync(conn)
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
        behind = _writer(conn)
        if behind is not None and not behind.in_worker():
            behind.submit(_copy, raw, target, rows)
        else:
            _copy(raw, target, rows)
    else:
        sync(conn)
        marks = ", ".join([_placeholder(conn)] * len(names))
        conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({marks})", [tuple(r) for r in rows])
    return len(rows)


def _copy(raw, target: str, rows: Sequence[Sequence]) -> None:
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {target} FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)


def update_rows(conn: Connection, table: Table, fields: Sequence[str], rows: Sequence[Sequence]) -> int:
    """Set ``fields`` of existing rows; each row is ``(id, *values in fields order)``."""
    if not rows:
        return 0
    sync(conn)
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

#: Where OPS's id sequences start: the ids below are kept for the MAPS ids loaded unchanged (PRs
#: #2466-#2525). PostgreSQL's sequences say so themselves; an SQLite database counts up from here.
SEQUENCE_STARTS = {"ops_user": 500, "vendor": 100, "iaa_customer_agency": 100, "can": 500, "project": 1000,
                   "clin": 5000, "budget_line_item": 15000}


def reserve_ids(conn: Connection, table: Table, count: int, *, floor: int = 0) -> list[int]:
    """Ids for ``count`` new rows, above ``floor`` and above every id in use.

    PostgreSQL takes them from the table's sequence (safe beside other writers); SQLite, whose
    write lock the load holds for the whole transaction, counts up from the largest id.
    """
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        if floor:
            advance_sequence(conn, table, floor)
        behind = _writer(conn)
        if behind is not None and not behind.in_worker():
            # A sequence is not transactional: drawing from it on a second connection changes
            # nothing (a rolled-back load leaves a gap either way) and does not wait for the
            # writes queued ahead on the load's own connection.
            return behind.reserve(table, count)
        sequence = _sequence(conn, table)
        rows = conn.exec_driver_sql("SELECT nextval(%s) FROM generate_series(1, %s)", (sequence, count)).all()
        return [row[0] for row in rows]
    floor = max(floor, SEQUENCE_STARTS.get(table.name, 1) - 1)
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
    cache = conn.info.setdefault("ops_pipeline_sequences", {})
    key = _table_name(conn, table)
    if key not in cache:
        cache[key] = _find_sequence(conn, table)
    return cache[key]


def _find_sequence(conn: Connection, table: Table) -> str:
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


# -- writing behind ------------------------------------------------------------------------------

_BEHIND = "ops_pipeline_write_behind"
#: Jobs queued ahead of the writer at most: the builder blocks beyond that, which bounds the memory
#: that rows waiting to be written take (a job is one COPY of at most a chunk of rows).
QUEUE_DEPTH = 3


def _writer(conn: Connection) -> "WriteBehind | None":
    return conn.info.get(_BEHIND)


def sync(conn: Connection) -> None:
    """Wait until every write queued on ``conn`` is done (raising the first one's error), so that
    the caller can use the connection itself. Does nothing when no write is queued behind."""
    behind = _writer(conn)
    if behind is not None and not behind.in_worker():
        behind.sync()


def submit(conn: Connection, fn, *args) -> Future:
    """Run ``fn(conn, *args)`` on ``conn`` after the writes queued before it: in the writer
    thread when one runs (see :func:`write_behind`), else now. The future holds its result."""
    behind = _writer(conn)
    if behind is not None and not behind.in_worker():
        return behind.submit(fn, conn, *args)
    done: Future = Future()
    done.set_result(fn(conn, *args))
    return done


class WriteBehind:
    """One thread that runs a load's writes on its connection, in the order they were queued,
    while the loader builds the next rows: PostgreSQL then ingests (checking OPS's constraints,
    maintaining its indexes, parsing its JSON documents) on one core while Python builds rows on
    the other, instead of each waiting for the other.

    The connection is never used by two threads at once: every use of it outside the writer
    (a query through SQLAlchemy, a read or an update in this module) first waits until the
    queue is empty (:meth:`sync`). Ids are drawn from the sequences on a second connection, so
    drawing them does not wait for the queue."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self._jobs: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._abandoned = False
        self._ids_conn: Connection | None = None
        self._thread = threading.Thread(target=self._run, name="ops-pipeline-writer", daemon=True)
        self._thread.start()

    def in_worker(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, fn, *args) -> Future:
        self._raise()
        future: Future = Future()
        self._jobs.put((fn, args, future))
        return future

    def sync(self) -> None:
        self._jobs.join()
        self._raise()

    def reserve(self, table: Table, count: int) -> list[int]:
        if self._ids_conn is None:
            self._ids_conn = self.conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        sequence = _sequence(self._ids_conn, table)
        rows = self._ids_conn.exec_driver_sql(
            "SELECT nextval(%s) FROM generate_series(1, %s)", (sequence, count)).all()
        return [row[0] for row in rows]

    def close(self) -> None:
        """Stop the thread once the queued writes are done (or skipped after a failure)."""
        self._jobs.put(None)
        self._thread.join()
        if self._ids_conn is not None:
            self._ids_conn.close()
            self._ids_conn = None

    def abandon(self) -> None:
        """The builder failed: skip whatever is still queued (the transaction rolls back)."""
        self._abandoned = True

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                fn, args, future = job
                if self._error is not None or self._abandoned:
                    future.cancel()  # after a failure nothing more is written
                    continue
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 - raised again in the builder's thread
                    self._error = exc
                    future.set_exception(exc)
            finally:
                self._jobs.task_done()


@contextlib.contextmanager
def write_behind(conn: Connection) -> Iterator[None]:
    """Within the block, :func:`insert_rows` and :func:`submit` on ``conn`` queue their writes to
    a writer thread (PostgreSQL through psycopg; elsewhere the block changes nothing). The block
    ends when every queued write is done; the first write that failed raises its error there,
    or at the next use of the connection inside the block."""
    if _psycopg(conn) is None or _writer(conn) is not None:
        yield
        return
    behind = WriteBehind(conn)

    def before(conn_, cursor, statement, parameters, context, executemany):
        if not behind.in_worker():
            behind.sync()

    conn.info[_BEHIND] = behind
    event.listen(conn, "before_cursor_execute", before)
    try:
        yield
        behind.sync()
    except BaseException:
        behind.abandon()
        raise
    finally:
        event.remove(conn, "before_cursor_execute", before)
        del conn.info[_BEHIND]
        behind.close()
