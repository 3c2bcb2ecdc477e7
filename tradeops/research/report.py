"""``reports/backtest_latest.html``: the quantstats tearsheet plus our validation tables.

The page is quantstats' tearsheet of the backtest's daily returns against
the benchmark (:func:`tradeops.reports.tearsheet_html`, stamped with the
backtest's last session, not the clock) with our section inserted at the
top of its body: summary metrics (:func:`tradeops.metrics.summary`) for the
strategy and the benchmark, PBO and the deflated Sharpe ratio, IC for
LightGBM, then every table of the :class:`~tradeops.research.study.Study`.
The same inputs give the same bytes; the file is written atomically.
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from .. import metrics
from ..files import write_atomic
from ..reports import ReportInputs, tearsheet_html

if TYPE_CHECKING:
    from .backtest import BacktestResult, Costs
    from .validation import DeflatedSharpe, PBOResult


class Study(Protocol):
    """What the page reads of a :class:`tradeops.research.study.Study` (a protocol: the study
    imports this module to display itself, so this module does not import it back)."""

    strategy: str
    source: str
    start: date
    end: date
    symbols: tuple[str, ...]
    benchmark_symbol: str
    benchmark_source: str
    costs: Costs
    result: BacktestResult
    benchmark: pd.Series
    tables: dict[str, pd.DataFrame]
    pbo: PBOResult | None
    dsr: DeflatedSharpe | None
    ic: dict[str, float] | None
    notes: list[str]
    data_snapshot: str | None

    def summary(self) -> dict[str, float]: ...


PCT = ("total_return", "cagr", "volatility", "max_drawdown", "hit_rate", "drawdown", "benchmark_return", "excess_return", "cumulative", "base_total_return")
RATIO = ("sharpe", "sortino", "calmar", "in_sample_sharpe")
STYLE = """<style>
.tradeops-research{font-family:DejaVu Sans,Arial,sans-serif;font-size:13px;margin:16px auto;max-width:1100px}
.tradeops-research table{border-collapse:collapse;margin:6px 0 16px}
.tradeops-research th,.tradeops-research td{border:1px solid #ccc;padding:3px 8px;text-align:right}
.tradeops-research th:first-child,.tradeops-research td:first-child{text-align:left}
</style>"""


def _fmt(col: str):
    if col in PCT:
        return lambda v: "" if pd.isna(v) else f"{v:.2%}"
    if col in RATIO:
        return lambda v: "" if pd.isna(v) else f"{v:.2f}"
    return lambda v: html.escape(str(v))


def table_html(df: pd.DataFrame) -> str:
    """A metrics table: percentages and ratios formatted, everything else escaped."""
    if df.empty:
        return "<p><em>not covered by this window</em></p>"
    return df.to_html(index=False, escape=False, na_rep="", formatters={c: _fmt(c) for c in df.columns}, border=0)


def summary_table(study: Study) -> pd.DataFrame:
    rows = [{"series": f"{study.strategy} (net of costs)", **study.summary()}]
    if not study.benchmark.empty:
        bench = study.benchmark.pct_change().dropna()
        rows.append({"series": f"{study.benchmark_symbol} (benchmark)", **metrics.summary(bench)})
    return pd.DataFrame(rows)


def study_html(study: Study) -> str:
    """Our section: run description, summary metrics, overfitting statistics, validation tables."""
    c = study.costs
    parts = [
        STYLE,
        '<div class="tradeops-research">',
        f"<h1>Backtest: {html.escape(study.strategy)} on {len(study.symbols)} {html.escape(study.source)} symbols, {study.start} .. {study.end}</h1>",
        f"<p><strong>Benchmark: {html.escape(study.benchmark_source or study.benchmark_symbol)}</strong></p>",
        f"<p>Decision after the close of T-1, execution at the open of T; live risk guard and tiny-delta rules; "
        f"commission {c.commission_bps:g} bps, slippage {c.slippage_bps:g} bps, delay {c.delay} session(s); "
        f"{len(study.result.trades)} fills, final equity {study.result.equity.iloc[-1]:,.2f}.</p>",
        "<h2>Summary</h2>",
        table_html(summary_table(study)),
        "<h2>Overfitting</h2>",
    ]
    if study.pbo is not None and study.dsr is not None:
        d = study.dsr
        parts.append(
            table_html(
                pd.DataFrame(
                    [
                        {
                            "statistic": "Probability of backtest overfitting (CSCV, Bailey et al. 2015)",
                            "value": f"{study.pbo.pbo:.3f}",
                            "detail": f"{study.pbo.combinations} combinations, {d.n_trials} trials",
                        },
                        {
                            "statistic": "Deflated Sharpe ratio (Bailey & Lopez de Prado 2014)",
                            "value": f"{d.dsr:.3f}",
                            "detail": f"daily SR {d.sharpe:.4f} vs SR0 {d.sr0:.4f}, n {d.n}, skew {d.skew:.2f}, kurtosis {d.kurtosis:.2f}",
                        },
                    ]
                )
            )
        )
    if study.ic is not None:
        ic = study.ic
        parts.append(
            f"<p>LightGBM IC {ic['ic']:.4f} (IR {ic['icir']:.2f}), rank IC {ic['rank_ic']:.4f} (IR {ic['rank_icir']:.2f}) over {ic['sessions']} sessions.</p>"
        )
    if study.data_snapshot:
        parts.append(f"<p>Data: clean snapshot <code>{html.escape(study.data_snapshot)}</code> (quality-checked; findings below).</p>")
    parts += [f"<p><em>{html.escape(n)}</em></p>" for n in study.notes]
    for title, df in study.tables.items():
        parts += [f"<h2>{html.escape(title)}</h2>", table_html(df)]
    parts.append("</div>")
    return "\n".join(parts)


def tearsheet_inputs(study: Study) -> ReportInputs:
    """The backtest as the tearsheet helper's inputs (all cash at the end; stamped with the last session)."""
    equity = study.result.equity
    return ReportInputs(
        as_of=study.end,
        generated_at=datetime.combine(study.end, time(0), tzinfo=timezone.utc),
        equity=equity,
        cash=Decimal(repr(float(equity.iloc[-1]))),
        positions=(),
        realized_pnl=Decimal(0),
        state="BACKTEST",
        benchmark=study.benchmark,
        benchmark_symbol=study.benchmark_symbol,
    )


def report_html(study: Study) -> str:
    """The whole page: quantstats' tearsheet with our section at the top of its body."""
    page = tearsheet_html(tearsheet_inputs(study), title=f"Backtest {study.strategy} {study.start}..{study.end}")
    ours = study_html(study)
    body = re.search(r"<body[^>]*>", page)
    return page[: body.end()] + ours + page[body.end() :] if body else ours + page


def write_report(study: Study, path: str | Path) -> Path:
    """Write :func:`report_html` to ``path`` atomically (usually reports/backtest_latest.html)."""
    return write_atomic(Path(path), report_html(study))
