"""Stage 1 storage: exactly the bytes received, per source, per symbol, per run.

``data/raw/<source>/<symbol>/<as_of>_<run_id>.csv`` holds the payload byte
for byte; ``.json`` beside it is the sidecar (request, time received,
sha256, size, run).  Files are created read-only with a hard link from a
temporary file, so a write is atomic and an existing file is never replaced.

A stored answer may be a *piece* of a symbol's history: an incremental fetch
stores only the sessions after what was stored (plus an overlap), and its
sidecar names the piece it extends (``base``) and the dates it holds
(``bars``).  :meth:`RawStore.history` follows the ``base`` chain and stitches
the pieces (:func:`tradeops.data.incremental.stitch`); a piece without a base
is a whole history by itself.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .. import files
from ..config import Workspace
from ..errors import DataError
from .incremental import stitch
from .parsers import parse_bars
from .providers import Payload

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._^=-]*$")


def _safe(kind: str, value: str) -> str:
    if not _SAFE.match(value) or ".." in value:
        raise DataError(f"{kind} {value!r} cannot be used in a raw-store path (allowed: letters, digits, . _ ^ = -)")
    return value


def _create(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path``; DataError if it already exists."""
    try:
        files.create_new(path, data, read_only=True)  # read-only: raw data is evidence
    except FileExistsError:
        raise DataError(f"raw file {path} already exists; raw data is never overwritten") from None


@dataclass(frozen=True)
class RawFile:
    """One stored payload: its path relative to the workspace and its sidecar."""

    relpath: str
    sidecar: dict[str, Any]


class RawStore:
    """The workspace's raw store (``data/raw``)."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.root = workspace.raw_dir

    def path_for(self, source: str, symbol: str, as_of: date, run_id: str, part: str | None = None) -> Path:
        tail = f"-{_safe('part', part)}" if part else ""
        return self.root / _safe("source", source) / _safe("symbol", symbol) / f"{as_of}_{_safe('run id', run_id)}{tail}.csv"

    def save(
        self,
        source: str,
        symbol: str,
        vendor_symbol: str,
        as_of: date,
        run_id: str,
        payload: Payload,
        extra: dict[str, Any] | None = None,
        part: str | None = None,
    ) -> RawFile:
        """Store a payload and its sidecar (plus ``extra`` keys such as ``base`` and ``bars``); never overwrites."""
        path = self.path_for(source, symbol, as_of, run_id, part)
        sidecar = {
            "source": source,
            "symbol": symbol,
            "vendor_symbol": vendor_symbol,
            "as_of": str(as_of),
            "run_id": run_id,
            "request": payload.request,
            "received_at": payload.received_at,
            "from_cache": payload.from_cache,
            "bytes": len(payload.data),
            "sha256": hashlib.sha256(payload.data).hexdigest(),
            **(extra or {}),
        }
        _create(path, payload.data)
        _create(path.with_suffix(".json"), json.dumps(sidecar, indent=2, sort_keys=True).encode())
        return RawFile(relpath=path.relative_to(self.workspace.root).as_posix(), sidecar=sidecar)

    def sidecar(self, relpath: str) -> dict[str, Any]:
        path = self.workspace.root / relpath
        try:
            return json.loads(path.with_suffix(".json").read_text())
        except FileNotFoundError:
            raise DataError(f"raw file {relpath} has no sidecar {path.with_suffix('.json').name}") from None
        except ValueError as err:
            raise DataError(f"sidecar of raw file {relpath} is not valid JSON: {err}") from None

    def read(self, relpath: str, sidecar: dict[str, Any] | None = None) -> bytes:
        """The stored bytes, checked against the sidecar's sha256."""
        sidecar = sidecar if sidecar is not None else self.sidecar(relpath)
        try:
            data = (self.workspace.root / relpath).read_bytes()
        except FileNotFoundError:
            raise DataError(f"raw file {relpath} is missing from the workspace") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != sidecar.get("sha256"):
            raise DataError(f"raw file {relpath} changed since it was stored: sha256 {digest} != sidecar {sidecar.get('sha256')}")
        return data

    # ------------------------------------------------------------------ pieces of a history

    def latest(self, source: str, symbol: str, as_of: date) -> RawFile | None:
        """The newest stored answer for ``symbol`` from ``source`` that parsed as bars, stored for ``as_of`` or earlier."""
        folder = self.root / _safe("source", source) / _safe("symbol", symbol)
        if not folder.is_dir():
            return None
        for side_path in sorted(folder.glob("*.json"), reverse=True):  # names start with the as_of date
            if side_path.name[:10] > str(as_of):
                continue
            try:
                side = json.loads(side_path.read_text())
            except ValueError:
                continue
            if side.get("bars") and not side.get("superseded"):
                return RawFile(side_path.with_suffix(".csv").relative_to(self.workspace.root).as_posix(), side)
        return None

    def chain(self, relpath: str) -> list[RawFile]:
        """The pieces a stored answer stands on, oldest first (itself last)."""
        out, seen = [], set()
        while relpath:
            if relpath in seen:
                raise DataError(f"raw file {relpath}: its base chain loops")
            seen.add(relpath)
            side = self.sidecar(relpath)
            out.append(RawFile(relpath, side))
            relpath = side.get("base")
        return out[::-1]

    def history(self, source: str, relpath: str, since: date | None = None):
        """The bars of ``relpath`` with the pieces it extends stitched in front (a pyarrow table of BAR_SCHEMA).

        With ``since``, only the newest pieces that reach back to ``since`` are read (enough to
        compare an overlap); the result may then start later than the whole history.
        """
        pieces = self.chain(relpath)
        if since is not None:
            for k in range(len(pieces) - 1, -1, -1):
                bars = pieces[k].sidecar.get("bars") or {}
                if bars.get("first") and bars["first"] <= str(since):
                    pieces = pieces[k:]
                    break
        return stitch([parse_bars(source, self.read(p.relpath, p.sidecar)) for p in pieces])
