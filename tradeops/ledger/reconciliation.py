"""Broker snapshots and the reconciliation of the ledger against the latest one."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import LedgerError, ValidationError
from ..reconcile import Holdings, OpenLine, ReconciliationReport, Tolerances, reconcile
from .inputs import parse_symbol, parse_timestamp
from .models import BrokerSnapshot, Fill, SnapshotPosition
from .money import MONEY_PLACES, AsOf, RATIO_PLACES, UNITS_PLACES, to_decimal

from .names import DEFAULT_ACCOUNT
from .common import _flush, _now, exchange_date
from .accounts import _lock, get_account, record_event
from .prices import load_fx_rates
from .valuation import compute_cash, compute_positions
from .fills import unconfirmed_lines


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
                f"{where}, field 'fx_rate': required for a {acc.currency} account with cash in {currency} (the USD per {acc.currency} the broker shows)"
            )
        rate = cached
    snap = BrokerSnapshot(
        account_id=acc.id,
        taken_at=taken_at,
        cash=cash,
        currency=currency,
        fx_rate=rate,
        source=source,
        notes=notes,
        actor=actor,
        created_at=_now(session),
        positions=[SnapshotPosition(symbol=s, units=u) for s, u in sorted(lines.items())],
    )
    session.add(snap)
    _flush(session, where)
    record_event(session, "SNAPSHOT_RECORDED", {"snapshot_id": snap.id, "taken_at": taken_at, "cash": cash, "positions": lines}, actor=actor, account=account)
    return snap


def latest_snapshot(session: Session, *, account: str = DEFAULT_ACCOUNT) -> BrokerSnapshot | None:
    account_id = get_account(session, account).id
    query = select(BrokerSnapshot).where(BrokerSnapshot.account_id == account_id)
    return session.scalar(query.order_by(BrokerSnapshot.taken_at.desc(), BrokerSnapshot.id.desc()).limit(1))


# --------------------------------------------------------------------------- reconciliation


def reconcile_snapshot(
    session: Session, tolerances: Tolerances, *, snapshot_id: int | None = None, now: datetime | None = None, account: str = DEFAULT_ACCOUNT
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
    return reconcile(
        ledger,
        broker,
        tolerances,
        now,
        open_lines,
        snapshot_id=snap.id,
        ledger_cash_now=compute_cash(session, as_of=now, account=account).amount,
        last_fill_at=last_fill,
    )
