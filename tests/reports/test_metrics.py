"""tradeops.metrics against quantstats 0.0.86 on real return series, and
against hand formulas where the two definitions differ.

Real series (the ``shared_data`` fixture of tests/conftest.py): adjusted closes of several S&P 500 members from
../shared/data/alphavantage-sp500, on the union of their dates, so they carry
gaps (TSLA and HLT list years after 1999, VAR's last bar is 2021-04-16, and
a few sessions are knocked out of BAC by hand) and crash periods (2008,
March 2020).
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops import metrics

SYMBOLS = ("AAPL", "BAC", "GE", "TSLA", "HLT", "VAR", "NDAQ")
WINDOWS = {"gfc": ("2007-06-01", "2009-12-31"), "covid": ("2019-09-01", "2021-04-21"), "all": ("1999-11-01", "2021-04-21")}
# Where the definitions match, ours must equal quantstats to this (relative) tolerance.
TOL = 1e-9


@pytest.fixture(scope="module")
def returns(shared_data) -> pd.DataFrame:
    folder = shared_data / "alphavantage-sp500" / "daily_adjusted"
    closes = {}
    for sym in SYMBOLS:
        (path,) = folder.glob(f"DA-{sym}-T-*.csv")
        frame = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp").sort_index()
        closes[sym] = frame["adjusted_close"]
    px = pd.DataFrame(closes)  # union of dates: NaN where a symbol has no bar
    px.loc["2008-10-06":"2008-10-10", "BAC"] = np.nan  # gaps inside the crash
    px.loc["2020-03-16":"2020-03-18", "BAC"] = np.nan
    r = px.pct_change(fill_method=None)
    r["EQW"] = r[list(SYMBOLS)].mean(axis=1)  # an equal-weight book of whatever traded
    return r.iloc[1:]


def _cases(returns):
    for name, (lo, hi) in WINDOWS.items():
        for col in returns.columns:
            series = returns[col].loc[lo:hi]
            if series.count() > 30:
                yield f"{col}-{name}", series


def _qs():
    import quantstats as qs

    return qs


PAIRS = {
    # ours                               quantstats 0.0.86
    "total_return": (metrics.total_return, lambda qs, r: qs.stats.comp(r)),
    "cagr": (metrics.cagr, lambda qs, r: qs.stats.cagr(r)),
    "volatility": (metrics.volatility, lambda qs, r: qs.stats.volatility(r)),
    "sharpe": (metrics.sharpe, lambda qs, r: qs.stats.sharpe(r)),
    "sharpe_rf": (lambda r: metrics.sharpe(r, rf=0.03), lambda qs, r: qs.stats.sharpe(r, rf=0.03)),
    "sortino": (metrics.sortino, lambda qs, r: qs.stats.sortino(r)),
    "sortino_rf": (lambda r: metrics.sortino(r, rf=0.03), lambda qs, r: qs.stats.sortino(r, rf=0.03)),
    "max_drawdown": (metrics.max_drawdown, lambda qs, r: qs.stats.max_drawdown(r)),
    "calmar": (metrics.calmar, lambda qs, r: qs.stats.calmar(r)),
    "hit_rate": (metrics.hit_rate, lambda qs, r: qs.stats.win_rate(r)),
}


@pytest.mark.parametrize("metric", sorted(PAIRS))
def test_metric_agrees_with_quantstats_on_real_series(returns, metric):
    qs = _qs()
    ours, theirs = PAIRS[metric]
    checked = 0
    for label, series in _cases(returns):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = float(theirs(qs, series))
        got = ours(series)
        assert math.isclose(got, expected, rel_tol=TOL, abs_tol=1e-12), f"{metric} on {label}: {got!r} vs quantstats {expected!r}"
        checked += 1
    assert checked >= 20  # every symbol in every window it traded in


def test_drawdown_series_agrees_with_quantstats(returns):
    qs = _qs()
    for label, series in _cases(returns):
        ours = metrics.drawdown_series(series)
        theirs = qs.stats.to_drawdown_series(series)
        assert np.allclose(ours.to_numpy(), theirs.to_numpy(), rtol=0, atol=1e-12), label


def test_the_crashes_are_in_the_data(returns):
    """The windows really hold crashes: the comparisons above cover deep drawdowns."""
    assert metrics.max_drawdown(returns["BAC"].loc["2007-06-01":"2009-12-31"]) < -0.9
    assert metrics.max_drawdown(returns["EQW"].loc["2020-01-01":"2020-06-30"]) < -0.3
    assert returns["TSLA"].loc[:"2010-06-28"].isna().all()  # listed mid-2010: a leading gap
    assert returns["VAR"].loc["2021-04-19":].isna().all()  # stale last bar
    assert returns["BAC"].loc["2008-10-06":"2008-10-10"].isna().all()


# ----------------------------------------------------------------- where definitions differ


def test_all_positive_returns_are_not_mistaken_for_prices():
    """quantstats treats a series with min >= 0 and max > 1 as *prices*; ours never guesses."""
    qs = _qs()
    r = pd.Series([0.5, 1.5, 0.2], index=pd.date_range("2024-01-01", periods=3))
    assert metrics.total_return(r) == pytest.approx(1.5 * 2.5 * 1.2 - 1)  # hand: 3.5
    assert metrics.hit_rate(r) == 1.0
    # quantstats converted the "prices" to returns first (0.5 -> 1.5 is +200%, ...)
    assert qs.stats.comp(qs.utils._prepare_returns(r)) == pytest.approx(0.2 / 0.5 - 1)


def test_degenerate_inputs_give_nan():
    qs = _qs()
    empty = pd.Series([], dtype=float)
    for fn in (metrics.total_return, metrics.cagr, metrics.sharpe, metrics.sortino, metrics.max_drawdown, metrics.hit_rate):
        assert math.isnan(fn(empty)), fn.__name__  # quantstats raises on an empty series
    up = pd.Series([0.01, 0.02, 0.0], index=pd.date_range("2024-01-01", periods=3))
    assert metrics.max_drawdown(up) == 0.0
    assert math.isnan(metrics.calmar(up))  # no drawdown: undefined, not a division by zero
    assert math.isnan(metrics.sortino(up))  # no downside
    flat = pd.Series([0.0, 0.0], index=up.index[:2])
    assert math.isnan(metrics.hit_rate(flat))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert qs.stats.win_rate(flat) == 0.0  # quantstats says 0% for "never moved"
    assert math.isnan(metrics.sharpe(flat))


def test_returns_from_equity_neutralises_deposits():
    """Hand: 1,000 -> 1,100 (+10%), then a 500 deposit and 1,650 (= 1,100 x 1.05 + 500)."""
    idx = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"])
    equity = pd.Series([1000.0, 1100.0, 1655.0], index=idx)
    r = metrics.returns_from_equity(equity, {idx[0].date(): Decimal("1000"), idx[2].date(): Decimal("500")})
    assert r.to_numpy() == pytest.approx([0.10, (1655 - 500) / 1100 - 1])
    assert metrics.total_return(r) == pytest.approx(1.10 * 1.05 - 1)
    # without the flows the deposit looks like a +50% day
    assert metrics.returns_from_equity(equity).iloc[-1] == pytest.approx(1655 / 1100 - 1)


def test_turnover_by_hand():
    # buy 1,000 and sell 1,000 of a 10,000 book: (1,000 + 1,000) / 2 / 10,000 = 10%
    assert metrics.turnover([Decimal("1000"), Decimal("-1000")], [10_000, 10_000]) == pytest.approx(0.10)
    assert math.isnan(metrics.turnover([1.0], []))


def test_slippage_by_hand():
    assert metrics.slippage_bps("buy", 100.0, 100.5) == pytest.approx(50.0)  # paid 0.5 more
    assert metrics.slippage_bps("sell", 100.0, 100.5) == pytest.approx(-50.0)  # received more: a gain
    out = metrics.slippage_bps(["buy", "SELL"], [118.0, 402.0], [118.6, 401.0])
    assert out == pytest.approx([0.6 / 118 * 1e4, 1 / 402 * 1e4])
    assert metrics.slippage_money("sell", Decimal("402"), Decimal("401"), Decimal("2")) == Decimal("2")


# ----------------------------------------------------------------- properties

returns_lists = st.lists(st.floats(min_value=-0.95, max_value=2.0, allow_nan=False), min_size=2, max_size=60)


@settings(max_examples=150, deadline=None)
@given(returns_lists)
def test_drawdown_invariants(values):
    r = pd.Series(values, index=pd.date_range("2020-01-01", periods=len(values)))
    dd = metrics.drawdown_series(r)
    assert (dd <= 1e-12).all() and (dd > -1).all()
    assert metrics.max_drawdown(r) == pytest.approx(dd.min() if dd.min() < 0 else 0.0)
    wealth = metrics.wealth_index(r)
    assert wealth.iloc[-1] == pytest.approx(1 + metrics.total_return(r), rel=1e-9)
    hr = metrics.hit_rate(r)
    assert math.isnan(hr) or 0.0 <= hr <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=1e6, allow_nan=False), min_size=2, max_size=40))
def test_equity_roundtrip(values):
    """Compounding the returns of an equity curve gives the curve back."""
    equity = pd.Series(values, index=pd.date_range("2020-01-01", periods=len(values)))
    rebuilt = values[0] * metrics.wealth_index(metrics.returns_from_equity(equity))
    assert np.allclose(rebuilt.to_numpy(), values[1:], rtol=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=0.01, max_value=1e5), st.floats(min_value=-0.2, max_value=0.2))
def test_slippage_is_antisymmetric_in_side(reference, move):
    fill = reference * (1 + move)
    assert metrics.slippage_bps("buy", reference, fill) == pytest.approx(-metrics.slippage_bps("sell", reference, fill))
    assert metrics.slippage_bps("buy", reference, fill) == pytest.approx(move * 1e4, abs=1e-6)
