"""Stages 2-5: raw files -> a clean snapshot + quality report.

Reads the raw files a fetch chose (checking each against its sidecar's
sha256), parses them, drops bars after ``as_of`` (no lookahead), runs
:func:`tradeops.data.quality.assess` (with ``config/corrections.csv``),
adjusts OHLC by ``factor = adj_close / close`` and writes the symbols that
passed, minus quarantined bars, as a content-addressed snapshot
``data/clean/snapshots/<sha256[:16]>/eod.parquet``.  The ``current``
pointer (:mod:`tradeops.data.snapshots`) moves only when the data-quality
gate passes: a failed build keeps the last good data and says so.  Work is
on one concatenated panel of numpy arrays, not per-symbol frames, so 500
symbols x 20 years builds in seconds.

Clean file columns: symbol, date (datetime64[ns], midnight, no tz), open,
high, low, close (as traded), adj_open, adj_high, adj_low, adj_close, volume,
dividend (NaN = unknown), split (ratio, NaN = unknown), source, raw_file;
sorted by symbol then date, one row per (symbol, date).
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import Policy, Universe, Workspace
from ..errors import DataError, VendorError
from ..files import open_atomic, write_atomic
from .fetch import FetchResult, latest_fetch_record
from .parsers import BAR_COLUMNS, parse_bars
from . import snapshots
from .corrections import load_corrections
from .quality import Panel, QualityReport, assess, disagreement, session_days
from .raw import RawStore

CLEAN_COLUMNS = (
    "symbol",
    "date",
    "open",
    "high",
    "low",
    "close",
    "adj_open",
    "adj_high",
    "adj_low",
    "adj_close",
    "volume",
    "dividend",
    "split",
    "source",
    "raw_file",
)


@dataclass
class _Plan:
    """Per symbol: the raw file to use, failed attempts, and the cross-check file."""

    chosen: dict[str, tuple[str, str]] = field(default_factory=dict)  # symbol -> (source, relpath)
    check: dict[str, tuple[str, str]] = field(default_factory=dict)
    failures: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # symbol -> (source, kind, message)
    run_id: str | None = None
    cross_check: dict | None = None  # {"secondary", "asked", "answered"} when the fetch cross-checked every symbol


def _plan_from_fetch(result: FetchResult, universe: Universe) -> _Plan:
    plan = _Plan(run_id=result.run_id)
    for sym in universe.symbols:
        chosen, check = result.chosen(sym), result.check(sym)
        if chosen:
            plan.chosen[sym] = (chosen.source, chosen.raw_file)
        if check:
            plan.check[sym] = (check.source, check.raw_file)
        fails = [(a.source, a.kind, a.error) for a in result.failures(sym) if a.role != "check"]
        fails += [
            (f.source, f.kind, f.message)
            for f in result.findings_for(sym)  # revisions, future bars: warnings
            if f.kind in ("revision", "future_bar")
        ]
        if fails:
            plan.failures[sym] = fails
    if policy_cross_check(result):
        asked = [s for s in universe.symbols if (c := result.chosen(s)) is not None and c.role == "primary"]
        plan.cross_check = {"secondary": result.secondary, "asked": len(asked), "answered": sum(1 for s in asked if s in plan.check)}
    return plan


def policy_cross_check(result: FetchResult) -> bool:
    """Whether the fetch asked the secondary to cross-check (any ``check`` attempt, or a secondary asked
    for a symbol the primary answered)."""
    if result.secondary is None:
        return False
    return any(a.role == "check" for a in result.attempts)


def _plan_from_files(store: RawStore, paths: Sequence[str | Path], universe: Universe) -> _Plan:
    """Raw files given directly: per symbol, the first one listed that parses is used."""
    plan = _Plan()
    root = store.workspace.root
    for p in paths:
        p = Path(p)
        rel = (p.resolve().relative_to(root) if p.is_absolute() else p).as_posix()
        side = store.sidecar(rel)
        sym = side["symbol"]
        if sym not in universe or sym in plan.chosen:
            continue
        try:
            parse_bars(side["source"], store.read(rel, side))
        except DataError as err:
            kind = "vendor_error" if isinstance(err, VendorError) else "data_error"
            plan.failures.setdefault(sym, []).append((side["source"], kind, str(err)))
            continue
        plan.chosen[sym] = (side["source"], rel)
    return plan


def _load(store: RawStore, source: str, relpath: str) -> pa.Table:
    return store.history(source, relpath)  # the stored piece with the pieces it extends (incremental fetch)


def _load_all(store: RawStore, wanted: dict[str, tuple[str, str]]) -> dict[str, pa.Table | DataError]:
    def one(item):
        sym, (source, rel) = item
        try:
            return sym, _load(store, source, rel)
        except DataError as err:
            return sym, err

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return dict(pool.map(one, wanted.items()))


def _panel(symbols: list[str], tables: dict[str, pa.Table]) -> Panel:
    """One Panel from per-symbol bars; each table is released once copied (``tables`` is emptied)."""
    offsets = np.zeros(len(symbols) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([tables[s].num_rows for s in symbols])
    cols = {c: np.empty(offsets[-1]) for c in BAR_COLUMNS[1:]}
    days = np.empty(offsets[-1], dtype=np.int64)
    for k, sym in enumerate(symbols):
        t, lo, hi = tables.pop(sym), offsets[k], offsets[k + 1]
        days[lo:hi] = t.column("date").combine_chunks().view(pa.int32()).to_numpy()
        for c, values in cols.items():
            values[lo:hi] = t.column(c).to_numpy()
    return Panel(symbols, offsets, days, **cols)


def _last_common(panel: Panel, k: int, other: pa.Table, asof: int) -> tuple[int, float, float] | None:
    """(date, ours, theirs): adjusted closes of symbol ``k`` and ``other`` on their latest common date <= asof."""
    ours = slice(panel.offsets[k], panel.offsets[k + 1])
    da = panel.date[ours]
    db = other.column("date").combine_chunks().view(pa.int32()).to_numpy()
    common = np.intersect1d(da[da <= asof], db[db <= asof])
    if not len(common):
        return None
    d = common[-1]
    pa_ = panel.adj_close[ours][np.flatnonzero(da == d)[-1]]
    pb = other.column("adj_close").to_numpy()[np.flatnonzero(db == d)[-1]]
    return int(d), float(pa_), float(pb)


ROW_GROUP = 1 << 19  # rows per parquet row group (whole symbols only)


def clean_table(panel: Panel, keep: np.ndarray, lineage: dict[str, tuple[str, str]], lo: int = 0, hi: int | None = None) -> pa.Table:
    """Clean-file rows of ``panel`` rows lo:hi that ``keep`` selects, OHLC adjusted by factor = adj_close / close.

    String columns are dictionary arrays (one entry per symbol), which
    parquet writes directly; readers get plain strings back.
    """
    part = slice(lo, hi)
    sel = keep[part]
    if sel.all():
        sel = slice(None)  # views, no copies
    col = {c: getattr(panel, c)[part][sel] for c in BAR_COLUMNS[1:]}
    codes = pa.array(panel.group[part][sel], pa.int32())

    def per_symbol(values: list[str]) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(codes, pa.array(values, pa.string()))

    factor = col["adj_close"] / col["close"]
    # adj_close too is close * factor (the vendor's value up to rounding), so
    # adjusting keeps low <= open, close <= high exactly.
    arrays = [
        per_symbol(panel.symbols),
        pa.array((panel.date[part][sel] * 86_400_000_000_000).view("datetime64[ns]"), pa.timestamp("ns")),
        *(col[c] for c in ("open", "high", "low", "close")),
        *(col[c] * factor for c in ("open", "high", "low", "close")),
        col["volume"],
        col["dividend"],
        col["split"],
        per_symbol([lineage[s][0] for s in panel.symbols]),
        per_symbol([lineage[s][1] for s in panel.symbols]),
    ]
    return pa.Table.from_arrays([pa.array(x) if isinstance(x, np.ndarray) else x for x in arrays], names=list(CLEAN_COLUMNS))


class _Hashing(io.RawIOBase):
    """A write-only file that feeds every byte to ``hasher`` on the way (no second read to hash it)."""

    def __init__(self, fh, hasher):
        self.fh, self.hasher = fh, hasher

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.hasher.update(b)
        return self.fh.write(b)


def write_clean(panel: Panel, keep: np.ndarray, lineage: dict[str, tuple[str, str]], path: Path, hasher=None) -> int:
    """Write the kept rows to ``path`` atomically (:func:`tradeops.files.open_atomic`), a row group at a time; returns rows written.

    ``hasher`` (e.g. ``hashlib.sha256()``) is updated with the file's bytes as they are written."""
    cuts = [0]
    for end in panel.offsets[1:]:
        if end - cuts[-1] >= ROW_GROUP:
            cuts.append(int(end))
    if cuts[-1] != panel.offsets[-1] or len(cuts) == 1:
        cuts.append(int(panel.offsets[-1]))
    rows = 0
    writer = None
    with open_atomic(path) as fh:
        sink = _Hashing(fh, hasher) if hasher is not None else fh
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            table = clean_table(panel, keep, lineage, lo, hi)
            if writer is None:
                # no stored arrow schema: the dictionary columns read back as plain strings
                writer = pq.ParquetWriter(sink, table.schema, compression="none", store_schema=False, use_dictionary=["symbol", "source", "raw_file"])
            writer.write_table(table)
            rows += table.num_rows
        writer.close()
    return rows


