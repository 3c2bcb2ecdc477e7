"""The run archive: find and list runs, check a run's seal and files, compare a re-executed
ticket with the original.  :func:`tradeops.daily.verify_run` re-executes a run with these."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import audit
from .config import Workspace
from .errors import TradeopsError
from .runner import Manifest


# --------------------------------------------------------------------------- archive


def find_run(ws: Workspace, run_id: str) -> Path:
    found = sorted(ws.runs_dir.glob(f"*/{run_id}"))
    if not found:
        raise TradeopsError(f"run {run_id!r} not found under {ws.runs_dir}")
    return found[0]


def list_runs(ws: Workspace) -> list[Manifest]:
    out = []
    for path in sorted(ws.runs_dir.glob("*/*/manifest.json")):
        out.append(Manifest.read(path.parent))
    return sorted(out, key=lambda m: m.started_at)


def _copy_model(ws: Workspace, work: Workspace, fit: str) -> None:
    """A model-scored run (``fit``: the registry id of the fit in its version hash): the scratch
    workspace gets the model spec's promotion verdict and that stored fit from the workspace's
    registry, so the re-executed signal stage passes the same gate and loads the same booster
    (a verdict withdrawn since, or a deleted fit, makes the re-execution fail and say so)."""
    if not fit:
        return
    spec = fit.split(".", 1)[0]
    verdict = ws.models_dir / spec / "verdict.json"
    if verdict.exists():
        (work.models_dir / spec).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(verdict, work.models_dir / spec / "verdict.json")
    stored = ws.models_dir / spec / "fits" / fit
    if stored.is_dir():
        shutil.copytree(stored, work.models_dir / spec / "fits" / fit)


def check_seal(ws: Workspace, src: Path) -> tuple[bool, str]:
    """The run folder against its seal: the manifest's sha256 against the ledger's RUN_SEALED
    event, then every file against the manifest's list.  Names each file that changed."""
    from .ledger import api
    from .ledger.db import make_engine, transaction

    manifest = src / "manifest.json"
    seal = audit.sha256_file(manifest)
    m = Manifest.read(src)
    problems, caveat = [], None
    try:
        engine = make_engine(ws.db_url())
        try:
            with transaction(engine) as s:
                recorded = api.run_seals(s, m.run_id)
        finally:
            engine.dispose()
    except Exception as err:  # noqa: BLE001 - an unreachable ledger: the files are still checked
        recorded, caveat = None, f"seal not checked (ledger unreachable: {type(err).__name__})"
    if recorded is not None and not recorded:
        caveat = "seal not checked (the ledger has no seal for this run: it was unreachable when the run ended, or the run predates sealing)"
    elif recorded and seal not in recorded:
        problems.append(f"manifest.json changed (its sha256 {seal[:12]} is not the seal {recorded[-1][:12]} recorded in the ledger)")
    if m.files:
        problems += audit.changed_files(src, m.files)
    else:  # a run archived before sealing: only the data snapshot's hash is known
        eod = src / "eod.parquet"
        if eod.exists() and audit.sha256_file(eod) != m.hashes.get("eod.parquet"):
            problems.append("eod.parquet changed (does not match the hash in the manifest)")
        caveat = caveat or "the manifest lists no files (a run from before sealing)"
    if problems:
        return False, f"the archive was altered: {'; '.join(problems)}"
    what = f"seal {seal[:12]} matches the ledger" if caveat is None else caveat
    return True, f"{what}; {len(m.files)} files match the manifest"


def ticket_diff(original: bytes, again: bytes) -> str:
    """Which fields differ, and which part of the version hash (code, config, data) moved."""
    a, b = json.loads(original), json.loads(again)
    fields = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    parts = [k for k in ("code", "config", "data") if a.get("version", {}).get(k) != b.get("version", {}).get(k)]
    return f"fields {fields}" + (f"; version hash parts changed: {parts}" if parts else "")
