"""The ledger's functions: every read and write of the ledger goes through here.

Each function takes a SQLAlchemy :class:`~sqlalchemy.orm.Session`; the caller
owns the transaction (``with tradeops.ledger.db.transaction(engine) as s:``),
so one confirmation or one CSV file is one transaction and a refused input
writes nothing.  Writes lock the account first (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite transactions already start with ``BEGIN IMMEDIATE``), so
two confirmations submitted at the same time are applied one after the other.

Positions, cash, P&L and the equity curve are computed from the ledger alone.
Times are aware UTC instants; dates of fills, cash movements and splits are
exchange (New York) dates, and the equity curve runs over exchange sessions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timezone, tzinfo
from decimal import ROUND_DOWN, Decimal
from typing import Iterable, Mapping, Sequence

from sqlalchemy import and_, case, exists, func, null, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from .. import cashplan
from ..calendar import exchange_tz, get_calendar
from ..errors import DataError, LedgerError, ValidationError
from ..reconcile import Holdings, OpenLine, ReconciliationReport, Tolerances, reconcile
from .db import clock_of
from .fifo import Book
from .inputs import CashInput, FillInput, parse_cash, parse_fill, parse_symbol, parse_timestamp
from .models import (
    MONEY,
    SIDES,
    STATES,
    TICKET_KINDS,
    UNITS,
    Account,
    BrokerSnapshot,
    CashMovement,
    CorporateAction,
    Event,
    Fill,
    FxRate,
    IntendedTrade,
    Price,
    SnapshotPosition,
    Ticket,
)
from .money import CENT, MONEY_PLACES, AsOf, PRICE_PLACES, RATIO_PLACES, UNITS_PLACES, ZERO, Money, account_value, booked_value, to_decimal
from .types import UTCDateTime

from .names import DEFAULT_ACCOUNT  # noqa: E402 (shared with the CLI, which must not import this module to show --help)
EXCHANGE = "XNYS"
OUTFLOW_KINDS = ("WITHDRAWAL", "FEE")  # entered as positive amounts, take from cash
EXTERNAL_FLOWS = ("DEPOSIT", "WITHDRAWAL")  # money the owner moves in or out (not returns)

PriceSeries = Mapping[str, Mapping[date, Decimal]]  # symbol -> session date -> close


# --------------------------------------------------------------------------- helpers


def _now(session: Session) -> datetime:
    """The session's clock (``db.transaction(engine, clock=...)``), the machine's by default."""
    return clock_of(session).now()


def _exchange_tz() -> tzinfo:
    return exchange_tz(EXCHANGE)


def exchange_date(instant: datetime) -> date:
    """The exchange's (New York) calendar date of an instant."""
    return instant.astimezone(_exchange_tz()).date()


def _day_start(day: date) -> datetime:
    """Midnight at the exchange on ``day``: when a split dated ``day`` applies."""
    return datetime.combine(day, time(0), tzinfo=_exchange_tz()).astimezone(timezone.utc)


