"""Money: Decimal with two places, never float arithmetic."""
from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation, Overflow

from . import RuleViolation

CENT = Decimal("0.01")
#: numeric(12,2): at most ten digits before the point.
MAX_AMOUNT = Decimal("9999999999.99")

_TEXT = re.compile(
    r"""^(?P<sign>-)?\s*\$?\s*(?P<sign2>-)?\s*
        (?P<int>\d{1,3}(?:,\d{3})+|\d+)?
        (?:\.(?P<frac>\d{1,2}))?$""",
    re.VERBOSE | re.ASCII,  # digits 0-9 only: the staged amount is text the database reads
)


def parse_amount(value: object) -> Decimal:
    """Parse an amount cell into a Decimal with exactly two places.

    Accepts number cells and text such as ``$ 1,234.00``, ``-$5``, ``(500.00)`` (negative).
    Thousands separators must sit in groups of three: ``234,1552,303.08`` is malformed.
    Any magnitude from 10**10 up (beyond numeric(12,2)) is ``amount-out-of-range``, whatever its
    form: the range is checked before any Decimal arithmetic, which could not hold the digits.
    """
    if isinstance(value, bool):
        raise RuleViolation("bad-amount", f"{value!r} is a true/false cell, not an amount")
    if isinstance(value, int):
        if abs(value) > MAX_AMOUNT:  # int against Decimal compares exactly, whatever the size
            raise _out_of_range()
        amount = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise RuleViolation("bad-amount", "not a finite number")
        if abs(value) >= _LIMIT:
            raise _out_of_range()
        # repr() gives the shortest decimal that round-trips: what Excel shows the user.
        amount = Decimal(repr(value))
        rounded = amount.quantize(CENT)
        if abs(amount - rounded) > Decimal("0.000001"):
            raise RuleViolation("bad-amount", f"{amount} has more than two decimal places")
        amount = rounded
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise RuleViolation("bad-amount", "not a finite number")
        amount = value
    elif isinstance(value, str):
        amount = _parse_text(value)
    else:
        raise RuleViolation("bad-amount", f"a {type(value).__name__} cell is not an amount")
    if abs(amount) >= _LIMIT:
        raise _out_of_range()
    if amount.as_tuple().exponent < -2:
        raise RuleViolation("bad-amount", f"{_short(amount)} has more than two decimal places")
    amount = amount.quantize(CENT, context=_CONTEXT)
    if abs(amount) > MAX_AMOUNT:
        raise _out_of_range()
    return amount if amount else abs(amount)  # never -0.00


#: The smallest magnitude numeric(12,2) cannot hold.
_LIMIT = Decimal(10) ** 10
#: Enough digits for any amount below _LIMIT with two places, whatever the thread's context.
_CONTEXT = Context(prec=28, traps=[InvalidOperation, Overflow])


def _out_of_range() -> RuleViolation:
    # The message never quotes the number: a 30,000-digit cell would make a 30,000-character
    # finding. The finding's value shows the cell, shortened.
    return RuleViolation("amount-out-of-range", f"beyond the largest amount OPS stores ({MAX_AMOUNT})")


def _short(amount: Decimal) -> str:
    text = str(amount)
    return text if len(text) <= 24 else f"{amount:.6E}"


_PLAIN_TEXT = re.compile(r"\$? ?([1-9]\d{0,2}(?:,\d{3})*|[1-9]\d*|0)\.(\d\d)", re.ASCII)


def plain_amount_text(text: str) -> str | None:
    """The usual amount text (``1234.56``, ``$ 1,234.56``) as parse_amount would give it, as text;
    None for any other form, which parse_amount then reads or refuses."""
    match = _PLAIN_TEXT.fullmatch(text)
    if match is None:
        return None
    digits = match[1].replace(",", "")
    return f"{digits}.{match[2]}" if len(digits) <= 10 else None


def _parse_text(text: str) -> Decimal:
    raw = " ".join(text.split())
    negative = False
    body = raw
    if body.startswith("(") and body.endswith(")"):
        negative = True
        body = body[1:-1].strip()
    match = _TEXT.match(body)
    if not match or (match["int"] is None and match["frac"] is None):
        raise RuleViolation("bad-amount", "not an amount (expected e.g. 1234.56, $ 1,234.00 or (500.00))")
    if match["sign"] and match["sign2"]:
        raise RuleViolation("bad-amount", "two minus signs")
    if negative and (match["sign"] or match["sign2"]):
        raise RuleViolation("bad-amount", "both parentheses and a minus sign")
    negative = negative or bool(match["sign"] or match["sign2"])
    digits = (match["int"] or "0").replace(",", "")
    try:
        amount = Decimal(f"{digits}.{match['frac'] or '0'}")
    except InvalidOperation:  # pragma: no cover - the regex admits only digits
        raise RuleViolation("bad-amount", "not an amount") from None
    return -amount if negative else amount
