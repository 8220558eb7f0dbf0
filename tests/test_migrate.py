"""migrate: a MAPS export set planned from its headers, run file by file, loaded in one transaction.

Written against the datasets the foundation has (users, projects); the set comes from the
generator the benchmark uses (ops_pipeline/maps_sample.py), so these tests need no other dataset.
"""
from __future__ import annotations

import json
import shutil
import stat

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from ops_pipeline.cli import cli
from ops_pipeline.db.models import PipelineRun
from ops_pipeline.errors import DataInvalid, UsageError
from ops_pipeline.maps_sample import write_maps_export
from ops_pipeline.migrate import header_of, make_plan, migrate, migrations_root
from tests.conftest import db_scalar as _count
from tests.s3_server import *  # noqa: F401,F403  (fixtures)

FOUNDATION = ("users.tsv", "projects.tsv")


@pytest.fixture
def export(tmp_path):
    """users and projects, named so that name order is not dependency order."""
    folder = tmp_path / "export"
    write_maps_export(folder, budget_lines=20, only=FOUNDATION)
    (folder / "projects.tsv").rename(folder / "a-projects.tsv")
    (folder / "users.tsv").rename(folder / "z-users.tsv")
    return folder


def test_a_header_is_read_from_the_first_bytes_bom_crlf_and_quotes_included():
    assert header_of(b'\xef\xbb\xbfSYS_USER_ID\t"EMAIL"\tSTATUS\r\n1\ta@b\tACTIVE\r\n') == ("SYS_USER_ID", "EMAIL",
                                                                                            "STATUS")
    assert header_of(b"") == ()


def test_a_file_name_is_shown_on_one_line_with_nothing_a_terminal_would_run(export):
    (export / "z-users.tsv").rename(export / "us\x1b[31mers\nfake line.tsv")
    lines = make_plan(str(export)).lines()
    assert len(lines) == 3 and "\x1b" not in "".join(lines) and "\n" not in "".join(lines)
    assert "us\\x1b[31mers\\x0afake line.tsv" in lines[1]


def test_the_plan_orders_files_by_dependency_not_by_name_and_touches_nothing(export, runs_root):
    plan = make_plan(str(export))
    assert [(f.name, f.dataset, f.tier) for f in plan.files] == [
        ("z-users.tsv", "maps-users", 1), ("a-projects.tsv", "maps-projects", 2)]
    assert plan.lines()[0] == f"plan: 2 files from {export}, in load order"
    assert plan.lines()[1].split()[:4] == ["1.", "z-users.tsv", "maps-users", "tier"]
    assert not runs_root.exists()


def test_a_file_of_no_known_dataset_stops_the_plan_naming_it_and_the_known_ones(export):
    (export / "notes.tsv").write_text("WHAT\tEVER\n1\t2\n")
    with pytest.raises(DataInvalid) as caught:
        make_plan(str(export))
    line = caught.value.one_line()
    assert line.startswith("notes.tsv: ") and "maps-users" in line and "maps-projects" in line


def test_two_files_of_one_dataset_stop_the_plan(export):
    shutil.copy(export / "z-users.tsv", export / "users-old.tsv")
    with pytest.raises(DataInvalid, match=r"^2 files hold maps-users: users-old.tsv, z-users.tsv; a migration "
                                          r"takes one file per dataset"):
        make_plan(str(export))