def jsonable(value):
    """Decimals, dates and tuples made JSON-safe (Decimals as exact strings)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return value


def _flush(session: Session, what: str) -> None:
    """Flush; a database refusal becomes a LedgerError that says what was refused."""
    try:
        session.flush()
    except IntegrityError as err:
        detail = str(err.orig).strip().splitlines()[0]
        raise LedgerError(f"{what}: refused by the database ({detail})") from err


def _text(value: str | None, field: str, where: str) -> str:
    if value is None or not str(value).strip():
        raise ValidationError(f"{where}, field '{field}': required, and empty")
    return str(value).strip()


_REVERSAL = aliased(Fill)
_NOT_REVERSED = ~exists().where(_REVERSAL.reverses_id == Fill.id)
_ACTIVE = and_(Fill.kind == "FILL", _NOT_REVERSED)  # fills that count (neither reversed nor reversals)

# signed effect of a fill row on units and on cash (a reversal undoes its fill)
_SIGNED_UNITS = type_coerce(
    case(
        (and_(Fill.side == "BUY", Fill.kind == "FILL"), Fill.units),
        (and_(Fill.side == "SELL", Fill.kind == "REVERSAL"), Fill.units),
        else_=-Fill.units,
    ),
    UNITS,
)
_CASH_EFFECT = type_coerce(  # in the fill's (account) currency: its account amount and fees
    case(
        (and_(Fill.side == "BUY", Fill.kind == "FILL"), -Fill.account_amount - Fill.fees),
        (and_(Fill.side == "SELL", Fill.kind == "FILL"), Fill.account_amount - Fill.fees),
        (and_(Fill.side == "BUY", Fill.kind == "REVERSAL"), Fill.account_amount + Fill.fees),
        else_=Fill.fees - Fill.account_amount,
    ),
    MONEY,
)


# --------------------------------------------------------------------------- accounts and events


def get_account(session: Session, name: str = DEFAULT_ACCOUNT) -> Account:
    account = session.scalar(select(Account).where(Account.name == name))
    if account is None:
        known = session.scalars(select(Account.name).order_by(Account.name)).all()
        raise LedgerError(f"account {name!r} is unknown (known: {', '.join(known) or 'none'}); run `tradeops ledger init`")
    return account


def _lock(session: Session, name: str) -> Account:
    """The account row, locked until the transaction ends (serialises writers)."""
    account = session.scalar(select(Account).where(Account.name == name).with_for_update())
    if account is None:
        get_account(session, name)  # raises with the list of known accounts
    return account


def create_account(session: Session, name: str, *, broker: str = "eToro", currency: str = "USD", actor: str) -> Account:
    name = _text(name, "name", "account")
    if session.scalar(select(Account.id).where(Account.name == name)) is not None:
        raise LedgerError(f"account {name!r} already exists")
    account = Account(name=name, broker=broker, currency=currency, created_at=_now(session))
    session.add(account)
    _flush(session, f"account {name!r}")
    record_event(session, "ACCOUNT_CREATED", {"name": name, "broker": broker, "currency": currency}, actor=actor, account=name)
    return account


def set_account_currency(session: Session, currency: str, *, actor: str, account: str = DEFAULT_ACCOUNT) -> Account:
    """Put an empty account in ``currency`` (the policy's ``account.account_currency``): ``ledger init``
    and a new workspace call it.  Refused once the account holds anything (tickets, fills, cash,
    snapshots): an account's money never changes unit under it."""
    acc = _lock(session, account)
    if currency not in ("USD", "GBP"):
        raise ValidationError(f"account {account!r}, field 'currency': {currency!r} is not supported (USD or GBP)")
    if acc.currency == currency:
        return acc
    used = [
        what for what, model in (("tickets", Ticket), ("fills", Fill), ("cash movements", CashMovement), ("broker snapshots", BrokerSnapshot))
        if session.scalar(select(func.count()).select_from(model).where(model.account_id == acc.id))
    ]
    if used:
        raise LedgerError(
            f"account {account!r} is in {acc.currency} and already holds {', '.join(used)}: it cannot become {currency} "
            "(start a new ledger for an account in another currency)"
        )
    before, acc.currency = acc.currency, currency
    _flush(session, f"account {account!r}")
    record_event(session, "ACCOUNT_CURRENCY_SET", {"name": account, "from": before, "to": currency}, actor=actor, account=account)
    return acc


def record_event(
    session: Session,
    kind: str,
    payload: Mapping | None = None,
    *,
    actor: str,
    account: str | None = DEFAULT_ACCOUNT,
    ticket_id: str | None = None,
) -> Event:
    """Append to the event log (who, what, when); the payload is stored as JSON."""
    account_id = get_account(session, account).id if account else None
    event = Event(
        at=_now(session),
        account_id=account_id,
        kind=_text(kind, "kind", "event"),
        actor=_text(actor, "actor", "event"),
        ticket_id=ticket_id,
        payload=jsonable(dict(payload or {})),
    )
    session.add(event)
    _flush(session, f"event {kind}")
    return event


def events(
    session: Session, *, kind: str | None = None, ticket_id: str | None = None, account: str = DEFAULT_ACCOUNT, limit: int | None = None
) -> list[Event]:
    """Events of the account, newest first."""
    query = select(Event).where(Event.account_id == get_account(session, account).id)
    if kind:
        query = query.where(Event.kind == kind)
    if ticket_id:
        query = query.where(Event.ticket_id == ticket_id)
    return list(session.scalars(query.order_by(Event.id.desc()).limit(limit)))


RUN_SEALED = "RUN_SEALED"


def record_run_seal(session: Session, run_id: str, manifest_sha256: str, files: int, *, actor: str,
                    ticket_id: str | None = None) -> Event:
    """The seal of a finished run: the sha256 of its manifest (which lists every file's sha256)."""
    return record_event(session, RUN_SEALED, {"run_id": run_id, "manifest_sha256": manifest_sha256, "files": files},
                        actor=actor, account=None, ticket_id=ticket_id)


def run_seals(session: Session, run_id: str) -> list[str]:
    """The manifest hashes recorded for ``run_id``, oldest first (normally exactly one)."""
    rows = session.scalars(select(Event).where(Event.kind == RUN_SEALED).order_by(Event.id))
    return [e.payload["manifest_sha256"] for e in rows if (e.payload or {}).get("run_id") == run_id]


RUN_CONFIG_INVALID = "RUN_CONFIG_INVALID"


def record_config_failure(session: Session, run_id: str, session_date: date, message: str, *, actor: str,
                          ticket_id: str | None = None) -> Event:
    """A run that could not load its configuration (it ended in a configuration NO-TRADE ticket, exit 2).

    ``message`` is the loader's message; the caller redacts it (it may quote a secret-bearing value)."""
    payload = {"run_id": run_id, "session_date": session_date.isoformat(), "message": _text(message, "message", "event")}
    return record_event(session, RUN_CONFIG_INVALID, payload, actor=actor, account=None, ticket_id=ticket_id)


def config_failures(session: Session) -> list[Event]:
    """Every RUN_CONFIG_INVALID event, oldest first."""
    return list(session.scalars(select(Event).where(Event.kind == RUN_CONFIG_INVALID).order_by(Event.id)))


# --------------------------------------------------------------------------- state and kill switch


@dataclass(frozen=True)
class Flag:
    """The latest value of a state or the kill switch, and who set it when, why."""

    value: str
    reason: str | None
    at: datetime | None
    actor: str | None


def _latest(session: Session, account: str, kinds: tuple[str, ...]) -> Event | None:
    account_id = get_account(session, account).id
    query = select(Event).where(Event.account_id == account_id, Event.kind.in_(kinds)).order_by(Event.id.desc()).limit(1)
    return session.scalar(query)


def set_state(session: Session, state: str, reason: str, *, actor: str, account: str = DEFAULT_ACCOUNT) -> Event:
    """Record a transition of the run state machine (RUN, DEGRADED_DATA, SAFE_MODE, HALT)."""
    if state not in STATES:
        raise ValidationError(f"state {state!r} is unknown; allowed {', '.join(STATES)}")
    _lock(session, account)
    previous = current_state(session, account=account).value
    return record_event(
        session, "STATE_CHANGED", {"state": state, "previous": previous, "reason": _text(reason, "reason", "state change")},
        actor=actor, account=account,
    )


def current_state(session: Session, *, account: str = DEFAULT_ACCOUNT) -> Flag:
    """The latest recorded state (RUN when none was ever set)."""
    event = _latest(session, account, ("STATE_CHANGED",))
    if event is None:
        return Flag("RUN", None, None, None)
    return Flag(event.payload["state"], event.payload.get("reason"), event.at, event.actor)


def resume(session: Session, reason: str, *, actor: str, account: str = DEFAULT_ACCOUNT) -> Event:
    """Leave HALT explicitly: state back to RUN, and the drawdown peak restarts from today."""
    reason = _text(reason, "reason", "resume")
    if current_state(session, account=account).value != "HALT":
        raise LedgerError(f"the state is {current_state(session, account=account).value}, not HALT: there is nothing to resume")
    if kill_switch(session, account=account).value == "ON":
        raise LedgerError("the kill switch is ON: turn it off (with a reason) before resuming")
    record_event(session, "RESUMED", {"reason": reason}, actor=actor, account=account)
    return set_state(session, "RUN", f"resumed from HALT: {reason}", actor=actor, account=account)


def last_resume(session: Session, *, account: str = DEFAULT_ACCOUNT) -> date | None:
    """The exchange date of the latest explicit resume (the drawdown peak restarts there)."""
    event = _latest(session, account, ("RESUMED",))
    return None if event is None else exchange_date(event.at)


def set_kill_switch(session: Session, on: bool, reason: str, *, actor: str, account: str = DEFAULT_ACCOUNT) -> Event:
    """Turn the manual kill switch on or off; a reason is required either way."""
    _lock(session, account)
    kind = "KILL_SWITCH_ON" if on else "KILL_SWITCH_OFF"
    return record_event(session, kind, {"reason": _text(reason, "reason", "kill switch")}, actor=actor, account=account)


def kill_switch(session: Session, *, account: str = DEFAULT_ACCOUNT) -> Flag:
    """``Flag('ON'|'OFF', reason, at, actor)``: the latest kill-switch event (OFF if none)."""
    event = _latest(session, account, ("KILL_SWITCH_ON", "KILL_SWITCH_OFF"))
    if event is None:
        return Flag("OFF", None, None, None)
    return Flag("ON" if event.kind == "KILL_SWITCH_ON" else "OFF", event.payload.get("reason"), event.at, event.actor)


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
    return session.scalar(
        select(Ticket).where(Ticket.account_id == account_id, Ticket.session_date == session_date, Ticket.status == "OPEN")
    )


def latest_ticket(session: Session, *, before: date | None = None, account: str = DEFAULT_ACCOUNT) -> Ticket | None:
    """The most recent OPEN ticket (with a session date before ``before``, if given)."""
    query = select(Ticket).where(Ticket.account_id == get_account(session, account).id, Ticket.status == "OPEN")
    if before is not None:
        query = query.where(Ticket.session_date < before)
    return session.scalar(query.order_by(Ticket.session_date.desc()).limit(1))


def tickets_between(
    session: Session, start: date | None = None, end: date | None = None, *, account: str = DEFAULT_ACCOUNT
) -> list[Ticket]:
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
        record_event(
            session, "TICKET_SUPERSEDED", {"by": ticket_id, "reason": old.status_reason}, actor=actor, account=account, ticket_id=old.ticket_id
        )
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
        session, "TICKET_RECORDED",
        {"session_date": session_date, "kind": kind, "version_hash": version_hash, "run_id": run_id, "supersedes": old.ticket_id if old else None},
        actor=actor, account=account, ticket_id=ticket_id,
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
        session, "LINE_RECORDED",
        {"line_no": line_no, "side": side, "symbol": symbol, "value": value, "approx_units": approx_units, "reference_price": reference_price, "band": band},
        actor=actor, account=account, ticket_id=ticket_id,
    )
    return line


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


