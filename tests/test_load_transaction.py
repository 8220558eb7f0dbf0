"""The load's transaction and bookkeeping, pinned where mutation testing found them unpinned: the
run record written with the data, lineage replaced (not doubled) when a run is loaded again, CANs
never blanked by a sheet that knows less, the collector restored, the concurrency messages, and
(since the rewrite of issue 9) the findings counted and placed, OPS's audit columns and history
stamped, and a refusal that writes nothing and says why."""
from __future__ import annotations

import datetime as dt
import gc
import os
import sqlite3
import time

import pytest
from sqlalchemy import select, update

from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.load import concurrent_message, date_text
from ops_pipeline.db.models import Lineage, PipelineRun
from ops_pipeline.db.ops_models import CAN, BudgetLineItem, User, transaction_table
from ops_pipeline.errors import DataInvalid
from ops_pipeline.rundir import read_jsonl
from ops_pipeline.stages import load as load_stage
from ops_pipeline.stages.load import load
from tests.conftest import good_row, staged, db_rows as _rows


def _execute(url, statement):
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(statement)
    finally:
        engine.dispose()


def test_the_run_record_holds_the_counts_and_the_staged_checksum(sqlite_url, runs_root, make_workbook):
    run = staged(make_workbook([good_row(budget_id=1), good_row(budget_id=2, desc="Year 2")]), runs_root)
    result = load(run, db_url=sqlite_url)
    [record] = _rows(sqlite_url, select(PipelineRun))
    outputs = run.stage_info("transform")["outputs"]
    assert record.id == run.run_id and record.status == "loaded" and record.dataset == run.dataset
    assert record.counts == result["entities"] and record.file_sha256 == run.manifest["source"]["sha256"]
    assert record.staged_sha256 == load_stage.hashlib.sha256("".join(o["sha256"] for o in outputs).encode()).hexdigest()
    assert record.finished_at >= record.started_at
    assert record.source == run.manifest["source"]["name"] and record.source.endswith(".xlsx")
    assert result["dry_run"] is False and result["reloaded"] is False
    assert run.stage_info("load")["inputs"] == [{"path": o["path"], "sha256": o["sha256"]} for o in outputs]
    assert run.stage_info("load")["counts"] == result["entities"]


def test_the_run_record_is_stamped_when_the_load_ends_in_utc(sqlite_url, runs_root, make_workbook, monkeypatch):
    """finished_at is read when the data is written, not copied from started_at, and every time
    the load stamps is in UTC: a clock that moves an hour a reading and refuses local time."""
    import datetime as real
    import types

    readings = iter(real.datetime(2026, 1, 1, hour, tzinfo=real.timezone.utc) for hour in range(24))

    class Clock(real.datetime):
        @classmethod
        def now(cls, tz=None):
            assert tz is real.timezone.utc, "the load stamps times in UTC"
            return next(readings)

    monkeypatch.setattr(load_stage, "dt", types.SimpleNamespace(datetime=Clock, timezone=real.timezone,
                                                               date=real.date, timedelta=real.timedelta))
    run = staged(make_workbook([good_row(budget_id=1)]), runs_root)
    load(run, db_url=sqlite_url)
    [record] = _rows(sqlite_url, select(PipelineRun))
    assert record.finished_at.replace(tzinfo=None) - record.started_at.replace(tzinfo=None) == real.timedelta(hours=1)


def test_a_run_loaded_again_after_its_data_changed_replaces_its_lineage(sqlite_url, runs_root, make_workbook):
    run = staged(make_workbook([good_row(budget_id=1), good_row(budget_id=2, desc="Year 2")]), runs_root)
    load(run, db_url=sqlite_url)
    lineage = sorted(_rows(sqlite_url, select(Lineage.entity, Lineage.entity_id).where(Lineage.run_id == run.run_id)))
    assert load(run, db_url=sqlite_url)["reloaded"] is True
    assert sorted(_rows(sqlite_url, select(Lineage.entity, Lineage.entity_id))) == lineage  # not doubled
    # The same run transformed again from other data (a rule changed): its lineage is replaced.
    staged_before = _rows(sqlite_url, select(PipelineRun.staged_sha256))[0][0]
    [line_file] = [run.path / o["path"] for o in run.stage_info("transform")["outputs"]
                   if "budget_line_item" in o["path"]]
    kept = line_file.read_bytes().splitlines(keepends=True)[:1]
    line_file.write_bytes(b"".join(kept))
    info = run.stage_info("transform")
    for output in info["outputs"]:
        output["sha256"] = run.output_record(run.path / output["path"])["sha256"]
    run.save()
    result = load(run, db_url=sqlite_url)
    assert result["reloaded"] is True
    assert _rows(sqlite_url, select(PipelineRun.staged_sha256))[0][0] != staged_before
    lines = _rows(sqlite_url, select(Lineage.entity_id).where(Lineage.entity == "budget_line_item"))
    assert len(lines) == 1
    assert len(_rows(sqlite_url, select(Lineage))) == len(lineage) - 1


