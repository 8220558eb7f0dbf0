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


@pytest.mark.parametrize("cell", [
    1e27, -1e27, 1e300, -1e300, 1.7976931348623157e308, 1e10, -1e10, 10000000000.004,
    10**27, -(10**40), 10**5000,
    "1" * 30, "-" + "9" * 30, "$ 1" + ",000" * 12 + ".00", "(" + "9" * 5000 + ")", "0" * 3 + "1" + "0" * 10,
    Decimal("1E+27"), Decimal("-1E+300"), Decimal("1E+999999"),
], ids=lambda cell: f"{type(cell).__name__}-{len(repr(cell)) if not isinstance(cell, int) else cell.bit_length()}")
def test_huge_amounts_in_any_form_are_out_of_range(cell):
    with pytest.raises(RuleViolation) as caught:
        parse_amount(cell)
    assert caught.value.code == "amount-out-of-range"
    assert len(caught.value.message) < 80  # never quotes a 5,000-digit number


@pytest.mark.parametrize("cell, expected", [
    (1e-30, "0.00"), (-1e-30, "0.00"), (9999999999.99, "9999999999.99"), (-9999999999.99, "-9999999999.99"),
    ("0000000000009999999999.99", "9999999999.99"), (Decimal("1E+2"), "100.00"), (Decimal("-0"), "0.00"),
])
def test_amounts_at_the_edges_of_the_range(cell, expected):
    assert str(parse_amount(cell)) == expected


@pytest.mark.parametrize("cell", [
    float("inf"), float("-inf"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("1E-30"),
    "1e27", "1E+27", "inf", "NaN", "١٢٣.00", "１２.00", "12.\u0663",
])
def test_non_finite_scientific_and_non_ascii_amounts_are_bad_amounts(cell):
    with pytest.raises(RuleViolation) as caught:
        parse_amount(cell)
    assert caught.value.code == "bad-amount"


@given(st.one_of(st.floats(), st.integers(), st.text(alphabet="0123456789$,.()- eE", max_size=60),
                 st.decimals()))
def test_parse_amount_never_fails_otherwise_than_with_a_finding(cell):
    """Whatever the cell, an amount within numeric(12,2) or a finding; never a Decimal exception."""
    try:
        amount = parse_amount(cell)
    except RuleViolation as violation:
        assert violation.code in ("bad-amount", "amount-out-of-range")
    else:
        assert abs(amount) <= MAX_AMOUNT and amount.as_tuple().exponent == -2
