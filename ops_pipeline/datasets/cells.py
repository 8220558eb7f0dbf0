"""Column rules: how a dataset's cells become values, said once for both validation paths.

A :class:`CellRule` is one column's rule: the full parser of its cells (a rule of
``ops_pipeline.rules``, which raises RuleViolation), an optional shortcut for the cell types that
make up most files, whether the parses of repeated cells are remembered, and the OPS columns the
value lands in, whose declared lengths are the only text limits (none for OPS's unbounded
``character varying`` and ``text`` columns).

:func:`reader` turns a rule into the function both paths read a cell with: it returns the
cell's value, or :data:`FULL` when the cell needs the full parser. The full path
(``check_row``) then runs the parser to get the cell's findings; the fast path
(``quick_check``) sends the row to the full path. Since neither path holds a rule of its own,
they cannot decide a cell differently.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from typing import Callable

from ..readers.workbook import CellError
from ..rules import RuleViolation
from ..rules.text import control_character

#: What a reader returns for a cell that only the full parser may judge.
FULL = object()

#: Cell types whose parses are remembered (not bool: True == 1 would share a key with 1; a
#: datetime never equals a date, so date cells are safe).
MEMO_TYPES = (str, dt.date, int, float)


@dataclass(frozen=True)
class CellRule:
    """How the cells of one column are read."""

    field: str
    #: the full parser: the cell's value, or RuleViolation (a finding)
    parse: Callable
    #: the value of a common cell that is not text (a number, a date) without the parser, or FULL
    #: when it does not apply; it must give what ``parse`` gives
    shortcut: Callable[[object], object] | None = None
    #: an empty cell is a finding (missing-value)
    required: bool = False
    #: how many parses of repeated cells to remember (0: none)
    memo: int = 0
    #: ``parse`` takes the workbook's date system as its second argument
    date_system: bool = False
    #: (output name, OPS column) the value lands in; a value landing in several columns is a
    #: tuple of their values in this order
    lands_in: tuple = ()

    def limits(self) -> tuple[tuple[int, str, int], ...]:
        """(position in the value, output name, declared length) of each column that has one."""
        return tuple((index, name, column.type.length) for index, (name, column) in enumerate(self.lands_in)
                     if getattr(column.type, "length", None) is not None)


def too_long(rule: CellRule, value: object, limits=None) -> tuple[str, int, int] | None:
    """(output name, length, limit) of the first part of a value longer than its column, or None."""
    several = len(rule.lands_in) > 1
    for index, name, limit in rule.limits() if limits is None else limits:
        part = value[index] if several and value is not None else value
        if part.__class__ is str and len(part) > limit:
            return name, len(part), limit
    return None


def parser(rule: CellRule, date1904: bool = False) -> Callable[[object], object]:
    """The rule's full parser, for a workbook in the given date system."""
    return partial(rule.parse, date1904=date1904) if rule.date_system else rule.parse


def reader(rule: CellRule, *, memo: dict, max_chars: int, date1904: bool = False) -> Callable[[object], object]:
    """The function that reads a cell by ``rule``: its value, or FULL when the full parser must
    judge it (empty and required, an error cell, text longer than ``max_chars`` or holding a
    control character, anything the parser refuses, a value longer than its OPS column).

    ``memo`` keeps the parses of repeated cells that this reader accepted: readers with another
    ``max_chars`` need their own. The reader's ``empty`` attribute is what it returns for an
    empty cell, for a caller that skips the call for one."""
    parse = parser(rule, date1904)
    shortcut = rule.shortcut
    empty = FULL if rule.required else None
    limits = rule.limits()
    cap = rule.memo
    memo_get = memo.get
    full, str_class, error_class, memo_types = FULL, str, CellError, MEMO_TYPES

    # The hot loop of validation: cells are tested in the order of how often they occur, and a
    # rule without a memo or a length limit gets a reader that does not ask for them.
    def read_plain(raw):
        cls = raw.__class__
        if cls is str_class:
            if len(raw) > max_chars or not raw.isprintable() and control_character(raw) is not None:
                return full
        elif raw is None:
            return empty
        elif cls is error_class:
            return full
        elif shortcut is not None:
            value = shortcut(raw)
            if value is not full:
                return value
        try:
            return parse(raw)
        except RuleViolation:
            return full

    if not cap and not limits:
        read_plain.empty = empty
        return read_plain

    def read(raw):
        cls = raw.__class__
        remember = cap and cls in memo_types
        if remember:  # the memo holds only cells this reader has read: it need not look again
            value = memo_get(raw, full)
            if value is not full:
                return value
        if cls is str_class:
            if len(raw) > max_chars or not raw.isprintable() and control_character(raw) is not None:
                return full
        elif raw is None:
            return empty
        elif cls is error_class:
            return full
        elif shortcut is not None:
            value = shortcut(raw)
            if value is not full:
                return full if limits and too_long(rule, value, limits) else value
        try:
            value = parse(raw)
        except RuleViolation:
            return full
        if limits and too_long(rule, value, limits):
            return full
        if remember and len(memo) < cap:
            memo[raw] = value
        return value

    read.empty = empty
    return read
