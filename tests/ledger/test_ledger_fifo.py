"""FIFO lots (pure): oldest lots first, exact cost bookkeeping, splits lot by lot."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.errors import LedgerError
from tradeops.ledger.fifo import FifoBook


def test_oldest_lots_go_first_and_a_partial_lot_keeps_the_rest_of_its_cost():
    book = FifoBook("AAPL")
    book.buy(D(3), D("100.00"))  # 33.33... each
    book.buy(D(2), D("90.00"))
    book.sell(D(1), D("40.00"))  # takes 1/3 of 100.00 = 33.33333333
    assert book.realized == D("6.66666667")
    assert [(lot.units, lot.cost) for lot in book.lots] == [(D(2), D("66.66666667")), (D(2), D("90.00"))]
    book.sell(D(3), D("150.00"))  # the rest of lot 1 and half of lot 2
    assert book.realized == D("6.66666667") + D("150.00") - D("66.66666667") - D("45.00")
    assert (book.units, book.cost) == (D(1), D("45.00"))
    with pytest.raises(LedgerError, match="only 1 are held"):
        book.sell(D(2), D(1))


def test_split_multiplies_each_lot_and_keeps_its_cost():
    book = FifoBook("AAPL")
    book.buy(D("3.5"), D("350.00"))
    book.buy(D("0.12345678"), D("12.00"))
    # the real 2014 AAPL ratio: 3.5 x 7.00000700001 = 24.500024500035 -> 24.50002450;
    # 0.12345678 x 7.00000700001 = 0.86419746 + 0.00000086419869 = 0.86419832419869 -> 0.86419832
    assert book.split(D("7.00000700001")) == D("25.36422282") - D("3.62345678")
    assert [lot.units for lot in book.lots] == [D("24.50002450"), D("0.86419832")]
    assert book.cost == D("362.00") and book.units == D("25.36422282")


trades = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell", "split"]),
        st.decimals(min_value=D("0.00000001"), max_value=D(1000), places=8),
        st.decimals(min_value=D("0.01"), max_value=D(100_000), places=2),
        st.sampled_from([D(2), D(3), D("0.1"), D("1.5"), D("7.00000700001")]),
    ),
    max_size=40,
)


@given(trades)
@settings(max_examples=200, deadline=None, database=None)
def test_cost_is_never_created_or_lost(ops):
    book, paid, proceeds = FifoBook("X"), D(0), D(0)
    for kind, units, amount, ratio in ops:
        if kind == "buy":
            book.buy(units, amount)
            paid += amount
        elif kind == "sell" and book.units > 0:
            units = min(units, book.units)
            book.sell(units, amount)
            proceeds += amount
        elif kind == "split":
            book.split(ratio)
        assert book.units == sum((lot.units for lot in book.lots), D(0)) and book.units >= 0
    assert book.realized == proceeds - (paid - book.cost)  # what was sold cost exactly what is no longer in the lots
