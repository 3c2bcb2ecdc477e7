"""The momentum signal over arrays for every session at once (the same factors, percentile
ranks and regime check as :mod:`tradeops.signals`), for the array engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit

from ..config import Policy, Universe
from ..signals import FACTORS, SCORE_DECIMALS
from .backtest import Market


# --------------------------------------------------------------------------- the signal, vectorised


def _windows(x: np.ndarray, w: int) -> np.ndarray:
    """Rows ``x[k:k+w]`` for every k, contiguous (the same reduction layout as the live signal's)."""
    if len(x) < w:
        return np.empty((0, w))
    return np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(x, w))


@dataclass
class SignalPanel:
    """The momentum ranking of every session (rows: ``market.sessions``; columns: ``market.symbols``)."""

    score: np.ndarray  # NaN where the symbol is not ranked
    rank: np.ndarray  # int32, 1 = best, 0 = not ranked
    selected: np.ndarray  # bool
    risk_off: np.ndarray  # bool per session: the regime is below its average, or no ranked name has positive mom_12w
    factors: dict[str, np.ndarray] = field(default_factory=dict)


def signal_key(policy: Policy) -> tuple:
    """What :func:`momentum_panel` depends on: runs that differ only in costs, delay, start or
    guard limits share one panel."""
    p = policy.portfolio
    return (
        "signal",
        policy.strategy.momentum.model_dump_json(),
        p.target_positions,
        p.risk_off_ma_sessions,
        policy.data.history_sessions,
        policy.strategy.rotation.lookback_months,
        policy.universe.benchmark,
    )


