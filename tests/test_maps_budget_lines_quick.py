"""The MAPS budget lines' fast path decides every row exactly as the full path would: rows drawn
from cells that are plain, odd, too long or cut short are judged with and without it, and the
verdicts (staged values, findings, unique keys) and the ids remembered must be the same."""
from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from ops_pipeline.datasets.registry import get_dataset
from ops_pipeline.errors import LimitExceeded
from ops_pipeline.stages.rows import RowJudge

LONG = "x" * 120
IDS = (["1", "2", "3", "14999", " 7 "], ["0", "-1", "15000", "1.0", "+3", "01", "x", "1e3", LONG, "4\x0b"])
DATES = ([None, "2025-01-15", "2024-12-31"], ["2025-02-30", "01/15/2025", "2025-01-15 00:00:00", "soon", LONG])
FLAGS = ([None, "1", "0", "Yes", "no", "TRUE", "false"], ["Maybe", "2", "Closed", "y", " ", LONG])
TEXT = ([None, "Year 1", "  padded  ", "O'Brien \"quoted\""], [LONG, "tab\x0binside", " "])
#: per column: usual cells, then odd ones
CELLS = {
    "PARENT": (["1", "2", "5", "9"], [None, "0", "-2", "x", "1.5", "3.0"]),
    "SYS_BUDGET_ID": ([None, "1", "2", "3", "14999"], IDS[1]),
    "LINE_DESCRIPTION": TEXT, "COMMENTS": TEXT,
    "DATE_NEEDED": DATES,
    "SYS_CAN_ID": ([None, "1", "10", "499"], ["500", "0", "G99AB01", "1.5"]),
    "AMOUNT": ([None, "0.00", "1250000.50", "7", "-12.5", "9999999999.99"],
               ["1,000.00", "12.345", "10000000000.00", "abc", "1e5", ".5", "-0.001", "NaN"]),
    "STATUS": (["DRAFT", "PLANNED", "IN_EXECUTION", "OBLIGATED", "PLANNED_MOD"], [None, "Planned", "bad", " DRAFT"]),
    "OVERWRITE_PSC_FEE_RATE": ([None, "0", "0.005", "1", "0.0150"], ["1.5", "-0.01", "5%", ".5", "1.0000001", "00.1"]),
    "OBJECT_CLASS_CODE": ([None, "25103", "41401", "99999"], ["x", "1.0", "+5"]),
    "CERTIFIED": FLAGS, "CLOSED": ([None, "Closed", "closed", "0"], FLAGS[1]), "ON_HOLD": FLAGS,
    "DOC_RECEIVED": FLAGS, "EDUCATIONAL_INSTITUTE": FLAGS,
    "SYS_TYPE_OF_MODE_ID": ([None, "1", "5"], ["0", "6", "01", "+2", "x"]),
    "MOD_NBR": ([None, "0000", "0001"], [LONG]),
    "SYS_CLIN_ID": ([None, "1", "4999"], ["5000", "x"]),
    "CLIN": ([None, "1", "2"], ["CLIN 1", "1.5"]), "CLIN_NAME": ([None, "SC1"], [LONG]),
    "INVOICE_LINE_NBR": ([None, "1"], ["x"]),
    "CLOSED_BY": ([None, "3", "20"], ["500", "x"]),
    "STATE_CODE": ([None, "MD", "WA"], ["Md", "MDX", "ZZ"]),
    "YEAR": ([None, "1", "3"], ["one"]),
}
PARENTS = {"maps-contract-budget-lines": "SYS_CONTRACT_ID", "maps-grant-budget-lines": "SYS_GRANTS_ID",
           "maps-iaa-budget-lines": "SYS_IAA_ID", "maps-direct-obligation-budget-lines": "SYS_DIRECT_OBLIGATION_ID"}


def _cell(header):
    usual, odd = CELLS.get(header, TEXT)
    return st.tuples(st.integers(0, 9), st.sampled_from(usual), st.sampled_from(odd)).map(
        lambda pick: pick[2] if pick[0] == 0 else pick[1])


def _header(name):
    dataset = get_dataset(name)
    return [c.header for c in dataset.columns if not c.ignored]


_DATASETS: dict = {}


def _judges(name, header, max_chars):
    if name not in _DATASETS:  # the catalogue once per dataset (finding it imports every module)
        _DATASETS[name] = type(get_dataset(name))
    judges = []
    for _ in range(2):
        dataset = _DATASETS[name]()
        table, _ = dataset.locate(f"{name}.tsv", [(1, tuple(header))])
        judges.append(RowJudge(dataset, table, date1904=False, max_chars=max_chars, display_name="x.tsv"))
    fast, full = judges
    full.quick = None
    assert fast.quick is not None
    return fast, full


def _verdict(judge, row_number, values):
    try:
        return judge.judge(row_number, values)
    except LimitExceeded as exc:
        return ("limit", exc.one_line())


NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


@pytest.mark.parametrize("name", sorted(PARENTS))
@settings(max_examples=15, deadline=None, phases=NO_SHRINK)
@given(data=st.data(), max_chars=st.sampled_from([32_767, 100]))
def test_the_fast_path_decides_as_the_full_path(name, data, max_chars):
    header = _header(name)
    cells = [_cell("PARENT" if h == PARENTS[name] else h) for h in header]
    rows = data.draw(st.lists(st.tuples(*cells), min_size=1, max_size=12))
    cut = data.draw(st.lists(st.integers(1, len(header)), min_size=len(rows), max_size=len(rows)))
    fast, full = _judges(name, header, max_chars)
    for row_number, (values, width) in enumerate(zip(rows, cut), start=2):
        values = values if width > len(header) - 3 else values[:width]  # now and then a row cut short
        assert _verdict(fast, row_number, values) == _verdict(full, row_number, values), values
    assert fast.state.get("seen", {}) == full.state.get("seen", {})


PLAIN = {"SYS_BUDGET_ID": "5", "AMOUNT": "10.00", "STATUS": "PLANNED", "DATE_NEEDED": "2025-01-15"}


@pytest.mark.parametrize("name", sorted(PARENTS))
def test_each_cell_alone_is_decided_as_the_full_path_does(name):
    """Every usual and odd value of each column, in an otherwise plain line."""
    header = _header(name)
    fast, full = _judges(name, header, 100)
    row_number = 2
    for at, column in enumerate(header):
        usual, odd = CELLS.get("PARENT" if column == PARENTS[name] else column, TEXT)
        for value in (*usual, *odd):
            row = dict(PLAIN, **{PARENTS[name]: "1", "SYS_BUDGET_ID": str(row_number)})
            row[column] = value
            values = tuple(row.get(h) for h in header)
            assert _verdict(fast, row_number, values) == _verdict(full, row_number, values), (column, value)
            row_number += 1


def test_plain_lines_take_the_fast_path():
    name = "maps-contract-budget-lines"
    header = _header(name)
    fast, _ = _judges(name, header, 32_767)
    row = {"SYS_CONTRACT_ID": "1", "SYS_BUDGET_ID": "5", "AMOUNT": "10.00", "STATUS": "PLANNED",
           "DATE_NEEDED": "2025-01-15", "CERTIFIED": "Yes", "CLOSED": "Closed"}
    values = tuple(row.get(h) for h in header)
    assert fast.quick(values, 2) is not None
    assert fast.quick(values, 3) is None  # the same SYS_BUDGET_ID again: the full path names line 2
