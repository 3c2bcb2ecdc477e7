"""The run folder's shared files: the gates every stage writes (``gates/<stage>.json``) and
reads back in precedence order, and the JSON writer the stages use.  Its own module, so
that the stages, the daily run and the reports read them without importing each other."""

from __future__ import annotations

import json
from pathlib import Path

from . import files

GATE_ORDER = ("kill_switch", "drawdown", "confirmations", "reconciliation", "data_quality", "fx_rate", "model_promotion", "ticket_sanity", "stage_failure")


def write_json(path: Path, obj) -> Path:
    """A run-folder JSON file, atomically (keys sorted; dates and Decimals as strings)."""
    return files.write_json(path, obj, sort_keys=True, default=str)


def write_gates(run_dir: Path, stage: str, gates: list[dict]) -> Path:
    return write_json(run_dir / "gates" / f"{stage}.json", gates)


def read_all_gates(run_dir: Path) -> list[dict]:
    """Every gate result of the run, in precedence order."""
    gates = []
    for path in sorted((run_dir / "gates").glob("*.json")):
        gates.extend(json.loads(path.read_text()))
    rank = {name: i for i, name in enumerate(GATE_ORDER)}
    return sorted(gates, key=lambda g: rank.get(g["name"], len(rank)))
