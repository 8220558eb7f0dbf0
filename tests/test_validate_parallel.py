"""Judging rows in a worker process gives exactly the outputs of judging them here."""
import pytest

from ops_pipeline.errors import LimitExceeded
from ops_pipeline.readers.guard import Limits
from ops_pipeline.rundir import read_jsonl
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.stages import rows
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.validate import validate

from .conftest import good_row

OUTPUTS = ("valid_rows.jsonl", "rejected.jsonl", "skipped.jsonl", "findings.jsonl")


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(rows, "PARALLEL_MIN_ROWS", 37)
    monkeypatch.setattr(rows, "CHUNK_ROWS", 16)


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])  # workers read the rows / are sent them
def test_worker_and_in_process_outputs_are_identical(tmp_path, small_batches, reader):
    book = write_sample_workbook(tmp_path / "b.xlsx", rows=400, seed=3)
    here = fetch(str(book), tmp_path / "runs")
    there = fetch(str(book), tmp_path / "runs")
    assert validate(here, parallel=False)["rows"] == validate(there, parallel=True, reader=reader)["rows"]
    for name in OUTPUTS:
        assert (here.path / "validate" / name).read_bytes() == (there.path / "validate" / name).read_bytes(), name


def test_the_worker_inherits_budget_ids_seen_before_it_started(make_workbook, runs_root, small_batches):
    lines = [good_row(budget_id=i, desc=f"line {i}") for i in range(1, 80)] + [good_row(budget_id=5)]
    run = fetch(str(make_workbook(lines)), runs_root)
    summary = validate(run, parallel=True)
    assert summary["findings"] == {"duplicate-budget-id": 1}
    assert summary["rows"]["rejected"] == 1


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
def test_repeats_that_two_workers_see_separately_are_found_in_order(make_workbook, runs_root, small_batches,
                                                                     reader):
    lines = [good_row(budget_id=i, desc=f"line {i}") for i in range(1, 200)]
    lines[120][1] = 60  # row 122 repeats the id of row 61; batches of 16 put them in different workers
    lines[150][1] = 60  # and row 152 again: "also on row 61", not on 122
    run = fetch(str(make_workbook(lines)), runs_root)
    in_process = fetch(str(make_workbook(lines)), runs_root)
    summary = validate(run, parallel=True, reader=reader)
    assert summary == validate(in_process, parallel=False, reader=reader) | {"file": summary["file"]}
    messages = [f["message"] for f in read_jsonl(run.path / "validate" / "findings.jsonl")]
    assert messages == ["budget id 60 is also on row 61", "budget id 60 is also on row 61"]
    for name in OUTPUTS:
        assert (run.path / "validate" / name).read_bytes() == (in_process.path / "validate" / name).read_bytes()


def test_a_limit_hit_in_the_worker_is_the_same_one_line_error(make_workbook, runs_root, small_batches):
    lines = [good_row(budget_id=i) for i in range(1, 80)] + [good_row(budget_id=99, desc="x" * 500)]
    run = fetch(str(make_workbook(lines, name="big.xlsx")), runs_root)
    with pytest.raises(LimitExceeded) as caught:
        validate(run, limits=Limits(max_cell_chars=400), parallel=True)
    assert caught.value.one_line() == (
        "validate: big.xlsx: All Budget - Cur!81: a cell holds more than 400 characters "
        "(hint: raise OPS_PIPELINE_MAX_CELL_CHARS if the file is genuine)")


def test_blank_rows_across_chunk_edges_are_filed_as_in_one_process(make_workbook, runs_root, small_batches):
    """Blank rows are data rows (skipped) only when a row follows them, whichever chunk it is in."""
    lines = [good_row(budget_id=i, desc=f"line {i}") for i in range(1, 120)]
    for index in [14, 15, 16, 17, 30] + list(range(40, 75)):  # over chunk edges; whole chunks blank
        lines[index] = [None] * 11
    lines[90] = good_row(budget_id=91, amount="234,1552,303.08")  # a rejected row in a later chunk
    lines += [[None] * 11] * 20 + [good_row(budget_id=500)] + [[None] * 11] * 18  # blanks at the end
    run = fetch(str(make_workbook(lines)), runs_root)
    in_process = fetch(str(make_workbook(lines)), runs_root)
    summary = validate(run, parallel=True)
    assert summary == validate(in_process, parallel=False) | {"file": summary["file"]}
    assert summary["rows"]["skipped"] == 5 + 35 + 20
    for name in OUTPUTS:
        assert (run.path / "validate" / name).read_bytes() == (in_process.path / "validate" / name).read_bytes()


def test_a_table_that_starts_below_and_right_of_a1_is_judged_alike(tmp_path, runs_root, small_batches):
    """Workers read rows by number from the parsed sheet: row and column offsets must survive."""
    from openpyxl import Workbook

    from .conftest import HEADER

    book = Workbook()
    sheet = book.active
    sheet.title = "All Budget - Cur"
    sheet["C2"] = "FY26 budget"  # a title, two rows down and two columns in
    for offset, values in enumerate([HEADER] + [good_row(budget_id=i, desc=f"line {i}") for i in range(1, 90)]):
        for column, value in enumerate(values, start=2):  # the table starts in column B, row 4
            sheet.cell(row=4 + offset, column=column, value=value)
    path = tmp_path / "offset.xlsx"
    book.save(path)
    run, in_process = fetch(str(path), runs_root), fetch(str(path), runs_root)
    summary = validate(run, parallel=True)
    assert summary["rows"] == {"read": 89, "valid": 89, "rejected": 0, "skipped": 0}
    assert summary == validate(in_process, parallel=False) | {"file": summary["file"]}
    for name in OUTPUTS:
        assert (run.path / "validate" / name).read_bytes() == (in_process.path / "validate" / name).read_bytes()
    first = next(read_jsonl(run.path / "validate" / "valid_rows.jsonl"))
    assert first["row"] == 5 and first["values"]["budget_id"] == 1
