"""The stage contract: order, reruns that mark later stages stale, refusal on tampered inputs,
atomic outputs and the manifest."""
import json
import os
import stat

import pytest

from ops_pipeline.errors import DataInvalid, IntegrityError, StageNotReady, UsageError
from ops_pipeline.pipeline import STAGES, Options, continue_run, run_stage
from ops_pipeline.rundir import RunDir, read_json
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.load import load
from ops_pipeline.stages.report import report
from ops_pipeline.stages.transform import transform
from ops_pipeline.stages.validate import validate

from .conftest import good_row


@pytest.fixture
def run(make_workbook, runs_root):
    return fetch(str(make_workbook([good_row(budget_id=1), good_row(budget_id=2, desc="Year 2")])), runs_root)


def test_fetch_makes_a_private_run_directory_with_a_read_only_copy(run):
    assert stat.S_IMODE(run.path.stat().st_mode) == 0o700
    manifest = read_json(run.path / "manifest.json")
    assert manifest["stages"]["fetch"]["status"] == "succeeded"
    [output] = manifest["stages"]["fetch"]["outputs"]
    copy = run.path / output["path"]
    assert stat.S_IMODE(copy.stat().st_mode) == 0o400
    assert output["sha256"] == manifest["source"]["sha256"]
    assert stat.S_IMODE((run.path / "manifest.json").stat().st_mode) == 0o600
    assert all(s["status"] == "pending" for n, s in manifest["stages"].items() if n != "fetch")


def test_stages_refuse_to_run_out_of_order(run):
    with pytest.raises(StageNotReady) as caught:
        transform(run)
    assert caught.value.one_line() == (
        f"transform: cannot run transform: stage validate is pending (hint: ops-pipeline validate {run.path})")


def test_rerunning_a_stage_marks_the_later_ones_stale(run, sqlite_url):
    validate(run)
    transform(run)
    load(run, db_url=sqlite_url)
    validate(run)
    run.reload()
    assert [run.status(s) for s in ("validate", "transform", "load")] == ["succeeded", "stale", "stale"]
    with pytest.raises(StageNotReady, match="stage transform is stale"):
        load(run, db_url=sqlite_url)
    transform(run)
    assert load(run, db_url=sqlite_url)["entities"]["budget_line_item"]["unchanged"] == 2


def test_a_tampered_input_is_refused(run):
    validate(run)
    staged = run.path / "validate" / "valid_rows.jsonl"
    staged.write_text(staged.read_text().replace("1234.50", "9234.50"))
    with pytest.raises(IntegrityError) as caught:
        transform(run)
    assert "valid_rows.jsonl no longer matches the sha256 recorded by validate" in caught.value.one_line()
    run.reload()
    assert run.status("transform") == "pending"


def test_a_tampered_source_copy_is_refused(run):
    copy = run.path / run.stage_info("fetch")["outputs"][0]["path"]
    os.chmod(copy, 0o600)
    copy.write_bytes(copy.read_bytes() + b"x")
    with pytest.raises(IntegrityError, match="sha256 recorded by fetch"):
        validate(run)


def test_transform_refuses_rejected_rows_unless_accepted(make_workbook, runs_root):
    run = fetch(str(make_workbook([good_row(budget_id=1), good_row(budget_id=2, status="???")])), runs_root)
    validate(run)
    with pytest.raises(DataInvalid) as caught:
        run_stage("transform", run)
    assert caught.value.exit_code == 1
    assert caught.value.one_line() == ("validate rejected 1 row; nothing is transformed or loaded "
                                       "(hint: fix the file, or load the valid rows with --accept-rejects)")
    run.reload()
    assert run.status("transform") == "pending"  # refused before it began: nothing to record
    summary = run_stage("transform", run, Options(accept_rejects=True))
    assert summary["counts"]["budget_line_item"] == 1
    assert summary["accepted_rejects"] == 1


