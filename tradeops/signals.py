"""Signals: clean end-of-day data up to the decision session -> a ranked list.

A signal is a function registered under a name (``policy.strategy.signal``
chooses it).  It receives the clean EOD frame *already cut at the decision
session* (:func:`history_until`), so a bar after that session can never be
read, and returns a :class:`Ranking`: one row per candidate with ``symbol``,
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

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .calendar import ExchangeCalendar, get_calendar
from .config import Policy, Universe
from .errors import ConfigError, DataError

EOD_COLUMNS = ("symbol", "date", "close", "adj_close", "volume")
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


def register(name: str, models: bool = False) -> Callable[[SignalFn], SignalFn]:
    """Decorator: make a signal function available as ``policy.strategy.signal: name``.
    ``models``: the function scores with trained models and takes ``models_dir=`` (the
    model registry folder; None: train in memory, keep nothing)."""

    def deco(fn: SignalFn) -> SignalFn:
        fn.uses_models = models
        _REGISTRY[name] = fn
        return fn

    return deco


def available() -> list[str]:
    return sorted(_REGISTRY)


def get_signal(name: str) -> SignalFn:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"policy key 'strategy.signal': {name!r} is not available; choose one of {available()}") from None


# --------------------------------------------------------------------------- data access


def history_until(eod: pd.DataFrame, session: date) -> pd.DataFrame:
    """The bars with date <= session, sorted by (symbol, date).  Nothing later survives."""
    missing = [c for c in EOD_COLUMNS if c not in eod.columns]
    if missing:
        raise DataError(f"clean EOD frame is missing columns {missing}")
    cut = eod.loc[eod["date"] <= pd.Timestamp(session)]
    starts, names = _runs(cut)
    day = cut["date"].to_numpy("datetime64[ns]")
    same = np.ones(len(cut), dtype=bool)
    same[starts] = False
    in_order = names == sorted(set(names)) and bool(np.all(~same[1:] | (day[1:] > day[:-1])))
    if not in_order:
        cut = cut.sort_values(["symbol", "date"], kind="stable")
    return cut.reset_index(drop=True)


def _runs(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Start rows and symbols of the runs of equal consecutive symbols (vectorised: the
    symbol column may be Arrow-backed, where a per-row conversion is slow)."""
    sym = frame["symbol"]
    if len(sym) == 0:
        return np.array([], dtype=np.int64), []
    arrow = getattr(sym.array, "__arrow_array__", None)
    if arrow is not None:  # Arrow strings (the parquet's): compare in Arrow, 6x faster than through pandas
        import pyarrow.compute as pc

        col = arrow()
        change = pc.fill_null(pc.not_equal(col.slice(1), col.slice(0, len(col) - 1)), True).to_numpy(zero_copy_only=False)
    else:
        values = sym.to_numpy()
        change = values[1:] != values[:-1]
    starts = np.flatnonzero(np.r_[True, np.asarray(change, dtype=bool)])
    return starts, [str(x) for x in sym.iloc[starts]]


def _per_symbol(history: pd.DataFrame) -> dict[str, slice]:
    """symbol -> row slice of a frame sorted by (symbol, date)."""
    starts, names = _runs(history)
    ends = np.r_[starts[1:], len(history)]
    return {name: slice(int(a), int(b)) for name, a, b in zip(names, starts, ends)}


def _as_of_index(dates: np.ndarray, day: np.datetime64) -> int:
    """Index of the last bar on or before ``day`` (-1 if none)."""
    return int(np.searchsorted(dates, day, side="right")) - 1


# --------------------------------------------------------------------------- momentum


