"""PostgreSQL bulk path: OPS's constraints are never touched (the pipeline's role does not own
OPS's tables, and OPS's users work while it loads); the pipeline's own lineage table checks its
foreign keys once, in one join, for a large load, and its constraints come back exactly as they were."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from ops_pipeline.db import bulk
from ops_pipeline.db.load import LINEAGE_COLUMNS
from ops_pipeline.db.models import Lineage
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.load import load
from ops_pipeline.stages.transform import transform
from ops_pipeline.stages.validate import validate

pytestmark = pytest.mark.postgres

FOREIGN_KEYS = """
    SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated
    FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2
"""


def foreign_keys(url: str) -> list[tuple]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SET search_path TO pg_catalog"))  # every name shown with its schema
            return [tuple(row) for row in conn.execute(text(FOREIGN_KEYS))]
    finally:
        engine.dispose()


def record_choices(monkeypatch) -> list:
    """Record, per table, whether the bulk path checked its keys once (True) or per row (False)."""
    choices = []
    real = bulk.foreign_keys_checked_once

    class Spy:
        def __init__(self, conn, table, new_rows):
            self.table, self.manager = table, real(conn, table, new_rows)

        def __enter__(self):
            once = self.manager.__enter__()
            choices.append((self.table.name, once))
            return once

        def __exit__(self, *exc):
            return self.manager.__exit__(*exc)

    monkeypatch.setattr(bulk, "foreign_keys_checked_once", Spy)
    return choices


def staged(tmp_path, runs_root, rows: int):
    workbook = write_sample_workbook(tmp_path / f"budget-{rows}.xlsx", rows=rows, seed=12, dirty=False)
    run = fetch(str(workbook), runs_root)
    validate(run)
    transform(run)
    return run


def test_a_bulk_load_never_touches_ops_constraints_and_checks_lineage_keys_once(pg_schema_url, runs_root, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setattr(bulk, "BULK_FOREIGN_KEYS", 100)
    before = foreign_keys(pg_schema_url)
    assert ("ops.budget_line_item", "budget_line_item_can_id_fkey", "FOREIGN KEY (can_id) REFERENCES ops.can(id)",
            True) in before
    once = record_choices(monkeypatch)
    result = load(staged(tmp_path, runs_root, 300), db_url=pg_schema_url)
    assert result["entities"]["budget_line_item"]["inserted"] == 300
    assert once == [("ops_pipeline_lineage", True)]  # never an OPS table
    assert foreign_keys(pg_schema_url) == before


def test_a_bad_key_in_a_bulk_insert_still_fails_and_leaves_the_keys(pg_schema_url, monkeypatch):
    monkeypatch.setattr(bulk, "BULK_FOREIGN_KEYS", 100)
    before = foreign_keys(pg_schema_url)
    engine = create_engine(pg_schema_url, poolclass=NullPool)
    rows = [("no-such-run", "budget_line_item", i, "a" * 64, "All Budget - Cur", str(i)) for i in range(1, 301)]
    try:
        with engine.connect() as conn:
            with pytest.raises(IntegrityError, match="ops_pipeline_lineage_run_id_fkey"):
                with conn.begin():
                    with bulk.foreign_keys_checked_once(conn, Lineage.__table__, len(rows)) as once:
                        assert once is True
                        bulk.insert_rows(conn, Lineage.__table__, LINEAGE_COLUMNS, rows)
            assert conn.execute(text("SELECT COUNT(*) FROM ops_pipeline.ops_pipeline_lineage")).scalar() == 0
    finally:
        engine.dispose()
    assert foreign_keys(pg_schema_url) == before


def test_a_reader_holding_the_tables_makes_the_load_check_per_row_instead(pg_schema_url, runs_root, tmp_path,
                                                                         monkeypatch):
    # Someone reading the runs in a long transaction: the load must not queue behind them (and
    # make every later reader queue behind the load) for more than BULK_LOCK_WAIT.
    monkeypatch.setattr(bulk, "BULK_FOREIGN_KEYS", 100)
    monkeypatch.setattr(bulk, "BULK_LOCK_WAIT", 0.3)
    before = foreign_keys(pg_schema_url)
    choices = record_choices(monkeypatch)
    reader = create_engine(pg_schema_url, poolclass=NullPool)
    try:
        with reader.connect() as conn, conn.begin():
            conn.execute(text("SELECT COUNT(*) FROM ops_pipeline.ops_pipeline_run"))  # ACCESS SHARE until the end
            result = load(staged(tmp_path, runs_root, 300), db_url=pg_schema_url)
            assert result["entities"]["budget_line_item"]["inserted"] == 300
            assert conn.execute(text("SELECT COUNT(*) FROM ops.can")).scalar() > 0  # never blocked
    finally:
        reader.dispose()
    assert choices == [("ops_pipeline_lineage", False)]
    assert foreign_keys(pg_schema_url) == before


def test_small_loads_and_sqlite_never_touch_the_constraints(pg_schema_url, sqlite_url):
    for url in (pg_schema_url, sqlite_url):
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn, conn.begin():
                with bulk.foreign_keys_checked_once(conn, Lineage.__table__, bulk.BULK_FOREIGN_KEYS - 1) as once:
                    assert once is False
                if url == sqlite_url:
                    with bulk.foreign_keys_checked_once(conn, Lineage.__table__, 10**6) as once:
                        assert once is False
        finally:
            engine.dispose()
