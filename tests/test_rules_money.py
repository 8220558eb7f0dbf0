"""Money is Decimal with two places; malformed amounts are errors, never guesses."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops_pipeline.rules import RuleViolation
from ops_pipeline.rules.money import MAX_AMOUNT, parse_amount, plain_amount_text


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


def _parsed_text(text):
    try:
        return str(parse_amount(text))
    except RuleViolation:
        return None


amount_texts = st.one_of(
    st.integers(min_value=0, max_value=10**12 + 5).map(lambda cents: f"{cents // 100:,}.{cents % 100:02d}"),
    st.integers(min_value=0, max_value=10**12 + 5).map(lambda cents: f"$ {cents // 100:,}.{cents % 100:02d}"),
    st.integers(min_value=0, max_value=10**12 + 5).map(lambda cents: f"${cents // 100}.{cents % 100:02d}"),
    st.text(alphabet="$ 0123456789,.-()", max_size=16),
)


@given(amount_texts)
def test_the_shortcut_for_plain_amount_text_agrees_with_the_parser(text):
    """validate's fast path reads '$ 1,234.56' without the parser: the same amount, or no answer."""
    plain = plain_amount_text(text)
    assert plain is None or plain == _parsed_text(text)


@pytest.mark.parametrize("text, expected", [
    ("$ 1,234.56", "1234.56"), ("1234.56", "1234.56"), ("$0.05", "0.05"), ("9,999,999,999.99", "9999999999.99"),
    ("10,000,000,000.00", None), ("01.00", None), ("$  1.00", None), ("1,23.00", None), ("1.5", None),
])
def test_the_shortcut_takes_only_the_plainest_forms(text, expected):
    assert plain_amount_text(text) == expected
