"""Benchmark: our backtest engine vs backtrader vs a bare numpy loop (issue 8).

Workload (the issue's): 12-1 momentum (adjusted close 21 sessions ago over
252 sessions ago), the top 15 held equal-weight, rebalanced weekly (decided
after the close of the week's first session's eve, executed at the next
open), 10 bps commission, no slippage, 2005-01-03 .. 2021-04-16, on the
104 shared AlphaVantage symbols and on 500 seeded demo symbols.  The scores
are computed once, outside the timings; each engine is timed on the same
bars in the same process.

- ours: :func:`tradeops.research.backtest.run_backtest` (Decimal book, the
  live risk guard :func:`tradeops.risk.decide` on every rebalance, splits and
  dividends on raw prices); kill switch and risk-off switched off so the
  three engines hold the same book.
- backtrader: one feed per symbol on adjusted prices, ``order_target_percent``
  at the next open.
- numpy: a loop over sessions on adjusted prices, vectorised over symbols.

Final equities differ a little (the risk guard keeps a 2% cash buffer and
skips tiny deltas; backtrader sizes whole shares); they are printed so a
reader can see the three run the same strategy.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ..calendar import get_calendar
from ..config import parse_policy
from ..research.backtest import Costs, run_backtest
from ..research.sources import alphavantage_symbols, from_alphavantage_dir, from_demo
from ..research.study import universe_of
from ..signals import Regime, SignalResult

START, END = date(2005, 1, 3), date(2021, 4, 16)
TOP, COST_BPS, LOOKBACK, SKIP = 15, 10.0, 252, 21
AV_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "alphavantage-sp500" / "daily_adjusted"
POLICY = parse_policy(
    {
        "portfolio": {"target_positions": TOP, "min_positions": 10, "max_turnover": 2.0, "risk_off_to_cash": False},
        "risk": {"kill_switch_drawdown": 0.99, "drawdown_warning": 0.98},
    }
)


def momentum_scores(eod: pd.DataFrame) -> pd.DataFrame:
    """Session x symbol 12-1 momentum on adjusted closes (NaN where history is short)."""
    adj = eod.pivot(index="date", columns="symbol", values="adj_close").sort_index()
    return adj.shift(SKIP) / adj.shift(LOOKBACK) - 1.0


def _ours(eod: pd.DataFrame, scores: pd.DataFrame, stocks: list[str]) -> float:
    universe = universe_of(stocks, POLICY.universe.benchmark)
    regime = Regime(POLICY.universe.benchmark, 200, None, None, None, "not used")
    scores = scores[stocks]

    def rank(d: date) -> SignalResult:
        row = scores.loc[pd.Timestamp(d)].dropna().sort_values(ascending=False, kind="stable")
        frame = pd.DataFrame({"symbol": row.index, "score": row.to_numpy(), "rank": np.arange(1, len(row) + 1)})
        frame["selected"] = frame["rank"] <= TOP
        return SignalResult(d, "momentum_12_1", frame, {}, "12-1 momentum", regime, [])

    res = run_backtest(eod, POLICY, universe, START, END, rank, Costs(COST_BPS, 0.0), daily_checks=False)
    return float(res.equity.iloc[-1])


def _grids(eod: pd.DataFrame, scores: pd.DataFrame, stocks: list[str]):
    sessions = pd.DatetimeIndex(get_calendar().sessions(START, END))
    adj = eod.assign(ao=eod["adj_open"]).pivot(index="date", columns="symbol", values=["ao", "adj_close"]).reindex(sessions)
    opens, closes = adj["ao"][stocks], adj["adj_close"][stocks]
    return sessions, opens, closes, scores.reindex(sessions)[stocks]


def _rebalance_days(sessions: pd.DatetimeIndex) -> np.ndarray:
    """Decision rows: the eve of each week's first session (as the live weekly rebalance)."""
    week = sessions.to_period("W-SUN")
    first = np.r_[True, week[1:] != week[:-1]]
    return np.flatnonzero(first)[1:] - 1


