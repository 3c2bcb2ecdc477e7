"""Parameter sweeps on the array engine, fanned out with joblib (local processes or a Dask cluster).

A grid (:func:`grid`) of momentum lookbacks, top-N, rebalance frequencies and cost multiples
becomes one policy and cost per variant; variants that share a signal (same lookbacks and
top N) share one :func:`~tradeops.research.array_engine.momentum_panel`, so a task is one
signal group.  The tasks run through ``joblib.Parallel``: local processes (``n_jobs``), or,
given a Dask scheduler address, joblib's ``dask`` backend on that cluster (no scheduler of
our own).  The returns matrix (sessions x variants) feeds PBO (CSCV) and the deflated Sharpe
ratio with the true number of trials (:func:`tradeops.research.promotion.gather`), and the
promotion gate is judged on the variant with the best in-sample Sharpe: the one that would
be promoted.  :func:`write_outputs` records the parameters, the data hash and the code hash
next to the returns so the sweep can be reproduced.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from .. import files, metrics
from ..calendar import get_calendar
from ..config import Policy, Universe
from ..errors import ValidationError
from . import array_engine as ae
from . import promotion, validation
from .backtest import Costs, Market

FREQUENCIES = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class Variant:
    label: str
    lookback: int  # strategy.momentum.lookback_12w; lookback_4w scales with it (1/3)
    top: int
    frequency: str
    cost_multiple: float

    def update(self, policy: Policy) -> dict:
        p = policy.portfolio
        return {
            "strategy": {"momentum": {"lookback_12w": self.lookback, "lookback_4w": max(1, round(self.lookback / 3))}},
            "portfolio": {"target_positions": self.top, "min_positions": min(p.min_positions, self.top), "max_positions": max(p.max_positions, self.top)},
            "rebalance": {"frequency": self.frequency},
        }


def grid(lookbacks=(40, 60, 90, 120), tops=(10, 15), frequencies=("weekly", "monthly"), cost_multiples=(1.0, 2.0, 3.0, 4.0)) -> list[Variant]:
    """Every combination, labelled ``lb60-top15-weekly-x1``."""
    for f in frequencies:
        if f not in FREQUENCIES:
            raise ValidationError(f"sweep frequency {f!r} is unknown; expected one of {FREQUENCIES}")
    out = [
        Variant(f"lb{lb}-top{n}-{f}-x{c:g}", int(lb), int(n), f, float(c)) for lb, n, f, c in itertools.product(lookbacks, tops, frequencies, cost_multiples)
    ]
    if len({v.label for v in out}) != len(out):
        raise ValidationError("sweep grid has repeated values")
    return out


def _group(eod: pd.DataFrame, policy: Policy, universe: Universe, start: date, end: date, costs: Costs, variants: list[Variant]) -> dict[str, pd.Series]:
    """One task: the variants sharing a signal, on one market and one signal panel."""
    cal = get_calendar(policy.schedule.exchange)
    market = Market(eod, cal)
    first = validation.with_update(policy, variants[0].update(policy))
    panel = ae.momentum_panel(eod, first, universe, market)
    out = {}
    for v in variants:
        p = validation.with_update(policy, v.update(policy))
        res = ae.run_array_backtest(eod, p, universe, start, end, costs.scaled(v.cost_multiple), calendar=cal, market=market, signal=panel)
        out[v.label] = res.returns
    return out


def run_sweep(
    eod: pd.DataFrame,
    policy: Policy,
    universe: Universe,
    start: date,
    end: date,
    variants: list[Variant],
    costs: Costs | None = None,
    n_jobs: int = 2,
    dask: str | None = None,
) -> pd.DataFrame:
    """The returns matrix (sessions x variant labels, in grid order)."""
    from joblib import Parallel, delayed, parallel_config

    costs = costs or Costs(policy.research.cost_bps, policy.research.slippage_bps)
    groups: dict[tuple, list[Variant]] = {}
    for v in variants:
        groups.setdefault((v.lookback, v.top), []).append(v)
    tasks = [delayed(_group)(eod, policy, universe, start, end, costs, vs) for vs in groups.values()]
    if dask:
        from distributed import Client

        with Client(dask), parallel_config(backend="dask", wait_for_workers_timeout=60):
            parts = Parallel()(tasks)
    else:
        with parallel_config(backend="loky", n_jobs=n_jobs):
            parts = Parallel()(tasks)
    merged = {k: s for part in parts for k, s in part.items()}
    return pd.concat({v.label: merged[v.label] for v in variants}, axis=1)


@dataclass
class SweepReport:
    returns: pd.DataFrame
    table: pd.DataFrame  # per variant: Sharpe, total return, max drawdown
    candidate: str
    verdict: promotion.Verdict | None
    pbo: float | None
    dsr: float | None
    note: str

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.text())}</pre>" + self.table.sort_values("sharpe", ascending=False).to_html(float_format="%.4f")

    def text(self) -> str:
        lines = [f"sweep: {self.returns.shape[1]} variants x {self.returns.shape[0]} sessions", f"would be promoted: {self.candidate} (best in-sample Sharpe)"]
        if self.verdict is not None:
            lines.append(f"PBO {self.pbo:.3f}, deflated Sharpe {self.dsr:.3f} (over {self.returns.shape[1]} trials)")
            lines.append(f"promotion gate: {'PASS' if self.verdict.granted else 'FAIL'}")
            lines += [f"  {'PASS' if c.passed else 'FAIL'} {c.code}: {c.message}" for c in self.verdict.checks]
        else:
            lines.append(self.note)
        return "\n".join(lines)


def judge_sweep(returns: pd.DataFrame, policy: Policy, benchmark_closes: pd.Series | None = None) -> SweepReport:
    """PBO, deflated Sharpe and the promotion gate on the best in-sample variant."""
    r = returns.dropna()
    table = pd.DataFrame({c: metrics.summary(r[c]) for c in r.columns}).T[["sharpe", "total_return", "max_drawdown"]]
    candidate = str(table["sharpe"].idxmax())
    try:
        ev = promotion.gather(r, candidate, benchmark_closes, policy.promotion)
    except Exception as err:  # too few sessions / trials: say why, no verdict
        return SweepReport(r, table, candidate, None, None, None, f"no promotion verdict: {err}")
    verdict = promotion.judge(ev, policy.promotion)
    return SweepReport(r, table, candidate, verdict, float(ev.pbo), float(ev.dsr), "")


def code_hash() -> str:
    """sha256 over the tradeops package's source files (path and bytes, sorted)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def data_hash(eod: pd.DataFrame) -> str:
    """sha256 of the bars (row hashes of the sorted frame)."""
    cols = [c for c in ("symbol", "date", "open", "close", "adj_close", "volume", "dividend", "split") if c in eod.columns]
    frame = eod[cols].sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


