"""The demo's paper-fill model behaves like a broker and like a careful executor."""

from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, ROUND_UP
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.demo import PaperFillModel

OPEN = datetime(2025, 1, 6, 14, 30, tzinfo=timezone.utc)


def ticket(lines):
    return {
        "execution_session": "2025-01-06",
        "lines": [
            {"seq": i, "side": side, "units": str(units), "reference_price": str(price), "value": str((units * price).quantize(D("0.01"))), "band": "0.03"}
            for i, (side, units, price) in enumerate(lines, start=1)
        ],
    }


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
    lines=st.lists(st.tuples(st.sampled_from(["SELL", "BUY"]), st.decimals("25", "5000", places=2), st.decimals("1", "900", places=2)), min_size=1, max_size=8),
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


def gbp_ticket(lines, rate, fee_bps="50"):
    """A GBP account's ticket: ``value`` in pounds (units x USD price / rate), prices in USD."""
    return {
        "execution_session": "2025-01-06",
        "fx_fee_bps": fee_bps,
        "lines": [
            {
                "seq": i,
                "side": side,
                "units": str(units),
                "reference_price": str(price),
                "band": "0.03",
                "fx_rate": str(rate),
                "value": str((units * price / rate).quantize(D("0.01"))),
            }
            for i, (side, units, price) in enumerate(lines, start=1)
        ],
    }


def test_a_gbp_line_is_paid_in_pounds_with_the_conversion_fee():
    """By hand, at 1.2500 USD per pound and a 50 bps fee, £1,000.00 of cash:
    SELL 4 at $50.00 = $200.00 = £160.00, fee 160.00 x 0.005 = £0.80: cash 1,000.00 + 160.00 - 0.80 = £1,159.20;
    BUY 8 at $125.00 = $1,000.00 = £800.00, fee £4.00: cash 1,159.20 - 804.00 = £355.20;
    BUY 2 at $250.00 = £400.00 + fee £2.00 = £402.00 > £355.20: shrunk to the most micro-units (£200.00 a unit)
    whose pound value, rounded half-even to the penny, plus its fee rounded up, is within 355.20:
    1.767174 units = £353.4348 -> £353.43, fee 353.43 x 0.005 = 1.76715 -> £1.77, total £355.20 (fits);
    1.767175 units = £353.435 -> £353.44 (half-even: 3 is odd), + £1.77 = £355.21 (does not).
    So 1.767174 units, partial (353.43 < 400.00 x 0.97 = 388.00)."""
    model = PaperFillModel(not_executed_rate=0, partial_rate=0, slippage_bps=0)
    t = gbp_ticket([("SELL", D("4"), D("50.00")), ("BUY", D("8"), D("125.00")), ("BUY", D("2"), D("250.00"))], D("1.2500"))
    rows = model.fills(t, OPEN, cash=D("1000.00"))
    assert [(r["status"], r["units"], r["fees"], r["fx_rate"]) for r in rows] == [
        ("EXECUTED", D("4"), D("0.80"), D("1.2500")),
        ("EXECUTED", D("8"), D("4.00"), D("1.2500")),
        ("PARTIAL", D("1.767174"), D("1.77"), D("1.2500")),
    ]


@settings(max_examples=150, deadline=None)
@given(
    cash=st.decimals("0", "20000", places=2),
    rate=st.decimals("0.9", "1.6", places=4),
    fee_bps=st.sampled_from(["0", "15", "50", "150"]),
    lines=st.lists(st.tuples(st.sampled_from(["SELL", "BUY"]), st.decimals("25", "5000", places=2), st.decimals("1", "900", places=2)), min_size=1, max_size=6),
    seed=st.integers(0, 1000),
)
def test_gbp_cash_in_pounds_stays_non_negative(cash, rate, fee_bps, lines, seed):
    lines = sorted(((side, (value * rate / price).quantize(D("0.000001")), price) for side, value, price in lines), key=lambda line: line[0] != "SELL")
    t = gbp_ticket(lines, rate, fee_bps)
    rows = PaperFillModel(seed=seed).fills(t, OPEN, cash)
    fee = D(fee_bps) / 10000
    for row, line in zip(rows, t["lines"]):
        if row["status"] == "NOT_EXECUTED":
            continue
        pounds = (row["units"] * row["price"] / rate).quantize(D("0.01"), ROUND_HALF_EVEN)  # the ledger's account_value
        assert row["fx_rate"] == rate and row["fees"] == ((pounds * fee).quantize(D("0.01"), ROUND_UP) if fee and pounds else 0)
        cash += (pounds if line["side"] == "SELL" else -pounds) - row["fees"]
        assert cash >= 0
