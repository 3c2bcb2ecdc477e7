"""Time to ticket for the whole daily run: notebooks (papermill) vs the same stages in one process.

Targets (issue 5): under 60 s for 500 symbols; notebook overhead under 2x the in-process time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from ..config import Workspace
from ..files import write_atomic
from ..demo import PROJECT_CONFIG, prepare_workspace, start_ledger

SESSION = date(2025, 1, 6)
REPEATS = 3  # each figure is the median of this many runs
SECTORS = ["Information Technology", "Financials", "Health Care", "Industrials", "Energy", "Utilities", "Materials", "Consumer Staples"]


def _universe_with(n: int, ws: Workspace) -> None:
    """The project's universe, padded with synthetic demo symbols up to ``n`` stocks (+ SPY, QQQ)."""
    rows = list(csv.DictReader(io.StringIO((PROJECT_CONFIG / "universe.csv").read_text())))
    stocks = [r for r in rows if r["instrument_type"] == "stock"]
    etfs = [r for r in rows if r["instrument_type"] == "ETF"]
    for i in range(len(stocks), n):
        sym = f"DM{i:03d}"
        stocks.append(
            {
                **stocks[0],
                "internal_symbol": sym,
                "yahoo_symbol": sym,
                "stooq_symbol": sym.lower() + ".us",
                "alphavantage_symbol": sym,
                "etoro_search_name": sym,
                "sector": SECTORS[i % len(SECTORS)],
                "notes": "synthetic",
            }
        )
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(stocks[:n] + etfs)
    write_atomic(ws.config_dir / "universe.csv", out.getvalue())


def _workspace(root: Path, n: int) -> Workspace:
    ws = prepare_workspace(root, account_currency="USD")  # the figures in BENCHMARKS.md are of a USD workspace
    _universe_with(n, ws)
    os.environ["TRADEOPS_DB_URL"] = ws.default_db_url
    start_ledger(ws, SESSION)
    return ws


def notebooks(n: int, root: Path) -> float:
    from ..daily import run_daily

    ws = _workspace(root / f"nb{n}", n)
    result = run_daily(ws, SESSION)
    if result.ticket_kind is None:
        raise RuntimeError(f"no ticket: {result.message}")
    return json.loads((result.run_dir / "manifest.json").read_text())["seconds_to_ticket"]


def _stages_in_process(ws: Workspace) -> Path:
    from .. import stages
    from ..daily import new_run_id

    run_dir = ws.runs_dir / "bench"
    run_dir.mkdir(parents=True)
    run_id, s, d = new_run_id(stages.run_time(ws.policy(), SESSION)), SESSION.isoformat(), "2025-01-03"
    stages.preflight(run_dir, ws.root, s, d)
    stages.fetch(run_dir, ws.root, run_id, d)
    stages.clean_qa(run_dir, ws.root, d)
    stages.signal(run_dir, ws.root, d)
    stages.risk(run_dir, ws.root, s, d)
    stages.ticket(run_dir, ws.root, run_id, s, d)
    return run_dir


def in_process(n: int, root: Path) -> float:
    # a first, untimed run on a workspace of its own warms every import and cache the stages
    # touch (including the lazy ones), so that only the stages' own work is timed
    _stages_in_process(_workspace(root / f"ip{n}-warm-up", n))
    ws = _workspace(root / f"ip{n}", n)
    t0 = time.perf_counter()
    _stages_in_process(ws)
    return time.perf_counter() - t0


# A cold start: a new Python process from its first line to the ticket on disk, i.e. what a
# scheduler that called the stages directly would pay (interpreter, imports, work), against
# the same for the notebook run.  The workspace is prepared beforehand, outside the timing.
_COLD = """
from pathlib import Path
started = Path({root!r}) / "bench-started"
started.touch()  # its mtime is the process's start: file times on both ends, no clock read
from datetime import date
from tradeops.config import Workspace
ws = Workspace(Path({root!r}))
if {notebooks!r}:
    from tradeops.daily import run_daily
    ticket = run_daily(ws, date.fromisoformat({session!r})).run_dir / "ticket.json"
else:
    from tradeops.bench.pipeline import _stages_in_process
    ticket = _stages_in_process(ws) / "ticket.json"
print(ticket.stat().st_mtime - started.stat().st_mtime)
"""


def cold(n: int, root: Path, notebooks: bool) -> float:
    import subprocess
    import sys

    ws = _workspace(root / f"cold-{'nb' if notebooks else 'ip'}{n}", n)
    code = _COLD.format(root=str(ws.root), notebooks=notebooks, session=SESSION.isoformat())
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ))
    return float(out.stdout.strip().splitlines()[-1])


def run() -> str:
    saved = os.environ.get("TRADEOPS_DB_URL")
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="tradeops-bench-") as tmp:
            for n in (100, 500):
                load = os.getloadavg()[0]
                runs = [
                    (
                        in_process(n, Path(tmp) / f"{k}"),
                        notebooks(n, Path(tmp) / f"{k}"),
                        cold(n, Path(tmp) / f"{k}", notebooks=False),
                        cold(n, Path(tmp) / f"{k}", notebooks=True),
                    )
                    for k in range(REPEATS)
                ]  # interleaved, so that a burst of load hits both sides alike
                ip, nb, cold_ip, cold_nb = (statistics.median(r[i] for r in runs) for i in range(4))
                rows.append((n, nb, ip, cold_nb, cold_ip, load, os.getloadavg()[0]))
    finally:
        if saved is None:
            os.environ.pop("TRADEOPS_DB_URL", None)
        else:
            os.environ["TRADEOPS_DB_URL"] = saved
    lines = [
        "## Daily run: time to ticket (issue 5)",
        "",
        "Demo provider, fresh SQLite ledger, session 2025-01-06 (a rebalance: a TRADE ticket), stages 00..50;",
        f"each figure the median of {REPEATS} runs, the four kinds interleaved.",
        "Warm: the notebook run's `seconds_to_ticket` against the same `tradeops.stages` calls in one Python",
        "process whose imports are already warm.  Cold: a new Python process, from its first line to the ticket",
        "on disk (interpreter, imports and work), for the notebook run and for the stages called directly.",
        "",
        f"The machine's load average (1 min) is printed before and after each row: on a shared machine "
        f"({os.cpu_count()} logical CPUs) a load above that count makes the figures, and their ratios, unreliable.",
        "",
        "| symbols | notebooks (papermill) | in one process, warm | overhead (warm) | notebooks, cold | in one process, cold "
        "| overhead (cold) | load before / after | target < 60 s | overhead < 2x, warm | overhead < 2x, cold |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for n, nb, ip, cnb, cip, before, after in rows:
        lines.append(
            f"| {n} | {nb:.2f} s | {ip:.2f} s | {nb / ip:.2f}x | {cnb:.2f} s | {cip:.2f} s | {cnb / cip:.2f}x "
            f"| {before:.2f} / {after:.2f} | {'holds' if nb < 60 else 'MISSED'} | {'holds' if nb / ip < 2 else 'MISSED'} "
            f"| {'holds' if cnb / cip < 2 else 'MISSED'} |"
        )
    return "\n".join(lines) + "\n"
