"""Benchmark: metrics against quantstats, and building the reports.

No issue sets a speed target for reports; these figures show that the
report stage is a few seconds of a daily run, and where the time goes
(the quantstats tearsheet).  Inputs are seeded synthetic series.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from .. import metrics, reports
from ..calendar import get_calendar

YEARS = 5
SERIES = 100


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _inputs(sessions: list, rng: np.random.Generator) -> reports.ReportInputs:
    idx = pd.DatetimeIndex(sessions)
    wealth = 10_000 * np.cumprod(1 + rng.normal(0.0004, 0.011, len(idx)))
    bench = 400 * np.cumprod(1 + rng.normal(0.0003, 0.010, len(idx)))
    positions = tuple(reports.Position(f"S{i:02d}", Decimal(10), Decimal(str(round(wealth[-1] / 400, 2))), Decimal(1000), f"Sector {i % 6}") for i in range(20))
    invested = sum((p.value for p in positions), Decimal(0))
    equity = pd.Series([Decimal(str(round(v, 2))) for v in wealth], index=idx)
    cash = equity.iloc[-1] - invested
    as_of = idx[-1].date()
    lines = tuple(
        reports.ReportLine(
            f"TICKET-{as_of:%Y%m%d}",
            as_of,
            f"S{i:02d}",
            "buy" if i % 2 else "sell",
            Decimal(5),
            Decimal(100),
            "executed",
            Decimal(5),
            Decimal("100.10"),
            confirmed_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
            deadline=datetime(2024, 1, 1, tzinfo=timezone.utc),
        )
        for i in range(20)
    )
    return reports.ReportInputs(
        as_of=as_of,
        generated_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        equity=equity,
        cash=cash,
        positions=positions,
        realized_pnl=Decimal(0),
        state="RUN",
        benchmark=pd.Series(bench, index=idx),
        cash_flows={idx[0].date(): Decimal(10_000)},
        trades=lines,
        period_start=reports.week_start(as_of, get_calendar()),
    )


def run() -> str:
    import quantstats as qs

    rng = np.random.default_rng(7)
    sessions = get_calendar().sessions("2019-01-02", "2023-12-29")
    frame = pd.DataFrame(rng.normal(0.0004, 0.015, (len(sessions), SERIES)), index=pd.DatetimeIndex(sessions))
    cols = [frame[c] for c in frame.columns]

    def ours():
        for c in cols:
            metrics.summary(c)

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in cols:
                for fn in (
                    qs.stats.comp,
                    qs.stats.cagr,
                    qs.stats.volatility,
                    qs.stats.sharpe,
                    qs.stats.sortino,
                    qs.stats.max_drawdown,
                    qs.stats.calmar,
                    qs.stats.win_rate,
                ):
                    fn(c)

    inputs = _inputs(sessions, rng)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows = [
            (f"metrics.summary, {SERIES} series x {len(sessions)} sessions", _timed(ours)),
            ("quantstats, the same 8 metrics", _timed(theirs)),
            ("build + render daily (md + html)", _timed(lambda: (reports.render_daily_md(r := reports.build_daily(inputs)), reports.render_daily_html(r)))),
            ("build + render weekly (md + html)", _timed(lambda: (reports.render_weekly_md(w := reports.build_weekly(inputs)), reports.render_weekly_html(w)))),
            ("equity/drawdown PNG", _timed(lambda: reports.equity_drawdown_png(inputs, "bench"))),
            ("publish_daily (all files)", _timed(lambda: reports.publish_daily(inputs, out))),
            ("publish_weekly with tearsheet (all files)", _timed(lambda: reports.publish_weekly(inputs, out), repeat=1)),
        ]
    table = "\n".join(f"| {name} | {secs * 1000:,.0f} ms |" for name, secs in rows)
    return (
        "## Reports and metrics\n\n"
        f"{YEARS} years of daily equity ({len(sessions)} sessions), 20 positions, 20 trade lines; "
        "best of 3 runs (the tearsheet: 1 run).  No target is set by the issues.\n\n"
        "| workload | time |\n| --- | ---: |\n" + table + "\n\n"
        "Command: `make bench` (or `python -m tradeops.bench reports`).\n"
    )


if __name__ == "__main__":  # pragma: no cover
    print(run())
