"""The array engine's decision kernel (numba): the exact small-number arithmetic (round half
even on integer cents, Fraction-exact ratios) and one session's decision for every symbol,
the same rules as :mod:`tradeops.risk` over arrays.  Driven by :mod:`.array_engine`'s loop."""

from __future__ import annotations

import itertools
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
from numba import njit

from ..errors import DataError


# decision kinds and the flags of what shaped or refused a decision (names: RULE_FLAGS)
KIND_NONE, KIND_HOLD, KIND_TRADE, KIND_NO_TRADE = -1, 0, 1, 2
KINDS = {KIND_HOLD: "HOLD", KIND_TRADE: "TRADE", KIND_NO_TRADE: "NO-TRADE"}
RULE_FLAGS = (
    "risk_off",
    "no_buy",
    "max_positions",
    "max_weight",
    "cash_buffer(targets)",
    "max_turnover",
    "tiny_deltas",
    "min_order_value",
    "cash_buffer(trades)",
    "failed:known_tradable",
    "failed:max_positions",
    "failed:max_weight",
    "failed:max_turnover",
    "failed:cash_buffer",
    "failed:long_only",
    "halt",
    "exact_guard",
)
F = {name: 1 << k for k, name in enumerate(RULE_FLAGS)}

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


# the compiled loop keeps each paired update (cash and units, a counter and its index) on one line:
# fmt: off
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
                if cur >= 0.01:  # as the live guard: a holding worth less than a cent is never traded
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


# fmt: on


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
    state = PortfolioState(
        as_of=d, cash=Decimal(int(cash_c)).scaleb(-2), positions=positions, peak_equity=Decimal(0), account_currency=policy.account.account_currency
    )
    cols = np.nonzero(signal.rank[i])[0]
    order = cols[np.argsort(signal.rank[i, cols], kind="stable")]
    ranked = pd.DataFrame(
        {
            "symbol": [market.symbols[j] for j in order],
            "score": signal.score[i, order],
            "rank": signal.rank[i, order].astype(int),
            "selected": signal.selected[i, order],
        }
    )
    reasons = ["risk-off (array engine's regime / momentum flag)"] if signal.risk_off[i] else []
    _, decision = decide(ranked, state, market.reference_prices(i), policy, universe, bool(rebalance), d, risk_off_reasons=reasons)
    t_side[:], t_value[:], t_close[:] = 0, 0.0, False
    for t in decision.trades:
        j = market.col[t.symbol]
        t_side[j] = 1 if t.side == "BUY" else -1
        t_value[j] = float(t.value)
        t_close[j] = t.close_position
    return {"HOLD": KIND_HOLD, "TRADE": KIND_TRADE, "NO-TRADE": KIND_NO_TRADE}[decision.kind]
