"""The Luigi tasks (ops_pipeline/luigi.py): targets over the run directory, the seed's command,
exit codes, a folder's graph with the ledger, events, and two workers on luigid."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

luigi = pytest.importorskip("luigi")

from click.testing import CliRunner  # noqa: E402

from ops_pipeline.cli import cli  # noqa: E402
from ops_pipeline.ledger import Ledger  # noqa: E402
from ops_pipeline.luigi import (Fetch, Load, LoadBudgetWorkbook, ProcessFolder, Report, RunParameters,  # noqa: E402
                                StageFailed, Transform, Validate)
from ops_pipeline.rundir import RunDir, derived_run_id, sha256_file  # noqa: E402
from ops_pipeline.sample import write_sample_workbook  # noqa: E402
from tests.s3_server import *  # noqa: E402,F401,F403  (fixtures)
from tests.s3_server import free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "deploy" / "luigi.example.cfg"
BIN = Path(sys.executable).parent
DATE = dt.datetime(2026, 11, 29, 10, 53, 0)
STAGE_TASKS = (Fetch, Validate, Transform, Load, Report)


def build(*tasks) -> bool:
    return luigi.build(list(tasks), local_scheduler=True, log_level="WARNING")


def started(run_dir: Path) -> Counter:
    """How many times each stage began in the run (its event log)."""
    return Counter(e["stage"] for e in RunDir(run_dir).events() if e["event"] == "stage-started")


@pytest.fixture
def book(tmp_path) -> Path:
    return write_sample_workbook(tmp_path / "budget.xlsx", rows=4, seed=3, dirty=False)


@pytest.fixture
def luigi_env(tmp_path) -> dict:
    """The environment of a `luigi` command: this checkout first, the shipped configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPS_PIPELINE_", "LUIGI_"))}
    env.update(PYTHONPATH=str(REPO), LUIGI_CONFIG_PATH=str(CONFIG), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    return env


def test_targets_are_named_before_running_and_the_same_build_twice_does_nothing(tmp_path, book, sqlite_url):
    params = dict(source=str(book), run_date=DATE, db=sqlite_url, runs_root=str(tmp_path / "runs"))
    expected = derived_run_id(DATE, "budget-workbook", f"sha256:{sha256_file(book)}")
    targets = [task(**params).output() for task in STAGE_TASKS]
    assert {t.path for t in targets} == {tmp_path / "runs" / expected}
    assert not any(t.exists() for t in targets)

    assert build(LoadBudgetWorkbook(**params))
    assert all(t.exists() for t in targets)
    assert RunDir(tmp_path / "runs" / expected).manifest["source"]["sha256"] == sha256_file(book)
    assert started(targets[0].path) == Counter({"fetch": 1, "validate": 1, "transform": 1, "load": 1, "report": 1})

    assert build(LoadBudgetWorkbook(**params))
    assert started(targets[0].path) == Counter({"fetch": 1, "validate": 1, "transform": 1, "load": 1, "report": 1})
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [expected]


def test_a_tampered_stage_is_not_complete_and_runs_again(tmp_path, book, sqlite_url):
    params = dict(source=str(book), run_date=DATE, db=sqlite_url, runs_root=str(tmp_path / "runs"))
    assert build(LoadBudgetWorkbook(**params))
    run_dir = Validate(**params).run_dir
    rows = run_dir / "validate" / "valid_rows.jsonl"
    rows.write_bytes(rows.read_bytes() + b"\n")

    assert Fetch(**params).complete()
    assert not Validate(**params).complete()
    assert not Report(**params).complete()  # a report is complete only with the stages before it
    assert build(LoadBudgetWorkbook(**params))
    assert all(task(**params).complete() for task in STAGE_TASKS)
    assert started(run_dir) == Counter({"fetch": 1, "validate": 2, "transform": 2, "load": 2, "report": 2})


def test_rejected_rows_fail_the_seed_command_with_the_report(tmp_path, sqlite_url, luigi_env):
    write_sample_workbook(tmp_path / "dirty.xlsx", rows=40, seed=7, dirty=True)
    command = [str(BIN / "luigi"), "--module", "ops_pipeline.luigi", "LoadBudgetWorkbook", "--source", "dirty.xlsx",
               "--db", sqlite_url, "--local-scheduler", "--run-date", "2026-11-29T105300"]
    done = subprocess.run(command, cwd=tmp_path, env=luigi_env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 3, done.stderr[-2000:]
    assert "StageFailed: validate rejected 6 rows; nothing is transformed or loaded" in done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = json.loads((run_dir / "report" / "report.json").read_text())
    assert report["status"] == "invalid"
    assert report["rows"]["rejected"] == 6


# Versioned: the folder's graph fetches the exact version it listed (by version id).
@pytest.mark.parametrize("s3_bucket", [{"versioned": True}], indirect=True)
def test_an_s3_source_is_named_by_its_uri_and_a_prefix_is_a_folder(tmp_path, s3_bucket, s3_endpoint, sqlite_url):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="in/budget.xlsx",
                      Body=write_sample_workbook(tmp_path / "b.xlsx", rows=3, dirty=False).read_bytes())
    uri = f"s3://{bucket}/in/budget.xlsx"
    params = dict(source=uri, run_date=DATE, db=sqlite_url, runs_root=str(tmp_path / "runs"), endpoint_url=s3_endpoint)

    assert build(LoadBudgetWorkbook(**params))
    run_dir = tmp_path / "runs" / derived_run_id(DATE, "budget-workbook", uri)
    assert RunDir(run_dir).manifest["source"]["uri"] == uri
    assert build(LoadBudgetWorkbook(**params))
    assert started(run_dir)["fetch"] == 1

    client.put_object(Bucket=bucket, Key="in/second.xlsx",
                      Body=write_sample_workbook(tmp_path / "c.xlsx", rows=3, seed=9, dirty=False).read_bytes())
    params.update(source=f"s3://{bucket}/in/")
    assert build(ProcessFolder(**params))
    with Ledger(sqlite_url) as ledger:
        assert {e.location: e.outcome for e in ledger.entries()} == {
            uri: "succeeded", f"s3://{bucket}/in/second.xlsx": "succeeded"}
        assert all(e.version_key == e.version_id and e.version_id for e in ledger.entries())
    assert len(list((tmp_path / "runs").iterdir())) == 3  # the folder's runs are its own
    assert build(ProcessFolder(**params | {"run_date": DATE + dt.timedelta(days=1)}))
    assert len(list((tmp_path / "runs").iterdir())) == 3


@pytest.fixture
def luigi_events():
    """Every start, success and failure event of the stage tasks: (event, task, exception)."""
    seen = []
    handlers = {event: (lambda task, *args, _event=event: seen.append((_event, task, *args)))
                for event in (luigi.Event.START, luigi.Event.SUCCESS, luigi.Event.FAILURE)}
    for event, handler in handlers.items():
        RunParameters.event_handler(event)(handler)
    yield seen
    for event, handler in handlers.items():
        RunParameters._event_callbacks[RunParameters][event].discard(handler)


def test_events_carry_the_run_and_a_failure_is_the_clis_line(tmp_path, book, luigi_events):
    password = "Lu1gi-S3cret-pw"
    db = f"postgresql+psycopg://ops:{password}@127.0.0.1:{free_port()}/ops"
    params = dict(source=str(book), run_date=DATE, db=db, runs_root=str(tmp_path / "runs"), lock_wait=0.0)
    run_dir = Fetch(**params).run_dir

    assert not build(LoadBudgetWorkbook(**params))

    assert [(e[0], type(e[1]).__name__) for e in luigi_events] == [
        (luigi.Event.START, "Fetch"), (luigi.Event.SUCCESS, "Fetch"), (luigi.Event.START, "Validate"),
        (luigi.Event.SUCCESS, "Validate"), (luigi.Event.START, "Transform"), (luigi.Event.SUCCESS, "Transform"),
        (luigi.Event.START, "Load"), (luigi.Event.FAILURE, "Load")]
    assert {(e[1].run_id, e[1].run_dir) for e in luigi_events} == {(run_dir.name, run_dir)}
    failure = luigi_events[-1][2]
    assert isinstance(failure, StageFailed) and failure.run_dir == str(run_dir) and failure.code == "database"

    result = CliRunner().invoke(cli, ["-q", "--runs-root", str(tmp_path / "runs"), "load", run_dir.name,
                                      "--db", db, "--lock-wait", "0"])
    assert result.exit_code == failure.exit_code == 3
    assert result.output == f"error: {failure}\n"
    assert password not in str(failure) and "\n" not in str(failure)
    assert luigi_events[-1][1].on_failure(failure) == str(failure)  # what luigid is told
    assert json.loads((run_dir / "report" / "report.json").read_text())["status"] == "failed"


def _ledger(db_url: str) -> dict:
    with Ledger(db_url) as ledger:
        return {Path(e.location).name: (e.outcome, e.run_id) for e in ledger.entries()}


def test_a_folder_processes_each_new_file_once(tmp_path, sqlite_url):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, seed in (("a.xlsx", 1), ("b.xlsx", 2)):
        write_sample_workbook(folder / name, rows=3, seed=seed, dirty=False)
    write_sample_workbook(folder / "c.xlsx", rows=40, seed=7, dirty=True)
    params = dict(source=str(folder), db=sqlite_url, runs_root=str(tmp_path / "runs"))

    assert not build(ProcessFolder(run_date=DATE, **params))  # c.xlsx is invalid: a failed task
    first = _ledger(sqlite_url)
    assert {name: outcome for name, (outcome, _) in first.items()} == {
        "a.xlsx": "succeeded", "b.xlsx": "succeeded", "c.xlsx": "invalid"}
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(run for _, run in first.values())

    assert build(ProcessFolder(run_date=DATE + dt.timedelta(hours=1), **params))  # nothing new
    assert _ledger(sqlite_url) == first
    write_sample_workbook(folder / "d.xlsx", rows=3, seed=4, dirty=False)
    assert build(ProcessFolder(run_date=DATE + dt.timedelta(hours=2), **params))
    after = _ledger(sqlite_url)
    assert after["d.xlsx"][0] == "succeeded" and {k: after[k] for k in first} == first
    assert len(list((tmp_path / "runs").iterdir())) == 4


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_two_workers_on_luigid_load_each_file_exactly_once(tmp_path, sqlite_url, luigi_env):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(6):
        write_sample_workbook(folder / f"office-{seed}.xlsx", rows=2, seed=seed, dirty=False)
    # Workers that find nothing to run wait up to a second plus 5 s of jitter: not in a test.
    (tmp_path / "luigi.cfg").write_text("[worker]\nwait_interval = 0.1\nwait_jitter = 0.1\n")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    luigid = subprocess.Popen([str(BIN / "luigid"), "--address", "127.0.0.1", "--port", str(port),
                               "--state-path", str(tmp_path / "luigid.state"), "--logdir", str(tmp_path)],
                              cwd=tmp_path, env=luigi_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _get_json(f"{api}/task_list?data={{}}")
                break
            except OSError:
                if time.monotonic() > deadline or luigid.poll() is not None:
                    raise
                time.sleep(0.05)
        command = [str(BIN / "luigi"), "--module", "ops_pipeline.luigi", "ProcessFolder", "--source", "in",
                   "--db", sqlite_url, "--run-date", "2026-11-29T105300",
                   "--scheduler-host", "127.0.0.1", "--scheduler-port", str(port), "--no-lock"]
        workers = [subprocess.Popen(command, cwd=tmp_path, env=luigi_env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        logs = [w.communicate(timeout=120)[0] for w in workers]
        listed = _get_json(f"{api}/task_list?data=" + urllib.request.quote(json.dumps({"status": "DONE"})))
    finally:
        luigid.terminate()
        luigid.wait(timeout=10)

    assert all(w.returncode == 0 for w in workers), logs
    assert all("Done scheduling tasks" in log for log in logs)  # both took part, none quit early
    ledger = _ledger(sqlite_url)
    assert sorted(ledger) == [f"office-{seed}.xlsx" for seed in range(6)]
    assert {outcome for outcome, _ in ledger.values()} == {"succeeded"}
    runs = {run for _, run in ledger.values()}
    assert len(runs) == 6 and sorted(runs) == sorted(p.name for p in (tmp_path / "runs").iterdir())
    for run in runs:
        assert set(started(tmp_path / "runs" / run).values()) == {1}  # no stage began twice
    ran = Counter(line.split(" done ", 1)[1].strip() for log in logs for line in log.splitlines()
                  if ") done " in line)
    assert len(ran) == 6 * 6 + 1 and set(ran.values()) == {1}  # each task ran once, on one worker

    done = listed["response"]
    families = Counter(task["name"] for task in done.values())
    assert families == Counter({"ProcessFolder": 1, "ProcessFile": 6, "Fetch": 6, "Validate": 6, "Transform": 6,
                                "Load": 6, "Report": 6})
    assert all(task["status"] == "DONE" for task in done.values())
    messages = {task["status_message"] for task in done.values() if task["name"] == "Load"}
    assert messages == {f"run {run} in {tmp_path / 'runs' / run}" for run in runs}  # shown on luigid's page
    # The database URL never reaches the scheduler: not its task list, not the state it saves.
    assert sqlite_url not in json.dumps(listed)
    assert b"ops.db" not in (tmp_path / "luigid.state").read_bytes()
