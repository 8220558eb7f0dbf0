"""CAN cells: a 7-character number, then an optional description in parentheses."""
from __future__ import annotations

import re
from typing import NamedTuple

from . import RuleViolation

PLACEHOLDER_CAN = "A000000"
_CAN = re.compile(r"^([A-Za-z][A-Za-z0-9]{6})\s*(?:\((.*)\))?$", re.DOTALL)


class CanCell(NamedTuple):
    number: str
    description: str | None


def parse_can(value: object) -> CanCell:
    """``G994648 (CC - SB - 5 YR)`` → (``G994648``, ``CC - SB - 5 YR``).

    The number is what comes before the parenthesis: 7 letters or digits starting with a letter.
    The description is the trimmed text inside the parentheses (None when absent or empty).
    """
    if not isinstance(value, str):
        raise RuleViolation("bad-can", "a CAN is text such as G994648 (CC - SB - 5 YR), not a number")
    text = value.strip()
    match = _CAN.match(text)
    if not match:
        raise RuleViolation(
            "bad-can", "not a CAN: expected 7 letters or digits starting with a letter, e.g. G994648 (CC)"
        )
    number, description = match.groups()
    if description is not None and ("(" in description or ")" in description):
        raise RuleViolation("bad-can", "unbalanced parentheses in the CAN description")
    description = " ".join(description.split()) if description else None
    return CanCell(number.upper(), description or None)
