"""The clean EOD history a signal reads, cut at the decision session: :func:`history_until` (a
frame) and :class:`Bars` (column arrays with each symbol's row range, cut per session by
binary search).  Nothing after the session can be read."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from .errors import DataError


EOD_COLUMNS = ("symbol", "date", "close", "adj_close", "volume")

# --------------------------------------------------------------------------- data access


def history_until(eod: pd.DataFrame, session: date) -> pd.DataFrame:
    """The bars with date <= session, sorted by (symbol, date).  Nothing later survives."""
    missing = [c for c in EOD_COLUMNS if c not in eod.columns]
    if missing:
        raise DataError(f"clean EOD frame is missing columns {missing}")
    cut = eod.loc[eod["date"] <= pd.Timestamp(session)]
    starts, names = _runs(cut)
    day = cut["date"].to_numpy("datetime64[ns]")
    same = np.ones(len(cut), dtype=bool)
    same[starts] = False
    in_order = names == sorted(set(names)) and bool(np.all(~same[1:] | (day[1:] > day[:-1])))
    if not in_order:
        cut = cut.sort_values(["symbol", "date"], kind="stable")
    return cut.reset_index(drop=True)


def _runs(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Start rows and symbols of the runs of equal consecutive symbols (vectorised: the
    symbol column may be Arrow-backed, where a per-row conversion is slow)."""
    sym = frame["symbol"]
    if len(sym) == 0:
        return np.array([], dtype=np.int64), []
    arrow = getattr(sym.array, "__arrow_array__", None)
    if arrow is not None:  # Arrow strings (the parquet's): compare in Arrow, 6x faster than through pandas
        import pyarrow.compute as pc

        col = arrow()
        change = pc.fill_null(pc.not_equal(col.slice(1), col.slice(0, len(col) - 1)), True).to_numpy(zero_copy_only=False)
    else:
        values = sym.to_numpy()
        change = values[1:] != values[:-1]
    starts = np.flatnonzero(np.r_[True, np.asarray(change, dtype=bool)])
    return starts, [str(x) for x in sym.iloc[starts]]


def _as_of_index(dates: np.ndarray, day: np.datetime64) -> int:
    """Index of the last bar on or before ``day`` (-1 if none)."""
    return int(np.searchsorted(dates, day, side="right")) - 1


class Bars:
    """Bars sorted by (symbol, date) as column arrays: symbol ``symbols[k]``'s bars are rows
    ``start[k]:stop[k]``.  A cut (:meth:`until`) only moves ``start``/``stop`` (one binary
    search over a (symbol, day) key for all symbols), so the backtest slices the history of
    every decision session without copying or filtering a frame; the live run builds one
    from the frame cut at the decision session (:func:`history_until`)."""

    __slots__ = ("symbols", "start", "stop", "date", "adj_close", "close", "volume", "_key", "_span", "_base", "_gid", "_frame")

    def __init__(self, symbols, start, stop, date, adj_close, close, volume, key, span, base, gid, frame=None):
        self.symbols, self.start, self.stop = tuple(symbols), start, stop
        self.date, self.adj_close, self.close, self.volume = date, adj_close, close, volume
        self._key, self._span, self._base, self._gid, self._frame = key, span, base, gid, frame

    @classmethod
    def from_frame(cls, history: pd.DataFrame) -> "Bars":
        """``history`` sorted by (symbol, date), as :func:`history_until` returns it."""
        starts, names = _runs(history)
        stops = np.r_[starts[1:], len(history)].astype(np.int64)
        date = history["date"].to_numpy("datetime64[ns]")
        day = date.astype("datetime64[D]").astype(np.int64)
        base = int(day.min()) if len(day) else 0
        span = int(day.max()) - base + 2 if len(day) else 2
        gid = np.arange(len(names), dtype=np.int64)
        key = np.repeat(gid, stops - starts) * span + (day - base)
        return cls(
            names,
            starts.astype(np.int64),
            stops,
            date,
            history["adj_close"].to_numpy(float),
            history["close"].to_numpy(float),
            history["volume"].to_numpy(float),
            key,
            span,
            base,
            gid,
            history,
        )

    def _offset(self, d: date) -> int:
        return min(max(int(np.datetime64(d, "D").astype(np.int64)) - self._base, -1), self._span - 1)

    def until(self, last: date, first: date | None = None) -> "Bars":
        """The bars with ``first <= date <= last`` (every bar up to ``last`` without ``first``)."""
        hi = np.searchsorted(self._key, self._gid * self._span + self._offset(last), side="right")
        lo = self.start if first is None else np.maximum(self.start, np.searchsorted(self._key, self._gid * self._span + self._offset(first), side="left"))
        hi = np.minimum(hi, self.stop)
        keep = hi > lo
        return Bars(
            [s for s, k in zip(self.symbols, keep) if k],
            lo[keep],
            hi[keep],
            self.date,
            self.adj_close,
            self.close,
            self.volume,
            self._key,
            self._span,
            self._base,
            self._gid[keep],
            self._frame,
        )

    def groups(self) -> dict[str, slice]:
        return {s: slice(int(a), int(b)) for s, a, b in zip(self.symbols, self.start, self.stop)}

    def frame(self) -> pd.DataFrame:
        """The rows of this view as a frame of the source's columns, sorted by (symbol, date)."""
        idx = np.concatenate([np.arange(a, b) for a, b in zip(self.start, self.stop)]) if len(self.start) else np.array([], np.int64)
        return self._frame.take(idx).reset_index(drop=True)
