"""Incremental fetch, pure part: compare a new answer with the stored history, stitch pieces.

An incremental fetch asks a provider only for the sessions after what is
stored plus ``data.overlap_sessions`` stored sessions.  :func:`compare_overlap`
looks at the sessions both hold:

* a bar whose values moved while the rest kept theirs is a **vendor
  revision** (a finding; the newer value wins when the history is stitched);
* bars whose adjusted prices all moved by one ratio (a new dividend or split
  re-adjusted the vendor's history) mean the stored pieces no longer fit the
  new answer: the fetch asks for the whole history again (``readjusted``);
* no session in common means the pieces cannot be checked against each other
  (also a full refetch).

:func:`stitch` assembles one history from pieces, oldest first: each piece
replaces the older pieces' bars from its first date on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .parsers import BAR_SCHEMA

FIELDS = ("open", "high", "low", "close", "adj_close", "volume", "dividend", "split")
PRICES = ("open", "high", "low", "close", "adj_close")
RTOL = 1e-6  # values closer than this (relative) are equal: vendors print a few decimals


@dataclass(frozen=True)
class Revision:
    """One stored bar the vendor now reports differently."""

    day: date
    fields: dict[str, tuple[float, float]]  # field -> (stored, now)

    def describe(self) -> str:
        moved = ", ".join(f"{k} {a:g} -> {b:g}" for k, (a, b) in self.fields.items())
        return f"{self.day}: {moved}"


@dataclass(frozen=True)
class Overlap:
    common: int  # sessions both hold
    readjusted: bool  # the vendor re-adjusted its history: the stored pieces do not fit the new answer
    revisions: list[Revision] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        """The new piece can be stitched onto the stored history."""
        return self.common > 0 and not self.readjusted


def _days(t: pa.Table) -> np.ndarray:
    return t.column("date").combine_chunks().view(pa.int32()).to_numpy()


def _col(t: pa.Table, name: str, idx: np.ndarray) -> np.ndarray:
    return t.column(name).to_numpy()[idx]


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = np.isclose(a, b, rtol=RTOL, atol=1e-9)
    return ~(close | both_nan)


def compare_overlap(stored: pa.Table, new: pa.Table) -> Overlap:
    """What the new answer says about the stored bars on the sessions both hold."""
    ds, dn = _days(stored), _days(new)
    common, i_s, i_n = np.intersect1d(ds, dn, assume_unique=False, return_indices=True)
    if not len(common):
        return Overlap(0, False)
    old = {f: _col(stored, f, i_s) for f in FIELDS}
    now = {f: _col(new, f, i_n) for f in FIELDS}
    diff = {f: _differs(old[f], now[f]) for f in FIELDS}
    changed = np.zeros(len(common), bool)
    for f in FIELDS:
        changed |= diff[f]
    # a re-adjustment: on a changed row either only the adjusted close moved (raw prices kept: a dividend
    # for sources with raw and adjusted prices), or every price moved by one ratio (a split, or a dividend
    # for sources that only give adjusted prices)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.vstack([now[f] / old[f] for f in PRICES])
    one_ratio = np.all(np.isclose(ratios, ratios[3], rtol=RTOL), axis=0) & ~np.isclose(ratios[3], 1.0, rtol=RTOL)
    only_adj = diff["adj_close"] & ~(diff["open"] | diff["high"] | diff["low"] | diff["close"])
    readjust_row = changed & (one_ratio | only_adj)
    revisions = []
    for k in np.flatnonzero(changed & ~readjust_row):
        moved = {f: (float(old[f][k]), float(now[f][k])) for f in FIELDS if diff[f][k]}
        revisions.append(Revision(date.fromordinal(date(1970, 1, 1).toordinal() + int(common[k])), moved))
    return Overlap(len(common), bool(readjust_row.any()), revisions)


def stitch(pieces: list[pa.Table]) -> pa.Table:
    """One history from pieces given oldest first; a newer piece wins from its first date on."""
    if not pieces:
        return BAR_SCHEMA.empty_table()
    kept = [pieces[-1]]
    first = pieces[-1].column("date")[0] if pieces[-1].num_rows else None  # earliest date the newer pieces cover
    for older in reversed(pieces[:-1]):
        part = older if first is None else older.filter(pc.less(older.column("date"), first))
        if part.num_rows:
            kept.insert(0, part)
            first = part.column("date")[0]
    return pa.concat_tables(kept).combine_chunks()
