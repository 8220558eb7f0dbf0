"""Loads under real concurrency and real crashes, with real processes.

Two loads at once never duplicate anything: the second waits for the first, or gives up with a
one-line message. A load killed mid-transaction (SIGKILL), or whose PostgreSQL server stops under
it, leaves the database exactly as before and the run directory saying so; loading again
completes the run. The 12,000-line run is staged once for the module and copied per test.
"""
from __future__ import annotations

import os
import select as io_select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ops_pipeline.db.engine import SQLITE_SCHEMA_MAP, init_schema
from ops_pipeline.db.models import Base
from ops_pipeline.db.ops_models import OpsBase
from ops_pipeline.rundir import RunDir, new_run_id, read_json, write_json
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.load import load
from ops_pipeline.stages.report import build_report
from ops_pipeline.stages.transform import transform
from ops_pipeline.stages.validate import validate
from tests.conftest import good_row, missing_prerequisite, write_workbook

# Enough lines for every bulk path a real load takes (COPY, the lineage's keys checked once from
# bulk.BULK_FOREIGN_KEYS lines on) and for a load that lasts long enough to be stopped mid-way.
ROWS = 12_000
SCRIPT_ENV = {k: v for k, v in os.environ.items() if k not in ("OPS_PIPELINE_DB_URL", "VCAP_SERVICES")}


# -- the staged run, and copies of it ----------------------------------------------------------

@pytest.fixture(scope="module")
def big_run(tmp_path_factory) -> dict:
    """A transformed run of a clean 12,000-line sample workbook (a template: tests load copies)."""
    root = tmp_path_factory.mktemp("big")
    workbook = write_sample_workbook(root / "budget-12k.xlsx", rows=ROWS, seed=21, dirty=False)
    run = fetch(str(workbook), root / "runs")
    assert validate(run)["outcome"] == "valid"
    summary = transform(run)
    return {"path": run.path, "counts": summary["counts"]}


def copy_run(big_run: dict, runs_root: Path) -> Path:
    """A copy of the staged run under a run id of its own."""
    run_id = new_run_id()
    target = runs_root / run_id
    shutil.copytree(big_run["path"], target)
    manifest = read_json(target / "manifest.json")
    manifest["run_id"] = run_id
    write_json(target / "manifest.json", manifest)
    return target


def small_load(url: str, tmp_path: Path, runs_root: Path) -> None:
    """Something already in the database, that a crashed load must leave exactly as it was."""
    workbook = write_workbook(tmp_path / "small.xlsx", [good_row(budget_id=10 + i, desc=f"before {i}", amount=100 + i)
                                                          for i in range(25)])
    run = fetch(str(workbook), runs_root)
    validate(run)
    transform(run)
    load(run, db_url=url)


def start_load(run_path: Path, url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ops_pipeline", "-q", "load", str(run_path), "--db", url, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=SCRIPT_ENV,
    )


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, stderr


def succeeded(process: subprocess.Popen) -> bool:
    code, stderr = finish(process)
    assert code == 0, stderr
    assert "error" not in stderr
    return True


def result_of(run_path: Path) -> dict:
    return read_json(run_path / "load" / "result.json")


def _engine(url: str):
    """An engine without a pool (a server restart would leave pooled connections dead), with the
    schema map make_engine gives SQLite."""
    engine = create_engine(url, poolclass=NullPool)
    return engine.execution_options(schema_translate_map=SQLITE_SCHEMA_MAP) if engine.name == "sqlite" else engine


def snapshot(url: str) -> dict:
    """Every row of every table, for comparing a database before and after."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return {table.name: sorted(map(repr, conn.execute(select(table)).all()))
                    for table in [*OpsBase.metadata.sorted_tables, *Base.metadata.sorted_tables]}
    finally:
        engine.dispose()


def count(url: str, table: str) -> int:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
    finally:
        engine.dispose()


def assert_no_duplicates(url: str, lines: int) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            def scalar(sql):
                return conn.execute(text(sql)).scalar()
            assert scalar("SELECT COUNT(*) FROM budget_line_item") == lines
            assert scalar("SELECT COUNT(*) FROM (SELECT can_id, agreement_id, line_description, date_needed, amount "
                          "FROM budget_line_item GROUP BY 1, 2, 3, 4, 5 HAVING COUNT(*) > 1) d") == 0
            assert scalar("SELECT COUNT(*) FROM project") == scalar("SELECT COUNT(DISTINCT lower(title)) FROM project")
            assert scalar("SELECT COUNT(*) FROM agreement") == scalar(
                "SELECT COUNT(*) FROM (SELECT DISTINCT lower(name), agreement_type FROM agreement) d")
    finally:
        engine.dispose()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.005, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


# -- PostgreSQL helpers ----------------------------------------------------------------------

class Monitor:
    """An autocommit connection that watches the test database's backends."""

    def __init__(self, url: str):
        self.database = make_url(url).database
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def backends(self) -> list:
        with self.engine.connect() as conn:
            return conn.execute(text(
                "SELECT a.pid, a.wait_event_type, a.backend_xid IS NOT NULL AS wrote, "
                "       COALESCE(bool_or(l.granted) FILTER (WHERE l.locktype = 'advisory'), false) AS holds_lock, "
                "       COALESCE(bool_or(NOT l.granted) FILTER (WHERE l.locktype = 'advisory'), false) AS waits_lock "
                "FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid "
                "WHERE a.datname = :db AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend' "
                "GROUP BY a.pid, a.wait_event_type, a.backend_xid"), {"db": self.database}).all()

    def loader(self, **want):
        """The backend of a load in the given state (holds_lock, waits_lock, wrote, wait_event_type)."""
        for row in self.backends():
            if all(getattr(row, key) == value for key, value in want.items()):
                return row
        return None

    def gone(self, pid: int) -> bool:
        return all(row.pid != pid for row in self.backends())


