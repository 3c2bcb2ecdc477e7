"""Raw-store growth per fetch: a full fetch, then one more session fetched incrementally.

500 demo symbols x 20 years: the first fetch (decision session T-1) stores the whole
window; the next day's fetch (T) asks only for the sessions after what is stored plus
``data.overlap_sessions``.  The table gives the bytes each stored, the time, and the
clean build from the stitched pieces next to a build from one full fetch.  The shared
AlphaVantage folder is fetched twice: whole files are stored again only when they change.
Target (issue 16): an incremental fetch of one more session stores kilobytes, not the history.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .data import AV_AS_OF, DEMO_AS_OF, DEMO_SESSIONS, DEMO_SYMBOLS, SHARED, _write_workspace

KB = 1024


def _demo_workspace(root: Path):
    from ..config import Workspace, universe_csv

    sectors = ["Energy", "Financials", "Health Care", "Industrials", "Information Technology", "Utilities"]
    rows = [(f"S{i:03d}", "stock", sectors[i % len(sectors)]) for i in range(DEMO_SYMBOLS - 1)] + [("SPY", "ETF", "Benchmark")]
    _write_workspace(root, universe_csv(rows), {"primary": "demo", "secondary": None, "history_sessions": DEMO_SESSIONS})
    return Workspace.at(root)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def run() -> str:
    from ..calendar import get_calendar
    from ..data import build_clean, fetch

    cal = get_calendar("XNYS")
    day1, day2 = cal.previous_session(DEMO_AS_OF), DEMO_AS_OF
    lines = [
        "## Raw store: bytes per fetch, full vs incremental (issue 16)",
        "",
        f"{DEMO_SYMBOLS} demo symbols x {DEMO_SESSIONS:,} sessions; `data.overlap_sessions` 5. Command: `make bench` (`python -m tradeops.bench fetch`).",
        "",
        "| fetch | sessions asked per symbol | bytes stored | per symbol | fetch (s) | clean build (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory(prefix="tradeops-bench-fetch-") as tmp:
        ws = _demo_workspace(Path(tmp) / "inc")
        policy = ws.policy()
        universe = ws.universe(policy)
        first, t1 = _timed(lambda: fetch(ws, policy, universe, day1, "day1"))
        second, t2 = _timed(lambda: fetch(ws, policy, universe, day2, "day2"))
        _, b2 = _timed(lambda: build_clean(ws, policy, universe, day2, second))
        full, t3 = _timed(lambda: fetch(ws, policy, universe, day2, "full", full=True))
        _, b3 = _timed(lambda: build_clean(ws, policy, universe, day2, full))
        asked = policy.data.overlap_sessions + 1
        n = len(universe.symbols)
        for label, res, secs, sessions, build in (
            (f"first (full window, {day1})", first, t1, DEMO_SESSIONS, None),
            (f"next day, incremental ({day2})", second, t2, asked, b2),
            (f"next day, `--full` ({day2})", full, t3, DEMO_SESSIONS, b3),
        ):
            lines.append(
                f"| {label} | {sessions:,} | {res.stored_bytes:,} | {res.stored_bytes / n / KB:.1f} KB | {secs:.2f} | "
                f"{'-' if build is None else f'{build:.2f}'} |"
            )
        ratio = second.stored_bytes / first.stored_bytes
        holds = second.stored_bytes / n < 10 * KB
        extended = sum(1 for s in universe.symbols if second.chosen(s) and second.chosen(s).incremental)
        whole = [f.symbol for f in second.findings if f.kind == "readjusted"]
        plain = sum(a.stored_bytes for a in second.attempts if a.incremental)
        lines += [
            "",
            f"The incremental fetch stored {ratio:.3%} of the full one ({second.stored_bytes / KB:,.0f} KB for {n} symbols): "
            f"target {'holds' if holds else 'MISSED'} (kilobytes per symbol, not the history). {extended} symbols extended their "
            f"stored history ({plain / max(extended, 1):,.0f} bytes each); {len(whole)} had a new dividend or split that "
            "re-adjusted the vendor's history and were fetched whole again.",
        ]
        if SHARED.is_dir():
            from ..config import Workspace, universe_csv
            from ..data.providers import AlphaVantageDirProvider

            folder = SHARED / "alphavantage-sp500" / "daily_adjusted"
            names = sorted(AlphaVantageDirProvider(folder).spellings())
            root = Path(tmp) / "av"
            _write_workspace(
                root,
                universe_csv([(s, "stock", "") for s in names] + [("SPY", "ETF", "Benchmark")]),
                {"primary": "alphavantage", "secondary": None, "local_files": {"SPY": {"source": "stooq", "path": str(SHARED / "stooq-spy" / "spy.us.csv")}}},
            )
            av = Workspace.at(root)
            pol, uni = av.policy(), av.universe(av.policy())
            a = fetch(av, pol, uni, cal.previous_session(AV_AS_OF), "a", providers=[AlphaVantageDirProvider(folder)])
            b = fetch(av, pol, uni, AV_AS_OF, "b", providers=[AlphaVantageDirProvider(folder)])
            lines += [
                "",
                f"Shared AlphaVantage folder ({len(names)} files + SPY from the Stooq export via `data.local_files`): "
                f"first fetch stored {a.stored_bytes:,} bytes, the next day's {b.stored_bytes:,} (unchanged files are not stored again).",
            ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(run())
