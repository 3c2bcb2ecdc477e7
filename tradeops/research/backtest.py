"""The backtest engine: the live timing, the live risk guard, costs and cash.

Timing (the same as the daily run): on every decision session ``d`` the
signal sees bars up to the close of ``d``; the risk guard
(:func:`tradeops.risk.decide`, with :func:`tradeops.risk.rebalance_due`
and the raw closes of ``d`` as reference prices) turns the ranked list and
the book into an ordered trade list; the trades execute in session
``e = d + 1 + delay`` at the raw open, buys at ``open * (1 + slippage)``,
sells at ``open * (1 - slippage)``, each paying ``commission`` of its value.
Buys are sized by value (units = value / fill price, 6 dp, rounded down) and
scaled down if the sells and cash cannot pay for them with fees; a
``close_position`` sell sells every unit held.  A symbol without a bar on
``e`` is not traded (the executor's "could not execute").

On the ex-date of a split the units are multiplied by the ratio, and a
dividend is paid into cash (reinvested at the next rebalance), both before
the open.  Equity is valued at every close.  While orders are pending (with
a delay) no new decision is made, as the live confirmations gate would.

Money and units are Decimal on the book (what the guard sees), the equity
curve is float.  Tiny deltas, turnover, cash buffer, kill switch: whatever
:func:`tradeops.risk.decide` does live happens here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..calendar import ExchangeCalendar, get_calendar
from ..config import Policy, Universe
from ..errors import DataError
from ..portfolio import PortfolioState
from ..risk import CENT, FRACTIONAL_UNIT, PRICE_PLACES, Decision, dec, decide, rebalance_due
from ..signals import Bars, SignalResult, compute_signal, get_signal, market_regime
from .backtest_params import Costs, HaltResume

ZERO = Decimal(0)
BPS = Decimal("0.0001")
Ranker = Callable[[date], SignalResult]


@dataclass
class BacktestResult:
    equity: pd.Series  # close-valued equity per session
    trades: pd.DataFrame  # executed fills
    decisions: dict[date, Decision] = field(default_factory=dict)
    states: dict[date, PortfolioState] = field(default_factory=dict)  # the book the guard saw
    halts: list[dict] = field(default_factory=list)  # one row per drawdown halt: breach, in cash, resume
    resume_rule: str = ""  # HaltResume.describe()

    def halt_table(self) -> pd.DataFrame:
        cols = ["breach", "drawdown", "equity", "peak", "in_cash", "resumed", "sessions_halted", "resume_reason"]
        return pd.DataFrame(self.halts, columns=cols)

    @property
    def returns(self) -> pd.Series:
        return self.equity.pct_change().dropna()

    def approved_targets(self) -> dict[date, dict[str, str]]:
        """Decision session -> {symbol: approved weight} (the live approved.json targets)."""
        return {d: {t["symbol"]: t["approved_weight"] for t in dec_.targets} for d, dec_ in self.decisions.items()}


class Market:
    """The clean frame as session x symbol arrays (raw prices, corporate actions)."""

    def __init__(self, eod: pd.DataFrame, calendar: ExchangeCalendar):
        need = ("symbol", "date", "open", "close", "split", "dividend")
        missing = [c for c in need if c not in eod.columns]
        if missing:
            raise DataError(f"clean EOD frame is missing columns {missing}; the backtest needs {list(need)}")
        first, last = pd.Timestamp(eod["date"].min()).date(), pd.Timestamp(eod["date"].max()).date()
        self.sessions = calendar.sessions_index(first, last)
        self.symbols = sorted(str(s) for s in eod["symbol"].astype(str).unique())  # unique() first: iterating every row cost seconds
        rows = self.sessions.get_indexer(pd.DatetimeIndex(eod["date"]))
        cols = pd.Index(self.symbols).get_indexer(eod["symbol"].astype(str))
        if (rows < 0).any():
            raise DataError("clean EOD frame has bars on days that are not exchange sessions")
        shape = (len(self.sessions), len(self.symbols))

        def grid(col: str, fill: float) -> np.ndarray:
            out = np.full(shape, fill)
            out[rows, cols] = eod[col].to_numpy(float)
            return out

        self.open, self.close = grid("open", np.nan), grid("close", np.nan)
        # marks for valuation: a held symbol without a bar that session is valued at its latest close
        self.mark = pd.DataFrame(self.close).ffill().to_numpy()
        self.split, self.dividend = np.nan_to_num(grid("split", 1.0), nan=1.0), np.nan_to_num(grid("dividend", 0.0))
        self.split[self.split <= 0] = 1.0
        self.col = {s: j for j, s in enumerate(self.symbols)}
        self.row = {d.date(): i for i, d in enumerate(self.sessions)}

    def reference_prices(self, i: int, symbols=None) -> dict[str, Decimal]:
        """Raw closes of session row ``i`` (as :func:`tradeops.risk.reference_prices`), of every
        symbol or only of ``symbols``."""
        c = self.close[i]
        cols = self.col.items() if symbols is None else ((s, self.col[s]) for s in symbols)
        return {s: dec(float(c[j])).quantize(PRICE_PLACES, ROUND_HALF_EVEN) for s, j in cols if c[j] > 0}


class History:
    """The bars sorted by (symbol, date) once, with each symbol's dates, so the cut at a
    session is a few binary searches and one ``take`` (not a filter of the whole frame)."""

    def __init__(self, eod: pd.DataFrame):
        cols = [c for c in ("symbol", "date", "close", "adj_close", "volume") if c in eod.columns]
        frame = eod[cols].sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
        self.frame = frame
        sym = frame["symbol"].astype(str).to_numpy()
        starts = np.flatnonzero(np.r_[True, sym[1:] != sym[:-1]]) if len(sym) else np.array([], int)
        ends = np.r_[starts[1:], len(sym)]
        days = frame["date"].to_numpy("datetime64[ns]")
        self.runs = [(int(a), days[a:b]) for a, b in zip(starts, ends)]

    def cut(self, first: date | None, last: date) -> pd.DataFrame:
        """Bars with first <= date <= last (every bar up to ``last`` when ``first`` is None)."""
        lo_day = np.datetime64(first, "ns") if first is not None else None
        hi_day = np.datetime64(last, "ns")
        parts = []
        for off, days in self.runs:
            lo = 0 if lo_day is None else int(np.searchsorted(days, lo_day, "left"))
            hi = int(np.searchsorted(days, hi_day, "right"))
            if hi > lo:
                parts.append(np.arange(off + lo, off + hi))
        idx = np.concatenate(parts) if parts else np.array([], int)
        return self.frame.take(idx)


def live_ranker(eod: pd.DataFrame, policy: Policy, universe: Universe | None, calendar: ExchangeCalendar) -> Ranker:
    """The live signal itself (:func:`tradeops.signals.compute_signal`) on the bars the live run
    would have on ``d``: the last ``data.history_sessions`` sessions up to ``d`` (what the daily
    run fetches), or the lookbacks' need if that is longer; sliced from one index."""
    history = History(eod)
    m = policy.strategy.momentum
    need = (
        max(
            m.lookback_12w,
            m.lookback_4w,
            m.lookback_1w,
            m.reversal_window,
            m.volatility_window,
            m.volume_window,
            policy.portfolio.risk_off_ma_sessions,
            policy.strategy.rotation.lookback_months * 21,
        )
        + 2
    )
    back = max(policy.data.history_sessions, need)
    lazy = policy.strategy.signal == "qlib_lgbm"  # it sets its own (training) window from the full history
    if getattr(get_signal(policy.strategy.signal), "uses_bars", False):
        bars = Bars.from_frame(history.frame)  # the cut of a session: two binary searches, no frame

        def rank_bars(d: date) -> SignalResult:
            return compute_signal(bars.until(d, calendar.session_offset(d, -back)), policy, d, universe, calendar)

        return rank_bars

    def rank(d: date) -> SignalResult:
        first = None if lazy else calendar.session_offset(d, -back)
        return compute_signal(history.cut(first, d), policy, d, universe, calendar)

    return rank


