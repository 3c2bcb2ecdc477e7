"""Research bars from the clean store: vendor files go through fetch, build and the quality checks first.

:func:`clean_research_bars` builds a research workspace
``<root>/<source>-<key>/`` (its own config, raw store and clean snapshots)
from a provider, the same way the daily run does: fetch, build, quality
report, quarantine of history findings, ``config/corrections.csv`` (copied
from the caller's workspace).  A build is reused while its inputs (the
vendor files, the symbols, the corrections) are unchanged.  Research then
reads that build's snapshot, never the vendor CSVs: excluded symbols and
quarantined bars are not in it, and the snapshot hash and findings go into
the backtest report.

The live gates (coverage on as_of, benchmark present and fresh) are about
trading today; a research folder may lack the benchmark, so when only they
fail the snapshot is still used and the study says so in its notes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from ..calendar import ExchangeCalendar
from ..config import Policy, Universe, Workspace, policy_yaml_data
from ..data import build_clean, fetch
from ..data.providers import AlphaVantageDirProvider
from ..data.quality import Finding, QualityReport, scope_of
from ..errors import DataError
from ..files import write_atomic

LIVE_GATES = ("coverage", "benchmark_present", "benchmark_fresh")


@dataclass
class ResearchBars:
    eod: pd.DataFrame  # the snapshot's rows (clean-frame contract), cut to the research window
    snapshot: str  # sha256 of the snapshot's eod.parquet
    path: Path
    report: QualityReport
    notes: list[str]

    @property
    def quarantine(self) -> list[Finding]:
        return [f for f in self.report.findings if f.verdict == "quarantined"]


def _inputs_key(source: str, folder: Path | None, universe_text: str, corrections: bytes, as_of: date) -> str:
    h = hashlib.sha256(f"{source}\n{as_of}\n{universe_text}".encode())
    h.update(corrections)
    if folder is not None:
        for p in sorted(folder.glob("DA-*-T-*.csv")):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def alphavantage_as_of(folder: Path, calendar: ExchangeCalendar) -> date:
    """The newest export stamp ``T-<date>`` in the folder, as a session (the build cuts there)."""
    stamps = sorted(p.name.rsplit("-T-", 1)[1][:10] for p in folder.glob("DA-*-T-*.csv"))
    if not stamps:
        raise DataError(f"alphavantage folder {folder} has no DA-<SYMBOL>-T-<date>.csv files")
    last = date.fromisoformat(stamps[-1])
    return last if calendar.is_session(last) else calendar.previous_session(last)


def clean_research_bars(
    root: Path,
    source: str,
    universe: Universe,
    policy: Policy,
    calendar: ExchangeCalendar,
    start: date,
    end: date,
    av_dir: str | Path | None = None,
    corrections_file: Path | None = None,
    seed: int = 42,
) -> ResearchBars:
    """Fetch + build ``universe`` from ``source`` (``alphavantage``: the folder ``av_dir``, built as of its
    newest export; ``demo``: the seeded generator from ``start`` to ``end``) into a research workspace
    under ``root`` and return its clean bars in [start, end]."""
    from ..config import universe_csv

    data_update: dict = {"primary": source, "secondary": None, "cross_check": False}
    if source == "alphavantage":
        if av_dir is None:
            raise DataError("source alphavantage needs av_dir, the folder of DA-<SYMBOL>-T-*.csv files")
        folder: Path | None = Path(av_dir).resolve()
        as_of = alphavantage_as_of(folder, calendar)
        data_update["alphavantage_dir"] = str(folder)
        provider = AlphaVantageDirProvider(folder)
        origin = f"{source} {folder}"
    elif source == "demo":
        from ..data.demo import DemoProvider

        folder = None
        as_of = end if calendar.is_session(end) else calendar.previous_session(end)
        sessions = len(calendar.sessions(start, as_of))
        if not 20 <= sessions <= 10000:
            raise DataError(f"demo research window {start}..{as_of} has {sessions} sessions; 20..10000 allowed")
        data_update.update(demo_seed=seed, history_sessions=sessions)
        provider = DemoProvider(seed)
        origin = f"the demo generator (seed {seed}) from {start}"
    else:
        raise DataError(f"research store: unknown source {source!r}; expected 'alphavantage' or 'demo'")

    rows = [(i.internal_symbol, i.instrument_type, i.sector) for i in universe.instruments]
    universe_text = universe_csv(rows, notes="research")
    corrections = corrections_file.read_bytes() if corrections_file is not None and corrections_file.exists() else b""
    key = _inputs_key(f"{source}:{seed}:{start}" if folder is None else source, folder, universe_text, corrections, as_of)
    ws = Workspace.at(Path(root) / f"{source}-{key[:12]}").ensure()
    research_policy = policy.model_copy(
        update={"data": policy.data.model_copy(update=data_update), "universe": policy.universe.model_copy(update={"file": "universe.csv"})}
    )
    # the research workspace's config, for the record (the build below takes the objects themselves)
    write_atomic(ws.policy_path, yaml.safe_dump(policy_yaml_data(research_policy), sort_keys=False))
    write_atomic(ws.config_dir / "universe.csv", universe_text)
    if corrections:
        write_atomic(ws.config_dir / research_policy.quality.corrections_file, corrections)
    built = ws.clean_dir / "build.json"
    report = None
    if built.exists():
        done = json.loads(built.read_text())
        if done.get("key") == key and (ws.root / done["path"]).exists():
            report = QualityReport.load(ws.root / Path(done["path"]).parent / "quality.json")
    if report is None:
        run_id = f"research{len(list((ws.raw_dir / '_fetch').glob(f'{as_of}_research*.json'))) + 1}"
        result = fetch(ws, research_policy, universe, as_of, run_id, providers=[provider])
        report = build_clean(ws, research_policy, universe, as_of, result)
        write_atomic(built, json.dumps({"key": key, "path": report.output["path"], "sha256": report.output["sha256"]}) + "\n")
    path = ws.root / report.output["path"]
    eod = pd.read_parquet(path)
    eod = eod[(eod["date"] >= pd.Timestamp(start)) & (eod["date"] <= pd.Timestamp(end))].reset_index(drop=True)
    for col in ("symbol", "source", "raw_file"):
        eod[col] = eod[col].astype(str)
    notes = [f"bars from clean snapshot {report.output['snapshot']} ({path}), built from {origin} as of {as_of}; quality {'PASS' if report.passed else 'FAIL'}"]
    failed = [c for c in report.checks if scope_of(c) == "gate" and not c.passed]
    live_only = all(c.code in LIVE_GATES for c in failed)
    if failed and not live_only:
        raise DataError(f"research data from {folder} failed the data-quality gate: {'; '.join(report.reasons)}")
    if failed:
        notes.append("live-trading gates failed and do not apply to research: " + "; ".join(c.message for c in failed))
    if report.excluded:
        notes.append(f"{len(report.excluded)} symbol(s) excluded by the quality checks: " + "; ".join(r[0] for r in report.excluded.values()))
    held = [f for f in report.findings if f.verdict == "quarantined"]
    if held:
        notes.append(
            f"{len(held)} quarantined range(s) in {len({f.symbol for f in held})} symbol(s) left out of signals and backtests (see the data findings table)"
        )
    return ResearchBars(eod, report.output["sha256"], path, report, notes)


def findings_table(report: QualityReport, symbols: set[str], start: date, end: date) -> pd.DataFrame:
    """The report's history findings for ``symbols`` overlapping [start, end]."""
    rows = [
        {"symbol": f.symbol, "dates": f.range, "check": f.check, "raw vs adjusted": f.raw_vs_adjusted, "verdict": f.verdict, "detail": f.detail}
        for f in report.findings
        if f.symbol in symbols and f.end >= str(start) and f.start <= str(end)
    ]
    return pd.DataFrame(rows, columns=["symbol", "dates", "check", "raw vs adjusted", "verdict", "detail"])
