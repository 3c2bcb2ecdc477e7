"""The page reads numbers with the ledger's parser (money.parse_decimal): the page and
to_decimal agree on which text is a number and on its value, apart from the page's
documented extras (a leading "$" allowed; a minus sign, and zero where it must be
positive, refused; commas worded apart; the ledger alone drops "_")."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.dashboard.validation import FieldError, parse_number
from tradeops.ledger.money import NumberError, to_decimal

PIECES = list("0123456789") + [".", "-", "+", "e", "E", " ", "\t", "x", ",", "NaN", "Infinity", "inf", "sNaN", "E+40", "e-9", "\u00a0", "١"]
TEXTS = st.lists(st.sampled_from(PIECES), max_size=10).map("".join) | st.decimals().map(str) | st.text(max_size=10).filter(lambda t: not {"$", "_"} & set(t))
PAGE_WORDS = {"empty": "Enter a number.", "not_a_number": "is not a number", "not_finite": "is not a number", "too_large": "is too large."}


def page(text: str, places: int, **kw) -> D | str:
    try:
        return parse_number(text, places, **kw)
    except FieldError as err:
        return str(err)


@settings(max_examples=1000)
@given(TEXTS, st.sampled_from([0, 2, 4, 6, 8, 12]))
def test_the_page_and_the_ledger_agree_on_what_is_a_number(text, places):
    seen = page(text, places)
    try:
        value = to_decimal(text, "x", places)
    except NumberError as err:
        assert isinstance(seen, str)
        if err.number is not None and err.number.is_finite() and err.number < 0:
            assert "is negative" in seen  # the page judges the sign first
        elif "," in text.strip() and err.code != "empty":
            assert "no commas" in seen
        else:
            assert PAGE_WORDS.get(err.code, f"more than {places} decimal places") in seen
        return
    if value < 0:
        assert seen == f"{text.strip()} is negative. Enter it without a minus sign."
    else:
        assert isinstance(seen, D) and seen == value and str(seen) == str(value)
        assert page(text, places, positive=True) == (value if value else "Must be more than 0.")
    dollar = page("$" + text, places)  # a leading "$" changes nothing but the words
    assert dollar == seen if isinstance(seen, D) else isinstance(dollar, str)


@given(st.integers(0, 12).flatmap(lambda p: st.tuples(st.just(p), st.decimals(min_value=0, max_value=10**12, places=p))))
def test_any_decimal_typed_back_is_read_exactly_by_both(case):
    places, value = case
    for text in (str(value), f"  ${value} "):
        assert parse_number(text, places) == value == to_decimal(str(value), "x", places)
        assert str(parse_number(text, places)) == str(to_decimal(str(value), "x", places))
