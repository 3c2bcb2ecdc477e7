"""The guard's values: the constants and Decimal helpers, the account conversion (:class:`Fx`),
the rule verdict, the order line and the book a decision is made on (:func:`make_book`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Iterable, Mapping

import pandas as pd

from ..checks import Check
from ..errors import ConfigError, DataError
from ..portfolio import PortfolioState


ZERO = Decimal("0")
ONE = Decimal("1")
CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")
DUST = CENT  # a holding worth less than this is never traded nor counted as a position
FRACTIONAL_UNIT = Decimal("0.000001")
WHOLE_UNIT = Decimal("1")
WEIGHT_PLACES = Decimal("0.000001")
PRICE_PLACES = Decimal("0.0001")
ACCOUNT_PRICE_PLACES = Decimal("0.00000001")  # an instrument's price converted into the account currency
BPS = Decimal("10000")
MAX_FX_FEE_BPS = Decimal("500")


def dec(x) -> Decimal:
    """Decimal from a number without binary noise (a float goes through its repr: 0.1 -> 0.1)."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, float):
        return Decimal(repr(x))
    return Decimal(x)


def pct(x: Decimal | float, places: int = 1) -> str:
    return f"{float(x) * 100:.{places}f}%"


def money(x: Decimal) -> str:
    return f"{x.quantize(CENT, ROUND_HALF_EVEN):,}"


