"""Benchmark (issue 11): the array engine vs the exact engine vs vectorbt vs a bare numpy loop.

One process, the same bars for all four: the 104 shared AlphaVantage symbols and 500 seeded
demo symbols, 2005-01-03 .. 2021-04-16.  Two workloads:

- **12-1 momentum** (the peers' workload, as in the research section): adjusted close 21
  sessions ago over 252 sessions ago, top 15 equal weight, weekly, 10 bps commission, no
  slippage; the scores are computed once, outside the timings.  The exact engine gets them
  through a ranker (as in :mod:`tradeops.bench.research`), the array engine as a
  :class:`~tradeops.research.array_engine.SignalPanel`; both run the same policy (guard rules
  on, kill switch and risk-off off) and must end on the same equity (1e-6 relative);
  vectorbt (``Portfolio.from_orders``, target percent at the next open) and the numpy loop
  rebalance to 0.98 / 15 without the guard.
- **live momentum** (the default policy and the live signal, weekly, halts on): the exact
  engine with :func:`~tradeops.research.backtest.live_ranker` against the array engine with
  :func:`~tradeops.research.array_engine.momentum_panel` (the panel's time included).

The array engine's numba functions are compiled once and cached on disk (``__pycache__``);
the first call's time (compile, or load from the cache) is reported apart.  Peak memory: the
``tracemalloc`` peak of each step (numpy and pandas allocations; numba's own are not seen).
"""

from __future__ import annotations

import os
import time
import tracemalloc

import numpy as np
import pandas as pd

from ..calendar import get_calendar
from ..config import parse_policy
from ..research import array_engine as ae
from ..research.backtest import Costs, Market, run_backtest
from ..research.sources import alphavantage_symbols, from_alphavantage_dir, from_demo
from ..research.study import universe_of
from .research import AV_DIR, COST_BPS, END, LOOKBACK, POLICY, START, TOP, _grids, _numpy, _ours, _rebalance_days, momentum_scores


def _measure(fn, *args):
    tracemalloc.start()
    t0 = time.perf_counter()
    value = fn(*args)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return dt, peak / 2**20, value


def _panel(scores: pd.DataFrame, market: Market, stocks: list[str]) -> ae.SignalPanel:
    """The bench ranker's ranking (score descending, ties by symbol) as a panel."""
    s = scores.reindex(index=market.sessions, columns=market.symbols)
    s.loc[:, [c for c in market.symbols if c not in set(stocks)]] = np.nan
    x = s.to_numpy(float)
    ok = np.isfinite(x)
    order = np.argsort(np.where(ok, -x, np.inf), axis=1, kind="stable")
    rank = np.zeros(x.shape, np.int32)
    np.put_along_axis(rank, order, np.arange(1, x.shape[1] + 1, dtype=np.int32)[None, :].repeat(x.shape[0], 0), axis=1)
    rank[~ok] = 0
    return ae.SignalPanel(np.where(ok, x, np.nan), rank, ok & (rank <= TOP), np.zeros(x.shape[0], bool))


def _array(eod, stocks, panel, market) -> float:
    res = ae.run_array_backtest(eod, POLICY, universe_of(stocks, POLICY.universe.benchmark), START, END, Costs(COST_BPS, 0.0),
                                daily_checks=False, market=market, signal=panel)
    return float(res.equity.iloc[-1])


def _vectorbt(sessions, opens, closes, scores) -> float:
    import vectorbt as vbt

    s = scores.to_numpy()
    size = np.full(s.shape, np.nan)
    for i in _rebalance_days(sessions):
        if i + 1 >= len(sessions):
            continue
        row = np.where(np.isfinite(s[i]) & (closes.to_numpy()[i] > 0), s[i], -np.inf)
        top = np.argsort(-row, kind="stable")[:TOP]
        top = top[np.isfinite(row[top])]
        size[i + 1] = 0.0
        size[i + 1, top] = 0.98 / TOP
    pf = vbt.Portfolio.from_orders(close=closes.ffill(), price=opens.ffill(), size=size, size_type="targetpercent", group_by=True,
                                   cash_sharing=True, call_seq="auto", fees=COST_BPS / 1e4, init_cash=10_000.0, freq="1D")
    return float(pf.value().iloc[-1])


def _case(label: str, eod: pd.DataFrame, stocks: list[str]) -> tuple[str, str]:
    scores = momentum_scores(eod)
    grids = _grids(eod, scores, stocks)
    market = Market(eod, get_calendar())
    panel = _panel(scores, market, stocks)
    t_first, _, _ = _measure(_array, eod, stocks, panel, market)  # compile (or load the on-disk cache) + run
    t_arr, m_arr, e_arr = _measure(_array, eod, stocks, panel, market)
    t_ex, m_ex, e_ex = _measure(_ours, eod, scores, stocks)
    t_np, m_np, e_np = _measure(_numpy, *grids)
    try:
        _vectorbt(*grids)  # numba warm-up of vectorbt's own kernels, as ours above
        t_vb, m_vb, e_vb = _measure(_vectorbt, *grids)
        vb = f"{t_vb:.3f} | {m_vb:.0f}"
        ratio = f"{t_arr / t_vb:.2f}"
    except ImportError:
        vb, ratio, e_vb = "not installed | -", "-", float("nan")
    rel = abs(e_arr / e_ex - 1)
    row = (f"| {label} | {len(stocks)} | {len(grids[0])} | {t_first - t_arr:.2f} | {t_arr:.3f} | {m_arr:.0f} | {t_ex:.2f} | {m_ex:.0f} | "
           f"{vb} | {t_np:.3f} | {ratio} | {t_arr / t_np:.1f} | {t_ex / t_arr:.0f}x | {e_arr:,.2f} / {e_ex:,.2f} ({rel:.1e}) / {e_vb:,.0f} / {e_np:,.0f} |")
    live = _live(label, eod, stocks)
    return row, live