def _active_fills(session: Session, line_ids: Sequence[int]) -> dict[int, Fill]:
    if not line_ids:
        return {}
    rows = session.scalars(select(Fill).where(Fill.line_id.in_(line_ids), _ACTIVE))
    return {f.line_id: f for f in rows}


def _check_against_line(fill: FillInput, line: IntendedTrade | None, ticket: Ticket) -> None:
    """Input checks that need the ticket line (raise ValidationError naming row and field)."""
    where = fill.where
    if line is None:
        numbers = ", ".join(str(ln.line_no) for ln in ticket.lines) or "none"
        raise ValidationError(f"{where}, field 'line': ticket {ticket.ticket_id} has no line {fill.line_no} (its lines: {numbers})")
    if fill.symbol is not None and fill.symbol != line.symbol:
        raise ValidationError(f"{where}, field 'symbol': {fill.symbol} but line {line.line_no} of {ticket.ticket_id} is {line.symbol}")
    if fill.side is not None and fill.side != line.side:
        raise ValidationError(f"{where}, field 'side': {fill.side} but line {line.line_no} of {ticket.ticket_id} is a {line.side}")
    if fill.status == "NOT_EXECUTED" or fill.override_reason:
        return
    off = abs(fill.price - line.reference_price) / line.reference_price
    if off > line.band:
        raise ValidationError(
            f"{where}, field 'price': {fill.price} is {off:.2%} from the reference price {line.reference_price}, beyond "
            f"the ticket's band of {line.band:.2%}; check it, or give an override_reason if it really filled there"
        )
    if line.side == "BUY":
        limit = line.value * (1 + line.band)
        fx = fill.fx_rate if fill.fx_rate is not None else Decimal(1)
        spent = fill.units * fill.price if fx == 1 else fill.units * fill.price / fx
        if spent > limit:
            at = "" if fx == 1 else f" / {fx.normalize():f} (the FX rate)"
            raise ValidationError(
                f"{where}, field 'units': {fill.units} x {fill.price}{at} = {spent:.2f} is more than the "
                f"{line.value} the line asks for (at most {limit:.2f} with the band); check it, or give an override_reason"
            )
    elif fill.units > line.approx_units * (1 + line.band):
        raise ValidationError(
            f"{where}, field 'units': {fill.units} is more than the ~{line.approx_units} units line {line.line_no} asks to sell; "
            "check it, or give an override_reason"
        )


