"""trace: every run that created or changed one OPS record, with what changed (SQLite)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.pipeline import run_pipeline
from tests.conftest import good_row, write_workbook


@pytest.fixture(scope="module")
def traced(tmp_path_factory, _sqlite_template):
    """Two runs: the first creates line 15001 (and its CAN), the second changes its amount."""
    import shutil

    folder = tmp_path_factory.mktemp("trace")
    db = folder / "ops.db"
    shutil.copy(_sqlite_template, db)
    url = f"sqlite:///{db}"
    runs = folder / "runs"
    first = write_workbook(folder / "first.xlsx", [good_row(), good_row(budget_id=15002, desc="Year 2")])
    second = write_workbook(folder / "second.xlsx", [good_row(amount=2000), good_row(budget_id=15002, desc="Year 2")])
    one = run_pipeline(str(first), runs_root=runs, db_url=url)
    two = run_pipeline(str(second), runs_root=runs, db_url=url)
    assert one.report["status"] == two.report["status"] == "succeeded"
    return {"url": url, "runs": runs, "one": one.run, "two": two.run}


def _invoke(traced, *args):
    return CliRunner().invoke(cli, ["-q", "--runs-root", str(traced["runs"]), "trace", *args, "--db", traced["url"]])


def test_trace_lists_each_run_newest_first_with_what_changed(traced):
    result = _invoke(traced, "budget_line_item", "15001")
    assert result.exit_code == 0, result.output
    one, two = traced["one"], traced["two"]
    data = json.loads(_invoke(traced, "budget_line_item", "15001", "--json").output)
    times = [r["time"] for r in data["records"][0]["runs"]]
    assert result.output == (
        "budget_line_item 15001: 2 runs\n"
        f"  {times[0]}  updated  run {two.run_id}\n"
        "    source: second.xlsx\n"
        f"    sha256: {two.manifest['source']['sha256']}\n"
        "    from: All Budget - Cur, rows 2\n"
        "    amount: 1234.50 → 2000.00\n"
        f"    run directory: {two.path}\n"
        f"  {times[1]}  created  run {one.run_id}\n"
        "    source: first.xlsx\n"
        f"    sha256: {one.manifest['source']['sha256']}\n"
        "    from: All Budget - Cur, rows 2\n"
        "    agreement_id: (none) → 1\n"
        "    amount: (none) → 1234.50\n"
        "    budget_line_item_type: (none) → CONTRACT\n"
        "    can_id: (none) → 500\n"  # OPS's CAN ids start at 500 (those below are MAPS's)
        "    certified: (none) → False\n"
        "    closed: (none) → False\n"
        "    comments: (none) → ***\n"
        "    date_needed: (none) → 2025-03-11\n"
        "    doc_received: (none) → False\n"
        "    is_obe: (none) → False\n"
        "    is_under_current_resolution: (none) → False\n"
        "    line_description: (none) → Year 1 evaluation\n"
        "    on_hold: (none) → False\n"
        "    status: (none) → PLANNED\n"
        f"    run directory: {one.path}\n")
    assert times[0] >= times[1]


def test_trace_by_natural_key_and_json(traced):
    result = _invoke(traced, "CAN", "g994648", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["entity"] == "can" and len(data["records"]) == 1
    record = data["records"][0]
    assert record["name"] == "G994648"
    assert [r["action"] for r in record["runs"]] == ["unchanged", "created"]
    assert [r["run_id"] for r in record["runs"]] == [traced["two"].run_id, traced["one"].run_id]
    assert record["runs"][0]["changes"] == {}
    assert record["runs"][1]["rows"] == "2-3"
    assert record["runs"][1]["changes"]["number"] == {"old": None, "new": "G994648"}


def test_trace_says_when_the_run_directory_is_gone(traced, tmp_path):
    result = CliRunner().invoke(cli, ["-q", "--runs-root", str(tmp_path), "trace", "project",
                                      "Child Care Research Partnerships", "--db", traced["url"], "--json"])
    runs = json.loads(result.output)["records"][0]["runs"]
    assert [r["run_dir"] for r in runs] == [None, None]
    text = CliRunner().invoke(cli, ["-q", "--runs-root", str(tmp_path), "trace", "project",
                                    "child care research  partnerships", "--db", traced["url"]]).output
    assert "run directory: (gone)" in text


def test_trace_of_an_unknown_record_or_entity_is_a_usage_error(traced):
    missing = _invoke(traced, "can", "G000000")
    assert missing.exit_code == 2
    assert missing.output.startswith("error: OPS has no CAN 'G000000'")
    unknown = _invoke(traced, "spaceship", "1")
    assert unknown.exit_code == 2
    assert "no entity called 'spaceship'" in unknown.output


@pytest.mark.postgres
def test_trace_on_postgresql_reads_ops_version_history(ops_pg_url, tmp_path):
    """On OPS's real schema: the run's Continuum transaction gives what it changed."""
    assert CliRunner().invoke(cli, ["-q", "db", "init", "--db", ops_pg_url]).exit_code == 0
    runs = tmp_path / "runs"
    first = write_workbook(tmp_path / "first.xlsx", [good_row()])
    second = write_workbook(tmp_path / "second.xlsx", [good_row(amount=2000, desc="Year 1 evaluation, revised")])
    one = run_pipeline(str(first), runs_root=runs, db_url=ops_pg_url)
    two = run_pipeline(str(second), runs_root=runs, db_url=ops_pg_url)
    assert one.report["status"] == two.report["status"] == "succeeded"
    result = CliRunner().invoke(cli, ["-q", "--runs-root", str(runs), "trace", "budget_line_item", "15001",
                                      "--db", ops_pg_url, "--json"])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.output)["records"]
    assert [(r["run_id"], r["action"]) for r in record["runs"]] == [(two.run.run_id, "updated"),
                                                                    (one.run.run_id, "created")]
    assert record["runs"][0]["changes"] == {
        "amount": {"old": "1234.50", "new": "2000.00"},
        "line_description": {"old": "Year 1 evaluation", "new": "Year 1 evaluation, revised"}}
    assert record["runs"][1]["changes"]["comments"] == {"old": None, "new": "***"}