def scores_ranker(scores: pd.DataFrame, eod: pd.DataFrame, policy: Policy, universe: Universe | None, strategy: str) -> Ranker:
    """Precomputed scores (session x symbol, e.g. LightGBM predictions) -> the ranked list
    of :func:`tradeops.research.model.ranking_from_scores`, with the live regime check."""
    from .model import ranking_from_scores

    bench = eod.loc[eod["symbol"] == policy.universe.benchmark, ["symbol", "date", "adj_close"]].sort_values("date")
    pool = universe.tradable if universe is not None else list(scores.columns)
    candidates = sorted(s for s in pool if s != policy.universe.benchmark)

    def rank(d: date) -> SignalResult:
        day = pd.Timestamp(d)
        row = scores.loc[day] if day in scores.index else pd.Series(dtype=float)
        ranking = ranking_from_scores(row, policy, candidates)
        regime = market_regime(bench.loc[bench["date"] <= day], d, policy.universe.benchmark, policy.portfolio.risk_off_ma_sessions)
        reasons = ([regime.note] if regime.below_ma else []) + list(ranking.risk_off_reasons)
        return SignalResult(d, strategy, ranking.frame, ranking.dropped, ranking.note, regime, reasons)

    return rank


def run_backtest(
    eod: pd.DataFrame,
    policy: Policy,
    universe: Universe,
    start: date,
    end: date,
    ranker: Ranker | None = None,
    costs: Costs | None = None,
    cash: Decimal | None = None,
    calendar: ExchangeCalendar | None = None,
    daily_checks: bool = True,
    keep_states: bool = False,
    quarantine: Sequence = (),
    resume: HaltResume | None = None,
) -> BacktestResult:
    """Decide on every session in [start, end) (only on rebalance sessions when
    ``daily_checks`` is False), execute the next session, value every close up to ``end``.

    ``quarantine``: history findings (:class:`tradeops.data.quality.Finding`, verdict
    ``quarantined``) whose bars the clean data left out.  A position may be carried
    across one only when its raw prices on both sides are on one basis
    (``finding.carry``); otherwise it is sold at the open of the session before the
    range and not bought again until the range is over.

    The drawdown halt as live: a breach gives the guard's risk-off decision (every position
    sold at the next session's open), then HALT: no signal, nothing bought (anything left
    unsold is offered for sale again each session) until ``resume`` (default: the policy's
    ``research.halt_resume``) says the owner would have resumed; ``halts`` lists each one."""
    calendar = calendar or get_calendar(policy.schedule.exchange)
    costs = costs or Costs(policy.research.cost_bps, policy.research.slippage_bps)
    ranker = ranker or live_ranker(eod, policy, universe, calendar)
    resume = resume or HaltResume.from_policy(policy)
    market = Market(eod, calendar)
    sessions = calendar.sessions(start, end)
    if len(sessions) < 2 or sessions[0] not in market.row or sessions[-1] not in market.row:
        raise DataError(f"backtest window {start}..{end} is not covered by the data ({market.sessions[0].date()}..{market.sessions[-1].date()})")
    bench_ok: list = []  # computed at the first halt: a run that never halts needs no benchmark for it
    due = calendar.rebalance_sessions(sessions[0] - timedelta(days=62), calendar.next_session(sessions[-1]), policy.rebalance.frequency)
    slip = dec(costs.slippage_bps) * BPS
    fee_rate = dec(costs.commission_bps) * BPS
    cash = dec(cash if cash is not None else policy.account.starting_cash)
    units: dict[str, Decimal] = {}
    peak, last_rebalance = ZERO, None
    pending: tuple[int, Decision] | None = None
    equity, fills = [], []
    decisions, states = {}, {}
    exits, blocked = _quarantine_rows(quarantine, market)
    halts: list[dict] = []
    halt: dict | None = None  # the open halt
    halt_rows = 0  # decision sessions since the breach
    for d in sessions:
        i = market.row[d]
        for s in exits.get(i, ()):
            if units.get(s, ZERO) > 0 and market.open[i, market.col[s]] > 0:
                cash = _sell_all(s, i, market, units, cash, slip, fee_rate, fills, d)
        # corporate actions before the open, then the orders due today
        for s in list(units):
            j = market.col[s]
            cash += (units[s] * dec(float(market.dividend[i, j]))).quantize(CENT, ROUND_HALF_EVEN) if market.dividend[i, j] else ZERO
            if market.split[i, j] != 1.0:
                units[s] = (units[s] * dec(float(market.split[i, j]))).quantize(FRACTIONAL_UNIT, ROUND_DOWN)
        if pending is not None and pending[0] == i:
            cash = _execute(pending[1], i, market, units, cash, slip, fee_rate, fills, d, blocked.get(i, frozenset()))
            pending = None
        value = sum((float(u) * market.mark[i, market.col[s]] for s, u in units.items() if market.mark[i, market.col[s]] > 0), 0.0)
        equity.append(float(cash) + value)
        if halt is not None and halt["in_cash"] is None and not units:
            halt["in_cash"] = d
        if d == sessions[-1] or pending is not None:
            continue
        held = market.reference_prices(i, units)
        book_value = cash + sum((u * held[s] for s, u in units.items() if s in held), ZERO)
        if halt is not None:
            halt_rows += 1
            if resume.rule == "benchmark_ma" and not bench_ok:
                bench_ok.append(_benchmark_above_ma(eod, policy.universe.benchmark, resume.ma_sessions, market))
            why = _resume_reason(resume, halt_rows, bench_ok[0] if bench_ok else None, i, policy.universe.benchmark)
            if why:  # the assumed `tradeops resume --reason`: the peak restarts today
                halt.update(resumed=d, sessions_halted=halt_rows, resume_reason=why)
                halt, peak = None, book_value
        peak = max(peak, book_value)
        rebalance = rebalance_due(calendar, d, policy.rebalance.frequency, last_rebalance, due)
        if not (rebalance or daily_checks or halt is not None):
            continue
        prices = market.reference_prices(i)
        state = PortfolioState(
            as_of=d,
            cash=cash,
            positions=dict(units),
            peak_equity=peak,
            account_currency=policy.account.account_currency,
            last_rebalance=last_rebalance,
            state="HALT" if halt is not None else "RUN",
        )
        if halt is not None:  # in HALT: no signal, nothing bought; whatever is still held is offered for sale
            _, decision = decide(
                _NO_RANKS, state, prices, policy, universe, False, d, strategy="halt", drawdown_breach=f"in HALT since the drawdown breach of {halt['breach']}"
            )
        else:
            decision = None
            if not rebalance:
                # not a decision session: the targets are today's weights, so the ranks cannot change a
                # HOLD; the signal is computed only when the guard wants to trade (a trim, a halt)
                _, decision = decide(
                    _NO_RANKS,
                    state,
                    prices,
                    policy,
                    universe,
                    False,
                    d,
                    strategy=policy.strategy.signal,
                    signal_note="not a rebalance session: signal not computed (HOLD on today's weights)",
                )
                if decision.kind != "HOLD":
                    decision = None
            if decision is None:
                signal = ranker(d)
                _, decision = decide(
                    signal.ranked,
                    state,
                    prices,
                    policy,
                    universe,
                    rebalance,
                    d,
                    risk_off_reasons=signal.risk_off_reasons,
                    strategy=signal.strategy,
                    signal_note=signal.note,
                )
            if decision.halt:
                halt, halt_rows = (
                    {
                        "breach": d,
                        "drawdown": float(decision.drawdown),
                        "equity": float(decision.equity),
                        "peak": float(peak),
                        "in_cash": None if units else d,
                        "resumed": None,
                        "sessions_halted": None,
                        "resume_reason": "",
                    },
                    0,
                )
                halts.append(halt)
        decisions[d] = decision
        if keep_states:
            states[d] = state
        execution = i + 1 + costs.delay
        if decision.kind == "TRADE" and execution < len(market.sessions):
            pending = (execution, decision)
        if rebalance and decision.kind in ("TRADE", "HOLD") and not decision.halt:
            last_rebalance = calendar.next_session(d)
    trades = pd.DataFrame(fills, columns=["session", "symbol", "side", "units", "price", "value", "fee"])
    if halt is not None:
        halt["sessions_halted"] = halt_rows
        halt["resume_reason"] = f"still in HALT at the end of the backtest ({resume.describe(policy.universe.benchmark)})"
    return BacktestResult(
        pd.Series(equity, index=pd.DatetimeIndex(sessions, name="session"), name="equity"),
        trades,
        decisions,
        states,
        halts,
        resume.describe(policy.universe.benchmark),
    )


