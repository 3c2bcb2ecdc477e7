"""The GBPUSD series' vendor bytes -> a frame of daily closes, and a close -> the rate a ticket uses
(to the pip); the sources an FX series may come from."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd

from ..errors import DataError
from .parsers import parse_stooq, parse_yfinance


FX_PLACES = Decimal("0.0001")  # a pip: the rate a ticket uses
MAX_RATE = 1e9  # no currency pair is quoted this high (and Decimal quantizes it exactly)

FX_SOURCES = ("yfinance", "stooq", "demo")

# --------------------------------------------------------------------------- parsing


def parse_fx(source: str, data: bytes) -> pd.DataFrame:
    """Vendor bytes -> a frame of (date, close) sorted by date, one row per input line; DataError otherwise.

    yfinance: the CSV of a ``Ticker.history`` frame (FX has zero volume and no actions);
    stooq and demo: ``Date,Open,High,Low,Close[,Volume]``.  Values are not judged here
    (a zero rate parses): :func:`assess_fx` does."""
    if source == "yfinance":
        bars = parse_yfinance(data, source)
    elif source in ("stooq", "demo"):
        bars = parse_stooq(data, source)
    else:
        raise DataError(f"no FX parser for source {source!r}; known: {list(FX_SOURCES)}")
    frame = pd.DataFrame({"date": pd.to_datetime(bars.column("date").to_pandas()), "close": bars.column("close").to_numpy(zero_copy_only=False)})
    return frame.astype({"close": "float64"}).reset_index(drop=True)


def to_rate(close: float) -> Decimal:
    """A vendor's float close as the rate a ticket uses: Decimal to a pip (0.0001)."""
    if not math.isfinite(close) or close <= 0:
        raise DataError(f"FX close {close!r} is not a rate (must be a positive finite number)")
    if close >= MAX_RATE:
        raise DataError(f"FX close {close!r} is not a rate (must be below {MAX_RATE:g})")
    rate = Decimal(repr(float(close))).quantize(FX_PLACES, ROUND_HALF_EVEN)
    if rate <= 0:
        raise DataError(f"FX close {close!r} is not a rate (rounds to {rate} at {FX_PLACES})")
    return rate