def test_a_sheet_that_knows_less_about_a_can_never_blanks_it(sqlite_url, runs_root, make_workbook):
    load(staged(make_workbook([good_row(budget_id=1)]), runs_root), db_url=sqlite_url)
    [(description, portfolio)] = _rows(sqlite_url, select(CAN.description, CAN.portfolio_id))
    assert description and portfolio is not None
    result = load(staged(make_workbook([good_row(budget_id=1, can="G994648")]), runs_root), db_url=sqlite_url)
    assert result["entities"]["can"] == {"inserted": 0, "updated": 0, "unchanged": 1, "skipped": 0, "rejected": 0}
    assert _rows(sqlite_url, select(CAN.description, CAN.portfolio_id)) == [(description, portfolio)]
    # What the sheet does know is filled in: here a description someone cleared.
    _execute(sqlite_url, update(CAN).values(description=None))
    result = load(staged(make_workbook([good_row(budget_id=1)]), runs_root), db_url=sqlite_url)
    assert result["entities"]["can"] == {"inserted": 0, "updated": 1, "unchanged": 0, "skipped": 0, "rejected": 0}
    assert _rows(sqlite_url, select(CAN.description, CAN.portfolio_id)) == [(description, portfolio)]


@pytest.mark.parametrize("enabled", [True, False])
def test_a_load_gives_the_garbage_collector_back_as_it_found_it(sqlite_url, runs_root, make_workbook, enabled):
    run = staged(make_workbook([good_row(budget_id=1)]), runs_root)
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        load(run, db_url=sqlite_url)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_a_failed_load_gives_the_garbage_collector_back_too(sqlite_url, runs_root, make_workbook, monkeypatch):
    run = staged(make_workbook([good_row(budget_id=1)]), runs_root)
    from ops_pipeline.db import load as db_load

    def boom(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(db_load.bulk, "insert_rows", boom)
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        load(run, db_url=sqlite_url)
    assert gc.isenabled()
    assert _rows(sqlite_url, select(BudgetLineItem)) == [] and _rows(sqlite_url, select(PipelineRun)) == []


def test_the_concurrency_message_says_whether_it_waited():
    assert concurrent_message(0) == (
        "another load holds the database lock (did not wait); run this load again when it ends")
    assert concurrent_message(2.5) == (
        "another load holds the database lock (waited 2.5 s); run this load again when it ends")
    assert concurrent_message(0.5) == (
        "another load holds the database lock (waited 0.5 s); run this load again when it ends")


@pytest.mark.parametrize("error, busy", [
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("Database Is Locked"), True),
    (sqlite3.OperationalError("no such table: x"), False),
    (type("PgError", (Exception,), {"sqlstate": "55P03"})(), True),
    (type("PgError", (Exception,), {"sqlstate": "40P01"})(), True),
    (type("PgError", (Exception,), {"sqlstate": "40001"})(), True),
    (type("PgError", (Exception,), {"sqlstate": "23505"})(), False),
])
def test_lock_timeouts_deadlocks_and_busy_sqlite_are_concurrency_not_breakage(error, busy):
    assert load_stage._lock_not_available(error) is busy
    wrapped = type("Wrapped", (Exception,), {})("wrapped")
    wrapped.orig = error
    assert load_stage._lock_not_available(wrapped) is busy


def test_a_staged_date_compares_as_its_iso_day():
    import datetime as dt
    assert date_text("2025-03-11T00:00:00") == "2025-03-11"
    assert date_text(dt.datetime(2025, 3, 11, 14, 5)) == "2025-03-11"
    assert date_text(dt.date(2025, 3, 11)) == "2025-03-11"
    assert date_text(None) is None


@pytest.mark.parametrize("wait, expected", [(2.5, 2500), (0, 0), (-1, 0)])
def test_sqlite_waits_for_another_writer_as_long_as_asked(sqlite_url, wait, expected):
    from sqlalchemy import text

    from ops_pipeline.db.load import prepare_connection
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            prepare_connection(conn, wait)
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == expected
    finally:
        engine.dispose()


def test_every_lineage_row_names_its_sheet_and_rows(sqlite_url, runs_root, make_workbook):
    run = staged(make_workbook([good_row(budget_id=1), good_row(budget_id=2, desc="Year 2")]), runs_root)
    load(run, db_url=sqlite_url)
    rows = _rows(sqlite_url, select(Lineage.entity, Lineage.sheet, Lineage.rows))
    assert {entity for entity, _, _ in rows} == {"project", "can", "agreement", "budget_line_item"}
    assert {sheet for _, sheet, _ in rows} == {"All Budget - Cur"}
    assert all(isinstance(r, str) and r and r[0].isdigit() for _, _, r in rows)


