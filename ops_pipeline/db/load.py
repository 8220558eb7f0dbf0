"""The load: a run's staged entities into OPS, with their lineage, inside the caller's transaction.

What is loaded and how is declared by the dataset (``Dataset.entities()``, see
:mod:`ops_pipeline.db.entities`); this module adds what every load does around it: the acting
(system) user, the history OPS's ORM would have recorded (:mod:`ops_pipeline.db.history`), the
lineage rows that trace each record to its file, sheet and rows, and the lock that serialises
loads. The same staged data loaded twice finds everything unchanged the second time and writes
nothing: no data, no history.
"""
from __future__ import annotations

import datetime as dt
import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .. import progress
from ..errors import ConcurrentLoad
from ..rundir import read_jsonl
from . import bulk
from .entities import Loader as EntityLoader
from .entities import date_text, money_text  # noqa: F401  (the comparable forms, used by tests)
from .models import Lineage

LINEAGE_COLUMNS = ("run_id", "entity", "entity_id", "file_sha256", "sheet", "rows")
#: The advisory lock that serialises loads (one for all datasets: they share CANs and projects).
LOAD_LOCK = "ops-pipeline-load"
#: Who OPS shows as having made the load's changes (created on first use, as OPS's loaders do).
ENV_USER_EMAIL = "OPS_PIPELINE_SYSTEM_USER_EMAIL"
ENV_USER_OIDC = "OPS_PIPELINE_SYSTEM_USER_OIDC_ID"


@dataclass
class LoadContext:
    run_id: str
    file_sha256: str
    write_lineage: bool = True
    columns: dict = field(default_factory=dict)  # the dataset's field -> column letter (findings)
    counts: dict = field(default_factory=dict)
    lineage: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    history: dict = field(default_factory=dict)
    #: The OPS (Continuum) transaction the load's history went under; None when nothing changed.
    transaction_id: int | None = None
    not_loaded: dict = field(default_factory=dict)
    questions: list = field(default_factory=list)
    #: references the load could not resolve, by the entity they point to (Loader.unresolved)
    unresolved: dict = field(default_factory=dict)


class Loader:
    """Loads one run's entity files, in dependency order, on one connection (one transaction)."""

    def __init__(self, conn: Connection, context: LoadContext, dataset):
        self.conn = conn
        self.ctx = context
        self.dataset = dataset

    def load(self, files: dict[str, Path]) -> dict:
        specs = self.dataset.entities()
        # Kinds a dataset writes itself, after its entities (a table keyed without an id, such as a
        # user's roles): ``own_loads`` names them, ``load_own(kind, records, loader)`` loads one
        # with the entity loader's connection, acting user, recorder and findings, and returns
        # its counts.
        own = [kind for kind in getattr(self.dataset, "own_loads", ()) if kind in files]
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        user_id, recorder = _history(self.conn, now)
        loader = EntityLoader(self.conn, specs, user_id=user_id, now=now, recorder=recorder,
                              columns=self.ctx.columns, trace=self._trace,
                              codes=self.dataset.codes())
        # PostgreSQL ingests the rows (OPS's constraints, indexes, JSON documents) in a writer
        # thread while the next ones are built here: one core each, not one waiting for the other.
        total = _records(files) if progress.shown() else None
        with _no_gc_pauses(), bulk.write_behind(self.conn), \
                progress.task("load: records", total, unit="records", minimum=progress.MIN_ROWS) as bar:
            self.ctx.counts = loader.load({kind: progress.counted(read_jsonl(path), bar)
                                           for kind, path in files.items() if kind not in own})
            for kind in own:
                self.ctx.counts[kind] = self.dataset.load_own(kind, progress.counted(read_jsonl(files[kind]), bar),
                                                              loader)
            self.ctx.history = recorder.flush() or {}
            self.ctx.transaction_id = recorder.transaction_id
            self._flush_lineage()
        self.ctx.findings = loader.findings
        self.ctx.questions = loader.questions
        self.ctx.unresolved = loader.unresolved()
        self.ctx.not_loaded = {f"{spec.name}.{name}": why for spec in specs for name, why in spec.not_loaded.items()
                               if spec.name in files}
        return self.ctx.counts

    # -- lineage ------------------------------------------------------------------------------
    def _trace(self, kind: str, entity_id: int, place: tuple) -> None:
        if self.ctx.write_lineage:
            self.ctx.lineage.append((self.ctx.run_id, kind, entity_id, self.ctx.file_sha256, place[0], place[1]))

    def _flush_lineage(self) -> None:
        # In index order: each index entry then lands beside the previous one.
        self.ctx.lineage.sort(key=_lineage_order)
        with bulk.foreign_keys_checked_once(self.conn, Lineage.__table__, len(self.ctx.lineage)):
            bulk.insert_rows(self.conn, Lineage.__table__, LINEAGE_COLUMNS, self.ctx.lineage)
        self.ctx.lineage = []


def _records(files: dict[str, Path]) -> int:
    """How many records the staged files hold (one a line), for the progress bar."""
    total = 0
    for path in files.values():
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                total += block.count(b"\n")
    return total


def _history(conn: Connection, now: dt.datetime):
    """The acting user's id and the recorder of OPS's history for this load."""
    from . import history

    email = os.environ.get(ENV_USER_EMAIL) or history.DEFAULT_EMAIL
    oidc = os.environ.get(ENV_USER_OIDC) or history.DEFAULT_OIDC
    recorder = history.History(conn, now=now)
    recorder.user_id = history.system_user(conn, email=email, oidc_id=oidc, history=recorder)
    return recorder.user_id, recorder


def _lineage_order(row: tuple) -> tuple:
    return row[1], row[2]


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
