"""The backtest engine against an event-by-event calculation written here, to the cent."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd
import pytest

from tradeops.calendar import get_calendar
from tradeops.config import parse_policy
from tradeops.errors import ValidationError
from tradeops.research.backtest import Costs, run_backtest
from tradeops.signals import Regime, SignalResult

from .conftest import universe_for

CENT, UNIT = Decimal("0.01"), Decimal("0.000001")


def small_market():
    """A and B over January 2023: A pays a 0.50 dividend on 12 Jan, B splits 2-for-1 on 20 Jan."""
    days = pd.DatetimeIndex(get_calendar().sessions("2023-01-03", "2023-01-31"))
    n = len(days)
    a_close = np.round(100 + np.arange(n) * 0.37, 2)
    b_close = np.round(50 + np.arange(n) * 0.61, 2)
    b_split = days >= "2023-01-20"
    b_close = np.where(b_split, np.round(b_close / 2, 2), b_close)
    rows = []
    for sym, close in (("A", a_close), ("B", b_close), ("SPY", np.round(400 + np.arange(n) * 1.0, 2))):
        open_ = np.round(close * 0.995, 2)
        div = np.where(days == "2023-01-12", 0.5, 0.0) if sym == "A" else np.zeros(n)
        split = np.where(days == "2023-01-20", 2.0, 1.0) if sym == "B" else np.ones(n)
        rows.append(
            pd.DataFrame({"symbol": sym, "date": days, "open": open_, "close": close, "adj_close": close, "volume": 1e6, "dividend": div, "split": split})
        )
    return pd.concat(rows, ignore_index=True)


def ranker_for(policy):
    def rank(d: date) -> SignalResult:
        first = "A" if d < date(2023, 1, 13) else "B"
        ranked = pd.DataFrame({"symbol": [first, "B" if first == "A" else "A"], "score": [2.0, 1.0], "rank": [1, 2], "selected": [True, False]})
        return SignalResult(d, "fixed", ranked, {}, "fixed ranks", Regime("SPY", 2, None, None, None, "n/a"), [])

    return rank


def test_engine_matches_an_event_by_event_calculation():
    eod = small_market()
    policy = parse_policy({"portfolio": {"target_positions": 1, "min_positions": 1, "max_weight": 0.5, "max_turnover": 2.0}})
    costs = Costs(commission_bps=10, slippage_bps=5)
    res = run_backtest(eod, policy, universe_for(["A", "B"]), date(2023, 1, 3), date(2023, 1, 31), ranker_for(policy), costs)
    px = {(r.symbol, r.date.date()): r for r in eod.itertuples()}

    # independent replay: trades come from the guard's decisions, everything else is done here
    cash, units, equity, fills = Decimal("10000"), {}, [], []
    pending = None
    days = [d.date() for d in res.equity.index]
    for k, d in enumerate(days):
        for s in list(units):
            bar = px[(s, d)]
            cash += (units[s] * Decimal(str(bar.dividend))).quantize(CENT, ROUND_HALF_EVEN)
            units[s] = (units[s] * Decimal(str(bar.split))).quantize(UNIT, ROUND_DOWN)
        if pending is not None:
            for t in sorted(pending.trades, key=lambda t: t.side != "SELL"):
                o = Decimal(str(px[(t.symbol, d)].open))
                if t.side == "SELL":
                    price = o * Decimal("0.9995")
                    n = units[t.symbol] if t.close_position else min(units[t.symbol], (t.value / price).quantize(UNIT, ROUND_DOWN))
                    units[t.symbol] -= n
                    if units[t.symbol] == 0:
                        del units[t.symbol]
                    value = (n * price).quantize(CENT, ROUND_HALF_EVEN)
                    cash += value - (value * Decimal("0.001")).quantize(CENT, ROUND_HALF_EVEN)
                else:
                    price = o * Decimal("1.0005")
                    n = (t.value / price).quantize(UNIT, ROUND_DOWN)
                    value = (n * price).quantize(CENT, ROUND_HALF_EVEN)
                    cash -= value + (value * Decimal("0.001")).quantize(CENT, ROUND_HALF_EVEN)
                    units[t.symbol] = units.get(t.symbol, Decimal(0)) + n
                fills.append((t.symbol, t.side, n, value))
            pending = None
        equity.append(cash + sum(u * Decimal(str(px[(s, d)].close)) for s, u in units.items()))
        decision = res.decisions.get(d)
        if decision is not None and decision.kind == "TRADE":
            pending = decision

    # buy A; trim A back under the 50% max weight after it drifted; switch A -> B on the rebalance of
    # 17 Jan; then trims of B as it drifts above 50% (after its split, in new units)
    sides = [(s, side) for s, side, _, _ in fills]
    assert sides[:4] == [("A", "BUY"), ("A", "SELL"), ("A", "SELL"), ("B", "BUY")] and set(sides[4:]) == {("B", "SELL")}
    # the first order: half of 10,000 into A
    assert res.decisions[date(2023, 1, 3)].trades[0].value == Decimal("5000.00")
    assert [(f.symbol, f.side, f.units, f.value) for f in res.trades.itertuples()] == fills
    np.testing.assert_array_equal(np.round(res.equity.to_numpy(), 2), [float(e.quantize(CENT, ROUND_HALF_EVEN)) for e in equity])
    # the dividend on A and the split of B were both held through
    assert res.trades["session"].tolist()[0] == date(2023, 1, 4)
    assert res.trades.loc[3, "units"] * 2 - res.trades.loc[4:, "units"].sum() == units["B"]


def test_costs_and_delay_are_validated_and_change_the_result():
    eod = small_market()
    policy = parse_policy({"portfolio": {"target_positions": 1, "min_positions": 1, "max_weight": 0.5, "max_turnover": 2.0}})

    def run(c):
        return run_backtest(eod, policy, universe_for(["A", "B"]), date(2023, 1, 3), date(2023, 1, 31), ranker_for(policy), c)

    base, dear, late = run(Costs(10, 5)), run(Costs(30, 15)), run(Costs(10, 5, delay=1))
    assert dear.equity.iloc[-1] < base.equity.iloc[-1]
    assert late.trades["session"].iloc[0] == date(2023, 1, 5)
    with pytest.raises(ValidationError, match="commission_bps"):
        Costs(commission_bps=-1)