def momentum_panel(eod: pd.DataFrame, policy: Policy, universe: Universe | None, market: Market) -> SignalPanel:
    """:func:`tradeops.signals.momentum` and :func:`tradeops.signals.market_regime` for every
    session of ``market`` at once, on the bars the live ranker of the exact engine cuts for
    each session (the last ``back`` sessions, :func:`tradeops.research.backtest.live_ranker`)."""
    m, p = policy.strategy.momentum, policy.portfolio
    need = (
        max(
            m.lookback_12w,
            m.lookback_4w,
            m.lookback_1w,
            m.reversal_window,
            m.volatility_window,
            m.volume_window,
            p.risk_off_ma_sessions,
            policy.strategy.rotation.lookback_months * 21,
        )
        + 2
    )
    back = max(policy.data.history_sessions, need)
    S, N = len(market.sessions), len(market.symbols)
    bench = policy.universe.benchmark
    pool = universe.tradable if universe is not None else market.symbols
    candidates = set(s for s in pool if s != bench)
    lookbacks = {"mom_1w": m.lookback_1w, "mom_4w": m.lookback_4w, "mom_12w": m.lookback_12w, "reversal": m.reversal_window}
    w, v = m.volatility_window, m.volume_window
    values = {f: np.full((S, N), np.nan) for f in FACTORS}
    kept = np.zeros((S, N), bool)
    rows_all = market.sessions.get_indexer(pd.DatetimeIndex(eod["date"]))
    frame = eod.assign(_row=rows_all).sort_values(["symbol", "_row"], kind="stable")
    lo_of = np.arange(S) - back  # first row of each session's cut (negative: every bar)
    for sym, g in frame.groupby("symbol", sort=False):
        sym = str(sym)
        if sym not in candidates or sym not in market.col:
            continue
        j = market.col[sym]
        rows = g["_row"].to_numpy(np.int64)
        adj = g["adj_close"].to_numpy(float)
        traded = g["close"].to_numpy(float) * g["volume"].to_numpy(float)
        nb = len(rows)
        b = np.arange(nb)
        i = rows  # the decision session of bar b is its own row (a symbol without a bar on d is dropped)
        lo = lo_of[i]
        first_in = np.searchsorted(rows, lo, "left")  # first bar inside the cut
        count = b - first_in + 1
        ok = np.isfinite(adj) & (adj > 0) & (count >= w + 1) & (count >= v)
        for k, n in lookbacks.items():
            ref = i - n
            pos = np.searchsorted(rows, ref, "right") - 1
            found = (ref >= 0) & (pos >= first_in) & (pos >= 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = adj / adj[np.clip(pos, 0, None)] - 1.0
            values[k][i, j] = -r if k == "reversal" else r
            ok &= found
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.diff(np.log(adj))
            vol = np.full(nb, np.nan)
            win = _windows(d, w)
            if len(win):
                vol[w:] = np.std(win, axis=1, ddof=1)
        liq = _rolling_median(traded, v)
        values["volatility"][i, j] = vol
        values["liquidity"][i, j] = liq
        for f in FACTORS:
            ok &= np.isfinite(values[f][i, j])
        kept[i[ok], j] = True
    weights = policy.strategy.momentum.weights
    score = np.zeros((S, N))
    for f in FACTORS:
        x = np.where(kept, -values[f] if f == "volatility" else values[f], np.inf)
        pct = _pct_rank_rows(x, kept)
        score = score + float(weights.get(f, 0.0)) * pct
    score = np.where(kept, np.round(score, SCORE_DECIMALS), np.nan)
    key = np.where(kept, -score, np.inf)
    order = np.argsort(key, axis=1, kind="stable")  # columns are sorted symbols: ties break by symbol
    rank = np.zeros((S, N), np.int32)
    np.put_along_axis(rank, order, np.arange(1, N + 1, dtype=np.int32)[None, :].repeat(S, 0), axis=1)
    rank[~kept] = 0
    selected = kept & (rank <= p.target_positions)
    n_ranked = kept.sum(axis=1)
    positive = (kept & (values["mom_12w"] > 0)).sum(axis=1)
    risk_off = (n_ranked > 0) & (positive == 0)
    risk_off |= _regime_below(eod, bench, p.risk_off_ma_sessions, back, market)
    for f in FACTORS:
        values[f][~kept] = np.nan  # in place: the factor arrays are this call's own
    return SignalPanel(score, rank, selected, risk_off, values)


@njit(cache=True)
def _rolling_median(x, v):
    """``np.median`` of every window of ``v`` consecutive values (NaN before the first full one,
    and where a window holds a NaN), from one sorted window kept up to date: the same floats
    as numpy's (the middle value, or the sum of the two middle ones divided by 2)."""
    nb = len(x)
    out = np.full(nb, np.nan)
    srt = np.empty(v)
    m = 0  # non-NaN values in the window
    nans = 0
    for b in range(nb):
        if b >= v:  # drop the value leaving the window
            old = x[b - v]
            if old != old:
                nans -= 1
            else:
                k = np.searchsorted(srt[:m], old)
                for t in range(k, m - 1):
                    srt[t] = srt[t + 1]
                m -= 1
        new = x[b]
        if new != new:
            nans += 1
        else:
            k = np.searchsorted(srt[:m], new)
            for t in range(m, k, -1):
                srt[t] = srt[t - 1]
            srt[k] = new
            m += 1
        if b >= v - 1 and nans == 0:
            h = v // 2
            out[b] = srt[h] if v % 2 == 1 else (srt[h - 1] + srt[h]) / 2.0
    return out


def _pct_rank_rows(x: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Per row, over the kept cells: ``rank(pct=True, method="average")`` (ties averaged,
    divided by the count), the same floats as pandas' and :func:`tradeops.signals._pct_rank`.
    The rows are sorted by numpy at once (any order within a tie group gives the same
    average), the tie groups walked in the compiled loop."""
    return _pct_rank_sorted(x, kept, np.argsort(x, axis=1))


@njit(cache=True)
def _pct_rank_sorted(x, kept, order):
    S, N = x.shape
    out = np.full((S, N), np.nan)
    for i in range(S):
        n = 0
        for j in range(N):
            if kept[i, j]:
                n += 1
        if n == 0:
            continue
        idx = order[i]
        k = 0
        while k < n:
            e = k
            while e + 1 < n and x[i, idx[e + 1]] == x[i, idx[k]]:
                e += 1
            r = (k + e + 2) / 2.0
            for t in range(k, e + 1):
                out[i, idx[t]] = r / n
            k = e + 1
    return out


def _regime_below(eod: pd.DataFrame, bench: str, ma: int, back: int, market: Market) -> np.ndarray:
    """Per session: the benchmark has a bar that day and ``ma`` bars in the cut, and its adjusted
    close is below their mean (:func:`tradeops.signals.market_regime`)."""
    S = len(market.sessions)
    out = np.zeros(S, bool)
    g = eod.loc[eod["symbol"] == bench, ["date", "adj_close"]].sort_values("date")
    if g.empty:
        return out
    rows = market.sessions.get_indexer(pd.DatetimeIndex(g["date"]))
    adj = g["adj_close"].to_numpy(float)
    first_in = np.searchsorted(rows, rows - back, "left")
    b = np.arange(len(rows))
    win = _windows(adj, ma)
    mean = np.full(len(rows), np.nan)
    if len(win):
        mean[ma - 1 :] = np.mean(win, axis=1)
    ok = (b - first_in + 1) >= ma
    out[rows[ok]] = adj[ok] < mean[ok]
    return out
