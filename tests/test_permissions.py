"""At rest: run directories 0700 and files 0600 whatever the umask; the source copy 0400."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from ops_pipeline.export import export_rejects
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.purge import purge
from tests.conftest import good_row


@pytest.fixture(params=[0o000, 0o022, 0o077], ids=["umask-000", "umask-022", "umask-077"])
def umask(request):
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def _modes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix() or ".": stat.S_IMODE(p.lstat().st_mode)
            for p in [root, *root.rglob("*")]}


def test_every_file_and_folder_of_a_run_is_private(umask, make_workbook, runs_root, sqlite_url, tmp_path):
    book = make_workbook([good_row(budget_id=1), good_row(budget_id=2, amount="bad")])
    outcome = run_pipeline(str(book), runs_root=runs_root, db_url=sqlite_url, accept_rejects=True)
    run = outcome.run
    export_rejects(run, tmp_path / "rejects.csv")
    export_rejects(run, tmp_path / "rejects.xlsx")

    modes = _modes(run.path)
    source_copy = [name for name in modes if name.startswith("fetch/")]
    assert len(source_copy) == 1
    expected = {}
    for name in modes:
        path = run.path / name
        if path.is_dir():
            expected[name] = 0o700
        elif name in source_copy:
            expected[name] = 0o400
        else:
            expected[name] = 0o600
    assert modes == expected
    # The run wrote what a full run writes (so the check above covered it).
    assert {"manifest.json", "logs/events.jsonl", "validate/valid_rows.jsonl", "validate/summary.json",
            "transform/summary.json", "report/report.json", "report/report.md"} <= set(modes)
    assert stat.S_IMODE(runs_root.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "ops.db").stat().st_mode) == 0o600
    for name in ("rejects.csv", "rejects.xlsx"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    # No temporary file is left behind anywhere.
    assert not [p for p in run.path.rglob(".*.tmp")]

    # After a purge the record left behind is still private.
    manifest = run.path / "manifest.json"
    data = manifest.read_text()
    manifest.write_text(data.replace(run.manifest["created_at"], "2000-01-01T00:00:00.000Z"))
    os.chmod(manifest, 0o600)
    purge(runs_root, "30d")
    modes = _modes(run.path)
    assert all(mode == (0o700 if (run.path / name).is_dir() else 0o600) for name, mode in modes.items()), modes


def test_the_source_copy_cannot_be_written(make_workbook, runs_root):
    from ops_pipeline.stages.fetch import fetch, source_file

    run = fetch(str(make_workbook([good_row()])), runs_root)
    copy = source_file(run)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o400
    if os.geteuid() != 0:  # root ignores permission bits
        with pytest.raises(PermissionError):
            copy.open("ab")


# -- the SQLite database ----------------------------------------------------------------------------

def test_a_new_sqlite_database_and_its_journals_are_private(umask, tmp_path):
    """The database holds Comments (PII): the file, its rollback journal and its WAL and
    shared-memory files are 0600 whatever the umask."""
    from sqlalchemy import text

    from ops_pipeline.db.engine import init_schema, make_engine

    url = f"sqlite:///{tmp_path / 'new.db'}"
    init_schema(url)
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # a write transaction holds the rollback journal open
            conn.execute(text("CREATE TABLE canary (x)"))
            conn.execute(text("INSERT INTO canary VALUES ('Comments')"))
            assert stat.S_IMODE((tmp_path / "new.db-journal").stat().st_mode) == 0o600
        engine.dispose()
        with contextlib.closing(sqlite3.connect(tmp_path / "new.db", isolation_level=None)) as raw:
            assert raw.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO canary VALUES ('more')"))
            for suffix in ("-wal", "-shm"):
                assert stat.S_IMODE((tmp_path / f"new.db{suffix}").stat().st_mode) == 0o600, suffix
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite:///{dir}/uri.db?uri=true", "sqlite:///file:{dir}/uri2.db?uri=true"])
def test_sqlite_uri_filenames_are_created_private_too(tmp_path, url):
    from ops_pipeline.db.engine import init_schema

    previous = os.umask(0o022)
    try:
        init_schema(url.format(dir=tmp_path))
    finally:
        os.umask(previous)
    [created] = [p for p in tmp_path.iterdir() if p.suffix == ".db"]
    assert stat.S_IMODE(created.stat().st_mode) == 0o600


def test_an_existing_database_keeps_its_mode(tmp_path):
    from ops_pipeline.db.engine import init_schema

    path = tmp_path / "shared.db"
    path.touch()
    os.chmod(path, 0o640)  # the operator's choice (a group of analysts)
    init_schema(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# -- the runs root ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o1777, 0o2775, 0o755], ids=["sticky", "setgid", "plain"])
def test_an_existing_runs_root_keeps_its_mode(mode, tmp_path, make_workbook):
    """A shared folder (1777 with its sticky bit, 2775 with setgid) is not ours to chmod; the run
    directories made in it are private."""
    from ops_pipeline.stages.fetch import fetch

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    run = fetch(str(make_workbook([good_row()])), shared)
    assert stat.S_IMODE(shared.stat().st_mode) == mode
    assert stat.S_IMODE(run.path.stat().st_mode) == 0o700


def test_a_new_runs_root_and_the_folders_above_it_are_created_private(umask, tmp_path, make_workbook):
    from ops_pipeline.stages.fetch import fetch

    fetch(str(make_workbook([good_row()])), tmp_path / "new" / "runs")
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "runs").stat().st_mode) == 0o700


@pytest.mark.parametrize("root, reason", [
    ("", "no folder named"),
    (" ", "no folder named"),
    ("{file}", "not a folder"),
    ("{file}/runs", "not a folder"),
    ("/proc/self", None),
])
def test_an_unusable_runs_root_is_a_one_line_usage_error(root, reason, tmp_path, make_workbook, monkeypatch):
    from click.testing import CliRunner

    from ops_pipeline.cli import cli

    monkeypatch.chdir(tmp_path)
    os.chmod(tmp_path, 0o755)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    root = root.format(file=a_file)
    book = str(make_workbook([good_row()]))
    result = CliRunner().invoke(cli, ["-q", "--runs-root", root, "fetch", book])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot use {root!r} as the runs root: "), lines
    if reason:
        assert lines[0] == (f"error: cannot use {root!r} as the runs root: {reason} (hint: pass --runs-root DIR "
                            "(or set OPS_PIPELINE_RUNS) naming a folder you can write to)")
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # the working directory was not touched
