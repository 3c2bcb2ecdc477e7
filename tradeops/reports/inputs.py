"""What a report is built from: one :class:`ReportInputs` (the ledger's and the clean data's
facts: positions, gates, the run, the ticket lines), and the report constants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from .. import metrics
from ..checks import Gate
from ..errors import DataError


TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
CENT = Decimal("0.01")
# Annualised ratios over fewer returns than this are shown as "n/a": a
# Sharpe ratio from a fortnight of data says nothing.
MIN_RETURNS_FOR_RATIOS = 20
LEVEL_EPS = 1e-12  # a drawdown exactly at a level counts as past it
LINE_STATUSES = ("executed", "partial", "not_executed", "unconfirmed")

# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Position:
    """An open position valued at the session's close."""

    symbol: str
    units: Decimal
    price: Decimal  # in the instrument currency (USD)
    cost_basis: Decimal  # total cost of the open units (FIFO), in the account currency
    sector: str = "Unknown"
    fx_rate: Decimal = Decimal(1)  # USD per account-currency unit the value is translated at (1: a USD account)

    @property
    def value(self) -> Decimal:
        """In the account currency: ``units x price / fx_rate`` (the ledger's rounding, to 8 places)."""
        if self.fx_rate == 1:
            return self.units * self.price
        return (self.units * self.price / self.fx_rate).quantize(Decimal("0.00000001"))

    @property
    def unrealized(self) -> Decimal:
        return self.value - self.cost_basis


GATE_STATUSES = ("pass", "fail", "skipped")


def gate(name: str, status: str, reasons: Sequence[str] = ()) -> Gate:
    """A gate as a report lists it (:class:`tradeops.checks.Gate`): passed, failed with its
    reasons, or skipped (no check records: it did not run)."""
    if status not in GATE_STATUSES:
        raise ValueError(f"gate {name!r}: status {status!r} is not one of {GATE_STATUSES}")
    if status == "skipped":
        return Gate(name)
    return Gate.of_reasons(name, status == "pass", reasons, source="report")


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    started_at: datetime
    decision_session: date
    ticket_id: str | None = None
    ticket_kind: str | None = None  # TRADE | HOLD | NO-TRADE
    exit_code: int | None = None


