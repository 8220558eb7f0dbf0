"""Budget staff's current layout: recognised by its header (liberally, as the classic one), its
fast validation path deciding as the full path, its rules, and its entities on SQLite."""
import datetime as dt

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from ops_pipeline.datasets.budget_current import EXPORT_FORMATS, HEADERS, CurrentBudgetWorkbook
from ops_pipeline.datasets.registry import get_dataset
from ops_pipeline.errors import LimitExceeded
from ops_pipeline.readers.workbook import open_workbook
from ops_pipeline.rules import RuleViolation
from ops_pipeline.rules.current import fee_problem, parse_fee_rate, parse_fiscal_year
from ops_pipeline.stages.rows import RowJudge
from ops_pipeline.stages.validate import _find_layout

from .test_quick_path import CELLS, NO_SHRINK

#: the classic header each current column shares its rule with (their cells are drawn alike)
SHARED = {"BL ID #": "Sys_Budget_ID", "Project": "Project Title", "Agreement": "CIG Name",
          "Agreement Type": "CIG Type", "Description": "Line Desc", "Obligate By": "Date Needed",
          "CAN": "CAN", "SubTotal": "Amount", "Procurement shop fee": "PSCFee Amount", "Status": "Status",
          "Comments": "Comments"}
EXTRA = {
    "Portfolio": (["CC", "hs ", None], ["", 7, "CC\x00", "x" * 600]),
    "SC": (["SC1", "SC 2", "OSC3", "SC1.1", "Base Period 1", None], ["Phase 2", "SC0", 2, True, "SC1\x0b", ""]),
    "FY": ([2025, "FY25", None, 2026], ["next year", 1999, 2025.5, "", True]),
    "Procurement shop": (["PSC", "nih", None], ["", 3, "PSC\x1b"]),
    "Procurement shop fee rate": ([1.0, 0.5, "4.8", None, 5], ["abc", 101, -1, "", True, "0.5 %"]),
}


def _cells(header):
    usual, odd = EXTRA[header] if header in EXTRA else CELLS[SHARED[header]]
    return st.tuples(st.integers(0, 19), st.sampled_from(usual), st.sampled_from(odd)).map(
        lambda pick: pick[2] if pick[0] == 0 else pick[1])


def _judges(header, max_chars=32_767, date1904=False):
    dataset = CurrentBudgetWorkbook()  # not through the catalogue: its discovery costs per example
    table, _ = dataset.locate("Budget", [(1, tuple(header))])
    fast = RowJudge(dataset, table, date1904=date1904, max_chars=max_chars, display_name="b")
    full = RowJudge(CurrentBudgetWorkbook(), table, date1904=date1904, max_chars=max_chars, display_name="b")
    full.quick = None
    return fast, full


def _verdict(judge, row_number, values):
    try:
        return judge.judge(row_number, values)
    except LimitExceeded as exc:
        return ("limit", exc.one_line())


@settings(max_examples=40, deadline=None, phases=NO_SHRINK)
@given(rows=st.lists(st.tuples(*(_cells(h) for h in HEADERS)), min_size=1, max_size=15),
       max_chars=st.sampled_from([2000, 40]), date1904=st.booleans())
def test_the_fast_path_decides_as_the_full_path(rows, max_chars, date1904):
    fast, full = _judges(HEADERS, max_chars, date1904)
    for row_number, values in enumerate(rows, start=2):
        assert _verdict(fast, row_number, values) == _verdict(full, row_number, values), values
    assert fast.state.get("seen", {}) == full.state.get("seen", {})


def test_plain_rows_take_the_fast_path():
    fast, _ = _judges(HEADERS)
    row = ("new", "CC", "CC Study", "CC Contract", "SC1", "Contract", "line", dt.date(2025, 3, 11), 2025,
           "G99CC01 (CC)", 1000, "PSC", 10, 1.0, "draft", None)
    assert fast.quick(row, 2) is not None
    wrong_fee = row[:12] + (11,) + row[13:]
    assert fast.quick(wrong_fee, 3) is None  # the full path says why
    assert fast.judge(3, wrong_fee)[3] == ["fee-mismatch"]


