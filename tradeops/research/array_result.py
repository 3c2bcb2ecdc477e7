"""What the array engine returns (the equity curve, the decisions and trades as session x symbol arrays, packed per decision session) and the sessions its loop executes and rebalances on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from datetime import date, timedelta
import numpy as np
import pandas as pd
from ..calendar import ExchangeCalendar
from .backtest import Market
from .array_kernel import F


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
