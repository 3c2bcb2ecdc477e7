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

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
from numba import njit, objmode

from ..calendar import ExchangeCalendar, get_calendar
from ..config import Policy, Universe
from ..errors import DataError
from .backtest import Costs, HaltResume, Market, _benchmark_above_ma, _quarantine_rows

from .array_kernel import _CONTEXTS, _IDS, _guard, KIND_HOLD_, KIND_NO_TRADE_, KIND_TRADE_, _decide, _floor_grid, _fraction, _fractions, _rhe, _rhe_div
from .array_kernel import KINDS  # noqa: F401 (read from here by the agent's tools and the tests)
from .array_signal import SignalPanel, momentum_panel
from .array_signal import signal_key  # noqa: F401 (read from here by the study)
from .array_result import ArrayResult, _due_arrays

SUPPORTED = ("momentum",)


def supports(strategy: str, policy: Policy | None = None) -> tuple[bool, str]:
    """Whether the array engine runs ``strategy`` under ``policy`` (else the exact engine does, with this note)."""
    if strategy not in SUPPORTED:
        return False, f"the array engine supports {', '.join(SUPPORTED)}; {strategy} runs on the exact (Decimal) engine"
    if policy is not None and (not policy.portfolio.fractional_units or policy.account.account_currency != "USD"):
        return False, "the array engine runs USD accounts with fractional units; this policy runs on the exact (Decimal) engine"
    return True, ""


# the compiled loop keeps each paired update (cash and units, a counter and its index) on one line:
# fmt: off
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


# fmt: on


# --------------------------------------------------------------------------- the engine


def run_array_backtest(
    eod: pd.DataFrame,
    policy: Policy,
    universe: Universe,
    start: date,
    end: date,
    costs: Costs | None = None,
    cash: Decimal | None = None,
    calendar: ExchangeCalendar | None = None,
    daily_checks: bool = True,
    resume: HaltResume | None = None,
    market: Market | None = None,
    signal: SignalPanel | None = None,
    quarantine=(),
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
        out = _run(
            i0,
            i1,
            market.open,
            refp,
            market.mark,
            ca_ptr,
            ca_col.astype(np.int64),
            div_num,
            div_den,
            div_f,
            split_num,
            split_den,
            split_f,
            signal.rank,
            signal.selected,
            signal.risk_off,
            no_buy,
            exec_ord,
            due_ord,
            due_ok,
            bench_ok,
            cash_c,
            slip,
            fee_num,
            fee_den,
            costs.delay,
            daily_checks,
            p.max_positions,
            float(p.max_weight),
            float(p.min_cash_buffer),
            float(p.max_turnover),
            float(p.tiny_delta_value),
            float(p.tiny_delta_weight),
            float(p.min_order_value),
            keep,
            float(policy.risk.kill_switch_drawdown),
            0 if resume.rule == "sessions" else 1,
            resume.min_sessions,
            ctx,
            exits,
            blocked,
        )
    finally:
        _CONTEXTS.pop(ctx, None)
    (equity, kind, rebal, halt, flags, dec_w, approved, side, tvalue, fill_w, f_units, f_price, f_value, f_fee, b_cash, b_units, halt_rows, halt_vals) = out
    if len(halt_rows) and halted_bench is not None:
        _benchmark_above_ma(eod, halted_bench, resume.ma_sessions, market)  # raises the exact engine's DataError
    idx = pd.DatetimeIndex(sessions, name="session")
    r, c = np.nonzero(f_units)
    day = np.empty(len(sessions), object)
    day[:] = sessions
    names = np.array(market.symbols, object)
    fills = pd.DataFrame(
        {
            "session": day[fill_w[r]],
            "symbol": names[c],
            "side": np.where(f_units[r, c] > 0, "BUY", "SELL"),
            "units": np.abs(f_units[r, c]) / 1e6,
            "price": f_price[r, c],
            "value": f_value[r, c] / 100.0,
            "fee": f_fee[r, c] / 100.0,
        }
    )
    halts = []
    bench = policy.universe.benchmark
    for (b, in_cash, resumed, n), (dd, eq, pk) in zip(halt_rows, halt_vals):
        if resumed < 0:
            why = f"still in HALT at the end of the backtest ({resume.describe(bench)})"
        elif resume.rule == "sessions":
            why = f"assumed resume after {n} sessions in HALT"
        else:
            why = f"assumed resume after {n} sessions in HALT: {bench} closed at or above its {resume.ma_sessions}-session average"
        halts.append(
            {
                "breach": sessions[b],
                "drawdown": float(dd),
                "equity": float(eq),
                "peak": float(pk),
                "in_cash": sessions[in_cash] if in_cash >= 0 else None,
                "resumed": sessions[resumed] if resumed >= 0 else None,
                "sessions_halted": int(n) if n >= 0 else None,
                "resume_reason": why,
            }
        )
    sel = signal.selected[i0 : i1 + 1] & (kind >= 0)[:, None] & rebal[:, None] & ~halt[:, None]
    return ArrayResult(
        pd.Series(equity, index=idx, name="equity"),
        idx,
        list(market.symbols),
        kind,
        rebal,
        halt,
        flags,
        dec_w,
        approved,
        side,
        tvalue,
        sel,
        fills,
        b_cash,
        b_units,
        halts,
        resume.describe(policy.universe.benchmark),
    )
