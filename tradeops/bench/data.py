"""Data-layer benchmark: building the clean parquet vs merely reading the CSVs.

Two inputs: the 105 shared AlphaVantage files (+ the Stooq SPY export as
benchmark) and 500 demo symbols x 20 years.  Each is fetched once into a
temporary workspace; then, each in a fresh subprocess (so peak memory is
that workload's alone), we time ``pyarrow.csv.read_csv`` over the same raw
files and :func:`tradeops.data.build_clean` over them (parse, checks,
adjust, parquet + report).  Target: the build within 3x of the read.
"""

from __future__ import annotations

import csv
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from ..files import write_atomic

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
AV_AS_OF = date(2021, 4, 21)
DEMO_AS_OF = date(2024, 12, 31)
DEMO_SYMBOLS = 500
DEMO_SESSIONS = 20 * 252
REPEAT = 5
TARGET = 3.0


def _write_workspace(root: Path, universe_text: str, data: dict) -> None:
    import yaml

    (root / "config").mkdir(parents=True)
    write_atomic(root / "config" / "universe.csv", universe_text)
    write_atomic(root / "config" / "policy.yml", yaml.safe_dump({"data": data}))


class _StooqFile:
    """A requests-like session answering Stooq requests from the shared SPY export (no network)."""

    def __init__(self, path: Path):
        self.body = path.read_bytes()

    def get(self, url, params, timeout):
        class Response:
            status_code = 200
            content = self.body if params["s"] == "spy.us" else b"No data"

        return Response()


def prepare_av(root: Path) -> float:
    """Fetch the shared AlphaVantage files into a workspace at ``root``; returns seconds."""
    from ..config import Workspace, universe_csv
    from ..data import fetch
    from ..data.providers import AlphaVantageDirProvider, StooqProvider

    folder = SHARED / "alphavantage-sp500"
    with open(folder / "constituents.csv", newline="") as fh:
        sectors = {r["Symbol"]: r["Sector"] for r in csv.DictReader(fh)}
    names = sorted(re.match(r"DA-(.+)-T-", p.name)[1] for p in (folder / "daily_adjusted").glob("DA-*-T-*.csv"))
    rows = [(s, "stock", sectors.get(s, "")) for s in names] + [("SPY", "ETF", "Benchmark")]
    _write_workspace(root, universe_csv(rows), {"primary": "alphavantage", "secondary": "stooq", "cross_check": False})
    ws = Workspace.at(root)
    policy = ws.policy()
    stooq = StooqProvider(session=_StooqFile(SHARED / "stooq-spy" / "spy.us.csv"), retries=0, min_interval=0)
    t = time.perf_counter()
    fetch(ws, policy, ws.universe(policy), AV_AS_OF, "bench", providers=[AlphaVantageDirProvider(folder / "daily_adjusted"), stooq])
    return time.perf_counter() - t


def prepare_demo(root: Path) -> float:
    """Fetch 500 demo symbols x 20 years into a workspace at ``root``; returns seconds."""
    from ..config import Workspace, universe_csv
    from ..data import fetch

    sectors = ["Energy", "Financials", "Health Care", "Industrials", "Information Technology", "Utilities"]
    rows = [(f"S{i:03d}", "stock", sectors[i % len(sectors)]) for i in range(DEMO_SYMBOLS - 1)] + [("SPY", "ETF", "Benchmark")]
    _write_workspace(root, universe_csv(rows), {"primary": "demo", "secondary": None, "history_sessions": DEMO_SESSIONS})
    ws = Workspace.at(root)
    policy = ws.policy()
    t = time.perf_counter()
    fetch(ws, policy, ws.universe(policy), DEMO_AS_OF, "bench")
    return time.perf_counter() - t


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def measure(kind: str, root: str, as_of: str) -> dict:
    """In this process: ``time`` alternates read and build REPEAT times (best of each, so
    both see the same machine load); ``read`` or ``build`` runs once for peak memory."""
    import pyarrow.csv as pacsv

    from ..config import Workspace
    from ..data import build_clean

    ws = Workspace.at(root)
    files = sorted(ws.raw_dir.glob("*/*/*.csv"))
    policy = ws.policy()
    universe = ws.universe(policy)

    def read() -> None:
        for path in files:
            try:
                pacsv.read_csv(path)
            except Exception:  # the BF.B error payload is not CSV
                pass

    def build():
        return build_clean(ws, policy, universe, date.fromisoformat(as_of))

    if kind == "time":
        best = {"read": float("inf"), "build": float("inf")}
        for _ in range(REPEAT):
            for name, work in (("read", read), ("build", build)):
                t = time.perf_counter()
                work()
                best[name] = min(best[name], time.perf_counter() - t)
        return {**best, "files": len(files), "rows": build().output["rows"]}
    base = _rss_mb()
    (read if kind == "read" else build)()
    return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "base_mb": base}


def _in_subprocess(kind: str, root: Path, as_of: date) -> dict:
    code = f"import json; from tradeops.bench.data import measure; print(json.dumps(measure({kind!r}, {str(root)!r}, {str(as_of)!r})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> str:
    from . import __main__ as bench_main

    lines = [
        "## Data: clean parquet build vs reading the CSVs",
        "",
        f"Machine: {bench_main.machine()}. Command: `make bench` (`python -m tradeops.bench data`).",
        f"Times are the best of {REPEAT} alternating read/build runs in one subprocess; peak memory is the max RSS of"
        " a fresh subprocess doing one run (imports included; the RSS after imports is in brackets).",
        "The build parses, checks, adjusts and writes `eod.parquet` + the quality report; the read is `pyarrow.csv.read_csv` over the same raw files.",
        "",
        "| input | files | clean rows | fetch (s) | read CSVs (s) | build (s) | build / read | target <= 3x | read peak MB | build peak MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory(prefix="tradeops-bench-") as tmp:
        cases = []
        if SHARED.is_dir():
            cases.append(("105 AlphaVantage files + Stooq SPY", prepare_av, AV_AS_OF, "av"))
        else:
            lines.insert(-2, f"AlphaVantage case skipped: {SHARED} not found.\n")
        cases.append((f"{DEMO_SYMBOLS} demo symbols x 20 years", prepare_demo, DEMO_AS_OF, "demo"))
        for label, prepare, as_of, name in cases:
            root = Path(tmp) / name
            fetch_s = prepare(root)
            t = _in_subprocess("time", root, as_of)
            read, build = _in_subprocess("read", root, as_of), _in_subprocess("build", root, as_of)
            ratio = t["build"] / t["read"]
            lines.append(
                f"| {label} | {t['files']} | {t['rows']:,} | {fetch_s:.2f} | {t['read']:.3f} | {t['build']:.3f} | "
                f"{ratio:.2f}x | {'holds' if ratio <= TARGET else 'MISSED'} | {read['peak_mb']:.0f} ({read['base_mb']:.0f}) | "
                f"{build['peak_mb']:.0f} ({build['base_mb']:.0f}) |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(run())
