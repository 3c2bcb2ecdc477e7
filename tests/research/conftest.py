"""Fixtures for the research tests: real AlphaVantage bars and a small demo market."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tradeops.config import UNIVERSE_COLUMNS, parse_universe
from tradeops.research.sources import from_alphavantage_dir, from_demo

AV_SYMBOLS = ["AAPL", "MSFT", "BAC", "HAL", "JNJ", "MCD", "PG", "NVDA"]
DEMO_STOCKS = [f"S{i:02d}" for i in range(24)]


def universe_for(stocks, etfs=("SPY",)):
    rows = [",".join(UNIVERSE_COLUMNS)]
    rows += [f"{s},{s},{s.lower()}.us,{s},{s},NYSE,USD,stock,true,Demo,{s}" for s in stocks]
    rows += [f"{s},{s},{s.lower()}.us,{s},{s},NYSE Arca,USD,ETF,true,Benchmark,{s}" for s in etfs]
    return parse_universe("\n".join(rows) + "\n", "SPY")


@pytest.fixture(scope="session")
def av_dir(shared_data):
    return shared_data / "alphavantage-sp500" / "daily_adjusted"


@pytest.fixture(scope="session")
def av_eod(av_dir) -> pd.DataFrame:
    """Eight real symbols, 2015-2021 (clean-frame contract)."""
    return from_alphavantage_dir(av_dir, AV_SYMBOLS, start=date(2015, 1, 1))


@pytest.fixture(scope="session")
def demo_eod() -> pd.DataFrame:
    return from_demo(DEMO_STOCKS + ["SPY"], date(2022, 1, 3), date(2023, 12, 29))


@pytest.fixture(scope="session")
def demo_universe():
    return universe_for(DEMO_STOCKS)
