"""Dates: Excel date cells, bare serials (1900 and 1904 systems) and a few text forms."""
from __future__ import annotations

import datetime as dt
import re

from . import RuleViolation

_EPOCH_1900 = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 given Excel's 1900 leap-year bug
_EPOCH_1904 = dt.date(1904, 1, 1)
_MAX_SERIAL = 2958465  # 9999-12-31
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$", re.ASCII)
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$", re.ASCII)


def from_serial(serial: float, date1904: bool = False) -> dt.date:
    if not isinstance(serial, (int, float)) or serial != serial or serial < 1 or serial > _MAX_SERIAL:
        raise RuleViolation("bad-date", f"{serial!r} is not an Excel date serial")
    days = int(serial)
    if date1904:
        try:  # the 1904 system ends earlier: its largest serial is past 9999-12-31
            return _EPOCH_1904 + dt.timedelta(days=days)
        except OverflowError:
            raise RuleViolation("bad-date", f"{serial!r} is not an Excel date serial") from None
    if days < 61:  # before the phantom 1900-02-29, Excel's serials are one day off
        days += 1
    return _EPOCH_1900 + dt.timedelta(days=days)


def parse_date(value: object, date1904: bool = False) -> dt.date:
    """Parse a Date Needed cell.

    Accepts a date cell, a bare serial in a number cell (``45678``) and text in the forms
    ``2/22/25``, ``03/11/2025`` and ``2025-03-11``. Two-digit years are 20xx.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        raise RuleViolation("bad-date", "a true/false cell is not a date")
    if isinstance(value, (int, float)):
        return from_serial(value, date1904)
    if isinstance(value, str):
        text = value.strip()
        try:
            if match := _US.match(text):
                month, day, year = (int(g) for g in match.groups())
                if len(match.group(3)) == 2:
                    year += 2000
                return dt.date(year, month, day)
            if match := _ISO.match(text):
                year, month, day = (int(g) for g in match.groups())
                return dt.date(year, month, day)
        except ValueError:
            raise RuleViolation("bad-date", "no such calendar date") from None
        raise RuleViolation("bad-date", "not a date (expected a date cell, 2/22/25, 03/11/2025 or 2025-03-11)")
    raise RuleViolation("bad-date", f"a {type(value).__name__} cell is not a date")


def fiscal_year(day: dt.date) -> int:
    """The federal fiscal year of a date: October to December belong to the next year."""
    return day.year + 1 if day.month >= 10 else day.year