def write_outputs(folder: str | Path, report: SweepReport, params: dict, eod: pd.DataFrame, snapshot: str | None = None) -> Path:
    """returns.csv, variants.csv and sweep.json (parameters, data hash, code hash, verdict) in ``folder``."""
    folder = Path(folder)
    files.write_atomic(folder / "returns.csv", report.returns.to_csv())
    files.write_atomic(folder / "variants.csv", report.table.to_csv())
    meta = {
        "params": params,
        "data_hash": data_hash(eod),
        "snapshot": snapshot,
        "code_hash": code_hash(),
        "n_trials": int(report.returns.shape[1]),
        "sessions": int(report.returns.shape[0]),
        "candidate": report.candidate,
        "pbo": report.pbo,
        "dsr": report.dsr,
        "gate": None if report.verdict is None else {"granted": report.verdict.granted, "checks": [promotion.check_to_dict(c) for c in report.verdict.checks]},
        "note": report.note,
    }
    return files.write_json(folder / "sweep.json", meta, sort_keys=True)


def parse_list(text: str, kind=int) -> tuple:
    try:
        return tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError as err:
        raise ValidationError(f"cannot read {text!r} as a comma-separated list of {kind.__name__}: {err}") from None


def sweep_study(
    source: str = "demo",
    start: date | str = "2019-01-02",
    end: date | str = "2021-04-16",
    symbols: int = 30,
    av_dir=None,
    policy: Policy | dict | None = None,
    seed: int = 42,
    lookbacks: str = "40,60,90,120",
    tops: str = "10,15",
    frequencies: str = "weekly,monthly",
    cost_multiples: str = "1,2,3,4",
    reports_dir: str | Path = "reports",
    n_jobs: int = 2,
    dask: str | None = None,
    store_dir=None,
    corrections_file=None,
    benchmark_file=None,
    no_benchmark: bool = False,
) -> tuple[SweepReport, Path]:
    """The whole sweep (``tradeops backtest sweep``'s and the sweep notebook's one call): load the
    bars through the clean store, run the grid, judge it, write ``reports_dir/sweep-<key>/``."""
    from ..config import parse_policy
    from .benchmark import require_benchmark
    from .study import load_bars

    policy = policy if isinstance(policy, Policy) else parse_policy(policy or {})
    start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    variants = grid(parse_list(lookbacks), parse_list(tops), parse_list(frequencies, str), parse_list(cost_multiples, float))
    longest = max(v.lookback for v in variants)
    base = validation.with_update(policy, {"strategy": {"momentum": {"lookback_12w": max(longest, policy.strategy.momentum.lookback_12w)}}})
    eod, universe, data = load_bars(source, start, end, symbols, base, "momentum", av_dir, seed, None, store_dir, corrections_file)
    eod, _ = require_benchmark(eod, policy, benchmark_file, no_benchmark)
    returns = run_sweep(eod, policy, universe, start, end, variants, n_jobs=n_jobs, dask=dask)
    bench = eod.loc[eod["symbol"] == policy.universe.benchmark].set_index("date")["close"]
    report = judge_sweep(returns, policy, bench if len(bench) else None)
    params = {
        "source": source,
        "start": str(start),
        "end": str(end),
        "symbols": symbols,
        "seed": seed,
        "lookbacks": lookbacks,
        "tops": tops,
        "frequencies": frequencies,
        "cost_multiples": cost_multiples,
        "policy_hash": policy.hash(),
        "engine": "array",
        "trials": [v.label for v in variants],
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    path = write_outputs(Path(reports_dir) / f"sweep-{key}", report, params, eod, data.snapshot)
    return report, path
