"""The benchmark a study needs: in the bars, from a Stooq export, or explicitly absent.

The policy's benchmark drives the risk-off rule (benchmark below its
``portfolio.risk_off_ma_sessions`` average), the halt resume rule
``benchmark_ma`` and the report's comparison line.  A study whose bars lack
it stops (:func:`require_benchmark`) unless it says what to do: a benchmark
file (Stooq's daily CSV, e.g. ``../shared/data/stooq-spy/spy.us.csv``,
parsed by :func:`tradeops.data.parsers.parse_stooq`; Stooq's prices are
already adjusted, so close = adj_close and no dividends are paid), or
``no_benchmark``, which the report shows in its headline.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Policy
from ..data.parsers import parse_stooq
from ..errors import DataError

NO_BENCHMARK = "NO BENCHMARK (--no-benchmark): the benchmark risk-off rule cannot fire and there is no benchmark line"


def from_stooq_file(path: str | Path, symbol: str) -> pd.DataFrame:
    """A Stooq daily CSV as clean-frame rows of ``symbol``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"benchmark file not found: {path}")
    bars = parse_stooq(path.read_bytes(), source=f"stooq file {path.name}").to_pandas()
    frame = pd.DataFrame(
        {
            "symbol": symbol,
            "date": pd.to_datetime(bars["date"]).astype("datetime64[ns]"),
            "open": bars["open"],
            "high": bars["high"],
            "low": bars["low"],
            "close": bars["close"],
            "adj_open": bars["open"],
            "adj_high": bars["high"],
            "adj_low": bars["low"],
            "adj_close": bars["adj_close"],
            "volume": bars["volume"].fillna(0.0),
            "dividend": 0.0,
            "split": 1.0,
            "source": "stooq",
        }
    )
    return frame.dropna(subset=["close"]).reset_index(drop=True)


def require_benchmark(eod: pd.DataFrame, policy: Policy, benchmark_file: str | Path | None = None, no_benchmark: bool = False) -> tuple[pd.DataFrame, str]:
    """(bars with the benchmark, how the study got it).  Raises DataError naming the way out when
    the benchmark is missing and the study did not say what to do."""
    bench = policy.universe.benchmark
    if benchmark_file and no_benchmark:
        raise DataError("give either a benchmark file or no_benchmark, not both")
    if benchmark_file:
        rows = from_stooq_file(benchmark_file, bench)
        first, last = eod["date"].min(), eod["date"].max()
        rows = rows[(rows["date"] >= first) & (rows["date"] <= last)]
        stock_days = pd.DatetimeIndex(eod.loc[eod["symbol"] != bench, "date"].unique())
        if rows.empty:
            raise DataError(f"benchmark file {benchmark_file} has no bars between {first.date()} and {last.date()}")
        if rows["date"].min() > first:
            raise DataError(
                f"benchmark file {benchmark_file} starts {rows['date'].min().date()}, after the first bar {first.date()} the study needs "
                "(warm-up included): start the study later or give a longer file"
            )
        rows = rows[rows["date"].isin(stock_days)]
        out = pd.concat([eod[eod["symbol"] != bench], rows[[c for c in eod.columns if c in rows.columns]]], ignore_index=True)
        return out.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True), f"{bench} from {Path(benchmark_file).name} (Stooq)"
    if (eod["symbol"] == bench).any():
        return eod, f"{bench} from the bars"
    if no_benchmark:
        if policy.research.halt_resume == "benchmark_ma":
            raise DataError(
                "no_benchmark: the halt resume rule research.halt_resume = benchmark_ma needs the benchmark; "
                "set research.halt_resume: sessions for a study without one"
            )
        return eod, NO_BENCHMARK
    raise DataError(
        f"the bars have no {bench} (universe.benchmark): without it the risk-off rule (benchmark below its "
        f"{policy.portfolio.risk_off_ma_sessions}-session average) would silently switch off. Give a benchmark file "
        "(--benchmark-file, a Stooq export such as ../shared/data/stooq-spy/spy.us.csv) or say --no-benchmark"
    )
