"""Returns-based performance metrics, used by the reports and the backtests.

Every function takes a pandas Series of simple periodic returns (0.01 is
+1%) indexed by date.  A missing observation (NaN, a gap in the data) is
skipped by the statistics and counts as a flat day in the wealth index, as
quantstats 0.0.86 does.  Results are plain floats; NaN means "not defined
for this input" (empty series, no variation, no drawdown...).

Definitions (periods = 252 sessions a year, rf = annual risk-free rate):

=================  =========================================================  ====================
metric             definition                                                 quantstats 0.0.86
=================  =========================================================  ====================
total_return       prod(1 + r) - 1                                            ``stats.comp``: same
cagr               (1 + total_return) ** (periods / n) - 1, n = observations  ``stats.cagr``: same
volatility         std(r, ddof=1) * sqrt(periods)                             ``stats.volatility``: same
sharpe             mean(x) / std(x, ddof=1) * sqrt(periods),                  ``stats.sharpe``: same
                   x = r - ((1 + rf) ** (1 / periods) - 1)
sortino            mean(x) / sqrt(sum(min(x, 0) ** 2) / n) * sqrt(periods)    ``stats.sortino``: same
drawdown_series    W / max(1, running max of W) - 1, W = prod(1 + r) so far   ``stats.to_drawdown_series``: same
max_drawdown       min(drawdown_series, 0)                                    ``stats.max_drawdown``: same
calmar             cagr / abs(max_drawdown)                                   ``stats.calmar``: same
hit_rate           #(r > 0) / #(r != 0)                                       ``stats.win_rate``: same
=================  =========================================================  ====================

Where they differ from quantstats (tests/reports/test_metrics.py checks
each difference against a hand formula):

* quantstats *guesses* whether a series holds prices (all values >= 0 and
  one above 1) and silently converts it; these functions always take
  returns, so a run of large positive returns (+150%) is never mistaken
  for prices.
* Degenerate inputs give NaN here: an empty series (quantstats raises), a
  zero drawdown in ``calmar`` (quantstats divides by zero), no non-zero
  return in ``hit_rate`` (quantstats returns 0.0 with a warning), zero
  volatility in ``sharpe``.
* ``returns_from_equity`` neutralises deposits and withdrawals (time-weighted
  return); quantstats has no notion of cash flows.
* ``turnover`` and ``slippage_bps`` have no quantstats counterpart.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import pandas as pd

PERIODS = 252  # sessions per year


def _clean(returns: pd.Series) -> pd.Series:
    r = pd.Series(returns, dtype=float)
    return r.replace([np.inf, -np.inf], np.nan)


def returns_from_equity(equity: pd.Series, flows: Mapping | pd.Series | None = None) -> pd.Series:
    """Time-weighted returns of an equity curve: r_t = (E_t - F_t) / E_{t-1} - 1.

    ``flows`` are external cash flows (deposits positive, withdrawals
    negative) included in the closing equity of their date, so a deposit is
    not counted as a gain.  The first date has no return and is dropped.
    """
    e = pd.Series(equity, dtype=float)
    f = pd.Series(0.0, index=e.index)
    if flows is not None:
        given = pd.Series({pd.Timestamp(k): float(v) for k, v in dict(flows).items()}, dtype=float)
        f = given.reindex(pd.DatetimeIndex(e.index)).fillna(0.0).set_axis(e.index)
    r = (e - f) / e.shift(1) - 1.0
    return r.iloc[1:]


def total_return(returns: pd.Series) -> float:
    r = _clean(returns).dropna()
    return float((1.0 + r).prod() - 1.0) if len(r) else float("nan")


def cagr(returns: pd.Series, periods: int = PERIODS) -> float:
    """Compound annual growth rate over the observed sessions (n / periods years)."""
    n = _clean(returns).count()
    if n == 0:
        return float("nan")
    wealth = 1.0 + total_return(returns)
    return float(wealth ** (periods / n) - 1.0) if wealth >= 0 else float("nan")


def volatility(returns: pd.Series, periods: int = PERIODS) -> float:
    """Annualised standard deviation (sample, ddof=1)."""
    return float(_clean(returns).std(ddof=1) * np.sqrt(periods))


def _excess(returns: pd.Series, rf: float, periods: int) -> pd.Series:
    return _clean(returns) - ((1.0 + rf) ** (1.0 / periods) - 1.0)


def sharpe(returns: pd.Series, rf: float = 0.0, periods: int = PERIODS) -> float:
    """Annualised Sharpe ratio of returns in excess of the de-annualised rf."""
    x = _excess(returns, rf, periods)
    sd = x.std(ddof=1)
    return float(x.mean() / sd * np.sqrt(periods)) if sd and np.isfinite(sd) else float("nan")


def sortino(returns: pd.Series, rf: float = 0.0, periods: int = PERIODS) -> float:
    """Annualised Sortino ratio: downside deviation below 0 over *all* observations."""
    x = _excess(returns, rf, periods)
    n = x.count()
    if n == 0:
        return float("nan")
    downside = np.sqrt((x.clip(upper=0.0) ** 2).sum() / n)
    return float(x.mean() / downside * np.sqrt(periods)) if downside > 0 else float("nan")


def wealth_index(returns: pd.Series) -> pd.Series:
    """Growth of 1 unit; a gap counts as a flat day."""
    return (1.0 + _clean(returns).fillna(0.0)).cumprod()


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Drawdown from the running peak (<= 0), the starting value 1 counting as a peak."""
    w = wealth_index(returns)
    peak = np.maximum(w.cummax(), 1.0)
    return w / peak - 1.0


