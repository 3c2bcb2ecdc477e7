"""Command-line start time: `tradeops --help` and `tradeops confirm --help` in fresh processes.

Each command runs REPEAT times as a new `python -m tradeops.cli` process (what a shell
does); the table gives the median and best wall time and the peak memory (max RSS).
`python -X importtime` names what the slowest one still imports.  Target (issue 16):
both under 1 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = (["--help"], ["confirm", "--help"], ["data", "fetch", "--help"], ["universe", "build", "--help"])
REPEAT = 7
TARGET = 1.0


def time_command(argv: list[str], repeat: int = REPEAT, pythonpath: str | Path = ROOT) -> tuple[float, float, float]:
    """(median s, best s, peak MB) of `python -c 'tradeops.cli.main(argv)'` in fresh processes."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    code = f"import sys; from tradeops.cli import main; sys.exit(main({argv!r}))"
    times, peak = [], 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=str(pythonpath), stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
        times.append(time.perf_counter() - t0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"tradeops {' '.join(argv)} exited {proc.returncode}")
        peak = max(peak, usage.ru_maxrss / 1024)
    return statistics.median(times), min(times), peak


def run() -> str:
    rows = []
    for argv in COMMANDS:
        med, best, mb = time_command(argv)
        target = "holds" if med < TARGET else "MISSED"
        shown = " ".join(argv)
        rows.append(f"| `tradeops {shown}` | {med:.3f} | {best:.3f} | {mb:.0f} | {target if argv in (['--help'], ['confirm', '--help']) else '-'} |")
    return "\n".join(
        [
            "## CLI start time (issue 16)",
            "",
            f"Each command in a fresh `python` process, {REPEAT} times (median and best wall time; peak RSS is the largest of the runs).",
            "Before issue 16 `tradeops --help` imported research, scipy, pandas and the ledger: about 2.4 s and 231 MB here.",
            "",
            "| command | median (s) | best (s) | peak MB | target < 1 s |",
            "| --- | ---: | ---: | ---: | --- |",
            *rows,
            "",
        ]
    )
