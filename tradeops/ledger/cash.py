"""Cash: what a fill or a movement may spend (the cash timeline and the floor), deposits, withdrawals
and fees, and their reversal."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import cashplan
from ..errors import LedgerError, ValidationError
from .inputs import CashInput, FillInput, parse_cash
from .models import Account, CashMovement, Fill, IntendedTrade
from .money import CENT, ZERO, Money, account_value

from .names import DEFAULT_ACCOUNT
from .common import OUTFLOW_KINDS, _CASH_EFFECT, _day_start, _exchange_tz, _flush, _now, _text, exchange_date
from .accounts import _lock, get_account, record_event


def _cash_effect(side: str, units: Decimal, price: Decimal | None, fees: Decimal, fx_rate: Decimal | None = None) -> Decimal:
    """What a fill does to the account-currency cash (``fx_rate``: USD per account unit, None = 1)."""
    value = account_value(units, price, fx_rate if fx_rate is not None else Decimal(1)) if price is not None else ZERO
    return value - fees if side == "SELL" else -(value + fees)


def _booked_cash_effect(fill: Fill) -> Decimal:
    """What a recorded fill did to the account-currency cash (its booked account amount and fees)."""
    return fill.account_amount - fill.fees if fill.side == "SELL" else -(fill.account_amount + fill.fees)


class _CashTimeline:
    """The ledger's cash at the end of every exchange day from ``since`` on (fills by their
    exchange date, cash movements by their value date), with proposed changes added one by one.

    A change that lowers the cash on some day must leave at least the floor on that day and on
    every later day: a back-dated fill is checked against the cash of its date and all later cash."""

    def __init__(self, session: Session, account_id: int, since: date):
        start = _day_start(since)
        fills = select(func.sum(_CASH_EFFECT)).where(Fill.account_id == account_id, Fill.filled_at < start)
        moves = select(func.sum(CashMovement.amount)).where(CashMovement.account_id == account_id, CashMovement.value_date < since)
        self.since = since
        self.opening = (session.scalar(fills) or ZERO) + (session.scalar(moves) or ZERO)  # at the end of the day before
        self.days: dict[date, Decimal] = defaultdict(lambda: ZERO)
        tz = _exchange_tz()
        for at, effect in session.execute(select(Fill.filled_at, _CASH_EFFECT).where(Fill.account_id == account_id, Fill.filled_at >= start)):
            self.days[at.astimezone(tz).date()] += effect
        for day, amount in session.execute(
            select(CashMovement.value_date, func.sum(CashMovement.amount))
            .where(CashMovement.account_id == account_id, CashMovement.value_date >= since)
            .group_by(CashMovement.value_date)
        ):
            self.days[day] += amount

    def balances(self, extra: Sequence[tuple[date, Decimal]] = ()) -> list[tuple[date, Decimal]]:
        """(day, cash at its end) for ``since`` and every later day with a change, ``extra`` added."""
        days = dict(self.days)
        for day, delta in extra:
            days[day] = days.get(day, ZERO) + delta
        out, cash = [], self.opening
        for day in sorted(set(days) | {self.since}):
            cash += days.get(day, ZERO)
            out.append((day, cash))
        return out

    def shortfall(self, pieces: Sequence[tuple[date, Decimal]], floor: Decimal) -> tuple[date, Decimal, Decimal] | None:
        """None if ``pieces`` (day, change) keep the cash at or above ``floor`` wherever they lower it;
        else the worst day: (day, cash there before the change, cash there after it)."""
        first = min(day for day, _ in pieces)
        old = dict(self.balances([(day, ZERO) for day, _ in pieces]))
        worst = None
        for day, cash in self.balances(pieces):
            if day < first or cash >= floor or cash >= old[day]:
                continue
            if worst is None or cash < worst[2]:
                worst = (day, old[day], cash)
        return worst

    def lowest_from(self, day: date, extra: Sequence[tuple[date, Decimal]] = ()) -> Decimal:
        """The lowest cash at the end of ``day`` or of any later day (``extra`` changes added): the most
        a change dated ``day`` may take out before the floor, since the cash of every later day must hold too."""
        return min(cash for d, cash in self.balances([*extra, (day, ZERO)]) if d >= day)

    def add(self, pieces: Sequence[tuple[date, Decimal]]) -> None:
        for day, delta in pieces:
            self.days[day] += delta


def lowest_cash_from(session: Session, from_date: date, *, account: str = DEFAULT_ACCOUNT) -> Money:
    """The lowest cash of the ledger at the end of ``from_date`` or of any later day: what fills and
    withdrawals dated ``from_date`` may spend before ``account.cash_floor``, by the rule the ledger's own
    cash check applies (a deposit dated after ``from_date`` does not pay for them).  The page's live budget."""
    acc = get_account(session, account)
    return Money(_CashTimeline(session, acc.id, from_date).lowest_from(from_date), acc.currency)


