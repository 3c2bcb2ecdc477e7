"""Tickets and their intended trades (lines): record, look up, void."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import LedgerError, ValidationError
from .inputs import parse_symbol
from .models import SIDES, TICKET_KINDS, Fill, IntendedTrade, Ticket
from .money import MONEY_PLACES, PRICE_PLACES, RATIO_PLACES, UNITS_PLACES, to_decimal

from .names import DEFAULT_ACCOUNT
from .common import _flush, _now, _text, jsonable
from .accounts import _lock, get_account, record_event


# --------------------------------------------------------------------------- tickets and lines


def get_ticket(session: Session, ticket_id: str, *, account: str = DEFAULT_ACCOUNT) -> Ticket:
    account_id = get_account(session, account).id
    ticket = session.scalar(select(Ticket).where(Ticket.account_id == account_id, Ticket.ticket_id == ticket_id))
    if ticket is None:
        raise LedgerError(f"ticket {ticket_id!r} is not in the ledger of account {account!r}")
    return ticket


def open_ticket(session: Session, session_date: date, *, account: str = DEFAULT_ACCOUNT) -> Ticket | None:
    """The OPEN ticket of a session date, if one was issued."""
    account_id = get_account(session, account).id
    return session.scalar(select(Ticket).where(Ticket.account_id == account_id, Ticket.session_date == session_date, Ticket.status == "OPEN"))


def latest_ticket(session: Session, *, before: date | None = None, account: str = DEFAULT_ACCOUNT) -> Ticket | None:
    """The most recent OPEN ticket (with a session date before ``before``, if given)."""
    query = select(Ticket).where(Ticket.account_id == get_account(session, account).id, Ticket.status == "OPEN")
    if before is not None:
        query = query.where(Ticket.session_date < before)
    return session.scalar(query.order_by(Ticket.session_date.desc()).limit(1))


def tickets_between(session: Session, start: date | None = None, end: date | None = None, *, account: str = DEFAULT_ACCOUNT) -> list[Ticket]:
    """The OPEN (not superseded, not voided) tickets with a session date in ``[start, end]``, oldest first."""
    query = select(Ticket).where(Ticket.account_id == get_account(session, account).id, Ticket.status == "OPEN")
    if start is not None:
        query = query.where(Ticket.session_date >= start)
    if end is not None:
        query = query.where(Ticket.session_date <= end)
    return list(session.scalars(query.order_by(Ticket.session_date, Ticket.id)))


def _ticket_has_fills(session: Session, ticket: Ticket) -> bool:
    query = select(Fill.id).join(IntendedTrade, IntendedTrade.id == Fill.line_id).where(IntendedTrade.ticket_pk == ticket.id).limit(1)
    return session.scalar(query) is not None


def record_ticket(
    session: Session,
    ticket_id: str,
    session_date: date,
    kind: str,
    version_hash: str,
    payload: Mapping | None = None,
    *,
    run_id: str | None = None,
    supersede_reason: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    actor: str = "pipeline",
) -> Ticket:
    """Record the ticket of a session date (exactly one OPEN ticket per date).

    A second ticket for the same date is refused unless ``supersede_reason``
    is given; superseding is refused once fills exist against the old ticket.
    """
    where = f"ticket {ticket_id!r}"
    ticket_id = _text(ticket_id, "ticket_id", "ticket")
    if kind not in TICKET_KINDS:
        raise ValidationError(f"{where}, field 'kind': {kind!r} is not one of {', '.join(TICKET_KINDS)}")
    if not isinstance(session_date, date) or isinstance(session_date, datetime):
        raise ValidationError(f"{where}, field 'session_date': {session_date!r} is not a date")
    version_hash = _text(version_hash, "version_hash", where)
    acc = _lock(session, account)
    if session.scalar(select(Ticket.id).where(Ticket.account_id == acc.id, Ticket.ticket_id == ticket_id)) is not None:
        raise LedgerError(f"{where} is already in the ledger; a ticket is recorded once")
    old = open_ticket(session, session_date, account=account)
    if old is not None:
        if not supersede_reason or not supersede_reason.strip():
            raise LedgerError(
                f"session {session_date} already has ticket {old.ticket_id} ({old.kind}); a second run does not issue "
                "a second ticket (supersede it explicitly, with a reason)"
            )
        if _ticket_has_fills(session, old):
            raise LedgerError(f"ticket {old.ticket_id} cannot be superseded: fills have been recorded against it")
        old.status, old.status_reason = "SUPERSEDED", supersede_reason.strip()
        _flush(session, f"superseding {old.ticket_id}")
        record_event(session, "TICKET_SUPERSEDED", {"by": ticket_id, "reason": old.status_reason}, actor=actor, account=account, ticket_id=old.ticket_id)
    ticket = Ticket(
        account_id=acc.id,
        ticket_id=ticket_id,
        session_date=session_date,
        kind=kind,
        status="OPEN",
        version_hash=version_hash,
        run_id=run_id,
        payload=jsonable(dict(payload)) if payload is not None else None,
        supersedes_id=old.id if old is not None else None,
        actor=actor,
        created_at=_now(session),
    )
    session.add(ticket)
    _flush(session, where)
    record_event(
        session,
        "TICKET_RECORDED",
        {"session_date": session_date, "kind": kind, "version_hash": version_hash, "run_id": run_id, "supersedes": old.ticket_id if old else None},
        actor=actor,
        account=account,
        ticket_id=ticket_id,
    )
    return ticket


def void_ticket(session: Session, ticket_id: str, reason: str, *, account: str = DEFAULT_ACCOUNT, actor: str) -> Ticket:
    """Withdraw an OPEN ticket without a replacement (refused once fills exist)."""
    reason = _text(reason, "reason", f"voiding {ticket_id}")
    _lock(session, account)
    ticket = get_ticket(session, ticket_id, account=account)
    if ticket.status != "OPEN":
        raise LedgerError(f"ticket {ticket_id} is {ticket.status}; only an OPEN ticket can be voided")
    if _ticket_has_fills(session, ticket):
        raise LedgerError(f"ticket {ticket_id} cannot be voided: fills have been recorded against it")
    ticket.status, ticket.status_reason = "VOIDED", reason
    _flush(session, f"voiding {ticket_id}")
    record_event(session, "TICKET_VOIDED", {"reason": reason}, actor=actor, account=account, ticket_id=ticket_id)
    return ticket


def record_intended_trade(
    session: Session,
    ticket_id: str,
    line_no: int,
    side: str,
    symbol: str,
    value: Decimal | str,
    approx_units: Decimal | str,
    reference_price: Decimal | str,
    band: Decimal | str,
    *,
    order_type: str = "market",
    currency: str = "USD",
    details: Mapping | None = None,
    account: str = DEFAULT_ACCOUNT,
    actor: str = "pipeline",
) -> IntendedTrade:
    """Record line ``line_no`` of a TRADE ticket: side, symbol, value in account currency,
    approximate units, reference price and the price band the executor must respect."""
    where = f"{ticket_id} line {line_no}"
    if not isinstance(line_no, int) or line_no < 1:
        raise ValidationError(f"{where}, field 'line_no': must be a whole number from 1")
    if side not in SIDES:
        raise ValidationError(f"{where}, field 'side': {side!r} is not BUY or SELL")
    symbol = parse_symbol(symbol, where)
    value = to_decimal(value, "value", MONEY_PLACES, where=where)
    approx_units = to_decimal(approx_units, "approx_units", UNITS_PLACES, where=where)
    reference_price = to_decimal(reference_price, "reference_price", PRICE_PLACES, where=where)
    band = to_decimal(band, "band", RATIO_PLACES, where=where)
    for name, v in (("value", value), ("approx_units", approx_units), ("reference_price", reference_price)):
        if v <= 0:
            raise ValidationError(f"{where}, field '{name}': {v} must be above zero")
    if not 0 <= band < 1:
        raise ValidationError(f"{where}, field 'band': {band} must be a fraction in [0, 1), e.g. 0.03")
    acc = _lock(session, account)
    if currency != acc.currency:
        raise LedgerError(f"{where}: value in {currency}, but account {account!r} is in {acc.currency}")
    ticket = get_ticket(session, ticket_id, account=account)
    if ticket.kind != "TRADE" or ticket.status != "OPEN":
        raise LedgerError(f"{where}: ticket {ticket_id} is {ticket.status} {ticket.kind}; lines go on an OPEN TRADE ticket")
    if _ticket_has_fills(session, ticket):
        raise LedgerError(f"{where}: ticket {ticket_id} already has confirmations; its lines are fixed")
    if any(line.line_no == line_no for line in ticket.lines):
        raise LedgerError(f"{where}: ticket {ticket_id} already has a line {line_no}")
    line = IntendedTrade(
        ticket_pk=ticket.id,
        account_id=acc.id,
        line_no=line_no,
        side=side,
        symbol=symbol,
        value=value,
        currency=currency,
        approx_units=approx_units,
        reference_price=reference_price,
        band=band,
        order_type=order_type,
        details=jsonable(dict(details)) if details is not None else None,
        created_at=_now(session),
    )
    ticket.lines.append(line)
    _flush(session, where)
    record_event(
        session,
        "LINE_RECORDED",
        {"line_no": line_no, "side": side, "symbol": symbol, "value": value, "approx_units": approx_units, "reference_price": reference_price, "band": band},
        actor=actor,
        account=account,
        ticket_id=ticket_id,
    )
    return line
