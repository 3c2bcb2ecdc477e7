"""The shadow portfolio's inputs (the model, the ticket lines, the marks and rates) and the
shadow itself: every ticket line executed as issued, from the same starting book.
Re-exported by :mod:`tradeops.drift`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Mapping, Sequence

from .ledger.money import CENT, MONEY_PLACES, AsOf, PRICE_PLACES, account_value


ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal("0.0001")
PRICE_Q = Decimal(1).scaleb(-PRICE_PLACES)
COMPONENTS = ("signal", "not_executed", "partial", "slippage", "delay", "fees", "fx", "cash_movements", "residual")
LABELS = {
    "signal": "Signal differences (conformance)",
    "not_executed": "Lines not executed",
    "partial": "Partial fills",
    "slippage": "Execution price vs reference (slippage)",
    "delay": "Late / outside the window (human delay)",
    "fees": "Fees vs the model",
    "fx": "FX (fill rate vs sizing rate)",
    "cash_movements": "Cash movements",
    "residual": "Residual",
}
PriceSeries = Mapping[str, Mapping[date, Decimal]]


def cents(x: Decimal) -> Decimal:
    return x.quantize(CENT, ROUND_HALF_EVEN)


def _asof(series: Mapping[date, Decimal] | None, day: date) -> Decimal | None:
    """The last value of a dated series on or before ``day``."""
    if not series:
        return None
    return AsOf(series).get(day)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Model:
    """The shadow's execution model (the policy's): slippage and commission in bps, lateness."""

    slippage_bps: Decimal = Decimal(5)
    fee_bps: Decimal = Decimal(10)
    late_after_minutes: int = 30

    @classmethod
    def from_policy(cls, policy) -> "Model":
        return cls(Decimal(str(policy.research.slippage_bps)), Decimal(str(policy.research.cost_bps)), policy.drift.late_after_minutes)

    def price(self, side: str, reference: Decimal) -> Decimal:
        """The model's execution price: the reference moved against the trade by the slippage."""
        s = ONE if side == "BUY" else -ONE
        return (reference * (ONE + s * self.slippage_bps * BPS)).quantize(PRICE_Q, ROUND_HALF_EVEN)  # as the ledger books a price


@dataclass(frozen=True)
class Line:
    """One ticket line with what the ledger says happened to it."""

    ticket_id: str
    session: date  # the execution session
    line_no: int
    side: str  # BUY | SELL
    symbol: str
    units: Decimal  # intended, as the ledger holds it
    reference_price: Decimal  # USD
    window_start: datetime
    archived_units: Decimal | None = None  # the archived ticket's units (None: no archived ticket, taken as the ledger's)
    sizing_rate: Decimal = ONE  # USD per account unit the line was sized at (1 in USD)
    model_fx_fee: Decimal = ZERO  # the line's conversion fee in the account currency (GBP accounts)
    status: str = "UNCONFIRMED"  # EXECUTED | PARTIAL | NOT_EXECUTED | UNCONFIRMED
    filled_units: Decimal = ZERO
    fill_price: Decimal | None = None
    fees: Decimal = ZERO
    fill_rate: Decimal = ONE
    account_amount: Decimal = ZERO  # as booked
    filled_at: datetime | None = None
    filled_on: date | None = None  # the exchange date the ledger books the fill on
    reason: str = ""

    @property
    def sign(self) -> Decimal:
        return ONE if self.side == "BUY" else -ONE

    @property
    def shadow_units(self) -> Decimal:
        return self.units if self.archived_units is None else self.archived_units

    @property
    def delay_minutes(self) -> float | None:
        if self.filled_at is None or self.status not in ("EXECUTED", "PARTIAL"):
            return None
        return (self.filled_at - self.window_start).total_seconds() / 60.0


@dataclass(frozen=True)
class DriftInputs:
    start: date  # the first live ticket's session
    currency: str
    start_cash: Decimal
    start_units: Mapping[str, Decimal]
    sessions: Sequence[date]  # every exchange session from start to the end
    closes: PriceSeries  # USD
    opens: PriceSeries  # USD (the archive's; a missing open leaves a late fill's whole price gap in slippage)
    fx: Mapping[date, Decimal]  # USD per account unit (empty for a USD account)
    live_equity: Mapping[date, Decimal]  # the ledger's equity curve
    cash_moves: Sequence[tuple[date, str, Decimal]]  # (value date, kind, signed amount) after the start book's day
    lines: Sequence[Line]
    model: Model = Model()
    benchmark: Mapping[date, Decimal] = field(default_factory=dict)

    @cached_property
    def _closes(self) -> dict[str, AsOf]:
        return {sym: AsOf(series) for sym, series in self.closes.items()}

    @cached_property
    def _fx(self) -> AsOf:
        return AsOf(self.fx)


# --------------------------------------------------------------------------- the shadow


def shadow_fill(line: Line, model: Model) -> tuple[Decimal, Decimal, Decimal]:
    """(price USD, account amount, fees) of the shadow's execution of ``line`` as issued."""
    price = model.price(line.side, line.reference_price)
    amount = account_value(line.shadow_units, price, line.sizing_rate)  # the ledger's own booking rule
    fees = cents(amount * model.fee_bps * BPS) + line.model_fx_fee
    return price, amount, fees


def _mark(inputs: DriftInputs, symbol: str, day: date) -> Decimal | None:
    series = inputs._closes.get(symbol)
    return series.get(day) if series is not None else None


def _rate(inputs: DriftInputs, day: date) -> Decimal:
    if inputs.currency == "USD" or not inputs.fx:
        return ONE
    r = inputs._fx.get(day)
    return r if r is not None else ONE


def _market_value(inputs: DriftInputs, units: Mapping[str, Decimal], day: date) -> Decimal:
    value = ZERO
    for symbol, held in units.items():
        if held == 0:
            continue
        mark = _mark(inputs, symbol, day)
        if mark is None:
            continue
        value += held * mark
    rate = _rate(inputs, day)
    if rate != ONE and value:
        value = (value / rate).quantize(Decimal(1).scaleb(-MONEY_PLACES))
    return value


def shadow_equity(inputs: DriftInputs) -> dict[date, Decimal]:
    """The shadow portfolio's equity at each session's close (account currency)."""
    out = {}
    lines = sorted(inputs.lines, key=lambda ln: (ln.session, ln.ticket_id, ln.line_no))
    cash, units, i = inputs.start_cash, dict(inputs.start_units), 0
    for day in sorted(inputs.sessions):  # one pass: each line enters on its session
        while i < len(lines) and lines[i].session <= day:
            ln = lines[i]
            _, amount, fees = shadow_fill(ln, inputs.model)
            units[ln.symbol] = units.get(ln.symbol, ZERO) + ln.sign * ln.shadow_units
            cash += -ln.sign * amount - fees
            i += 1
        out[day] = cash + _market_value(inputs, units, day)
    return out