_NO_RANKS = pd.DataFrame({"symbol": pd.Series(dtype=str), "score": pd.Series(dtype=float), "rank": pd.Series(dtype=int), "selected": pd.Series(dtype=bool)})


def _benchmark_above_ma(eod: pd.DataFrame, benchmark: str, window: int, market: Market) -> np.ndarray:
    """Per market session: the benchmark's adjusted close is at or above its ``window``-session average."""
    bars = eod.loc[eod["symbol"] == benchmark, ["date", "adj_close"]]
    if bars.empty:
        raise DataError(
            f"the halt resume rule 'benchmark_ma' needs the benchmark {benchmark}, which is not in the data: "
            "add the benchmark, or set research.halt_resume: sessions"
        )
    close = bars.set_index("date")["adj_close"].reindex(market.sessions)
    ma = close.rolling(window, min_periods=window).mean()
    return (close >= ma).to_numpy()


def _resume_reason(resume: HaltResume, rows: int, bench_ok: np.ndarray | None, i: int, benchmark: str) -> str:
    if rows < resume.min_sessions:
        return ""
    if resume.rule == "sessions":
        return f"assumed resume after {rows} sessions in HALT"
    if bench_ok is not None and bench_ok[i]:
        return f"assumed resume after {rows} sessions in HALT: {benchmark} closed at or above its {resume.ma_sessions}-session average"
    return ""


