"""Risk guard: ranked list + account + prices -> approved targets and an ordered trade list.

The guard works in three steps, and keeps *shaping* (changing what we aim
for) apart from *checking* (saying yes or no):

1. **Raw targets** (``proposed.json``).  On a rebalance day: equal weights
   over the names the signal selected.  On any other day: today's weights,
   so the answer is normally HOLD and only a real limit breach trades.
   Risk-off (rebalance days only, when ``portfolio.risk_off_to_cash``): if
   the benchmark is below its moving average or no name has positive
   momentum, every target is multiplied by ``1 - risk_off_cash_fraction``.
2. **Shaping** (:func:`shape`), rules in the order of :func:`rules_from_policy`:
   first every rule shapes the weight targets, then the trades are sized
   (account currency; fractional: money to cents and units to 6 dp, whole
   units: value = units x price; rounding always on the safe side: buys
   down, sells up, never more than is held), then every rule shapes the
   trades, and the small-trade filters run once more:

   ==================  =====================  ==================================
   rule                shapes targets         shapes trades
   ==================  =====================  ==================================
   long_only           negative -> 0
   no_buy              capped at the current
                       weight
   max_positions       keeps the best-ranked
                       (unranked held last)
   max_weight          clipped at the limit;
                       the excess stays cash
   max_turnover                               scales buys (then sells, if sells
                                              alone exceed it) so turnover =
                                              sum(|trade|) / 2 / equity <= cap
   tiny_deltas                                drops trades below
                                              ``tiny_delta_value`` or
                                              ``tiny_delta_weight`` of equity
   min_order_value                            drops trades below the minimum
   cash_buffer         scaled so the buffer   shrinks buys if a dropped sell
                       stays cash             left one unfunded
   ==================  =====================  ==================================

   Closing a whole position is never dropped as "tiny": leaving a name is a
   decision, not noise.
3. **Checking**: every rule (also ``drawdown_kill_switch`` and
   ``known_tradable``, which only check) looks at the final trade list and
   returns a :class:`RuleResult` with its reason.  Any failure makes the
   decision NO-TRADE; the trades it would have made are kept as ``blocked``
   for the audit, never shown as orders.

The max-drawdown halt is the exception to all three steps: with the kill
switch off, a drawdown at or past ``risk.kill_switch_drawdown`` (or a failed
ledger drawdown gate) skips shaping; the trades close every priced position
(:func:`halt_trades`), the drawdown rule fails (the state enters HALT) and the
decision is a TRADE of SELL lines with ``halt=True`` (NO-TRADE when nothing
is held).  With the kill switch on, nothing is traded.

Limits are checked as "the ticket does not create or worsen a breach": a
BUY may not end above the max weight, open a position past the max count or
eat into the cash buffer; SELLs only lower risk.  A name that drifted above a
limit by market moves alone is trimmed when the trim is bigger than a tiny
delta, and otherwise at the next rebalance.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from pathlib import Path
from typing import ClassVar, Iterable, Mapping, Sequence

import pandas as pd

from .calendar import ExchangeCalendar, get_calendar
from .config import Policy, Universe
from . import files
from .errors import ConfigError, DataError
from .portfolio import PortfolioState
from .signals import SignalResult, read_signal

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


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    reason: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "passed": self.passed, "reason": self.reason}


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
        return cls(d["side"], d["symbol"], Decimal(d["value"]), Decimal(d["units"]), Decimal(d["price"]), bool(d["close_position"]), d.get("rank"),
                   Decimal(usd) if usd is not None else None)


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


def make_book(portfolio: PortfolioState, prices: Mapping[str, Decimal], ranked: pd.DataFrame, session: date, fractional: bool = True,
              fx: Fx | None = None) -> Book:
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


# --------------------------------------------------------------------------- rules


Targets = dict[str, Decimal]


class Rule:
    """A risk rule: validates its limits when built, may shape, always checks."""

    name: ClassVar[str]

    def limits(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.limits().items())
        return f"{type(self).__name__}({args})"

    def shape_targets(self, targets: Targets, book: Book) -> tuple[Targets, list[str]]:
        return targets, []

    def shape_trades(self, trades: list[TradeLine], book: Book) -> tuple[list[TradeLine], list[str]]:
        return trades, []

    def check(self, trades: Sequence[TradeLine], book: Book) -> RuleResult:
        raise NotImplementedError

    def _result(self, passed: bool, reason: str) -> RuleResult:
        return RuleResult(self.name, passed, reason)


def _bounded(rule: str, key: str, value, lo, hi, lo_open: bool = False, hi_open: bool = False):
    bad = value is None or (value <= lo if lo_open else value < lo) or (value >= hi if hi_open else value > hi)
    if bad:
        span = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise ConfigError(f"{rule}: {key} must be in {span}, got {value!r}")
    return value


class DrawdownKillSwitch(Rule):
    """Check only: refuse everything while the kill switch is on or the drawdown is past the limit."""

    name = "drawdown_kill_switch"

    def __init__(self, max_drawdown: float):
        self.max_drawdown = dec(_bounded(self.name, "max_drawdown", max_drawdown, 0, 1, lo_open=True, hi_open=True))

    def limits(self) -> dict:
        return {"max_drawdown": float(self.max_drawdown)}

    def check(self, trades, book):
        if book.kill_switch:
            return self._result(False, f"the kill switch is on ({book.kill_switch_reason}); only an explicit resume clears it")
        if book.drawdown >= self.max_drawdown:
            return self._result(
                False,
                f"drawdown {pct(book.drawdown)} from peak equity {money(book.peak_equity)} is at or past the kill-switch limit {pct(self.max_drawdown)}",
            )
        return self._result(True, f"drawdown {pct(book.drawdown)} is below the kill-switch limit {pct(self.max_drawdown)}")

    def breached(self, book: Book) -> bool:
        return book.drawdown >= self.max_drawdown

    def check_halt(self, trades: Sequence[TradeLine], book: Book, breach_reason: str = "") -> RuleResult:
        """The verdict on a breach (kill switch off): failed, so the state enters HALT, with the
        risk-off ticket's reason."""
        why = breach_reason or (
            f"drawdown {pct(book.drawdown)} from peak equity {money(book.peak_equity)} is at or past the kill-switch limit {pct(self.max_drawdown)}"
        )
        what = (f"risk-off: every position ({len(trades)}) is sold to cash at the next execution window" if trades
                else "risk-off: the book holds nothing to sell")
        return self._result(False, f"{why}; {what}, then HALT: nothing is bought until an explicit `tradeops resume --reason ...`")