def _check_not_before_split(session: Session, account_id: int, symbol: str, at: datetime, where: str) -> None:
    """Refuse entries dated before a recorded split of the symbol (its units delta is fixed)."""
    split = session.scalar(
        select(CorporateAction)
        .where(CorporateAction.account_id == account_id, CorporateAction.symbol == symbol, CorporateAction.effective_date > exchange_date(at))
        .order_by(CorporateAction.effective_date.desc())
        .limit(1)
    )
    if split is not None:
        raise LedgerError(
            f"{where}: {symbol} entry dated {exchange_date(at)} is before the {split.ratio.normalize()}:1 split of "
            f"{split.effective_date} already in the ledger; entries across a recorded split are not supported"
        )


def _check_units_timeline(
    session: Session, account_id: int, symbol: str, changes: list[tuple[datetime, Decimal]], where: str
) -> None:
    """Refuse changes that would make the units of ``symbol`` negative at any time, now or later."""
    fills = session.execute(
        select(Fill.filled_at, _SIGNED_UNITS).where(Fill.account_id == account_id, Fill.symbol == symbol)
    ).all()
    splits = session.execute(
        select(CorporateAction.effective_date, CorporateAction.units_delta).where(
            CorporateAction.account_id == account_id, CorporateAction.symbol == symbol
        )
    ).all()
    timeline = [(at, 1, units) for at, units in fills]
    timeline += [(_day_start(day), 0, delta) for day, delta in splits]
    timeline += [(at, 2, units) for at, units in changes]
    timeline.sort(key=lambda item: (item[0], item[1]))
    held = ZERO
    for at, _, units in timeline:
        held += units
        if held < 0:
            raise LedgerError(
                f"{where}: {symbol} units would go negative ({held}) at {at:%Y-%m-%d %H:%M} UTC; the ledger does not "
                f"hold enough {symbol} for this sell (or a later sell needs the units of this buy)"
            )


