"""Equity curve and P&L on real prices: AAPL through its 7:1 (2014) and 4:1 (2020) splits."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal as D

import pytest

from tradeops.calendar import get_calendar
from tradeops.errors import DataError
from tradeops.ledger import api

START, END = date(2014, 5, 1), date(2020, 9, 30)


@pytest.fixture(scope="module")
def aapl(shared_data):
    """Rows of AlphaVantage's AAPL file (prices as traded, split and dividend columns) in the window."""
    path = shared_data / "alphavantage-sp500" / "daily_adjusted" / "DA-AAPL-T-2021-04-21.csv"
    with path.open() as fh:
        rows = [r for r in csv.DictReader(fh) if START <= date.fromisoformat(r["timestamp"]) <= END]
    assert rows, f"no AAPL rows between {START} and {END} in {path}"
    return rows


def test_real_aapl_history(session, kit, aapl):
    first = aapl[0]
    day0 = first["timestamp"]
    price0 = D(first["close"]).quantize(D("0.000001"))
    api.record_cash_movement(session, "DEPOSIT", "2500", date.fromisoformat(day0), actor="t")  # 3.5 x 591.48 + 1.00 fits
    kit.buy(session, "B", day0, "AAPL", "3.5", price0, fees="1.00", clock="19:00")
    closes, held, splits = {}, D("3.5"), []
    for row in aapl[1:]:
        day = date.fromisoformat(row["timestamp"])
        ratio, dividend = D(row["split_coefficient"]), D(row["dividend_amount"])
        if ratio != 1:
            split = api.record_split(session, "AAPL", ratio, day, actor="t")
            held += split.units_delta
            splits.append(day)
        if dividend > 0:
            api.record_cash_movement(session, "DIVIDEND", (held * dividend).quantize(D("0.01")), day, symbol="AAPL", actor="t")
        closes[day] = D(row["close"])
    closes[date.fromisoformat(day0)] = price0
    assert splits == [date(2014, 6, 9), date(2020, 8, 31)]
    # 3.5 x 7.00000700001 = 24.500024500035 -> 24.50002450 units; x 4 = 98.00009800
    assert api.compute_positions(session) == {"AAPL": D("98.00009800")} and held == D("98.00009800")

    curve = api.compute_equity_curve(session, {"AAPL": closes})
    days = [p.day for p in curve]
    assert days == get_calendar().sessions(day0, END)  # every NYSE session, holidays excluded
    assert days == sorted(closes)  # ... and the vendor has a bar for each of them
    by_day = {p.day: p for p in curve}
    adjusted = {date.fromisoformat(r["timestamp"]): D(r["adjusted_close"]) for r in aapl}
    for day in splits:  # the split leaves the position's value where the adjusted series says
        before = get_calendar().previous_session(day)
        mv_move = by_day[day].market_value / by_day[before].market_value
        assert abs(mv_move - adjusted[day] / adjusted[before]) < D("0.00001"), day

    last = curve[-1]
    pnl = api.compute_pnl(session, {"AAPL": closes[last.day]})
    assert pnl.realized + pnl.unrealized == last.equity - last.net_deposits
    assert pnl.by_symbol["AAPL"].cost == price0 * D("3.5") and pnl.fees == D("1.00")
    assert pnl.dividends == sum(m for m in (by_day[d].cash - by_day[p].cash for p, d in zip(days, days[1:])) if m > 0)


def test_gbp_needs_a_rate_on_or_before_each_day(session, kit):
    api.record_cash_movement(session, "DEPOSIT", "1270", date(2024, 1, 2), actor="t")
    prices = {"AAPL": {date(2024, 1, 2): D(100)}}
    with pytest.raises(DataError, match="no GBP/USD rate on or before 2024-01-02"):
        api.compute_equity_curve(session, prices, currency="GBP", fx={date(2024, 1, 3): D("1.25")})
    api.store_fx_rates(session, {date(2023, 12, 29): "1.27", date(2024, 1, 3): "1.25"}, base="GBP", quote="USD", source="t")
    curve = api.compute_equity_curve(session, prices, end=date(2024, 1, 3), currency="GBP")
    assert [(p.day, p.equity) for p in curve] == [(date(2024, 1, 2), D("1000.0000")), (date(2024, 1, 3), D("1016.0000"))]


def test_pnl_needs_a_mark_for_every_held_symbol(session, kit):
    kit.fund(session)
    kit.buy(session, "B", "2024-01-03", "AAPL", 1, 100)
    with pytest.raises(DataError, match="no price for AAPL"):
        api.compute_pnl(session, {"MSFT": D(1)})


def test_price_cache(session):
    api.store_prices(session, [("AAPL", date(2024, 1, 2), "185.64"), ("AAPL", date(2024, 1, 3), "184.25")], source="stooq")
    api.store_prices(session, [("AAPL", date(2024, 1, 3), "184.26")], source="yfinance")  # refreshed value replaces
    assert api.load_prices(session) == {"AAPL": {date(2024, 1, 2): D("185.64"), date(2024, 1, 3): D("184.26")}}
    assert api.load_prices(session, ["MSFT"]) == {}
    assert api.marks_on(api.load_prices(session), date(2024, 1, 6)) == {"AAPL": D("184.26")}


def test_price_series_from_a_float_frame():
    import pandas as pd

    frame = pd.DataFrame({"symbol": ["AAPL", "AAPL"], "date": pd.to_datetime(["2024-01-02", "2024-01-03"]), "close": [185.64, float("nan")]})
    assert api.price_series_from_frame(frame) == {"AAPL": {date(2024, 1, 2): D("185.640000")}}