class KnownTradable(Rule):
    """Check only: every traded symbol is in the universe and tradable as real shares, and
    every held or traded symbol has a reference price."""

    name = "known_tradable"

    def __init__(self, known: Iterable[str], tradable: Iterable[str]):
        self.known = frozenset(known)
        self.tradable = frozenset(tradable)
        if not self.known or not all(isinstance(s, str) and s for s in self.known):
            raise ConfigError(f"{self.name}: known must be a non-empty set of symbols, got {sorted(self.known)!r}")
        if not self.tradable <= self.known:
            raise ConfigError(f"{self.name}: tradable symbols {sorted(self.tradable - self.known)} are not in the known set")

    @classmethod
    def from_universe(cls, universe: Universe) -> "KnownTradable":
        return cls(universe.symbols, [i.internal_symbol for i in universe.instruments if i.tradable_as_underlying])

    def limits(self) -> dict:
        return {"known": len(self.known), "tradable": len(self.tradable)}

    def check(self, trades, book):
        problems = []
        if book.missing_prices:
            problems.append(f"no reference price on {book.session} for {', '.join(book.missing_prices)} (held or targeted), so they cannot be valued or sized")
        for t in trades:
            if t.symbol not in self.known:
                problems.append(f"{t.side} {t.symbol}: {t.symbol} is not in the universe (config/universe.csv)")
            elif t.symbol not in self.tradable:
                problems.append(f"{t.side} {t.symbol}: {t.symbol} is not tradable as real shares (tradable_as_underlying=false)")
            if t.symbol not in book.prices:
                problems.append(f"{t.side} {t.symbol}: no reference price on {book.session}")
        if problems:
            return self._result(False, "; ".join(problems))
        return self._result(True, f"{len(trades)} traded symbol(s), all known, tradable as real shares and priced")


class LongOnly(Rule):
    """Shape: negative targets become 0.  Check: no sell of more than is held."""

    name = "long_only"

    def shape_targets(self, targets, book):
        neg = sorted(s for s, w in targets.items() if w < 0)
        return {s: max(w, ZERO) for s, w in targets.items()}, [f"long_only: negative target for {s} set to 0" for s in neg]

    def check(self, trades, book):
        bad = [
            f"SELL {t.symbol} {money(t.value)} is more than the {money(book.values.get(t.symbol, ZERO))} held"
            for t in trades
            if t.side == "SELL" and not t.close_position and (t.value > book.values.get(t.symbol, ZERO) or t.units > book.units.get(t.symbol, ZERO))
        ]
        bad += [f"SELL {t.symbol}: nothing is held" for t in trades if t.side == "SELL" and t.close_position and t.symbol not in book.units]
        if bad:
            return self._result(False, "; ".join(bad) + " (that would be a short)")
        return self._result(True, "no sell exceeds what is held")


class NoBuy(Rule):
    """Shape: a listed name's target is capped at its current weight.  Check: no BUY of a listed name."""

    name = "no_buy"

    def __init__(self, symbols: Iterable[str]):
        self.symbols = frozenset(symbols)
        if not all(isinstance(s, str) and s.strip() for s in self.symbols):
            raise ConfigError(f"{self.name}: symbols must be non-empty strings, got {sorted(map(repr, self.symbols))}")

    def limits(self) -> dict:
        return {"symbols": sorted(self.symbols)}

    def shape_targets(self, targets, book):
        out, notes = dict(targets), []
        for s in sorted(self.symbols & set(targets)):
            cap = book.weight(s)
            if out[s] > cap:
                notes.append(f"no_buy: {s} is on the no-buy list; target {pct(out[s])} capped at its current {pct(cap)}")
                out[s] = cap
        return out, notes

    def check(self, trades, book):
        bad = sorted(t.symbol for t in trades if t.side == "BUY" and t.symbol in self.symbols)
        if bad:
            return self._result(False, f"BUY of {', '.join(bad)}, which the policy lists under portfolio.no_buy")
        return self._result(True, f"no buy of the {len(self.symbols)} no-buy names")


