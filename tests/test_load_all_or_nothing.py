"""A load that fails part-way leaves nothing behind, on SQLite as on PostgreSQL.

Not only database errors: an ordinary exception raised while the budget lines are being written
(a bug, a full disk, an interrupt) must roll back the projects, CANs and agreements already
written, the lines before it and the run record, and a rerun then loads everything.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ops_pipeline.db import bulk
from ops_pipeline.db.models import Lineage, PipelineRun
from ops_pipeline.db.ops_models import CAN, Agreement, BudgetLineItem, Project
from ops_pipeline.rundir import RunDir
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.stages.load import load
from tests.conftest import good_row, write_workbook, staged
from tests.test_load_crash_and_concurrency import _engine, snapshot

LINES = 400  # past bulk.COPY_THRESHOLD: PostgreSQL writes the lines with COPY
MODELS = (Project, CAN, Agreement, BudgetLineItem, Lineage, PipelineRun)


def counts(url: str) -> dict:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return {m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar() for m in MODELS}
    finally:
        engine.dispose()


class FailingLines:
    """Stands in for bulk.insert_rows: writes the first ``after`` budget lines for real, checks they
    are in the table, then raises an ordinary exception (not a database error)."""

    def __init__(self, after: int):
        self.after = after
        self.written_before_failure = None
        self.original = bulk.insert_rows

    def __call__(self, conn, table, columns, rows):
        if table.name != BudgetLineItem.__tablename__:
            return self.original(conn, table, columns, rows)
        self.original(conn, table, columns, rows[:self.after])
        self.written_before_failure = conn.execute(select(func.count()).select_from(BudgetLineItem)).scalar()
        raise RuntimeError(f"disk on fire at budget line {self.after + 1}")


@pytest.fixture
def loaded_before(db_url, runs_root, tmp_path) -> dict:
    """Something already in the database, that the failed load must leave exactly as it was."""
    workbook = write_workbook(tmp_path / "before.xlsx",
                              [good_row(budget_id=10 + i, desc=f"before {i}", amount=100 + i) for i in range(5)])
    load(staged(workbook, runs_root), db_url=db_url)
    return snapshot(db_url)


@pytest.mark.parametrize("after", [1, LINES // 2, LINES - 1])
def test_an_ordinary_exception_among_the_budget_lines_leaves_nothing_behind(db_url, runs_root, tmp_path,
                                                                             loaded_before, monkeypatch, after):
    run = staged(write_sample_workbook(tmp_path / "new.xlsx", rows=LINES, seed=5, dirty=False), runs_root)
    before_counts = counts(db_url)
    failing = FailingLines(after)
    monkeypatch.setattr(bulk, "insert_rows", failing)

    with pytest.raises(RuntimeError, match=f"disk on fire at budget line {after + 1}"):
        load(run, db_url=db_url)

    # The failure came after real writes of every kind, inside the transaction...
    assert failing.written_before_failure == before_counts["budget_line_item"] + after
    # ...and not one of them survived: no project, CAN, agreement, line, lineage or run record.
    assert snapshot(db_url) == loaded_before
    run.reload()
    assert run.status("load") == "failed"
    assert run.stage_info("load")["error"] == {
        "code": "internal-error", "message": f"RuntimeError: disk on fire at budget line {after + 1}"}

    monkeypatch.undo()
    result = load(RunDir(run.path), db_url=db_url)
    assert result["reloaded"] is False
    assert result["entities"]["budget_line_item"] == {"inserted": LINES, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    after_counts = counts(db_url)
    assert after_counts["budget_line_item"] == before_counts["budget_line_item"] + LINES
    assert after_counts["ops_pipeline_run"] == before_counts["ops_pipeline_run"] + 1
    for kind in ("project", "can", "agreement"):
        assert after_counts[kind] == before_counts[kind] + result["entities"][kind]["inserted"]


def test_a_failed_dry_run_and_a_failed_load_leave_the_same_nothing(db_url, runs_root, tmp_path, loaded_before,
                                                                    monkeypatch):
    run = staged(write_sample_workbook(tmp_path / "new.xlsx", rows=LINES, seed=6, dirty=False), runs_root)
    monkeypatch.setattr(bulk, "insert_rows", FailingLines(LINES // 3))
    for dry_run in (True, False):
        with pytest.raises(RuntimeError):
            load(RunDir(run.path), db_url=db_url, dry_run=dry_run)
        assert snapshot(db_url) == loaded_before