def build_clean(
    workspace: Workspace, policy: Policy, universe: Universe, as_of: date, fetched: FetchResult | str | Path | Sequence[str | Path] | None = None
) -> QualityReport:
    """Stages 2-5: build ``data/clean/eod.parquet`` and the quality report for ``as_of``.

    ``fetched`` is a :class:`FetchResult`, the path of a saved fetch record,
    a list of raw files, or None for the newest fetch record of ``as_of``.
    The report is also written to ``data/clean/quality.json`` and ``.md``.
    """
    store = RawStore(workspace)
    if fetched is None:
        fetched = latest_fetch_record(workspace, as_of)
    if isinstance(fetched, (str, Path)):
        fetched = FetchResult.load(fetched)
    plan = _plan_from_fetch(fetched, universe) if isinstance(fetched, FetchResult) else _plan_from_files(store, fetched, universe)

    loaded = _load_all(store, plan.chosen)
    symbols, lineage = [], {}
    for sym in sorted(universe.symbols):  # the clean file is sorted by symbol, then date
        got = loaded.get(sym)
        if isinstance(got, pa.Table):
            symbols.append(sym)
            lineage[sym] = plan.chosen[sym]
        elif isinstance(got, DataError):
            plan.failures.setdefault(sym, []).append((plan.chosen[sym][0], "data_error", f"raw file {plan.chosen[sym][1]}: {got}"))
    panel = _panel(symbols, loaded)
    group_of = {s: k for k, s in enumerate(symbols)}

    asof = int(np.datetime64(as_of, "D").astype(np.int64))
    corrections = load_corrections(workspace.config_dir / policy.quality.corrections_file)
    disagreements = {}
    for sym, (source, rel) in plan.check.items():
        if sym not in lineage:
            continue
        try:
            other = _load(store, source, rel)
        except DataError:
            continue
        common = _last_common(panel, group_of[sym], other, asof)
        if common:
            d, pv, sv = common
            reason = disagreement(sym, (lineage[sym][0], d, pv), (source, d, sv), policy.quality.max_source_disagreement)
            if reason:
                disagreements[sym] = reason

    result = assess(
        panel,
        as_of=as_of,
        universe=list(universe.symbols),
        benchmark=universe.benchmark,
        sessions=session_days(policy.schedule.exchange),
        q=policy.quality,
        failures=plan.failures,
        disagreements=disagreements,
        lineage=lineage,
        corrections=corrections,
        cross_check=plan.cross_check,
    )
    scratch = snapshots.scratch_path(workspace)
    hasher = hashlib.sha256()
    rows = write_clean(panel, result.keep, lineage, scratch, hasher)
    digest, folder = snapshots.store(workspace, scratch, hasher.hexdigest())
    snap = snapshots.Snapshot(
        snapshot=digest[: snapshots.ID_LENGTH],
        sha256=digest,
        path=(folder / "eod.parquet").relative_to(workspace.clean_dir).as_posix(),
        run_id=plan.run_id,
        as_of=str(as_of),
        rows=rows,
        symbols=int(sum(1 for s in result.statuses.values() if s.status == "ok")),
    )
    previous = snapshots.current(workspace)
    output = {
        "path": (folder / "eod.parquet").relative_to(workspace.root).as_posix(),
        "rows": rows,
        "symbols": snap.symbols,
        "snapshot": snap.snapshot,
        "sha256": digest,
        "corrections_sha256": corrections.sha256,
    }
    report = QualityReport.from_assessment(
        result, as_of=as_of, run_id=plan.run_id, benchmark=universe.benchmark, universe_size=len(universe.symbols), output=output
    )
    if report.trade_allowed:
        report.output["promoted"] = True
        report.output["current"] = snap.snapshot
    else:
        report.output["promoted"] = False
        report.output["current"] = previous.snapshot if previous else None
        report.output["kept"] = (
            f"kept last good data from {previous.describe()}; this build's candidate {snap.snapshot} failed the gate and is not current"
            if previous
            else f"no good data yet: this build's candidate {snap.snapshot} failed the gate and nothing is current"
        )
    for saved in report.save(folder):  # the latest build's report, passed or not
        write_atomic(workspace.quality_dir / saved.name, saved.read_bytes())
    if report.trade_allowed:
        snapshots.promote(workspace, snap)
    snapshots.prune(workspace)
    return report


def load_clean(workspace: Workspace, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``current`` clean snapshot as a DataFrame (symbol, date, ... as written by :func:`build_clean`)."""
    path = workspace.clean_path
    if not path.exists():
        raise DataError(f"clean data {path} does not exist; run `tradeops data build` first")
    return pd.read_parquet(path, columns=list(columns) if columns else None)
