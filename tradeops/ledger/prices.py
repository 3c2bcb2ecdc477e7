"""Closing prices and FX rates cached in the ledger, and the marks of a day."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ValidationError
from .inputs import parse_symbol
from .models import FxRate, Price
from .money import AsOf, PRICE_PLACES, RATIO_PLACES, to_decimal

from .common import PriceSeries, _flush, _now


# --------------------------------------------------------------------------- prices and FX


def store_prices(session: Session, closes: Iterable[tuple[str, date, Decimal | str]], *, source: str, currency: str = "USD") -> int:
    """Put closes into the price cache (a newer value replaces the cached one). Returns the count."""
    now, count = _now(session), 0
    wanted = {}
    for symbol, day, close in closes:
        where = f"price of {symbol} on {day}"
        close = to_decimal(close, "close", PRICE_PLACES, where=where)
        if close <= 0:
            raise ValidationError(f"{where}, field 'close': {close} must be above zero")
        wanted[(parse_symbol(symbol, where), day)] = close
    symbols = sorted({s for s, _ in wanted})
    cached = {(p.symbol, p.date): p for p in session.scalars(select(Price).where(Price.symbol.in_(symbols)))} if symbols else {}
    for (symbol, day), close in wanted.items():
        row = cached.get((symbol, day))
        if row is None:
            session.add(Price(symbol=symbol, date=day, close=close, currency=currency, source=source, fetched_at=now))
        elif row.close != close or row.source != source:
            row.close, row.source, row.fetched_at = close, source, now
        count += 1
    _flush(session, "price cache")
    return count


def load_prices(session: Session, symbols: Iterable[str] | None = None, start: date | None = None, end: date | None = None) -> dict[str, dict[date, Decimal]]:
    """Cached closes as ``{symbol: {date: close}}``."""
    query = select(Price.symbol, Price.date, Price.close)
    if symbols is not None:
        query = query.where(Price.symbol.in_(list(symbols)))
    if start is not None:
        query = query.where(Price.date >= start)
    if end is not None:
        query = query.where(Price.date <= end)
    out: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for symbol, day, close in session.execute(query.order_by(Price.symbol, Price.date)):
        out[symbol][day] = close
    return dict(out)


def price_series_from_frame(frame, *, symbol: str = "symbol", day: str = "date", close: str = "close") -> dict[str, dict[date, Decimal]]:
    """A long pandas frame (symbol, date, close as floats) as Decimal closes rounded to the price scale."""
    out: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for sym, d, c in zip(frame[symbol], frame[day], frame[close]):
        if c == c:  # skip NaN
            out[str(sym)][d.date() if hasattr(d, "date") else d] = round(Decimal(repr(float(c))), PRICE_PLACES)
    return dict(out)


def store_fx_rates(session: Session, rates: Mapping[date, Decimal | str], *, base: str, quote: str, source: str) -> int:
    """Cache FX rates: one ``base`` buys ``rate`` ``quote`` on each date (GBP/USD 1.27)."""
    cached = {r.date: r for r in session.scalars(select(FxRate).where(FxRate.base == base, FxRate.quote == quote))}
    for day, rate in rates.items():
        rate = to_decimal(rate, "rate", RATIO_PLACES, where=f"{base}/{quote} on {day}")
        if rate <= 0:
            raise ValidationError(f"{base}/{quote} on {day}, field 'rate': {rate} must be above zero")
        if day in cached:
            cached[day].rate, cached[day].source = rate, source
        else:
            session.add(FxRate(base=base, quote=quote, date=day, rate=rate, source=source))
    _flush(session, "fx cache")
    return len(rates)


def load_fx_rates(session: Session, base: str, quote: str) -> dict[date, Decimal]:
    query = select(FxRate.date, FxRate.rate).where(FxRate.base == base, FxRate.quote == quote).order_by(FxRate.date)
    return {day: rate for day, rate in session.execute(query)}


def marks_on(prices: PriceSeries, day: date) -> dict[str, Decimal]:
    """The last close of every symbol on or before ``day``."""
    out = {}
    for symbol, series in prices.items():
        value = AsOf(series).get(day)
        if value is not None:
            out[symbol] = value
    return out
