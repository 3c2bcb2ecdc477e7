"""The offline FX provider: a seeded, repeatable GBPUSD-like series (the demo's and the tests' rates), and the choice of FX provider by name."""

from __future__ import annotations

import hashlib
import io
import math
from datetime import date
from functools import lru_cache
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from ..calendar import FIRST_YEAR, LAST_YEAR
from ..config import Instrument, Policy, Workspace
from ..errors import DataError
from .providers import Payload, Provider, make_provider


FX_HEADER = ("Date", "Open", "High", "Low", "Close")  # the demo writes Stooq's shape


@lru_cache(maxsize=1)
def fx_days() -> np.ndarray:
    """Every FX trading day of the calendar's range (Mon..Fri, not 25 Dec nor 1 Jan) as int64 days since 1970-01-01."""
    days = pd.bdate_range(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31))
    keep = ~(((days.month == 12) & (days.day == 25)) | ((days.month == 1) & (days.day == 1)))
    return days[keep].values.astype("datetime64[D]").astype(np.int64)


def _seeded(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "little") for k in keys)])


@lru_cache(maxsize=4)
def _fx_path(seed: int, pair: str) -> dict[str, np.ndarray]:
    """The whole 1990..2040 path of one pair: a mean-reverting log rate (half-life ~3.5 years around
    1.30), daily volatility ~0.55% in slowly changing regimes, Student-t(5) shocks."""
    n = len(fx_days())
    rng = _seeded(seed, "fx", pair)
    df = 5.0
    eps = rng.standard_t(df, n) * math.sqrt((df - 2) / df)
    vol_shock = rng.normal(0.0, 0.06, n)
    gap, wick_hi, wick_lo = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    mu, k = math.log(1.30), 0.0008
    x = np.empty(n)
    level, lv = mu + rng.normal(0.0, 0.08), 0.0
    for i in range(n):  # once per seed and pair, cached
        lv = 0.99 * lv + vol_shock[i]
        level = level + k * (mu - level) + 0.0055 * math.exp(lv) * eps[i]
        x[i] = level
    close = np.round(np.exp(x), 4)
    prev = np.empty(n)
    prev[0], prev[1:] = close[0], close[:-1]
    opened = np.round(prev * np.exp(0.0008 * gap), 4)
    top, bottom = np.maximum(opened, close), np.minimum(opened, close)
    high = np.round(top * np.exp(0.003 * np.abs(wick_hi)), 4)
    low = np.round(bottom * np.exp(-0.003 * np.abs(wick_lo)), 4)
    return {"open": opened, "high": np.maximum(high, top), "low": np.minimum(low, bottom), "close": close}


def demo_fx_csv(seed: int, pair: str, start: date, end: date) -> bytes:
    """Demo daily rates from ``start`` to ``end`` as Stooq-shaped CSV bytes (the same bars whatever range is asked)."""
    if not (FIRST_YEAR <= start.year <= LAST_YEAR and FIRST_YEAR <= end.year <= LAST_YEAR):
        raise DataError(f"demo FX data covers {FIRST_YEAR}..{LAST_YEAR}; asked for {start}..{end}")
    if end < start:
        raise DataError(f"demo FX range is empty: start {start} is after end {end}")
    days = fx_days()
    i0 = int(np.searchsorted(days, np.datetime64(start, "D").astype(np.int64), "left"))
    i1 = int(np.searchsorted(days, np.datetime64(end, "D").astype(np.int64), "right"))
    s = _fx_path(seed, pair)
    table = pa.table(
        {
            "Date": pa.array(days[i0:i1].astype(np.int32), pa.int32()).view(pa.date32()),
            **{c.capitalize(): s[c][i0:i1] for c in ("open", "high", "low", "close")},
        }
    )
    buf = io.BytesIO()
    buf.write((",".join(FX_HEADER) + "\n").encode())
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


class DemoFxProvider:
    """The offline FX provider: :func:`demo_fx_csv` for the pair's internal symbol."""

    name = "demo"
    incremental = False

    def __init__(self, seed: int = 42):
        self.seed = seed

    def download(self, instrument: Instrument, start: date, end: date) -> Payload:
        pair = instrument.internal_symbol
        return Payload(
            demo_fx_csv(self.seed, pair, start, end), {"generator": "tradeops.data.fx", "seed": self.seed, "symbol": pair, "start": str(start), "end": str(end)}
        )


def make_fx_provider(name: str, workspace: Workspace, policy: Policy) -> Provider | None:
    """The FX provider for a bar source (None: the source has no FX series, e.g. the AlphaVantage folder)."""
    if name == "demo":
        return DemoFxProvider(seed=policy.data.demo_seed)
    if name in ("yfinance", "stooq"):
        return make_provider(name, workspace, policy)
    return None
