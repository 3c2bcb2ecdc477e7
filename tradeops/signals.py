"""Signals: clean end-of-day data up to the decision session -> a ranked list.

A signal is a function registered under a name (``policy.strategy.signal``
chooses it).  It receives the clean EOD history *already cut at the decision
session* (:func:`history_until`; momentum and rotation take it as
:class:`Bars`, column arrays with each symbol's row range, which the backtest
cuts per session with two binary searches), so a bar after that session can
never be read, and returns a :class:`Ranking`: one row per candidate with ``symbol``,
``score``, ``rank`` (1 = best, ties broken by symbol), ``selected`` (what
the signal wants to hold) and its own factor columns, plus the symbols it
dropped with a reason.  Add a strategy with ``@register("name")``.

momentum (cross-sectional), on ``adj_close`` at the decision session ``t``:

- ``mom_1w``, ``mom_4w``, ``mom_12w``: return over ``lookback_1w`` /
  ``lookback_4w`` / ``lookback_12w`` exchange sessions,
  ``adj_close[t] / adj_close[t - k] - 1``, where ``t - k`` is the session k
  sessions before ``t`` on the exchange calendar (if the symbol has no bar
  that day, its last bar before it);
- ``volatility``: sample standard deviation (ddof=1) of the last
  ``volatility_window`` daily log returns of the symbol's bars (lower is better);
- ``liquidity``: median of ``close * volume`` (traded value, raw close) over
  the last ``volume_window`` bars (higher is better);
- ``reversal``: minus the return over ``reversal_window`` sessions (a
  short-term mean-reversion term);
- each factor becomes a cross-sectional percentile rank in (0, 1]
  (``rank(pct=True)``, ties averaged; volatility ranked on its negative so
  calm names score high), and
  ``score = sum(weights[f] * pct[f])`` with ``policy.strategy.momentum.weights``,
  rounded to 12 decimals so that float noise never decides a tie;
- candidates are the universe's tradable stocks (benchmark excluded); a
  symbol without a bar on ``t`` or without enough history is dropped with a
  reason; the best ``portfolio.target_positions`` are ``selected``;
- risk-off input: no ranked name has a positive ``mom_12w``.

rotation (cross-asset): among ``strategy.rotation.assets``, the total return
over ``lookback_months * 21`` sessions; hold the best one only if its return
is positive, otherwise ``defensive_asset`` (or cash when it is null).  The
risk guard still applies: to hold one asset fully set
``portfolio.max_weight: 1.0`` and ``target_positions``/``min_positions: 1``
(with the default 10% max weight, 90% stays cash).

Every signal also reports the market regime: the benchmark's adjusted close
against its ``portfolio.risk_off_ma_sessions`` moving average.  The risk
guard turns "below the average" or "no positive momentum" into risk-off.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from collections.abc import Mapping
from typing import Callable, cast

import numpy as np
import pandas as pd

from . import files
from .calendar import ExchangeCalendar, get_calendar
from .config import Policy, Universe
from .errors import ConfigError, DataError

from .history import _as_of_index, Bars, EOD_COLUMNS, history_until  # noqa: F401  (re-exported)

FACTORS = ("mom_1w", "mom_4w", "mom_12w", "volatility", "liquidity", "reversal")
SCORE_DECIMALS = 12
SESSIONS_PER_MONTH = 21


@dataclass(frozen=True)
class Ranking:
    """What a strategy returns: ranked frame, dropped symbols, risk-off hints."""

    frame: pd.DataFrame  # symbol, score, rank, selected, <factor columns>
    dropped: dict[str, str]  # symbol -> why it was not ranked
    note: str  # one line for the ticket's "why" section
    risk_off_reasons: list[str] = field(default_factory=list)
    model: dict | None = None  # the trained model that scored (registry artifact summary), for model-based signals


@dataclass(frozen=True)
class Regime:
    """The benchmark against its long moving average on the decision session."""

    benchmark: str
    ma_sessions: int
    close: float | None
    moving_average: float | None
    below_ma: bool | None  # None: could not be judged (see note)
    note: str


@dataclass(frozen=True)
class SignalResult:
    session: date
    strategy: str
    ranked: pd.DataFrame
    dropped: dict[str, str]
    note: str
    regime: Regime
    risk_off_reasons: list[str]
    model: dict | None = None  # Ranking.model: what goes into the ticket's version hash and the run manifest

    def meta(self) -> dict:
        out = {
            "session": self.session.isoformat(),
            "strategy": self.strategy,
            "note": self.note,
            "regime": asdict(self.regime),
            "risk_off_reasons": list(self.risk_off_reasons),
            "dropped": dict(sorted(self.dropped.items())),
        }
        if self.model is not None:
            out["model"] = dict(self.model)
        return out


SignalFn = Callable[[pd.DataFrame, Policy, date, Universe | None, ExchangeCalendar], Ranking]
_REGISTRY: dict[str, SignalFn] = {}
# signals defined outside this module, by the module that registers them on import: loaded on
# first lookup, so the live signal module never imports research code (and no import cycle:
# tradeops.research.model imports this module to register into it, never the other way)
PROVIDERS: dict[str, str] = {"qlib_lgbm": "tradeops.research.model"}
_loaded: set[str] = set()


def _load_providers() -> None:
    for module in sorted(set(PROVIDERS.values()) - _loaded):
        importlib.import_module(module)
        _loaded.add(module)


def register(name: str, models: bool = False, bars: bool = False) -> Callable[[SignalFn], SignalFn]:
    """Decorator: make a signal function available as ``policy.strategy.signal: name``.
    It receives the history cut at the decision session as a frame, or as :class:`Bars`
    with ``bars=True``.  ``models``: the function scores with trained models and takes
    ``models_dir=`` (the model registry folder; None: train in memory, keep nothing)."""

    def deco(fn: SignalFn) -> SignalFn:
        setattr(fn, "uses_models", models)  # read by compute_signal and the backtest
        setattr(fn, "uses_bars", bars)
        _REGISTRY[name] = fn
        return fn

    return deco


def available() -> list[str]:
    _load_providers()
    return sorted(_REGISTRY)


def get_signal(name: str) -> SignalFn:
    if name not in _REGISTRY and name in PROVIDERS:
        _load_providers()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"policy key 'strategy.signal': {name!r} is not available; choose one of {available()}") from None


# --------------------------------------------------------------------------- momentum


def momentum_factors(bars: "Bars", session: date, policy: Policy, candidates: list[str], calendar: ExchangeCalendar) -> tuple[pd.DataFrame, dict[str, str]]:
    """Raw factor values per candidate (see the module docstring) and the dropped symbols."""
    symbols, cols, dropped = _factor_arrays(bars, session, policy, candidates, calendar)
    return pd.DataFrame({"symbol": symbols, **cols}, columns=["symbol", *FACTORS]), dropped


def _factor_arrays(
    bars: "Bars", session: date, policy: Policy, candidates: list[str], calendar: ExchangeCalendar
) -> tuple[list[str], dict[str, np.ndarray], dict[str, str]]:
    """:func:`momentum_factors` as arrays: the kept symbols, {factor: values}, the dropped.
    Computed for all candidates at once (one search and one gather per factor window, not a
    loop of small numpy calls per symbol); the reasons are checked in the module's order."""
    p = policy.strategy.momentum
    lookbacks = {"mom_1w": p.lookback_1w, "mom_4w": p.lookback_4w, "mom_12w": p.lookback_12w, "reversal": p.reversal_window}
    back = calendar.sessions_back(session, max(lookbacks.values()) + 1)
    if len(back) <= max(lookbacks.values()):
        raise DataError(f"the calendar has too few sessions before {session} for a {max(lookbacks.values())}-session lookback")
    refs = {k: np.datetime64(back[-1 - n], "ns") for k, n in lookbacks.items()}
    t = np.datetime64(session, "ns")
    at_all = {sym: k for k, sym in enumerate(bars.symbols)}
    sel = np.array([at_all[sym] for sym in candidates if sym in at_all], dtype=np.int64)
    present = [bars.symbols[k] for k in sel]
    g = len(present)
    first, stop = bars.start[sel], bars.stop[sel]
    n, last = stop - first, stop - 1
    dates_all, adj_all = bars.date, bars.adj_close
    traded_all = bars.close * bars.volume
    adj_last = adj_all[last] if g else np.array([])
    values, found = {}, {}
    for k, ref in refs.items():
        # the last bar on or before the reference day inside each symbol's rows: one search on (symbol, day)
        pos = np.searchsorted(bars._key, bars._gid[sel] * bars._span + bars._offset(pd.Timestamp(ref).date()), side="right") - 1
        ok = pos >= first
        i = np.clip(pos, 0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = adj_last / adj_all[i] - 1.0
        values[k], found[k] = (-r if k == "reversal" else r), ok
    w, v = p.volatility_window, p.volume_window

    def tail(arr: np.ndarray, length: int) -> np.ndarray:
        idx = last[:, None] - (length - 1) + np.arange(length)[None, :]
        return arr[np.clip(idx, 0, None)]

    with np.errstate(divide="ignore", invalid="ignore"):
        vol = np.std(np.diff(np.log(tail(adj_all, w + 1)), axis=1), axis=1, ddof=1) if g else np.array([])
    liq = np.median(tail(traded_all, v), axis=1) if g else np.array([])
    values["volatility"], values["liquidity"] = vol, liq

    # every check at once; the reason of a failing symbol is then worked out below, in order
    fail = (dates_all[last] != t) | ~(np.isfinite(adj_last) & (adj_last > 0)) | (n < w + 1) | (n < v)
    for k in refs:
        fail |= ~found[k]
    for k in FACTORS:
        fail |= ~np.isfinite(values[k])
    at = {s: j for j, s in enumerate(present)}
    keep, dropped = [], {}
    for sym in candidates:
        j = at.get(sym)
        if j is None:
            dropped[sym] = f"no bars up to {session}"
            continue
        if not fail[j]:
            keep.append(j)
            continue
        if dates_all[last[j]] != t:
            dropped[sym] = f"no bar on the decision session {session} (last bar {pd.Timestamp(dates_all[last[j]]).date()})"
            continue
        if not (np.isfinite(adj_last[j]) and adj_last[j] > 0):
            dropped[sym] = f"adj_close on {session} is {adj_last[j]!r}, not a positive number"
            continue
        why = None
        for key_, ref in refs.items():
            if not found[key_][j]:
                why = (
                    f"history starts {pd.Timestamp(dates_all[first[j]]).date()}; {key_} needs a bar on or before "
                    f"{pd.Timestamp(ref).date()} ({lookbacks[key_]} sessions back)"
                )
                break
        if why is None and n[j] < w + 1:
            why = f"only {n[j]} bars; volatility needs {w + 1}"
        if why is None and n[j] < v:
            why = f"only {n[j]} bars; liquidity needs {v}"
        if why is None:
            bad = [k for k in FACTORS if not np.isfinite(values[k][j])]
            if bad:
                why = f"factor(s) {bad} are not finite (missing or non-positive prices in the window)"
        if why is not None:
            dropped[sym] = why
            continue
        keep.append(j)
    rows = np.array(keep, dtype=np.int64)
    return [present[j] for j in rows], {k: np.asarray(values[k], float)[rows] for k in FACTORS}, dropped


def _pct_rank(values: np.ndarray) -> np.ndarray:
    """``Series.rank(pct=True, method="average")`` of finite values: average rank / count.

    Ties share the mean of the ranks they span, ``(first + last) / 2`` in 1-based ranks, which is
    exact in floating point (as in ``scipy.stats.rankdata``, whose import alone cost every run's
    kernel about 2 s)."""
    n = len(values)
    if not n:
        return np.array([], float)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]  # where each tie group starts
    starts = np.r_[np.flatnonzero(first), n]  # each group's first position, then n
    group = np.cumsum(first) - 1  # the group of each sorted position
    ranks = np.empty(n)
    ranks[order] = ((starts[:-1] + starts[1:] + 1) / 2.0)[group]
    return ranks / n