def _live(label: str, eod: pd.DataFrame, stocks: list[str]) -> str:
    policy = parse_policy({"research": {"halt_resume": "sessions", "halt_resume_sessions": 60}})
    universe = universe_of([s for s in stocks if s != "SPY"], "SPY")
    cal = get_calendar()

    def array():
        market = Market(eod, cal)
        return ae.run_array_backtest(eod, policy, universe, START, END, market=market, signal=ae.momentum_panel(eod, policy, universe, market),
                                     daily_checks=False)

    t_a, _, ra = _measure(array)
    t_x, _, rx = _measure(lambda: run_backtest(eod, policy, universe, START, END, daily_checks=False))
    ea, ex = float(ra.equity.iloc[-1]), float(rx.equity.iloc[-1])
    return f"| {label} | {len(stocks)} | {t_a:.2f} | {t_x:.2f} | {t_x / t_a:.0f}x | {ea:,.2f} / {ex:,.2f} ({abs(ea / ex - 1):.1e}) |"


def _sweep(eod: pd.DataFrame, stocks: list[str]) -> str:
    """The issue's 64-variant sweep (4 lookbacks x 2 top N x 2 frequencies x 4 cost multiples) over 2 local processes."""
    from ..research import sweep

    policy = parse_policy({"research": {"halt_resume": "sessions", "halt_resume_sessions": 60}})
    universe = universe_of([s for s in stocks if s != "SPY"], "SPY")
    variants = sweep.grid()
    t0 = time.perf_counter()
    returns = sweep.run_sweep(eod, policy, universe, START, END, variants, n_jobs=2)
    dt = time.perf_counter() - t0
    report = sweep.judge_sweep(returns, policy)
    gate = "no verdict" if report.verdict is None else ("PASS" if report.verdict.granted else "FAIL")
    return (f"| {len(stocks)} | {returns.shape[1]} | {returns.shape[0]} | {dt:.1f} | {report.candidate} | "
            f"{report.pbo if report.pbo is not None else float('nan'):.3f} | {gate} |")


def run() -> str:
    before = "load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    cal = get_calendar()
    first = cal.session_offset(START, -(max(LOOKBACK, 300) + 5))
    cases, sweeps = [], []
    if AV_DIR.is_dir():
        stocks = alphavantage_symbols(AV_DIR)
        av = from_alphavantage_dir(AV_DIR, stocks, first, END)
        cases.append(_case("AlphaVantage (shared)", av, stocks))
        sweeps.append(_sweep(av, stocks))
    demo = [f"D{i:03d}" for i in range(500)]
    cases.append(_case("demo (seeded)", from_demo(demo + ["SPY"], first, END, 42, "SPY"), demo))
    try:
        import vectorbt

        vb = f"vectorbt {vectorbt.__version__}"
    except ImportError:
        vb = "vectorbt not installed (`pip install -e '.[bench]'`)"
    load = before
    return "\n".join([
        "## Research: array engine vs exact engine vs vectorbt vs numpy (issue 11)",
        "",
        f"12-1 momentum, top {TOP}, weekly, {COST_BPS:g} bps, {START}..{END}, one process, same bars; seconds, tracemalloc peak MiB ({vb}; {load}).",
        "Targets: array / vectorbt <= 1.0, array / numpy <= 3, array peak memory <= vectorbt's; array and exact final equity within 1e-6.",
        "",
        "| data | symbols | sessions | array compile/load (s) | array (s) | array MiB | exact (s) | exact MiB | vectorbt (s) | vectorbt MiB | numpy (s) | array / vectorbt | array / numpy | exact / array | final equity array / exact (rel) / vectorbt / numpy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *(c[0] for c in cases),
        "",
        "Live momentum (default policy, the live signal, weekly, drawdown halt on): the array engine with its vectorised signal "
        "(panel time included) against the exact engine with the live ranker.",
        "",
        "| data | symbols | array incl. signal (s) | exact (s) | exact / array | final equity array / exact (rel) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        *(c[1] for c in cases),
        "",
        "The 64-variant sweep (`tradeops backtest sweep` defaults: lookbacks 40,60,90,120 x top 10,15 x weekly,monthly x costs 1-4x) "
        "on the array engine over 2 local processes (joblib), wall time including the workers' start, one market and one signal panel per (lookback, top N). Target: under 60 s.",
        "",
        "| symbols | variants | sessions | wall (s) | would be promoted | PBO | gate |",
        "| ---: | ---: | ---: | ---: | --- | ---: | --- |",
        *sweeps,
        "",
        "Command: `make bench` (`python -m tradeops.bench array`).  load average after: {:.2f} {:.2f} {:.2f}.".format(*os.getloadavg()),
    ])


if __name__ == "__main__":  # pragma: no cover
    print(run())
