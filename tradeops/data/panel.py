"""The bars as arrays (:class:`Panel`: one row range per symbol), what a check found
(:class:`SymbolStatus`, :func:`quality_check`, :class:`Assessment`) and the small helpers
the per-symbol and history-wide checks share.  Re-exported by :mod:`tradeops.data.quality`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..calendar import FIRST_YEAR, LAST_YEAR, get_calendar
from ..checks import ERROR, OK, WARNING, Check


SPLIT_EPS = 1e-6
PRICE_EPS = 1e-9

# per-symbol checks, in the order reasons are listed
SYMBOL_CHECKS = {
    "vendor_error": "the source answered with an error payload instead of data",
    "no_data": "no usable bars on or before as_of from any source",
    "duplicate_dates": "dates that appear more than once <= max_duplicate_dates",
    "ohlc_sanity": "positive finite prices, low <= open, close <= high, volume >= 0 (in the window)",
    "off_calendar": "no bars on dates that are not exchange sessions (in the window)",
    "missing_sessions": "sessions without a bar <= max_missing_sessions (in the window)",
    "stale": "last bar at most max_symbol_age_sessions (benchmark: benchmark_max_age_sessions) before as_of",
    "zero_volume": "zero-volume bars <= max_zero_volume_sessions (in the window)",
    "unexplained_jump": "adjusted daily move <= max_unexplained_jump unless a split explains it (in the window)",
    "split_not_smooth": "adjusted move on a split day <= max_split_adjusted_move (in the window)",
    "source_disagreement": "primary vs secondary adjusted close on the latest common date <= max_source_disagreement",
}


@dataclass
class Panel:
    """Every symbol's bars, concatenated; group ``k`` is rows ``offsets[k]:offsets[k+1]``."""

    symbols: list[str]
    offsets: np.ndarray  # int64, len(symbols) + 1
    date: np.ndarray  # int64 days since 1970-01-01, sorted within each group
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray
    dividend: np.ndarray
    split: np.ndarray

    @property
    def group(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.symbols), dtype=np.int32), np.diff(self.offsets))


@dataclass
class SymbolStatus:
    symbol: str
    status: Literal["ok", "excluded"] = "ok"
    source: str | None = None
    raw_file: str | None = None
    first_date: str | None = None
    last_date: str | None = None
    bars: int = 0
    reasons: list[str] = field(default_factory=list)
    checks_failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # "start..end: check" ranges left out of the clean file


SCOPES = ("gate", "symbol", "history", "warning")
QUALITY_FIELDS = ("name", "scope", "rule", "threshold", "observed", "passed", "detail", "symbols")  # quality.json's form of a check


def quality_check(name: str, scope: str, rule: str, threshold: Any, observed: Any, passed: bool, detail: str = "", symbols: Sequence[str] = ()) -> Check:
    """A data-quality check as the package's one check record (:class:`tradeops.checks.Check`).

    ``code`` is the check's name and ``message`` its detail; the figures go to ``values``:
    ``scope`` (gate: fails the run; symbol: excludes the symbols; history: quarantines ranges;
    warning: excludes nothing), ``rule``, ``threshold``, ``observed`` and the ``symbols`` hit.
    Severity: ok when nothing was found, a warning for a warning-scope finding, else an error.
    """
    if scope not in SCOPES:
        raise ValueError(f"quality check {name!r}: scope {scope!r} is not one of {SCOPES}")
    severity = OK if passed else WARNING if scope == "warning" else ERROR
    values = {"scope": scope, "rule": rule, "threshold": threshold, "observed": observed, "symbols": tuple(symbols)}
    return Check("quality", name, detail, severity, values)


def scope_of(c: Check) -> str:
    return c.values["scope"]


def found_nothing(c: Check) -> bool:
    """The check found nothing (quality.json's ``passed``: a warning found something too)."""
    return c.severity == OK


def quality_check_to_dict(c: Check) -> dict[str, Any]:
    """The check in quality.json's form (the fields of :data:`QUALITY_FIELDS`, in that order)."""
    v = c.values
    return {
        "name": c.code,
        "scope": v["scope"],
        "rule": v["rule"],
        "threshold": v["threshold"],
        "observed": v["observed"],
        "passed": found_nothing(c),
        "detail": c.message,
        "symbols": list(v["symbols"]),
    }


def quality_check_from_dict(d: dict[str, Any]) -> Check:
    if set(d) != set(QUALITY_FIELDS):
        raise TypeError(f"a quality check has the fields {QUALITY_FIELDS}; got {sorted(d)}")
    return quality_check(**d)


@dataclass
class Assessment:
    keep: np.ndarray  # rows of the panel that go into the clean file
    statuses: dict[str, SymbolStatus]
    checks: list[Check]
    dropped_after_as_of: int
    findings: list = field(default_factory=list)  # history-wide Finding verdicts


@lru_cache(maxsize=4)
def session_days(exchange: str = "XNYS") -> np.ndarray:
    """Every session of the calendar's range as sorted int64 days since 1970-01-01."""
    idx = get_calendar(exchange).sessions_index(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31))
    return idx.values.astype("datetime64[D]").astype(np.int64)


def day(d: int) -> str:
    return str(np.datetime64(int(d), "D"))


def _days(d: date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def _sane(p: Panel) -> np.ndarray:
    """Rows with positive finite prices, non-negative volume and low <= open, close <= high."""
    o, h, lo, c, a, v = p.open, p.high, p.low, p.close, p.adj_close, p.volume
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & np.isfinite(a) & np.isfinite(v)
        positive = (o > 0) & (h > 0) & (lo > 0) & (c > 0) & (a > 0) & (v >= 0)
        lo_ok = lo <= np.minimum(o, c) * (1 + PRICE_EPS)
        hi_ok = h >= np.maximum(o, c) * (1 - PRICE_EPS)
    return finite & positive & lo_ok & hi_ok


def disagreement(symbol: str, primary: tuple[str, int, float], secondary: tuple[str, int, float], tolerance: float) -> str | None:
    """A reason when two sources' adjusted closes on the same date differ by more than ``tolerance``."""
    (ps, d, pv), (ss, _, sv) = primary, secondary
    gap = abs(pv / sv - 1.0) if sv > 0 else float("inf")
    if gap <= tolerance:
        return None
    return (
        f"{symbol}: sources disagree on {day(d)}: {ps} adjusted close {pv:.4f} vs {ss} {sv:.4f} "
        f"({gap * 100:.2f}% > max_source_disagreement {tolerance * 100:.2f}%)"
    )
