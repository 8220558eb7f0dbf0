"""Date Needed: date cells, bare serials (1900 and 1904 systems) and three text forms."""
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops_pipeline.rules import RuleViolation
from ops_pipeline.rules.dates import fiscal_year, from_serial, parse_date


@pytest.mark.parametrize("cell, expected", [
    (dt.date(2025, 3, 11), dt.date(2025, 3, 11)),
    (dt.datetime(2025, 3, 11, 14, 30), dt.date(2025, 3, 11)),
    (45678, dt.date(2025, 1, 21)),
    (45678.75, dt.date(2025, 1, 21)),
    ("2/22/25", dt.date(2025, 2, 22)),
    ("03/11/2025", dt.date(2025, 3, 11)),
    ("2025-03-11", dt.date(2025, 3, 11)),
    (" 2025-3-1 ", dt.date(2025, 3, 1)),
])
def test_accepted_dates(cell, expected):
    assert parse_date(cell) == expected


@pytest.mark.parametrize("cell", ["31/31/2025", "2025/03/11", "March 3, 2025", "13/01/2025", "2/30/25", "",
                                  "45678", True, 0, -5, 3_000_000])
def test_rejected_dates(cell):
    with pytest.raises(RuleViolation) as caught:
        parse_date(cell)
    assert caught.value.code == "bad-date"


def test_serials_in_1904_workbooks_count_from_1904():
    assert from_serial(0 + 1, date1904=True) == dt.date(1904, 1, 2)
    assert parse_date(44196, date1904=True) == dt.date(2025, 1, 1)
    assert parse_date(44196) == dt.date(2020, 12, 31)  # the same serial, 1462 days apart


@given(st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 31)))
def test_serials_round_trip(day):
    serial = (day - dt.date(1899, 12, 30)).days
    assert from_serial(serial) == day
    serial_1904 = (day - dt.date(1904, 1, 1)).days
    if serial_1904 >= 1:
        assert from_serial(serial_1904, date1904=True) == day


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_text_forms_agree(day):
    assert parse_date(f"{day.month}/{day.day}/{day.year % 100:02d}") == day
    assert parse_date(f"{day.month:02d}/{day.day:02d}/{day.year}") == day
    assert parse_date(day.isoformat()) == day


@pytest.mark.parametrize("day, year", [
    (dt.date(2024, 9, 30), 2024), (dt.date(2024, 10, 1), 2025), (dt.date(2024, 12, 31), 2025),
    (dt.date(2025, 1, 1), 2025),
])
def test_october_to_december_belong_to_the_next_fiscal_year(day, year):
    assert fiscal_year(day) == year


@pytest.mark.parametrize("date1904", [False, True])
@pytest.mark.parametrize("cell", [float("nan"), float("inf"), float("-inf"), -1e300, 1e300, 10**400, -(10**30),
                                  2958465.5 + 1, 2958000, 0.5, "0000-01-01", "2/22/0000", "١/٢/٢٠٢٥",
                                  "2025-\uff10\uff13-11"])
def test_huge_negative_non_finite_and_unicode_date_cells_are_bad_dates(cell, date1904):
    """Including the serials the 1900 system has and the 1904 system does not (past 9999-12-31)."""
    if cell == 2958000 and not date1904:
        assert parse_date(cell) == dt.date(9998, 9, 22)
        return
    with pytest.raises(RuleViolation) as caught:
        parse_date(cell, date1904)
    assert caught.value.code == "bad-date"
