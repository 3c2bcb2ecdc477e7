"""Offline demo provider: a seeded generator of realistic daily bars.

Prices are a market factor, a sector factor and an idiosyncratic part with
fat tails (Student-t) and slowly changing market volatility.  A symbol
splits forward some weeks after its price gets high and reverse-splits
after it gets low; dividend payers (all ETFs, most stocks) go ex-dividend
quarterly; there are no bars on exchange holidays (sessions come from
:mod:`tradeops.calendar`) and a stock misses the odd bar (about one session
in 3,000; never a split or ex-dividend day).

Determinism: every series is drawn over all sessions 1990..2040 from a
generator seeded by (seed, symbol), then sliced, so the traded bars (OHLC,
volume, dividend, split) of a date are identical whatever range is asked
for.  ``adjusted_close`` is anchored on the last bar of the requested range,
as a vendor anchors it on its latest bar (anchoring later would leak future
splits into the past).  Output is AlphaVantage daily-adjusted CSV, so the
same parser reads demo and vendor files.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..calendar import FIRST_YEAR, LAST_YEAR
from ..config import Instrument
from ..errors import DataError
from .parsers import AV_HEADER
from .payload import Payload
from .quality import session_days

MISSING_BAR_RATE = 1 / 3000
FORWARD_SPLITS = (2.0, 2.0, 2.0, 3.0, 3.0, 4.0, 1.5)
REVERSE_SPLITS = (0.1, 0.2, 0.25, 0.333333)


def _key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(_key(k) for k in keys)])


def _fat(rng: np.random.Generator, n: int, df: float) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(df, n) * np.sqrt((df - 2) / df)


@lru_cache(maxsize=8)
def _market(seed: int) -> np.ndarray:
    """Market log returns with volatility regimes (an AR(1) in log volatility)."""
    n = len(session_days())
    rng = _rng(seed, "market")
    shocks = rng.normal(0.0, 0.08, n)
    logvol = np.empty(n)
    level = 0.0
    for i, e in enumerate(shocks):  # once per seed, cached
        level = 0.985 * level + e
        logvol[i] = level
    return 0.0003 + 0.0085 * np.exp(logvol - logvol.mean()) * _fat(rng, n, 4.0)


@lru_cache(maxsize=64)
def _sector(seed: int, sector: str) -> np.ndarray:
    n = len(session_days())
    return 0.006 * _fat(_rng(seed, "sector", sector), n, 5.0)


def _splits(per_share: np.ndarray, lo: float, hi: float, draws: np.ndarray) -> np.ndarray:
    """Split ratio per session (1 = none): forward above ``hi``, reverse below ``lo``.

    A split takes effect 20..59 sessions after the price crosses the bound
    (boards announce them ahead), so the split day is an ordinary day.
    """
    n = len(per_share)
    ratio = np.ones(n)
    factor, pos = 1.0, 1
    for k in range(len(draws)):
        seg = per_share[pos:] / factor
        hit = (seg > hi) | (seg < lo)
        if not hit.any():
            break
        cross = pos + int(hit.argmax())
        t = cross + 20 + int(draws[k, 0] * 40)
        if t >= n:
            break
        choices = FORWARD_SPLITS if per_share[cross] / factor > hi else REVERSE_SPLITS
        ratio[t] = choices[int(draws[k, 1] * len(choices))]
        factor *= ratio[t]
        pos = t + 1
    return ratio


def _series(seed: int, symbol: str, sector: str, etf: bool) -> dict[str, np.ndarray]:
    """The whole 1990..2040 history of one symbol (traded prices, before slicing)."""
    n = len(session_days())
    rng = _rng(seed, "symbol", symbol)
    beta = rng.uniform(0.9, 1.2) if etf else rng.uniform(0.6, 1.5)
    idio = 0.002 if etf else rng.uniform(0.010, 0.022)
    drift = rng.normal(0.0001, 0.0002)
    p0 = float(np.exp(rng.uniform(np.log(15), np.log(150))))
    payer = etf or rng.random() < 0.7
    yield_q = rng.uniform(0.002, 0.009)
    phase = int(rng.integers(0, 63))
    hi, lo = rng.uniform(300, 700), rng.uniform(1.5, 4.0)
    split_draws = rng.random((40, 2))
    base_volume = float(np.exp(rng.uniform(np.log(5e5), np.log(3e7))))
    eps, gap, wick_hi, wick_lo, vol_noise, miss = (
        _fat(rng, n, 3.0),
        rng.normal(size=n),
        rng.normal(size=n),
        rng.normal(size=n),
        rng.normal(size=n),
        rng.random(n),
    )

    sector_part = 0.0 if etf or not sector else _sector(seed, sector)
    ret = np.clip(beta * _market(seed) + sector_part + drift + idio * eps, -0.2, 0.2)
    ex = np.zeros(n, dtype=bool)
    if payer:
        ex[phase::63] = True
    ex[0] = False
    div_yield = np.where(ex, yield_q, 0.0)
    per_share = p0 * np.exp(np.cumsum(ret + np.log1p(-div_yield)))  # price of one 1990 share
    split = _splits(per_share, lo, hi, split_draws)
    shares = np.cumprod(split)

    close = np.maximum(np.round(per_share / shares, 2), 0.01)
    prev = np.empty(n)
    prev[0], prev[1:] = close[0], close[:-1]
    dividend = np.round(div_yield * prev, 4)
    sigma = np.sqrt((beta * 0.0085) ** 2 + idio**2)
    opened = np.maximum(np.round(prev * (1 - div_yield) / split * np.exp(0.3 * sigma * gap), 2), 0.01)
    high = np.maximum(np.ceil(np.maximum(opened, close) * np.exp(0.5 * sigma * np.abs(wick_hi)) * 100) / 100, np.maximum(opened, close))
    low = np.minimum(np.floor(np.minimum(opened, close) * np.exp(-0.5 * sigma * np.abs(wick_lo)) * 100) / 100, np.minimum(opened, close))
    low = np.maximum(low, 0.01)
    volume = np.round(base_volume * shares * np.exp(0.35 * vol_noise + 6 * np.abs(ret)))
    # adjustment multiplier of each bar for everything before it (vendor convention)
    multiplier = (1.0 - dividend / prev) / split
    missing = np.zeros(n, dtype=bool) if etf else (miss < MISSING_BAR_RATE) & (split == 1.0) & ~ex
    return {
        "open": opened,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "dividend": dividend,
        "split": split,
        "multiplier": multiplier,
        "missing": missing,
    }


def demo_bars(seed: int, symbol: str, sector: str, etf: bool, start: date, end: date) -> pa.Table:
    """Bars from ``start`` to ``end`` in AlphaVantage columns (see module docstring)."""
    if not (FIRST_YEAR <= start.year <= LAST_YEAR and FIRST_YEAR <= end.year <= LAST_YEAR):
        raise DataError(f"demo data covers {FIRST_YEAR}..{LAST_YEAR}; asked for {start}..{end}")
    if end < start:
        raise DataError(f"demo range is empty: start {start} is after end {end}")
    days = session_days()
    i0 = int(np.searchsorted(days, np.datetime64(start, "D").astype(np.int64), "left"))
    i1 = int(np.searchsorted(days, np.datetime64(end, "D").astype(np.int64), "right"))
    s = _series(seed, symbol, sector, etf)
    mult = s["multiplier"][i0:i1]
    later = np.ones(i1 - i0)
    if i1 - i0 > 1:
        later[:-1] = np.cumprod(mult[::-1])[::-1][1:]
    keep = ~s["missing"][i0:i1]
    cols = {
        "timestamp": pa.array(days[i0:i1][keep].astype(np.int32), pa.int32()).view(pa.date32()),
        "open": s["open"][i0:i1][keep],
        "high": s["high"][i0:i1][keep],
        "low": s["low"][i0:i1][keep],
        "close": s["close"][i0:i1][keep],
        "adjusted_close": (s["close"][i0:i1] * later)[keep],
        "volume": s["volume"][i0:i1][keep],
        "dividend_amount": s["dividend"][i0:i1][keep],
        "split_coefficient": s["split"][i0:i1][keep],
    }
    return pa.table(cols)


def demo_csv(seed: int, symbol: str, sector: str, etf: bool, start: date, end: date) -> bytes:
    """:func:`demo_bars` as AlphaVantage daily-adjusted CSV bytes."""
    table = demo_bars(seed, symbol, sector, etf, start, end)
    buf = io.BytesIO()
    buf.write((",".join(AV_HEADER) + "\n").encode())
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


class DemoProvider:
    """The offline provider: ``download`` returns :func:`demo_csv` bytes for any universe symbol."""

    name = "demo"

    def __init__(self, seed: int = 42):
        self.seed = seed

    def download(self, instrument: Instrument, start: date, end: date) -> Payload:
        symbol = instrument.vendor_symbol(self.name)
        etf = instrument.instrument_type == "ETF"
        data = demo_csv(self.seed, symbol, instrument.sector, etf, start, end)
        return Payload(data, {"generator": "tradeops.data.demo", "seed": self.seed, "symbol": symbol, "start": str(start), "end": str(end)})
