"""CAN cells: the number before the parenthesis, the trimmed description inside."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops_pipeline.rules import RuleViolation
from ops_pipeline.rules.can import parse_can


@pytest.mark.parametrize("cell, number, description", [
    ("G99XXX1", "G99XXX1", None),
    ("G994648 (CC - SB - 5 YR)", "G994648", "CC - SB - 5 YR"),
    ("G99ABCD(  HS-TA  )", "G99ABCD", "HS-TA"),
    ("  g99hrf2 (OPRE-HMRF) ", "G99HRF2", "OPRE-HMRF"),
    ("G99ABCD ()", "G99ABCD", None),
    ("A000000", "A000000", None),
])
def test_accepted_cans(cell, number, description):
    assert parse_can(cell) == (number, description)


@pytest.mark.parametrize("cell", ["1234567", "G99 AB", "G99ABC", "G99ABCDE", "G99ABCD (CC", "G99ABCD (a) b",
                                  "G99-BCD", 1234567, "", "(CC) G99ABCD", "G99ABCD ((x)"])
def test_rejected_cans(cell):
    with pytest.raises(RuleViolation) as caught:
        parse_can(cell)
    assert caught.value.code == "bad-can"


alnum = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@given(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), st.lists(alnum, min_size=6, max_size=6),
       st.text(alphabet=st.characters(blacklist_characters="()", blacklist_categories=("Cs", "Cc")), max_size=30),
       st.text(alphabet=" ", max_size=3))
def test_number_and_description_are_recovered(first, rest, description, gap):
    number = first + "".join(rest)
    parsed = parse_can(f"{number}{gap}({description})")
    assert parsed.number == number
    assert parsed.description == (" ".join(description.split()) or None)
