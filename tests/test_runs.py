"""runs, runs show and files: the run history and the source-file ledger (SQLite)."""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.ledger import Ledger, SUCCEEDED
from ops_pipeline.pipeline import run_pipeline
from tests.conftest import good_row, write_workbook


@pytest.fixture(scope="module")
def history(tmp_path_factory, _sqlite_template):
    """A loaded run (its directory later removed), an invalid run, and a ledger row for the first."""
    folder = tmp_path_factory.mktemp("runs")
    db = folder / "ops.db"
    shutil.copy(_sqlite_template, db)
    url = f"sqlite:///{db}"
    runs = folder / "runs"
    good = write_workbook(folder / "good.xlsx", [good_row()])
    bad = write_workbook(folder / "bad.xlsx", [good_row(amount="lots")])
    loaded = run_pipeline(str(good), runs_root=runs, db_url=url)
    invalid = run_pipeline(str(bad), runs_root=runs, db_url=url)
    kept = run_pipeline(str(good), runs_root=runs, db_url=url, dry_run=True)
    with Ledger(url) as ledger:
        entry = ledger.claim("s3://budget/in/good.xlsx", "v1", version_id="v1", etag=None, size=100, seen=None)
        entry = ledger.fetched(entry, run_id=loaded.run.run_id, sha256=loaded.run.manifest["source"]["sha256"],
                               size=100)
        ledger.finish(entry, SUCCEEDED, run_id=loaded.run.run_id)
    gone = loaded.run.path
    shutil.rmtree(gone)
    return {"url": url, "runs": runs, "loaded": loaded.run, "invalid": invalid.run, "kept": kept.run}


def _cli(history, *args):
    return CliRunner().invoke(cli, ["-q", "--runs-root", str(history["runs"]), *args])


def test_runs_lists_directories_and_database_records_newest_first(history):
    result = _cli(history, "runs", "--db", history["url"])
    assert result.exit_code == 0, result.output
    loaded, invalid, kept = history["loaded"], history["invalid"], history["kept"]
    assert result.output == (
        f"{kept.manifest['created_at']:<24}  {kept.run_id:<24}  dry-run      budget-workbook   1 read, 0 rejected"
        f"      dir     good.xlsx\n"
        f"{invalid.manifest['created_at']:<24}  {invalid.run_id:<24}  invalid      budget-workbook   1 read, 1 rejected"
        f"      dir     bad.xlsx\n"
        f"{json.loads(_cli(history, 'runs', '--db', history['url'], '--json').output)['runs'][2]['started_at']:<24}  "
        f"{loaded.run_id:<24}  succeeded    budget-workbook   -                       db      good.xlsx\n"
        "3 runs: 1 dry-run, 1 invalid, 1 succeeded\n")


def test_runs_filters_and_json_equals_the_library(history):
    from ops_pipeline.runs import list_runs

    data = json.loads(_cli(history, "runs", "--db", history["url"], "--status", "invalid", "--json").output)
    assert data == json.loads(json.dumps(list_runs(history["runs"], db_url=history["url"], status="invalid")))
    assert [r["run_id"] for r in data["runs"]] == [history["invalid"].run_id]
    assert data["counts"] == {"invalid": 1}
    assert _cli(history, "runs", "--dataset", "maps-export").output == \
        "0 runs (runs root only: no database given)\n"
    assert "0 runs" in _cli(history, "runs", "--since", "2999-01-01").output
    refused = _cli(history, "runs", "--since", "yesterday")
    assert refused.exit_code == 2 and "--since must be a date like 2026-11-29, not 'yesterday'" in refused.output


def test_runs_show_a_run_whose_directory_is_gone(history):
    loaded = history["loaded"]
    result = _cli(history, "runs", "show", loaded.run_id, "--db", history["url"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Run {loaded.run_id}  status: succeeded  dataset: budget-workbook"
    assert "In the database: yes" in lines
    assert "  budget_line_item: 1 inserted" in lines
    assert lines[-2].startswith("Ledger: ") and "s3://budget/in/good.xlsx  version v1" in lines[-2]
    assert lines[-1] == "Run directory: (gone)"
    missing = _cli(history, "runs", "show", "20000101T000000Z-000000", "--db", history["url"])
    assert missing.exit_code == 2


def test_files_lists_the_ledger(history):
    result = _cli(history, "files", "--db", history["url"])
    assert result.exit_code == 0, result.output
    data = json.loads(_cli(history, "files", "--db", history["url"], "--json").output)
    entry = data["files"][0]
    assert entry["run_id"] == history["loaded"].run_id and entry["outcome"] == "succeeded"
    assert result.output == (
        f"{entry['first_seen_at']:<24}  succeeded    {entry['run_id']:<24}  s3://budget/in/good.xlsx  version v1  "
        f"sha256 {entry['sha256'][:16]}\n"
        "1 object version: 1 succeeded\n")
    failed = _cli(history, "files", "--db", history["url"], "--outcome", "failed", "--json")
    assert json.loads(failed.output)["total"] == 0
