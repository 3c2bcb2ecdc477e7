"""Fills: confirm a ticket's lines, record, correct and reverse fills (each checked against its line,
the units held and the cash), splits, and the lines still unconfirmed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal
from typing import Sequence

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ..errors import LedgerError, ValidationError
from .fifo import FifoBook
from .inputs import FillInput, parse_fill, parse_symbol
from .models import Account, CorporateAction, Fill, IntendedTrade, Ticket
from .money import AsOf, RATIO_PLACES, ZERO, account_value, booked_value, to_decimal

from .names import DEFAULT_ACCOUNT
from .common import _ACTIVE, _day_start, _flush, _now, _text, exchange_date
from .accounts import _lock, get_account, record_event
from .prices import load_fx_rates
from .valuation import _books
from .tickets import get_ticket
from .cash import _check_cash, _check_instrument_currency
from .fill_checks import _active_fills, _check_against_line, _check_not_before_split, _check_units_timeline


# --------------------------------------------------------------------------- fills


@dataclass(frozen=True)
class LineStatus:
    """A ticket line and the fill that currently answers it (None: unconfirmed)."""

    line: IntendedTrade
    fill: Fill | None


def line_statuses(session: Session, ticket_id: str, *, account: str = DEFAULT_ACCOUNT) -> list[LineStatus]:
    ticket = get_ticket(session, ticket_id, account=account)
    active = _active_fills(session, [line.id for line in ticket.lines])
    return [LineStatus(line, active.get(line.id)) for line in ticket.lines]


def unconfirmed_lines(session: Session, *, ticket_id: str | None = None, account: str = DEFAULT_ACCOUNT) -> list[IntendedTrade]:
    """Lines of OPEN tickets (or of ``ticket_id``) that have no fill yet."""
    account_id = get_account(session, account).id
    answered = exists().where(Fill.line_id == IntendedTrade.id, _ACTIVE)
    query = (
        select(IntendedTrade)
        .join(Ticket, Ticket.id == IntendedTrade.ticket_pk)
        .where(IntendedTrade.account_id == account_id, Ticket.status == "OPEN", ~answered)
        .order_by(Ticket.session_date, IntendedTrade.line_no)
    )
    if ticket_id is not None:
        query = query.where(Ticket.ticket_id == ticket_id)
    return list(session.scalars(query))


def _new_fill(
    account_id: int, line: IntendedTrade, fill: FillInput, actor: str, at: datetime, supersedes_id: int | None = None, instrument_currency: str = "USD"
) -> Fill:
    fx = fill.fx_rate if fill.fx_rate is not None else Decimal(1)
    return Fill(
        account_id=account_id,
        line_id=line.id,
        symbol=line.symbol,
        side=line.side,
        kind="FILL",
        status=fill.status,
        units=fill.units,
        price=fill.price,
        amount=booked_value(fill.units, fill.price) if fill.price is not None else ZERO,
        fees=fill.fees,
        currency=line.currency,
        instrument_currency=instrument_currency,
        fx_rate=fx,
        account_amount=account_value(fill.units, fill.price, fx) if fill.price is not None else ZERO,
        filled_at=fill.filled_at,
        reason=fill.reason,
        notes=fill.notes,
        attachment=fill.attachment,
        override_reason=fill.override_reason,
        supersedes_id=supersedes_id,
        actor=actor,
        created_at=at,
    )


def _fill_payload(fill: Fill, line_no: int) -> dict:
    payload = {
        "fill_id": fill.id,
        "line_no": line_no,
        "symbol": fill.symbol,
        "side": fill.side,
        "status": fill.status,
        "units": fill.units,
        "price": fill.price,
        "amount": fill.amount,
        "fees": fill.fees,
        "filled_at": fill.filled_at,
        "reason": fill.reason,
        "notes": fill.notes,
        "attachment": fill.attachment,
        "override_reason": fill.override_reason,
    }
    if fill.instrument_currency != fill.currency:  # a same-currency fill's event stays as it was
        payload |= {"instrument_currency": fill.instrument_currency, "fx_rate": fill.fx_rate, "account_amount": fill.account_amount}
    return payload


def fill_fx_rate(
    session: Session, ticket: Ticket, fill: FillInput, *, fx_date: date | None = None, instrument_currency: str = "USD", account: str = DEFAULT_ACCOUNT
) -> Decimal:
    """The FX rate (USD per account-currency unit) a fill of ``ticket`` is booked at.

    An instrument in the account's own currency (a USD account): exactly 1
    (a different rate typed is refused).  Otherwise, in
    this order: the rate typed with the fill; the cached rate of ``fx_date``
    (``store_fx_rates``, GBP/USD; refused when that day has none); the rate
    the ticket was sized with (its payload's ``fx_rate``); the latest cached
    rate on or before the fill's exchange date.  No rate at all is refused
    (LedgerError naming the day)."""
    acc = get_account(session, account)
    if acc.currency == instrument_currency:
        if fill.fx_rate is not None and fill.fx_rate != 1:
            raise ValidationError(
                f"{fill.where}, field 'fx_rate': {fill.fx_rate.normalize():f} given, but account {account!r} is in {acc.currency}, "
                f"the instrument's currency (rate 1)"
            )
        return Decimal(1)
    if fill.fx_rate is not None:
        return fill.fx_rate
    rates = load_fx_rates(session, acc.currency, "USD")
    if fx_date is not None:
        if fx_date not in rates:
            raise LedgerError(f"{fill.where}: no {acc.currency}/USD rate cached for {fx_date}; type the fx_rate the broker used")
        return rates[fx_date]
    ticket_rate = (ticket.payload or {}).get("fx_rate")
    if ticket_rate is not None:
        return to_decimal(str(ticket_rate), "fx_rate", RATIO_PLACES, where=f"ticket {ticket.ticket_id}")
    day = exchange_date(fill.filled_at)
    rate = AsOf(rates).get(day)
    if rate is None:
        raise LedgerError(f"{fill.where}: no {acc.currency}/USD rate on or before {day} and none on the ticket; type the fx_rate the broker used")
    return rate


def _with_rates(session: Session, ticket: Ticket, fills: Sequence[FillInput], fx_date: date | None, instrument_currency: str, account: str) -> list[FillInput]:
    """The fills with their FX rates resolved (a bad or missing rate raises before anything is written)."""
    out, errors = [], []
    for f in fills:
        try:
            rate = fill_fx_rate(session, ticket, f, fx_date=fx_date, instrument_currency=instrument_currency, account=account)
        except (ValidationError, LedgerError) as err:
            errors.append(str(err))
            continue
        out.append(replace(f, fx_rate=rate))
    if errors:
        raise ValidationError("; ".join(errors) + " (nothing was written)")
    return out


def confirm_ticket(
    session: Session,
    ticket_id: str,
    fills: Sequence[FillInput],
    *,
    account: str = DEFAULT_ACCOUNT,
    actor: str,
    min_cash: Decimal = ZERO,
    fx_date: date | None = None,
    instrument_currency: str = "USD",
) -> list[Fill]:
    """Record the executor's answers for some lines of a ticket (one submission).

    Every row is checked against its line first; any bad row raises
    ValidationError naming the row and field and nothing is written.  The
    SELLs of the submission are applied before its BUYs, and a row that would
    take the cash below ``min_cash`` (zero, or the policy's buffer) is refused
    with what it needs and what the cash allows (LedgerError, nothing written).

    Prices are in ``instrument_currency`` (USD); each fill is booked in the
    account currency at its FX rate (:func:`fill_fx_rate`: typed, else the
    rate of ``fx_date``, the ticket's, or the day's), and the cash check is
    made in the account currency.
    """
    acc = _lock(session, account)
    ticket = get_ticket(session, ticket_id, account=account)
    if ticket.status != "OPEN":
        raise LedgerError(f"ticket {ticket_id} is {ticket.status}; confirm the ticket that replaced it")
    _check_instrument_currency(acc, instrument_currency)
    fills = _with_rates(session, ticket, fills, fx_date, instrument_currency, account)
    lines = {line.line_no: line for line in ticket.lines}
    errors = []
    for fill in fills:
        try:
            _check_against_line(fill, lines.get(fill.line_no), ticket)
        except ValidationError as err:
            errors.append(str(err))
    if errors:
        raise ValidationError("; ".join(errors) + " (nothing was written)")
    answered = _active_fills(session, [lines[f.line_no].id for f in fills])
    for fill in fills:
        line = lines[fill.line_no]
        if line.id in answered:
            done = answered[line.id]
            raise LedgerError(
                f"{fill.where}: line {line.line_no} of {ticket_id} ({line.side} {line.symbol}) is already confirmed "
                f"(fill {done.id}, {done.status}); change it with a correction, which needs a reason"
            )
    fills = sorted(fills, key=lambda f: lines[f.line_no].side != "SELL")  # the SELLs free the cash the BUYs spend
    _check_cash(session, acc, [(fill, lines[fill.line_no], None) for fill in fills], ticket_id, min_cash)
    recorded = []
    for fill in fills:
        line = lines[fill.line_no]
        _check_not_before_split(session, acc.id, line.symbol, fill.filled_at, fill.where)
        if line.side == "SELL" and fill.units > 0:
            _check_units_timeline(session, acc.id, line.symbol, [(fill.filled_at, -fill.units)], fill.where)
        row = _new_fill(acc.id, line, fill, actor, _now(session), instrument_currency=instrument_currency)
        session.add(row)
        _flush(session, f"{fill.where}: line {line.line_no} of {ticket_id}")
        record_event(session, "FILL_RECORDED", _fill_payload(row, line.line_no), actor=actor, account=account, ticket_id=ticket_id)
        recorded.append(row)
    return recorded


def record_fill(
    session: Session,
    ticket_id: str,
    line_no: int,
    status: str,
    *,
    units: Decimal | str | None = None,
    price: Decimal | str | None = None,
    fees: Decimal | str = "0",
    filled_at: datetime | str | None = None,
    reason: str | None = None,
    notes: str | None = None,
    attachment: str | None = None,
    override_reason: str | None = None,
    local_tz: tzinfo = timezone.utc,
    account: str = DEFAULT_ACCOUNT,
    actor: str,
    min_cash: Decimal = ZERO,
    fx_rate: Decimal | str | None = None,
    fx_date: date | None = None,
    instrument_currency: str = "USD",
) -> Fill:
    """Record what happened to one ticket line: ``executed``, ``partial`` or ``not_executed`` (with a reason).

    ``price`` is in ``instrument_currency`` (USD), ``fees`` in the account
    currency.  For a GBP account the fill is booked at ``fx_rate`` (USD per
    pound, e.g. ``"1.2650"``) when given, else at the cached rate of
    ``fx_date``, else at the ticket's or the day's rate (:func:`fill_fx_rate`)."""
    raw = {
        "line": str(line_no),
        "status": status,
        "units": units,
        "price": price,
        "fees": fees,
        "filled_at": filled_at,
        "reason": reason,
        "notes": notes,
        "attachment": attachment,
        "override_reason": override_reason,
        "fx_rate": fx_rate,
    }
    fill = parse_fill(raw, f"{ticket_id} line {line_no}", local_tz, _now(session))
    return confirm_ticket(
        session, ticket_id, [fill], account=account, actor=actor, min_cash=min_cash, fx_date=fx_date, instrument_currency=instrument_currency
    )[0]


def correct_fill(
    session: Session,
    fill_id: int,
    reason: str,
    status: str,
    *,
    units: Decimal | str | None = None,
    price: Decimal | str | None = None,
    fees: Decimal | str = "0",
    filled_at: datetime | str | None = None,
    notes: str | None = None,
    attachment: str | None = None,
    override_reason: str | None = None,
    local_tz: tzinfo = timezone.utc,
    account: str = DEFAULT_ACCOUNT,
    actor: str,
    min_cash: Decimal = ZERO,
    fx_rate: Decimal | str | None = None,
    fx_date: date | None = None,
) -> tuple[Fill, Fill]:
    """Correct a recorded fill: append its reversal and the corrected fill (both logged).

    The original row is never changed.  Returns ``(reversal, replacement)``.
    """
    where = f"correction of fill {fill_id}"
    reason = _text(reason, "reason", where)
    acc = _lock(session, account)
    original = session.get(Fill, fill_id)
    if original is None or original.account_id != acc.id or original.kind != "FILL":
        raise LedgerError(f"{where}: no such fill in account {account!r}")
    line = session.get(IntendedTrade, original.line_id)
    raw = {
        "line": str(line.line_no),
        "status": status,
        "units": units,
        "price": price,
        "fees": fees,
        "filled_at": filled_at,
        "reason": reason if status.lower().startswith("not") else None,
        "notes": notes,
        "attachment": attachment,
        "override_reason": override_reason,
        "fx_rate": fx_rate,
    }
    fill = parse_fill(raw, where, local_tz, _now(session))
    (fill,) = _with_rates(session, line.ticket, [fill], fx_date, original.instrument_currency, account)
    return _correct(session, acc, original, fill, reason, actor=actor, account=account, min_cash=min_cash)


def correct_ticket(
    session: Session,
    ticket_id: str,
    fills: Sequence[FillInput],
    reason: str,
    *,
    account: str = DEFAULT_ACCOUNT,
    actor: str,
    min_cash: Decimal = ZERO,
    fx_date: date | None = None,
    instrument_currency: str = "USD",
) -> list[tuple[Fill, Fill]]:
    """Correct the current fill of each given line (one submission; every row is checked first)."""
    reason = _text(reason, "reason", f"correction of {ticket_id}")
    acc = _lock(session, account)
    ticket = get_ticket(session, ticket_id, account=account)
    _check_instrument_currency(acc, instrument_currency)
    fills = _with_rates(session, ticket, fills, fx_date, instrument_currency, account)
    lines = {line.line_no: line for line in ticket.lines}
    errors = []
    for fill in fills:
        try:
            _check_against_line(fill, lines.get(fill.line_no), ticket)
        except ValidationError as err:
            errors.append(str(err))
    if errors:
        raise ValidationError("; ".join(errors) + " (nothing was written)")
    current = _active_fills(session, [lines[f.line_no].id for f in fills])
    out = []
    for fill in fills:
        original = current.get(lines[fill.line_no].id)
        if original is None:
            raise LedgerError(f"{fill.where}: line {fill.line_no} of {ticket_id} has no confirmation to correct; confirm it instead")
        out.append(_correct(session, acc, original, fill, reason, actor=actor, account=account, min_cash=min_cash))
    return out


def _correct(
    session: Session, acc: Account, original: Fill, replacement: FillInput, reason: str, *, actor: str, account: str, min_cash: Decimal = ZERO
) -> tuple[Fill, Fill]:
    where = replacement.where
    done = session.scalar(select(Fill.id).where((Fill.reverses_id == original.id) | (Fill.supersedes_id == original.id)))
    if done is not None:
        raise LedgerError(f"{where}: fill {original.id} was already corrected (see fill {done}); correct the latest fill instead")
    line = session.get(IntendedTrade, original.line_id)
    _check_against_line(replacement, line, line.ticket)
    for at in (original.filled_at, replacement.filled_at):
        _check_not_before_split(session, acc.id, line.symbol, at, where)
    sign = 1 if line.side == "BUY" else -1
    _check_units_timeline(
        session, acc.id, line.symbol, [(original.filled_at, -sign * original.units), (replacement.filled_at, sign * replacement.units)], where
    )
    _check_cash(session, acc, [(replacement, line, original)], line.ticket.ticket_id, min_cash)
    reversal = Fill(
        account_id=acc.id,
        line_id=original.line_id,
        symbol=original.symbol,
        side=original.side,
        kind="REVERSAL",
        status=original.status,
        units=original.units,
        price=original.price,
        amount=original.amount,
        fees=original.fees,
        currency=original.currency,
        instrument_currency=original.instrument_currency,
        fx_rate=original.fx_rate,
        account_amount=original.account_amount,
        filled_at=original.filled_at,
        reason=reason,
        reverses_id=original.id,
        actor=actor,
        created_at=_now(session),
    )
    new = _new_fill(acc.id, line, replacement, actor, _now(session), supersedes_id=original.id, instrument_currency=original.instrument_currency)
    # insert the row that adds units first, so the database's never-negative trigger holds after each insert
    for row in [new, reversal] if line.side == "BUY" else [reversal, new]:
        session.add(row)
        _flush(session, where)
    ticket_id = line.ticket.ticket_id
    record_event(
        session, "FILL_REVERSED", {"fill_id": original.id, "reversal_id": reversal.id, "reason": reason}, actor=actor, account=account, ticket_id=ticket_id
    )
    record_event(
        session,
        "FILL_CORRECTED",
        {**_fill_payload(new, line.line_no), "supersedes": original.id, "reason": reason},
        actor=actor,
        account=account,
        ticket_id=ticket_id,
    )
    return reversal, new


def record_split(
    session: Session, symbol: str, ratio: Decimal | str, effective_date: date, *, notes: str | None = None, account: str = DEFAULT_ACCOUNT, actor: str
) -> CorporateAction:
    """Record a split (ratio 2 = 2-for-1, 0.1 = 1-for-10) effective at the start of ``effective_date``.

    Units held before that date are multiplied lot by lot (see fifo.py); the
    resulting change in units is stored with the split.
    """
    where = f"split of {symbol} on {effective_date}"
    symbol = parse_symbol(symbol, where)
    ratio = to_decimal(ratio, "ratio", RATIO_PLACES, where=where)
    if ratio <= 0 or ratio == 1:
        raise ValidationError(f"{where}, field 'ratio': {ratio} must be above zero and not 1")
    acc = _lock(session, account)
    _check_not_before_split(session, acc.id, symbol, _day_start(effective_date), where)
    book = _books(session, acc.id, until=_day_start(effective_date), symbols=[symbol]).get(symbol, FifoBook(symbol))
    before = book.units
    delta = book.split(ratio)
    row = CorporateAction(
        account_id=acc.id,
        symbol=symbol,
        kind="SPLIT",
        ratio=ratio,
        effective_date=effective_date,
        units_before=before,
        units_delta=delta,
        notes=notes,
        actor=actor,
        created_at=_now(session),
    )
    session.add(row)
    _flush(session, where)
    record_event(
        session,
        "SPLIT_RECORDED",
        {"symbol": symbol, "ratio": ratio, "effective_date": effective_date, "units_before": before, "units_delta": delta},
        actor=actor,
        account=account,
    )
    return row
