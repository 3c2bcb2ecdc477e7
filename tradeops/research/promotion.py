"""The promotion gate: a candidate model is granted or refused against the policy's thresholds.

The evidence (:func:`gather`) comes from a study's sweep of pre-registered
variants: the T x N matrix of their daily returns, the candidate's column
and, when the data has it, the benchmark's closes.

================  ======================================================  ==========================
check             measured                                                policy key (``promotion.``)
================  ======================================================  ==========================
``trials``        pre-registered variants in the sweep                     ``min_trials``
``pbo``           probability of backtest overfitting (CSCV) of the sweep  ``max_pbo``
``dsr``           deflated Sharpe ratio of the candidate (over the         ``min_dsr``
                  benchmark when there is one), deflated by the sweep
``oos_sharpe``    annualised Sharpe on the hold-out (the last              ``min_oos_sharpe``
                  ``holdout_fraction`` of the sessions)
``oos_drawdown``  max drawdown on the hold-out                             ``max_oos_drawdown``
================  ======================================================  ==========================

:func:`judge` is pure and returns every check with its reason (data, not an
exception).  :func:`record` writes the verdict to the model registry folder
(``data/models/<model_id>/verdict.json``; a granted one also becomes
``data/models/current.json``).  :func:`promotion_gate` is what the live
signal stage asks: is the model the policy would run today promoted?
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .. import files, metrics
from ..checks import Check
from ..config import Policy, Promotion
from ..errors import DataError, ValidationError
from . import validation

# the model spec, its id and the live gate live with the registry (tradeops.research.model needs
# them, and importing this module would pull validation -> backtest -> risk back into the model)
from .registry import MODEL_FILES, MODEL_KEYS, model_code_hash, model_id, model_params, promotion_gate, spec_id  # noqa: F401  re-exported


@dataclass(frozen=True)
class Evidence:
    candidate: str
    n_trials: int
    sessions: int
    pbo: float
    dsr: float
    dsr_basis: str  # "returns over SPY" | "raw returns (no benchmark)"
    oos_sessions: int
    oos_sharpe: float
    oos_max_drawdown: float  # positive: 0.2 = 20% below the peak


def _check(name: str, passed: bool, reason: str) -> Check:
    """A promotion check as the package's one check record (source "promotion", the reason as its message)."""
    return Check.verdict("promotion", name, passed, reason)


def check_to_dict(c: Check) -> dict:
    """A check in verdict.json's form: ``{name, passed, reason}``."""
    return {"name": c.code, "passed": c.passed, "reason": c.message}


@dataclass(frozen=True)
class Verdict:
    granted: bool
    checks: tuple[Check, ...]
    evidence: Evidence

    @property
    def word(self) -> str:
        return "GRANTED" if self.granted else "REFUSED"

    def summary(self) -> str:
        failed = [c.message for c in self.checks if not c.passed]
        return f"promotion {self.word}" + (": " + "; ".join(failed) if failed else f": {len(self.checks)} checks pass")

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{"check": c.code, "result": "PASS" if c.passed else "FAIL", "reason": c.message} for c in self.checks])

    def to_dict(self) -> dict:
        evidence = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self.evidence).items()}
        return {"granted": self.granted, "checks": [check_to_dict(c) for c in self.checks], "evidence": evidence}


def gather(trials: pd.DataFrame, candidate: str, benchmark_closes: pd.Series | None, thresholds: Promotion) -> Evidence:
    """Evidence for ``candidate`` (a column of ``trials``, daily returns of every pre-registered variant)."""
    if candidate not in trials.columns:
        raise ValidationError(f"promotion: candidate {candidate!r} is not among the trials {list(trials.columns)}")
    trials = trials.dropna()
    t, n = trials.shape
    partitions = 16 if t >= 160 else 8 if t >= 40 else 0
    if not partitions or n < 2:
        raise DataError(f"promotion: {t} sessions x {n} trials are too few for CSCV (40 sessions and 2 trials needed)")
    pbo = validation.pbo_cscv(trials, partitions).pbo
    bench = benchmark_closes if benchmark_closes is not None and len(benchmark_closes.dropna()) > 2 else None
    basis = trials if bench is None else validation.excess_returns(trials, bench.dropna())
    sharpes = basis.mean() / basis.std(ddof=1)
    dsr = validation.deflated_sharpe(basis[candidate], n, float(np.nan_to_num(sharpes.var(ddof=1)))).dsr
    own = trials[candidate]
    k = max(2, int(round(len(own) * thresholds.holdout_fraction)))
    hold = own.iloc[-k:]
    return Evidence(
        candidate=candidate,
        n_trials=n,
        sessions=t,
        pbo=float(pbo),
        dsr=float(dsr),
        dsr_basis="raw returns (no benchmark)" if bench is None else f"returns over {bench.name or 'the benchmark'}",
        oos_sessions=len(hold),
        oos_sharpe=float(metrics.sharpe(hold)),
        oos_max_drawdown=float(abs(metrics.max_drawdown(hold))),
    )


def judge(evidence: Evidence, thresholds: Promotion) -> Verdict:
    """Every check of the module table, each with its reason; granted only if all pass."""
    e, p = evidence, thresholds
    checks = (
        _check(
            "trials",
            e.n_trials >= p.min_trials,
            f"{e.n_trials} pre-registered variants {'>=' if e.n_trials >= p.min_trials else '<'} promotion.min_trials {p.min_trials}",
        ),
        _check("pbo", e.pbo <= p.max_pbo, f"PBO {e.pbo:.3f} {'<=' if e.pbo <= p.max_pbo else '>'} promotion.max_pbo {p.max_pbo:g}"),
        _check("dsr", e.dsr > p.min_dsr, f"deflated Sharpe {e.dsr:.3f} on {e.dsr_basis} {'>' if e.dsr > p.min_dsr else '<='} promotion.min_dsr {p.min_dsr:g}"),
        _check(
            "oos_sharpe",
            e.oos_sharpe >= p.min_oos_sharpe,
            f"hold-out Sharpe {e.oos_sharpe:.2f} over the last {e.oos_sessions} sessions {'>=' if e.oos_sharpe >= p.min_oos_sharpe else '<'} promotion.min_oos_sharpe {p.min_oos_sharpe:g}",
        ),
        _check(
            "oos_drawdown",
            e.oos_max_drawdown <= p.max_oos_drawdown,
            f"hold-out max drawdown {e.oos_max_drawdown:.1%} {'<=' if e.oos_max_drawdown <= p.max_oos_drawdown else '>'} promotion.max_oos_drawdown {p.max_oos_drawdown:.0%}",
        ),
    )
    return Verdict(all(c.passed for c in checks), checks, evidence)


def record(registry: str | Path, verdict: Verdict, policy: Policy, now: datetime, study: dict | None = None) -> Path:
    """Write the verdict to ``registry/<model_id>/verdict.json`` (and ``current.json`` when granted)."""
    if now.tzinfo is None:
        raise ValidationError("promotion record: `now` must be timezone-aware")
    registry, mid = Path(registry), model_id(policy)
    body = {
        "model_id": mid,
        "verdict": verdict.word,
        "decided_at": now.isoformat(timespec="seconds"),
        "thresholds": policy.promotion.model_dump(mode="json"),
        "study": study or {},
        **verdict.to_dict(),
    }
    path = files.write_json(registry / mid / "verdict.json", body)
    if verdict.granted:
        files.write_json(registry / "current.json", {"model_id": mid, "decided_at": body["decided_at"]})
    return path
