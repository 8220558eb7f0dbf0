"""rejects --annotate: the sender's own workbook back, problem cells highlighted and commented,
a first sheet of findings with links; nothing else changed; formula injection neutralised."""
from __future__ import annotations

import json
import zipfile

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

from ops_pipeline.cli import cli
from ops_pipeline.pipeline import run_stage, start_run
from tests.conftest import HEADER, good_row

HOSTILE = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("annotate")
    book = Workbook()
    ws = book.active
    ws.title = "All Budget - Cur"
    ws.append(HEADER)
    for row in [good_row(), good_row(budget_id=15002, amount="lots", status=HOSTILE),
                good_row(budget_id=15003, date="31/31/2025")]:
        ws.append(row)
    ws["G2"].number_format = "mm/dd/yyyy"
    ws["H3"].font = Font(bold=True)
    ws["A1"].font = Font(bold=True)
    notes = book.create_sheet("Notes")
    notes["A1"] = "Checked by"
    notes["B1"] = "=COUNTA('All Budget - Cur'!A:A)"
    book.active = 0
    path = folder / "budget.xlsx"
    book.save(path)
    run = start_run(str(path), folder / "runs")
    run_stage("validate", run)
    return {"run": run, "source": path, "folder": folder}


def _annotate(validated, name="marked.xlsx", *extra):
    out = validated["folder"] / name
    result = CliRunner().invoke(cli, ["-q", "rejects", str(validated["run"].path), "--format", "xlsx", "--annotate",
                                      "-o", str(out), *extra])
    return result, out


def test_problem_cells_are_highlighted_and_commented_and_nothing_else_changes(validated):
    result, out = _annotate(validated, "marked.xlsx", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["findings"] == 3 and summary["highlighted"] == 3 and summary["commented"] == 3
    before, after = load_workbook(validated["source"]), load_workbook(out)
    assert after.sheetnames == ["Findings", "All Budget - Cur", "Notes"]
    problems = {"H3": "bad-amount", "J3": "unknown-status", "G4": "bad-date"}
    for name in before.sheetnames:
        for row in before[name].iter_rows():
            for cell in row:
                copy = after[name][cell.coordinate]
                assert copy.value == cell.value, cell.coordinate
                assert copy.number_format == cell.number_format and repr(copy.font) == repr(cell.font), cell.coordinate
                if name == "All Budget - Cur" and cell.coordinate in problems:
                    assert copy.fill.fgColor.rgb == "FFFFFF00"
                    assert copy.comment.text.startswith(f"{problems[cell.coordinate]} (error): ")
                else:
                    assert repr(copy.fill) == repr(cell.fill) and copy.comment is None, cell.coordinate
    assert after["Notes"]["B1"].value == "=COUNTA('All Budget - Cur'!A:A)"
    assert after["All Budget - Cur"]["H3"].font.b is True  # the highlighted cell keeps its own style


def test_the_findings_sheet_links_to_each_cell_and_neutralises_formula_like_text(validated):
    _, out = _annotate(validated, "listed.xlsx")
    sheet = load_workbook(out)["Findings"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Cell", "Code", "Severity", "Message", "Value")
    assert [r[:3] for r in rows[1:]] == [("All Budget - Cur!H3", "bad-amount", "error"),
                                         ("All Budget - Cur!J3", "unknown-status", "error"),
                                         ("All Budget - Cur!G4", "bad-date", "error")]
    assert sheet["A3"].hyperlink.location == "'All Budget - Cur'!J3"
    assert rows[2][4] == "'" + HOSTILE  # a spreadsheet reads it as text, never as a formula
    comment = load_workbook(out)["All Budget - Cur"]["J3"].comment.text
    assert "[value: " + HOSTILE + "]" in comment and not comment.startswith(("=", "+", "-", "@"))


def test_only_the_parts_that_must_change_do(validated):
    _, out = _annotate(validated, "parts.xlsx")
    with zipfile.ZipFile(validated["source"]) as a, zipfile.ZipFile(out) as b:
        changed = {n for n in a.namelist() if a.read(n) != b.read(n)}
        added = set(b.namelist()) - set(a.namelist())
    assert changed == {"xl/styles.xml", "xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                       "[Content_Types].xml"}
    assert added == {"xl/comments1.xml", "xl/drawings/vmlDrawing1.vml", "xl/worksheets/_rels/sheet1.xml.rels",
                     "xl/worksheets/sheet3.xml"}
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_annotate_needs_an_xlsx_output(validated):
    result, _ = _annotate(validated, "marked.csv")
    assert result.exit_code == 2
    assert "--output 'marked.csv' does not end in .xlsx" in result.output


def test_sheet_scoped_names_follow_their_sheet_and_existing_comments_are_kept(tmp_path):
    from openpyxl.comments import Comment

    book = Workbook()
    ws = book.active
    ws.title = "All Budget - Cur"
    ws.append(HEADER)
    ws.append(good_row(amount="lots"))
    ws["K2"].comment = Comment("ask Dana", "budget team")
    ws.print_area = "A1:K2"
    book.create_sheet("Notes").print_area = "A1:B2"
    path = tmp_path / "commented.xlsx"
    book.save(path)
    run = start_run(str(path), tmp_path / "runs")
    run_stage("validate", run)
    out = tmp_path / "marked.xlsx"
    result = CliRunner().invoke(cli, ["-q", "rejects", str(run.path), "--format", "xlsx", "--annotate", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "already has comments: the findings are in the Findings sheet only" in result.output
    after = load_workbook(out)
    assert after["All Budget - Cur"].print_area == "'All Budget - Cur'!$A$1:$K$2"
    assert after["Notes"].print_area == "'Notes'!$A$1:$B$2"
    assert after["All Budget - Cur"]["K2"].comment.text == "ask Dana"
    assert after["All Budget - Cur"]["H2"].fill.fgColor.rgb == "FFFFFF00"
    assert after["All Budget - Cur"]["H2"].comment is None
    assert [r[1] for r in after["Findings"].iter_rows(min_row=2, values_only=True)] == ["bad-amount"]
