"""Retention: `purge --older-than` removes the staged data of old runs and keeps their history."""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.errors import IntegrityError, UsageError
from ops_pipeline.purge import parse_age, purge, staged_files
from ops_pipeline.rundir import RunDir, read_json, write_json
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.report import report
from ops_pipeline.stages.transform import transform
from ops_pipeline.stages.validate import validate
from tests.conftest import good_row

KEPT = {"manifest.json", "logs/events.jsonl", "validate/summary.json", "transform/summary.json",
        "report/report.json", "report/report.md", "report/report.html"}


def _age(run: RunDir, days: float) -> None:
    """Pretend the run was created ``days`` ago."""
    created = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    run.reload()
    run.manifest["created_at"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    write_json(run.path / "manifest.json", run.manifest)


def _files(run: RunDir) -> set[str]:
    return {p.relative_to(run.path).as_posix() for p in run.path.rglob("*") if p.is_file()}


def _staged_run(book, runs_root) -> RunDir:
    """fetch, validate, transform and report (no database needed: load/result.json is covered by
    test_staged_files_are_exactly_the_data)."""
    run = fetch(str(book), runs_root)
    validate(run)
    transform(run, accept_rejects=True)
    report(run)
    return run


@pytest.fixture
def two_runs(make_workbook, runs_root):
    book = make_workbook([good_row(budget_id=1), good_row(budget_id=2, amount="bad")])
    old = _staged_run(book, runs_root)
    new = _staged_run(book, runs_root)
    _age(old, 45)
    _age(new, 2)
    return old, new


@pytest.mark.parametrize("text, expected", [
    ("30d", dt.timedelta(days=30)), ("12h", dt.timedelta(hours=12)), ("2w", dt.timedelta(weeks=2)),
    (" 7D ", dt.timedelta(days=7)), ("0d", dt.timedelta(0)),
])
def test_parse_age(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["30", "d", "30 days", "-1d", "1.5d", "30m", ""])
def test_parse_age_refuses_anything_else(text):
    with pytest.raises(UsageError, match="--older-than"):
        parse_age(text)


def test_purge_removes_staged_data_of_old_runs_only(two_runs, runs_root):
    old, new = two_runs
    before_new = _files(new)
    sha = old.manifest["source"]["sha256"]
    result = purge(runs_root, "30d")

    assert [r["run_id"] for r in result["runs"]] == [old.run_id]
    assert result["runs_kept"] == 1
    removed = set(result["runs"][0]["files"])
    assert {f for f in removed if f.startswith("fetch/")}  # the source copy
    assert {"validate/valid_rows.jsonl", "validate/rejected.jsonl", "validate/skipped.jsonl",
            "validate/findings.jsonl"} <= removed
    assert {f for f in removed if f.startswith("transform/") and f.endswith(".jsonl")}
    # What remains of the old run is exactly its record; the new run is untouched.
    assert _files(old) == KEPT
    assert _files(new) == before_new
    # Lineage survives: the file's sha256, the row counts, the purge itself.
    manifest = read_json(old.path / "manifest.json")
    assert manifest["source"]["sha256"] == sha
    assert manifest["stages"]["validate"]["counts"] == {"read": 2, "valid": 1, "rejected": 1, "skipped": 0}
    assert manifest["purged_at"]
    assert sorted(manifest["purged"]) == sorted(removed)
    report = read_json(old.path / "report" / "report.json")
    assert report["rows"]["read"] == 2 and report["source"]["sha256"] == sha
    events = [json.loads(line) for line in (old.path / "logs" / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "staged-data-purged" and sorted(events[-1]["files"]) == sorted(removed)


def test_purge_again_removes_nothing_and_keeps_the_record(two_runs, runs_root):
    old, _ = two_runs
    purge(runs_root, "30d")
    first = read_json(old.path / "manifest.json")
    again = purge(runs_root, "30d")
    assert again["runs"] == [] and again["files"] == 0
    assert read_json(old.path / "manifest.json") == first


def test_dry_run_lists_and_removes_nothing(two_runs, runs_root):
    old, new = two_runs
    before = _files(old), _files(new), (old.path / "manifest.json").read_bytes()
    result = purge(runs_root, "30d", dry_run=True)
    assert result["dry_run"] is True
    assert result["runs"][0]["run_id"] == old.run_id and result["files"] == len(result["runs"][0]["files"]) > 0
    assert (_files(old), _files(new), (old.path / "manifest.json").read_bytes()) == before


def test_stages_refuse_a_purged_run_with_a_clear_message(two_runs, runs_root):
    old, _ = two_runs
    purge(runs_root, "30d")
    run = RunDir(old.path)
    with pytest.raises(IntegrityError, match="purged") as caught:
        validate(run)
    assert "\n" not in caught.value.one_line()
    with pytest.raises(IntegrityError, match="purged"):
        transform(run, accept_rejects=True)
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "validate", str(old.path)])
    assert result.exit_code == 3
    assert "staged data of this run was purged on" in result.stderr


def test_cli_purge_and_dry_run(two_runs, runs_root):
    old, new = two_runs
    runner = CliRunner()
    dry = runner.invoke(cli, ["--runs-root", str(runs_root), "-q", "purge", "--older-than", "30d", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    listed = dry.stdout.splitlines()
    assert listed and all(line.startswith(str(old.path)) for line in listed)
    assert "would remove" in dry.stderr
    assert any(line.endswith("validate/valid_rows.jsonl") for line in listed)
    assert (old.path / "validate" / "valid_rows.jsonl").exists()

    real = runner.invoke(cli, ["--runs-root", str(runs_root), "-q", "purge", "--older-than", "4w", "--json"])
    assert real.exit_code == 0, real.output
    data = json.loads(real.stdout)
    assert data["dry_run"] is False and [r["run_id"] for r in data["runs"]] == [old.run_id]
    assert not (old.path / "validate" / "valid_rows.jsonl").exists()
    assert (new.path / "validate" / "valid_rows.jsonl").exists()

    bad = runner.invoke(cli, ["--runs-root", str(runs_root), "purge", "--older-than", "30 days"])
    assert bad.exit_code == 2 and "--older-than must be" in bad.stderr


def test_purge_removes_leftover_temporary_files_and_never_follows_links(two_runs, runs_root, tmp_path):
    old, _ = two_runs
    outside = tmp_path / "outside.txt"
    outside.write_text("not the pipeline's")
    (old.path / "validate" / ".valid_rows.jsonl.abc.tmp").write_text("half-written rows")
    os.symlink(outside, old.path / "fetch" / "link")
    purge(runs_root, "30d")
    assert not (old.path / "validate" / ".valid_rows.jsonl.abc.tmp").exists()
    assert not (old.path / "fetch" / "link").is_symlink()
    assert outside.read_text() == "not the pipeline's"


def test_staged_files_are_exactly_the_data(tmp_path):
    layout = ["manifest.json", "logs/events.jsonl", "fetch/budget.xlsx", "validate/valid_rows.jsonl",
              "validate/rejected.jsonl", "validate/skipped.jsonl", "validate/findings.jsonl", "validate/summary.json",
              "transform/project.jsonl", "transform/budget_line_item.jsonl", "transform/summary.json",
              "load/result.json", "report/report.json", "report/report.md"]
    for name in layout:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    staged = {p.relative_to(tmp_path).as_posix() for p in staged_files(tmp_path)}
    assert staged == {"fetch/budget.xlsx", "validate/valid_rows.jsonl", "validate/rejected.jsonl",
                      "validate/skipped.jsonl", "validate/findings.jsonl", "transform/project.jsonl",
                      "transform/budget_line_item.jsonl"}


def test_hours_and_weeks_use_the_manifest_time(make_workbook, runs_root):
    run = fetch(str(make_workbook([good_row()])), runs_root)
    _age(run, 0.5)  # 12 hours old
    assert purge(runs_root, "1w", dry_run=True)["runs"] == []
    assert purge(runs_root, "13h", dry_run=True)["runs"] == []
    assert [r["run_id"] for r in purge(runs_root, "11h", dry_run=True)["runs"]] == [run.run_id]


def test_empty_or_missing_runs_root(tmp_path):
    assert purge(tmp_path / "nothing", "30d")["runs"] == []


def test_purge_leaves_a_run_that_a_command_is_working_on(two_runs, runs_root):
    old, _ = two_runs
    before = _files(old)
    with RunDir(old.path).exclusive("report"):  # a command is at work on the old run
        result = purge(runs_root, "30d")
    assert result["busy"] == [str(old.path)] and result["runs"] == []
    assert _files(old) == before
    assert [r["run_id"] for r in purge(runs_root, "30d")["runs"]] == [old.run_id]  # once it is done