def _floor_words(min_cash: Decimal) -> str:
    return f" (keeping the cash floor of {min_cash.quantize(CENT)})" if min_cash > 0 else ""


def _check_cash(session: Session, acc: Account, rows: Sequence[tuple[FillInput, IntendedTrade, Fill | None]], ticket_id: str, min_cash: Decimal) -> None:
    """Refuse rows that would take the ledger's cash below ``min_cash``, applied in the given order.

    ``rows``: (new answer, its line, the fill it replaces, if a correction).  A row that lowers the
    cash must leave at least ``min_cash`` at the end of its exchange day and of every later day (a
    back-dated fill is checked against all the cash after it); every refused row gets its own message
    (what it needs, the cash after the rows before it, the units the cash allows)."""
    if not rows:
        return
    pieces_of = []
    for fill, line, original in rows:
        fx = fill.fx_rate if fill.fx_rate is not None else Decimal(1)
        pieces = [(exchange_date(fill.filled_at), _cash_effect(line.side, fill.units, fill.price, fill.fees, fx))]
        if original is not None:
            pieces.append((exchange_date(original.filled_at), -_booked_cash_effect(original)))
        pieces_of.append(pieces)
    timeline = _CashTimeline(session, acc.id, min(day for pieces in pieces_of for day, _ in pieces))
    errors = []
    for (fill, line, original), pieces in zip(rows, pieces_of):
        fx = fill.fx_rate if fill.fx_rate is not None else Decimal(1)
        short = timeline.shortfall(pieces, min_cash)
        if short is None:
            timeline.add(pieces)
            continue
        day, cash, after = short
        undone = -pieces[1][1] if original is not None else ZERO
        undone_by_then = original is not None and pieces[1][0] <= day
        own = pieces[0][0]
        back_dated = timeline.balances()[-1][0] > own
        when = f" on {day}" if day != own or back_dated else ""
        if day > own:
            when += f" (the line is dated {own}, and the cash of every later day must stay at or above the floor too)"
        if line.side == "BUY" and fill.price is not None:
            # what the row itself may spend: the lowest cash from its day on, less the floor, plus what the correction gives back
            room = timeline.lowest_from(own, pieces[1:]) - min_cash
            can = _affordable_units(max(room, ZERO), fill.price, fill.fees, fx)
            allows = (
                f"the cash allows at most {can.normalize():f} units at {fill.price.normalize():f}: record it as partial with "
                f"that many units, or as not executed with the reason '{cashplan.NOT_ENOUGH_CASH}'"
                if can * fill.price >= cashplan.MIN_VALUE
                else f"record it as not executed with the reason '{cashplan.NOT_ENOUGH_CASH}'"
            )
            what = f"{fill.units.normalize():f} x {fill.price.normalize():f}" + (f" / {fx.normalize():f}" if fx != 1 else "")
            what += f" + fees {fill.fees.normalize():f}" if fill.fees else ""
            if undone_by_then:
                what += f", less the {(-undone).quantize(CENT)} of the fill it corrects"
        else:
            allows, what = "check the fees", f"fees {fill.fees}"
        errors.append(
            f"{fill.where}, field 'units': line {line.line_no} of {ticket_id} ({line.side} {line.symbol}) needs "
            f"{(cash - after).quantize(CENT)} ({what}) but the cash left after the lines saved before it is {cash.quantize(CENT)}{when}"
            f"{_floor_words(min_cash)}, which would leave {after.quantize(CENT)}: {allows}"
        )
    if errors:
        raise LedgerError("; ".join(errors) + " (nothing was written)")