def test_the_result_counts_the_load_s_findings_by_code(sqlite_url, runs_root, make_workbook):
    # Two CANs whose description names no portfolio OPS has: one warning each, and each of their
    # lines a warning that it loads without its CAN; counted by code, not listed or deduplicated.
    run = staged(make_workbook([good_row(budget_id=1, can="G990001 (ZZ - 5 YR)"),
                                good_row(budget_id=2, can="G990002 (ZZ - 5 YR)", desc="Year 2"),
                                good_row(budget_id=3, desc="Year 3")]), runs_root)
    result = load(run, db_url=sqlite_url)
    assert result["findings"] == {"can-without-portfolio": 2, "unresolved-link": 2}


def test_a_load_s_findings_name_the_cell_as_validate_found_its_column(sqlite_url, runs_root, make_workbook):
    run = staged(make_workbook([good_row(budget_id=1, can="G990001 (ZZ - 5 YR)"),
                                good_row(budget_id=2, can="G990002 (ZZ - 5 YR)", desc="Year 2")]), runs_root)
    load(run, db_url=sqlite_url)
    cans = [f for f in read_jsonl(run.path / "load" / "findings.jsonl") if f["code"] == "can-without-portfolio"]
    # The CAN column is the sheet's first (A); its rows start under the header row.
    assert sorted((f["sheet"], f["column"], f["row"]) for f in cans) == [
        ("All Budget - Cur", "A", 2), ("All Budget - Cur", "A", 3)]


def test_ops_records_are_stamped_by_the_system_user_in_utc_with_their_history(sqlite_url, runs_root, make_workbook):
    """created_on/updated_on are the load's one UTC time (also its history transaction's), even
    where the machine's clock is local; created_by/updated_by the system user; history and the
    staged values OPS has no column for are in the result."""
    run = staged(make_workbook([good_row(budget_id=1)]), runs_root)
    zone = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"  # five hours from UTC in November, four in summer
    time.tzset()
    try:
        before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        result = load(run, db_url=sqlite_url)
        after = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    finally:
        if zone is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = zone
        time.tzset()
    [line] = _rows(sqlite_url, select(BudgetLineItem.created_on, BudgetLineItem.updated_on,
                                      BudgetLineItem.created_by, BudgetLineItem.updated_by))
    [user] = _rows(sqlite_url, select(User.id).where(User.email == "system.admin@email.com"))
    assert before <= line.created_on <= after and line.updated_on == line.created_on
    assert line.created_by == line.updated_by == user.id
    issued = _rows(sqlite_url, select(transaction_table.c.issued_at).order_by(transaction_table.c.id.desc()))[0][0]
    assert issued == line.created_on
    assert result["history"]["transaction"] == 1 and result["history"]["budget_line_item_version"] == 1
    assert set(result["not_loaded"]) == {"budget_line_item.proc_shop_fee_amount", "budget_line_item.fiscal_year"}


@pytest.mark.parametrize("lines, said", [(1, "1 record as it is"), (2, "2 records as they are")])
def test_a_record_ops_cannot_take_refuses_the_whole_load_unless_rejects_are_accepted(
        sqlite_url, runs_root, make_workbook, lines, said):
    """Stored contract lines sent again under a grant: OPS never changes a line's kind, so the
    load refuses, writes nothing (not even the lines it could take), says how many and where, and
    with accept_rejects loads the rest."""
    load(staged(make_workbook([good_row(budget_id=1), good_row(budget_id=2, desc="Year 2")]), runs_root),
         db_url=sqlite_url)
    stored = sorted(_rows(sqlite_url, select(BudgetLineItem.id, BudgetLineItem.amount)))
    rows = [good_row(budget_id=1 + i, cig_type="grant", amount=99, desc=f"Year {1 + i}") for i in range(lines)]
    run = staged(make_workbook([*rows, good_row(budget_id=3, desc="Year 3")]), runs_root)
    with pytest.raises(DataInvalid) as caught:
        load(run, db_url=sqlite_url)
    error = caught.value
    assert str(error).startswith(f"OPS cannot take {said}; nothing was loaded. All Budget - Cur!2: budget line ")
    assert str(error).endswith("is not loaded: OPS holds it as a CONTRACT record; it cannot become GRANT")
    assert error.stage == "load" and error.run_id == run.run_id
    assert error.hint == (f"every finding is in {run.path / 'load' / 'refused.jsonl'}; fix the file, or load the "
                          f"rest with: ops-pipeline load {run.path} --accept-rejects")
    assert sorted(_rows(sqlite_url, select(BudgetLineItem.id, BudgetLineItem.amount))) == stored
    assert len(_rows(sqlite_url, select(PipelineRun))) == 1

    result = load(run, db_url=sqlite_url, accept_rejects=True)
    assert result["findings"] == {"cannot-load": lines}
    assert sorted(_rows(sqlite_url, select(BudgetLineItem.id, BudgetLineItem.amount))) == [
        *stored, (3, stored[0][1])]