def test_no_folder_and_an_empty_folder_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        make_plan(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no export files there"):
        make_plan(str(tmp_path / "empty"))


def test_a_migration_loads_the_set_reports_each_file_and_reruns_changing_nothing(export, runs_root, sqlite_url):
    done = migrate(str(export), runs_root=runs_root, db_url=sqlite_url)
    assert done.error is None
    report = done.report
    assert report["status"] == "loaded" and [f["name"] for f in report["files"]] == ["z-users.tsv", "a-projects.tsv"]
    users, projects = report["files"]
    assert users["entities"]["ops_user"]["inserted"] == 5 and users["status"] == "succeeded"
    assert projects["entities"]["project"]["inserted"] == 3
    assert report["totals"]["entities"]["ops_user"]["inserted"] == 5
    assert report["totals"]["rows"]["read"] == 8
    folder = migrations_root(runs_root) / report["migration_id"]
    for name in ("plan.json", "report.json", "report.md"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert json.loads((folder / "report.json").read_text())["files"][0]["run_id"] == users["run_id"]
    assert "| 1 | z-users.tsv | maps-users | succeeded |" in (folder / "report.md").read_text()
    assert _count(sqlite_url, select(func.count()).select_from(PipelineRun)) == 2

    again = migrate(str(export), runs_root=runs_root, db_url=sqlite_url).report
    assert again["status"] == "loaded" and again["migration_id"] != report["migration_id"]
    changed = {k: v for f in again["files"] for c in f["entities"].values() for k, v in c.items()
               if k in ("inserted", "updated") and v}
    assert changed == {} and again["totals"]["history"] == {}


def test_rejected_rows_in_any_file_stop_the_migration_before_the_load(export, runs_root, sqlite_url):
    path = export / "z-users.tsv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("ACTIVE", "RETIRED")
    path.write_text("\n".join(lines) + "\n")
    done = migrate(str(export), runs_root=runs_root, db_url=sqlite_url)
    assert isinstance(done.error, DataInvalid)
    assert done.error.one_line().startswith("validate: z-users.tsv: validate rejected 1 row; nothing is transformed")
    assert done.report["status"] == "invalid" and done.report["files"][0]["findings"].get("BAD_ENUM") == 1
    assert _count(sqlite_url, select(func.count()).select_from(PipelineRun)) == 0

    done = migrate(str(export), runs_root=runs_root, db_url=sqlite_url, accept_rejects=True)
    assert done.error is None and done.report["files"][0]["entities"]["ops_user"]["inserted"] == 4


def test_a_dry_run_gives_the_counts_of_the_whole_set_and_writes_nothing(export, runs_root, sqlite_url):
    done = migrate(str(export), runs_root=runs_root, db_url=sqlite_url, dry_run=True)
    assert done.error is None and done.report["status"] == "planned" and done.report["dry_run"]
    assert done.report["totals"]["entities"]["project"]["inserted"] == 3
    assert _count(sqlite_url, select(func.count()).select_from(PipelineRun)) == 0


def test_the_cli_prints_the_plan_and_stops_with_plan(export, runs_root):
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "migrate", str(export), "--plan"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"plan: 2 files from {export}, in load order"
    assert not runs_root.exists()
    result = CliRunner().invoke(cli, ["migrate", str(export), "--plan", "--format", "json"])
    assert [f["dataset"] for f in json.loads(result.output)["files"]] == ["maps-users", "maps-projects"]


def test_the_cli_migrates_and_its_json_is_the_report(export, runs_root, sqlite_url):
    result = CliRunner().invoke(cli, ["-q", "--runs-root", str(runs_root), "migrate", str(export), "--db", sqlite_url,
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    saved = json.loads((migrations_root(runs_root) / data["migration_id"] / "report.json").read_text())
    assert data == saved


def test_the_cli_s_errors_are_one_line_without_a_traceback(export, runs_root, sqlite_url):
    (export / "notes.tsv").write_text("WHAT\tEVER\n")
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "migrate", str(export), "--db", sqlite_url])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: notes.tsv: the header row is not that of any MAPS export")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


@pytest.mark.postgres
def test_on_postgresql_a_rerun_records_no_history(export, runs_root, pg_schema_url):
    def history() -> int:
        tables = ("ops_db_history", "ops_event", "transaction", "ops_user_version", "project_version")
        return sum(_count(pg_schema_url, text(f'SELECT count(*) FROM ops."{t}"')) for t in tables)

    before = history()
    assert migrate(str(export), runs_root=runs_root, db_url=pg_schema_url).error is None
    loaded = history()
    assert loaded > before
    assert migrate(str(export), runs_root=runs_root, db_url=pg_schema_url).error is None
    assert history() == loaded


def test_an_s3_prefix_is_planned_from_its_objects_headers_and_migrated(export, runs_root, sqlite_url, s3_bucket,
                                                                       s3_endpoint):
    client, bucket = s3_bucket
    for path in export.iterdir():
        client.put_object(Bucket=bucket, Key=f"maps/2026-11/{path.name}", Body=path.read_bytes())
    client.put_object(Bucket=bucket, Key="maps/2026-11/processed/old.tsv", Body=b"NOT\tMAPS\n")  # a subfolder
    source = f"s3://{bucket}/maps/2026-11/"
    plan = make_plan(source, endpoint_url=s3_endpoint)
    assert [(f.name, f.dataset) for f in plan.files] == [("z-users.tsv", "maps-users"),
                                                         ("a-projects.tsv", "maps-projects")]
    done = migrate(source, runs_root=runs_root, db_url=sqlite_url, endpoint_url=s3_endpoint, plan=plan)
    assert done.error is None and done.report["totals"]["entities"]["project"]["inserted"] == 3
    assert done.runs[0].manifest["source"]["uri"] == f"{source}z-users.tsv"


def test_luigi_s_migrate_maps_is_one_task_named_by_source_and_date_done_once(export, runs_root, sqlite_url):
    luigi = pytest.importorskip("luigi")
    import datetime as dt

    from ops_pipeline.luigi import MigrateMaps

    task = MigrateMaps(source=str(export), run_date=dt.datetime(2026, 11, 29, 10, 53), db=sqlite_url,
                       runs_root=str(runs_root))
    assert not task.complete()
    assert luigi.build([task], local_scheduler=True, log_level="WARNING")
    assert task.complete() and task.output().folder.name == task.migration_id
    assert read_report(task.output().folder)["totals"]["entities"]["ops_user"]["inserted"] == 5
    assert luigi.build([task], local_scheduler=True, log_level="WARNING")
    assert [p.name for p in migrations_root(runs_root).iterdir()] == [task.migration_id]


def read_report(folder):
    return json.loads((folder / "report.json").read_text())


def test_every_file_is_validated_before_the_stop_and_the_error_names_each(export, runs_root, sqlite_url):
    for name, good, bad in (("z-users.tsv", "ACTIVE", "RETIRED"), ("a-projects.tsv", "RESEARCH", "STUDY")):
        path = export / name
        lines = path.read_text().splitlines()
        lines[1] = lines[1].replace(good, bad)
        path.write_text("\n".join(lines) + "\n")
    done = migrate(str(export), runs_root=runs_root, db_url=sqlite_url)
    assert done.error.one_line() == (
        "2 files stop the migration, nothing was loaded: z-users.tsv: validate rejected 1 row; nothing is "
        "transformed or loaded; a-projects.tsv: validate rejected 1 row; nothing is transformed or loaded "
        f"(hint: fix the files, or load the valid rows with: ops-pipeline migrate {export} --accept-rejects)")
    assert [f["findings"].get("BAD_ENUM") for f in done.report["files"]] == [1, 1]


def test_each_file_s_run_is_archived_with_archive(export, runs_root, sqlite_url, s3_bucket, s3_endpoint,
                                                  monkeypatch):
    monkeypatch.setenv("OPS_PIPELINE_S3_ENDPOINT_URL", s3_endpoint)
    client, bucket = s3_bucket
    result = CliRunner().invoke(cli, ["-q", "--runs-root", str(runs_root), "migrate", str(export), "--db", sqlite_url,
                                      "--archive", f"s3://{bucket}/audit/"])
    assert result.exit_code == 0, result.output
    report = json.loads(next(migrations_root(runs_root).glob("*/report.json")).read_text())
    run_ids = [f["run_id"] for f in report["files"]]
    for run_id in run_ids:
        assert f"archived run {run_id} to s3://{bucket}/audit/runs/{run_id}/" in result.stderr
        assert client.head_object(Bucket=bucket, Key=f"audit/runs/{run_id}/manifest.json")


def test_the_generated_set_of_every_dataset_this_tree_has_migrates_clean(tmp_path, runs_root, sqlite_url):
    """The benchmark's generator and the datasets agree: each generated file (of the datasets there
    are) is recognised, loses no row and inserts records, and the set lands whole."""
    from ops_pipeline.maps import maps_datasets
    from ops_pipeline.maps_sample import COLUMNS

    types = {cls.maps_type for cls in maps_datasets()}
    known = tuple(name for name in COLUMNS if name[:-4] in types)
    write_maps_export(tmp_path / "set", budget_lines=20, only=known)
    done = migrate(str(tmp_path / "set"), runs_root=runs_root, db_url=sqlite_url)
    assert done.error is None, done.error.one_line()
    assert len(done.report["files"]) == len(known) >= 2
    for entry in done.report["files"]:
        assert entry["rows"]["rejected"] == 0 and entry["rows"]["valid"] == entry["rows"]["read"] > 0, entry
        assert sum(c["inserted"] for c in entry["entities"].values()) > 0, entry


def test_the_hand_written_small_export_lands_whole_in_dependency_order(runs_root, sqlite_url):
    from pathlib import Path

    from ops_pipeline.maps import maps_datasets

    small = Path(__file__).parent / "data" / "maps" / "small"
    done = migrate(str(small), runs_root=runs_root, db_url=sqlite_url)
    assert done.error is None, done.error.one_line()
    tiers = [f["tier"] for f in done.report["files"]]
    assert tiers == sorted(tiers) and len(tiers) == len(maps_datasets())
    assert all(f["rows"]["rejected"] == 0 for f in done.report["files"])
    # Each kind of budget line found its agreement, loaded from another file of the same transaction.
    lines = sum(f["rows"]["read"] for f in done.report["files"] if f["dataset"].endswith("-budget-lines"))
    assert done.report["totals"]["entities"]["budget_line_item"]["inserted"] == lines > 0
