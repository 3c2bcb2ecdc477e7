"""Time to ticket for the whole daily run: notebooks (papermill) vs the same stages in one process.

Targets (issue 5): under 60 s for 500 symbols; notebook overhead under 2x the in-process time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from ..config import Workspace
from ..demo import PROJECT_CONFIG, prepare_workspace, start_ledger

SESSION = date(2025, 1, 6)
SECTORS = ["Information Technology", "Financials", "Health Care", "Industrials", "Energy", "Utilities", "Materials", "Consumer Staples"]


def _universe_with(n: int, ws: Workspace) -> None:
    """The project's universe, padded with synthetic demo symbols up to ``n`` stocks (+ SPY, QQQ)."""
    rows = list(csv.DictReader(io.StringIO((PROJECT_CONFIG / "universe.csv").read_text())))
    stocks = [r for r in rows if r["instrument_type"] == "stock"]
    etfs = [r for r in rows if r["instrument_type"] == "ETF"]
    for i in range(len(stocks), n):
        sym = f"DM{i:03d}"
        stocks.append({**stocks[0], "internal_symbol": sym, "yahoo_symbol": sym, "stooq_symbol": sym.lower() + ".us",
                       "alphavantage_symbol": sym, "etoro_search_name": sym, "sector": SECTORS[i % len(SECTORS)], "notes": "synthetic"})
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(stocks[:n] + etfs)
    (ws.config_dir / "universe.csv").write_text(out.getvalue())


def _workspace(root: Path, n: int) -> Workspace:
    ws = prepare_workspace(root)
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


def in_process(n: int, root: Path) -> float:
    from .. import stages
    from ..daily import new_run_id

    ws = _workspace(root / f"ip{n}", n)
    run_dir = ws.runs_dir / "bench"
    run_dir.mkdir(parents=True)
    run_id, s, d = new_run_id(stages.run_time(ws.policy(), SESSION)), SESSION.isoformat(), "2025-01-03"
    t0 = time.perf_counter()
    stages.preflight(run_dir, ws.root, s, d)
    stages.fetch(run_dir, ws.root, run_id, d)
    stages.clean_qa(run_dir, ws.root, d)
    stages.signal(run_dir, ws.root, d)
    stages.risk(run_dir, ws.root, s, d)
    stages.ticket(run_dir, ws.root, run_id, s, d)
    return time.perf_counter() - t0


def run() -> str:
    saved = os.environ.get("TRADEOPS_DB_URL")
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="tradeops-bench-") as tmp:
            for n in (100, 500):
                load = os.getloadavg()[0]
                ip = in_process(n, Path(tmp))
                nb = notebooks(n, Path(tmp))
                rows.append((n, nb, ip, load, os.getloadavg()[0]))
    finally:
        if saved is None:
            os.environ.pop("TRADEOPS_DB_URL", None)
        else:
            os.environ["TRADEOPS_DB_URL"] = saved
    lines = [
        "## Daily run: time to ticket (issue 5)", "",
        "Demo provider, fresh SQLite ledger, session 2025-01-06 (a rebalance: a TRADE ticket), stages 00..50.",
        "In-process = the same `tradeops.stages` calls in one Python process (imports already warm).", "",
        f"The machine's load average (1 min) is printed before and after each pair: on a shared machine "
        f"({os.cpu_count()} logical CPUs) a load above that count makes both figures, and their ratio, unreliable.", "",
        "| symbols | notebooks (papermill) | in one process | overhead | load before / after | target < 60 s | target overhead < 2x |",
        "| ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for n, nb, ip, before, after in rows:
        lines.append(f"| {n} | {nb:.1f} s | {ip:.1f} s | {nb / ip:.2f}x | {before:.2f} / {after:.2f} "
                     f"| {'holds' if nb < 60 else 'MISSED'} | {'holds' if nb / ip < 2 else 'MISSED'} |")
    return "\n".join(lines) + "\n"