def momentum_factors(
    history: pd.DataFrame, session: date, policy: Policy, candidates: list[str], calendar: ExchangeCalendar
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Raw factor values per candidate (see the module docstring) and the dropped symbols.
    Computed for all candidates at once (one gather per factor window, not a loop of small
    numpy calls per symbol); the reasons are checked in the order listed in the module."""
    p = policy.strategy.momentum
    lookbacks = {"mom_1w": p.lookback_1w, "mom_4w": p.lookback_4w, "mom_12w": p.lookback_12w, "reversal": p.reversal_window}
    back = calendar.sessions_back(session, max(lookbacks.values()) + 1)
    if len(back) <= max(lookbacks.values()):
        raise DataError(f"the calendar has too few sessions before {session} for a {max(lookbacks.values())}-session lookback")
    refs = {k: np.datetime64(back[-1 - n], "ns") for k, n in lookbacks.items()}
    t = np.datetime64(session, "ns")
    groups = _per_symbol(history)
    present = [s for s in candidates if s in groups]
    g = len(present)
    first = np.array([groups[s].start for s in present], dtype=np.int64)
    stop = np.array([groups[s].stop for s in present], dtype=np.int64)
    n, last = stop - first, stop - 1
    dates_all = history["date"].to_numpy("datetime64[ns]")
    adj_all = history["adj_close"].to_numpy(float)
    traded_all = history["close"].to_numpy(float) * history["volume"].to_numpy(float)
    # the last bar on or before each reference day, inside each symbol's rows: one search on
    # (symbol position, day), which is sorted because the frame is sorted by (symbol, date)
    day_all = dates_all.astype("datetime64[D]").astype(np.int64)
    gid = np.repeat(np.arange(g, dtype=np.int64), n)
    rows_of = np.concatenate([np.arange(a, b) for a, b in zip(first, stop)]) if g else np.array([], np.int64)
    span = int(day_all.max() - day_all.min() + 2) if len(day_all) else 1
    key = gid * span + (day_all[rows_of] - (day_all.min() if len(day_all) else 0))
    local = np.concatenate([[0], np.cumsum(n)[:-1]]) if g else np.array([], np.int64)
    adj_last = adj_all[last] if g else np.array([])
    values, found = {}, {}
    for k, ref in refs.items():
        ref_day = int(ref.astype("datetime64[D]").astype(np.int64)) - (int(day_all.min()) if len(day_all) else 0)
        pos = np.searchsorted(key, np.arange(g, dtype=np.int64) * span + ref_day, side="right") - 1
        ok = pos >= local
        i = rows_of[np.clip(pos, 0, None)] if g else np.array([], np.int64)
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

    at = {s: j for j, s in enumerate(present)}
    keep, dropped = [], {}
    for sym in candidates:
        j = at.get(sym)
        if j is None:
            dropped[sym] = f"no bars up to {session}"
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
                why = (f"history starts {pd.Timestamp(dates_all[first[j]]).date()}; {key_} needs a bar on or before "
                       f"{pd.Timestamp(ref).date()} ({lookbacks[key_]} sessions back)")
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
    keep = np.array(keep, dtype=np.int64)
    frame = pd.DataFrame({"symbol": [present[j] for j in keep], **{k: np.asarray(values[k], float)[keep] for k in FACTORS}},
                         columns=["symbol", *FACTORS])
    return frame, dropped


def _pct_rank(values: np.ndarray) -> np.ndarray:
    """``Series.rank(pct=True, method="average")`` of finite values: average rank / count."""
    from scipy.stats import rankdata

    return rankdata(values, method="average") / len(values) if len(values) else np.array([], float)


def _combine_scores_pandas(factors: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    out = factors.copy()
    score = np.zeros(len(out))
    for f in FACTORS:
        values = -out[f] if f == "volatility" else out[f]
        score = score + float(weights.get(f, 0.0)) * values.rank(pct=True, method="average").to_numpy(float)
    out["score"] = np.round(score, SCORE_DECIMALS)
    out = out.sort_values(["score", "symbol"], ascending=[False, True], kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out


def combine_scores(factors: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """Percentile-rank each factor, weight, sum, and rank (1 = best; ties by symbol)."""
    cols = {f: factors[f].to_numpy(float) for f in FACTORS}
    if list(factors.columns) != ["symbol", *FACTORS] or not all(np.isfinite(v).all() for v in cols.values()):
        return _combine_scores_pandas(factors, weights)  # other columns, or a missing factor: pandas ranks around it
    score = np.zeros(len(factors))
    for f in FACTORS:
        w = float(weights.get(f, 0.0))
        score = score + w * _pct_rank(-cols[f] if f == "volatility" else cols[f])
    score = np.round(score, SCORE_DECIMALS)
    symbols = factors["symbol"].to_numpy(str)
    order = np.lexsort((symbols, -score)) if len(factors) else np.array([], np.int64)
    return pd.DataFrame({"symbol": symbols[order].astype(object), **{f: v[order] for f, v in cols.items()},
                         "score": score[order], "rank": np.arange(1, len(order) + 1)})


@register("momentum")
def momentum(history: pd.DataFrame, policy: Policy, session: date, universe: Universe | None, calendar: ExchangeCalendar) -> Ranking:
    # the universe's tradable stocks; without a universe, every symbol in the data but the benchmark
    pool = universe.tradable if universe is not None else _per_symbol(history)
    candidates = sorted(s for s in pool if s != policy.universe.benchmark)
    factors, dropped = momentum_factors(history, session, policy, candidates, calendar)
    ranked = combine_scores(factors, policy.strategy.momentum.weights)
    n = policy.portfolio.target_positions
    ranked["selected"] = ranked["rank"] <= n
    ranked = ranked[["symbol", "score", "rank", "selected", *FACTORS]]
    positive = int((ranked["mom_12w"] > 0).sum())
    reasons = [] if positive or ranked.empty else [f"no ranked name has positive 12-week momentum ({len(ranked)} ranked)"]
    note = f"momentum: {len(ranked)} names ranked, {len(dropped)} dropped; the top {min(n, len(ranked))} are selected"
    return Ranking(ranked, dropped, note, reasons)


# --------------------------------------------------------------------------- rotation


@register("rotation")
def rotation(history: pd.DataFrame, policy: Policy, session: date, universe: Universe | None, calendar: ExchangeCalendar) -> Ranking:
    r = policy.strategy.rotation
    lookback = r.lookback_months * SESSIONS_PER_MONTH
    back = calendar.sessions_back(session, lookback + 1)
    ref = np.datetime64(back[0], "ns")
    t = np.datetime64(session, "ns")
    groups = _per_symbol(history)
    dates_all = history["date"].to_numpy("datetime64[ns]")
    adj_all = history["adj_close"].to_numpy(float)
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


def market_regime(history: pd.DataFrame, session: date, benchmark: str, ma_sessions: int) -> Regime:
    """Benchmark adj_close on ``session`` vs the mean of its last ``ma_sessions`` bars."""
    bars = history.loc[history["symbol"] == benchmark]
    if bars.empty:
        return Regime(benchmark, ma_sessions, None, None, None, f"benchmark {benchmark} has no bars up to {session}")
    last = pd.Timestamp(bars["date"].iloc[-1]).date()
    if last != session:
        return Regime(benchmark, ma_sessions, None, None, None, f"benchmark {benchmark} has no bar on {session} (last {last})")
    adj = bars["adj_close"].to_numpy(float)
    close = float(adj[-1])
    if len(adj) < ma_sessions:
        return Regime(benchmark, ma_sessions, close, None, None, f"benchmark {benchmark} has {len(adj)} bars, fewer than the {ma_sessions}-session average needs")
    ma = float(np.mean(adj[-ma_sessions:]))
    below = close < ma
    word = "below" if below else "above"
    return Regime(benchmark, ma_sessions, close, ma, below, f"{benchmark} {close:.2f} is {word} its {ma_sessions}-session average {ma:.2f}")


def compute_signal(
    eod: pd.DataFrame, policy: Policy, session: date | str, universe: Universe | None = None, calendar: ExchangeCalendar | None = None,
    models_dir: str | Path | None = None,
) -> SignalResult:
    """Run ``policy.strategy.signal`` on the data up to and including ``session``
    (``models_dir``: the model registry, for a signal that scores with trained models)."""
    calendar = calendar or get_calendar(policy.schedule.exchange)
    session = pd.Timestamp(session).date()
    if not calendar.is_session(session):
        raise DataError(f"decision session {session} is not a {calendar.name} session")
    history = history_until(eod, session)
    fn = get_signal(policy.strategy.signal)
    extra = {"models_dir": models_dir} if getattr(fn, "uses_models", False) else {}
    ranking = fn(history, policy, session, universe, calendar, **extra)
    regime = market_regime(history, session, policy.universe.benchmark, policy.portfolio.risk_off_ma_sessions)
    reasons = list(ranking.risk_off_reasons)
    if regime.below_ma:
        reasons.insert(0, regime.note)
    return SignalResult(session, policy.strategy.signal, ranking.frame, ranking.dropped, ranking.note, regime, reasons, ranking.model)


# --------------------------------------------------------------------------- files


def signal_paths(run_dir: str | Path, session: date) -> tuple[Path, Path]:
    """signals/YYYY-MM-DD.csv (the ranked list) and its .json sidecar (regime, dropped, note)."""
    base = Path(run_dir) / "signals" / session.isoformat()
    return base.with_suffix(".csv"), base.with_suffix(".json")


def write_signal(result: SignalResult, run_dir: str | Path) -> Path:
    csv_path, meta_path = signal_paths(run_dir, result.session)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    result.ranked.to_csv(csv_path, index=False)
    meta_path.write_text(json.dumps(result.meta(), indent=2) + "\n")
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


def run_signal_stage(eod_path: str | Path, policy: Policy, universe: Universe | None, session: date | str, run_dir: str | Path,
                     models_dir: str | Path | None = None) -> SignalResult:
    """File in, file out: read the clean parquet, rank, write signals/YYYY-MM-DD.csv + .json
    (``models_dir``: the model registry a model-based signal loads and stores its fits in)."""
    eod_path = Path(eod_path)
    if not eod_path.exists():
        raise DataError(f"clean EOD file not found: {eod_path} (run `tradeops data build` first)")
    eod = pd.read_parquet(eod_path, columns=[c for c in ("symbol", "date", "close", "adj_close", "volume")])
    result = compute_signal(eod, policy, session, universe, models_dir=models_dir)
    write_signal(result, run_dir)
    return result
from .research import model as _qlib_model  # noqa: E402,F401  registers the "qlib_lgbm" signal
