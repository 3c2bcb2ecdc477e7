"""Profile: the share of the backtest engine's time spent in the signal (issue 20).

Workload: :func:`tradeops.research.backtest.run_backtest` with the live momentum
signal (:func:`tradeops.research.backtest.live_ranker`), the default policy
(drawdown halt resumed after 20 sessions: the shared set has no SPY), on the
104 shared AlphaVantage symbols, 2019-01-02 .. 2020-12-31, under cProfile.
"In the signal" is the cumulative time of the engine's ranker (``live_ranker``'s
``rank``/``rank_bars``: the history cut of the session and ``compute_signal`` on it;
on older code ``compute_signal`` plus the cut) over the cumulative time of
``run_backtest``.  Target: below 30%.

Runs on any checkout (absolute imports), so the same file measures the code
before and after a change: ``PYTHONPATH=<tree> python tradeops/bench/signal_share.py``.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from datetime import date
from pathlib import Path

START, END = date(2019, 1, 2), date(2020, 12, 31)
AV_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "alphavantage-sp500" / "daily_adjusted"
SIGNAL_FUNCS = ("compute_signal", "cut")  # the signal and the slicing of its input


def measure(av_dir: Path = AV_DIR) -> dict:
    from tradeops.calendar import get_calendar
    from tradeops.config import parse_policy
    from tradeops.research.backtest import run_backtest
    from tradeops.research.study import load_bars

    try:
        policy = parse_policy({"research": {"halt_resume": "sessions", "halt_resume_sessions": 20}})
    except Exception:  # a checkout from before the drawdown halt has no such keys
        policy = parse_policy({})
    cal = get_calendar(policy.schedule.exchange)
    eod, universe = load_bars("alphavantage", START, END, 200, policy, "momentum", av_dir, calendar=cal)[:2]  # (bars, universe[, source])
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    res = run_backtest(eod, policy, universe, START, END, calendar=cal)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    total = signal = 0.0
    calls = 0
    rankers = {
        name: (ncalls, cum) for (path, _, name), (_, ncalls, _, cum, _) in stats.stats.items() if path.endswith("backtest.py") and name in ("rank", "rank_bars")
    }
    for (path, _, name), (_, ncalls, _, cum, _) in stats.stats.items():
        if name == "run_backtest" and path.endswith("backtest.py"):
            total = max(total, cum)
        if not rankers and name == "compute_signal" and path.endswith("signals.py"):
            signal += cum
            calls += ncalls
        if not rankers and name == "cut" and path.endswith("backtest.py"):
            signal += cum
    if rankers:  # the engine's ranker: the history cut of the session and compute_signal on it
        calls, signal = sum(n for n, _ in rankers.values()), sum(c for _, c in rankers.values())
    return {
        "wall": wall,
        "engine": total,
        "signal": signal,
        "share": signal / total if total else float("nan"),
        "signal_calls": calls,
        "sessions": len(res.equity),
        "decisions": len(res.decisions),
        "fills": len(res.trades),
        "final_equity": float(res.equity.iloc[-1]),
    }


def row(label: str, m: dict) -> str:
    held = "holds" if m["share"] < 0.30 else "MISSED"
    return (
        f"| {label} | {m['sessions']} | {m['signal_calls']} | {m['engine']:.1f} | {m['signal']:.1f} | {m['share']:.0%} | {held} | "
        f"{m['fills']} | {m['final_equity']:,.2f} |"
    )


HEADER = (
    "| code | sessions | signal calls | engine (s, profiled) | in the signal (s) | share | target < 30% | fills | final equity |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
)


def run() -> str:
    from .common import machine

    m = measure()
    return "\n".join(
        [
            "## Research: share of the backtest engine's time in the signal (issue 20)",
            "",
            f"Machine: {machine()}. Command: `python tradeops/bench/signal_share.py` (cProfile; this section: `tradeops.bench.signal_share.run()`).",
            f"Momentum, default policy, 104 shared AlphaVantage symbols, {START} .. {END}; share = cumulative time in `compute_signal`"
            " (plus the history cut) / cumulative time in `run_backtest`.",
            "",
            HEADER,
            row("this checkout", m),
        ]
    )


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(measure(Path(sys.argv[1]) if len(sys.argv) > 1 else AV_DIR)))
