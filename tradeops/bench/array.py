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
the first call's time (compile, or load from the cache) is reported apart.  The timings run
without ``tracemalloc`` (it slows every Python allocation, so it would tax the Python-heavy
engines more).

Peak memory (:func:`peak_rss_step`): each engine's step in a process of its own (``python -m
tradeops.bench.array --peak CASE ENGINE``), on the same bars built the same way: one warm-up
run (numba compile or cache load, vectorbt's kernels), the freed heap handed back to the
system (``malloc_trim``), the kernel's resident high-water mark reset (``/proc/self/clear_refs``),
then one run; the figure is the high-water mark (``VmHWM``) minus the resident size before
that run.  Resident memory sees every allocation, numba's (NRT) and pyarrow's included,
which ``tracemalloc`` does not.  Linux only (elsewhere the column says so).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from ..calendar import get_calendar
from ..files import write_control
from ..config import parse_policy
from ..research import array_engine as ae
from ..research.backtest import Costs, Market, run_backtest
from ..research.sources import alphavantage_symbols, from_alphavantage_dir, from_demo
from ..research.study import universe_of
from .research import AV_DIR, COST_BPS, END, LOOKBACK, POLICY, START, TOP, _grids, _numpy, _ours, _rebalance_days, momentum_scores


def _measure(fn, *args):
    t0 = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - t0, None, value


def _status_mib(*keys: str) -> list[float]:
    found = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            k, _, v = line.partition(":")
            if k in keys:
                found[k] = int(v.split()[0]) / 1024  # kB
    return [found[k] for k in keys]


def peak_rss_step(fn, *args) -> float:
    """MiB of resident memory one run of ``fn(*args)`` adds at its peak, after a warm-up run
    (see the module's docstring)."""
    fn(*args)
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the freed heap stays, the figure is a floor
        pass
    write_control("/proc/self/clear_refs", "5")  # reset VmHWM to the current resident size
    (before,) = _status_mib("VmRSS")
    fn(*args)
    (hwm,) = _status_mib("VmHWM")
    return hwm - before


CASES = ("shared", "demo")
ENGINES_MEASURED = ("array", "exact", "vectorbt", "numpy")


def _inputs(case: str):
    """The bars, stocks, scores, grids, market and panel of a case, built as :func:`run` builds them."""
    cal = get_calendar()
    first = cal.session_offset(START, -(max(LOOKBACK, 300) + 5))
    if case == "shared":
        stocks = alphavantage_symbols(AV_DIR)
        eod = from_alphavantage_dir(AV_DIR, stocks, first, END)
    else:
        stocks = [f"D{i:03d}" for i in range(500)]
        eod = from_demo(stocks + ["SPY"], first, END, 42, "SPY")
    scores = momentum_scores(eod)
    grids = _grids(eod, scores, stocks)
    market = Market(eod, cal)
    return eod, stocks, scores, grids, market, _panel(scores, market, stocks)


def _peak_child(case: str, engine: str) -> float:
    eod, stocks, scores, grids, market, panel = _inputs(case)
    steps = {"array": (_array, eod, stocks, panel, market), "exact": (_ours, eod, scores, stocks), "vectorbt": (_vectorbt, *grids), "numpy": (_numpy, *grids)}
    fn, *args = steps[engine]
    return peak_rss_step(fn, *args)


def peak_rss(case: str, engine: str) -> str:
    """The peak-memory figure of one engine on one case, from a process of its own."""
    if not os.path.exists("/proc/self/clear_refs"):
        return "n/a (Linux only)"
    out = subprocess.run([sys.executable, "-m", "tradeops.bench.array", "--peak", case, engine], capture_output=True, text=True)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return "not installed" if "ModuleNotFoundError" in last else f"failed ({last[:60]})"
    return f"{json.loads(out.stdout.strip().splitlines()[-1])['peak_mib']:.0f}"


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
    res = ae.run_array_backtest(
        eod, POLICY, universe_of(stocks, POLICY.universe.benchmark), START, END, Costs(COST_BPS, 0.0), daily_checks=False, market=market, signal=panel
    )
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
    pf = vbt.Portfolio.from_orders(
        close=closes.ffill(),
        price=opens.ffill(),
        size=size,
        size_type="targetpercent",
        group_by=True,
        cash_sharing=True,
        call_seq="auto",
        fees=COST_BPS / 1e4,
        init_cash=10_000.0,
        freq="1D",
    )
    return float(pf.value().iloc[-1])


def _case(label: str, case: str) -> tuple[str, str, str]:
    eod, stocks, scores, grids, market, panel = _inputs(case)
    t_first, _, _ = _measure(_array, eod, stocks, panel, market)  # compile (or load the on-disk cache) + run
    t_arr, _, e_arr = _measure(_array, eod, stocks, panel, market)
    t_ex, _, e_ex = _measure(_ours, eod, scores, stocks)
    t_np, _, e_np = _measure(_numpy, *grids)
    try:
        _vectorbt(*grids)  # numba warm-up of vectorbt's own kernels, as ours above
        t_vb, _, e_vb = _measure(_vectorbt, *grids)
        vb = f"{t_vb:.3f}"
        ratio = f"{t_arr / t_vb:.2f}"
    except ImportError:
        vb, ratio, e_vb = "not installed", "-", float("nan")
    rel = abs(e_arr / e_ex - 1)
    row = (
        f"| {label} | {len(stocks)} | {len(grids[0])} | {t_first - t_arr:.2f} | {t_arr:.3f} | {t_ex:.2f} | "
        f"{vb} | {t_np:.3f} | {ratio} | {t_arr / t_np:.1f} | {t_ex / t_arr:.0f}x | {e_arr:,.2f} / {e_ex:,.2f} ({rel:.1e}) / {e_vb:,.0f} / {e_np:,.0f} |"
    )
    live = _live(label, eod, stocks)
    del eod, scores, grids, market, panel
    peaks = {e: peak_rss(case, e) for e in ENGINES_MEASURED}
    try:
        verdict = "yes" if float(peaks["array"]) <= float(peaks["vectorbt"]) else "no"
    except ValueError:
        verdict = "-"
    mem = f"| {label} | {len(stocks)} | " + " | ".join(peaks[e] for e in ENGINES_MEASURED) + f" | {verdict} |"
    return row, live, mem


def _live(label: str, eod: pd.DataFrame, stocks: list[str]) -> str:
    policy = parse_policy({"research": {"halt_resume": "sessions", "halt_resume_sessions": 60}})
    universe = universe_of([s for s in stocks if s != "SPY"], "SPY")
    cal = get_calendar()

    def array():
        market = Market(eod, cal)
        return ae.run_array_backtest(
            eod, policy, universe, START, END, market=market, signal=ae.momentum_panel(eod, policy, universe, market), daily_checks=False
        )

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
    return (
        f"| {len(stocks)} | {returns.shape[1]} | {returns.shape[0]} | {dt:.1f} | {report.candidate} | "
        f"{report.pbo if report.pbo is not None else float('nan'):.3f} | {gate} |"
    )


def run() -> str:
    before = "load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    cal = get_calendar()
    first = cal.session_offset(START, -(max(LOOKBACK, 300) + 5))
    cases, sweeps = [], []
    if AV_DIR.is_dir():
        cases.append(_case("AlphaVantage (shared)", "shared"))
        stocks = alphavantage_symbols(AV_DIR)
        sweeps.append(_sweep(from_alphavantage_dir(AV_DIR, stocks, first, END), stocks))
    cases.append(_case("demo (seeded)", "demo"))
    try:
        import vectorbt

        vb = f"vectorbt {vectorbt.__version__}"
    except ImportError:
        vb = "vectorbt not installed (`pip install -e '.[bench]'`)"
    load = before
    return "\n".join(
        [
            "## Research: array engine vs exact engine vs vectorbt vs numpy (issue 11)",
            "",
            f"12-1 momentum, top {TOP}, weekly, {COST_BPS:g} bps, {START}..{END}, one process, same bars; seconds ({vb}; {load}).",
            "Targets: array / vectorbt <= 1.0, array / numpy <= 3, array peak memory <= vectorbt's; array and exact final equity within 1e-6.",
            "",
            "| data | symbols | sessions | array compile/load (s) | array (s) | exact (s) | vectorbt (s) | numpy (s) | array / vectorbt | array / numpy | exact / array | final equity array / exact (rel) / vectorbt / numpy |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            *(c[0] for c in cases),
            "",
            "Peak memory of each step, MiB of resident memory above the process's size before the step (VmHWM after a reset), "
            "each engine in a process of its own after one warm-up run (numba's allocations included; see tradeops/bench/array.py).",
            "",
            "| data | symbols | array | exact | vectorbt | numpy loop | array <= vectorbt |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
            *(c[2] for c in cases),
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
            "Command: `make bench` (all sections), or this section alone: `nice -n 10 python -m tradeops.bench.array` (prints it).  load average after: {:.2f} {:.2f} {:.2f}.".format(
                *os.getloadavg()
            ),
        ]
    )


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:2] == ["--peak"]:
        case, engine = sys.argv[2], sys.argv[3]
        if case not in CASES or engine not in ENGINES_MEASURED:
            sys.exit(f"usage: python -m tradeops.bench.array --peak {{{','.join(CASES)}}} {{{','.join(ENGINES_MEASURED)}}}")
        print(json.dumps({"case": case, "engine": engine, "peak_mib": _peak_child(case, engine)}))
    else:
        print(run())
