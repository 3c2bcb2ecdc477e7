"""Accounts, the event log (run seals, config failures), the trading state and the kill switch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import Clock
from ..errors import LedgerError, ValidationError
from .models import STATES, Account, BrokerSnapshot, CashMovement, Event, Fill, Ticket

from .names import DEFAULT_ACCOUNT
from .common import _flush, _now, _text, exchange_date, jsonable


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
        what
        for what, model in (("tickets", Ticket), ("fills", Fill), ("cash movements", CashMovement), ("broker snapshots", BrokerSnapshot))
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
    clock: Clock | None = None,
) -> Event:
    """Append to the event log (who, what, when); the payload is stored as JSON.  The time is
    ``clock``'s (default: the session's clock)."""
    account_id = get_account(session, account).id if account else None
    event = Event(
        at=_now(session, clock),
        account_id=account_id,
        kind=_text(kind, "kind", "event"),
        actor=_text(actor, "actor", "event"),
        ticket_id=ticket_id,
        payload=jsonable(dict(payload or {})),
    )
    session.add(event)
    _flush(session, f"event {kind}")
    return event


def events(session: Session, *, kind: str | None = None, ticket_id: str | None = None, account: str = DEFAULT_ACCOUNT, limit: int | None = None) -> list[Event]:
    """Events of the account, newest first."""
    query = select(Event).where(Event.account_id == get_account(session, account).id)
    if kind:
        query = query.where(Event.kind == kind)
    if ticket_id:
        query = query.where(Event.ticket_id == ticket_id)
    return list(session.scalars(query.order_by(Event.id.desc()).limit(limit)))


RUN_SEALED = "RUN_SEALED"


def record_run_seal(session: Session, run_id: str, manifest_sha256: str, files: int, *, actor: str, ticket_id: str | None = None) -> Event:
    """The seal of a finished run: the sha256 of its manifest (which lists every file's sha256)."""
    return record_event(
        session, RUN_SEALED, {"run_id": run_id, "manifest_sha256": manifest_sha256, "files": files}, actor=actor, account=None, ticket_id=ticket_id
    )


def run_seals(session: Session, run_id: str) -> list[str]:
    """The manifest hashes recorded for ``run_id``, oldest first (normally exactly one)."""
    rows = session.scalars(select(Event).where(Event.kind == RUN_SEALED).order_by(Event.id))
    return [e.payload["manifest_sha256"] for e in rows if (e.payload or {}).get("run_id") == run_id]


RUN_CONFIG_INVALID = "RUN_CONFIG_INVALID"


def record_config_failure(session: Session, run_id: str, session_date: date, message: str, *, actor: str, ticket_id: str | None = None) -> Event:
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


def set_state(session: Session, state: str, reason: str, *, actor: str, account: str = DEFAULT_ACCOUNT, clock: Clock | None = None) -> Event:
    """Record a transition of the run state machine (RUN, DEGRADED_DATA, SAFE_MODE, HALT)."""
    if state not in STATES:
        raise ValidationError(f"state {state!r} is unknown; allowed {', '.join(STATES)}")
    _lock(session, account)
    previous = current_state(session, account=account).value
    return record_event(
        session,
        "STATE_CHANGED",
        {"state": state, "previous": previous, "reason": _text(reason, "reason", "state change")},
        actor=actor,
        account=account,
        clock=clock,
    )


def current_state(session: Session, *, account: str = DEFAULT_ACCOUNT) -> Flag:
    """The latest recorded state (RUN when none was ever set)."""
    event = _latest(session, account, ("STATE_CHANGED",))
    if event is None:
        return Flag("RUN", None, None, None)
    return Flag(event.payload["state"], event.payload.get("reason"), event.at, event.actor)


def resume(session: Session, reason: str, *, actor: str, account: str = DEFAULT_ACCOUNT, clock: Clock | None = None) -> Event:
    """Leave HALT explicitly: state back to RUN, and the drawdown peak restarts from today
    (``clock``'s, default the session's)."""
    reason = _text(reason, "reason", "resume")
    if current_state(session, account=account).value != "HALT":
        raise LedgerError(f"the state is {current_state(session, account=account).value}, not HALT: there is nothing to resume")
    if kill_switch(session, account=account).value == "ON":
        raise LedgerError("the kill switch is ON: turn it off (with a reason) before resuming")
    record_event(session, "RESUMED", {"reason": reason}, actor=actor, account=account, clock=clock)
    return set_state(session, "RUN", f"resumed from HALT: {reason}", actor=actor, account=account, clock=clock)


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