def _new_fill(
    account_id: int, line: IntendedTrade, fill: FillInput, actor: str, at: datetime, supersedes_id: int | None = None,
    instrument_currency: str = "USD",
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
        "fill_id": fill.id, "line_no": line_no, "symbol": fill.symbol, "side": fill.side, "status": fill.status,
        "units": fill.units, "price": fill.price, "amount": fill.amount, "fees": fill.fees, "filled_at": fill.filled_at,
        "reason": fill.reason, "notes": fill.notes, "attachment": fill.attachment, "override_reason": fill.override_reason,
    }
    if fill.instrument_currency != fill.currency:  # a same-currency fill's event stays as it was
        payload |= {"instrument_currency": fill.instrument_currency, "fx_rate": fill.fx_rate, "account_amount": fill.account_amount}
    return payload


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


def _check_cash(
    session: Session, acc: Account, rows: Sequence[tuple[FillInput, IntendedTrade, Fill | None]], ticket_id: str, min_cash: Decimal
) -> None:
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


def fill_fx_rate(
    session: Session, ticket: Ticket, fill: FillInput, *, fx_date: date | None = None, instrument_currency: str = "USD",
    account: str = DEFAULT_ACCOUNT,
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


def _with_rates(
    session: Session, ticket: Ticket, fills: Sequence[FillInput], fx_date: date | None, instrument_currency: str, account: str
) -> list[FillInput]:
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
    session: Session, ticket_id: str, fills: Sequence[FillInput], *, account: str = DEFAULT_ACCOUNT, actor: str,
    min_cash: Decimal = ZERO, fx_date: date | None = None, instrument_currency: str = "USD",
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
        "line": str(line_no), "status": status, "units": units, "price": price, "fees": fees, "filled_at": filled_at,
        "reason": reason, "notes": notes, "attachment": attachment, "override_reason": override_reason, "fx_rate": fx_rate,
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
        "line": str(line.line_no), "status": status, "units": units, "price": price, "fees": fees, "filled_at": filled_at,
        "reason": reason if status.lower().startswith("not") else None, "notes": notes, "attachment": attachment,
        "override_reason": override_reason, "fx_rate": fx_rate,
    }
    fill = parse_fill(raw, where, local_tz, _now(session))
    (fill,) = _with_rates(session, line.ticket, [fill], fx_date, original.instrument_currency, account)
    return _correct(session, acc, original, fill, reason, actor=actor, account=account, min_cash=min_cash)


