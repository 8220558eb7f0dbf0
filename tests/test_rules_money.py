"""Money is Decimal with two places; malformed amounts are errors, never guesses."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops_pipeline.rules import RuleViolation
from ops_pipeline.rules.money import MAX_AMOUNT, parse_amount


@pytest.mark.parametrize("cell, expected", [
    (1234, "1234.00"),
    (1234.5, "1234.50"),
    (0.1 + 0.2, "0.30"),
    ("$ 1,234.00", "1234.00"),
    ("1234.56", "1234.56"),
    ("$1,234,567.8", "1234567.80"),
    ("(500.00)", "-500.00"),
    ("($ 1,000.00)", "-1000.00"),
    ("-$5", "-5.00"),
    ("$-5.25", "-5.25"),
    ("  42 ", "42.00"),
    (".5", "0.50"),
    (-17.25, "-17.25"),
])
def test_accepted_amounts(cell, expected):
    assert parse_amount(cell) == Decimal(expected)
    assert str(parse_amount(cell)) == expected


@pytest.mark.parametrize("cell, code", [
    ("$ 234,1552,303.08", "bad-amount"),
    ("1,23", "bad-amount"),
    ("12,34.00", "bad-amount"),
    ("1.234", "bad-amount"),
    (1.234, "bad-amount"),
    ("abc", "bad-amount"),
    ("$", "bad-amount"),
    ("--5", "bad-amount"),
    ("(-5)", "bad-amount"),
    (True, "bad-amount"),
    (float("nan"), "bad-amount"),
    ("12345678901.00", "amount-out-of-range"),
    (10_000_000_000, "amount-out-of-range"),
])
def test_rejected_amounts(cell, code):
    with pytest.raises(RuleViolation) as caught:
        parse_amount(cell)
    assert caught.value.code == code


cents = st.integers(min_value=-999_999_999_999, max_value=999_999_999_999)


@given(cents)
def test_formatted_text_round_trips(value):
    amount = Decimal(value).scaleb(-2)
    text = f"$ {abs(amount):,.2f}"
    if amount < 0:
        text = f"({text})"
    assert parse_amount(text) == amount


@given(cents)
def test_number_cells_keep_cents_and_sign(value):
    amount = Decimal(value).scaleb(-2)
    assert parse_amount(float(amount)) == amount


@given(st.lists(st.integers(min_value=0, max_value=999), min_size=2, max_size=4),
       st.integers(min_value=4, max_value=7))
def test_thousands_groups_must_have_three_digits(groups, bad_width):
    text = ",".join([str(groups[0])] + ["1" * bad_width] + [f"{g:03d}" for g in groups[1:]])
    with pytest.raises(RuleViolation):
        parse_amount(text)


def test_largest_amount_is_accepted():
    assert parse_amount(str(MAX_AMOUNT)) == MAX_AMOUNT
