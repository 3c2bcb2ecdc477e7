"""Benchmark: signal -> risk -> ticket for one decision session.

The daily run ranks ~100 symbols over ~300 sessions; research calls the same
signal once per rebalance date over 20 years, so the per-call cost on a long
history matters too.  Prices are a seeded random walk (no vendor data needed).
"""

from __future__ import annotations

import platform
import statistics
import time
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from ..calendar import get_calendar
from ..config import UNIVERSE_COLUMNS, parse_policy, parse_universe
from ..portfolio import PortfolioState
from ..risk import decide, reference_prices
from ..signals import compute_signal
from ..tickets import build_ticket

SESSION = date(2024, 3, 15)


def _market(n_symbols: int, n_sessions: int, seed: int = 1) -> tuple[pd.DataFrame, list[str]]:
    days = pd.DatetimeIndex(get_calendar().sessions_back(SESSION, n_sessions))
    rng = np.random.default_rng(seed)
    symbols = [f"S{i:04d}" for i in range(n_symbols)] + ["SPY"]
    logret = rng.normal(0.0003, 0.015, (len(symbols), len(days)))
    adj = np.round(50 * np.exp(np.cumsum(logret, axis=1)), 2)
    frame = pd.DataFrame(
        {
            "symbol": np.repeat(symbols, len(days)),
            "date": np.tile(days, len(symbols)),
            "close": adj.ravel(),
            "adj_close": adj.ravel(),
            "volume": rng.lognormal(14, 0.5, adj.size),
        }
    )
    return frame, symbols


def _universe(symbols: list[str]):
    rows = [",".join(UNIVERSE_COLUMNS)]
    rows += [f"{s},{s},{s},{s},{s},X,USD,{'ETF' if s == 'SPY' else 'stock'},true,-,-" for s in symbols]
    return parse_universe("\n".join(rows) + "\n", "SPY")


def _time(fn, repeat: int) -> float:
    """Median wall time of ``repeat`` calls, in seconds (after one warm-up call)."""
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def run() -> str:
    policy = parse_policy({})
    cal = get_calendar()
    window = cal.execution_window(cal.next_session(SESSION), 5, 60)
    rows = []
    for n_symbols, n_sessions, repeat in ((100, 300, 20), (500, 300, 10), (500, 5040, 5)):
        eod, symbols = _market(n_symbols, n_sessions)
        universe = _universe(symbols)
        t_signal = _time(lambda: compute_signal(eod, policy, SESSION, universe), repeat)
        sig = compute_signal(eod, policy, SESSION, universe)
        prices = reference_prices(eod, SESSION)
        held = {s: Decimal("3.5") for s in symbols[:20]}
        book = PortfolioState(as_of=SESSION, cash=Decimal("10000"), positions=held)
        t_risk = _time(lambda: decide(sig.ranked, book, prices, policy, universe, True, SESSION), repeat)
        _, decision = decide(sig.ranked, book, prices, policy, universe, True, SESSION)
        ticket = build_ticket(decision, [], window, policy, universe, "a" * 64, "b" * 64, "c" * 64, SESSION)

        def render():
            ticket.to_json()
            ticket.to_markdown()

        t_ticket = _time(render, repeat)
        rows.append(
            f"| {n_symbols} x {n_sessions:,} | {len(eod):,} | {t_signal * 1000:,.1f} | {t_risk * 1000:,.1f} | {len(decision.trades)} | {t_ticket * 1000:,.1f} |"
        )
    return "\n".join(
        [
            "## Trading: signal, risk guard, ticket",
            "",
            "One decision session (momentum signal, default policy, 20 holdings, rebalance day); median wall time "
            f"per call. Machine: {platform.machine()}, Python {platform.python_version()}. Command: `make bench`.",
            "",
            "| symbols x sessions | bars | signal (ms) | risk guard (ms) | trades | ticket JSON + Markdown (ms) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            "No target was set by the issue; the daily run's share (first row) is far below a second.",
        ]
    )