def correct_ticket(
    session: Session, ticket_id: str, fills: Sequence[FillInput], reason: str, *, account: str = DEFAULT_ACCOUNT, actor: str,
    min_cash: Decimal = ZERO, fx_date: date | None = None, instrument_currency: str = "USD",
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
        account_id=acc.id, line_id=original.line_id, symbol=original.symbol, side=original.side, kind="REVERSAL",
        status=original.status, units=original.units, price=original.price, amount=original.amount, fees=original.fees,
        currency=original.currency, instrument_currency=original.instrument_currency, fx_rate=original.fx_rate,
        account_amount=original.account_amount, filled_at=original.filled_at, reason=reason, reverses_id=original.id,
        actor=actor, created_at=_now(session),
    )
    new = _new_fill(
        acc.id, line, replacement, actor, _now(session), supersedes_id=original.id, instrument_currency=original.instrument_currency
    )
    # insert the row that adds units first, so the database's never-negative trigger holds after each insert
    for row in ([new, reversal] if line.side == "BUY" else [reversal, new]):
        session.add(row)
        _flush(session, where)
    ticket_id = line.ticket.ticket_id
    record_event(
        session, "FILL_REVERSED", {"fill_id": original.id, "reversal_id": reversal.id, "reason": reason},
        actor=actor, account=account, ticket_id=ticket_id,
    )
    record_event(
        session, "FILL_CORRECTED", {**_fill_payload(new, line.line_no), "supersedes": original.id, "reason": reason},
        actor=actor, account=account, ticket_id=ticket_id,
    )
    return reversal, new


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
    entry = parse_cash(
        {"kind": kind, "amount": amount, "date": value_date, "currency": currency, "symbol": symbol, "notes": notes}, where
    )
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


def cash_movements(
    session: Session, start: date | None = None, end: date | None = None, *, account: str = DEFAULT_ACCOUNT
) -> list[CashRow]:
    """Every cash movement (and reversal) with a value date in ``[start, end]``, in booking order."""
    query = select(CashMovement).where(CashMovement.account_id == get_account(session, account).id)
    if start is not None:
        query = query.where(CashMovement.value_date >= start)
    if end is not None:
        query = query.where(CashMovement.value_date <= end)
    return [CashRow(m.value_date, m.kind, m.amount, m.currency, m.symbol)
            for m in session.scalars(query.order_by(CashMovement.value_date, CashMovement.id))]


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
        account_id=acc.id, kind=entry.kind, amount=signed, currency=entry.currency, value_date=entry.value_date,
        symbol=entry.symbol, notes=entry.notes, actor=actor, created_at=_now(session),
    )
    session.add(row)
    _flush(session, entry.where)
    record_event(
        session, "CASH_RECORDED",
        {"movement_id": row.id, "kind": row.kind, "amount": signed, "currency": row.currency, "value_date": row.value_date, "symbol": row.symbol},
        actor=actor, account=account,
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
        account_id=acc.id, kind=original.kind, amount=-original.amount, currency=original.currency,
        value_date=original.value_date, symbol=original.symbol, notes=reason, reverses_id=original.id,
        actor=actor, created_at=_now(session),
    )
    session.add(row)
    _flush(session, where)
    record_event(session, "CASH_REVERSED", {"movement_id": movement_id, "reversal_id": row.id, "reason": reason}, actor=actor, account=account)
    return row


