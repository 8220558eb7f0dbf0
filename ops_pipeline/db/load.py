"""The load strategy: upsert staged entities by natural key inside the caller's transaction.

Every entity kind is matched to existing rows by its natural key, compared, and then inserted,
updated or left unchanged. Budget lines, the bulk of a load, are read once from the staged file,
matched against the stored rows fetched in one statement, and compared as plain tuples (see
``bulk``: money and dates as text on both sides); the writes are batched (COPY on PostgreSQL,
executemany on SQLite). The same staged data loaded twice finds everything unchanged the second
time and writes nothing.
"""
from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from ..errors import ConcurrentLoad
from ..rules.budget import agreement_key, title_key
from ..rundir import read_jsonl
from . import bulk
from .models import CAN, Agreement, BudgetLineItem, Lineage, Portfolio, Project

BLI_FIELDS = ("line_description", "comments", "amount", "proc_shop_fee_amount", "date_needed",
              "fiscal_year", "status", "can_id", "agreement_id")
LINEAGE_COLUMNS = ("run_id", "entity", "entity_id", "file_sha256", "sheet", "rows")
# Positions in a budget line's field tuple (BLI_FIELDS order) of its signature: the CAN,
# agreement, description, date needed and amount that match a line staged without an id.
_SIGNATURE = (7, 8, 0, 4, 2)
#: The advisory lock that serialises loads (one for all datasets: they share CANs and projects).
LOAD_LOCK = "ops-pipeline-load"


def _counts() -> dict:
    return {"inserted": 0, "updated": 0, "unchanged": 0}


@dataclass
class LoadContext:
    run_id: str
    file_sha256: str
    write_lineage: bool = True
    counts: dict = field(default_factory=dict)
    lineage: list = field(default_factory=list)


