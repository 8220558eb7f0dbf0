"""Batched writes derived from the ORM tables: executemany everywhere, COPY on PostgreSQL.

All functions run on the caller's connection, inside its transaction.
"""
from __future__ import annotations

from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy.engine import Connection

COPY_THRESHOLD = 200


def _psycopg(conn: Connection):
    """The psycopg 3 connection under ``conn`` when COPY can be used, else None."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return None
    return conn.connection.driver_connection


def insert_rows(conn: Connection, table: Table, rows: list[dict]) -> None:
    if not rows:
        return
    raw = _psycopg(conn) if len(rows) >= COPY_THRESHOLD else None
    if raw is None:
        conn.execute(table.insert(), rows)
        return
    columns = [c.name for c in table.columns if c.name in rows[0]]
    quoted = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor:
        with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row.get(c) for c in columns])


def update_rows(conn: Connection, table: Table, rows: list[dict], fields: tuple[str, ...]) -> None:
    """Update ``fields`` of the rows whose id is each row's ``_id``."""
    if not rows:
        return
    raw = _psycopg(conn) if len(rows) >= COPY_THRESHOLD else None
    if raw is None:
        statement = (
            table.update()
            .where(table.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in fields})
        )
        conn.execute(statement, [{"_id": r["_id"], **{f: r[f] for f in fields}} for r in rows])
        return
    temp = f"_ops_update_{table.name}"
    columns = ["id", *fields]
    quoted = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor:
        cursor.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{temp}" ON COMMIT DROP AS '
            f'SELECT {quoted} FROM "{table.name}" WITH NO DATA'
        )
        cursor.execute(f'TRUNCATE "{temp}"')
        with cursor.copy(f'COPY "{temp}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row["_id"], *(row[f] for f in fields)])
        assignments = ", ".join(f'"{f}" = t."{f}"' for f in fields)
        cursor.execute(f'UPDATE "{table.name}" AS d SET {assignments} FROM "{temp}" AS t WHERE d.id = t.id')


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
            conn.execute(
                text(f"SELECT setval(:seq, GREATEST(:floor, (SELECT last_value FROM {sequence})))"),
                {"seq": sequence, "floor": floor},
            )
        return list(conn.execute(
            text("SELECT nextval(:seq) FROM generate_series(1, :n)"), {"seq": sequence, "n": count}
        ).scalars())
    start = max(conn.execute(select(func.max(table.c.id))).scalar() or 0, floor) + 1
    return list(range(start, start + count))


def sync_sequence(conn: Connection, table: Table) -> None:
    """After inserting explicit ids, move the sequence past them (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return
    sequence = _sequence(conn, table)
    conn.execute(
        text(f'SELECT setval(:seq, GREATEST((SELECT COALESCE(MAX(id), 1) FROM "{table.name}"), '
             f"(SELECT last_value FROM {sequence})))"),
        {"seq": sequence},
    )


def _sequence(conn: Connection, table: Table) -> str:
    sequence = conn.execute(
        text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
    ).scalar()
    if not sequence:  # pragma: no cover - every model has a serial id
        raise RuntimeError(f"table {table.name} has no id sequence")
    return sequence
