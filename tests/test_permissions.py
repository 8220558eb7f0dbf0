"""At rest: run directories 0700 and files 0600 whatever the umask; the source copy 0400."""
from __future__ import annotations

import os
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
