"""Research inputs in the clean-frame contract, without a workspace.

``from_alphavantage_dir`` reads vendor ``DA-<SYMBOL>-T-*.csv`` files (the
shared real data), ``from_demo`` the project's seeded generator; both give
raw and adjusted OHLC (adjusted = raw x adjusted_close / close), volume,
dividend and split, sorted by (symbol, date).  A file that is not CSV (an
API error payload) is skipped.  The daily run's clean snapshots have the
same columns.

Research runs (:func:`tradeops.research.study.backtest_study`, ``tradeops
backtest``, the notebooks) do not read vendor files with this module: they
go through the clean store (:mod:`tradeops.research.store`).
``from_alphavantage_dir`` stays as a plain reader for the converters' tests
and the research benchmark.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from ..data.demo import demo_bars


def _contract(df: pd.DataFrame, symbol: str, source: str) -> pd.DataFrame:
    ratio = df["adjusted_close"] / df["close"]
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": pd.to_datetime(df["timestamp"]).astype("datetime64[ns]"),
            "open": df["open"],
            "high": df["high"],
            "low": df["low"],
            "close": df["close"],
            "adj_open": df["open"] * ratio,
            "adj_high": df["high"] * ratio,
            "adj_low": df["low"] * ratio,
            "adj_close": df["adjusted_close"],
            "volume": df["volume"].astype(float),
            "dividend": df["dividend_amount"].astype(float),
            "split": df["split_coefficient"].astype(float),
            "source": source,
        }
    )


def alphavantage_symbols(folder: str | Path) -> list[str]:
    """Symbols of the CSV files in ``folder``, sorted (API error payloads left out)."""
    paths = sorted(Path(folder).glob("DA-*-T-*.csv"))
    return [p.name[3:].rsplit("-T-", 1)[0] for p in paths if p.read_bytes()[:1] != b"{"]


def from_alphavantage_dir(folder: str | Path, symbols: list[str] | None = None, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    frames = []
    for path in sorted(Path(folder).glob("DA-*-T-*.csv")):
        sym = path.name[3:].rsplit("-T-", 1)[0]
        if (symbols and sym not in symbols) or path.read_bytes()[:1] == b"{":
            continue
        frames.append(_contract(pd.read_csv(path), sym, "alphavantage"))
    return _cut(pd.concat(frames, ignore_index=True), start, end)


def from_demo(symbols: list[str], start: date, end: date, seed: int = 42, benchmark: str = "SPY") -> pd.DataFrame:
    frames = [_contract(demo_bars(seed, s, "Demo", s == benchmark, start, end).to_pandas(), s, "demo") for s in symbols]
    return _cut(pd.concat(frames, ignore_index=True), None, None)


def _cut(frame: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    if start is not None:
        frame = frame[frame["date"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame["date"] <= pd.Timestamp(end)]
    return frame.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
