"""Sizing: weight targets -> orders (units and value rounded on the safe side), sells first."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Iterable


from .book import Book, CENT, DUST, FRACTIONAL_UNIT, HALF_CENT, Targets, TradeLine, ZERO


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
                if cur >= DUST:  # a holding worth less than a cent is never traded (as with a zero target above)
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
