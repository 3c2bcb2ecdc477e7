"""Content-addressed clean snapshots and the ``current`` pointer (keep last good).

Every build writes its clean parquet to
``data/clean/snapshots/<sha256[:16]>/eod.parquet`` (with that build's
quality.json/.md beside it).  ``data/clean/current.json`` names the snapshot
every reader uses (:attr:`tradeops.config.Workspace.clean_path`); it moves,
atomically, only when a build passes the data-quality gate.  A failed build
leaves the pointer where it was: its candidate stays in ``snapshots/`` (and
in the run folder) for inspection.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import Workspace
from ..errors import DataError
from ..files import move_into, write_json

ID_LENGTH = 16
KEEP = 10  # snapshots kept besides the current one (newest first); run folders keep their own copies


@dataclass(frozen=True)
class Snapshot:
    snapshot: str  # the first ID_LENGTH hex digits of sha256
    sha256: str  # of eod.parquet
    path: str  # eod.parquet, relative to data/clean
    run_id: str | None
    as_of: str
    rows: int
    symbols: int

    def describe(self) -> str:
        return f"run {self.run_id or '-'} (snapshot {self.snapshot}, as of {self.as_of})"


def snapshots_dir(ws: Workspace) -> Path:
    return ws.clean_dir / "snapshots"


def sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def store(ws: Workspace, written: Path, digest: str | None = None) -> tuple[str, Path]:
    """Move the freshly written parquet ``written`` (sha256 ``digest``, computed when not given) into its
    content-addressed folder; (sha256, folder)."""
    digest = digest or sha256_of(written)
    folder = snapshots_dir(ws) / digest[:ID_LENGTH]
    target = folder / "eod.parquet"
    if target.exists() and target.stat().st_size == written.stat().st_size:
        written.unlink()  # the same bytes are already stored (the folder is named by their hash)
    else:
        move_into(written, target)
    return digest, folder


def scratch_path(ws: Workspace) -> Path:
    """Where a build writes its parquet before it knows its hash."""
    folder = snapshots_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f".building-{os.getpid()}.parquet"


def current(ws: Workspace) -> Snapshot | None:
    """The snapshot ``current.json`` points at, or None before the first good build."""
    try:
        data = json.loads(ws.clean_pointer.read_text())
        return Snapshot(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as err:
        raise DataError(f"{ws.clean_pointer} is not a valid snapshot pointer: {err}") from None


def promote(ws: Workspace, snap: Snapshot) -> None:
    """Point ``current`` at ``snap`` (one atomic write)."""
    if not (ws.clean_dir / snap.path).exists():
        raise DataError(f"snapshot {snap.snapshot} has no {snap.path}; refusing to point current at it")
    write_json(ws.clean_pointer, asdict(snap))


def copy_candidate(ws: Workspace, rel_path: str, target: Path) -> Path:
    """Copy a snapshot's parquet (``rel_path`` relative to the workspace root) to ``target``."""
    shutil.copyfile(ws.root / rel_path, target)
    return target


def prune(ws: Workspace, keep: int = KEEP) -> list[str]:
    """Remove all but the ``keep`` newest snapshot folders (by modification time), never the current one; the removed ids."""
    here = current(ws)
    folders = [p for p in snapshots_dir(ws).iterdir() if p.is_dir() and (here is None or p.name != here.snapshot)]
    folders.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    gone = []
    for p in folders[keep:]:
        shutil.rmtree(p)
        gone.append(p.name)
    return gone