@dataclass(frozen=True)
class Fx:
    """How a non-USD account pays for USD instruments: ``rate`` USD per 1 unit of the account
    currency (the GBPUSD quote) on ``date``, and the broker's conversion fee ``fee_bps`` (bps of
    the converted amount, on every buy and sell).  Validated at construction."""

    currency: str
    pair: str
    rate: Decimal
    date: date
    fee_bps: Decimal = ZERO

    def __post_init__(self) -> None:
        rate, fee = dec(self.rate), dec(self.fee_bps)
        if not rate.is_finite() or rate <= 0:
            raise DataError(f"{self.pair} rate {self.rate} on {self.date} is not a rate: it must be a positive number")
        if not fee.is_finite() or not ZERO <= fee <= MAX_FX_FEE_BPS:
            raise ConfigError(f"account.fx_fee_bps {self.fee_bps} is outside [0, {MAX_FX_FEE_BPS}]")
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "fee_bps", fee)

    def __repr__(self) -> str:
        return f"Fx({self.pair} {self.rate} on {self.date}, fee {self.fee_bps} bps)"

    @property
    def fee(self) -> Decimal:
        return self.fee_bps / BPS

    def to_account(self, usd: Decimal) -> Decimal:
        """A USD price in the account currency (8 decimals)."""
        return (usd / self.rate).quantize(ACCOUNT_PRICE_PLACES, ROUND_HALF_EVEN)

    def to_dict(self) -> dict:
        return {"currency": self.currency, "pair": self.pair, "rate": str(self.rate), "date": self.date.isoformat(), "fee_bps": str(self.fee_bps)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Fx":
        return cls(d["currency"], d["pair"], Decimal(d["rate"]), date.fromisoformat(d["date"]), Decimal(d.get("fee_bps", "0")))


def conversion_fee(value: Decimal, fee: Decimal) -> Decimal:
    """The broker's conversion fee on one trade of ``value`` (account currency), rounded up to the cent."""
    return (value * fee).quantize(CENT, ROUND_UP) if fee > 0 and value > 0 else ZERO


# --------------------------------------------------------------------------- data


def rule_result(rule: str, passed: bool, reason: str) -> Check:
    """A rule's verdict: the one check record (:class:`tradeops.checks.Check`, source ``risk``,
    code the rule's name, message its reason)."""
    return Check.verdict("risk", rule, passed, reason)


def rule_to_dict(check: Check) -> dict:
    """``approved.json``'s form of a rule's verdict."""
    return {"rule": check.code, "passed": check.passed, "reason": check.message}


def rule_from_dict(d: Mapping) -> Check:
    return rule_result(d["rule"], d["passed"], d["reason"])


@dataclass(frozen=True)
class TradeLine:
    """One order: SELL or BUY ``value`` of ``symbol`` (about ``units`` at ``price``)."""

    side: str  # "SELL" | "BUY"
    symbol: str
    value: Decimal  # account currency (fractional units: cents; whole units: units x price)
    units: Decimal  # approximate: value / reference price (exact held units when closing)
    price: Decimal  # reference price: the latest raw close
    close_position: bool = False  # sell every unit held
    rank: int | None = None
    instrument_price: Decimal | None = None  # a non-USD account: the USD close ``price`` was converted from

    @property
    def signed(self) -> Decimal:
        return self.value if self.side == "BUY" else -self.value

    def to_dict(self) -> dict:
        d = {
            "side": self.side,
            "symbol": self.symbol,
            "value": str(self.value),  # exact; the ticket rounds to cents
            "units": str(self.units),
            "price": str(self.price),
            "close_position": self.close_position,
            "rank": self.rank,
        }
        if self.instrument_price is not None:
            d["instrument_price"] = str(self.instrument_price)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "TradeLine":
        usd = d.get("instrument_price")
        return cls(
            d["side"],
            d["symbol"],
            Decimal(d["value"]),
            Decimal(d["units"]),
            Decimal(d["price"]),
            bool(d["close_position"]),
            d.get("rank"),
            Decimal(usd) if usd is not None else None,
        )


@dataclass(frozen=True)
class Book:
    """The account before trading, valued at reference prices, plus the signal's ranks."""

    session: date
    equity: Decimal
    cash: Decimal
    prices: Mapping[str, Decimal]
    units: Mapping[str, Decimal]
    values: Mapping[str, Decimal]
    ranks: Mapping[str, int]
    drawdown: Decimal
    peak_equity: Decimal
    kill_switch: bool = False
    kill_switch_reason: str | None = None
    missing_prices: tuple[str, ...] = ()
    unit_step: Decimal = FRACTIONAL_UNIT  # 1 when only whole units may be traded
    fx: Fx | None = None  # a non-USD account: ``prices`` are converted at fx.rate, every trade pays fx.fee
    instrument_prices: Mapping[str, Decimal] = field(default_factory=dict)  # the USD closes (non-USD account only)

    @property
    def fee(self) -> Decimal:
        return self.fx.fee if self.fx is not None else ZERO

    def fees(self, trades: Iterable[TradeLine]) -> Decimal:
        """The conversion fees of ``trades`` (account currency; zero for a USD account)."""
        fee = self.fee
        return sum((conversion_fee(self.values.get(t.symbol, ZERO) if t.close_position else t.value, fee) for t in trades), ZERO)

    def weight(self, symbol: str) -> Decimal:
        return self.values.get(symbol, ZERO) / self.equity if self.equity > 0 else ZERO

    def weights(self) -> dict[str, Decimal]:
        return {s: self.weight(s) for s in self.values}

    def after(self, trades: Iterable[TradeLine]) -> tuple[dict[str, Decimal], Decimal]:
        """Holdings values and cash once every trade is done at its reference price."""
        values, cash = dict(self.values), self.cash
        fee = self.fee
        for t in trades:
            if t.close_position:
                cash += values.get(t.symbol, ZERO)
                if fee:
                    cash -= conversion_fee(values.get(t.symbol, ZERO), fee)
                values[t.symbol] = ZERO
            else:
                values[t.symbol] = values.get(t.symbol, ZERO) + t.signed
                cash -= t.signed
                if fee:
                    cash -= conversion_fee(t.value, fee)
        return {s: v for s, v in values.items() if v != 0}, cash


def make_book(
    portfolio: PortfolioState, prices: Mapping[str, Decimal], ranked: pd.DataFrame, session: date, fractional: bool = True, fx: Fx | None = None
) -> Book:
    """The account valued at ``prices`` (the instruments' USD closes); with ``fx``, in the account
    currency: every price converted at ``fx.rate`` (USD per unit of the account currency)."""
    prices = {s: dec(p) for s, p in prices.items() if dec(p) > 0}
    usd = {}
    if fx is not None:
        usd, prices = prices, {s: fx.to_account(p) for s, p in prices.items()}
    missing = tuple(sorted(s for s in portfolio.positions if s not in prices))
    values = {s: u * prices[s] for s, u in portfolio.positions.items() if s in prices}
    equity = portfolio.cash + sum(values.values(), ZERO)
    ranks = {str(s): int(r) for s, r in zip(ranked["symbol"], ranked["rank"])} if len(ranked) else {}
    return Book(
        session=session,
        equity=equity,
        cash=portfolio.cash,
        prices=prices,
        units=dict(portfolio.positions),
        values=values,
        ranks=ranks,
        drawdown=portfolio.drawdown(equity),
        peak_equity=max(portfolio.peak_equity, equity),
        kill_switch=portfolio.kill_switch,
        kill_switch_reason=portfolio.kill_switch_reason,
        missing_prices=missing,
        unit_step=FRACTIONAL_UNIT if fractional else WHOLE_UNIT,
        fx=fx,
        instrument_prices=usd,
    )


Targets = dict[str, Decimal]
