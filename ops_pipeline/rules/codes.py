"""Mappings of coded spreadsheet values: budget line status and agreement (CIG) type."""
from __future__ import annotations

from . import RuleViolation

STATUSES = ("DRAFT", "PLANNED", "IN_EXECUTION", "OBLIGATED")
AGREEMENT_TYPES = ("CONTRACT", "GRANT", "DIRECT_OBLIGATION", "IAA", "AA")

_STATUS_WORDS = {
    "obl": "OBLIGATED",
    "obligated": "OBLIGATED",
    "com": "IN_EXECUTION",
    "in_execution": "IN_EXECUTION",
    "executing": "IN_EXECUTION",
    "planned": "PLANNED",
    "draft": "DRAFT",
}

_AGREEMENT_WORDS = {
    "contract": "CONTRACT",
    "grant": "GRANT",
    "grants": "GRANT",
    "do": "DIRECT_OBLIGATION",
    "direct obligation": "DIRECT_OBLIGATION",
    "iaa": "IAA",
    "aa": "AA",
}


def parse_status(value: object) -> str:
    """Spreadsheet status → OPS budget line status. Unknown values are errors, never NULL."""
    if not isinstance(value, str) or not value.strip():
        raise RuleViolation("unknown-status", "the status is empty" if value in (None, "") else "not a status")
    text = " ".join(value.split())
    upper = text.upper()
    if upper.startswith("OPRE"):
        return "PLANNED"
    if upper.startswith("PSC"):
        return "IN_EXECUTION"
    word = text.lower().replace(" ", "_")
    if word in _STATUS_WORDS:
        return _STATUS_WORDS[word]
    raise RuleViolation(
        "unknown-status",
        "unknown status (expected OPRE..., PSC..., obligated, in_execution, planned or draft)",
    )


def parse_agreement_type(value: object) -> str:
    """CIG Type → OPS agreement type; anything not listed (e.g. ``Con tract``) is an error."""
    if not isinstance(value, str):
        raise RuleViolation("unknown-agreement-type", "not an agreement type")
    word = " ".join(value.split()).lower()
    if word in _AGREEMENT_WORDS:
        return _AGREEMENT_WORDS[word]
    raise RuleViolation(
        "unknown-agreement-type",
        "unknown CIG type (expected contract, grant, direct obligation/DO, IAA or AA)",
    )


def parse_budget_id(value: object) -> int | None:
    """Sys_Budget_ID: a positive whole number identifies a line; ``new`` or blank means a new line."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RuleViolation("bad-budget-id", "a true/false cell is not a budget id")
    if isinstance(value, float):
        if not value.is_integer():
            raise RuleViolation("bad-budget-id", "a budget id is a whole number")
        value = int(value)
    if isinstance(value, int):
        if value <= 0 or value > 2**31 - 1:
            raise RuleViolation("bad-budget-id", "a budget id is a positive whole number")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text.lower() == "new":
            return None
        # ASCII digits only, and few of them: int() refuses "²" and numbers of 4,300 digits.
        if text.isascii() and text.isdigit() and len(text.lstrip("0")) <= 12:
            return parse_budget_id(int(text))
    raise RuleViolation("bad-budget-id", "a budget id is a number, 'new' or blank")