def _numpy(sessions, opens, closes, scores) -> float:
    o, c, s = opens.to_numpy(), closes.to_numpy(), scores.to_numpy()
    decide = np.zeros(len(sessions), bool)
    decide[_rebalance_days(sessions)] = True
    cash, units, fee = 10_000.0, np.zeros(o.shape[1]), COST_BPS / 1e4
    pending = None
    for i in range(len(sessions)):
        if pending is not None:
            px = np.nan_to_num(o[i])
            equity = cash + units @ px
            target = np.where(px > 0, equity * pending / np.where(px > 0, px, 1.0), units)
            traded = np.abs(target - units) @ px
            cash += (units - target) @ px - traded * fee
            units, pending = target, None
        if decide[i]:
            row = np.where(np.isfinite(s[i]) & (c[i] > 0), s[i], -np.inf)
            top = np.argsort(-row, kind="stable")[:TOP]
            top = top[np.isfinite(row[top])]
            pending = np.zeros(o.shape[1])
            pending[top] = 0.98 / TOP
    return float(cash + units @ np.nan_to_num(c[-1]))


def _backtrader(sessions, opens, closes, scores) -> float:
    import backtrader as bt

    decide_on = set(sessions[_rebalance_days(sessions)].date)
    score_rows = {d.date(): r for d, r in zip(sessions, scores.to_numpy())}
    names = list(closes.columns)

    class Momentum(bt.Strategy):
        def next(self):
            d = self.datas[0].datetime.date(0)
            if d not in decide_on:
                return
            row = score_rows[d]
            order = [k for k in np.argsort(-np.nan_to_num(row, nan=-np.inf), kind="stable") if np.isfinite(row[k])][:TOP]
            keep = set(order)
            for k, data in enumerate(self.datas):
                if k not in keep and self.getposition(data).size:
                    self.order_target_percent(data, 0.0)
            for k in order:
                self.order_target_percent(self.datas[k], 0.98 / TOP)

    cerebro = bt.Cerebro(stdstats=False)
    oo, cc = opens.ffill().bfill(), closes.ffill().bfill()
    for k, name in enumerate(names):
        frame = pd.DataFrame(
            {"open": oo[name], "high": cc[name].combine(oo[name], max), "low": cc[name].combine(oo[name], min), "close": cc[name], "volume": 1e9},
            index=sessions,
        )
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=name)
    cerebro.addstrategy(Momentum)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=COST_BPS / 1e4)
    cerebro.broker.set_checksubmit(False)
    cerebro.run(runonce=True, preload=True)
    return float(cerebro.broker.getvalue())


def _timed(fn, *args) -> tuple[float, float]:
    t0 = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - t0, value


def _case(label: str, eod: pd.DataFrame, stocks: list[str]) -> str:
    scores = momentum_scores(eod)
    grids = _grids(eod, scores, stocks)
    t_ours, e_ours = _timed(_ours, eod, scores, stocks)
    t_bt, e_bt = _timed(_backtrader, *grids)
    t_np, e_np = _timed(_numpy, *grids)
    return (
        f"| {label} | {len(stocks)} | {len(grids[0])} | {t_ours:.2f} | {t_bt:.2f} | {t_np:.3f} | "
        f"{t_bt / t_ours:.2f}x | {t_ours / t_np:.0f}x | {e_ours:,.0f} / {e_bt:,.0f} / {e_np:,.0f} |"
    )


def run() -> str:
    import backtrader as bt

    rows = []
    if AV_DIR.is_dir():
        stocks = alphavantage_symbols(AV_DIR)
        first = get_calendar().session_offset(START, -(LOOKBACK + 5))
        rows.append(_case("AlphaVantage (shared)", from_alphavantage_dir(AV_DIR, stocks, first, END), stocks))
    demo = [f"D{i:03d}" for i in range(500)]
    first = get_calendar().session_offset(START, -(LOOKBACK + 5))
    rows.append(_case("demo (seeded)", from_demo(demo + ["SPY"], first, END, 42, "SPY"), demo))
    return "\n".join(
        [
            "## Research: backtest engine vs backtrader vs numpy",
            "",
            f"12-1 momentum, top {TOP}, weekly rebalance, {COST_BPS:g} bps, {START}..{END}; one run each, seconds "
            f"(backtrader {bt.__version__}). Target (issue 8): at least as fast as the fastest peer, within 3x of a bare numpy loop.",
            "",
            "| data | symbols | sessions | ours (s) | backtrader (s) | numpy (s) | backtrader / ours | ours / numpy | final equity ours / bt / numpy |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
            "",
            "Ours runs the live risk guard (Decimal book, `tradeops.risk.decide`) on every weekly rebalance; "
            "the numpy loop is the floor a pure array engine could reach.  Command: `make bench` (`python -m tradeops.bench research`).",
        ]
    )


if __name__ == "__main__":  # pragma: no cover
    print(run())
