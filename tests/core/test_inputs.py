"""services.core.inputs: the one place numbers from people, URLs and buttons are read."""
import pytest
from hypothesis import given, settings, strategies as st

from services.core.inputs import MAX_ID, MAX_PAGE, parse_bounded_int, parse_id, parse_number, parse_page


@pytest.mark.parametrize("text, expected", [
    ("12", 12), (" 12 ", 12), ("007", 7), (str(MAX_ID), MAX_ID), (12, 12),
    ("²", None), ("٣", None), ("０", None), ("𝟙", None), ("1²", None), ("", None), ("0", None),
    ("-1", None), ("+1", None), ("1.0", None), ("1e3", None), ("1_000", None), ("0x10", None),
    (str(MAX_ID + 1), None), ("9" * 25, None), ("9" * 5000, None), ("1\x00", None),
    (True, None), (1.0, None), (None, None), (("1", "2"), None), (0, None), (MAX_ID + 1, None),
])
def test_an_id_is_ascii_digits_and_fits_a_signed_64_bit_column(text, expected):
    assert parse_id(text) == expected


def test_bounded_ints_take_a_minus_and_keep_to_their_range():
    assert parse_bounded_int("-5", -10, 10) == -5
    assert parse_bounded_int("-11", -10, 10) is None
    assert parse_bounded_int("-٣", -10, 10) is None
    assert parse_page("0") == 0 and parse_page(str(MAX_PAGE)) == MAX_PAGE
    assert parse_page(str(MAX_PAGE + 1)) is None and parse_page("-1") is None


@pytest.mark.parametrize("text, expected", [
    ("1500", 1500), ("-2.5", -2.5), ("0.6", 0.6), (".5", 0.5), ("1e3", 1000), (" 7 ", 7),
    ("1.0", 1), (1500.0, 1500), (0.25, 0.25), (3, 3),
    ("٣", None), ("²", None), ("1_000", None), ("nan", None), ("inf", None), ("1e13", None),
    ("1e99999", None), (float("nan"), None), (float("inf"), None), (True, None), ("", None),
])
def test_numbers_are_ascii_finite_and_bounded(text, expected):
    number = parse_number(text, 10**12)
    assert number == expected and type(number) is type(expected)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.integers().map(str), st.integers()))
def test_whatever_comes_in_an_id_is_a_usable_int_or_none(value):
    result = parse_id(value)
    assert result is None or (type(result) is int and 1 <= result <= MAX_ID)
    if isinstance(value, str) and result is not None:
        assert value.strip().isascii() and int(value) == result