def _check_instrument_currency(acc: Account, instrument_currency: str) -> None:
    if instrument_currency not in (acc.currency, "USD"):
        raise ValidationError(f"instrument currency {instrument_currency!r}: only USD instruments (or the account's {acc.currency}) are supported")


def _affordable_units(cash: Decimal, price: Decimal, fees: Decimal, fx_rate: Decimal) -> Decimal:
    """The most units whose account-currency cost (``units x price / fx_rate`` to the cent, plus fees) is within ``cash``."""
    if fx_rate == 1:
        return cashplan.affordable_units(cash, price, fees)
    if price <= 0 or cash <= fees:
        return ZERO
    # the booked amount is rounded to the penny: anything below half a penny more than the cash still fits
    units = ((cash - fees + CENT / 2) * fx_rate / price).quantize(cashplan.UNIT, ROUND_DOWN)
    while units > 0 and account_value(units, price, fx_rate) + fees > cash:  # (exactly half a penny rounds up here)
        units -= cashplan.UNIT
    return max(units, ZERO)


# --------------------------------------------------------------------------- cash, splits, snapshots


def record_cash_movement(
    session: Session,
    kind: str,
    amount: Decimal | str,
    value_date: date | str,
    *,
    currency: str = "USD",
    symbol: str | None = None,
    notes: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    actor: str,
    where: str | None = None,
    min_cash: Decimal = ZERO,
) -> CashMovement:
    """Record a deposit, withdrawal, dividend, fee, interest or FX amount.

    ``amount`` is entered as a positive number for DEPOSIT, WITHDRAWAL,
    DIVIDEND and FEE (the kind gives the direction) and with its sign for
    INTEREST and FX.  The currency must be the account's.  An amount that takes cash out (a
    withdrawal, a fee, a negative interest or FX amount) is refused if it would leave less than
    ``min_cash`` (the policy's ``account.cash_floor``) at the end of its value date or of any later day.
    """
    where = where or f"cash {kind}"
    entry = parse_cash({"kind": kind, "amount": amount, "date": value_date, "currency": currency, "symbol": symbol, "notes": notes}, where)
    return _record_cash(session, entry, account=account, actor=actor, min_cash=min_cash)


def record_cash_inputs(
    session: Session, entries: Sequence[CashInput], *, account: str = DEFAULT_ACCOUNT, actor: str, min_cash: Decimal = ZERO
) -> list[CashMovement]:
    """Record already-parsed cash movements (e.g. a cash.csv) in the caller's transaction, in file order."""
    return [_record_cash(session, entry, account=account, actor=actor, min_cash=min_cash) for entry in entries]


@dataclass(frozen=True)
class CashRow:
    """One booked cash movement (a reversal carries the opposite sign)."""

    value_date: date
    kind: str
    amount: Decimal  # signed effect on cash
    currency: str
    symbol: str | None


def cash_movements(session: Session, start: date | None = None, end: date | None = None, *, account: str = DEFAULT_ACCOUNT) -> list[CashRow]:
    """Every cash movement (and reversal) with a value date in ``[start, end]``, in booking order."""
    query = select(CashMovement).where(CashMovement.account_id == get_account(session, account).id)
    if start is not None:
        query = query.where(CashMovement.value_date >= start)
    if end is not None:
        query = query.where(CashMovement.value_date <= end)
    return [CashRow(m.value_date, m.kind, m.amount, m.currency, m.symbol) for m in session.scalars(query.order_by(CashMovement.value_date, CashMovement.id))]