class MaxPositions(Rule):
    """Shape: keep the best-ranked ``max_positions`` targets.  Check: no new name opened past the count."""

    name = "max_positions"

    def __init__(self, max_positions: int):
        self.max_positions = _bounded(self.name, "max_positions", max_positions, 1, 1000)
        if not isinstance(max_positions, int):
            raise ConfigError(f"{self.name}: max_positions must be an integer, got {max_positions!r}")

    def limits(self) -> dict:
        return {"max_positions": self.max_positions}

    def shape_targets(self, targets, book):
        held = [s for s, w in targets.items() if w > 0]
        if len(held) <= self.max_positions:
            return targets, []
        order = sorted(held, key=lambda s: (book.ranks.get(s, 10**9), -targets[s], s))
        cut = order[self.max_positions :]
        out = {s: (ZERO if s in cut else w) for s, w in targets.items()}
        return out, [f"max_positions: {len(held)} targets > {self.max_positions}; dropped {', '.join(sorted(cut))}"]

    def check(self, trades, book):
        post, _ = book.after(trades)
        opened = sorted(t.symbol for t in trades if t.side == "BUY" and book.values.get(t.symbol, ZERO) == 0)
        n = sum(1 for v in post.values() if v >= DUST)
        if n > self.max_positions and opened:
            return self._result(False, f"{n} positions after trading > max {self.max_positions}, and the ticket opens {', '.join(opened)}")
        return self._result(True, f"{n} positions after trading (max {self.max_positions})")


class MaxWeight(Rule):
    """Shape: clip each target at ``max_weight`` (excess stays cash).  Check: no buy ends above it,
    no name's weight grows above it."""

    name = "max_weight"

    def __init__(self, max_weight: float):
        self.max_weight = dec(_bounded(self.name, "max_weight", max_weight, 0, 1, lo_open=True))

    def limits(self) -> dict:
        return {"max_weight": float(self.max_weight)}

    def shape_targets(self, targets, book):
        out, notes = dict(targets), []
        for s in sorted(targets):
            if targets[s] > self.max_weight:
                out[s] = self.max_weight
                notes.append(f"max_weight: {s} target {pct(targets[s])} clipped to {pct(self.max_weight)}")
        return out, notes

    def check(self, trades, book):
        post, _ = book.after(trades)
        limit = self.max_weight * book.equity
        bought = {t.symbol for t in trades if t.side == "BUY"}
        bad = [
            f"{s} would be {pct(v / book.equity)} of equity"
            for s, v in sorted(post.items())
            if v > limit and (s in bought or v > book.values.get(s, ZERO))
        ]
        if bad:
            return self._result(False, f"{'; '.join(bad)}, above the max weight {pct(self.max_weight)}")
        top = max(post.items(), key=lambda kv: kv[1], default=("-", ZERO))
        w = top[1] / book.equity if book.equity > 0 else ZERO
        return self._result(True, f"largest position after trading {top[0]} {pct(w)} (max {pct(self.max_weight)}; no buy exceeds it)")


class CashBuffer(Rule):
    """Shape: scale targets so at least ``min_cash_buffer`` of equity stays cash; later, shrink buys
    if dropped sells left them unfunded.  Check: after any buy, cash >= the buffer."""

    name = "cash_buffer"

    def __init__(self, min_cash_buffer: float):
        self.buffer = dec(_bounded(self.name, "min_cash_buffer", min_cash_buffer, 0, 1, hi_open=True))

    def limits(self) -> dict:
        return {"min_cash_buffer": float(self.buffer)}

    def shape_targets(self, targets, book):
        total = sum(targets.values(), ZERO)
        room = ONE - self.buffer
        if total <= room or total == 0:
            return targets, []
        k = room / total
        return {s: w * k for s, w in targets.items()}, [f"cash_buffer: targets sum to {pct(total)}; scaled by {float(k):.4f} to keep {pct(self.buffer)} cash"]

    def shape_trades(self, trades, book):
        buys = [t for t in trades if t.side == "BUY"]
        _, cash = book.after(trades)
        short = self.buffer * book.equity - cash
        total = sum((t.value for t in buys), ZERO)
        if short <= 0 or total == 0:
            return trades, []
        k = max(ZERO, (total - short) / total)
        shrunk = {t.symbol: _shrink(t, t.value * k, book) for t in buys}
        out = [shrunk.get(t.symbol, t) if t.side == "BUY" else t for t in trades]
        return [t for t in out if t.value > 0], [f"cash_buffer: buys shrunk by {money(short)} so {pct(self.buffer)} stays cash"]

    def check(self, trades, book):
        _, cash = book.after(trades)
        need = self.buffer * book.equity
        buys = any(t.side == "BUY" for t in trades)
        if buys and cash < need:
            return self._result(False, f"cash after trading {money(cash)} is below the buffer {money(need)} ({pct(self.buffer)} of equity)")
        return self._result(True, f"cash after trading {money(cash)} ({pct(cash / book.equity) if book.equity > 0 else '-'}; buffer {pct(self.buffer)})")


def turnover(trades: Iterable[TradeLine], equity: Decimal) -> Decimal:
    """One-way turnover: half the sum of traded values, as a fraction of equity."""
    return sum((t.value for t in trades), ZERO) / 2 / equity if equity > 0 else ZERO


class MaxTurnover(Rule):
    """Shape: scale buys (then sells) so turnover stays within ``max_turnover``.  Check: it does."""

    name = "max_turnover"

    def __init__(self, max_turnover: float):
        self.max_turnover = dec(_bounded(self.name, "max_turnover", max_turnover, 0, 2, lo_open=True))

    def limits(self) -> dict:
        return {"max_turnover": float(self.max_turnover)}

    def shape_trades(self, trades, book):
        now = turnover(trades, book.equity)
        if now <= self.max_turnover:
            return trades, []
        budget = 2 * self.max_turnover * book.equity
        sells = sum((t.value for t in trades if t.side == "SELL"), ZERO)
        buys = sum((t.value for t in trades if t.side == "BUY"), ZERO)
        if sells <= budget:
            k_sell, k_buy = ONE, (budget - sells) / buys
        else:
            k_sell, k_buy = budget / sells, ZERO
        out = []
        for t in trades:
            k = k_sell if t.side == "SELL" else k_buy
            if k != ONE:
                t = _shrink(t, t.value * k, book)
            if t.value > 0:
                out.append(t)
        return out, [f"max_turnover: turnover {pct(now)} > cap {pct(self.max_turnover)}; buys scaled by {float(k_buy):.4f}, sells by {float(k_sell):.4f}"]

    def check(self, trades, book):
        now = turnover(trades, book.equity)
        ok = now <= self.max_turnover
        return self._result(ok, f"turnover {pct(now, 2)} {'within' if ok else 'above'} the cap {pct(self.max_turnover)}")