def record_split(
    session: Session,
    symbol: str,
    ratio: Decimal | str,
    effective_date: date,
    *,
    notes: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    actor: str,
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
    book = _books(session, acc.id, until=_day_start(effective_date), symbols=[symbol]).get(symbol, Book(symbol))
    before = book.units
    delta = book.split(ratio)
    row = CorporateAction(
        account_id=acc.id, symbol=symbol, kind="SPLIT", ratio=ratio, effective_date=effective_date,
        units_before=before, units_delta=delta, notes=notes, actor=actor, created_at=_now(session),
    )
    session.add(row)
    _flush(session, where)
    record_event(
        session, "SPLIT_RECORDED", {"symbol": symbol, "ratio": ratio, "effective_date": effective_date, "units_before": before, "units_delta": delta},
        actor=actor, account=account,
    )
    return row


def record_snapshot(
    session: Session,
    taken_at: datetime,
    cash: Decimal | str,
    positions: Mapping[str, Decimal | str],
    *,
    currency: str | None = None,
    source: str = "manual",
    notes: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    actor: str,
    fx_rate: Decimal | str | None = None,
) -> BrokerSnapshot:
    """Record what the broker shows: cash and units per symbol at ``taken_at``.

    ``cash`` is in ``currency``, the currency the broker shows it in: the
    account's (the default), or USD for an account in another currency (eToro
    can show a pound balance in dollars).  ``fx_rate`` is the USD per
    account-currency unit shown with the snapshot: exactly 1 for a USD
    account; for another, the rate typed, else (cash in the account's own
    currency only) the latest cached rate on or before the snapshot's day."""
    where = "snapshot"
    taken_at = parse_timestamp(taken_at, where, "taken_at", timezone.utc, _now(session))
    cash = to_decimal(cash, "cash", MONEY_PLACES, where=where)
    if cash < 0:
        raise ValidationError(f"{where}, field 'cash': {cash} is negative")
    lines = {}
    for raw_symbol, raw_units in positions.items():
        symbol = parse_symbol(raw_symbol, where)
        units = to_decimal(raw_units, f"units of {symbol}", UNITS_PLACES, where=where)
        if units < 0:
            raise ValidationError(f"{where}, field 'units of {symbol}': {units} is negative")
        if symbol in lines:
            raise ValidationError(f"{where}, field 'symbol': {symbol} is given twice")
        if units > 0:
            lines[symbol] = units
    acc = _lock(session, account)
    currency = currency or acc.currency
    if currency not in (acc.currency, "USD"):
        raise ValidationError(f"{where}, field 'currency': {currency}, but account {account!r} is in {acc.currency} (or shown in USD)")
    if acc.currency == "USD":
        rate = Decimal(1) if fx_rate is None else to_decimal(fx_rate, "fx_rate", RATIO_PLACES, where=where)
        if rate != 1:
            raise ValidationError(f"{where}, field 'fx_rate': {rate} given, but account {account!r} is in USD (rate 1)")
    elif fx_rate is not None:
        rate = to_decimal(fx_rate, "fx_rate", RATIO_PLACES, where=where)
        if rate <= 0:
            raise ValidationError(f"{where}, field 'fx_rate': {rate} must be above zero")
    else:
        cached = AsOf(load_fx_rates(session, acc.currency, "USD")).get(exchange_date(taken_at)) if currency == acc.currency else None
        if cached is None:
            raise ValidationError(
                f"{where}, field 'fx_rate': required for a {acc.currency} account with cash in {currency} "
                f"(the USD per {acc.currency} the broker shows)"
            )
        rate = cached
    snap = BrokerSnapshot(
        account_id=acc.id, taken_at=taken_at, cash=cash, currency=currency, fx_rate=rate, source=source, notes=notes, actor=actor,
        created_at=_now(session),
        positions=[SnapshotPosition(symbol=s, units=u) for s, u in sorted(lines.items())],
    )
    session.add(snap)
    _flush(session, where)
    record_event(
        session, "SNAPSHOT_RECORDED", {"snapshot_id": snap.id, "taken_at": taken_at, "cash": cash, "positions": lines}, actor=actor, account=account
    )
    return snap


def latest_snapshot(session: Session, *, account: str = DEFAULT_ACCOUNT) -> BrokerSnapshot | None:
    account_id = get_account(session, account).id
    query = select(BrokerSnapshot).where(BrokerSnapshot.account_id == account_id)
    return session.scalar(query.order_by(BrokerSnapshot.taken_at.desc(), BrokerSnapshot.id.desc()).limit(1))


# --------------------------------------------------------------------------- prices and FX


def store_prices(
    session: Session, closes: Iterable[tuple[str, date, Decimal | str]], *, source: str, currency: str = "USD"
) -> int:
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


def load_prices(
    session: Session, symbols: Iterable[str] | None = None, start: date | None = None, end: date | None = None
) -> dict[str, dict[date, Decimal]]:
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
) -> dict[str, Book]:
    """FIFO books per symbol from active fills and splits before ``until`` (or up to it, if inclusive).

    One ordered pass; fill times are fetched only for symbols that have splits.
    """
    split_query = select(CorporateAction.symbol, CorporateAction.effective_date, CorporateAction.ratio).where(
        CorporateAction.account_id == account_id
    )
    fill_query = select(
        Fill.symbol, Fill.side, Fill.units, Fill.account_amount, Fill.amount, Fill.fx_rate, Fill.currency != Fill.instrument_currency
    ).where(Fill.account_id == account_id, _ACTIVE, Fill.units > 0)
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
    books: dict[str, Book] = {}
    rows = session.connection().execute(fill_query.add_columns(when).order_by(Fill.symbol, Fill.filled_at, Fill.id))
    for symbol, side, units, amount, amount_ic, fx_rate, foreign, at in rows:
        book = books.get(symbol)
        if book is None:
            book = books[symbol] = Book(symbol)
        pending = splits.get(symbol)
        while pending and pending[0][0] <= at:
            book.split(pending.pop(0)[1])
        amount_ic = amount_ic if foreign else None  # same currency: one cost (the USD figures stay as they were)
        if side == "BUY":
            book.buy(units, amount, amount_ic, fx_rate)
        else:
            book.sell(units, amount, amount_ic)
    for symbol, pending in splits.items():  # splits after a symbol's last fill
        book = books.setdefault(symbol, Book(symbol))
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
            "currency": self.currency, "realized": self.realized, "unrealized": self.unrealized, "total": self.total,
            "trading": self.trading, "dividends": self.dividends, "interest": self.interest, "fx": self.fx, "fees": self.fees,
            "by_symbol": {s: p.to_dict() for s, p in self.by_symbol.items()},
        }
        if self.trading_fx is not None:
            out |= {
                "trading_price": self.trading_price, "trading_fx": self.trading_fx, "unrealized_price": self.unrealized_price,
                "unrealized_fx": self.unrealized_fx, "price_effect": self.price_effect, "fx_effect": self.fx_effect,
            }
        return jsonable(out)


