"""The array engine: the backtest of :mod:`tradeops.research.backtest` over session x symbol arrays.

The same timing, costs, cash and rules as :func:`tradeops.research.backtest.run_backtest`
(which calls the live Decimal guard, :func:`tradeops.risk.decide`, on every decision
session): the live guard stays the single definition of the rules, and this module mirrors
it rule for rule in one compiled loop over the sessions (numba, cached on disk).  The
conformance test (tests/research/test_array_conformance.py) runs both engines on the same
real bars and requires identical selections and trade sides, approved weights within 1e-9
and equity within 1e-6 relative.

What is exact and what is float:

- cash is whole cents (int64), units are whole micro-units (int64, the guard's 6 dp), as
  the Decimal book keeps them; dividends (cents, half-even) and commissions (cents,
  half-even, of the cent-valued fill) are integer arithmetic, so a half cent rounds the way
  Decimal rounds it;
- prices, values, weights and equity are float64 (reference prices: the raw close rounded
  to 4 dp, as :meth:`Market.reference_prices`); a unit count that lands on the 6 dp grid
  (value / price exactly a whole micro-unit) is recognised within 1e-7 micro-units.

The momentum signal is computed for every session at once (:func:`momentum_panel`), on
the same window of bars the live ranker cuts (``data.history_sessions``), with reductions
that give the same floats (numpy's std over the same windows; the median of traded value from
a sorted window, the same middle values and the same halving), so the scores, ranks, factors
and selection equal the live signal's bit for bit (tests/research/test_array_conformance.py).  Quarantined ranges are
honoured as the exact engine honours them (a sell of every unit at the open before a range a
position may not be carried across, no buy until it ends); other strategies fall back to the
exact engine (:func:`supports`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
from numba import njit, objmode

from ..calendar import ExchangeCalendar, get_calendar
from ..config import Policy, Universe
from ..errors import DataError
from ..signals import FACTORS, SCORE_DECIMALS
from .backtest import Costs, HaltResume, Market, _benchmark_above_ma, _quarantine_rows

SUPPORTED = ("momentum",)

# decision kinds and the flags of what shaped or refused a decision (names: RULE_FLAGS)
KIND_NONE, KIND_HOLD, KIND_TRADE, KIND_NO_TRADE = -1, 0, 1, 2
KINDS = {KIND_HOLD: "HOLD", KIND_TRADE: "TRADE", KIND_NO_TRADE: "NO-TRADE"}
RULE_FLAGS = (
    "risk_off", "no_buy", "max_positions", "max_weight", "cash_buffer(targets)", "max_turnover", "tiny_deltas", "min_order_value",
    "cash_buffer(trades)", "failed:known_tradable", "failed:max_positions", "failed:max_weight", "failed:max_turnover",
    "failed:cash_buffer", "failed:long_only", "halt", "exact_guard",
)
F = {name: 1 << k for k, name in enumerate(RULE_FLAGS)}


def supports(strategy: str, policy: Policy | None = None) -> tuple[bool, str]:
    """Whether the array engine runs ``strategy`` under ``policy`` (else the exact engine does, with this note)."""
    if strategy not in SUPPORTED:
        return False, f"the array engine supports {', '.join(SUPPORTED)}; {strategy} runs on the exact (Decimal) engine"
    if policy is not None and (not policy.portfolio.fractional_units or policy.account.account_currency != "USD"):
        return False, "the array engine runs USD accounts with fractional units; this policy runs on the exact (Decimal) engine"
    return True, ""


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
    return ("signal", policy.strategy.momentum.model_dump_json(), p.target_positions, p.risk_off_ma_sessions, policy.data.history_sessions,
            policy.strategy.rotation.lookback_months, policy.universe.benchmark)


def momentum_panel(eod: pd.DataFrame, policy: Policy, universe: Universe | None, market: Market) -> SignalPanel:
    """:func:`tradeops.signals.momentum` and :func:`tradeops.signals.market_regime` for every
    session of ``market`` at once, on the bars the live ranker of the exact engine cuts for
    each session (the last ``back`` sessions, :func:`tradeops.research.backtest.live_ranker`)."""
    m, p = policy.strategy.momentum, policy.portfolio
    need = max(m.lookback_12w, m.lookback_4w, m.lookback_1w, m.reversal_window, m.volatility_window, m.volume_window,
               p.risk_off_ma_sessions, policy.strategy.rotation.lookback_months * 21) + 2
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
        mean[ma - 1:] = np.mean(win, axis=1)
    ok = (b - first_in + 1) >= ma
    out[rows[ok]] = adj[ok] < mean[ok]
    return out


# --------------------------------------------------------------------------- exact small numbers


def _fraction(x: float, limit: int = 10**7) -> tuple[int, int]:
    """``Decimal(repr(x))`` (:func:`tradeops.risk.dec`) as numerator / power-of-ten denominator."""
    d = Decimal(repr(float(x)))
    fr = Fraction(d)
    if fr.denominator > limit or abs(fr.numerator) > 10**12:
        raise DataError(f"{x!r} has too many decimals for the array engine's integer arithmetic (denominator {fr.denominator} > {limit})")
    return fr.numerator, fr.denominator


def _fractions(a: np.ndarray, neutral: float) -> tuple[np.ndarray, np.ndarray]:
    """Per cell: ``dec(x)`` as num / den, or den 0 when it has too many decimals (then the
    loop uses the float, e.g. a 0.333333333333 split).

    Vectorised for the cells whose shortest repr has at most 6 decimals (every dividend and
    split in practice): the smallest k <= 6 for which ``rint(x * 10**k) / 10**k == x`` is the
    number of decimals of ``repr(x)`` (a k-decimal string that round-trips is the shortest
    one, and only one can: 10**-k is far above the float spacing below 10**6), and IEEE
    division of two exact integers rounds as ``float(str)`` does; the fraction is then
    reduced as :class:`fractions.Fraction` reduces it.  Every other cell (more decimals, NaN,
    too large) goes through :func:`_fraction` as before."""
    num = np.full(a.shape, int(neutral), np.int64)
    den = np.ones(a.shape, np.int64)
    idx = np.nonzero(a != neutral)
    x = a[idx]
    n_out = np.zeros(len(x), np.int64)
    d_out = np.zeros(len(x), np.int64)
    todo = np.ones(len(x), bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(7):
            scale = float(10**k)
            cand = np.rint(x * scale)
            hit = todo & np.isfinite(cand) & (np.abs(cand) <= 1e12) & (cand / scale == x)
            n_out[hit] = cand[hit].astype(np.int64)
            d_out[hit] = 10**k
            todo &= ~hit
    g = np.gcd(n_out, d_out)
    g[g == 0] = 1
    n_out //= g
    d_out //= g
    for t in np.flatnonzero(todo):
        try:
            n_out[t], d_out[t] = _fraction(x[t], 10**6)
        except DataError:
            n_out[t], d_out[t] = 0, 0
    num[idx], den[idx] = n_out, d_out
    return num, den


# --------------------------------------------------------------------------- the compiled loop


@njit(cache=True)
def _rhe_div(num, den):
    """round-half-even(num / den) for int64 num >= 0, den > 0."""
    q = num // den
    r = num - q * den
    if 2 * r > den or (2 * r == den and q % 2 == 1):
        q += 1
    return q


@njit(cache=True)
def _rhe(x):
    return np.rint(x)


@njit(cache=True)
def _floor_grid(q):
    """floor(q), where q a hair below a whole number is that number: q is micro-units or cents,
    and a value that is exact in Decimal (e.g. 10% of an all-cash book) may be a float ulp off."""
    r = np.rint(q)
    if abs(q - r) < 1e-7:
        return r
    return np.floor(q)


@njit(cache=True)
def _ceil_grid(q):
    r = np.rint(q)
    if abs(q - r) < 1e-7:
        return r
    return np.ceil(q)


@njit(cache=True)
def _near(q):
    """q (cents) is within a hair of a whole cent: where Decimal's 28-digit quotients (1/3,
    2/3 of an exact amount) decide which cent a budget floors to, so the live guard decides."""
    return abs(q - np.rint(q)) < 1e-6


@njit(cache=True)
def _shrink_value(value, k):
    """:func:`tradeops.risk._shrink` (fractional units): the value scaled by k, to the cent, down."""
    return np.floor(value * k * 100.0) / 100.0


@njit(cache=True)
def _decide(n_sym, cash_c, units, price, priced, is_rebalance, ranks, selected, risk_off, no_buy,
            max_positions, max_weight, buffer, max_turnover, tiny_value, tiny_weight, min_order, risk_off_keep,
            t_side, t_value, t_close):
    """One guard decision (:func:`tradeops.risk.decide`, no halt): fills t_side (+1 BUY / -1 SELL / 0),
    t_value, t_close; returns (kind, flags, equity)."""
    cash = cash_c / 100.0
    values = np.zeros(n_sym)
    missing = False
    eq = cash
    for j in range(n_sym):
        t_side[j] = 0
        t_value[j] = 0.0
        t_close[j] = False
        if units[j] > 0:
            if priced[j]:
                values[j] = units[j] * 1e-6 * price[j]
                eq += values[j]
            else:
                missing = True
    flags = 0
    near = False
    targets = np.zeros(n_sym)
    has_target = np.zeros(n_sym, np.bool_)
    if is_rebalance:
        nsel = 0
        for j in range(n_sym):
            if selected[j]:
                nsel += 1
        for j in range(n_sym):
            if selected[j]:
                targets[j] = 1.0 / nsel
                has_target[j] = True
                if not priced[j]:
                    missing = True
        if risk_off and risk_off_keep < 1.0:
            flags |= 1 << 0
            for j in range(n_sym):
                targets[j] *= risk_off_keep
    else:
        for j in range(n_sym):
            if units[j] > 0 and priced[j]:
                targets[j] = values[j] / eq if eq > 0 else 0.0
                has_target[j] = True
    if eq <= 0:
        return KIND_HOLD_, flags, eq, near
    # ---- shape targets: long_only (nothing negative here), no_buy, max_positions, max_weight, cash_buffer
    for j in range(n_sym):
        if no_buy[j] and has_target[j]:
            cap = values[j] / eq
            if targets[j] > cap:
                targets[j] = cap
                flags |= 1 << 1
    npos = 0
    for j in range(n_sym):
        if has_target[j] and targets[j] > 0:
            npos += 1
    if npos > max_positions:
        flags |= 1 << 2
        # keep the best by (rank or 1e9, -target, symbol)
        idx = np.empty(npos, np.int64)
        keyr = np.empty(npos)
        keyt = np.empty(npos)
        c = 0
        for j in range(n_sym):
            if has_target[j] and targets[j] > 0:
                idx[c] = j
                keyr[c] = ranks[j] if ranks[j] > 0 else 1e9
                keyt[c] = -targets[j]
                c += 1
        # insertion sort (small n) on (rank, -target, column)
        for a in range(1, npos):
            x = idx[a]; xr = keyr[a]; xt = keyt[a]
            b = a - 1
            while b >= 0 and (keyr[b] > xr or (keyr[b] == xr and (keyt[b] > xt or (keyt[b] == xt and idx[b] > x)))):
                idx[b + 1] = idx[b]; keyr[b + 1] = keyr[b]; keyt[b + 1] = keyt[b]
                b -= 1
            idx[b + 1] = x; keyr[b + 1] = xr; keyt[b + 1] = xt
        for a in range(max_positions, npos):
            targets[idx[a]] = 0.0
    for j in range(n_sym):
        if has_target[j] and targets[j] > max_weight:
            targets[j] = max_weight
            flags |= 1 << 3
    total = 0.0
    for j in range(n_sym):
        if has_target[j]:
            total += targets[j]
    room = 1.0 - buffer
    if not (total <= room or total == 0):
        k = room / total
        flags |= 1 << 4
        for j in range(n_sym):
            targets[j] *= k
    # ---- size the trades (make_trades, fractional units)
    for j in range(n_sym):
        if not priced[j]:
            continue
        if not has_target[j] and units[j] <= 0:
            continue
        cur = values[j]
        held = units[j]
        tw = targets[j] if has_target[j] else 0.0
        if tw <= 0 and held > 0:
            if cur >= 0.01:
                t_side[j] = -1; t_value[j] = cur; t_close[j] = True
            continue
        want = tw * eq
        delta = want - cur
        if abs(delta) < 0.005:
            continue
        if delta > 0:
            near |= _near(delta * 100.0)
            budget = _floor_grid(delta * 100.0) / 100.0
            u = np.floor(budget / price[j] * 1e6)
            if budget > 0 and u > 0:
                t_side[j] = 1; t_value[j] = budget
        elif delta < 0:
            u = _ceil_grid(-delta / price[j] * 1e6)
            if u > held:
                u = held
            near |= _near(-delta * 100.0)
            value = _ceil_grid(-delta * 100.0) / 100.0
            if u >= held or value >= cur:
                t_side[j] = -1; t_value[j] = cur; t_close[j] = True
            elif value > 0:
                t_side[j] = -1; t_value[j] = value
    # ---- shape trades: max_turnover, tiny_deltas, min_order_value, cash_buffer, then the small filters again
    tot = 0.0
    sells = 0.0
    buys = 0.0
    for j in range(n_sym):
        if t_side[j] != 0:
            tot += t_value[j]
            if t_side[j] < 0:
                sells += t_value[j]
            else:
                buys += t_value[j]
    if tot / 2.0 / eq > max_turnover:
        flags |= 1 << 5
        budget = 2.0 * max_turnover * eq
        if sells <= budget:
            k_sell = 1.0
            k_buy = (budget - sells) / buys
        else:
            k_sell = budget / sells
            k_buy = 0.0
        for j in range(n_sym):
            if t_side[j] == 0:
                continue
            k = k_sell if t_side[j] < 0 else k_buy
            if k != 1.0:
                near |= _near(t_value[j] * k * 100.0)
                v = _shrink_value(t_value[j], k)
                if np.floor(v / price[j] * 1e6) <= 0:
                    v = 0.0
                t_value[j] = v
                t_close[j] = False
            if t_value[j] <= 0:
                t_side[j] = 0
                t_value[j] = 0.0
    for rnd in range(2):
        flags |= _small(n_sym, t_side, t_value, t_close, eq, tiny_value, tiny_weight, min_order)
        if rnd == 0:
            # cash_buffer.shape_trades
            cash_after = cash
            total = 0.0
            for j in range(n_sym):
                if t_side[j] < 0:
                    cash_after += t_value[j]
                elif t_side[j] > 0:
                    cash_after -= t_value[j]
                    total += t_value[j]
            short = buffer * eq - cash_after
            if short > 0 and total != 0:
                flags |= 1 << 8
                k = (total - short) / total
                if k < 0:
                    k = 0.0
                for j in range(n_sym):
                    if t_side[j] > 0:
                        near |= _near(t_value[j] * k * 100.0)
                        v = _shrink_value(t_value[j], k)
                        if np.floor(v / price[j] * 1e6) <= 0:
                            v = 0.0
                        t_value[j] = v
                        if v <= 0:
                            t_side[j] = 0
    # ---- checks
    failed = 0
    if missing:
        failed |= 1 << 9
    cash_after = cash
    nbuy = 0
    opened = False
    tot = 0.0
    post = values.copy()
    for j in range(n_sym):
        if t_side[j] != 0:
            tot += t_value[j]
        if t_side[j] < 0:
            if t_close[j]:
                cash_after += values[j]
                post[j] = 0.0
            else:
                cash_after += t_value[j]
                post[j] -= t_value[j]
                if t_value[j] > values[j]:
                    failed |= 1 << 14
        elif t_side[j] > 0:
            cash_after -= t_value[j]
            post[j] += t_value[j]
            nbuy += 1
            if values[j] == 0:
                opened = True
    npost = 0
    for j in range(n_sym):
        if post[j] >= 0.01:
            npost += 1
    if npost > max_positions and opened:
        failed |= 1 << 10
    limit = max_weight * eq
    for j in range(n_sym):
        if post[j] > limit + EPS and (t_side[j] > 0 or post[j] > values[j] + EPS):
            failed |= 1 << 11
    if tot / 2.0 / eq > max_turnover + 1e-12:
        failed |= 1 << 12
    if nbuy > 0 and cash_after < buffer * eq - EPS:
        failed |= 1 << 13
    for j in range(n_sym):
        if t_side[j] > 0 and no_buy[j]:
            failed |= 1 << 11  # never reached: no_buy caps the target
    if failed:
        return KIND_NO_TRADE_, flags | failed, eq, near
    for j in range(n_sym):
        if t_side[j] != 0:
            return KIND_TRADE_, flags, eq, near
    return KIND_HOLD_, flags, eq, near


KIND_HOLD_, KIND_TRADE_, KIND_NO_TRADE_ = KIND_HOLD, KIND_TRADE, KIND_NO_TRADE
EPS = 1e-9  # dollars: a check's bound met exactly in Decimal may be a float hair off


@njit(cache=True)
def _small(n_sym, t_side, t_value, t_close, eq, tiny_value, tiny_weight, min_order):
    """TinyDeltas then MinOrderValue: drop small trades (never a whole-position close)."""
    flags = 0
    for j in range(n_sym):
        if t_side[j] != 0 and not t_close[j]:
            if t_value[j] < tiny_value or (eq > 0 and t_value[j] / eq < tiny_weight):
                t_side[j] = 0; t_value[j] = 0.0
                flags |= 1 << 6
    for j in range(n_sym):
        if t_side[j] != 0 and not t_close[j] and t_value[j] < min_order:
            t_side[j] = 0; t_value[j] = 0.0
            flags |= 1 << 7
    return flags


@njit(cache=True)
def _run(i0, i1, open_, refp, mark, ca_ptr, ca_col, div_num, div_den, div_f, split_num, split_den, split_f, ranks, selected, risk_off, no_buy,
         exec_ord, due_ord, due_ok, bench_ok, cash_c0, slip, fee_num, fee_den, delay, daily_checks,
         max_positions, max_weight, buffer, max_turnover, tiny_value, tiny_weight, min_order, risk_off_keep,
         max_dd, resume_rule, resume_min, ctx, exits, blocked):
    S, N = open_.shape
    W = i1 - i0 + 1
    equity = np.zeros(W)
    kind = np.full(W, -1, np.int8)
    rebal = np.zeros(W, np.bool_)
    halt_dec = np.zeros(W, np.bool_)
    flags = np.zeros(W, np.int64)
    # session x symbol outputs, packed: one row per decision session (dec_w: its row of the
    # window) and one per session that may fill (fill_w); np.empty, so the pages of rows never
    # written are never touched (a dense W x N array per output cost most of the loop's time)
    dec_w = np.empty(W, np.int64)
    approved = np.empty((W, N))
    side = np.empty((W, N), np.int8)
    tvalue = np.empty((W, N))
    book_units = np.empty((W, N), np.int64)
    nd = 0
    fill_w = np.empty(W, np.int64)
    fill_units = np.empty((W, N), np.int64)  # signed micro-units
    fill_price = np.empty((W, N))
    fill_value = np.empty((W, N), np.int64)  # cents
    fill_fee = np.empty((W, N), np.int64)
    nf = 0
    book_cash = np.zeros(W, np.int64)
    halt_rows_out = np.full((W, 4), -1, np.int64)  # breach, in_cash, resumed, sessions_halted
    halt_vals = np.zeros((W, 3))  # drawdown, equity, peak at the breach
    n_halts = 0
    units = np.zeros(N, np.int64)
    cash = cash_c0
    peak = 0.0
    last_reb = -1  # ordinal of the last rebalance's execution session; -1 = never
    pend_row = -1
    p_side = np.zeros(N, np.int8)
    p_value = np.zeros(N)
    p_close = np.zeros(N, np.bool_)
    t_side = np.zeros(N, np.int8)
    t_value = np.zeros(N)
    t_close = np.zeros(N, np.bool_)
    in_halt = False
    halt_rows = 0
    price = np.zeros(N)
    priced = np.zeros(N, np.bool_)
    for w in range(W):
        i = i0 + w
        f = -1  # this session's packed fill row
        may_fill = pend_row == i
        if not may_fill:
            for j in range(N):
                if exits[i, j]:
                    may_fill = True
                    break
        if may_fill:
            f = nf
            nf += 1
            fill_w[f] = w
            for j in range(N):
                fill_units[f, j] = 0; fill_price[f, j] = 0.0; fill_value[f, j] = 0; fill_fee[f, j] = 0
        # a quarantine exit: sell every unit at the open of the session before a range it may not be carried across
        for j in range(N):
            if exits[i, j] and units[j] > 0 and open_[i, j] > 0:
                px = open_[i, j] * (1.0 - slip)
                n = units[j]
                value = np.int64(_rhe(n * px / 1e4))
                fee = _rhe_div(value * fee_num, fee_den)
                cash += value - fee
                units[j] = 0
                fill_units[f, j] = -n
                fill_price[f, j] = px
                fill_value[f, j] = value
                fill_fee[f, j] = fee
        # corporate actions before the open (the row's cells with a dividend or a split, by symbol)
        for c in range(ca_ptr[i], ca_ptr[i + 1]):
            j = ca_col[c]
            if units[j] != 0:
                if div_den[c] == 0:
                    cash += np.int64(_rhe(units[j] * div_f[c] / 1e4))
                elif div_num[c] != 0:
                    cash += _rhe_div(units[j] * div_num[c], div_den[c] * 10000)
                if split_den[c] == 0:
                    units[j] = np.int64(np.floor(units[j] * split_f[c]))
                elif split_num[c] != split_den[c]:
                    units[j] = (units[j] * split_num[c]) // split_den[c]
        if pend_row == i:
            # sells first
            for j in range(N):
                if p_side[j] < 0 and open_[i, j] > 0 and units[j] > 0:
                    px = open_[i, j] * (1.0 - slip)
                    held = units[j]
                    if p_close[j]:
                        n = held
                    else:
                        n = np.int64(_floor_grid(p_value[j] / px * 1e6))
                        if n > held:
                            n = held
                    value = np.int64(_rhe(n * px / 1e4))
                    fee = _rhe_div(value * fee_num, fee_den)
                    cash += value - fee
                    units[j] = held - n
                    fill_units[f, j] = -n
                    fill_price[f, j] = px
                    fill_value[f, j] = value
                    fill_fee[f, j] = fee
            want = 0.0
            for j in range(N):
                if p_side[j] > 0 and open_[i, j] > 0 and not blocked[i, j]:
                    want += p_value[j]
            scale = 1.0
            fee_rate = fee_num / fee_den
            if want > 0:
                s_ = (cash / 100.0) / (want * (1.0 + fee_rate))
                if s_ < 1.0:
                    scale = s_
            for j in range(N):
                if p_side[j] > 0 and open_[i, j] > 0 and not blocked[i, j]:
                    px = open_[i, j] * (1.0 + slip)
                    if scale == 1.0:
                        n = np.int64(_floor_grid(p_value[j] / px * 1e6))
                    else:
                        n = np.int64(np.floor(p_value[j] * scale / px * 1e6))
                    if n <= 0:
                        continue
                    value = np.int64(_rhe(n * px / 1e4))
                    fee = _rhe_div(value * fee_num, fee_den)
                    cash -= value + fee
                    units[j] += n
                    fill_units[f, j] += n
                    fill_price[f, j] = px
                    fill_value[f, j] = value
                    fill_fee[f, j] = fee
            pend_row = -1
        val = 0.0
        anyheld = False
        for j in range(N):
            if units[j] != 0:
                anyheld = True
                if mark[i, j] > 0:
                    val += units[j] * 1e-6 * mark[i, j]
        equity[w] = cash / 100.0 + val
        if in_halt and halt_rows_out[n_halts - 1, 1] < 0 and not anyheld:
            halt_rows_out[n_halts - 1, 1] = w
        if w == W - 1 or pend_row >= 0:
            continue
        book = cash / 100.0
        for j in range(N):
            p = refp[i, j]
            priced[j] = p > 0
            price[j] = p if p > 0 else 0.0
            if units[j] != 0 and p > 0:
                book += units[j] * 1e-6 * p
        if in_halt:
            halt_rows += 1
            ok = False
            if halt_rows >= resume_min:
                ok = resume_rule == 0 or bench_ok[i]
            if ok:
                halt_rows_out[n_halts - 1, 2] = w
                halt_rows_out[n_halts - 1, 3] = halt_rows
                in_halt = False
                peak = book
        if book > peak:
            peak = book
        rebalance = last_reb < 0 or (due_ok[i] and last_reb < due_ord[i])
        if not (rebalance or daily_checks or in_halt):
            continue
        book_cash[w] = cash
        dec_w[nd] = w
        for j in range(N):
            book_units[nd, j] = units[j]
        dd = (peak - book) / peak if peak > 0 else 0.0
        is_halt = False
        if in_halt or dd >= max_dd:
            is_halt = True
            fl = 1 << 15
            k = KIND_NO_TRADE_
            eq = book
            for j in range(N):
                t_side[j] = 0
                t_value[j] = 0.0
                t_close[j] = False
                if units[j] > 0 and priced[j]:
                    v = units[j] * 1e-6 * price[j]
                    if v >= 0.01:
                        t_side[j] = -1; t_value[j] = v; t_close[j] = True
                        k = KIND_TRADE_
            if not in_halt:
                in_halt = True
                halt_rows = 0
                halt_rows_out[n_halts, 0] = w
                halt_vals[n_halts, 0] = dd
                halt_vals[n_halts, 1] = book
                halt_vals[n_halts, 2] = peak
                if not anyheld:
                    halt_rows_out[n_halts, 1] = w
                n_halts += 1
        else:
            k, fl, eq, near = _decide(N, cash, units, price, priced, rebalance, ranks[i], selected[i], risk_off[i], no_buy,
                                      max_positions, max_weight, buffer, max_turnover, tiny_value, tiny_weight, min_order, risk_off_keep,
                                      t_side, t_value, t_close)
            if near:
                with objmode(k2="int64"):
                    k2 = _guard(ctx, i, cash, units, rebalance, t_side, t_value, t_close)
                k = k2
                fl |= 1 << 16
        kind[w] = k
        rebal[w] = rebalance
        halt_dec[w] = is_halt
        flags[w] = fl
        for j in range(N):
            v = units[j] * 1e-6 * price[j] if (units[j] > 0 and priced[j]) else 0.0
            if k == KIND_TRADE_ and t_side[j] != 0:
                if t_close[j]:
                    v = 0.0
                elif t_side[j] > 0:
                    v += t_value[j]
                else:
                    v -= t_value[j]
                side[nd, j] = t_side[j]
                tvalue[nd, j] = t_value[j]
            else:
                side[nd, j] = 0
                tvalue[nd, j] = 0.0
            approved[nd, j] = v / eq if eq > 0 else 0.0
        nd += 1
        if k == KIND_TRADE_ and i + 1 + delay < S:
            pend_row = i + 1 + delay
            for j in range(N):
                p_side[j] = t_side[j]; p_value[j] = t_value[j]; p_close[j] = t_close[j]
        if rebalance and (k == KIND_TRADE_ or k == KIND_HOLD_) and not is_halt:
            last_reb = exec_ord[i]
    if in_halt:
        halt_rows_out[n_halts - 1, 3] = halt_rows
    return (equity, kind, rebal, halt_dec, flags, dec_w[:nd], approved[:nd], side[:nd], tvalue[:nd], fill_w[:nf], fill_units[:nf],
            fill_price[:nf], fill_value[:nf], fill_fee[:nf], book_cash, book_units[:nd], halt_rows_out[:n_halts], halt_vals[:n_halts])


# --------------------------------------------------------------------------- the live guard, for a hair's-breadth decision

_CONTEXTS: dict[int, tuple] = {}
_IDS = itertools.count(1)


def _guard(ctx: int, i: int, cash_c: int, units: np.ndarray, rebalance: bool, t_side: np.ndarray, t_value: np.ndarray, t_close: np.ndarray) -> int:
    """The live guard (:func:`tradeops.risk.decide`) on the book of session row ``i``: a budget
    on the edge of a cent depends on Decimal's 28-digit quotients, so the definition decides.
    Writes the trades into the arrays, returns the kind."""
    from ..portfolio import PortfolioState
    from ..risk import decide

    market, signal, policy, universe = _CONTEXTS[ctx]
    d = market.sessions[i].date()
    positions = {market.symbols[j]: Decimal(int(u)).scaleb(-6) for j, u in enumerate(units) if u > 0}
    state = PortfolioState(as_of=d, cash=Decimal(int(cash_c)).scaleb(-2), positions=positions, peak_equity=Decimal(0),
                           account_currency=policy.account.account_currency)
    cols = np.nonzero(signal.rank[i])[0]
    order = cols[np.argsort(signal.rank[i, cols], kind="stable")]
    ranked = pd.DataFrame({"symbol": [market.symbols[j] for j in order], "score": signal.score[i, order],
                           "rank": signal.rank[i, order].astype(int), "selected": signal.selected[i, order]})
    reasons = ["risk-off (array engine's regime / momentum flag)"] if signal.risk_off[i] else []
    _, decision = decide(ranked, state, market.reference_prices(i), policy, universe, bool(rebalance), d, risk_off_reasons=reasons)
    t_side[:], t_value[:], t_close[:] = 0, 0.0, False
    for t in decision.trades:
        j = market.col[t.symbol]
        t_side[j] = 1 if t.side == "BUY" else -1
        t_value[j] = float(t.value)
        t_close[j] = t.close_position
    return {"HOLD": KIND_HOLD, "TRADE": KIND_TRADE, "NO-TRADE": KIND_NO_TRADE}[decision.kind]


# --------------------------------------------------------------------------- the engine


@dataclass
class ArrayResult:
    equity: pd.Series
    sessions: pd.DatetimeIndex  # the backtest's sessions (rows of the arrays below)
    symbols: list[str]
    kind: np.ndarray  # per session: -1 no decision, else KIND_*
    rebalance: np.ndarray
    halt: np.ndarray
    flags: np.ndarray
    decision_rows: np.ndarray  # the rows (sessions) with a decision; the packed arrays below have one row each
    approved_packed: np.ndarray  # decision x symbol: approved weight
    side_packed: np.ndarray  # decision x symbol: +1 BUY, -1 SELL, 0
    trade_value_packed: np.ndarray
    selected: np.ndarray  # session x symbol: what the signal selected (decision sessions)
    fills: pd.DataFrame
    book_cash: np.ndarray  # cents, the book the guard saw
    book_units_packed: np.ndarray  # decision x symbol: micro-units
    halts: list[dict]
    resume_rule: str = ""
    engine: str = "array"

    def _dense(self, packed: np.ndarray, fill) -> np.ndarray:
        out = np.full((len(self.sessions), packed.shape[1]), fill, dtype=packed.dtype if fill == 0 else float)
        out[self.decision_rows] = packed
        return out

    @cached_property
    def approved(self) -> np.ndarray:
        """Session x symbol: the approved weight (NaN: no decision that session)."""
        return self._dense(self.approved_packed, np.nan)

    @cached_property
    def side(self) -> np.ndarray:
        """Session x symbol: +1 BUY, -1 SELL, 0."""
        return self._dense(self.side_packed, 0)

    @cached_property
    def trade_value(self) -> np.ndarray:
        return self._dense(self.trade_value_packed, 0)

    @cached_property
    def book_units(self) -> np.ndarray:
        """Session x symbol: the micro-units of the book the guard saw (0 where no decision)."""
        return self._dense(self.book_units_packed, 0)

    @property
    def returns(self) -> pd.Series:
        return self.equity.pct_change().dropna()

    @property
    def trades(self) -> pd.DataFrame:
        """The fills (as :attr:`BacktestResult.trades`)."""
        return self.fills

    def halt_table(self) -> pd.DataFrame:
        cols = ["breach", "drawdown", "equity", "peak", "in_cash", "resumed", "sessions_halted", "resume_reason"]
        return pd.DataFrame(self.halts, columns=cols)

    def decision_sessions(self) -> list[date]:
        return [d.date() for d, k in zip(self.sessions, self.kind) if k >= 0]

    def rules_named(self, row: int) -> list[str]:
        f = int(self.flags[row])
        return [name for name, bit in F.items() if f & bit]


def _due_arrays(calendar: ExchangeCalendar, market: Market, sessions: list[date], frequency: str):
    """Per market row: the ordinal of the next session (the execution of a decision there) and
    of the rebalance session :func:`tradeops.risk.rebalance_due` compares ``last_rebalance`` with."""
    due = calendar.rebalance_sessions(sessions[0] - timedelta(days=62), calendar.next_session(sessions[-1]), frequency)
    S = len(market.sessions)
    exec_ord = np.zeros(S, np.int64)
    due_ord = np.zeros(S, np.int64)
    due_ok = np.zeros(S, np.bool_)
    epoch = date(1970, 1, 1).toordinal()
    ords = market.sessions.to_numpy("datetime64[D]").astype(np.int64) + epoch  # date.toordinal() of every row
    lo, hi = market.row[sessions[0]], market.row[sessions[-1]]
    rows = np.arange(lo, hi + 1)
    e = np.where(rows + 1 < S, ords[np.minimum(rows + 1, S - 1)], 0)
    if hi + 1 >= S:
        e[-1] = calendar.next_session(market.sessions[hi].date()).toordinal()
    exec_ord[rows] = e
    due_arr = np.array([d.toordinal() for d in due], np.int64)
    k = np.searchsorted(due_arr, e, "right")
    prev = due_arr[np.maximum(k - 1, 0)] if len(due_arr) else np.zeros(len(e), np.int64)
    ok = (k > 0) & (e - prev <= 62)
    due_ok[rows[ok]] = True
    due_ord[rows[ok]] = prev[ok]
    return exec_ord, due_ord, due_ok


def run_array_backtest(
    eod: pd.DataFrame, policy: Policy, universe: Universe, start: date, end: date, costs: Costs | None = None,
    cash: Decimal | None = None, calendar: ExchangeCalendar | None = None, daily_checks: bool = True,
    resume: HaltResume | None = None, market: Market | None = None, signal: SignalPanel | None = None, quarantine=(),
) -> ArrayResult:
    """:func:`tradeops.research.backtest.run_backtest` (momentum, no quarantine) over arrays.
    ``market`` / ``signal``: built once by the caller to reuse across runs of a sweep."""
    calendar = calendar or get_calendar(policy.schedule.exchange)
    costs = costs or Costs(policy.research.cost_bps, policy.research.slippage_bps)
    resume = resume or HaltResume.from_policy(policy)
    market = market or Market(eod, calendar)
    sessions = calendar.sessions(start, end)
    if len(sessions) < 2 or sessions[0] not in market.row or sessions[-1] not in market.row:
        raise DataError(f"backtest window {start}..{end} is not covered by the data ({market.sessions[0].date()}..{market.sessions[-1].date()})")
    if policy.strategy.signal not in SUPPORTED:
        raise DataError(f"the array engine runs {SUPPORTED}, not {policy.strategy.signal!r}; use the exact engine")
    if not policy.portfolio.fractional_units or policy.account.account_currency != "USD":
        raise DataError("the array engine runs USD accounts with fractional units; use the exact engine")
    signal = signal or momentum_panel(eod, policy, universe, market)
    i0, i1 = market.row[sessions[0]], market.row[sessions[-1]]
    with np.errstate(invalid="ignore"):
        refp = np.where(market.close > 0, np.round(market.close, 4), np.nan)
    # the corporate actions, sparse: the cells with a dividend or a split, row by row (CSR)
    ca_rows, ca_col = np.nonzero((market.dividend != 0.0) | (market.split != 1.0))
    ca_ptr = np.searchsorted(ca_rows, np.arange(len(market.sessions) + 1)).astype(np.int64)
    div_f, split_f = market.dividend[ca_rows, ca_col], market.split[ca_rows, ca_col]
    div_num, div_den = _fractions(div_f, 0.0)
    split_num, split_den = _fractions(split_f, 1.0)
    fee_num, fee_den = _fraction(costs.commission_bps)
    fee_den *= 10000
    slip = float(Decimal(repr(float(costs.slippage_bps))) * Decimal("0.0001"))
    exec_ord, due_ord, due_ok = _due_arrays(calendar, market, sessions, policy.rebalance.frequency)
    S = len(market.sessions)
    if resume.rule == "benchmark_ma":
        halted_bench = None  # computed only when needed: a run that never halts needs no benchmark
        bench_ok = np.zeros(S, np.bool_)
        has_bench = policy.universe.benchmark in market.col  # the market is built from these bars: its symbols are theirs
        if has_bench:
            bench_ok = np.nan_to_num(_benchmark_above_ma(eod, policy.universe.benchmark, resume.ma_sessions, market).astype(float)).astype(bool)
        else:
            halted_bench = policy.universe.benchmark
    else:
        bench_ok, halted_bench = np.zeros(S, np.bool_), None
    p = policy.portfolio
    no_buy = np.array([s in set(p.no_buy) for s in market.symbols], np.bool_)
    keep = float(1 - Decimal(repr(float(p.risk_off_cash_fraction)))) if (p.risk_off_to_cash and p.risk_off_cash_fraction > 0) else 1.0
    cash_c = int((Decimal(cash if cash is not None else policy.account.starting_cash) * 100).to_integral_value())
    exits = np.zeros((S, len(market.symbols)), np.bool_)
    blocked = np.zeros((S, len(market.symbols)), np.bool_)
    q_exits, q_blocked = _quarantine_rows(quarantine, market)
    for r, syms in q_exits.items():
        exits[r, [market.col[x] for x in syms]] = True
    for r, syms in q_blocked.items():
        blocked[r, [market.col[x] for x in syms]] = True
    ctx = next(_IDS)
    _CONTEXTS[ctx] = (market, signal, policy, universe)
    try:
        out = _run(i0, i1, market.open, refp, market.mark, ca_ptr, ca_col.astype(np.int64), div_num, div_den, div_f, split_num, split_den, split_f,
                   signal.rank, signal.selected, signal.risk_off, no_buy, exec_ord, due_ord, due_ok, bench_ok, cash_c, slip, fee_num, fee_den, costs.delay,
                   daily_checks, p.max_positions, float(p.max_weight), float(p.min_cash_buffer), float(p.max_turnover), float(p.tiny_delta_value),
                   float(p.tiny_delta_weight), float(p.min_order_value), keep, float(policy.risk.kill_switch_drawdown),
                   0 if resume.rule == "sessions" else 1, resume.min_sessions, ctx, exits, blocked)
    finally:
        _CONTEXTS.pop(ctx, None)
    (equity, kind, rebal, halt, flags, dec_w, approved, side, tvalue, fill_w, f_units, f_price, f_value, f_fee, b_cash, b_units, halt_rows,
     halt_vals) = out
    if len(halt_rows) and halted_bench is not None:
        _benchmark_above_ma(eod, halted_bench, resume.ma_sessions, market)  # raises the exact engine's DataError
    idx = pd.DatetimeIndex(sessions, name="session")
    r, c = np.nonzero(f_units)
    day = np.empty(len(sessions), object)
    day[:] = sessions
    names = np.array(market.symbols, object)
    fills = pd.DataFrame({
        "session": day[fill_w[r]], "symbol": names[c],
        "side": np.where(f_units[r, c] > 0, "BUY", "SELL"), "units": np.abs(f_units[r, c]) / 1e6,
        "price": f_price[r, c], "value": f_value[r, c] / 100.0, "fee": f_fee[r, c] / 100.0,
    })
    halts = []
    bench = policy.universe.benchmark
    for (b, in_cash, resumed, n), (dd, eq, pk) in zip(halt_rows, halt_vals):
        if resumed < 0:
            why = f"still in HALT at the end of the backtest ({resume.describe(bench)})"
        elif resume.rule == "sessions":
            why = f"assumed resume after {n} sessions in HALT"
        else:
            why = f"assumed resume after {n} sessions in HALT: {bench} closed at or above its {resume.ma_sessions}-session average"
        halts.append({"breach": sessions[b], "drawdown": float(dd), "equity": float(eq), "peak": float(pk),
                      "in_cash": sessions[in_cash] if in_cash >= 0 else None, "resumed": sessions[resumed] if resumed >= 0 else None,
                      "sessions_halted": int(n) if n >= 0 else None, "resume_reason": why})
    sel = signal.selected[i0:i1 + 1] & (kind >= 0)[:, None] & rebal[:, None] & ~halt[:, None]
    return ArrayResult(pd.Series(equity, index=idx, name="equity"), idx, list(market.symbols), kind, rebal, halt, flags, dec_w, approved, side,
                       tvalue, sel, fills, b_cash, b_units, halts, resume.describe(policy.universe.benchmark))