@dataclass(frozen=True)
class ReportLine:
    """One intended trade of a ticket and what the executor reported."""

    ticket_id: str
    session: date  # the execution session
    symbol: str
    side: str  # buy | sell
    intended_units: Decimal
    reference_price: Decimal
    status: str  # executed | partial | not_executed | unconfirmed
    filled_units: Decimal = Decimal(0)
    fill_price: Decimal | None = None
    fees: Decimal = Decimal(0)
    reason: str = ""
    confirmed_at: datetime | None = None
    deadline: datetime | None = None
    fx_rate: Decimal = Decimal(1)  # USD per account-currency unit of the fill (or the ticket): prices are USD

    def in_account(self, usd: Decimal) -> Decimal:
        """A dollar amount of this line in the account currency (8 places; unchanged at a rate of 1)."""
        return usd if self.fx_rate == 1 else (usd / self.fx_rate).quantize(Decimal("0.00000001"))

    @property
    def intended_value(self) -> Decimal:
        return self.in_account(self.intended_units * self.reference_price)

    @property
    def filled_value(self) -> Decimal:
        return self.in_account(self.filled_units * self.fill_price) if self.fill_price is not None else Decimal(0)


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """Everything a report shows, from the ledger and the clean data.

    ``equity`` is the account's closing equity per session (Decimal or
    float values, date index) ending at ``as_of``; ``benchmark`` the
    benchmark's closes.  ``cash_flows`` are deposits (+) and withdrawals (-)
    by date, the initial funding included.  ``trades`` are the lines of the
    tickets executed in the reporting period.
    """

    as_of: date
    generated_at: datetime  # aware; printed in the report, never read from a clock
    equity: pd.Series
    cash: Decimal
    positions: tuple[Position, ...]
    realized_pnl: Decimal
    state: str  # RUN | HALT | ...
    benchmark: pd.Series
    benchmark_symbol: str = "SPY"
    cash_flows: Mapping[date, Decimal] = field(default_factory=dict)
    gates: tuple[Gate, ...] = ()
    last_run: RunInfo | None = None
    next_rebalance: date | None = None
    trades: tuple[ReportLine, ...] = ()
    period_start: date | None = None  # first session of the weekly period
    currency: str = "USD"
    timezone: str = "Europe/London"
    drawdown_warning: float = 0.10
    kill_switch_drawdown: float = 0.20
    # an account in another currency than its instruments': the FX effect in the realized and unrealized
    # P&L (to the penny; the ledger's PnL.split_to_the_penny) and the currency of the prices
    fx_effect: Decimal | None = None
    price_currency: str = "USD"
    # the benchmark's closes are in ``price_currency``; for an account in another currency, the day's rate
    # (``price_currency`` per account-currency unit, by date: GBPUSD) turns them into the account's currency
    benchmark_fx: pd.Series | None = None
    drift: object | None = None  # tradeops.drift_section.Section: live vs the shadow portfolio (None: no live tickets)

    def __post_init__(self):
        if self.generated_at.tzinfo is None:
            raise DataError(f"generated_at {self.generated_at} has no time zone; pass an aware datetime")
        eq = self.equity_series()
        if eq.empty:
            raise DataError("the equity curve is empty: nothing to report")
        if not eq.index.is_monotonic_increasing or eq.index.has_duplicates:
            raise DataError("the equity curve's dates must be increasing and unique")
        if eq.index[-1].date() != self.as_of:
            raise DataError(f"the equity curve ends on {eq.index[-1].date()}, not on the report date {self.as_of}")
        booked = self.cash + sum((p.value for p in self.positions), Decimal(0))
        last = _money(self.equity.iloc[-1])
        if abs(booked - last) > CENT:
            raise DataError(f"equity on {self.as_of} is {last} but cash + positions is {booked} (difference {last - booked}, tolerance {CENT})")
        for p in self.positions:
            if p.units <= 0 or p.price <= 0:
                raise DataError(f"position {p.symbol}: units {p.units} and price {p.price} must be > 0")
        for t in self.trades:
            if t.status not in LINE_STATUSES:
                raise DataError(f"trade {t.ticket_id}/{t.symbol}: status {t.status!r} is not one of {LINE_STATUSES}")

    def equity_series(self) -> pd.Series:
        """The equity curve as floats on a DatetimeIndex."""
        s = self.equity
        return pd.Series([float(v) for v in s.to_numpy()], index=pd.DatetimeIndex(s.index), dtype=float)

    def returns(self) -> pd.Series:
        """Time-weighted daily returns (deposits and withdrawals neutralised)."""
        return metrics.returns_from_equity(self.equity_series(), self.cash_flows)

    @property
    def benchmark_converted(self) -> bool:
        """Whether the benchmark's return is translated into the account currency (a GBP account)."""
        return self.benchmark_fx is not None and len(self.benchmark_fx) > 0 and self.currency != self.price_currency

    def benchmark_returns(self) -> pd.Series:
        """Benchmark returns on the account's sessions (NaN where the benchmark has no bar), in the
        account currency: each close divided by the latest rate on or before its day (a GBP account)."""
        closes = pd.Series(self.benchmark, dtype=float)
        closes.index = pd.DatetimeIndex(closes.index)
        index = self.equity_series().index
        closes = closes.reindex(index)
        if self.benchmark_converted:
            fx = pd.Series([float(v) for v in self.benchmark_fx.to_numpy()], index=pd.DatetimeIndex(self.benchmark_fx.index), dtype=float)
            closes = closes / fx.sort_index().reindex(index, method="ffill")
        return (closes / closes.shift(1) - 1.0).iloc[1:]


def _money(v) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(repr(float(v)))


def _ratio(num: Decimal, den: Decimal) -> float:
    return float(num / den) if den else float("nan")
