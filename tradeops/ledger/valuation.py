"""Positions, cash and FIFO P&L rebuilt from the fills, and the equity curve over exchange sessions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Mapping, Sequence

from sqlalchemy import case, func, null, select, type_coerce
from sqlalchemy.orm import Session

from ..calendar import get_calendar
from ..errors import DataError, ValidationError
from .fifo import FifoBook
from .models import CashMovement, CorporateAction, Fill
from .money import CENT, MONEY_PLACES, AsOf, RATIO_PLACES, ZERO, Money, to_decimal
from .types import UTCDateTime

from .names import DEFAULT_ACCOUNT
from .common import EXCHANGE, EXTERNAL_FLOWS, PriceSeries, _ACTIVE, _CASH_EFFECT, _SIGNED_UNITS, _day_start, _exchange_tz, _now, exchange_date, jsonable
from .accounts import get_account
from .prices import load_fx_rates, load_prices


# --------------------------------------------------------------------------- positions, cash, P&L


def compute_positions(session: Session, *, as_of: datetime | None = None, account: str = DEFAULT_ACCOUNT) -> dict[str, Decimal]:
    """Units per symbol (non-zero only), from fills and splits; ``as_of`` an aware instant."""
    account_id = get_account(session, account).id
    fills = select(Fill.symbol, func.sum(_SIGNED_UNITS)).where(Fill.account_id == account_id)
    splits = select(CorporateAction.symbol, func.sum(CorporateAction.units_delta)).where(CorporateAction.account_id == account_id)
    if as_of is not None:
        fills = fills.where(Fill.filled_at <= as_of)
        splits = splits.where(CorporateAction.effective_date <= exchange_date(as_of))
    units: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for query, group in ((fills, Fill.symbol), (splits, CorporateAction.symbol)):
        for symbol, total in session.execute(query.group_by(group)):
            units[symbol] += total
    return {s: u for s, u in sorted(units.items()) if u != 0}


def compute_cash_balances(session: Session, *, as_of: datetime | None = None, account: str = DEFAULT_ACCOUNT) -> dict[str, Money]:
    """Cash per currency, as the broker keeps it: cash movements plus the cash side of fills
    (account amounts and fees, in the fill's account currency).  The account currency always has a line."""
    acc = get_account(session, account)
    fills = select(Fill.currency, func.sum(_CASH_EFFECT)).where(Fill.account_id == acc.id)
    moves = select(CashMovement.currency, func.sum(CashMovement.amount)).where(CashMovement.account_id == acc.id)
    if as_of is not None:
        fills = fills.where(Fill.filled_at <= as_of)
        moves = moves.where(CashMovement.value_date <= exchange_date(as_of))
    totals: dict[str, Decimal] = {acc.currency: ZERO}
    for query, group in ((fills, Fill.currency), (moves, CashMovement.currency)):
        for currency, amount in session.execute(query.group_by(group)):
            totals[currency] = totals.get(currency, ZERO) + (amount or ZERO)
    return {c: Money(a, c) for c, a in sorted(totals.items())}


def compute_cash(session: Session, *, as_of: datetime | None = None, account: str = DEFAULT_ACCOUNT) -> Money:
    """Cash in the account currency (the line of :func:`compute_cash_balances` the fills book into)."""
    acc = get_account(session, account)
    return compute_cash_balances(session, as_of=as_of, account=account)[acc.currency]


def _books(
    session: Session, account_id: int, *, until: datetime | None = None, symbols: Sequence[str] | None = None, inclusive: bool = False
) -> dict[str, FifoBook]:
    """FIFO books per symbol from active fills and splits before ``until`` (or up to it, if inclusive).

    One ordered pass; fill times are fetched only for symbols that have splits.
    """
    split_query = select(CorporateAction.symbol, CorporateAction.effective_date, CorporateAction.ratio).where(CorporateAction.account_id == account_id)
    fill_query = select(Fill.symbol, Fill.side, Fill.units, Fill.account_amount, Fill.amount, Fill.fx_rate, Fill.currency != Fill.instrument_currency).where(
        Fill.account_id == account_id, _ACTIVE, Fill.units > 0
    )
    if symbols is not None:
        split_query = split_query.where(CorporateAction.symbol.in_(symbols))
        fill_query = fill_query.where(Fill.symbol.in_(symbols))
    if until is not None:
        split_query = split_query.where(CorporateAction.effective_date <= exchange_date(until))
        fill_query = fill_query.where(Fill.filled_at <= until if inclusive else Fill.filled_at < until)
    splits: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for symbol, day, ratio in session.execute(split_query.order_by(CorporateAction.effective_date)):
        start = _day_start(day)
        if until is None or start < until or (inclusive and start == until):
            splits[symbol].append((start, ratio))
    when = type_coerce(case((Fill.symbol.in_(list(splits)), Fill.filled_at), else_=None), UTCDateTime()) if splits else null()
    books: dict[str, FifoBook] = {}
    rows = session.connection().execute(fill_query.add_columns(when).order_by(Fill.symbol, Fill.filled_at, Fill.id))
    for symbol, side, units, amount, amount_ic, fx_rate, foreign, at in rows:
        book = books.get(symbol)
        if book is None:
            book = books[symbol] = FifoBook(symbol)
        pending = splits.get(symbol)
        while pending and pending[0][0] <= at:
            book.split(pending.pop(0)[1])
        amount_ic = amount_ic if foreign else None  # same currency: one cost (the USD figures stay as they were)
        if side == "BUY":
            book.buy(units, amount, amount_ic, fx_rate)
        else:
            book.sell(units, amount, amount_ic)
    for symbol, pending in splits.items():  # splits after a symbol's last fill
        book = books.setdefault(symbol, FifoBook(symbol))
        for _, ratio in pending:
            book.split(ratio)
    return books


_SPLIT_FIELDS = ("realized_price", "realized_fx", "unrealized_price", "unrealized_fx", "market_value_usd", "fx_rate")


@dataclass(frozen=True)
class SymbolPnL:
    """One symbol's P&L in the account currency (mark in the instrument currency).

    For an instrument in another currency than the account's (USD in a GBP
    account) the split fields are set: realized and unrealized each =
    price effect + FX effect exactly (definitions in ``tradeops.ledger.fifo``);
    they are None when there is no currency to split by (a USD account)."""

    symbol: str
    units: Decimal
    cost: Decimal  # what the open lots cost (FIFO)
    mark: Decimal | None
    market_value: Decimal
    realized: Decimal  # sells minus the FIFO cost of what they sold
    unrealized: Decimal  # market value minus cost
    realized_price: Decimal | None = None
    realized_fx: Decimal | None = None
    unrealized_price: Decimal | None = None
    unrealized_fx: Decimal | None = None
    market_value_usd: Decimal | None = None  # units x mark, in the instrument currency
    fx_rate: Decimal | None = None  # the rate the market value was translated at (USD per account unit)

    def to_dict(self) -> dict:
        return jsonable({k: v for k, v in self.__dict__.items() if k not in _SPLIT_FIELDS or v is not None})


@dataclass(frozen=True)
class PnL:
    """Realized and unrealized P&L from the ledger alone.

    ``realized = trading + dividends + interest + fx - fees`` (fees of fills
    and fee movements); ``realized + unrealized`` equals the change in equity
    minus net deposits.
    """

    currency: str
    trading: Decimal
    dividends: Decimal
    interest: Decimal
    fx: Decimal
    fees: Decimal  # paid, as a positive number
    unrealized: Decimal
    by_symbol: dict[str, SymbolPnL] = field(default_factory=dict)
    # the split of trading (realized) and unrealized P&L by currency: None when no fill is in another currency
    trading_price: Decimal | None = None
    trading_fx: Decimal | None = None
    unrealized_price: Decimal | None = None
    unrealized_fx: Decimal | None = None

    @property
    def realized(self) -> Decimal:
        return self.trading + self.dividends + self.interest + self.fx - self.fees

    @property
    def total(self) -> Decimal:
        return self.realized + self.unrealized

    @property
    def fx_effect(self) -> Decimal:
        """What the exchange rate made of the trading and unrealized P&L (0 without a second currency)."""
        return (self.trading_fx or ZERO) + (self.unrealized_fx or ZERO)

    @property
    def price_effect(self) -> Decimal:
        """The trading and unrealized P&L less the FX effect: the prices' moves, at each lot's booking rate."""
        return self.trading + self.unrealized - self.fx_effect

    def split_to_the_penny(self) -> tuple[Decimal, Decimal, Decimal]:
        """``(trading + unrealized, price effect, FX effect)`` each in cents, the first = the other two.

        The price effect and the total are rounded half-even; the FX effect is
        the total's cents less the price effect's, so the line adds up on paper."""
        total = (self.trading + self.unrealized).quantize(CENT)
        price = self.price_effect.quantize(CENT)
        return total, price, total - price

    def to_dict(self) -> dict:
        out = {
            "currency": self.currency,
            "realized": self.realized,
            "unrealized": self.unrealized,
            "total": self.total,
            "trading": self.trading,
            "dividends": self.dividends,
            "interest": self.interest,
            "fx": self.fx,
            "fees": self.fees,
            "by_symbol": {s: p.to_dict() for s, p in self.by_symbol.items()},
        }
        if self.trading_fx is not None:
            out |= {
                "trading_price": self.trading_price,
                "trading_fx": self.trading_fx,
                "unrealized_price": self.unrealized_price,
                "unrealized_fx": self.unrealized_fx,
                "price_effect": self.price_effect,
                "fx_effect": self.fx_effect,
            }
        return jsonable(out)


def _foreign(session: Session, account_id: int, until: datetime | None = None) -> bool:
    """Whether any fill of the account is in another currency than the account's."""
    query = select(Fill.id).where(Fill.account_id == account_id, Fill.currency != Fill.instrument_currency)
    if until is not None:
        query = query.where(Fill.filled_at <= until)
    return session.scalar(query.limit(1)) is not None


def compute_pnl(
    session: Session, marks: Mapping[str, Decimal], *, as_of: datetime | None = None, account: str = DEFAULT_ACCOUNT, fx_rate: Decimal | str | None = None
) -> PnL:
    """Realized (FIFO lots) and unrealized P&L in the account currency; ``marks`` is a price per
    held symbol in its instrument currency (USD).

    When fills are in another currency than the account's (USD shares in a GBP
    account), the open lots are valued at ``fx_rate`` (USD per account unit;
    default: the latest cached rate on or before ``as_of``'s exchange date) and
    the trading and unrealized P&L are each split into a price effect and an
    FX effect that add up exactly (``tradeops.ledger.fifo`` defines them)."""
    acc = get_account(session, account)
    books = _books(session, acc.id, until=as_of, inclusive=True)
    foreign = acc.currency != "USD" or _foreign(session, acc.id, as_of)  # a split to show (zeros before any fill)
    rate = Decimal(1)
    if any(b.units > 0 and b.foreign for b in books.values()):
        if fx_rate is not None:
            rate = to_decimal(fx_rate, "fx_rate", RATIO_PLACES, where="P&L")
            if rate <= 0:
                raise ValidationError(f"P&L, field 'fx_rate': {rate} must be above zero")
        else:
            day = exchange_date(as_of or _now(session))
            cached = AsOf(load_fx_rates(session, acc.currency, "USD")).get(day)
            if cached is None:
                raise DataError(f"no {acc.currency}/USD rate on or before {day}; the P&L of USD holdings in {acc.currency} needs one")
            rate = cached
    fee_query = select(func.sum(Fill.fees)).where(Fill.account_id == acc.id, _ACTIVE)
    cash_query = select(CashMovement.kind, func.sum(CashMovement.amount)).where(CashMovement.account_id == acc.id)
    if as_of is not None:
        fee_query = fee_query.where(Fill.filled_at <= as_of)
        cash_query = cash_query.where(CashMovement.value_date <= exchange_date(as_of))
    by_kind = defaultdict(lambda: ZERO, dict(session.execute(cash_query.group_by(CashMovement.kind)).all()))
    fill_fees = session.scalar(fee_query) or ZERO
    per_symbol, unrealized, trading = {}, ZERO, ZERO
    t_price = t_fx = u_price = u_fx = ZERO
    for symbol, book in sorted(books.items()):
        trading += book.realized
        mark = marks.get(symbol)
        if book.units > 0 and mark is None:
            raise DataError(f"no price for {symbol} (held: {book.units} units); P&L needs a mark for every held symbol")
        cost = book.cost
        if not foreign:
            value = book.units * mark if book.units > 0 else ZERO
            per_symbol[symbol] = SymbolPnL(symbol, book.units, cost, mark, value, book.realized, value - cost)
            unrealized += value - cost
            continue
        book_rate = rate if book.foreign else Decimal(1)  # (an instrument in the account's own currency: no rate)
        value, price_eff, fx_eff = book.open_split(mark, book_rate) if book.units > 0 else (ZERO, ZERO, ZERO)
        per_symbol[symbol] = SymbolPnL(
            symbol,
            book.units,
            cost,
            mark,
            value,
            book.realized,
            value - cost,
            realized_price=book.realized_price,
            realized_fx=book.realized_fx,
            unrealized_price=price_eff,
            unrealized_fx=fx_eff,
            market_value_usd=book.units * mark if book.units > 0 else ZERO,
            fx_rate=book_rate,
        )
        unrealized += value - cost
        t_price, t_fx, u_price, u_fx = t_price + book.realized_price, t_fx + book.realized_fx, u_price + price_eff, u_fx + fx_eff
    split = dict(trading_price=t_price, trading_fx=t_fx, unrealized_price=u_price, unrealized_fx=u_fx) if foreign else {}
    return PnL(
        currency=acc.currency,
        trading=trading,
        dividends=by_kind["DIVIDEND"],
        interest=by_kind["INTEREST"],
        fx=by_kind["FX"],
        fees=fill_fees - by_kind["FEE"],
        unrealized=unrealized,
        by_symbol=per_symbol,
        **split,
    )


# --------------------------------------------------------------------------- equity curve


@dataclass(frozen=True)
class EquityPoint:
    """Equity at the close of one session, in ``currency``."""

    day: date
    cash: Decimal
    market_value: Decimal
    flow: Decimal  # deposits minus withdrawals booked that day
    net_deposits: Decimal  # cumulative deposits minus withdrawals
    currency: str

    @property
    def equity(self) -> Decimal:
        return self.cash + self.market_value

    def to_dict(self) -> dict:
        return jsonable({**self.__dict__, "equity": self.equity})


def compute_equity_curve(
    session: Session,
    prices: PriceSeries | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    currency: str | None = None,
    fx: Mapping[date, Decimal] | None = None,
    account: str = DEFAULT_ACCOUNT,
    instrument_fx: Mapping[date, Decimal] | None = None,
) -> list[EquityPoint]:
    """Equity (cash + units x close) at every exchange session from ``start`` to ``end``.

    ``prices`` defaults to the price cache.  For a report ``currency`` other
    than the account's, ``fx`` (or the FX cache) gives how many account-currency
    units one report-currency unit buys (GBP/USD), the latest on or before each day.

    An account whose fills are in USD but whose currency is not (a GBP
    account) values its holdings at ``units x close / rate``, with the rate
    (USD per account unit) of ``instrument_fx`` (default: the FX cache), the
    latest on or before each day, rounded to 4 places; its cash is the
    account-currency cash line.
    """
    acc = get_account(session, account)
    translate = None
    if _foreign(session, acc.id):
        translate = AsOf(instrument_fx if instrument_fx is not None else load_fx_rates(session, acc.currency, "USD"))
    prices = load_prices(session) if prices is None else prices
    tz = _exchange_tz()
    changes: list[tuple[date, str | None, Decimal, Decimal, Decimal]] = []  # day, symbol, units, cash, flow
    for symbol, at, units, cash in session.execute(select(Fill.symbol, Fill.filled_at, _SIGNED_UNITS, _CASH_EFFECT).where(Fill.account_id == acc.id)):
        changes.append((at.astimezone(tz).date(), symbol, units, cash, ZERO))
    for kind, day, amount in session.execute(select(CashMovement.kind, CashMovement.value_date, CashMovement.amount).where(CashMovement.account_id == acc.id)):
        changes.append((day, None, ZERO, amount, amount if kind in EXTERNAL_FLOWS else ZERO))
    for symbol, day, delta in session.execute(
        select(CorporateAction.symbol, CorporateAction.effective_date, CorporateAction.units_delta).where(CorporateAction.account_id == acc.id)
    ):
        changes.append((day, symbol, delta, ZERO, ZERO))
    if not changes:
        return []
    changes.sort(key=lambda c: c[0])
    start = start or changes[0][0]
    end = end or max((max(s) for s in prices.values() if s), default=changes[-1][0])
    report = currency or acc.currency
    rate = None
    if report != acc.currency:
        rate = AsOf(fx if fx is not None else load_fx_rates(session, report, acc.currency))
    closes = {symbol: AsOf(series) for symbol, series in prices.items()}
    units: dict[str, Decimal] = defaultdict(lambda: ZERO)
    cash = net = ZERO
    i, points = 0, []
    for day in get_calendar(EXCHANGE).sessions(start, end):
        flow = ZERO
        while i < len(changes) and changes[i][0] <= day:
            _, symbol, du, dc, df = changes[i]
            if symbol is not None:
                units[symbol] += du
            cash += dc
            net += df
            flow += df  # includes flows booked since the previous session (weekends, holidays)
            i += 1
        value = ZERO
        for symbol, held in units.items():
            if held == 0:
                continue
            close = closes[symbol].get(day) if symbol in closes else None
            if close is None:
                raise DataError(f"no price for {symbol} on or before {day} (held: {held} units); the equity curve needs one")
            value += held * close
        if translate is not None and value:
            r = translate.get(day)
            if r is None:
                raise DataError(f"no {acc.currency}/USD rate on or before {day}; the equity of USD holdings in {acc.currency} needs one")
            value = (value / r).quantize(Decimal(1).scaleb(-MONEY_PLACES))
        point = EquityPoint(day, cash, value, flow, net, acc.currency)
        if rate is not None:
            r = rate.get(day)
            if r is None:
                raise DataError(f"no {report}/{acc.currency} rate on or before {day}; store FX rates first")
            q = Decimal(1).scaleb(-MONEY_PLACES)
            point = EquityPoint(day, (cash / r).quantize(q), (value / r).quantize(q), (flow / r).quantize(q), (net / r).quantize(q), report)
        points.append(point)
    return points