def _quarantine_rows(quarantine: Sequence, market: Market) -> tuple[dict[int, list[str]], dict[int, frozenset]]:
    """Session rows where a held symbol must be sold (the session before a range it may not be carried
    across), and the rows where buying a symbol is blocked (that session through the range's end)."""
    exits: dict[int, list[str]] = {}
    blocked: dict[int, set] = {}
    for f in quarantine:
        if getattr(f, "verdict", "quarantined") != "quarantined" or f.carry or f.symbol not in market.col:
            continue
        lo = int(market.sessions.searchsorted(pd.Timestamp(f.start)))
        hi = int(market.sessions.searchsorted(pd.Timestamp(f.end), side="right")) - 1
        if hi < 0 or lo >= len(market.sessions):
            continue
        first = max(lo - 1, 0)
        exits.setdefault(first, []).append(f.symbol)
        for r in range(first, hi + 1):
            blocked.setdefault(r, set()).add(f.symbol)
    return exits, {k: frozenset(v) for k, v in blocked.items()}


def _sell_all(symbol: str, i: int, market: Market, units: dict, cash: Decimal, slip: Decimal, fee_rate: Decimal, fills: list, d: date) -> Decimal:
    """Sell every unit of ``symbol`` at session row ``i``'s open (a quarantine exit)."""
    price = dec(float(market.open[i, market.col[symbol]])) * (1 - slip)
    n = units.pop(symbol)
    value = (n * price).quantize(CENT, ROUND_HALF_EVEN)
    fee = (value * fee_rate).quantize(CENT, ROUND_HALF_EVEN)
    fills.append((d, symbol, "SELL", n, price, value, fee))
    return cash + value - fee


