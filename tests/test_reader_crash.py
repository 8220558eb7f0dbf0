"""A reader that dies in native code (SIGABRT) takes only its child process with it: validate
fails with one line, the stage is recorded failed, and a poller goes on with the next file."""
from __future__ import annotations

import os
import resource
import signal

import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.errors import ExitCode, LimitExceeded, ReaderCrashed
from ops_pipeline.readers import workbook as workbook_module
from ops_pipeline.rundir import RunDir
from ops_pipeline.stages.contained import Gate, run_contained
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.validate import validate

from .conftest import good_row
from .hostile import write_sheet


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


# -- the extent check runs beside the parse, and the reading child writes nothing before it ------

def _writes_after_the_gate(gate: Gate, target):
    def func():
        gate.wait()
        target.write_text("written")
        return "done"
    return func


def test_a_gate_that_refuses_kills_the_reader_before_it_writes(tmp_path):
    target = tmp_path / "output"

    def refuse():
        raise LimitExceeded("far.xlsx: its farthest cell is XFD1048576", file="far.xlsx")

    gate = Gate(refuse)
    with pytest.raises(LimitExceeded, match="XFD1048576"):
        run_contained(_writes_after_the_gate(gate, target), file="far.xlsx", reader="calamine", gate=gate)
    assert not target.exists()


def test_a_gate_that_passes_lets_the_reader_write(tmp_path):
    target = tmp_path / "output"
    gate = Gate(lambda: None)
    assert run_contained(_writes_after_the_gate(gate, target), file="ok.xlsx", reader="calamine",
                         gate=gate) == "done"
    assert target.read_text() == "written"


@pytest.mark.parametrize("answer", [True, False, None, ["an error cell"]])
def test_a_gate_that_passes_hands_the_reader_its_answer(answer):
    # validate's gate says whether a sheet holds error cells, from the scan that checks extents
    gate = Gate(lambda: answer)
    assert run_contained(lambda: (gate.wait(), gate.wait()), file="ok.xlsx", reader="calamine",
                         gate=gate) == (bool(answer), bool(answer))


def test_the_gates_refusal_wins_over_a_reader_that_crashed_meanwhile():
    """A hostile sheet may kill calamine before the check is done: the operator still gets the
    check's one line naming the cell, not "the reader crashed"."""
    def refuse():
        raise LimitExceeded("far.xlsx: its farthest cell is XFD1048576", file="far.xlsx")

    with pytest.raises(LimitExceeded, match="XFD1048576"):
        run_contained(_abort, file="far.xlsx", reader="calamine", gate=Gate(refuse))


@pytest.mark.parametrize("reader", ["auto", "calamine", "openpyxl"])
def test_validate_refuses_a_far_cell_sheet_in_one_line_and_writes_nothing(tmp_path, runs_root, reader):
    path = write_sheet(tmp_path / "far.xlsx", {"A1": "CAN", "B1": "Amount", "XFD1048576": 1})
    run = fetch(str(path), runs_root)
    with pytest.raises(LimitExceeded) as caught:
        validate(run, reader=reader)
    assert "XFD1048576" in caught.value.one_line()
    assert not (run.path / "validate").exists()
    assert RunDir(run.path).status("validate") == "failed"


def test_validate_waits_for_the_gate_before_it_makes_or_writes_anything(make_workbook, runs_root):
    """In the reading child, the gate comes after the parse and before the stage's folder."""
    from ops_pipeline.datasets.registry import get_dataset
    from ops_pipeline.readers.guard import Limits
    from ops_pipeline.readers.workbook import open_workbook
    from ops_pipeline.stages.validate import _validate_workbook

    run = fetch(str(make_workbook([good_row()], name="budget.xlsx")), runs_root)
    seen = []

    def gate():
        seen.append(sorted(p.name for p in run.path.iterdir()))

    with open_workbook(run.path / run.manifest["source"]["path"], reader="calamine") as book:
        summary = _validate_workbook(run, get_dataset(run.dataset), book, "budget.xlsx", Limits(),
                                     False, gate)
    assert summary["rows"]["valid"] == 1
    assert len(seen) == 1 and "validate" not in seen[0]
