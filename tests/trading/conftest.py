"""Fixtures for the signal -> risk -> ticket tests: a small deterministic market.

``make_eod`` builds the clean-EOD frame contract (one row per symbol and
session, raw and adjusted OHLC, volume, lineage) from a seeded generator on
the real exchange calendar.  Prices are rounded to cents, so everything the
golden tickets depend on is exact.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeops.calendar import get_calendar
from tradeops.config import UNIVERSE_COLUMNS, parse_policy, parse_universe

STOCKS = tuple(("AAPL MSFT NVDA AVGO ORCL CRM ADBE CSCO ACN AMD INTC QCOM TXN IBM INTU NOW AMAT ADI MU JPM BAC WFC GS MS XOM CVX JNJ PFE KO PEP").split())
ETFS = ("SPY", "QQQ")
SPLIT_SYMBOL = "NVDA"  # 4-for-1 split 30 sessions before the end (inside every lookback)
DATA_END = date(2024, 3, 15)  # a Friday; the next session (Mon 18 Mar) is a weekly rebalance
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
GOLDEN = Path(__file__).resolve().parent / "golden"


def universe_csv(stocks=STOCKS, etfs=ETFS) -> str:
    rows = [",".join(UNIVERSE_COLUMNS)]
    for s in stocks:
        rows.append(f"{s},{s},{s.lower()}.us,{s},{s},NASDAQ,USD,stock,true,Tech,{s} Inc")
    for s in etfs:
        rows.append(f"{s},{s},{s.lower()}.us,{s},{s},NYSE Arca,USD,ETF,true,Benchmark,{s} ETF")
    return "\n".join(rows) + "\n"


def make_universe(stocks=STOCKS, etfs=ETFS, benchmark="SPY"):
    return parse_universe(universe_csv(stocks, etfs), benchmark)


def make_eod(symbols=STOCKS + ETFS, end: date = DATA_END, sessions: int = 320, seed: int = 7) -> pd.DataFrame:
    """Seeded bars for ``symbols`` over the last ``sessions`` exchange sessions up to ``end``."""
    days = pd.DatetimeIndex(get_calendar().sessions_back(end, sessions))
    n = len(days)
    market = np.random.default_rng([seed, 0]).normal(0.0004, 0.009, n)
    frames = []
    for i, sym in enumerate(symbols):
        rng = np.random.default_rng([seed, i + 1])
        beta, drift, vol = rng.uniform(0.6, 1.4), rng.normal(0.0003, 0.0008), rng.uniform(0.008, 0.025)
        logret = beta * market + drift + rng.normal(0.0, vol, n)
        logret[0] = 0.0
        adj = np.round(rng.uniform(40, 400) * np.exp(np.cumsum(logret)), 2)
        factor = np.ones(n)
        split = np.full(n, 1.0)
        if sym == SPLIT_SYMBOL:
            k = n - 30
            factor[:k] = 4.0  # raw prices were 4x before the split
            split[k] = 4.0
        close = np.round(adj * factor, 2)
        open_ = np.round(close * (1 + rng.normal(0, 0.003, n)), 2)
        high = np.round(np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n)), 2)
        low = np.round(np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n)), 2)
        volume = np.round(rng.lognormal(14, 0.4, n) / factor)
        ratio = adj / close
        frames.append(
            pd.DataFrame(
                {
                    "symbol": sym,
                    "date": days,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "adj_open": open_ * ratio,
                    "adj_high": high * ratio,
                    "adj_low": low * ratio,
                    "adj_close": adj,
                    "volume": volume.astype(float),
                    "dividend": 0.0,
                    "split": split,
                    "source": "test",
                    "raw_file": f"data/raw/test/{sym}/{end}.csv",
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)


def make_policy(**portfolio):
    """The default policy, with portfolio keys overridden."""
    return parse_policy({"portfolio": portfolio} if portfolio else {})


@pytest.fixture(scope="session")
def eod() -> pd.DataFrame:
    return make_eod()


@pytest.fixture(scope="session")
def universe():
    return make_universe()


@pytest.fixture(scope="session")
def policy():
    return make_policy()


@pytest.fixture(scope="session")
def calendar():
    return get_calendar()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout; absent -> skip locally, fail in CI."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared test data missing at {SHARED_DATA.resolve()} (required in CI)")
        pytest.skip(f"shared test data not found at {SHARED_DATA.resolve()}")
    return SHARED_DATA.resolve()


@pytest.fixture(scope="session")
def factory():
    """The generators, for tests that build their own variants."""

    class Factory:
        eod = staticmethod(make_eod)
        universe = staticmethod(make_universe)
        universe_csv = staticmethod(universe_csv)
        policy = staticmethod(make_policy)
        stocks = STOCKS
        data_end = DATA_END
        golden = GOLDEN

    return Factory