def _execute(
    decision: Decision,
    i: int,
    market: Market,
    units: dict,
    cash: Decimal,
    slip: Decimal,
    fee_rate: Decimal,
    fills: list,
    d: date,
    blocked: frozenset = frozenset(),
) -> Decimal:
    """Fill the decision's trades at session row ``i``'s open (sells first; no buys of ``blocked``
    symbols); return the new cash."""
    opens = market.open[i]
    for t in decision.trades:
        j = market.col.get(t.symbol)
        if t.side != "SELL" or j is None or not opens[j] > 0 or units.get(t.symbol, ZERO) <= 0:
            continue
        price = dec(float(opens[j])) * (1 - slip)
        held = units[t.symbol]
        n = held if t.close_position else min(held, (t.value / price).quantize(FRACTIONAL_UNIT, ROUND_DOWN))
        value = (n * price).quantize(CENT, ROUND_HALF_EVEN)
        fee = (value * fee_rate).quantize(CENT, ROUND_HALF_EVEN)
        cash += value - fee
        units[t.symbol] = held - n
        if units[t.symbol] <= 0:
            del units[t.symbol]
        fills.append((d, t.symbol, "SELL", n, price, value, fee))
    buys = [t for t in decision.trades if t.side == "BUY" and t.symbol in market.col and t.symbol not in blocked and opens[market.col[t.symbol]] > 0]
    want = sum((t.value for t in buys), ZERO)
    scale = min(Decimal(1), cash / (want * (1 + fee_rate))) if want > 0 else Decimal(1)
    for t in buys:
        price = dec(float(opens[market.col[t.symbol]])) * (1 + slip)
        n = (t.value * scale / price).quantize(FRACTIONAL_UNIT, ROUND_DOWN)
        value = (n * price).quantize(CENT, ROUND_HALF_EVEN)
        fee = (value * fee_rate).quantize(CENT, ROUND_HALF_EVEN)
        if n <= 0:
            continue
        cash -= value + fee
        units[t.symbol] = units.get(t.symbol, ZERO) + n
        fills.append((d, t.symbol, "BUY", n, price, value, fee))
    return cash
