"""Run the benchmarks and write BENCHMARKS.md: python -m tradeops.bench [area ...]."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from ..clock import SYSTEM
from ..files import write_atomic
from .common import machine

AREAS = ["cli", "data", "fetch", "ledger", "trading", "pipeline", "dashboard", "reports", "research", "array"]
OUT = Path(__file__).resolve().parents[2] / "BENCHMARKS.md"


def main(argv: list[str]) -> int:
    wanted = argv or AREAS
    sections = []
    for area in wanted:
        try:
            mod = importlib.import_module(f"tradeops.bench.{area}")
        except ModuleNotFoundError as err:
            if err.name == f"tradeops.bench.{area}":
                continue
            raise
        print(f"bench: {area} ...", flush=True)
        sections.append(mod.run().rstrip() + "\n")
    stamp = SYSTEM.now().strftime("%Y-%m-%d %H:%M UTC")
    text = (
        "# Benchmarks\n\n"
        f"Made by `make bench` (`python -m tradeops.bench`) on {stamp}; machine: {machine()}.\n"
        "Targets come from the issues; each section says whether it holds.\n\n" + "\n".join(sections)
    )
    write_atomic(OUT, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