class SmallTradeFilter(Rule):
    """Base of the rules that drop small trades (never a whole-position close).  The guard
    records every dropped trade in ``Decision.suppressed`` (the ticket's "tiny deltas" list)."""

    def why_small(self, t: TradeLine, book: Book) -> str | None:
        raise NotImplementedError

    def shape_trades(self, trades, book):
        return [t for t in trades if t.close_position or not self.why_small(t, book)], []

    def check(self, trades, book):
        bad = [f"{t.side} {t.symbol} {money(t.value)} ({self.why_small(t, book)})" for t in trades if not t.close_position and self.why_small(t, book)]
        if bad:
            return self._result(False, "small trades left on the ticket: " + "; ".join(bad))
        return self._result(True, f"no trade is {self.threshold()} (whole-position closes excepted)")

    def threshold(self) -> str:
        raise NotImplementedError


class TinyDeltas(SmallTradeFilter):
    """Shape: drop trades below ``tiny_delta_value`` or ``tiny_delta_weight`` of equity ("do nothing").
    Check: none is left."""

    name = "tiny_deltas"

    def __init__(self, value: Decimal, weight: float):
        self.value = dec(_bounded(self.name, "tiny_delta_value", dec(value), 0, Decimal("1000000")))
        self.weight = dec(_bounded(self.name, "tiny_delta_weight", weight, 0, 0.5))

    def limits(self) -> dict:
        return {"tiny_delta_value": str(self.value), "tiny_delta_weight": float(self.weight)}

    def threshold(self) -> str:
        return f"below {money(self.value)} or {pct(self.weight, 2)} of equity"

    def why_small(self, t, book):
        if t.value < self.value:
            return f"below {money(self.value)}"
        if book.equity > 0 and t.value / book.equity < self.weight:
            return f"below {pct(self.weight, 2)} of equity"
        return None


class MinOrderValue(SmallTradeFilter):
    """Shape: drop trades below the broker's minimum order.  Check: none is left."""

    name = "min_order_value"

    def __init__(self, min_order_value: Decimal):
        self.min_value = dec(_bounded(self.name, "min_order_value", dec(min_order_value), 0, Decimal("1000000")))

    def limits(self) -> dict:
        return {"min_order_value": str(self.min_value)}

    def threshold(self) -> str:
        return f"below the minimum order {money(self.min_value)}"

    def why_small(self, t, book):
        return self.threshold() if t.value < self.min_value else None




def rules_from_policy(policy: Policy, universe: Universe) -> list[Rule]:
    """The rules in the order they shape (see the module docstring)."""
    p = policy.portfolio
    return [
        DrawdownKillSwitch(policy.risk.kill_switch_drawdown),
        KnownTradable.from_universe(universe),
        LongOnly(),
        NoBuy(p.no_buy),
        MaxPositions(p.max_positions),
        MaxWeight(p.max_weight),
        MaxTurnover(p.max_turnover),
        TinyDeltas(p.tiny_delta_value, p.tiny_delta_weight),
        MinOrderValue(p.min_order_value),
        CashBuffer(p.min_cash_buffer),
    ]


# --------------------------------------------------------------------------- trades


def _units(value: Decimal, price: Decimal, step: Decimal, rounding) -> Decimal:
    return (value / price).quantize(step, rounding)


def _shrink(t: TradeLine, value: Decimal, book: Book) -> TradeLine:
    """The same order for at most ``value``, units recomputed; no longer a close.
    Fractional: money to cents, units approximate.  Whole units: value = units x price exactly."""
    if book.unit_step == FRACTIONAL_UNIT:
        v = value.quantize(CENT, ROUND_DOWN)
        units = _units(v, t.price, FRACTIONAL_UNIT, ROUND_DOWN)
    else:
        units = _units(value, t.price, book.unit_step, ROUND_DOWN)
        v = units * t.price
    return replace(t, value=v if units > 0 else ZERO, units=units, close_position=False)


def make_trades(targets: Targets, book: Book) -> list[TradeLine]:
    """Orders that move the book to ``targets`` (weights), rounded on the safe side: buys
    down, sells up, never more than is held.  Fractional units: values in cents, units
    approximate.  Whole units: units rounded, value = units x price exactly."""
    step = book.unit_step
    fractional = step == FRACTIONAL_UNIT
    out = []
    for s in sorted(set(targets) | set(book.values)):
        price = book.prices.get(s)
        if price is None:
            continue
        cur, held = book.values.get(s, ZERO), book.units.get(s, ZERO)
        want = targets.get(s, ZERO) * book.equity
        rank = book.ranks.get(s)
        if targets.get(s, ZERO) <= 0 and held > 0:
            if cur >= DUST:
                out.append(TradeLine("SELL", s, cur, held, price, True, rank))
            continue
        delta = want - cur
        if abs(delta) < HALF_CENT:  # weight round-trips leave ~1e-25 of noise: nothing to do
            continue
        if delta > 0:
            budget = delta.quantize(CENT, ROUND_DOWN)
            units = _units(budget, price, step, ROUND_DOWN)
            value = budget if fractional else units * price
            if value > 0 and units > 0:
                out.append(TradeLine("BUY", s, value, units, price, False, rank))
        elif delta < 0:
            units = min(_units(-delta, price, step, ROUND_UP), held)
            value = (-delta).quantize(CENT, ROUND_UP) if fractional else units * price
            if units >= held or value >= cur:
                out.append(TradeLine("SELL", s, cur, held, price, True, rank))
            elif value > 0:
                out.append(TradeLine("SELL", s, value, units, price, False, rank))
    return order_trades(_with_instrument_prices(out, book))


