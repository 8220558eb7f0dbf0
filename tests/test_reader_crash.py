"""A reader that dies in native code (SIGABRT) takes only its child process with it: validate
fails with one line, the stage is recorded failed, and a poller goes on with the next file."""
from __future__ import annotations

import os
import resource
import signal

import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.errors import ExitCode, ReaderCrashed
from ops_pipeline.readers import workbook as workbook_module
from ops_pipeline.rundir import RunDir
from ops_pipeline.stages.contained import run_contained
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.validate import validate

from .conftest import good_row


def _abort(*args, **kwargs):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file from the test
    os.kill(os.getpid(), signal.SIGABRT)


@pytest.fixture
def calamine_aborts(monkeypatch):
    """calamine aborts the process as soon as it parses a sheet, as it did on XFD1048576."""
    monkeypatch.setattr(workbook_module.CalamineWorkbook, "row_reader", _abort)


def test_run_contained_returns_results_and_exceptions():
    assert run_contained(lambda: {"rows": 3}, file="f.xlsx", reader="calamine") == {"rows": 3}
    with pytest.raises(ZeroDivisionError):
        run_contained(lambda: 1 / 0, file="f.xlsx", reader="calamine")


def test_a_reader_killed_by_a_signal_is_a_one_line_error(calamine_aborts):
    with pytest.raises(ReaderCrashed) as caught:
        run_contained(lambda: workbook_module.CalamineWorkbook.row_reader(None, "x"), file="far.xlsx",
                      reader="calamine")
    assert caught.value.one_line() == (
        "far.xlsx: the calamine reader crashed reading this file (killed by SIGABRT); nothing was written "
        "(hint: the file is probably hostile or damaged: open and re-save it in Excel, or try --reader openpyxl)"
    )


def test_validate_survives_a_reader_abort_and_records_the_stage_failed(calamine_aborts, make_workbook, runs_root):
    run = fetch(str(make_workbook([good_row()], name="budget.xlsx")), runs_root)
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "-q", "validate", str(run.path),
                                      "--reader", "calamine"])
    assert result.exit_code == ExitCode.RUN_FAILED
    assert result.output.strip().splitlines()[-1].startswith(
        "error: validate: budget.xlsx: the calamine reader crashed reading this file (killed by SIGABRT)")
    stage = RunDir(run.path).stage_info("validate")
    assert stage["status"] == "failed"
    assert stage["error"]["code"] == "reader-crashed"


def test_auto_reads_with_openpyxl_when_calamine_crashes(calamine_aborts, make_workbook, runs_root):
    run = fetch(str(make_workbook([good_row()], name="budget.xlsx")), runs_root)
    summary = validate(run)
    assert (summary["reader"], summary["outcome"], summary["rows"]["valid"]) == ("openpyxl", "valid", 1)