class Loader:
    """Loads one run's entity files, in dependency order, on one connection (one transaction)."""

    def __init__(self, conn: Connection, context: LoadContext):
        self.conn = conn
        self.ctx = context
        self.project_ids: dict[str, int] = {}
        self.can_ids: dict[str, int] = {}
        self.agreement_ids: dict[tuple, int] = {}
        self.portfolio_ids = {
            abbr.upper(): pid for abbr, pid in conn.execute(select(Portfolio.abbreviation, Portfolio.id))
        }

    # -- public -------------------------------------------------------------------------------
    def load(self, files: dict[str, Path]) -> dict:
        with _no_gc_pauses():
            for kind, method in (("project", self._projects), ("can", self._cans),
                                 ("agreement", self._agreements), ("budget_line_item", self._budget_lines)):
                self.ctx.counts[kind] = _counts()
                path = files.get(kind)
                if path is not None:
                    method(path)
            self._flush_lineage()
        return self.ctx.counts

    # -- lineage ------------------------------------------------------------------------------
    def _trace(self, kind: str, entity_id: int, lineage: dict) -> None:
        if self.ctx.write_lineage:
            self.ctx.lineage.append((self.ctx.run_id, kind, entity_id, self.ctx.file_sha256,
                                     lineage.get("sheet"), lineage.get("rows", "")))

    def _flush_lineage(self) -> None:
        # In index order: each index entry then lands beside the previous one.
        self.ctx.lineage.sort(key=_lineage_order)
        with bulk.foreign_keys_checked_once(self.conn, Lineage.__table__, len(self.ctx.lineage)):
            bulk.insert_rows(self.conn, Lineage.__table__, LINEAGE_COLUMNS, self.ctx.lineage)
        self.ctx.lineage = []

    # -- reference entities -------------------------------------------------------------------
    def _projects(self, path: Path) -> None:
        records = list(read_jsonl(path))
        existing = {title_key(t): i for i, t in self.conn.execute(select(Project.id, Project.title))}
        counts, new = self.ctx.counts["project"], []
        for record in records:
            key = title_key(record["key"]["title"])
            if key in existing:
                counts["unchanged"] += 1
                self.project_ids[key] = existing[key]
            else:
                new.append((key, record))
        columns = _staged_columns(Project.__table__, [r["values"] for _, r in new])
        rows = []
        for (key, record), new_id in zip(new, bulk.reserve_ids(self.conn, Project.__table__, len(new))):
            self.project_ids[key] = new_id
            values = record["values"]
            rows.append((new_id, *(values.get(c) for c in columns)))
        counts["inserted"] += bulk.insert_rows(self.conn, Project.__table__, ("id", *columns), rows)
        for record in records:
            self._trace("project", self.project_ids[title_key(record["key"]["title"])], record["lineage"])

    def _cans(self, path: Path) -> None:
        records = list(read_jsonl(path))
        existing = {row[1]: row for row in bulk.read_rows(
            self.conn, CAN.__table__, ("id", "number", "description", "portfolio_id"),
            {"number": [r["key"]["number"] for r in records]})} if records else {}
        counts, new, changed = self.ctx.counts["can"], [], []
        for record in records:
            number = record["key"]["number"]
            portfolio = (record["links"].get("portfolio") or {}).get("abbreviation")
            portfolio_id = self.portfolio_ids.get(portfolio.upper()) if portfolio else None
            description = record["values"].get("description")
            row = existing.get(number)
            if row is None:
                new.append([None, number, description, portfolio_id])
                continue
            row_id, _, current_description, current_portfolio = row
            self.can_ids[number] = row_id
            # The spreadsheet adds what it knows; it never blanks a description or a portfolio.
            wanted = (description or current_description, portfolio_id or current_portfolio)
            if wanted != (current_description, current_portfolio):
                changed.append((row_id, *wanted))
            else:
                counts["unchanged"] += 1
        for values, new_id in zip(new, bulk.reserve_ids(self.conn, CAN.__table__, len(new))):
            values[0] = self.can_ids[values[1]] = new_id
        counts["inserted"] += bulk.insert_rows(self.conn, CAN.__table__,
                                               ("id", "number", "description", "portfolio_id"), new)
        counts["updated"] += bulk.update_rows(self.conn, CAN.__table__, ("description", "portfolio_id"), changed)
        for record in records:
            self._trace("can", self.can_ids[record["key"]["number"]], record["lineage"])

    def _agreements(self, path: Path) -> None:
        records = list(read_jsonl(path))
        existing = {
            agreement_key(name, kind): i
            for i, name, kind in self.conn.execute(select(Agreement.id, Agreement.name, Agreement.agreement_type))
        }
        counts, new = self.ctx.counts["agreement"], []
        for record in records:
            key = agreement_key(record["key"]["name"], record["key"]["agreement_type"])
            if key in existing:
                self.agreement_ids[key] = existing[key]
                counts["unchanged"] += 1
            else:
                new.append((key, record))
        columns = _staged_columns(Agreement.__table__, [r["values"] for _, r in new], exclude=("project_id",))
        rows = []
        for (key, record), new_id in zip(new, bulk.reserve_ids(self.conn, Agreement.__table__, len(new))):
            project = (record["links"].get("project") or {}).get("title")
            self.agreement_ids[key] = new_id
            values = record["values"]
            rows.append((new_id, *(values.get(c) for c in columns),
                         self.project_ids.get(title_key(project)) if project else None))
        counts["inserted"] += bulk.insert_rows(self.conn, Agreement.__table__,
                                               ("id", *columns, "project_id"), rows)
        for record in records:
            key = agreement_key(record["key"]["name"], record["key"]["agreement_type"])
            self._trace("agreement", self.agreement_ids[key], record["lineage"])

    # -- budget lines -------------------------------------------------------------------------
    def _budget_lines(self, path: Path) -> None:
        table = BudgetLineItem.__table__
        counts = self.ctx.counts["budget_line_item"]
        staged = self._staged_budget_lines(path)

        explicit = {line_id for line_id, _, _ in staged if line_id is not None}
        # Lines without an id match a stored line with the same signature; only lines on the
        # CANs of such lines can match, and lines named by an explicit id never do.
        signature_cans = {fields[7] for line_id, fields, _ in staged if line_id is None and fields[7] is not None}
        stored = bulk.read_rows(self.conn, table, ("id",) + BLI_FIELDS,
                                {"id": explicit, "can_id": signature_cans})
        by_id: dict[int, tuple] = {}
        by_signature: dict[tuple, list] = {}
        a, b, c, d, e = (i + 1 for i in _SIGNATURE)
        for row in stored:
            if row[0] in explicit:
                by_id[row[0]] = row[1:]
            else:
                by_signature.setdefault((row[a], row[b], row[c], row[d], row[e]), []).append(row)
        for candidates in by_signature.values():
            candidates.reverse()  # pop() takes the lowest id first: each stored line matches once

        if explicit:  # before any insert: from here on the sequence never hands out these ids
            bulk.advance_sequence(self.conn, table, max(explicit))
        inserts: list[list] = []
        updates: list[tuple] = []
        entity_ids: list = []  # an id, or the insert row whose id is reserved below
        unchanged = 0
        a, b, c, d, e = _SIGNATURE
        for line_id, fields, _ in staged:
            if line_id is not None:
                current = by_id.get(line_id)
            else:
                candidates = by_signature.get((fields[a], fields[b], fields[c], fields[d], fields[e]))
                current = None
                if candidates:
                    row = candidates.pop()
                    line_id, current = row[0], row[1:]
            if current is None:
                row = [line_id, *fields]
                inserts.append(row)
                entity_ids.append(line_id if line_id is not None else row)
            else:
                if current != fields:
                    updates.append((line_id, *fields))
                else:
                    unchanged += 1
                entity_ids.append(line_id)
        needs_id = [row for row in inserts if row[0] is None]
        for row, new_id in zip(needs_id, bulk.reserve_ids(self.conn, table, len(needs_id),
                                                          floor=max(explicit, default=0))):
            row[0] = new_id
        with bulk.foreign_keys_checked_once(self.conn, table, len(inserts)):
            counts["inserted"] += bulk.insert_rows(self.conn, table, ("id",) + BLI_FIELDS, inserts)
        counts["updated"] += bulk.update_rows(self.conn, table, BLI_FIELDS, updates)
        counts["unchanged"] += unchanged
        if self.ctx.write_lineage:
            run_id, sha = self.ctx.run_id, self.ctx.file_sha256
            self.ctx.lineage.extend(
                (run_id, "budget_line_item", ref if ref.__class__ is int else ref[0], sha, sheet, rows)
                for ref, (_, _, (sheet, rows)) in zip(entity_ids, staged)
            )

    def _staged_budget_lines(self, path: Path) -> list[tuple]:
        """The staged lines as ``(id or None, fields in BLI_FIELDS order, (sheet, rows))``."""
        can_ids = self.can_ids
        agreements: dict[tuple, int | None] = {}  # (name, type) as staged → id
        sheets: dict = {}  # one string object per sheet name, not one per line
        staged = []
        append = staged.append
        for record in read_jsonl(path):
            values, links, lineage = record["values"], record["links"], record["lineage"]
            can = links.get("can")
            agreement = links.get("agreement")
            if agreement:
                link = (agreement["name"], agreement["agreement_type"])
                agreement_id = agreements.get(link, -1)
                if agreement_id == -1:
                    agreement_id = agreements[link] = self.agreement_ids.get(agreement_key(*link))
            else:
                agreement_id = None
            sheet = lineage.get("sheet")
            sheet = sheets.setdefault(sheet, sheet)
            key = record["key"]
            append((
                key["id"] if key else None,
                (values.get("line_description"), values.get("comments"), money_text(values.get("amount")),
                 money_text(values.get("proc_shop_fee_amount")), date_text(values.get("date_needed")),
                 values.get("fiscal_year"), values.get("status"),
                 can_ids.get(can["number"]) if can else None, agreement_id),
                (sheet, lineage.get("rows", "")),
            ))
        return staged