def test_a_failed_stage_keeps_the_previous_good_outputs(run, monkeypatch):
    validate(run)
    good = (run.path / "validate" / "valid_rows.jsonl").read_bytes()
    from ops_pipeline.datasets import budget_workbook

    def explode(self, values, state):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(budget_workbook.BudgetWorkbook, "check_row", explode)
    with pytest.raises(RuntimeError):
        validate(run)
    assert (run.path / "validate" / "valid_rows.jsonl").read_bytes() == good
    assert not [p for p in (run.path / "validate").iterdir() if p.name.endswith(".tmp")]
    run.reload()
    assert run.stage_info("validate")["error"]["code"] == "internal-error"


def test_the_manifest_records_outputs_with_checksums_and_counts(run):
    validate(run)
    transform(run)
    manifest = read_json(run.path / "manifest.json")
    outputs = {o["path"]: o for o in manifest["stages"]["transform"]["outputs"]}
    assert outputs["transform/budget_line_item.jsonl"]["rows"] == 2
    assert outputs["transform/project.jsonl"]["rows"] == 1
    RunDir(run.path).verify_outputs("transform")
    assert manifest["stages"]["validate"]["counts"] == {"read": 2, "valid": 2, "rejected": 0, "skipped": 0}


def test_events_are_logged_for_every_stage(run, sqlite_url):
    validate(run)
    transform(run)
    load(run, db_url=sqlite_url)
    report(run)
    events = [(e["stage"], e["event"]) for e in run.events()]
    for stage in ("fetch", "validate", "transform", "load", "report"):
        assert (stage, "stage-started") in events
        assert (stage, "stage-succeeded") in events
    assert all({"time", "stage", "level", "event"} <= set(e) for e in run.events())
    assert json.loads((run.path / "logs" / "events.jsonl").read_text().splitlines()[0])["stage"] == "fetch"


