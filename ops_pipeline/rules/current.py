"""Rules of the current budget layout: services components, fiscal years, procurement shop fees.

Each is a small pure function pinned by a behave scenario (features/current_layout.feature).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from . import RuleViolation

# SC1, SC 2, OSC3, SC1.1, OSC 2.1 (a sub-component); Base Period 1, Optional Period 2.
_SC = re.compile(r"(O?)\s*SC\s*(\d{1,4})((?:\.\d{1,4})+)?", re.IGNORECASE | re.ASCII)
_PERIOD = re.compile(r"(BASE|OPTIONAL)\s+PERIOD\s*(\d{1,4})", re.IGNORECASE | re.ASCII)
_FY = re.compile(r"(?:FY\s*)?(\d{2}|\d{4})", re.IGNORECASE | re.ASCII)
_RATE = re.compile(r"(\d{1,3}(?:\.\d{1,6})?|\.\d{1,6})\s*(%?)", re.ASCII)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class ServicesComponent:
    """A services component as OPS keys it on its agreement: number, optional, sub-component."""

    number: int
    optional: bool
    sub_component: str | None = None

    @property
    def label(self) -> str:
        """How the sheet names it, normalised: SC1, OSC3, SC1.1."""
        return self.sub_component or f"{'O' if self.optional else ''}SC{self.number}"


def parse_services_component(value: object) -> ServicesComponent | None:
    """The SC cell: ``SC1``, ``SC 2``, ``OSC3`` (optional), ``SC1.1`` (a sub-component of SC1),
    ``Base Period 1`` (SC1), ``Optional Period 2`` (optional SC2); blank is none; anything else is
    an error. A whole number alone (``2``) is SC2, as Excel keeps a typed 2."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RuleViolation("bad-services-component", "a true/false cell is not a services component")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        if 0 < value < 10_000:
            return ServicesComponent(int(value), False)
        raise RuleViolation("bad-services-component", "not a services component number")
    if not isinstance(value, str):
        raise RuleViolation("bad-services-component", "not a services component")
    text = " ".join(value.split())
    if not text:
        return None
    if text.isascii() and text.isdigit() and len(text) <= 4 and int(text) > 0:
        return ServicesComponent(int(text), False)
    match = _SC.fullmatch(text)
    if match:
        optional, number, sub = bool(match[1]), int(match[2]), match[3]
        if number < 1:
            raise RuleViolation("bad-services-component", "services components are numbered from 1")
        label = f"{'O' if optional else ''}SC{number}{sub}" if sub else None
        return ServicesComponent(number, optional, label)
    match = _PERIOD.fullmatch(text)
    if match:
        number = int(match[2])
        if number < 1:
            raise RuleViolation("bad-services-component", "periods are numbered from 1")
        return ServicesComponent(number, match[1].upper() == "OPTIONAL")
    raise RuleViolation("bad-services-component",
                        "not a services component (expected SC1, SC 2, OSC3, SC1.1, Base Period 1 or "
                        "Optional Period 2)")


def services_component_display_name(number: int, optional: bool, severable: bool) -> str:
    """The name OPS shows and sorts by: ``Base Period 1`` / ``Optional Period n`` for a severable
    contract, else ``SC<n>`` or ``OSC<n>`` when optional."""
    if severable:
        return f"{'Base' if number == 1 else 'Optional'} Period {number}"
    return f"{'O' if optional else ''}SC{number}"


def parse_fiscal_year(value: object) -> int | None:
    """The FY cell: ``2025``, ``FY25``, ``FY 2025``, ``25``; blank is none; anything else is an error."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RuleViolation("bad-fiscal-year", "a true/false cell is not a fiscal year")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = "".join(value.split())
        if not text:
            return None
    else:
        raise RuleViolation("bad-fiscal-year", "not a fiscal year")
    match = _FY.fullmatch(text)
    if not match:
        raise RuleViolation("bad-fiscal-year", "not a fiscal year (expected 2025, FY25 or FY 2025)")
    year = int(match[1])
    year = year + 2000 if len(match[1]) == 2 else year
    if not 2000 <= year <= 2099:
        raise RuleViolation("bad-fiscal-year", "not a fiscal year between 2000 and 2099")
    return year


def parse_fee_rate(value: object) -> str | None:
    """The fee rate in percent (``1.0`` = 1 %, ``0.5 %``), as text with up to five places (what
    OPS's percentages hold); blank is none; anything else, or more than 100 %, is an error."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RuleViolation("bad-fee-rate", "a true/false cell is not a fee rate")
    if isinstance(value, (int, float)):
        try:
            rate = Decimal(str(value))
        except InvalidOperation:
            raise RuleViolation("bad-fee-rate", "not a fee rate") from None
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        match = _RATE.fullmatch(text)
        if not match:
            raise RuleViolation("bad-fee-rate", "not a fee rate in percent (expected 1.0, 0.5 or 4.8 %)")
        rate = Decimal(match[1])
    else:
        raise RuleViolation("bad-fee-rate", "not a fee rate")
    if not 0 <= rate <= 100 or rate != rate:
        raise RuleViolation("bad-fee-rate", "a fee rate is between 0 and 100 percent")
    rate = rate.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP).normalize()
    return f"{rate:f}"


def expected_fee(amount: str, rate: str) -> Decimal:
    """SubTotal × rate ÷ 100, to the cent (half up)."""
    return (Decimal(amount) * Decimal(rate) / 100).quantize(_CENT, rounding=ROUND_HALF_UP)


def _cents(amount: str) -> int:
    """An amount as text with two places (as the amount rule gives it) in cents."""
    return int(amount.replace(".", "", 1))


def _fee_within(cents: int, rate: str, fee_cents: int) -> bool:
    """Whether a fee of ``fee_cents`` is cents × rate ÷ 100 rounded to the cent: within half a
    cent of the exact product, so that a product ending in exactly half a cent may round either
    way (half up, or to even as Python's Decimal does). Exact integer arithmetic: this runs for
    every line with a fee."""
    whole, _, places = rate.partition(".")
    denominator = 100 * 10 ** len(places)
    numerator = cents * int(whole + places)
    return abs(fee_cents * denominator - numerator) * 2 <= denominator


def fee_problem(amount: str | None, fee: str | None, rate: str | None, shop: str | None) -> tuple[str, str] | None:
    """What is wrong with a line's fee, as (finding code, words), or None: a fee must come with a
    rate and a shop, and be SubTotal × rate ÷ 100 to the cent (half a cent either way is rounding). A rate below 1 whose fee is
    SubTotal × rate is read as the percentage it shows (a cell formatted as a percentage holds
    0.005 for 0.5 %)."""
    if fee is None:
        return None
    first = fee[:1]
    if not "1" <= first <= "9" and Decimal(fee) == 0:  # a fee starting 1-9 is not zero
        return None
    if rate is None or shop is None:
        missing = " or ".join(n for n, v in (("rate", rate), ("procurement shop", shop)) if v is None)
        return "fee-without-rate-or-shop", f"a procurement shop fee of {fee} without a {missing}"
    if amount is None:
        return None
    cents, fee_cents = _cents(amount), _cents(fee)
    if _fee_within(cents, rate, fee_cents):
        return None
    if rate.startswith("0") and _fee_within(cents * 100, rate, fee_cents):
        return None  # a rate below 1 that is the fraction a percent-formatted cell holds
    return "fee-mismatch", f"the fee {fee} is not SubTotal {amount} × {rate} % ÷ 100 = {expected_fee(amount, rate)}"
