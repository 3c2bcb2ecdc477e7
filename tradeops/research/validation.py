"""Is a backtest result real?  Overfitting statistics and robustness runs.

Statistics (pure functions on returns):

- :func:`deflated_sharpe`: the Deflated Sharpe Ratio of Bailey & Lopez de
  Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias,
  Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5).
  DSR = PSR(SR0): the probability that the true Sharpe ratio exceeds SR0,
  the Sharpe ratio the best of ``n_trials`` skill-less trials is expected to
  reach, given the estimate's length, skewness and kurtosis.
- :func:`pbo_cscv`: the Probability of Backtest Overfitting by
  Combinatorially Symmetric Cross-Validation, Bailey, Borwein, Lopez de
  Prado & Zhu (2015/2017), "The Probability of Backtest Overfitting",
  J. Computational Finance 20(4): split the T x N matrix of trial returns
  into S blocks; for each of the C(S, S/2) halves, pick the trial with the
  best in-sample Sharpe, find its relative rank w in the other half, logit
  l = ln(w / (1 - w)); PBO = share of halves with l < 0, a logit of exactly 0
  (the median rank, possible only with an odd number of trials) counting
  one half: the chosen trial is then neither better nor worse out of sample
  than the typical one.  Pure noise gives 0.5 for odd and even N alike
  (counting l = 0 as overfit gives 2/3 for 3 trials, not counting it 1/3).

Robustness (each a table of :func:`tradeops.metrics.summary` rows):
cost stress (x1, x2, x3), one-session execution delay, start-date
sensitivity, parameter neighbourhood, regime slices; :func:`walk_forward_refit`
(parameters chosen again before every fold) and :func:`returns_by_period` (the year table).
They take a ``run`` callable (policy, costs, start) -> BacktestResult so the
same code serves the momentum ranker and LightGBM scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import combinations
from math import comb
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .. import metrics
from ..config import Policy
from ..errors import ValidationError
from .backtest import BacktestResult, Costs

EULER_GAMMA = 0.5772156649015329
REGIMES = {
    "2000-02 dot-com bust": (date(2000, 3, 24), date(2002, 10, 9)),
    "2008 financial crisis": (date(2007, 10, 9), date(2009, 3, 9)),
    "2020 covid crash": (date(2020, 2, 19), date(2020, 3, 23)),
    "2020 recovery": (date(2020, 3, 24), date(2020, 12, 31)),
    "2022 bear market": (date(2022, 1, 3), date(2022, 10, 12)),
}
Run = Callable[[Policy, Costs, date], BacktestResult]


# --------------------------------------------------------------------------- Sharpe statistics


def probabilistic_sharpe(sr: float, sr0: float, n: int, skew: float, kurtosis: float) -> float:
    """P[true SR > sr0] for a per-period Sharpe estimate ``sr`` from ``n`` observations
    (``kurtosis`` is the raw kurtosis, 3 for a normal distribution)."""
    if n < 2:
        raise ValidationError(f"probabilistic Sharpe needs at least 2 observations, got {n}")
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if var <= 0:
        raise ValidationError(f"probabilistic Sharpe: 1 - skew*SR + (kurt-1)/4*SR^2 = {var:.4g} is not positive")
    return float(stats.norm.cdf((sr - sr0) * np.sqrt(n - 1) / np.sqrt(var)))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """SR0: the expected maximum per-period Sharpe of ``n_trials`` independent skill-less trials
    whose Sharpe ratios have variance ``sr_variance`` (false strategy theorem)."""
    if n_trials < 2:
        return 0.0
    z1 = stats.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = stats.norm.ppf(1.0 - 1.0 / (n_trials * np.e))
    return float(np.sqrt(sr_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


@dataclass(frozen=True)
class DeflatedSharpe:
    sharpe: float  # per period
    sr0: float  # per period
    dsr: float
    n: int
    skew: float
    kurtosis: float
    n_trials: int


def excess_returns(returns: pd.Series | pd.DataFrame, benchmark_closes: pd.Series) -> pd.Series | pd.DataFrame:
    """Per-session returns over the benchmark's (simple difference) on the sessions both have."""
    bench = benchmark_closes.pct_change().dropna()
    common = returns.index.intersection(bench.index)
    out = returns.loc[common]
    return out.sub(bench.loc[common], axis=0) if isinstance(out, pd.DataFrame) else out - bench.loc[common]


def deflated_sharpe(returns: pd.Series | np.ndarray, n_trials: int, sr_variance: float) -> DeflatedSharpe:
    """DSR of one return series chosen among ``n_trials``; ``sr_variance`` is the variance of the
    per-period Sharpe ratios across the trials."""
    r = np.asarray(pd.Series(returns).dropna(), float)
    if len(r) < 3 or r.std(ddof=1) == 0:
        raise ValidationError(f"deflated Sharpe needs at least 3 varying returns, got {len(r)}")
    sr = float(r.mean() / r.std(ddof=1))
    skew, kurt = float(stats.skew(r)), float(stats.kurtosis(r, fisher=False))
    sr0 = expected_max_sharpe(n_trials, sr_variance)
    return DeflatedSharpe(sr, sr0, probabilistic_sharpe(sr, sr0, len(r), skew, kurt), len(r), skew, kurt, n_trials)