def _with_instrument_prices(trades: list[TradeLine], book: Book) -> list[TradeLine]:
    """A non-USD account: each line also carries the USD close its price was converted from."""
    if not book.instrument_prices:
        return trades
    return [replace(t, instrument_price=book.instrument_prices.get(t.symbol)) for t in trades]


def order_trades(trades: Iterable[TradeLine]) -> list[TradeLine]:
    """Sells first (largest first) so the cash exists, then buys by rank."""
    sells = sorted((t for t in trades if t.side == "SELL"), key=lambda t: (-t.value, t.symbol))
    buys = sorted((t for t in trades if t.side == "BUY"), key=lambda t: (t.rank if t.rank is not None else 10**9, t.symbol))
    return sells + buys


# --------------------------------------------------------------------------- the guard


@dataclass(frozen=True)
class Decision:
    """approved.json: the guard's answer for one decision session."""

    session: date
    kind: str  # TRADE | HOLD | NO-TRADE
    rebalance: bool
    strategy: str
    account_currency: str
    equity: Decimal
    cash_before: Decimal
    cash_after: Decimal
    drawdown: Decimal
    trades: tuple[TradeLine, ...]
    blocked: tuple[TradeLine, ...]
    suppressed: tuple[dict, ...]  # small trades not made: side, symbol, value, reason, rule
    notes: tuple[str, ...]
    rules: tuple[RuleResult, ...]
    targets: tuple[dict, ...]
    risk_off: dict
    top_ranks: tuple[dict, ...]
    changes: dict
    signal_note: str = ""
    regime: dict = field(default_factory=dict)
    halt: bool = False  # a drawdown breach: the trades close every position to cash, then HALT
    fx: dict | None = None  # a non-USD account: Fx.to_dict() plus "fees" (the conversion fees of the trades)

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.passed]

    def to_dict(self) -> dict:
        return {
            "session": self.session.isoformat(),
            "kind": self.kind,
            "rebalance": self.rebalance,
            "strategy": self.strategy,
            "account_currency": self.account_currency,
            "equity": str(self.equity.quantize(CENT, ROUND_HALF_EVEN)),
            "cash_before": str(self.cash_before.quantize(CENT, ROUND_HALF_EVEN)),
            "cash_after": str(self.cash_after.quantize(CENT, ROUND_HALF_EVEN)),
            "drawdown": str(self.drawdown.quantize(WEIGHT_PLACES)),
            "trades": [t.to_dict() for t in self.trades],
            "blocked": [t.to_dict() for t in self.blocked],
            "suppressed": list(self.suppressed),
            "notes": list(self.notes),
            "rules": [r.to_dict() for r in self.rules],
            "targets": list(self.targets),
            "risk_off": self.risk_off,
            "top_ranks": list(self.top_ranks),
            "changes": self.changes,
            "signal_note": self.signal_note,
            "regime": self.regime,
            "halt": self.halt,
            **({"fx": dict(self.fx)} if self.fx is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "Decision":
        return cls(
            session=date.fromisoformat(d["session"]),
            kind=d["kind"],
            rebalance=bool(d["rebalance"]),
            strategy=d["strategy"],
            account_currency=d["account_currency"],
            equity=Decimal(d["equity"]),
            cash_before=Decimal(d["cash_before"]),
            cash_after=Decimal(d["cash_after"]),
            drawdown=Decimal(d["drawdown"]),
            trades=tuple(TradeLine.from_dict(t) for t in d["trades"]),
            blocked=tuple(TradeLine.from_dict(t) for t in d["blocked"]),
            suppressed=tuple(d["suppressed"]),
            notes=tuple(d["notes"]),
            rules=tuple(RuleResult(r["rule"], r["passed"], r["reason"]) for r in d["rules"]),
            targets=tuple(d["targets"]),
            risk_off=d["risk_off"],
            top_ranks=tuple(d["top_ranks"]),
            changes=d["changes"],
            signal_note=d.get("signal_note", ""),
            regime=d.get("regime", {}),
            halt=bool(d.get("halt", False)),
            fx=dict(d["fx"]) if d.get("fx") is not None else None,
        )


def raw_targets(ranked: pd.DataFrame, book: Book, rebalance: bool) -> Targets:
    """Equal weights over the selected names on a rebalance day, today's weights otherwise."""
    if not rebalance:
        return book.weights()
    chosen = [str(s) for s in ranked.loc[ranked["selected"].astype(bool), "symbol"]] if len(ranked) else []
    if not chosen:
        return {}
    w = ONE / len(chosen)
    return {s: w for s in chosen}


def apply_risk_off(targets: Targets, reasons: Sequence[str], policy: Policy, rebalance: bool) -> tuple[Targets, dict]:
    """Move ``risk_off_cash_fraction`` of every target to cash when the policy allows it."""
    p = policy.portfolio
    applied = bool(reasons) and p.risk_off_to_cash and rebalance and p.risk_off_cash_fraction > 0
    info = {"applied": applied, "reasons": list(reasons), "cash_fraction": p.risk_off_cash_fraction if applied else 0.0}
    if not applied:
        if reasons and not p.risk_off_to_cash:
            info["note"] = "risk-off conditions hold but portfolio.risk_off_to_cash is false"
        elif reasons and not rebalance:
            info["note"] = "risk-off conditions hold; targets move to cash at the next rebalance"
        return targets, info
    keep = ONE - dec(p.risk_off_cash_fraction)
    return {s: w * keep for s, w in targets.items()}, info


def _target_rows(raw: Targets, shaped: Targets, book: Book, trades: Sequence[TradeLine]) -> tuple[dict, ...]:
    post, _ = book.after(trades)
    rows = []
    for s in sorted(set(raw) | set(shaped) | set(book.values) | set(post)):
        rows.append(
            {
                "symbol": s,
                "rank": book.ranks.get(s),
                "current_value": str(book.values.get(s, ZERO).quantize(CENT, ROUND_HALF_EVEN)),
                "current_weight": str(book.weight(s).quantize(WEIGHT_PLACES)),
                "raw_target_weight": str(raw.get(s, ZERO).quantize(WEIGHT_PLACES)),
                "target_weight": str(shaped.get(s, ZERO).quantize(WEIGHT_PLACES)),
                "approved_value": str(post.get(s, ZERO).quantize(CENT, ROUND_HALF_EVEN)),
                "approved_weight": str((post.get(s, ZERO) / book.equity if book.equity > 0 else ZERO).quantize(WEIGHT_PLACES)),
            }
        )
    return tuple(rows)


def _changes(trades: Sequence[TradeLine], book: Book) -> dict:
    return {
        "entering": sorted(t.symbol for t in trades if t.side == "BUY" and book.values.get(t.symbol, ZERO) == 0),
        "leaving": sorted(t.symbol for t in trades if t.close_position),
        "resized": sorted(t.symbol for t in trades if not t.close_position and book.values.get(t.symbol, ZERO) > 0),
    }


def shape(targets: Targets, book: Book, rules: Sequence[Rule]) -> tuple[Targets, list[TradeLine], list[str], list[dict]]:
    """Step 2 of the module docstring: shape the targets, size the trades, shape the trades.
    Returns (shaped targets, ordered trades, what shaping changed, small trades not made)."""
    if book.equity <= 0:
        return targets, [], [f"equity is {money(book.equity)}: nothing can be sized"], []
    notes: list[str] = []
    for rule in rules:
        targets, n = rule.shape_targets(targets, book)
        notes += n
    trades = make_trades(targets, book)
    suppressed: list[dict] = []
    # a buy shrunk by the cash buffer may have become small: run the small-trade filters once more
    for rule in [*rules, *(r for r in rules if isinstance(r, SmallTradeFilter))]:
        before = trades
        trades, n = rule.shape_trades(trades, book)
        notes += n
        if isinstance(rule, SmallTradeFilter):
            suppressed += [
                {"side": t.side, "symbol": t.symbol, "value": str(t.value), "reason": rule.why_small(t, book), "rule": rule.name}
                for t in before
                if t not in trades
            ]
    return targets, order_trades(trades), notes, suppressed


def decide(
    ranked: pd.DataFrame,
    portfolio: PortfolioState,
    prices: Mapping[str, Decimal],
    policy: Policy,
    universe: Universe,
    rebalance: bool,
    session: date,
    risk_off_reasons: Sequence[str] = (),
    rules: Sequence[Rule] | None = None,
    strategy: str = "",
    signal_note: str = "",
    regime: Mapping | None = None,
    drawdown_breach: str = "",
    fx: Fx | None = None,
) -> tuple[dict, Decision]:
    """The risk guard (pure).  Returns (proposed, decision): proposed.json and approved.json.

    A drawdown breach (the book's drawdown at or past ``risk.kill_switch_drawdown``, or
    ``drawdown_breach``: the reason of a failed ledger drawdown gate) with the kill switch off
    is the policy's max-drawdown halt: no shaping, the trades close every priced position
    (:func:`halt_trades`), the drawdown rule fails (so the state enters HALT) and the
    decision is a TRADE of SELL lines (``halt=True``), or NO-TRADE when nothing is held.
    With the kill switch on, nothing is traded at all.

    ``fx`` (required for a non-USD account, refused for a USD one): the book, the targets and
    every trade value are in the account currency at ``fx.rate``; each line keeps its USD close
    (``instrument_price``) and every trade pays the conversion fee, counted in the cash check and
    the cash after the orders."""
    _check_fx(portfolio.account_currency, fx)
    rules = list(rules) if rules is not None else rules_from_policy(policy, universe)
    book = make_book(portfolio, prices, ranked, session, policy.portfolio.fractional_units, fx)
    dd_rule = next((r for r in rules if isinstance(r, DrawdownKillSwitch)), None)
    if dd_rule is not None and not book.kill_switch and (drawdown_breach or dd_rule.breached(book)):
        return _halt_decision(book, portfolio, policy, rebalance, session, dd_rule, drawdown_breach, strategy, signal_note, regime, ranked)
    raw = raw_targets(ranked, book, rebalance)
    unpriced = {s for s, w in raw.items() if w > 0 and s not in book.prices}
    book = replace(book, missing_prices=tuple(sorted(set(book.missing_prices) | unpriced)))
    targets, risk_off = apply_risk_off(raw, risk_off_reasons, policy, rebalance)
    proposed = {
        "session": session.isoformat(),
        "rebalance": rebalance,
        "strategy": strategy,
        "equity": str(book.equity.quantize(CENT, ROUND_HALF_EVEN)),
        "cash": str(book.cash.quantize(CENT, ROUND_HALF_EVEN)),
        "prices": {s: str(p) for s, p in sorted(book.prices.items()) if s in raw or s in book.values},
        "current_weights": {s: str(w.quantize(WEIGHT_PLACES)) for s, w in sorted(book.weights().items())},
        "raw_target_weights": {s: str(w.quantize(WEIGHT_PLACES)) for s, w in sorted(raw.items())},
        "risk_off": risk_off,
        "missing_prices": list(book.missing_prices),
        **({"fx": fx.to_dict()} if fx is not None else {}),
    }

    shaped, trades, notes, suppressed = shape(targets, book, rules)
    results = [rule.check(trades, book) for rule in rules]
    failed = any(not r.passed for r in results)
    kind = "NO-TRADE" if failed else ("TRADE" if trades else "HOLD")
    _, cash_after = book.after([] if failed else trades)
    decision = Decision(
        session=session,
        kind=kind,
        rebalance=rebalance,
        strategy=strategy,
        account_currency=portfolio.account_currency,
        equity=book.equity,
        cash_before=book.cash,
        cash_after=cash_after,
        drawdown=book.drawdown,
        trades=() if failed else tuple(trades),
        blocked=tuple(trades) if failed else (),
        suppressed=tuple(suppressed),
        notes=tuple(notes),
        rules=tuple(results),
        targets=_target_rows(raw, shaped, book, [] if failed else trades),
        risk_off=risk_off,
        top_ranks=_top_ranks(ranked),
        changes=_changes(trades, book) if not failed else {"entering": [], "leaving": [], "resized": []},
        signal_note=signal_note,
        regime=dict(regime or {}),
        fx=_fx_info(book, [] if failed else trades),
    )
    return proposed, decision


def _check_fx(currency: str, fx: Fx | None) -> None:
    if currency == "USD" and fx is not None:
        raise DataError(f"a USD account converts nothing, but an FX rate was given ({fx!r})")
    if currency != "USD" and fx is None:
        raise DataError(f"a {currency} account is sized at the day's {currency}USD rate, and none was given: no rate, no trade")
    if fx is not None and fx.currency != currency:
        raise DataError(f"the FX rate is for a {fx.currency} account ({fx!r}), the portfolio is in {currency}")


def _fx_info(book: Book, trades: Sequence[TradeLine]) -> dict | None:
    """approved.json's fx: the rate, its date, the fee and the conversion fees of the trades."""
    if book.fx is None:
        return None
    return {**book.fx.to_dict(), "fees": str(book.fees(trades))}


def _top_ranks(ranked: pd.DataFrame, n: int = 10) -> tuple[dict, ...]:
    """The first ``n`` rows of the ranking as the ticket's "why" shows them."""
    top = ranked.head(n)
    return tuple(
        {"rank": int(r), "symbol": str(s), "score": round(float(sc), 6), "selected": bool(sel)}
        for r, s, sc, sel in zip(top["rank"], top["symbol"], top["score"], top["selected"])
    )


def halt_trades(book: Book) -> list[TradeLine]:
    """Risk-off on a drawdown breach: close every priced holding.  No shaping rule applies
    (a turnover cap or a tiny-delta filter must not keep a position through a halt)."""
    return order_trades(_with_instrument_prices([
        TradeLine("SELL", s, book.values[s], u, book.prices[s], True, book.ranks.get(s))
        for s, u in sorted(book.units.items())
        if s in book.prices and book.values.get(s, ZERO) >= DUST
    ], book))


def _halt_decision(book, portfolio, policy, rebalance, session, dd_rule, breach_reason, strategy, signal_note, regime, ranked) -> tuple[dict, Decision]:
    trades = halt_trades(book)
    notes = [f"drawdown halt: {s} has no reference price on {session} and is not on the risk-off ticket; sell it by hand" for s in book.missing_prices]
    results = (dd_rule.check_halt(trades, book, breach_reason), LongOnly().check(trades, book))
    kind = "TRADE" if trades and results[1].passed else "NO-TRADE"
    done = trades if kind == "TRADE" else []
    _, cash_after = book.after(done)
    reason = results[0].reason
    risk_off = {"applied": True, "reasons": [reason], "cash_fraction": 1.0, "halt": True}
    proposed = {
        "session": session.isoformat(),
        "rebalance": rebalance,
        "strategy": strategy,
        "equity": str(book.equity.quantize(CENT, ROUND_HALF_EVEN)),
        "cash": str(book.cash.quantize(CENT, ROUND_HALF_EVEN)),
        "prices": {s: str(p) for s, p in sorted(book.prices.items()) if s in book.values},
        "current_weights": {s: str(w.quantize(WEIGHT_PLACES)) for s, w in sorted(book.weights().items())},
        "raw_target_weights": {},
        "risk_off": risk_off,
        "missing_prices": list(book.missing_prices),
    }
    decision = Decision(
        session=session,
        kind=kind,
        rebalance=rebalance,
        strategy=strategy,
        account_currency=portfolio.account_currency,
        equity=book.equity,
        cash_before=book.cash,
        cash_after=cash_after,
        drawdown=book.drawdown,
        trades=tuple(done),
        blocked=() if done else tuple(trades),
        suppressed=(),
        notes=tuple(notes),
        rules=results,
        targets=_target_rows({}, {}, book, done),
        risk_off=risk_off,
        top_ranks=_top_ranks(ranked),
        changes=_changes(done, book),
        signal_note=signal_note,
        regime=dict(regime or {}),
        halt=True,
        fx=_fx_info(book, done),
    )
    return proposed, decision


# --------------------------------------------------------------------------- edges


def reference_prices(eod: pd.DataFrame, session: date) -> dict[str, Decimal]:
    """The latest raw close (as traded) of every symbol with a bar on ``session``."""
    day = eod.loc[eod["date"] == pd.Timestamp(session), ["symbol", "close"]]
    out = {}
    for s, c in zip(day["symbol"], day["close"]):
        if pd.notna(c) and c > 0:
            out[str(s)] = dec(float(c)).quantize(PRICE_PLACES, ROUND_HALF_EVEN)
    return out


def rebalance_due(
    calendar: ExchangeCalendar, decision_session: date, frequency: str, last_rebalance: date | None, due: Sequence[date] | None = None
) -> bool:
    """True when the execution session (the one after ``decision_session``) is at or past the
    first session of a rebalance period that has not been rebalanced yet.  ``due``: the
    calendar's rebalance sessions over a whole backtest, computed once (sorted), instead of
    the two months before the execution session on every call."""
    execution = calendar.next_session(decision_session)
    if last_rebalance is None:
        return True
    if due is None:
        due = calendar.rebalance_sessions(execution - timedelta(days=62), execution, frequency)
        return bool(due) and last_rebalance < due[-1]
    k = bisect.bisect_right(due, execution)
    return k > 0 and (execution - due[k - 1]).days <= 62 and last_rebalance < due[k - 1]


def run_risk_stage(
    run_dir: str | Path,
    eod_path: str | Path,
    portfolio_path: str | Path,
    policy: Policy,
    universe: Universe,
    session: date,
    rebalance: bool | None = None,
    calendar: ExchangeCalendar | None = None,
) -> Decision | None:
    """File in, file out: signals/<session>.csv + portfolio.json + the clean parquet ->
    proposed.json and approved.json in ``run_dir``.

    A non-USD account (``account.account_currency``) also reads the run's ``fx.json`` (the FX
    report of the clean stage, :mod:`tradeops.data.fx`).  Without a rate that passed its checks
    nothing is sized and nothing is written: the result is None, and the ``fx_rate`` gate names
    the reason on the NO-TRADE ticket (a ticket is never sized on a bad rate)."""
    run_dir = Path(run_dir)
    calendar = calendar or get_calendar(policy.schedule.exchange)
    currency = policy.account.account_currency
    fx = None
    if currency != "USD":
        fx = run_fx(run_dir, policy, session)
        if fx is None:
            for name in ("proposed.json", "approved.json"):
                (run_dir / name).unlink(missing_ok=True)
            return None
    signal: SignalResult = read_signal(run_dir, session)
    portfolio = PortfolioState.read(portfolio_path)
    if portfolio.account_currency != currency:
        raise DataError(f"policy account.account_currency is {currency}, but the ledger's cash ({portfolio_path}) is in "
                        f"{portfolio.account_currency}: the two must agree before anything is sized")
    eod_path = Path(eod_path)
    if not eod_path.exists():
        raise DataError(f"clean EOD file not found: {eod_path}")
    eod = pd.read_parquet(eod_path, columns=["symbol", "date", "close"])
    prices = reference_prices(eod, session)
    if rebalance is None:
        rebalance = rebalance_due(calendar, session, policy.rebalance.frequency, portfolio.last_rebalance)
    proposed, decision = decide(
        signal.ranked,
        portfolio,
        prices,
        policy,
        universe,
        rebalance,
        session,
        risk_off_reasons=signal.risk_off_reasons,
        strategy=signal.strategy,
        signal_note=signal.note,
        regime=signal.meta()["regime"],
        drawdown_breach=ledger_drawdown_breach(run_dir / "gates" / "00_preflight.json"),
        fx=fx,
    )
    write_json(run_dir / "proposed.json", proposed)
    write_json(run_dir / "approved.json", decision.to_dict())
    return decision


def run_fx(run_dir: Path, policy: Policy, session: date) -> Fx | None:
    """The account's conversion for ``session`` from the run's fx.json; None without a rate that passed its checks."""
    from .data.fx import load_fx_rate

    path = Path(run_dir) / "fx.json"
    if not path.exists():
        return None
    rate = load_fx_rate(path)
    if rate is None:
        return None
    if rate.date > session:
        raise DataError(f"{path}: the {rate.pair} rate is dated {rate.date}, after the decision session {session}")
    return Fx(policy.account.account_currency, rate.pair, rate.rate, rate.date, policy.account.fx_fee_bps)


def ledger_drawdown_breach(gates_path: Path) -> str:
    """The reason of the preflight's failed drawdown gate (the ledger's equity curve), or ""."""
    if not gates_path.exists():
        return ""
    for g in json.loads(gates_path.read_text()):
        if g.get("name") == "drawdown" and not g.get("passed", True):
            return "; ".join(g.get("reasons") or ()) or "the ledger's drawdown gate failed"
    return ""


def write_json(path: Path, data: Mapping) -> Path:
    return files.write_json(path, data, ensure_ascii=False)


def read_decision(path: str | Path) -> Decision:
    path = Path(path)
    try:
        return Decision.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise DataError(f"approved trades not found: {path} (run `tradeops risk` first)") from None