def _lineage_order(row: tuple) -> tuple:
    return row[1], row[2]


def _staged_columns(table, values: list[dict], exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The model's columns that the staged values give, in table order (a staged key that is not a
    column is an error, not something to drop silently)."""
    given = set().union(*values) if values else set()
    unknown = given - set(table.c.keys())
    if unknown:
        raise ValueError(f"staged {table.name} values have no column: {', '.join(sorted(unknown))}")
    return tuple(c.name for c in table.columns if c.name in given and c.name != "id" and c.name not in exclude)


# -- comparable forms (see bulk) ---------------------------------------------------------------

_MONEY = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]{2}")
_CENT = Decimal("0.01")


def money_text(value) -> str | None:
    """An amount as text with exactly two places, the form numeric(12,2) reads back as."""
    if value is None:
        return None
    if value.__class__ is str and _MONEY.fullmatch(value) and value != "-0.00":
        return value
    amount = Decimal(str(value)).quantize(_CENT)
    return "0.00" if amount == 0 else str(amount)


def date_text(value) -> str | None:
    """A date as ISO text (staged dates are ISO already)."""
    if value is None:
        return None
    if value.__class__ is str:
        return value[:10]
    return value.isoformat()[:10]


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    # A load builds a few hundred thousand small tuples that all live until it ends: the cyclic
    # collector would scan them again and again for nothing (about 0.3 s of 100,000 lines).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- the lock ---------------------------------------------------------------------------------

def acquire_load_lock(conn: Connection, wait_seconds: float) -> None:
    """Serialise loads: a PostgreSQL advisory lock held until the transaction ends.

    Waits up to ``wait_seconds`` (0: not at all), then raises :class:`ConcurrentLoad`. The
    session's own ``lock_timeout`` applies again once the lock is held. SQLite takes its write
    lock when the transaction begins (BEGIN IMMEDIATE, waiting as set by :func:`prepare_connection`).
    """
    if conn.dialect.name != "postgresql":
        return
    key = {"key": LOAD_LOCK}
    if wait_seconds <= 0:
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), key).scalar():
            raise ConcurrentLoad(concurrent_message(wait_seconds))
        return
    previous = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar()
    # SET LOCAL takes no bind parameters; the value is an int we formatted ourselves.
    conn.execute(text(f"SET LOCAL lock_timeout = '{max(1, int(wait_seconds * 1000))}ms'"))
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), key)
    conn.execute(text("SELECT set_config('lock_timeout', :previous, true)"), {"previous": previous})


def prepare_connection(conn: Connection, wait_seconds: float) -> None:
    """Before the load's transaction begins: how long SQLite waits for another writer's lock."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        raw.execute(f"PRAGMA busy_timeout = {max(0, int(wait_seconds * 1000))}")


def concurrent_message(wait_seconds: float) -> str:
    waited = f"waited {wait_seconds:g} s" if wait_seconds > 0 else "did not wait"
    return f"another load holds the database lock ({waited}); run this load again when it ends"
