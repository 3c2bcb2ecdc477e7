"""The clean parquet -> Qlib's on-disk format, and ``qlib.init`` on it.

Qlib's layout (``provider_uri``)::

    calendars/day.txt              one exchange session per line
    instruments/all.txt            SYMBOL<TAB>first<TAB>last
    features/<symbol>/<field>.day.bin
                                   float32: [index of the first session in day.txt, v0, v1, ...]

Fields follow Qlib's convention: prices are *adjusted* (``$close`` =
adj_close, ...), ``$factor`` = adj_close / close (so raw price =
``$close / $factor``), ``$volume`` = raw volume / factor, ``$vwap`` the
adjusted (high + low + close) / 3 typical price, ``$change`` the adjusted
daily return.  Sessions come from the exchange calendar; a session without a
bar is NaN.

The conversion is incremental and idempotent: ``manifest.json`` keeps a hash
of each symbol's rows.  A symbol whose old rows are unchanged only gets its
new sessions appended; one whose history changed (new adjustment factors
after a split or dividend) is rewritten; an unchanged symbol is not touched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import files
from ..calendar import ExchangeCalendar, get_calendar
from ..config import Workspace
from ..errors import DataError

FIELDS = ("open", "high", "low", "close", "vwap", "volume", "factor", "change")
NEEDED = ("symbol", "date", "open", "high", "low", "close", "adj_open", "adj_high", "adj_low", "adj_close", "volume")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class DumpResult:
    provider_uri: Path
    sessions: int
    written: tuple[str, ...]  # symbols rewritten from scratch
    appended: tuple[str, ...]  # symbols that only got new sessions
    unchanged: tuple[str, ...]


def qlib_dir(ws: Workspace) -> Path:
    return ws.data_dir / "qlib"


def qlib_fields(bars: pd.DataFrame) -> pd.DataFrame:
    """One symbol's clean bars (sorted by date) -> Qlib's fields, indexed by date."""
    close = bars["close"].to_numpy(float)
    adj = bars["adj_close"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(close > 0, adj / close, np.nan)
        out = pd.DataFrame(
            {
                "open": bars["adj_open"].to_numpy(float),
                "high": bars["adj_high"].to_numpy(float),
                "low": bars["adj_low"].to_numpy(float),
                "close": adj,
                "vwap": (bars["adj_high"].to_numpy(float) + bars["adj_low"].to_numpy(float) + adj) / 3.0,
                "volume": bars["volume"].to_numpy(float) / factor,
                "factor": factor,
            },
            index=pd.DatetimeIndex(bars["date"]),
        )
    out["change"] = out["close"].pct_change(fill_method=None)
    return out


def _digest(bars: pd.DataFrame) -> str:
    cols = list(NEEDED[1:])
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(bars[cols], index=False).to_numpy().tobytes())
    return h.hexdigest()


def _read_bin(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype="<f4")


def _write_symbol(folder: Path, fields: pd.DataFrame, sessions: pd.DatetimeIndex, start: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    grid = fields.reindex(sessions[start:])
    for f in FIELDS:
        data = np.concatenate([[start], grid[f].to_numpy(float)]).astype("<f4")
        files.write_atomic(folder / f"{f}.day.bin", data.tobytes())


def _append_symbol(folder: Path, fields: pd.DataFrame, sessions: pd.DatetimeIndex, old_end: int) -> None:
    """Append sessions after index ``old_end`` (the last one already on disk)."""
    grid = fields.reindex(sessions[old_end + 1 :])
    for f in FIELDS:
        with open(folder / f"{f}.day.bin", "ab") as fh:
            fh.write(grid[f].to_numpy(float).astype("<f4").tobytes())


def dump_to_qlib(eod: pd.DataFrame, target: str | Path, calendar: ExchangeCalendar | None = None) -> DumpResult:
    """Write (or bring up to date) the Qlib data folder ``target`` from the clean frame ``eod``."""
    missing = [c for c in NEEDED if c not in eod.columns]
    if missing:
        raise DataError(f"clean EOD frame is missing columns {missing}; the Qlib dump needs {list(NEEDED)}")
    if eod.empty:
        raise DataError("clean EOD frame is empty: nothing to convert to Qlib's format")
    calendar = calendar or get_calendar()
    target = Path(target)
    eod = eod.sort_values(["symbol", "date"], kind="stable")
    first, last = pd.Timestamp(eod["date"].min()).date(), pd.Timestamp(eod["date"].max()).date()
    sessions = calendar.sessions_index(first, last)
    manifest_path = target / MANIFEST
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"sessions": [], "symbols": {}}
    old_sessions = [pd.Timestamp(d) for d in old["sessions"]]
    day_txt = [d.strftime("%Y-%m-%d") for d in sessions]
    extends = len(old_sessions) <= len(sessions) and list(sessions[: len(old_sessions)]) == old_sessions
    old_symbols = old["symbols"] if extends else {}
    old_last = len(old_sessions) - 1

    written, appended, unchanged, entries = [], [], [], {}
    position = {d: i for i, d in enumerate(sessions)}
    for sym, bars in eod.groupby("symbol", sort=True, observed=True):
        sym = str(sym)
        folder = target / "features" / sym.lower()
        start, end = position[pd.Timestamp(bars["date"].iloc[0])], position[pd.Timestamp(bars["date"].iloc[-1])]
        prev = old_symbols.get(sym)
        entry = {"start": start, "end": end, "rows": len(bars), "digest": _digest(bars)}
        if prev == entry and folder.is_dir():
            unchanged.append(sym)
        elif (
            prev is not None
            and folder.is_dir()
            and prev["start"] == start
            and prev["end"] == old_last
            and prev["rows"] < len(bars)
            and _digest(bars.iloc[: prev["rows"]]) == prev["digest"]
            and len(_read_bin(folder / "close.day.bin")) == old_last - start + 2
        ):
            _append_symbol(folder, qlib_fields(bars), sessions, old_last)
            appended.append(sym)
        else:
            _write_symbol(folder, qlib_fields(bars), sessions[: end + 1], start)
            written.append(sym)
        entries[sym] = entry

    files.write_atomic(target / "calendars" / "day.txt", "\n".join(day_txt) + "\n")
    files.write_atomic(target / "instruments" / "all.txt", "".join(f"{s}\t{day_txt[e['start']]}\t{day_txt[e['end']]}\n" for s, e in sorted(entries.items())))
    files.write_atomic(manifest_path, json.dumps({"sessions": day_txt, "symbols": entries}, indent=1, sort_keys=True) + "\n")
    return DumpResult(target, len(sessions), tuple(written), tuple(appended), tuple(unchanged))


def init_qlib(provider_uri: str | Path, mlruns_dir: str | Path | None = None, kernels: int = 1) -> None:
    """``qlib.init`` for region US on ``provider_uri``, experiments in a SQLite mlflow store.

    mlflow 3.13+ refuses Qlib's default ``./mlruns`` file store, so the tracking
    URI is ``sqlite:///<mlruns_dir>/mlflow.db`` (default: beside the data).
    ``kernels=1`` keeps Qlib's feature engine in-process (no worker pool)."""
    import logging

    import qlib
    from qlib.constant import REG_US

    provider_uri = Path(provider_uri).resolve()
    if not (provider_uri / "calendars" / "day.txt").exists():
        raise DataError(f"no Qlib data at {provider_uri} (run dump_to_qlib first)")
    mlruns = Path(mlruns_dir or provider_uri.parent / "mlruns").resolve()
    mlruns.mkdir(parents=True, exist_ok=True)
    from qlib.workflow import R

    if R._provider is not None and R._provider.exp_manager.active_experiment is not None:
        R.end_exp()  # LightGBM training logs into an experiment; close it so Qlib may be re-initialised
    qlib.init(
        provider_uri=str(provider_uri),
        region=REG_US,
        kernels=kernels,
        joblib_backend="sequential",
        expression_cache=None,
        dataset_cache=None,
        logging_level=logging.WARNING,
        exp_manager={
            "class": "MLflowExpManager",
            "module_path": "qlib.workflow.expm",
            "kwargs": {"uri": f"sqlite:///{mlruns / 'mlflow.db'}", "default_exp_name": "tradeops"},
        },
    )


def update_workspace(ws: Workspace, init: bool = True) -> DumpResult:
    """data/clean/eod.parquet -> data/qlib (incremental), then ``qlib.init`` on it."""
    if not ws.clean_path.exists():
        raise DataError(f"clean EOD file not found: {ws.clean_path} (run `tradeops data build` first)")
    result = dump_to_qlib(pd.read_parquet(ws.clean_path, columns=list(NEEDED)), qlib_dir(ws))
    if init:
        init_qlib(result.provider_uri, ws.data_dir / "mlruns")
    return result