def max_drawdown(returns: pd.Series) -> float:
    dd = drawdown_series(returns)
    return float(min(dd.min(), 0.0)) if len(dd) else float("nan")


def calmar(returns: pd.Series, periods: int = PERIODS) -> float:
    mdd = max_drawdown(returns)
    return cagr(returns, periods) / abs(mdd) if mdd < 0 else float("nan")


def hit_rate(returns: pd.Series) -> float:
    """Share of non-zero periods with a positive return."""
    r = _clean(returns).dropna()
    moved = int((r != 0).sum())
    return int((r > 0).sum()) / moved if moved else float("nan")


def turnover(traded_value, equity) -> float:
    """One-way turnover: sum of |traded value| / 2 / mean equity over the period.

    Buying 1,000 and selling 1,000 of a 10,000 book is 10%.  ``traded_value``
    is any iterable of trade values (sign ignored); ``equity`` the period's
    equity values.  No quantstats counterpart.
    """
    traded = float(sum(abs(Decimal(str(v))) for v in traded_value))
    eq = np.asarray([float(v) for v in equity], dtype=float)
    if len(eq) == 0 or eq.mean() <= 0:
        return float("nan")
    return traded / 2.0 / float(eq.mean())


def slippage_bps(side, reference, fill):
    """Execution cost in basis points of the reference price; positive = worse.

    A buy filled above its reference, or a sell filled below it, costs money:
    ``sign * (fill - reference) / reference * 10_000`` with sign +1 for buys
    and -1 for sells.  Vectorised: scalars or equal-length arrays.
    """
    side = np.asarray(side)
    sign = np.where(np.char.lower(side.astype(str)) == "sell", -1.0, 1.0)
    ref = np.asarray(reference, dtype=float)
    px = np.asarray(fill, dtype=float)
    out = sign * (px - ref) / ref * 10_000.0
    return float(out) if out.ndim == 0 else out


def slippage_money(side: str, reference: Decimal, fill: Decimal, units: Decimal) -> Decimal:
    """Execution cost in account currency (positive = paid more / received less)."""
    sign = Decimal(-1) if side.lower() == "sell" else Decimal(1)
    return sign * (fill - reference) * units


def summary(returns: pd.Series, rf: float = 0.0, periods: int = PERIODS) -> dict[str, float]:
    """Every return metric of one series, keyed by name."""
    return {
        "total_return": total_return(returns),
        "cagr": cagr(returns, periods),
        "volatility": volatility(returns, periods),
        "sharpe": sharpe(returns, rf, periods),
        "sortino": sortino(returns, rf, periods),
        "max_drawdown": max_drawdown(returns),
        "calmar": calmar(returns, periods),
        "hit_rate": hit_rate(returns),
    }