def test_a_second_command_on_a_busy_run_directory_fails_at_once(run, sqlite_url):
    """Two commands never interleave their writes to one run directory (two CI jobs, say)."""
    import subprocess
    import sys

    validate(run)
    holder = subprocess.Popen(  # another process holds the run directory, as a running stage does
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY);"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)", str(run.path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = (run.path / "manifest.json").read_bytes()
        with pytest.raises(StageNotReady) as caught:
            transform(RunDir(run.path))
        assert "another ops-pipeline command is working on this run directory" in caught.value.one_line()
        assert (run.path / "manifest.json").read_bytes() == before  # nothing written
    finally:
        holder.kill()
        holder.wait()
    transform(RunDir(run.path))  # free again


def test_a_stage_sees_what_another_command_recorded_since_the_run_directory_was_opened(run):
    opened_early = RunDir(run.path)
    validate(RunDir(run.path))  # another command
    assert transform(opened_early)["counts"]["budget_line_item"] > 0


# -- a rerun that fails leaves the later stages stale ---------------------------------------------

def loaded_with_a_reject(make_workbook, runs_root, sqlite_url) -> RunDir:
    """A run whose validate rejected one row, transformed with --accept-rejects and loaded."""
    run = fetch(str(make_workbook([good_row(budget_id=1), good_row(budget_id=2, status="???")])), runs_root)
    validate(run)
    transform(run, accept_rejects=True)
    load(run, db_url=sqlite_url)
    return run


def statuses(run: RunDir) -> list[str]:
    run.reload()
    return [run.status(s) for s in ("validate", "transform", "load")]


def test_a_refused_rerun_of_transform_makes_load_stale_and_load_refuses(make_workbook, runs_root, sqlite_url):
    run = loaded_with_a_reject(make_workbook, runs_root, sqlite_url)
    with pytest.raises(DataInvalid, match="validate rejected 1 row; nothing is transformed or loaded"):
        run_stage("transform", run)  # without --accept-rejects this time
    assert statuses(run) == ["succeeded", "failed", "stale"]
    assert run.stage_info("transform")["error"]["code"] == "data-invalid"
    with pytest.raises(StageNotReady) as caught:
        load(run, db_url=sqlite_url)
    assert caught.value.one_line() == (
        f"load: cannot run load: stage transform is failed (hint: ops-pipeline transform {run.path})")
    transform(run, accept_rejects=True)
    assert load(run, db_url=sqlite_url)["entities"]["budget_line_item"]["unchanged"] == 1


def test_a_rerun_of_transform_refused_on_a_tampered_input_makes_load_stale(run, sqlite_url):
    validate(run)
    transform(run)
    load(run, db_url=sqlite_url)
    staged = run.path / "validate" / "valid_rows.jsonl"
    staged.write_text(staged.read_text().replace("1234.50", "9234.50"))
    with pytest.raises(IntegrityError, match="no longer matches the sha256 recorded by validate"):
        transform(run)
    assert statuses(run) == ["succeeded", "failed", "stale"]
    with pytest.raises(StageNotReady, match="stage transform is failed"):
        load(run, db_url=sqlite_url)


def test_a_rerun_of_validate_that_fails_makes_transform_and_load_stale(run, sqlite_url):
    from ops_pipeline.errors import LimitExceeded
    from ops_pipeline.readers.guard import Limits

    validate(run)
    transform(run)
    load(run, db_url=sqlite_url)
    with pytest.raises(LimitExceeded, match="has more than 1 rows"):
        validate(run, limits=Limits(max_rows=1))
    assert statuses(run) == ["failed", "stale", "stale"]
    with pytest.raises(StageNotReady, match="stage transform is stale"):
        load(run, db_url=sqlite_url)
    with pytest.raises(StageNotReady, match="stage validate is failed"):
        transform(run)


def test_a_rerun_killed_after_it_began_makes_the_later_stages_stale(run, sqlite_url):
    validate(run)
    transform(run)
    load(run, db_url=sqlite_url)
    run.begin("validate")  # ...and the process is killed: nothing else is recorded
    assert statuses(run) == ["running", "stale", "stale"]
    with pytest.raises(StageNotReady, match="stage transform is stale"):
        load(run, db_url=sqlite_url)


# -- the orchestrator -----------------------------------------------------------------------------

def test_the_stages_and_what_each_requires_are_data():
    assert [(s.name, s.requires, s.always) for s in STAGES] == [
        ("fetch", (), False), ("validate", ("fetch",), False), ("transform", ("validate",), False),
        ("load", ("transform",), False), ("report", ("load",), True)]
    from ops_pipeline.rundir import STAGES as MANIFEST_STAGES  # the manifest's statuses, in the same order

    assert tuple(s.name for s in STAGES) == MANIFEST_STAGES


def test_one_stage_at_a_time_gives_what_the_sequence_gives(run, sqlite_url):
    """A scheduler runs the stages one by one through run_stage, in the order STAGES declares."""
    results = {}
    for stage in STAGES:
        if stage.run is not None:
            results[stage.name] = run_stage(stage.name, run, Options(db_url=sqlite_url))
    assert results["validate"]["outcome"] == "valid"
    assert results["load"]["entities"]["budget_line_item"]["inserted"] == 2
    assert results["report"]["status"] == "succeeded"
    with pytest.raises(UsageError, match="fetch starts a run rather than running on one: use start_run"):
        run_stage("fetch", run)
    with pytest.raises(UsageError, match="unknown stage 'publish'"):
        run_stage("publish", run)


def test_a_stop_request_lets_no_further_stage_begin_and_still_reports(run, sqlite_url):
    asked = []

    def stop() -> bool:
        asked.append(run.status("validate"))
        return len(asked) == 2  # after validate, before transform

    outcome = continue_run(run, Options(db_url=sqlite_url), stop=stop)
    assert outcome.interrupted and outcome.error is None
    assert asked == ["pending", "succeeded"]
    assert [outcome.report["stages"][s]["status"] for s in ("validate", "transform", "load")] == [
        "succeeded", "pending", "pending"]


def test_a_bug_is_contained_only_when_asked(run, monkeypatch):
    from ops_pipeline.datasets.budget_workbook import BudgetWorkbook

    def explode(self, rows, context):
        raise RuntimeError("disk on fire")

    validate(run)
    monkeypatch.setattr(BudgetWorkbook, "transform", explode)
    contained = continue_run(run, contain=True)
    assert isinstance(contained.error, RuntimeError) and contained.exit_code == 3
    assert contained.report["stages"]["transform"]["status"] == "failed"
    with pytest.raises(RuntimeError, match="disk on fire"):
        continue_run(run)
