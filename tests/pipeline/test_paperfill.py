"""The demo's paper-fill model behaves like a broker and like a careful executor."""

from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.demo import PaperFillModel

OPEN = datetime(2025, 1, 6, 14, 30, tzinfo=timezone.utc)


def ticket(lines):
    return {"execution_session": "2025-01-06", "lines": [
        {"seq": i, "side": side, "units": str(units), "reference_price": str(price), "value": str((units * price).quantize(D("0.01"))), "band": "0.03"}
        for i, (side, units, price) in enumerate(lines, start=1)
    ]}


def test_a_buy_never_spends_cash_that_is_not_there():
    model = PaperFillModel(not_executed_rate=0, partial_rate=0, slippage_bps=0)
    rows = model.fills(ticket([("BUY", D("10"), D("100")), ("BUY", D("10"), D("100"))]), OPEN, cash=D("1500"))
    assert [r["status"] for r in rows] == ["EXECUTED", "PARTIAL"]
    assert rows[1]["units"] == D("5") and rows[1]["reason"] == "not enough cash for the whole order"
    rows = model.fills(ticket([("BUY", D("10"), D("100"))]), OPEN, cash=D("0.50"))
    assert rows[0]["status"] == "NOT_EXECUTED" and rows[0]["reason"] == "not enough cash"


@settings(max_examples=200, deadline=None)
@given(
    cash=st.decimals("0", "20000", places=2),
    lines=st.lists(st.tuples(st.sampled_from(["SELL", "BUY"]), st.decimals("25", "5000", places=2), st.decimals("1", "900", places=2)),
                   min_size=1, max_size=8),
    seed=st.integers(0, 1000),
)
def test_cash_stays_non_negative_and_answers_are_unambiguous(cash, lines, seed):
    # orders of at least the minimum order value, sells first, as on a ticket
    lines = sorted(((side, (value / price).quantize(D("0.000001")), price) for side, value, price in lines), key=lambda line: line[0] != "SELL")
    t = ticket(lines)
    rows = PaperFillModel(seed=seed).fills(t, OPEN, cash)
    assert len(rows) == len(t["lines"])
    for row, line in zip(rows, t["lines"]):
        if row["status"] == "NOT_EXECUTED":
            assert row["units"] == 0 and row["price"] is None and row["reason"]
            continue
        value = row["units"] * row["price"]
        booked = value.quantize(D("0.01"), ROUND_HALF_EVEN)  # what the ledger books: the cent, half-even
        cash += booked if line["side"] == "SELL" else -booked
        assert cash >= 0
        ref, band = D(line["reference_price"]), D(line["band"])
        assert abs(row["price"] - ref) <= ref * band
        if line["side"] == "BUY":
            nearly_all = D(line["value"]) * (1 - band)
            assert (value >= nearly_all) == (row["status"] == "EXECUTED")