class LineageBlock:
    """Holds a lock that stops a load just before it writes lineage, i.e. after every other write
    of its transaction, until ``release()``."""

    def __init__(self, url: str):
        self.engine = create_engine(url, poolclass=NullPool)
        self.conn = self.engine.connect()
        self.transaction = self.conn.begin()
        self.conn.execute(text("LOCK TABLE ops_pipeline.ops_pipeline_lineage IN SHARE MODE"))

    def release(self) -> None:
        if self.transaction.is_active:
            try:
                self.transaction.rollback()
            except Exception:  # the server may have gone away under it
                pass

    def close(self) -> None:
        self.release()
        try:
            self.conn.close()
        except Exception:
            pass
        self.engine.dispose()


@pytest.fixture
def lineage_blocker(pg_schema_url):
    block = LineageBlock(pg_schema_url)
    try:
        yield block
    finally:
        block.close()


@pytest.fixture
def own_pg_url(ops_databases) -> str:
    """A database of its own, made and dropped without pooled connections, which a server restart
    would leave dead."""
    base = os.environ.get("OPS_PIPELINE_TEST_PG_URL")
    if not base:
        missing_prerequisite("PostgreSQL: set OPS_PIPELINE_TEST_PG_URL (scripts/test.sh does)", postgres=True)
    for name in ("OPS_PIPELINE_TEST_PG_BINDIR", "OPS_PIPELINE_TEST_PG_DATADIR", "OPS_PIPELINE_TEST_PG_USER",
                 "OPS_PIPELINE_TEST_PG_LOG", "OPS_PIPELINE_TEST_PG_PORT"):
        if not os.environ.get(name):
            missing_prerequisite(f"a PostgreSQL server this test may stop and start, as scripts/with-postgres.sh "
                                 f"starts ({name} is not set)", postgres=True)
    base_url = make_url(base)
    admin = create_engine(os.environ.get("OPS_PIPELINE_TEST_PG_ADMIN_URL") or base_url.set(database="postgres"),
                          isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"ops_t_{new_run_id()[-6:]}_stop"
    url = ops_databases.create(name)  # OPS's schema, as the other PostgreSQL tests have it
    init_schema(url)
    try:
        yield url
    finally:
        if not server_running():
            start_server()
        wait_until(lambda: _connects(url), what="the server to accept connections")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- two loads at once ----------------------------------------------------------------------

@pytest.mark.postgres
def test_two_loads_of_the_same_data_on_postgres_run_one_after_the_other(big_run, pg_schema_url, runs_root,
                                                                         lineage_blocker):
    first, second = copy_run(big_run, runs_root), copy_run(big_run, runs_root)
    monitor = Monitor(pg_schema_url)
    a = start_load(first, pg_schema_url)
    wait_until(lambda: monitor.loader(holds_lock=True, wait_event_type="Lock"), what="the first load to be mid-way")
    b = start_load(second, pg_schema_url)
    wait_until(lambda: monitor.loader(waits_lock=True), what="the second load to wait for the lock")
    assert a.poll() is None and b.poll() is None
    lineage_blocker.release()
    assert succeeded(a)
    assert succeeded(b)
    assert result_of(first)["entities"]["budget_line_item"] == {"inserted": ROWS, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    for kind, counts in result_of(first)["entities"].items():  # what was skipped is skipped again
        loaded = counts["inserted"] + counts["updated"] + counts["unchanged"]
        assert result_of(second)["entities"][kind] == {**counts, "inserted": 0, "updated": 0, "unchanged": loaded}
    assert_no_duplicates(pg_schema_url, ROWS)
    assert count(pg_schema_url, "ops_pipeline.ops_pipeline_run") == 2


@pytest.mark.postgres
@pytest.mark.parametrize("wait, waited", [("0.5", "waited 0.5 s"), ("0", "did not wait")])
def test_a_load_that_cannot_get_the_lock_in_time_fails_with_one_line(big_run, pg_schema_url, runs_root,
                                                                     lineage_blocker, wait, waited):
    first, second = copy_run(big_run, runs_root), copy_run(big_run, runs_root)
    monitor = Monitor(pg_schema_url)
    a = start_load(first, pg_schema_url)
    wait_until(lambda: monitor.loader(holds_lock=True, wait_event_type="Lock"), what="the first load to be mid-way")
    started = time.monotonic()
    code, stderr = finish(start_load(second, pg_schema_url, "--lock-wait", wait))
    assert (code, stderr) == (3, f"error: load: another load holds the database lock ({waited}); run this load "
                                 f"again when it ends (hint: ops-pipeline load {second})\n")
    assert time.monotonic() - started < 20
    info = RunDir(second).stage_info("load")
    assert info["status"] == "failed" and info["error"]["code"] == "concurrent-load"
    lineage_blocker.release()
    assert succeeded(a)
    assert succeeded(start_load(second, pg_schema_url))
    assert result_of(second)["entities"]["budget_line_item"] == {"inserted": 0, "updated": 0, "unchanged": ROWS, "skipped": 0, "rejected": 0}
    assert_no_duplicates(pg_schema_url, ROWS)


def test_two_loads_of_the_same_data_on_sqlite_do_not_duplicate(big_run, sqlite_url, runs_root):
    runs = [copy_run(big_run, runs_root) for _ in range(2)]
    processes = [start_load(run, sqlite_url) for run in runs]
    assert all([succeeded(p) for p in processes])
    inserted = sorted(result_of(run)["entities"]["budget_line_item"]["inserted"] for run in runs)
    assert inserted == [0, ROWS]
    assert_no_duplicates(sqlite_url, ROWS)


def test_a_sqlite_load_that_cannot_get_the_lock_in_time_fails_with_one_line(big_run, sqlite_url, runs_root):
    run = copy_run(big_run, runs_root)
    holder = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        code, stderr = finish(start_load(run, sqlite_url, "--lock-wait", "0.5"))
        assert (code, stderr) == (3, "error: load: another load holds the database lock (waited 0.5 s); run this "
                                     f"load again when it ends (hint: ops-pipeline load {run})\n")
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert succeeded(start_load(run, sqlite_url))
    assert count(sqlite_url, "budget_line_item") == ROWS


# -- killed loads -------------------------------------------------------------------------

def assert_interrupted_then_completed(run_path: Path, url: str, before: dict, lines_before: int) -> None:
    assert snapshot(url) == before
    run = RunDir(run_path)
    assert run.status("load") == "running"
    report = build_report(run)
    assert report["stages"]["load"]["status"] == "interrupted" and report["status"] == "interrupted"
    assert succeeded(start_load(run_path, url))
    assert result_of(run_path)["entities"]["budget_line_item"] == {"inserted": ROWS, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    assert RunDir(run_path).status("load") == "succeeded"
    assert_no_duplicates(url, lines_before + ROWS)


@pytest.mark.postgres
@pytest.mark.parametrize("moment", ["after-its-first-write", "before-commit"])
def test_a_postgres_load_killed_mid_transaction_changes_nothing(moment, big_run, pg_schema_url, runs_root, tmp_path):
    small_load(pg_schema_url, tmp_path, runs_root)
    before = snapshot(pg_schema_url)
    run_path = copy_run(big_run, runs_root)
    monitor = Monitor(pg_schema_url)
    block = LineageBlock(pg_schema_url) if moment == "before-commit" else None
    try:
        process = start_load(run_path, pg_schema_url)
        want = {"holds_lock": True, "wrote": True}
        if block:
            want["wait_event_type"] = "Lock"
        backend = wait_until(lambda: monitor.loader(**want), what=f"the load to be {moment}")
        assert process.poll() is None, "the load ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        assert finish(process)[0] == -signal.SIGKILL
    finally:
        if block:
            block.close()
    wait_until(lambda: monitor.gone(backend.pid), what="the server to end the killed load's session")
    assert_interrupted_then_completed(run_path, pg_schema_url, before, 25)


def test_a_sqlite_load_killed_mid_transaction_changes_nothing(big_run, sqlite_url, runs_root, tmp_path):
    small_load(sqlite_url, tmp_path, runs_root)
    before = snapshot(sqlite_url)
    run_path = copy_run(big_run, runs_root)
    database = Path(make_url(sqlite_url).database)
    journal = [database.with_name(database.name + suffix) for suffix in ("-journal", "-wal")]
    process = start_load(run_path, sqlite_url)
    wait_until(lambda: any(p.exists() and p.stat().st_size > 0 for p in journal), interval=0.001,
               what="the load to write")
    assert process.poll() is None, "the load ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    assert finish(process)[0] == -signal.SIGKILL
    assert any(p.exists() for p in journal)  # a hot journal, rolled back by the next reader
    assert_interrupted_then_completed(run_path, sqlite_url, before, 25)


def start_load_stopping_at_commit(run_path: Path, url: str) -> subprocess.Popen:
    """A load that stops when its transaction is about to commit (see tests/load_at_commit.py)."""
    script = Path(__file__).with_name("load_at_commit.py")
    return subprocess.Popen(
        [sys.executable, str(script), "-q", "load", str(run_path), "--db", url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=SCRIPT_ENV,
    )


def test_a_load_killed_at_its_commit_changes_nothing(db_url, big_run, runs_root, tmp_path):
    small_load(db_url, tmp_path, runs_root)
    before = snapshot(db_url)
    run_path = copy_run(big_run, runs_root)
    process = start_load_stopping_at_commit(run_path, db_url)
    try:
        ready, _, _ = io_select.select([process.stdout], [], [], 120)
        line = process.stdout.readline() if ready else ""
    finally:
        os.kill(process.pid, signal.SIGKILL)
    code, stderr = finish(process)
    assert code == -signal.SIGKILL
    # Killed with every row written and the run record completed, a moment before COMMIT.
    assert line == f"at-commit {25 + ROWS} 2\n", stderr
    assert_interrupted_then_completed(run_path, db_url, before, 25)


# -- the server stops under a load ------------------------------------------------------------

def as_pg(*command: str) -> None:
    user = os.environ["OPS_PIPELINE_TEST_PG_USER"]
    if os.geteuid() == 0 and user != "root":
        command = ("runuser", "-u", user, "--", *command)
    subprocess.run(command, cwd="/", check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pg_ctl(*args: str) -> None:
    as_pg(f"{os.environ['OPS_PIPELINE_TEST_PG_BINDIR']}/pg_ctl", "-D", os.environ["OPS_PIPELINE_TEST_PG_DATADIR"],
          *args)


def start_server() -> None:
    pg_ctl("-l", os.environ["OPS_PIPELINE_TEST_PG_LOG"], "-w", "-t", "30", "start")


def server_running() -> bool:
    return subprocess.run(
        [f"{os.environ['OPS_PIPELINE_TEST_PG_BINDIR']}/pg_isready", "-h", "127.0.0.1",
         "-p", os.environ["OPS_PIPELINE_TEST_PG_PORT"]], stdout=subprocess.DEVNULL).returncode == 0


@pytest.mark.postgres
@pytest.mark.serial  # it stops the server every other test uses
def test_a_load_whose_server_stops_fails_with_one_line_and_completes_later(big_run, own_pg_url, runs_root, tmp_path):
    url = own_pg_url
    small_load(url, tmp_path, runs_root)
    before = snapshot(url)
    run_path = copy_run(big_run, runs_root)
    monitor = Monitor(url)
    block = LineageBlock(url)
    try:
        process = start_load(run_path, url)
        wait_until(lambda: monitor.loader(holds_lock=True, wait_event_type="Lock"), what="the load to be mid-way")
        pg_ctl("stop", "-m", "immediate")
        code, stderr = finish(process, timeout=60)
    finally:
        block.close()
        if not server_running():
            start_server()
    host = make_url(url).host
    assert code == 3
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith(f"error: load: cannot use the postgresql at {host}: ")
    assert stderr.endswith("(hint: nothing was written; check the database and --db / OPS_PIPELINE_DB_URL, "
                           f"then rerun: ops-pipeline load {run_path})\n")
    assert make_url(url).password not in stderr
    wait_until(lambda: _connects(url), what="the server to accept connections again")
    assert snapshot(url) == before
    run = RunDir(run_path)
    assert run.status("load") == "failed" and run.stage_info("load")["error"]["code"] == "database"
    assert build_report(run)["status"] == "failed"
    assert succeeded(start_load(run_path, url))
    assert result_of(run_path)["entities"]["budget_line_item"] == {"inserted": ROWS, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    assert_no_duplicates(url, 25 + ROWS)


def _connects(url: str) -> bool:
    try:
        count(url, "ops_pipeline.ops_pipeline_run")
        return True
    except Exception:
        return False
