"""Run the benchmarks and write BENCHMARKS.md: python -m tradeops.bench [area ...]."""

from __future__ import annotations

import importlib
import re
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
    if argv and OUT.exists():  # some areas only: their sections replace the same sections, the rest is kept
        text = merge_sections(OUT.read_text(), sections)
    else:
        text = (
            "# Benchmarks\n\n"
            f"Made by `make bench` (`python -m tradeops.bench`) on {stamp}; machine: {machine()}.\n"
            "Targets come from the issues; each section says whether it holds.\n\n" + "\n".join(sections)
        )
    write_atomic(OUT, text)
    print("\n".join(sections))
    return 0


def merge_sections(existing: str, new: list[str]) -> str:
    """``existing`` with each of its ``## `` sections whose heading one of ``new`` repeats replaced by
    that one; a new section whose heading is not there is added at the end."""

    def split(text: str) -> list[str]:
        parts = re.split(r"(?m)^(?=## )", text)
        return [p.rstrip() + "\n" for p in parts if p.strip()]

    def heading(part: str) -> str:
        return part.splitlines()[0].strip()

    parts = split(existing)
    for section in new:
        for i, part in enumerate(parts):
            if part.startswith("## ") and heading(part) == heading(section):
                parts[i] = section
                break
        else:
            parts.append(section)
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