# --------------------------------------------------------------------------- PBO by CSCV


@dataclass(frozen=True)
class PBOResult:
    pbo: float
    logits: np.ndarray
    combinations: int


def _sharpe_cols(m: np.ndarray) -> np.ndarray:
    sd = m.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, m.mean(axis=0) / sd, 0.0)


def pbo_cscv(returns: pd.DataFrame | np.ndarray, partitions: int = 16, metric: Callable[[np.ndarray], np.ndarray] = _sharpe_cols) -> PBOResult:
    """PBO of choosing the in-sample best of N trials (columns of a T x N return matrix)."""
    m = np.asarray(returns, float)
    t, n = m.shape
    if partitions < 2 or partitions % 2:
        raise ValidationError(f"CSCV needs an even number of partitions >= 2, got {partitions}")
    if n < 2 or t < partitions:
        raise ValidationError(f"CSCV needs >= 2 trials and >= {partitions} rows, got {t} x {n}")
    blocks = np.array_split(np.arange(t), partitions)
    if metric is _sharpe_cols:
        logits = _sharpe_logits(m, blocks, partitions)
    else:
        logits = _metric_logits(m, blocks, partitions, metric)
    median = np.isclose(logits, 0.0, atol=1e-12)
    return PBOResult(float(np.mean((logits < 0) & ~median) + 0.5 * np.mean(median)), logits, comb(partitions, partitions // 2))


def _sharpe_logits(m: np.ndarray, blocks: list[np.ndarray], partitions: int) -> np.ndarray:
    """The Sharpe metric for every half at once, from per-block sums (same numbers as the loop)."""
    n = m.shape[1]
    s1 = np.array([m[b].sum(axis=0) for b in blocks])  # S x N
    s2 = np.array([(m[b] ** 2).sum(axis=0) for b in blocks])
    count = np.array([len(b) for b in blocks], float)
    mask = np.zeros((comb(partitions, partitions // 2), partitions))
    for k, chosen in enumerate(combinations(range(partitions), partitions // 2)):
        mask[k, list(chosen)] = 1.0

    def sharpe(w: np.ndarray) -> np.ndarray:
        c = (w @ count)[:, None]
        a, b = w @ s1, w @ s2
        var = np.maximum(b - a * a / c, 0.0) / (c - 1)
        sd = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sd > 1e-15 * np.maximum(np.abs(a / c), 1.0), (a / c) / sd, 0.0)

    best = np.argmax(sharpe(mask), axis=1)
    ranks = stats.rankdata(sharpe(1.0 - mask), axis=1)
    w = ranks[np.arange(len(best)), best] / (n + 1)
    return np.log(w / (1.0 - w))


def _metric_logits(m: np.ndarray, blocks: list[np.ndarray], partitions: int, metric) -> np.ndarray:
    n = m.shape[1]
    logits = []
    for chosen in combinations(range(partitions), partitions // 2):
        rest = [b for b in range(partitions) if b not in chosen]
        ins = m[np.concatenate([blocks[b] for b in chosen])]
        oos = m[np.concatenate([blocks[b] for b in rest])]
        best = int(np.argmax(metric(ins)))
        perf = metric(oos)
        w = stats.rankdata(perf)[best] / (n + 1)  # relative rank in (0, 1)
        logits.append(np.log(w / (1.0 - w)))
    return np.array(logits)


# --------------------------------------------------------------------------- robustness tables


def _row(label: str, result: BacktestResult) -> dict:
    return {"run": label, **metrics.summary(result.returns), "trades": len(result.trades)}


def cost_stress(run: Run, policy: Policy, costs: Costs, start: date, multipliers: Iterable[float] = (1, 2, 3)) -> pd.DataFrame:
    return pd.DataFrame([_row(f"costs x{k:g}", run(policy, costs.scaled(k), start)) for k in multipliers])


def execution_delay(run: Run, policy: Policy, costs: Costs, start: date, delays: Iterable[int] = (0, 1)) -> pd.DataFrame:
    return pd.DataFrame([_row(f"delay {k} session(s)", run(policy, Costs(costs.commission_bps, costs.slippage_bps, k), start)) for k in delays])


def start_sensitivity(run: Run, policy: Policy, costs: Costs, starts: Iterable[date]) -> pd.DataFrame:
    return pd.DataFrame([_row(f"start {s}", run(policy, costs, s)) for s in starts])


def parameter_neighbourhood(run: Run, policy: Policy, costs: Costs, start: date, variants: Mapping[str, dict]) -> pd.DataFrame:
    """``variants``: label -> nested policy update, e.g. {"15 names": {"portfolio": {"target_positions": 15}}}."""
    return pd.DataFrame([_row(label, run(with_update(policy, update), costs, start)) for label, update in variants.items()])


def with_update(policy: Policy, update: dict) -> Policy:
    """``policy`` with a nested update applied (validated like policy.yml)."""
    return Policy.model_validate(_merge(policy.model_dump(), update))


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def regime_slices(returns: pd.Series, regimes: Mapping[str, tuple[date, date]] = REGIMES) -> pd.DataFrame:
    """Metrics of the returns inside each regime window the data covers."""
    rows = []
    for name, (a, b) in regimes.items():
        part = returns.loc[pd.Timestamp(a) : pd.Timestamp(b)]
        if len(part) > 5:
            rows.append({"regime": name, "from": a, "to": b, **metrics.summary(part)})
    return pd.DataFrame(rows)


def returns_by_period(returns: pd.Series, benchmark_closes: pd.Series | None = None, freq: str = "YE") -> pd.DataFrame:
    """One row per calendar year (``freq="YE"``) or quarter (``"QE"``) of one run: its return,
    the benchmark's and the difference, the max drawdown inside the period and the cumulative
    return to its end, so the last ``cumulative`` is the run's total return.  A description
    of one run, not a walk-forward: nothing is re-fitted between the periods."""
    returns = returns.dropna()
    bench = benchmark_closes.dropna().pct_change().reindex(returns.index) if benchmark_closes is not None and len(benchmark_closes.dropna()) > 2 else None
    rows, growth = [], 1.0
    for _, part in returns.groupby(pd.Grouper(freq=freq)):
        if part.empty:
            continue
        total = metrics.total_return(part)
        growth *= 1.0 + total
        row = {
            "period": str(part.index[0].year) if freq == "YE" else f"{part.index[0].year}Q{part.index[0].quarter}",
            "sessions": len(part),
            "total_return": total,
        }
        if bench is not None:
            b = metrics.total_return(bench.loc[part.index].dropna())
            row.update(benchmark_return=b, excess_return=total - b)
        row.update(max_drawdown=metrics.max_drawdown(part), cumulative=growth - 1.0)
        rows.append(row)
    return pd.DataFrame(rows)


def walk_forward_refit(trials: pd.DataFrame, freq: str = "YE", base: str = "base", min_train_sessions: int = 20) -> pd.DataFrame:
    """Walk-forward with re-fit over the pre-registered variants (columns of ``trials``, daily
    returns of each variant's backtest): at the start of every fold the parameters are chosen
    again, as the variant with the best Sharpe on every session before the fold (an anchored
    window of at least ``min_train_sessions``; a tie goes to the earlier column); that
    variant's returns in the fold are out of sample.  A fold without enough history only
    trains.  Rows: fold, the variant chosen, its in-sample Sharpe, its out-of-sample return,
    Sharpe and max drawdown, and the ``base`` variant's return over the same fold; the last
    row chains every out-of-sample fold.

    The chosen variant's fold returns come from its run over the whole window (the book it
    would have held), not from a book restarted at the fold."""
    if base not in trials.columns:
        raise ValidationError(f"walk-forward: the base variant {base!r} is not among the trials {list(trials.columns)}")
    trials = trials.dropna()
    rows, chosen_returns, base_returns = [], [], []
    for _, part in trials.groupby(pd.Grouper(freq=freq)):
        if len(part) <= 5:
            continue
        before = trials.loc[trials.index < part.index[0]]
        if len(before) < min_train_sessions:
            continue
        sharpes = pd.Series({c: metrics.sharpe(before[c]) for c in trials.columns}).fillna(-np.inf)
        pick = str(sharpes.idxmax())
        oos = part[pick]
        chosen_returns.append(oos)
        base_returns.append(part[base])
        rows.append(
            {
                "fold": f"{part.index[0].date()}..{part.index[-1].date()}",
                "chosen": pick,
                "in_sample_sessions": len(before),
                "in_sample_sharpe": float(sharpes[pick]),
                "total_return": metrics.total_return(oos),
                "sharpe": metrics.sharpe(oos),
                "max_drawdown": metrics.max_drawdown(oos),
                "base_total_return": metrics.total_return(part[base]),
            }
        )
    if rows:
        oos, ref = pd.concat(chosen_returns), pd.concat(base_returns)
        switches = sum(a["chosen"] != b["chosen"] for a, b in zip(rows, rows[1:]))
        rows.append(
            {
                "fold": f"out of sample {oos.index[0].date()}..{oos.index[-1].date()}",
                "chosen": f"{switches} change(s) of variant",
                "in_sample_sessions": None,
                "in_sample_sharpe": None,
                "total_return": metrics.total_return(oos),
                "sharpe": metrics.sharpe(oos),
                "max_drawdown": metrics.max_drawdown(oos),
                "base_total_return": metrics.total_return(ref),
            }
        )
    return pd.DataFrame(
        rows, columns=["fold", "chosen", "in_sample_sessions", "in_sample_sharpe", "total_return", "sharpe", "max_drawdown", "base_total_return"]
    )
