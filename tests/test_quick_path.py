"""The fast path for plain valid rows decides every row exactly as the full path would.

Rows are drawn from cells that are clean, dirty, repeated, too long or of the wrong type; each row
is judged by a judge with the dataset's fast path and by one without it, and the verdicts (the
JSON lines, findings and unique keys) and the budget ids remembered must be the same.
"""
import datetime as dt
import json

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from ops_pipeline.datasets.registry import get_dataset
from ops_pipeline.errors import LimitExceeded
from ops_pipeline.readers.workbook import CellError
from ops_pipeline.stages.rows import RowJudge

from .conftest import HEADER

LONG = "x" * 600
#: per column: cells a budget workbook usually holds, then odd ones (dirty, too long, wrong type)
CELLS = {
    "CAN": (["G99HRF2 (OPRE-HMRF)", "G994426", " g99cc01  (CC) "],
            ["A000000", "A000000 (Placeholder)", "bad", "Total", "Grand total of everything in this sheet",
             "G99CC01 (" + LONG + ")", None, 123, True, "G994426\x00", "G994426\x0b", "\x1bG994426"]),
    "Sys_Budget_ID": ([None, 1, 2, 3, "new", " NEW ", "17"],
                      [2**31, 0, -4, "1.5", "", 3.0, 3.5, True, LONG, "17\x0b", "\x1c17", "²", "9" * 40]),
    "Project Title": (["Child Care Research", "child  care research ", "OPRE", None],
                      ["Placeholder", "", 7, "x" * 501, dt.date(2025, 1, 2), CellError("#REF!"), LONG,
                       "Child\x00Care", "OPRE\x0c"]),
    "CIG Name": (["CCRP Contract", " CCRP  contract", None],
                 ["Placeholder", " placeholder ", "", "x" * 501, 5, False, "CCRP Contract\x1f", "Placeholder\x0b"]),
    "CIG Type": (["contract", "DO", "AA", "Grant"], ["IAA", "bad type", None, 3, "x" * 2500, "contract\x85"]),
    "Line Desc": ([None, "Year 1", "  Year 1  ", "", LONG, "Year\t1\r\n"],
                  ["x" * 1001, 12, dt.date(2025, 1, 2), True, "Year\x001", "\x1b[31mred", "\x7f"]),
    "Date Needed": ([None, dt.date(2025, 3, 11), 45662, 45662.0, 44200, "2/22/25", "03/11/2025", "2025-03-11"],
                    [dt.datetime(2025, 3, 11, 8, 30), 45662.5, "2025-13-01", "soon", True, -5, 10**9,
                     dt.time(8, 0), CellError("#N/A"), " " * 50 + "2025-03-11", "2025-03-11\x0b", 1e300,
                     float("nan"), -1e300, 2958466, 0, 1, 60, 61, 1462]),
    "Amount": ([1234.5, 0.1, -0.0, 100, -7, "$ 1,234.00", "(500.00)", "-$5", "1234.56", "$0.99", "01.00",
                "$ 9,999,999,999.99", "10,000,000,000.00", "$  2.00", " 3.00"],
               [None, 0.125, 10**10, 1e11, float("nan"), "234,1552,303.08", "", "abc", True, " " * 500 + "1.00",
                CellError("#DIV/0!"), 1e27, -1e300, float("inf"), 2**53 - 1, "1" * 30, "(" + "9" * 40 + ")", 1e-30,
                "$ 1.00\x00", "\x1c3.00", "١٢.00", 9999999999.995]),
    "PSCFee Amount": ([None, 61.73, 3, "$ 2.50"], ["2.505", False, "x", 1e300, "2.50\x85", "9" * 30]),
    "Status": (["OPRE - CURRENT", "draft", "Planned", "In Execution", "obligated"],
               ["bad", None, 4, "", "draft\x0c", "\x00OPRE"]),
    "Comments": ([None, "Per Jordan Alvarez", "  ", LONG], ["x" * 4001, 3, "ok\x9b", "\x00"]),
}


def _cell(header):
    usual, odd = CELLS[header]
    # one cell in twenty is odd, so that about half the rows are plain
    return st.tuples(st.integers(0, 19), st.sampled_from(usual), st.sampled_from(odd)).map(
        lambda pick: pick[2] if pick[0] == 0 else pick[1])


def _table(header):
    dataset = get_dataset("budget-workbook")
    table, _ = dataset.locate("All Budget - Cur", [(1, tuple(header))])
    return table


def _judges(header, max_chars, date1904=False):
    """Judges of a workbook in the 1900 date system, or in the 1904 one (openpyxl's
    CALENDAR_MAC_1904: the same serial is another day)."""
    table = _table(header)
    fast = RowJudge(get_dataset("budget-workbook"), table, date1904=date1904, max_chars=max_chars,
                    display_name="b")
    full = RowJudge(get_dataset("budget-workbook"), table, date1904=date1904, max_chars=max_chars,
                    display_name="b")
    full.quick = None
    assert fast.quick is not None
    return fast, full


