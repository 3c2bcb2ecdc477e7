"""Live and research must decide alike: the checks that say where they do not.

:func:`check_scores` compares, session by session, the scores the live
signal stage wrote (or would write) with the backtest's scores for the same
session and raises :class:`tradeops.errors.ConformanceError` naming the first
session that differs, the symbols and both values.  It is what the
qlib_lgbm conformance test runs on the shared data, and what a researcher
runs after changing the model code: a model trained on another window, on
other bars or on another schedule fails it.

:func:`check_ledger_replay` goes one step further, to what the ticket says:
it books a backtest's fills, dividends and splits in a real ledger session by
session, and on every decision session derives the book as the daily run's
preflight does (:func:`tradeops.ledger_book.ledger_book`), runs the live signal and
risk stages on the bars cut at that session and requires the backtest's
selected symbols, trade sides and approved weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from ..calendar import ExchangeCalendar, get_calendar
from ..config import Policy, Universe
from ..errors import ConformanceError

TOLERANCE = 1e-9  # absolute, on LightGBM scores (features may differ in the last bits, splits do not)
SHOWN = 5  # symbols named in the message


def check_scores(live: Mapping[date, pd.Series], backtest: pd.DataFrame, tolerance: float = TOLERANCE) -> int:
    """``live``: session -> scores by symbol; ``backtest``: session x symbol scores.  Every live
    session must be in the backtest with the same symbols scored and every score within
    ``tolerance``.  Returns the number of scores compared."""
    if not live:
        raise ConformanceError("conformance: no live sessions to compare")
    compared = 0
    for session in sorted(live):
        day = pd.Timestamp(session)
        if day not in backtest.index:
            raise ConformanceError(
                f"conformance: session {session} has live scores but no backtest scores "
                f"(backtest covers {backtest.index.min().date()}..{backtest.index.max().date()})"
            )
        a = live[session].dropna().astype(float)
        b = backtest.loc[day].dropna().astype(float)
        only_live, only_bt = sorted(set(a.index) - set(b.index)), sorted(set(b.index) - set(a.index))
        if only_live or only_bt:
            raise ConformanceError(f"conformance: session {session}: scored only live {only_live[:SHOWN]}, only in the backtest {only_bt[:SHOWN]}")
        b = b.reindex(a.index)
        diff = (a - b).abs()
        bad = diff[diff > tolerance].sort_values(ascending=False)
        if len(bad):
            shown = ", ".join(f"{s} (live {a[s]:.6f}, backtest {b[s]:.6f})" for s in bad.index[:SHOWN])
            more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
            raise ConformanceError(f"conformance: session {session}: {len(bad)} of {len(a)} scores differ by more than {tolerance:g}: {shown}{more}")
        compared += int(np.isfinite(a).sum())
    return compared


REPLAY_ACTOR = "backtest-replay"
LEDGER_PRICE = Decimal("0.000001")  # the ledger's price places (tradeops.ledger.money.PRICE_PLACES)


@dataclass(frozen=True)
class ReplayReport:
    """What :func:`check_ledger_replay` compared."""

    sessions: int  # decision sessions compared
    targets: int  # approved target rows compared
    trades: int  # trade lines compared
    fills: int  # backtest fills booked in the ledger
    selected: int  # sessions whose selected symbols were compared (the backtest ran the signal)
    dividends: int  # dividends of held symbols booked as ledger cash movements
    splits: int  # splits of held symbols booked in the ledger
    peak_gap: Decimal  # largest |ledger peak - backtest peak| (the ledger's is flow-adjusted, on its cached closes)


def _weights(targets) -> dict[str, Decimal]:
    return {t["symbol"]: Decimal(str(t["approved_weight"])) for t in targets}


def _selected(top_ranks) -> list[str]:
    return [r["symbol"] for r in top_ranks if r["selected"]]


def compare_decisions(session: date, live, backtest, tolerance: float = TOLERANCE) -> tuple[int, int, bool]:
    """One decision session: the live :class:`tradeops.risk.Decision` against the backtest's.
    Raises ConformanceError naming the session and the symbols that differ.  Returns (target
    rows, trade lines, whether the selected symbols were compared: only when the backtest
    computed the signal that day; on a session it skips, it holds on today's weights)."""
    where = f"conformance: session {session}"
    if live.kind != backtest.kind:
        raise ConformanceError(f"{where}: the live run decides {live.kind}, the backtest {backtest.kind} ({live.signal_note} | {backtest.signal_note})")
    picked = bool(backtest.top_ranks)
    if picked and _selected(live.top_ranks) != _selected(backtest.top_ranks):
        a, b = _selected(live.top_ranks), _selected(backtest.top_ranks)
        raise ConformanceError(
            f"{where}: selected live {a}, in the backtest {b} (only live {sorted(set(a) - set(b))}, only in the backtest {sorted(set(b) - set(a))})"
        )
    a, b = _weights(live.targets), _weights(backtest.targets)
    if set(a) != set(b):
        raise ConformanceError(f"{where}: approved targets only live {sorted(set(a) - set(b))}, only in the backtest {sorted(set(b) - set(a))}")
    bad = sorted(s for s in a if abs(a[s] - b[s]) > Decimal(str(tolerance)))
    if bad:
        shown = ", ".join(f"{s} (live {a[s]}, backtest {b[s]})" for s in bad[:SHOWN])
        raise ConformanceError(f"{where}: {len(bad)} of {len(a)} approved weights differ by more than {tolerance:g}: {shown}")
    sides_live = [(t.side, t.symbol) for t in live.trades]
    sides_bt = [(t.side, t.symbol) for t in backtest.trades]
    if sides_live != sides_bt:
        diff = sorted({s for _, s in set(sides_live) ^ set(sides_bt)}) or sorted({s for _, s in sides_live})
        raise ConformanceError(f"{where}: trades live {sides_live}, in the backtest {sides_bt} (symbols {diff})")
    return len(a), len(sides_live), picked


def _same_book(session: date, ledger, engine_state) -> None:
    """The ledger's book must be the backtest's: the same units, cash and last rebalance."""
    where = f"conformance: session {session}: the ledger's book"
    if dict(ledger.positions) != dict(engine_state.positions):
        symbols = sorted(s for s in set(ledger.positions) | set(engine_state.positions) if ledger.positions.get(s) != engine_state.positions.get(s))
        raise ConformanceError(f"{where} holds {dict(ledger.positions)}, the backtest {dict(engine_state.positions)} (symbols {symbols})")
    if ledger.cash != engine_state.cash:
        raise ConformanceError(f"{where} has cash {ledger.cash}, the backtest {engine_state.cash}")
    if ledger.last_rebalance != engine_state.last_rebalance or ledger.state != engine_state.state:
        raise ConformanceError(
            f"{where}: last rebalance {ledger.last_rebalance}, state {ledger.state}; the backtest's {engine_state.last_rebalance}, {engine_state.state}"
        )


def _book_day(s, day: date, result, eod_day: pd.DataFrame, tickets: dict, calendar: ExchangeCalendar) -> tuple[int, int, int]:
    """Book what the backtest did on ``day`` before its decision: dividends and splits of the held
    symbols (before the open), the fills of the ticket executed that day, then the day's closes."""
    from ..ledger import api
    from ..ledger.inputs import FillInput

    held = api.compute_positions(s)
    dividends = splits = 0
    for row in eod_day.itertuples():
        units = held.get(row.symbol, Decimal(0))
        if units <= 0:
            continue
        if row.dividend and float(row.dividend) > 0:
            amount = (units * Decimal(str(float(row.dividend)))).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
            if amount > 0:
                api.record_cash_movement(s, "DIVIDEND", amount, day, symbol=row.symbol, notes="backtest replay", actor=REPLAY_ACTOR)
                dividends += 1
        if row.split and float(row.split) > 0 and float(row.split) != 1.0:
            api.record_split(s, row.symbol, Decimal(str(float(row.split))), day, notes="backtest replay", actor=REPLAY_ACTOR)
            splits += 1
    fills = result.trades.loc[result.trades["session"] == day]
    booked = 0
    if len(fills):
        ticket_id, lines = tickets[day]
        opened = calendar.market_open(day)
        rows = []
        for k, f in enumerate(fills.itertuples(), 1):
            line = lines.get((f.symbol, f.side))
            if line is None:  # a quarantine exit: not a ticket line (the replay covers ticket fills only)
                raise ConformanceError(f"conformance: session {day}: backtest fill {f.side} {f.symbol} is not on the ticket of {day}")
            rows.append(
                FillInput(
                    line_no=line,
                    status="EXECUTED",
                    units=Decimal(f.units),
                    price=Decimal(f.price).quantize(LEDGER_PRICE, ROUND_HALF_EVEN),
                    fees=Decimal(f.fee),
                    filled_at=opened + timedelta(minutes=k),
                    symbol=f.symbol,
                    side=f.side,
                    override_reason="the backtest's fill at the open",
                    where=f"backtest fill {k} of {day}",
                )
            )
        api.confirm_ticket(s, ticket_id, rows, actor=REPLAY_ACTOR)
        booked = len(rows)
    closes = [(r.symbol, day, Decimal(str(float(r.close))).quantize(LEDGER_PRICE, ROUND_HALF_EVEN)) for r in eod_day.itertuples() if r.close > 0]
    api.store_prices(s, closes, source="backtest-replay")
    return booked, dividends, splits


def _record_ticket(s, decision, execution: date) -> tuple[str, dict]:
    """The ledger's record of the backtest's decision: a ticket for the execution session (its
    ``rebalance`` flag is what the next preflight's last rebalance reads) with its trade lines."""
    from ..ledger import api
    from ..ledger.money import MONEY_PLACES, UNITS_PLACES

    ticket_id = f"REPLAY-{execution:%Y%m%d}"
    api.record_ticket(
        s, ticket_id, execution, decision.kind, "backtest-replay", {"rebalance": decision.rebalance, "decision_session": decision.session}, actor=REPLAY_ACTOR
    )
    lines = {}
    for n, t in enumerate(decision.trades, 1):
        api.record_intended_trade(
            s,
            ticket_id,
            n,
            t.side,
            t.symbol,
            t.value.quantize(Decimal(1).scaleb(-MONEY_PLACES)),
            t.units.quantize(Decimal(1).scaleb(-UNITS_PLACES)),
            t.price.quantize(LEDGER_PRICE),
            Decimal("0.02"),
            actor=REPLAY_ACTOR,
        )
        lines[(t.symbol, t.side)] = n
    return ticket_id, lines


def check_ledger_replay(
    eod: pd.DataFrame,
    policy: Policy,
    universe: Universe,
    result,
    engine,
    work: str | Path,
    models_dir: str | Path | None = None,
    calendar: ExchangeCalendar | None = None,
    tolerance: float = TOLERANCE,
    on_session: Callable[[date], None] | None = None,
) -> ReplayReport:
    """Replay ``result`` (a :func:`tradeops.research.backtest.run_backtest` run with
    ``keep_states=True`` over ``eod``) through a ledger and the live stages.

    ``engine``: a freshly initialised ledger (``tradeops.ledger.db.init_db``); the starting cash
    is deposited the session before the first.  On every session of the backtest the ledger
    gets that day's dividends and splits of held symbols, the fills of the ticket executed that
    day (the backtest's units, price and fee) and the closes.  On every decision session ``d``:
    the book is derived from the ledger as the preflight does (``portfolio.json``, the drawdown
    gate), the live signal stage runs on the clean frame cut at ``d`` (``eod.parquet`` of a run
    folder under ``work``; ``models_dir``: the live model registry) and the live risk stage on
    it; the live decision must equal the backtest's (:func:`compare_decisions`), and the
    backtest's decision is recorded as the ticket for the next session.  A backtest with a
    drawdown halt is refused (the replay models RUN sessions only)."""
    from ..ledger import api, gates
    from ..ledger.db import transaction
    from ..risk import run_risk_stage
    from ..signals import run_signal_stage
    from ..clock import FixedClock
    from ..stages import ledger_book, write_gates

    if result.halts:
        raise ConformanceError(f"conformance: the backtest halted on {result.halts[0]['breach']}; the ledger replay covers RUN sessions only")
    if not result.states:
        raise ConformanceError("conformance: the backtest kept no states (run it with keep_states=True)")
    calendar = calendar or get_calendar(policy.schedule.exchange)
    work = Path(work)
    sessions = [d.date() for d in result.equity.index]
    first = sessions[0]
    clock = FixedClock(calendar.market_close(calendar.previous_session(first)))
    with transaction(engine, clock) as s:
        api.record_cash_movement(
            s, "DEPOSIT", Decimal(str(policy.account.starting_cash)), calendar.previous_session(first), notes="backtest starting cash", actor=REPLAY_ACTOR
        )
    frame = eod.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    by_day = {d.date(): g for d, g in frame.groupby("date", sort=True)}
    tickets: dict[date, tuple[str, dict]] = {}
    compared = targets = trades = fills = picked = dividends = splits = 0
    peak_gap = Decimal(0)
    for d in sessions:
        clock.set(calendar.market_close(d))
        day_bars = by_day.get(d, frame.iloc[:0])
        with transaction(engine, clock) as s:
            booked = _book_day(s, d, result, day_bars, tickets, calendar)
        fills, dividends, splits = fills + booked[0], dividends + booked[1], splits + booked[2]
        backtest = result.decisions.get(d)
        if backtest is None:
            continue
        execution = calendar.next_session(d)
        run_dir = work / d.isoformat()
        with transaction(engine, clock) as s:
            book, _ = ledger_book(s, execution, d)
            gate = gates.drawdown_gate(s, policy.risk, as_of=d).to_dict()
        peak_gap = max(peak_gap, abs(book.peak_equity - result.states[d].peak_equity))
        _same_book(d, book, result.states[d])
        book.write(run_dir / "portfolio.json")
        write_gates(run_dir, "00_preflight", [gate])
        eod_path = run_dir / "eod.parquet"
        frame.loc[frame["date"] <= pd.Timestamp(d)].to_parquet(eod_path)  # what the run has on d: nothing later
        run_signal_stage(eod_path, policy, universe, d, run_dir, models_dir=models_dir)
        live = run_risk_stage(run_dir, eod_path, run_dir / "portfolio.json", policy, universe, d, calendar=calendar)
        n_targets, n_trades, was_picked = compare_decisions(d, live, backtest, tolerance)
        compared, targets, trades, picked = compared + 1, targets + n_targets, trades + n_trades, picked + was_picked
        with transaction(engine, clock) as s:
            tickets[execution] = _record_ticket(s, backtest, execution)
        if on_session is not None:
            on_session(d)
    return ReplayReport(compared, targets, trades, fills, picked, dividends, splits, peak_gap)
