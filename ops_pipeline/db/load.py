"""The load strategy: upsert staged entities by natural key inside the caller's transaction.

Every entity kind is matched to existing rows by its natural key, compared, and then inserted,
updated or left unchanged; writes are batched (executemany, or COPY on PostgreSQL). The same
staged data loaded twice finds everything unchanged the second time.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy.engine import Connection

from ..rules.budget import agreement_key, title_key
from ..rundir import read_jsonl
from . import bulk
from .models import CAN, Agreement, BudgetLineItem, Lineage, Portfolio, Project

CHUNK = 5000
BLI_FIELDS = ("line_description", "comments", "amount", "proc_shop_fee_amount", "date_needed",
              "fiscal_year", "status", "can_id", "agreement_id")


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
        self.dialect = conn.dialect.name
        self.project_ids: dict[str, int] = {}
        self.can_ids: dict[str, int] = {}
        self.agreement_ids: dict[tuple, int] = {}
        self.portfolio_ids = {
            abbr.upper(): pid for abbr, pid in conn.execute(select(Portfolio.abbreviation, Portfolio.id))
        }

    # -- public -------------------------------------------------------------------------------
    def load(self, files: dict[str, Path]) -> dict:
        for kind, method in (("project", self._projects), ("can", self._cans),
                             ("agreement", self._agreements), ("budget_line_item", self._budget_lines)):
            self.ctx.counts[kind] = _counts()
            path = files.get(kind)
            if path is not None:
                method(path)
        self._flush_lineage(final=True)
        return self.ctx.counts

    # -- lineage ------------------------------------------------------------------------------
    def _trace(self, kind: str, entity_id: int, lineage: dict) -> None:
        if not self.ctx.write_lineage:
            return
        self.ctx.lineage.append({
            "run_id": self.ctx.run_id, "entity": kind, "entity_id": entity_id,
            "file_sha256": self.ctx.file_sha256, "sheet": lineage.get("sheet"), "rows": lineage.get("rows", ""),
        })
        if len(self.ctx.lineage) >= CHUNK:
            self._flush_lineage()

    def _flush_lineage(self, final: bool = False) -> None:
        if self.ctx.lineage:
            bulk.insert_rows(self.conn, Lineage.__table__, self.ctx.lineage)
            self.ctx.lineage = []

    # -- reference entities -------------------------------------------------------------------
    def _projects(self, path: Path) -> None:
        existing = {title_key(t): i for i, t in self.conn.execute(select(Project.id, Project.title))}
        counts, new = self.ctx.counts["project"], []
        for record in read_jsonl(path):
            key = title_key(record["key"]["title"])
            if key in existing:
                counts["unchanged"] += 1
                self.project_ids[key] = existing[key]
            else:
                new.append(record)
        ids = bulk.reserve_ids(self.conn, Project.__table__, len(new))
        rows = []
        for record, new_id in zip(new, ids):
            key = title_key(record["key"]["title"])
            existing[key] = self.project_ids[key] = new_id
            rows.append({"id": new_id, "short_title": None, "description": None, "maps_id": None,
                         **record["values"]})
        bulk.insert_rows(self.conn, Project.__table__, rows)
        counts["inserted"] += len(rows)
        for record in read_jsonl(path):
            self._trace("project", self.project_ids[title_key(record["key"]["title"])], record["lineage"])

    def _cans(self, path: Path) -> None:
        records = list(read_jsonl(path))
        numbers = [r["key"]["number"] for r in records]
        existing = {}
        for part in _chunks(numbers, 1000):
            for row in self.conn.execute(select(CAN.id, CAN.number, CAN.description, CAN.portfolio_id)
                                         .where(CAN.number.in_(part))):
                existing[row.number] = row
        counts, new, changed = self.ctx.counts["can"], [], []
        for record in records:
            number = record["key"]["number"]
            portfolio = (record["links"].get("portfolio") or {}).get("abbreviation")
            portfolio_id = self.portfolio_ids.get(portfolio.upper()) if portfolio else None
            description = record["values"].get("description")
            row = existing.get(number)
            if row is None:
                new.append({"number": number, "description": description, "nick_name": None,
                            "portfolio_id": portfolio_id})
                continue
            self.can_ids[number] = row.id
            update = {}
            if description and description != row.description:
                update["description"] = description
            if portfolio_id and portfolio_id != row.portfolio_id:
                update["portfolio_id"] = portfolio_id
            if update:
                changed.append({"_id": row.id, "description": update.get("description", row.description),
                                "portfolio_id": update.get("portfolio_id", row.portfolio_id)})
            else:
                counts["unchanged"] += 1
        for values, new_id in zip(new, bulk.reserve_ids(self.conn, CAN.__table__, len(new))):
            values["id"] = new_id
            self.can_ids[values["number"]] = new_id
        bulk.insert_rows(self.conn, CAN.__table__, new)
        bulk.update_rows(self.conn, CAN.__table__, changed, ("description", "portfolio_id"))
        counts["inserted"] += len(new)
        counts["updated"] += len(changed)
        for record in records:
            self._trace("can", self.can_ids[record["key"]["number"]], record["lineage"])

    def _agreements(self, path: Path) -> None:
        existing = {
            agreement_key(name, kind): i
            for i, name, kind in self.conn.execute(select(Agreement.id, Agreement.name, Agreement.agreement_type))
        }
        counts, new = self.ctx.counts["agreement"], []
        for record in read_jsonl(path):
            key = agreement_key(record["key"]["name"], record["key"]["agreement_type"])
            if key in existing:
                self.agreement_ids[key] = existing[key]
                counts["unchanged"] += 1
            else:
                new.append((key, record))
        ids = bulk.reserve_ids(self.conn, Agreement.__table__, len(new))
        rows = []
        for (key, record), new_id in zip(new, ids):
            project = (record["links"].get("project") or {}).get("title")
            self.agreement_ids[key] = new_id
            rows.append({"id": new_id, "maps_sys_id": None,
                         "project_id": self.project_ids.get(title_key(project)) if project else None,
                         **record["values"]})
        bulk.insert_rows(self.conn, Agreement.__table__, rows)
        counts["inserted"] += len(rows)
        for record in read_jsonl(path):
            key = agreement_key(record["key"]["name"], record["key"]["agreement_type"])
            self._trace("agreement", self.agreement_ids[key], record["lineage"])

    # -- budget lines -------------------------------------------------------------------------
    def _budget_lines(self, path: Path) -> None:
        explicit: set[int] = set()
        for record in read_jsonl(path):
            if record["key"]:
                explicit.add(record["key"]["id"])
        table = BudgetLineItem.__table__
        # Lines without an id match an existing line with the same CAN, agreement, description,
        # date needed and amount; each existing line is matched at most once.
        by_signature: dict[tuple, list] = {}
        can_ids = sorted(set(self.can_ids.values()))
        columns = [table.c[f] for f in ("id",) + BLI_FIELDS]
        for part in _chunks(can_ids, 1000):
            query = select(*columns).where(table.c.can_id.in_(part)).order_by(table.c.id)
            for row in self.conn.execute(query):
                if row.id not in explicit:
                    signature = (row.can_id, row.agreement_id, row.line_description, _date(row.date_needed),
                                 _money(row.amount))
                    by_signature.setdefault(signature, []).append(row)
        floor = max(explicit) if explicit else 0
        counts = self.ctx.counts["budget_line_item"]
        for part in _chunks_iter(read_jsonl(path), CHUNK):
            self._budget_line_chunk(part, by_signature, floor, counts)
        if explicit:
            bulk.sync_sequence(self.conn, table)

    def _budget_line_chunk(self, records: list[dict], by_signature: dict, floor: int, counts: dict) -> None:
        table = BudgetLineItem.__table__
        rows = [self._budget_line_values(r) for r in records]
        wanted = [r["key"]["id"] for r in records if r["key"]]
        existing = {}
        if wanted:
            query = select(*(table.c[f] for f in ("id",) + BLI_FIELDS)).where(table.c.id.in_(wanted))
            existing = {row.id: row for row in self.conn.execute(query)}
        inserts, updates, needs_id = [], [], []
        for record, values in zip(records, rows):
            line_id = record["key"]["id"] if record["key"] else None
            current = None
            if line_id is not None:
                current = existing.get(line_id)
            else:
                signature = (values["can_id"], values["agreement_id"], values["line_description"],
                             values["date_needed"], values["amount"])
                candidates = by_signature.get(signature)
                if candidates:
                    current = candidates.pop(0)
                    line_id = current.id
            if current is None:
                values["id"] = line_id
                if line_id is None:
                    needs_id.append(values)
                inserts.append(values)
                record["_entity_id"] = values
            else:
                if any(_differs(getattr(current, f), values[f]) for f in BLI_FIELDS):
                    updates.append({"_id": line_id, **values})
                else:
                    counts["unchanged"] += 1
                record["_entity_id"] = line_id
        for values, new_id in zip(needs_id, bulk.reserve_ids(self.conn, table, len(needs_id), floor=floor)):
            values["id"] = new_id
        bulk.insert_rows(self.conn, table, inserts)
        bulk.update_rows(self.conn, table, updates, BLI_FIELDS)
        counts["inserted"] += len(inserts)
        counts["updated"] += len(updates)
        for record in records:
            entity = record["_entity_id"]
            self._trace("budget_line_item", entity["id"] if isinstance(entity, dict) else entity,
                        record["lineage"])

    def _budget_line_values(self, record: dict) -> dict:
        values = dict(record["values"])
        values["amount"] = _money(values.get("amount"))
        values["proc_shop_fee_amount"] = _money(values.get("proc_shop_fee_amount"))
        values["date_needed"] = dt.date.fromisoformat(values["date_needed"]) if values.get("date_needed") else None
        can = (record["links"].get("can") or {}).get("number")
        values["can_id"] = self.can_ids.get(can) if can else None
        agreement = record["links"].get("agreement")
        values["agreement_id"] = (
            self.agreement_ids.get(agreement_key(agreement["name"], agreement["agreement_type"]))
            if agreement else None
        )
        return values


def _date(value):
    return value.date() if isinstance(value, dt.datetime) else value


def _money(value) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _differs(current, incoming) -> bool:
    if isinstance(current, Decimal) or isinstance(incoming, Decimal):
        return _money(current) != _money(incoming)
    if isinstance(current, dt.datetime):
        current = current.date()
    return current != incoming


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _chunks_iter(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def acquire_load_lock(conn: Connection, wait_seconds: float) -> None:
    """Serialise loads: PostgreSQL advisory lock held until the transaction ends.

    SQLite takes its write lock when the transaction begins (BEGIN IMMEDIATE).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL lock_timeout = '{int(wait_seconds * 1000)}ms'"))
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('ops-pipeline-load'))"))
        conn.execute(text("SET LOCAL lock_timeout = 0"))