def _verdict(judge, row_number, values):
    try:
        return judge.judge(row_number, values)
    except LimitExceeded as exc:
        return ("limit", exc.one_line())


def _trimmed(values):
    values = list(values)
    while values and values[-1] is None:
        values.pop()
    return tuple(values)


#: no shrinking: a failure names its row already, and shrinking rows of long texts takes minutes
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
rows = st.lists(st.tuples(*(_cell(h) for h in HEADER[:11])), min_size=1, max_size=25)


@settings(max_examples=200, deadline=None, phases=NO_SHRINK)
@given(rows=rows, max_chars=st.sampled_from([2000, 550, 40]), date1904=st.booleans())
def test_the_fast_path_decides_as_the_full_path(rows, max_chars, date1904):
    fast, full = _judges(HEADER[:11], max_chars, date1904)
    for row_number, values in enumerate(rows, start=2):
        values = _trimmed(values)
        assert _verdict(fast, row_number, values) == _verdict(full, row_number, values), values
    assert fast.state.get("seen", {}) == full.state.get("seen", {})


@settings(max_examples=100, deadline=None, phases=NO_SHRINK)
@given(rows=rows, order=st.permutations(range(11)), date1904=st.booleans())
def test_columns_in_any_order_and_without_the_optional_ones(rows, order, date1904):
    header = [HEADER[i] for i in order]
    keep = [i for i, name in enumerate(header) if name not in ("Sys_Budget_ID", "PSCFee Amount")]
    header = [header[i] for i in keep]
    fast, full = _judges(header, 32_767, date1904)
    for row_number, values in enumerate(rows, start=2):
        values = _trimmed(values[order[i]] for i in keep)
        assert _verdict(fast, row_number, values) == _verdict(full, row_number, values), values


def test_most_rows_of_the_sample_take_the_fast_path(sample_workbook):
    """The fast path is worth having: it is taken for the plain rows of a realistic workbook."""
    from ops_pipeline.readers.workbook import open_workbook
    from ops_pipeline.stages.validate import _find_table

    dataset = get_dataset("budget-workbook")
    with open_workbook(sample_workbook) as book:
        table, data_rows = _find_table(dataset, book)
        judge = RowJudge(dataset, table, date1904=False, max_chars=32_767, display_name="b")
        plain = [judge.quick(values, n) is not None for n, values in data_rows if values]
    assert sum(plain) / len(plain) > 0.9


@pytest.mark.parametrize("can", ["G99HRF2", "G99HRF2 (OPRE-HMRF)"])
def test_a_row_with_a_can_is_never_a_totals_row_first_time_or_not(can):
    """Whether the CAN was seen before must not change what a row is."""
    header = ["Project Title"] + HEADER[:2] + HEADER[3:11]
    _, full = _judges(header, 32_767)
    row = ("Total Fertility Study", can, 7, "CCRP Contract", "contract", "d", 45662, 10.0, None, "draft")
    first = _verdict(full, 2, row)
    again = _verdict(full, 3, row[:2] + (8,) + row[3:])
    assert first[0] == again[0] == "valid"


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
def test_a_1904_dated_workbook_takes_the_same_dates_on_both_paths(tmp_path, reader):
    """Cells as a reader gives them from a workbook in the 1904 date system (Excel for Mac)."""
    import openpyxl
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    from ops_pipeline.readers.workbook import open_workbook
    from ops_pipeline.stages.validate import _find_table

    from .conftest import good_row

    book = openpyxl.Workbook()
    book.epoch = CALENDAR_MAC_1904
    sheet = book.active
    sheet.title = "All Budget - Cur"
    sheet.append(HEADER)
    dates = [dt.datetime(2025, 3, 11), 44200, 44200.0, 1, "2/22/25", 45662]
    for i, date in enumerate(dates):
        sheet.append(good_row(budget_id=i + 1, date=date))
    path = tmp_path / "mac.xlsx"
    book.save(path)

    dataset = get_dataset("budget-workbook")
    with open_workbook(path, reader=reader) as workbook:
        assert workbook.date1904 is True
        table, data_rows = _find_table(dataset, workbook)
        fast = RowJudge(dataset, table, date1904=True, max_chars=32_767, display_name="b")
        full = RowJudge(get_dataset("budget-workbook"), table, date1904=True, max_chars=32_767, display_name="b")
        full.quick = None
        verdicts = [(_verdict(fast, n, values), _verdict(full, n, values)) for n, values in data_rows if values]
    assert all(mine == theirs for mine, theirs in verdicts)
    # Serials count from 1904-01-01 (44196 is 2025-01-01, as Excel for Mac shows it).
    staged = [json.loads(verdict[1])["values"]["date_needed"] for verdict, _ in verdicts]
    assert staged == ["2025-03-11", "2025-01-05", "2025-01-05", "1904-01-02", "2025-02-22", "2029-01-06"]
