"""The one decimal parser (money.parse_decimal): its codes, and to_decimal worded from them."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeops.errors import ValidationError
from tradeops.ledger.money import NUMBER_CODES, NumberError, parse_decimal, to_decimal


@pytest.mark.parametrize(
    "value,code,number",
    [
        ("", "empty", None),
        ("  ", "not_a_number", None),  # text is read as given: the callers trim it
        ("1,5", "not_a_number", None),
        ("abc", "not_a_number", None),
        ("NaN", "not_finite", "NaN"),
        ("-Infinity", "not_finite", "-Infinity"),
        (D("sNaN"), "not_finite", "sNaN"),
        ("1e30", "too_large", "1E+30"),
        ("1.005", "too_many_places", "1.005"),
        (D("-0.001"), "too_many_places", "-0.001"),
    ],
)
def test_what_the_parser_refuses_and_why(value, code, number):
    with pytest.raises(NumberError) as err:
        parse_decimal(value, 2)
    assert err.value.code == code and code in NUMBER_CODES
    assert (None if err.value.number is None else str(err.value.number)) == number


def test_to_decimal_names_the_field_and_keeps_the_code():
    with pytest.raises(NumberError, match=r"^fills.csv row 3, field 'price': 1.005 has more than 2 decimal places$") as err:
        to_decimal(" 1.005 ", "price", 2, where="fills.csv row 3")
    assert err.value.code == "too_many_places" and isinstance(err.value, ValidationError)
    with pytest.raises(NumberError, match=r"^field 'units': ' ' is not a decimal number") as err:
        to_decimal("_ _", "units", 2)  # underscores dropped after the trim: ' ' is left
    assert err.value.code == "not_a_number"
    assert to_decimal("1_000.5", "cash", 2) == D("1000.50")


@given(st.integers(0, 12).flatmap(lambda p: st.tuples(st.just(p), st.decimals(min_value=-(10**12), max_value=10**12, places=p))))
def test_any_decimal_as_text_reads_back_exactly(case):
    places, value = case
    read = parse_decimal(str(value), places)
    assert read == value and read.as_tuple().exponent == -places
    assert to_decimal(str(value), "x", places) == read == parse_decimal(value, places)
    assert parse_decimal(str(read), places) == read and str(parse_decimal(str(read), places)) == str(read)
