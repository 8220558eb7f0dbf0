"""The workbook's column rules: limits come from OPS's table declarations, and the fast validation
path reads cells by the same rules as the full path, so that changing a rule changes both.
"""
import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import String

from ops_pipeline.datasets import budget_workbook
from ops_pipeline.datasets.registry import get_dataset
from ops_pipeline.datasets.cells import FULL
from ops_pipeline.db import ops_models as ops
from ops_pipeline.rules import RuleViolation
from ops_pipeline.stages.rows import RowJudge

from .conftest import HEADER, good_row

#: Where each loaded text lands in OPS (issue 9): the only source of its length limit.
LANDS_IN = {
    "can": (("can_number", ops.CAN.number), ("can_description", ops.CAN.description)),
    "project_title": (("project_title", ops.Project.title),),
    "agreement_name": (("agreement_name", ops.Agreement.name),),
    "line_description": (("line_description", ops.BudgetLineItem.line_description),),
    "comments": (("comments", ops.BudgetLineItem.comments),),
}


def test_each_loaded_text_lands_in_its_ops_column():
    rules = budget_workbook.CELL_RULES
    for field, expected in LANDS_IN.items():
        # The declared column objects themselves, not copies of their lengths.
        assert [(name, column) for name, column in rules[field].lands_in] == \
            [(name, attribute.property.columns[0]) for name, attribute in expected], field
    assert {f for f, rule in rules.items() if rule.lands_in} == set(LANDS_IN)


def test_text_limits_are_the_declared_lengths():
    limits = {name: limit for rule in budget_workbook.CELL_RULES.values() for _, name, limit in rule.limits()}
    declared = {name: attribute.property.columns[0].type.length
                for pairs in LANDS_IN.values() for name, attribute in pairs}
    assert limits == {name: length for name, length in declared.items() if length is not None}
    # OPS declares these unbounded (character varying, text): no database limit applies to them.
    assert {name for name, length in declared.items() if length is None} == {
        "can_description", "project_title", "agreement_name", "line_description", "comments"}
    assert limits == {"can_number": 30}


def _judges(max_chars=32_767):
    dataset = get_dataset("budget-workbook")
    table, _ = dataset.locate("All Budget - Cur", [(1, tuple(HEADER[:11]))])
    fast = RowJudge(dataset, table, date1904=False, max_chars=max_chars, display_name="b")
    full = RowJudge(get_dataset("budget-workbook"), table, date1904=False, max_chars=max_chars, display_name="b")
    full.quick = None
    return fast, full


def _verdicts(row):
    """What the fast path alone makes of a row (None: the full path's to judge), and the verdicts
    of a judge with the fast path and of one without it."""
    values = tuple(row)
    quick = _judges()[0].quick(values, 2)
    fast, full = _judges()
    return quick, fast.judge(2, values), full.judge(2, values)


def test_a_declared_length_limits_both_paths(monkeypatch):
    """Were a length restated anywhere, changing the declaration would leave one path behind."""
    long_description = good_row(desc="Year 1 evaluation")
    quick, fast, full = _verdicts(long_description)
    assert quick is not None and fast[0] == full[0] == "valid"

    column = ops.BudgetLineItem.__table__.c.line_description
    monkeypatch.setattr(column, "type", String(10))
    quick, fast, full = _verdicts(long_description)
    assert quick is None
    assert fast == full
    assert fast[0] == "rejected" and fast[3] == ["too-long"]
    assert b"17 characters, more than the 10 OPS stores" in fast[2][0]
    quick, fast, full = _verdicts(good_row(desc="Year 1"))
    assert quick is not None and fast == full and fast[0] == "valid"


def _refusing(parse, bad):
    def stricter(raw, *args, **kwargs):
        if raw == bad:
            raise RuleViolation("unknown-status", "refused by the changed rule")
        return parse(raw, *args, **kwargs)
    return stricter


@pytest.mark.parametrize("field, cell, value", [
    ("status", "status", "draft"),
    ("can", "can", "G994426"),
    ("budget_id", "budget_id", 7),
    ("budget_id", "budget_id", "new"),
    ("line_description", "desc", "Year 1"),
    ("comments", "comments", "Per Jordan Alvarez"),
    ("date_needed", "date", 45662),
    ("date_needed", "date", dt.date(2025, 3, 11)),
    ("amount", "amount", 1234.5),
    ("amount", "amount", "$ 1,234.50"),
    ("proc_fee_amount", "fee", 61.73),
])
def test_a_changed_rule_changes_both_paths(monkeypatch, field, cell, value):
    """Both paths read cells by budget_workbook.CELL_RULES: a rule that refuses a cell it used to
    take (its parser, and no shortcut around it) makes both paths reject the row."""
    row = good_row(**{cell: value})
    quick, fast, full = _verdicts(row)
    assert quick is not None and fast == full and fast[0] == "valid"

    rule = budget_workbook.CELL_RULES[field]
    monkeypatch.setitem(budget_workbook.CELL_RULES, field,
                        replace(rule, parse=_refusing(rule.parse, value), shortcut=None))
    quick, fast, full = _verdicts(row)
    assert quick is None
    assert fast == full
    assert fast[0] == "rejected" and fast[3] == ["unknown-status"]


_PLAIN_CELLS = st.one_of(
    st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True), st.dates(),
    st.decimals(-10**11, 10**11, places=2).map(lambda d: f"{d:,}"), st.decimals(places=3).map(str),
    st.text(alphabet="$ ,.-()0123456789", max_size=20), st.booleans(),
)


@settings(max_examples=500, deadline=None)
@given(raw=_PLAIN_CELLS)
def test_a_shortcut_gives_what_its_parser_gives(raw):
    """A rule's shortcut is only a faster way to its parser's value, never another rule."""
    for rule in budget_workbook.CELL_RULES.values():
        if rule.shortcut is None:
            continue
        value = rule.shortcut(raw)
        if value is FULL:
            continue
        args = (False,) if rule.date_system else ()
        assert value == rule.parse(raw, *args), (rule.field, raw)


@settings(max_examples=500, deadline=None)
@given(raw=_PLAIN_CELLS.filter(lambda raw: isinstance(raw, str)))
def test_amount_text_reads_as_the_amount_rule_reads_it(raw):
    from ops_pipeline.rules.money import parse_amount

    try:
        expected = str(parse_amount(raw))
    except RuleViolation:
        expected = RuleViolation
    try:
        value = budget_workbook.CELL_RULES["amount"].parse(raw)
    except RuleViolation:
        value = RuleViolation
    assert value == expected