def test_a_cell_equal_to_one_read_before_but_of_another_type_is_read_again():
    # The fast path remembers what it made of a row's Portfolio, SC, FY, shop and rate cells; True
    # equals 1 and 1.0 in Python, but a true/false cell is no fee rate, SC or fiscal year.
    fast, full = _judges(HEADERS)
    row = ("new", "CC", "CC Study", "CC Contract", "SC1", "Contract", "line", dt.date(2025, 3, 11), 2025,
           "G99CC01 (CC)", 1000, "PSC", 10, 1.0, "draft", None)
    assert fast.quick(row, 2) is not None
    for at, odd in ((13, True), (8, 2025.0), (4, 1), (11, 1)):
        changed = row[:at] + (odd,) + row[at + 1:]
        assert _verdict(fast, 3, changed) == _verdict(full, 3, changed), (HEADERS[at], odd)
    as_true = row[:13] + (True,) + row[14:]
    assert "bad-fee-rate" in fast.judge(3, as_true)[3]


def _book(tmp_path, header, rows=(), name="b.xlsx"):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["a title row"])
    book.active.append(list(header))
    for row in rows:
        book.active.append(list(row))
    book.save(tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("header", [
    list(HEADERS),
    [h.upper() + "  " for h in HEADERS],  # case and trailing spaces
    [" ".join(h.lower().split()).replace(" ", "_") for h in HEADERS],  # snake case
    ["BL ID#", "PORTFOLIO", "Project", "Agreement", "S C", "AgreementType", "Description", "Obligate  By",
     "Fiscal Year", "CAN", "Sub Total", "Procurement Shop", "Procurement Shop Fee", "Procurement Shop Fee Rate",
     "Status", "Comments"],
])
def test_the_current_header_is_recognised_however_it_is_typed(tmp_path, header):
    with open_workbook(_book(tmp_path, header)) as book:
        table, _, dataset = _find_layout(get_dataset("budget-workbook"), book)
    assert dataset.name == "budget-workbook-current"
    assert not table.findings
    assert table.header_row == 2


def test_the_classic_header_stays_classic(tmp_path):
    from .conftest import HEADER

    with open_workbook(_book(tmp_path, HEADER)) as book:
        table, _, dataset = _find_layout(get_dataset("budget-workbook"), book)
    assert dataset.name == "budget-workbook" and not table.findings
    # and a run of the current layout's dataset recognises a classic file too
    with open_workbook(_book(tmp_path, HEADER)) as book:
        assert _find_layout(get_dataset("budget-workbook-current"), book)[2].name == "budget-workbook"


def test_a_header_missing_a_column_is_refused_naming_it(tmp_path):
    header = [h for h in HEADERS if h != "Procurement shop fee rate"]
    with open_workbook(_book(tmp_path, header)) as book:
        table, _, dataset = _find_layout(get_dataset("budget-workbook"), book)
    assert dataset.name == "budget-workbook-current"
    assert [(f.code, f.field) for f in table.findings] == [("missing-column", "proc_fee_rate")]


def test_the_export_can_write_the_layout_from_data():
    assert HEADERS == ("BL ID #", "Portfolio", "Project", "Agreement", "SC", "Agreement Type", "Description",
                       "Obligate By", "FY", "CAN", "SubTotal", "Procurement shop", "Procurement shop fee",
                       "Procurement shop fee rate", "Status", "Comments")
    assert set(EXPORT_FORMATS) == set(HEADERS)
    # every header written is one the layout reads back as its own column
    dataset = CurrentBudgetWorkbook()
    assert list(dataset.match_header(HEADERS)) == [c.field for c in dataset.columns]


@pytest.mark.parametrize("cell, year", [(2025, 2025), ("FY25", 2025), ("FY 2026", 2026), ("25", 2025),
                                        (None, None), ("  ", None), (2025.0, 2025)])
def test_fiscal_year_cells(cell, year):
    assert parse_fiscal_year(cell) == year


@pytest.mark.parametrize("cell", ["next", 1999, "FY2025/26", True, 2025.5])
def test_what_is_not_a_fiscal_year(cell):
    with pytest.raises(RuleViolation) as caught:
        parse_fiscal_year(cell)
    assert caught.value.code == "bad-fiscal-year"


@pytest.mark.parametrize("cell, rate", [(1.0, "1"), ("0.5", "0.5"), ("4.8 %", "4.8"), (0, "0"), (None, None)])
def test_fee_rates(cell, rate):
    assert parse_fee_rate(cell) == rate


@pytest.mark.parametrize("amount, fee, rate, shop, code", [
    ("1000.00", "10.00", "1", "PSC", None),
    ("1234.56", "59.26", "4.8", "IBC", None),  # 59.25888 to the cent
    ("1234.56", "59.25", "4.8", "IBC", "fee-mismatch"),
    ("1000.00", "5.00", "0.005", "NIH", None),  # a percent-formatted cell holds the fraction
    ("1000.00", "5.00", None, "NIH", "fee-without-rate-or-shop"),
    ("1000.00", "5.00", "0.5", None, "fee-without-rate-or-shop"),
    ("1000.00", None, "0.5", "NIH", None),
    ("1000.00", "0.00", None, None, None),
    ("5.00", "0.03", "0.5", "NIH", None),  # 0.025: half up...
    ("5.00", "0.02", "0.5", "NIH", None),  # ...or to even, as an export's Decimal rounds
    ("5.00", "0.04", "0.5", "NIH", "fee-mismatch"),
    ("-1000.00", "-5.00", "0.5", "NIH", None),
])
def test_the_fee_against_subtotal_and_rate(amount, fee, rate, shop, code):
    problem = fee_problem(amount, fee, rate, shop)
    assert (problem[0] if problem else None) == code


# -- end to end: into OPS's real schema on PostgreSQL (its procurement shops, subtypes, history) -----

@pytest.mark.postgres
def test_a_current_workbook_loads_into_ops_and_reloads_unchanged(pg_schema_url, tmp_path):
    ops_pg_url = pg_schema_url  # OPS's real schema and reference rows, with the pipeline's
    from sqlalchemy import create_engine, text

    from ops_pipeline.pipeline import run_pipeline
    from ops_pipeline.sample import seed_procurement_shops, write_sample_workbook

    assert seed_procurement_shops(ops_pg_url) == 4
    workbook = write_sample_workbook(tmp_path / "current.xlsx", rows=60, dirty=False, layout="current")
    first = run_pipeline(str(workbook), runs_root=tmp_path / "runs", db_url=ops_pg_url)
    assert first.error is None, first.error.one_line()
    entities = first.report["entities"]
    assert entities["budget_line_item"]["inserted"] == 60 and entities["services_component"]["inserted"] > 0
    engine = create_engine(ops_pg_url)
    try:
        with engine.connect() as conn:
            names = conn.execute(text(
                "SELECT sc.display_name_for_sort, sc.optional, sc.number, count(b.id) FROM ops.services_component sc "
                "LEFT JOIN ops.budget_line_item b ON b.services_component_id = sc.id "
                "AND b.service_component_name_for_sort = sc.display_name_for_sort "
                "GROUP BY sc.id")).all()
            shops = conn.execute(text("SELECT count(*) FROM ops.agreement WHERE awarding_entity_id IS NOT NULL")).scalar()
            history = conn.execute(text("SELECT count(*) FROM ops.ops_db_history")).scalar()
        assert names and all(n == f"{'O' if o else ''}SC{k}" and lines > 0 for n, o, k, lines in names), names
        assert shops > 0
        again = run_pipeline(str(workbook), runs_root=tmp_path / "runs", db_url=ops_pg_url)
        assert again.error is None, again.error.one_line()
        assert all(c["inserted"] == c["updated"] == 0 for c in again.report["entities"].values())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM ops.ops_db_history")).scalar() == history
    finally:
        engine.dispose()


# -- transform: each line's services component and shop, however often a combination repeats ---

def _valid_row(row, shop, sc, agreement="A Contract"):
    return {"row": row, "values": {
        "can_number": "G99CC01", "can_description": "CC", "budget_id": None, "project_title": "CC Study",
        "agreement_name": agreement, "agreement_type": "CONTRACT", "line_description": f"line {row}",
        "comments": None, "date_needed": "2025-03-11", "amount": "1000.00", "proc_fee_amount": None,
        "status": "DRAFT", "portfolio": "CC", "services_component": sc, "fiscal_year": 2025,
        "procurement_shop": shop, "proc_fee_rate": None}}


def test_every_line_naming_a_second_shop_for_a_new_agreement_is_a_question():
    rows = [_valid_row(3, "PSC", [1, False, None]), _valid_row(4, "NIH", [1, False, None]),
            _valid_row(5, "NIH", [1, False, None]), _valid_row(6, "PSC", [2, False, None]),
            _valid_row(7, "NIH", [1, False, None]), _valid_row(8, "GCS", None, agreement="B Contract"),
            _valid_row(9, "GCS", None, agreement="B Contract")]
    result = CurrentBudgetWorkbook().transform(iter(rows), {"sheet": "FY25 Budget", "file_sha256": "f"})
    entities = list(result.entities)
    summary = result.summary()
    conflicts = [(q["code"], q["row"]) for q in summary["questions"] if q["code"] == "agreement-shop-conflict"]
    assert conflicts == [("agreement-shop-conflict", 4), ("agreement-shop-conflict", 5),
                         ("agreement-shop-conflict", 7)]
    agreements = {e["key"]["name"]: e for e in entities if e["entity"] == "agreement"}
    assert agreements["A Contract"]["links"]["procurement_shop"] == {"abbr": "PSC"}  # its first
    assert agreements["B Contract"]["links"]["procurement_shop"] == {"abbr": "GCS"}
    lines = {e["lineage"]["rows"]: e["links"] for e in entities if e["entity"] == "budget_line_item"}
    assert [lines[str(row)]["procurement_shop"]["abbr"] for row in range(3, 10)] == \
        ["PSC", "NIH", "NIH", "PSC", "NIH", "GCS", "GCS"]
    assert [lines[str(row)]["services_component"] and lines[str(row)]["services_component"]["number"]
            for row in range(3, 10)] == [1, 1, 1, 2, 1, None, None]
    components = {(e["values"]["number"], e["links"]["agreement"]["name"]): e["lineage"]["rows"]
                  for e in entities if e["entity"] == "services_component"}
    assert components == {(1, "A Contract"): "3-5,7", (2, "A Contract"): "6"}


# -- the sheet saved as tab-separated text --------------------------------------------------------

def _as_text(value) -> str:
    """A cell as a sheet saved as text shows it: dates as m/d/yyyy, whole numbers without ".0"."""
    from ops_pipeline.rules.dates import from_serial

    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and 40_000 < value < 60_000:
        value = from_serial(value)  # the sample's Obligate By serials
    if isinstance(value, dt.date):
        return f"{value.month}/{value.day}/{value.year}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _text_sheet(path, header, rows):
    lines = ["OPRE Budget - saved as text", "\t".join(header)]
    lines += ["\t".join(_as_text(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("layout", ["current", "classic", "current, three columns short"])
def test_a_budget_sheet_saved_as_tab_separated_text_is_recognised_by_its_header(tmp_path, layout):
    from ops_pipeline.stages.fetch import resolve_dataset

    from .conftest import HEADER

    header = {"current": list(HEADERS), "classic": HEADER,
              "current, three columns short": list(HEADERS[:-4]) + ["Status"]}[layout]
    path = _text_sheet(tmp_path / "budget lines.tsv", header, [])
    assert resolve_dataset("auto", path.name, path) == "budget-workbook"


def test_a_text_file_with_neither_a_maps_nor_a_budget_header_is_refused_naming_both(tmp_path):
    from ops_pipeline.errors import UnreadableFile
    from ops_pipeline.stages.fetch import resolve_dataset

    # two budget columns of the current layout's fifteen required ones: not a budget sheet
    path = _text_sheet(tmp_path / "notes.tsv", ["CAN", "SubTotal", "Note"], [["G99HRF2", "12", "x"]])
    with pytest.raises(UnreadableFile, match="not that of any MAPS export this tool knows, nor a budget sheet's"):
        resolve_dataset("auto", path.name, path)


def test_the_sheet_saved_as_text_loads_the_lines_its_workbook_does(tmp_path, sqlite_url):
    from ops_pipeline.pipeline import run_pipeline
    from ops_pipeline.rundir import read_jsonl
    from ops_pipeline.sample import current_rows, seed_procurement_shops

    assert seed_procurement_shops(sqlite_url) == 4
    rows = current_rows(40, seed=5, dirty=False)
    text = _text_sheet(tmp_path / "budget.tsv", HEADERS, rows)
    book = _book(tmp_path, HEADERS, rows, name="budget.xlsx")
    valid = {}
    for source in (text, book):
        outcome = run_pipeline(str(source), runs_root=tmp_path / "runs", db_url=sqlite_url, dry_run=True)
        assert outcome.error is None, outcome.error.one_line()
        assert outcome.run.manifest["dataset"] == "budget-workbook"
        valid[source.suffix] = [r["values"] for r in read_jsonl(outcome.run.path / "validate" / "valid_rows.jsonl")]
    assert len(valid[".tsv"]) == 40 and valid[".tsv"] == valid[".xlsx"]
    # and into OPS: every line, with its services components
    outcome = run_pipeline(str(text), runs_root=tmp_path / "runs", db_url=sqlite_url)
    assert outcome.error is None, outcome.error.one_line()
    assert outcome.report["entities"]["budget_line_item"]["inserted"] == 40
    assert outcome.report["entities"]["services_component"]["inserted"] > 0
    # the report offers no write-back of the new ids: it writes into workbooks only
    assert outcome.report["writeback"] is None