def _foreign(session: Session, account_id: int, until: datetime | None = None) -> bool:
    """Whether any fill of the account is in another currency than the account's."""
    query = select(Fill.id).where(Fill.account_id == account_id, Fill.currency != Fill.instrument_currency)
    if until is not None:
        query = query.where(Fill.filled_at <= until)
    return session.scalar(query.limit(1)) is not None


def compute_pnl(
    session: Session, marks: Mapping[str, Decimal], *, as_of: datetime | None = None, account: str = DEFAULT_ACCOUNT,
    fx_rate: Decimal | str | None = None,
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
            symbol, book.units, cost, mark, value, book.realized, value - cost,
            realized_price=book.realized_price, realized_fx=book.realized_fx, unrealized_price=price_eff, unrealized_fx=fx_eff,
            market_value_usd=book.units * mark if book.units > 0 else ZERO, fx_rate=book_rate,
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
    for symbol, at, units, cash in session.execute(
        select(Fill.symbol, Fill.filled_at, _SIGNED_UNITS, _CASH_EFFECT).where(Fill.account_id == acc.id)
    ):
        changes.append((at.astimezone(tz).date(), symbol, units, cash, ZERO))
    for kind, day, amount in session.execute(
        select(CashMovement.kind, CashMovement.value_date, CashMovement.amount).where(CashMovement.account_id == acc.id)
    ):
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


# --------------------------------------------------------------------------- reconciliation


def reconcile_snapshot(
    session: Session,
    tolerances: Tolerances,
    *,
    snapshot_id: int | None = None,
    now: datetime | None = None,
    account: str = DEFAULT_ACCOUNT,
) -> ReconciliationReport:
    """Reconcile a snapshot (default: the latest) with the ledger as of its time.

    The cash is compared in the currency the snapshot shows (a pound balance
    shown in dollars: the ledger's pounds at the snapshot's FX rate)."""
    acc = get_account(session, account)
    snap = session.get(BrokerSnapshot, snapshot_id) if snapshot_id is not None else latest_snapshot(session, account=account)
    if snap is None or snap.account_id != acc.id:
        raise LedgerError(
            f"no broker snapshot {'with id ' + str(snapshot_id) if snapshot_id else 'recorded'} for account {account!r}; "
            "enter one with `tradeops snapshot --file snapshot.csv`"
        )
    ledger = Holdings(
        snap.taken_at,
        compute_cash(session, as_of=snap.taken_at, account=account).amount,
        compute_positions(session, as_of=snap.taken_at, account=account),
        acc.currency,
    )
    broker = Holdings(snap.taken_at, snap.cash, {p.symbol: p.units for p in snap.positions}, snap.currency, fx_rate=snap.fx_rate)
    open_lines = [
        OpenLine(line.ticket.ticket_id, line.line_no, line.side, line.symbol, line.value, line.approx_units)
        for line in unconfirmed_lines(session, account=account)
    ]
    now = now or _now(session)
    last_fill = session.scalar(select(func.max(Fill.filled_at)).where(Fill.account_id == acc.id, Fill.units > 0))
    return reconcile(ledger, broker, tolerances, now, open_lines, snapshot_id=snap.id,
                     ledger_cash_now=compute_cash(session, as_of=now, account=account).amount, last_fill_at=last_fill)