def _combine_scores_pandas(factors: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    out = factors.copy()
    score = np.zeros(len(out))
    for f in FACTORS:
        values = -out[f] if f == "volatility" else out[f]
        score = score + float(weights.get(f, 0.0)) * values.rank(pct=True, method="average").to_numpy(float)
    out["score"] = np.round(score, SCORE_DECIMALS)
    out = out.sort_values(["score", "symbol"], ascending=[False, True], kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out


def combine_scores(factors: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    """Percentile-rank each factor, weight, sum, and rank (1 = best; ties by symbol)."""
    cols = {f: factors[f].to_numpy(float) for f in FACTORS}
    if list(factors.columns) != ["symbol", *FACTORS] or not all(np.isfinite(v).all() for v in cols.values()):
        return _combine_scores_pandas(factors, weights)  # other columns, or a missing factor: pandas ranks around it
    symbols = factors["symbol"].to_numpy(str)
    order, score = _score_order(symbols, cols, weights)
    return pd.DataFrame(
        {"symbol": symbols[order].astype(object), **{f: v[order] for f, v in cols.items()}, "score": score[order], "rank": np.arange(1, len(order) + 1)}
    )


def _score_order(symbols: np.ndarray, cols: dict[str, np.ndarray], weights: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`combine_scores` on finite factor arrays: the row order (best first, ties by
    symbol) and the score of each row."""
    score = np.zeros(len(symbols))
    for f in FACTORS:
        w = float(weights.get(f, 0.0))
        score = score + w * _pct_rank(-cols[f] if f == "volatility" else cols[f])
    score = np.round(score, SCORE_DECIMALS)
    order = np.lexsort((symbols, -score)) if len(symbols) else np.array([], np.int64)
    return order, score


@register("momentum", bars=True)
def momentum(bars: "Bars", policy: Policy, session: date, universe: Universe | None, calendar: ExchangeCalendar) -> Ranking:
    # the universe's tradable stocks; without a universe, every symbol in the data but the benchmark
    pool = universe.tradable if universe is not None else bars.symbols
    candidates = sorted(s for s in pool if s != policy.universe.benchmark)
    symbols, cols, dropped = _factor_arrays(bars, session, policy, candidates, calendar)
    names = np.array(symbols, dtype=str)
    order, score = _score_order(names, cols, cast("Mapping[str, float]", policy.strategy.momentum.weights))
    n = policy.portfolio.target_positions
    rank = np.arange(1, len(order) + 1)
    # one frame, built once: the combine_scores ranking with the selection
    ranked = pd.DataFrame(
        {"symbol": names[order].astype(object), "score": score[order], "rank": rank, "selected": rank <= n, **{f: cols[f][order] for f in FACTORS}}
    )
    positive = int((cols["mom_12w"] > 0).sum())
    reasons = [] if positive or ranked.empty else [f"no ranked name has positive 12-week momentum ({len(ranked)} ranked)"]
    note = f"momentum: {len(ranked)} names ranked, {len(dropped)} dropped; the top {min(n, len(ranked))} are selected"
    return Ranking(ranked, dropped, note, reasons)


# --------------------------------------------------------------------------- rotation


@register("rotation", bars=True)
def rotation(bars: "Bars", policy: Policy, session: date, universe: Universe | None, calendar: ExchangeCalendar) -> Ranking:
    r = policy.strategy.rotation
    lookback = r.lookback_months * SESSIONS_PER_MONTH
    back = calendar.sessions_back(session, lookback + 1)
    ref = np.datetime64(back[0], "ns")
    t = np.datetime64(session, "ns")
    groups = bars.groups()
    dates_all, adj_all = bars.date, bars.adj_close
    names = list(dict.fromkeys([*r.assets, *([r.defensive_asset] if r.defensive_asset else [])]))
    rows, dropped = [], {}
    for sym in names:
        sl = groups.get(sym)
        if sl is None:
            dropped[sym] = f"no bars up to {session}"
            continue
        dates, adj = dates_all[sl], adj_all[sl]
        i = _as_of_index(dates, ref)
        if dates[-1] != t:
            dropped[sym] = f"no bar on the decision session {session} (last bar {pd.Timestamp(dates[-1]).date()})"
        elif i < 0:
            dropped[sym] = f"history starts {pd.Timestamp(dates[0]).date()}; needs a bar on or before {back[0]} ({lookback} sessions back)"
        elif not (adj[i] > 0 and adj[-1] > 0):
            dropped[sym] = "adj_close is not positive in the lookback"
        else:
            rows.append({"symbol": sym, "momentum": float(adj[-1] / adj[i] - 1.0), "is_asset": sym in r.assets})
    frame = pd.DataFrame(rows, columns=["symbol", "momentum", "is_asset"])
    frame["momentum"] = frame["momentum"].astype(float).round(SCORE_DECIMALS)
    assets = frame[frame["is_asset"]].sort_values(["momentum", "symbol"], ascending=[False, True], kind="stable")
    others = frame[~frame["is_asset"]]
    ranked = pd.concat([assets, others], ignore_index=True)
    ranked["score"] = ranked["momentum"]
    ranked["rank"] = np.arange(1, len(ranked) + 1)
    ranked["selected"] = False
    if assets.empty:
        note = f"rotation: none of {list(r.assets)} can be ranked; hold cash"
    elif assets.iloc[0]["momentum"] > 0:
        best = assets.iloc[0]
        ranked.loc[ranked["symbol"] == best["symbol"], "selected"] = True
        note = f"rotation: {best['symbol']} has the best {r.lookback_months}-month momentum ({best['momentum']:+.2%}) and it is positive: hold it"
    elif r.defensive_asset and r.defensive_asset in set(frame["symbol"]):
        ranked.loc[ranked["symbol"] == r.defensive_asset, "selected"] = True
        note = f"rotation: the best {r.lookback_months}-month momentum is {assets.iloc[0]['momentum']:+.2%} (not positive): hold the defensive asset {r.defensive_asset}"
    else:
        note = f"rotation: the best {r.lookback_months}-month momentum is {assets.iloc[0]['momentum']:+.2%} (not positive): hold cash"
    ranked = ranked[["symbol", "score", "rank", "selected", "momentum"]]
    return Ranking(ranked.reset_index(drop=True), dropped, note, [])


# --------------------------------------------------------------------------- regime and driver


def market_regime(history: "pd.DataFrame | Bars", session: date, benchmark: str, ma_sessions: int) -> Regime:
    """Benchmark adj_close on ``session`` vs the mean of its last ``ma_sessions`` bars."""
    if isinstance(history, Bars):
        sl = history.groups().get(benchmark)
        dates, adj = (history.date[sl], history.adj_close[sl]) if sl is not None else (np.array([], "datetime64[ns]"), np.array([]))
    else:
        rows = history.loc[history["symbol"] == benchmark]
        dates, adj = rows["date"].to_numpy("datetime64[ns]"), rows["adj_close"].to_numpy(float)
    if len(dates) == 0:
        return Regime(benchmark, ma_sessions, None, None, None, f"benchmark {benchmark} has no bars up to {session}")
    last = pd.Timestamp(dates[-1]).date()
    if last != session:
        return Regime(benchmark, ma_sessions, None, None, None, f"benchmark {benchmark} has no bar on {session} (last {last})")
    close = float(adj[-1])
    if len(adj) < ma_sessions:
        return Regime(
            benchmark, ma_sessions, close, None, None, f"benchmark {benchmark} has {len(adj)} bars, fewer than the {ma_sessions}-session average needs"
        )
    ma = float(np.mean(adj[-ma_sessions:]))
    below = close < ma
    word = "below" if below else "above"
    return Regime(benchmark, ma_sessions, close, ma, below, f"{benchmark} {close:.2f} is {word} its {ma_sessions}-session average {ma:.2f}")


def compute_signal(
    eod: "pd.DataFrame | Bars",
    policy: Policy,
    session: date | str,
    universe: Universe | None = None,
    calendar: ExchangeCalendar | None = None,
    models_dir: str | Path | None = None,
) -> SignalResult:
    """Run ``policy.strategy.signal`` on the data up to and including ``session``: ``eod`` is
    the clean frame, or a :class:`Bars` index of it (the backtest's).  ``models_dir``: the
    model registry, for a signal that scores with trained models."""
    calendar = calendar or get_calendar(policy.schedule.exchange)
    day: date = pd.Timestamp(session).date()
    if not calendar.is_session(day):
        raise DataError(f"decision session {day} is not a {calendar.name} session")
    fn = get_signal(policy.strategy.signal)
    if isinstance(eod, Bars):  # the backtest's index: a cut, no frame
        bars = eod.until(day)
        history = bars if getattr(fn, "uses_bars", False) else bars.frame()
    else:
        history = history_until(eod, day)
        bars = Bars.from_frame(history)
    extra = {"models_dir": models_dir} if getattr(fn, "uses_models", False) else {}
    ranking = fn(bars if getattr(fn, "uses_bars", False) else history, policy, day, universe, calendar, **extra)
    regime = market_regime(bars, day, policy.universe.benchmark, policy.portfolio.risk_off_ma_sessions)
    reasons = list(ranking.risk_off_reasons)
    if regime.below_ma:
        reasons.insert(0, regime.note)
    return SignalResult(day, policy.strategy.signal, ranking.frame, ranking.dropped, ranking.note, regime, reasons, ranking.model)


# --------------------------------------------------------------------------- files


def signal_paths(run_dir: str | Path, session: date) -> tuple[Path, Path]:
    """signals/YYYY-MM-DD.csv (the ranked list) and its .json sidecar (regime, dropped, note)."""
    base = Path(run_dir) / "signals" / session.isoformat()
    return base.with_suffix(".csv"), base.with_suffix(".json")


def write_signal(result: SignalResult, run_dir: str | Path) -> Path:
    csv_path, meta_path = signal_paths(run_dir, result.session)
    files.write_atomic(csv_path, result.ranked.to_csv(index=False))
    files.write_json(meta_path, result.meta())
    return csv_path


def read_signal(run_dir: str | Path, session: date) -> SignalResult:
    csv_path, meta_path = signal_paths(run_dir, session)
    try:
        ranked = pd.read_csv(csv_path, dtype={"symbol": str})
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError as err:
        raise DataError(f"signal file not found: {err.filename} (run `tradeops signal` first)") from None
    missing = [c for c in ("symbol", "score", "rank", "selected") if c not in ranked.columns]
    if missing:
        raise DataError(f"{csv_path} is missing columns {missing}")
    ranked["selected"] = ranked["selected"].astype(str).str.lower().isin({"true", "1"})
    return SignalResult(
        session=date.fromisoformat(meta["session"]),
        strategy=meta["strategy"],
        ranked=ranked,
        dropped=meta.get("dropped", {}),
        note=meta.get("note", ""),
        regime=Regime(**meta["regime"]),
        risk_off_reasons=list(meta.get("risk_off_reasons", [])),
        model=meta.get("model"),
    )


def run_signal_stage(
    eod_path: str | Path, policy: Policy, universe: Universe | None, session: date | str, run_dir: str | Path, models_dir: str | Path | None = None
) -> SignalResult:
    """File in, file out: read the clean parquet, rank, write signals/YYYY-MM-DD.csv + .json
    (``models_dir``: the model registry a model-based signal loads and stores its fits in)."""
    eod_path = Path(eod_path)
    if not eod_path.exists():
        raise DataError(f"clean EOD file not found: {eod_path} (run `tradeops data build` first)")
    eod = pd.read_parquet(eod_path, columns=[c for c in ("symbol", "date", "close", "adj_close", "volume")])
    result = compute_signal(eod, policy, session, universe, models_dir=models_dir)
    write_signal(result, run_dir)
    return result