def _check_cash_movement(session: Session, acc: Account, where: str, kind: str, signed: Decimal, day: date, min_cash: Decimal) -> None:
    """Refuse a movement that takes cash out if the cash at the end of ``day`` or of a later day would fall below ``min_cash``."""
    if signed >= 0:
        return
    timeline = _CashTimeline(session, acc.id, day)
    short = timeline.shortfall([(day, signed)], min_cash)
    if short is None:
        return
    low, cash, after = short
    room = max(timeline.lowest_from(day) - min_cash, ZERO)
    when = f"on {day}" if low == day else f"on {low} (it is dated {day}, and the cash of every later day must stay at or above the floor too)"
    raise LedgerError(
        f"{where}, field 'amount': {kind.lower()} of {(-signed).quantize(CENT)} dated {day} needs {(-signed).quantize(CENT)} "
        f"but the cash {when} is {cash.quantize(CENT)}{_floor_words(min_cash)}, which would leave {after.quantize(CENT)}: "
        f"the cash allows at most {room.quantize(CENT)} (nothing was written)"
    )


def _record_cash(session: Session, entry: CashInput, *, account: str, actor: str, min_cash: Decimal = ZERO) -> CashMovement:
    acc = _lock(session, account)
    if entry.currency != acc.currency:
        raise ValidationError(
            f"{entry.where}, field 'currency': {entry.currency}, but account {account!r} is in {acc.currency}; "
            f"enter the {acc.currency} amount the broker booked (conversion costs as kind fx)"
        )
    signed = -entry.amount if entry.kind in OUTFLOW_KINDS else entry.amount
    _check_cash_movement(session, acc, entry.where, entry.kind, signed, entry.value_date, min_cash)
    row = CashMovement(
        account_id=acc.id,
        kind=entry.kind,
        amount=signed,
        currency=entry.currency,
        value_date=entry.value_date,
        symbol=entry.symbol,
        notes=entry.notes,
        actor=actor,
        created_at=_now(session),
    )
    session.add(row)
    _flush(session, entry.where)
    record_event(
        session,
        "CASH_RECORDED",
        {"movement_id": row.id, "kind": row.kind, "amount": signed, "currency": row.currency, "value_date": row.value_date, "symbol": row.symbol},
        actor=actor,
        account=account,
    )
    return row


def reverse_cash_movement(
    session: Session, movement_id: int, reason: str, *, account: str = DEFAULT_ACCOUNT, actor: str, min_cash: Decimal = ZERO
) -> CashMovement:
    """Cancel a cash movement with a reversing entry (record the right one separately)."""
    where = f"reversal of cash movement {movement_id}"
    reason = _text(reason, "reason", where)
    acc = _lock(session, account)
    original = session.get(CashMovement, movement_id)
    if original is None or original.account_id != acc.id or original.reverses_id is not None:
        raise LedgerError(f"{where}: no such cash movement in account {account!r}")
    if session.scalar(select(CashMovement.id).where(CashMovement.reverses_id == movement_id)) is not None:
        raise LedgerError(f"{where}: it was already reversed")
    _check_cash_movement(session, acc, where, f"reversal of a {original.kind.lower()}", -original.amount, original.value_date, min_cash)
    row = CashMovement(
        account_id=acc.id,
        kind=original.kind,
        amount=-original.amount,
        currency=original.currency,
        value_date=original.value_date,
        symbol=original.symbol,
        notes=reason,
        reverses_id=original.id,
        actor=actor,
        created_at=_now(session),
    )
    session.add(row)
    _flush(session, where)
    record_event(session, "CASH_REVERSED", {"movement_id": movement_id, "reversal_id": row.id, "reason": reason}, actor=actor, account=account)
    return row
