"""Statuses, CIG types and budget ids map exactly as DOMAIN.md says; anything else is an error."""
import pytest

from ops_pipeline.rules import RuleViolation
from ops_pipeline.rules.codes import parse_agreement_type, parse_budget_id, parse_status


@pytest.mark.parametrize("cell, status", [
    ("OPRE - CURRENT", "PLANNED"), ("opre-prev", "PLANNED"), ("PSC - EXECUTING", "IN_EXECUTION"),
    ("psc", "IN_EXECUTION"), ("obl", "OBLIGATED"), ("Obligated", "OBLIGATED"), ("COM", "IN_EXECUTION"),
    ("in_execution", "IN_EXECUTION"), ("In Execution", "IN_EXECUTION"), ("executing", "IN_EXECUTION"),
    ("Planned", "PLANNED"), (" DRAFT ", "DRAFT"),
])
def test_statuses(cell, status):
    assert parse_status(cell) == status


@pytest.mark.parametrize("cell", ["Pending review", "", "obligate", "plan", None, 3])
def test_unknown_status_is_an_error_never_null(cell):
    with pytest.raises(RuleViolation) as caught:
        parse_status(cell)
    assert caught.value.code == "unknown-status"


@pytest.mark.parametrize("cell, kind", [
    ("contract", "CONTRACT"), ("Contract", "CONTRACT"), ("grant", "GRANT"), ("GRANTS", "GRANT"),
    ("do", "DIRECT_OBLIGATION"), ("Direct Obligation", "DIRECT_OBLIGATION"), ("IAA", "IAA"), ("aa", "AA"),
])
def test_agreement_types(cell, kind):
    assert parse_agreement_type(cell) == kind


@pytest.mark.parametrize("cell", ["Con tract", "contracts", "iaa-aa", "", 5])
def test_unknown_agreement_type(cell):
    with pytest.raises(RuleViolation) as caught:
        parse_agreement_type(cell)
    assert caught.value.code == "unknown-agreement-type"


@pytest.mark.parametrize("cell, expected", [(15001, 15001), (15001.0, 15001), ("15001", 15001), ("new", None),
                                            ("NEW", None), (None, None), ("  ", None)])
def test_budget_ids(cell, expected):
    assert parse_budget_id(cell) == expected


@pytest.mark.parametrize("cell", [0, -3, 1.5, "12a", "tbd", True])
def test_bad_budget_ids(cell):
    with pytest.raises(RuleViolation) as caught:
        parse_budget_id(cell)
    assert caught.value.code == "bad-budget-id"


@pytest.mark.parametrize("cell", ["²", "1²", "٣", "9" * 5000, float("nan"), float("inf"), 1e300, 2**31, 10**400])
def test_budget_ids_that_are_not_plain_whole_numbers_are_findings(cell):
    """Never a ValueError from int(): superscript and non-ASCII digits, 5,000 digits, NaN."""
    with pytest.raises(RuleViolation) as caught:
        parse_budget_id(cell)
    assert caught.value.code == "bad-budget-id"
