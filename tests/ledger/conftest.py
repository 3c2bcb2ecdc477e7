"""Ledger test fixtures: ``kit`` gives the small builders below to every test.

(The suite runs with --import-mode=importlib, so test modules cannot import
a helper module; they take the ``kit`` fixture instead.)"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from tradeops.config import Reconciliation
from tradeops.ledger import api

D = Decimal
UTC = timezone.utc
ACTOR = "test"
TOLERANCES = Reconciliation()  # the defaults of policy.yml: cash 5.00, units 0.0001, 7 days


def at(day: str, clock: str = "14:35") -> datetime:
    """An aware UTC instant on an ISO day."""
    return datetime.fromisoformat(f"{day}T{clock}:00+00:00")


def ticket(session, ticket_id: str, day: str, lines=(), *, band: str = "0.03", account: str = api.DEFAULT_ACCOUNT):
    """A TRADE ticket with lines (side, symbol, value, approx_units, reference_price)."""
    t = api.record_ticket(session, ticket_id, date.fromisoformat(day), "TRADE", "hash-" + ticket_id, {"id": ticket_id}, account=account)
    for n, (side, symbol, value, units, ref) in enumerate(lines, start=1):
        api.record_intended_trade(session, ticket_id, n, side, symbol, str(value), str(units), str(ref), band, account=account)
    return t


def fund(session, amount="100000", day: str = "2024-01-02", *, account: str = api.DEFAULT_ACCOUNT):
    """A deposit, so the BUYs that follow have the cash the ledger requires."""
    return api.record_cash_movement(session, "DEPOSIT", str(amount), date.fromisoformat(day), notes="test funding", account=account, actor=ACTOR)


def buy(session, ticket_id: str, day: str, symbol: str, units, price, fees="0", *, account=api.DEFAULT_ACCOUNT, clock="14:35"):
    """A one-line BUY ticket, confirmed as executed."""
    units, price = D(str(units)), D(str(price))
    ticket(session, ticket_id, day, [("BUY", symbol, (units * price).quantize(D("0.01")), units, price)], account=account)
    return api.record_fill(session, ticket_id, 1, "executed", units=units, price=price, fees=fees, filled_at=at(day, clock), account=account, actor=ACTOR)


def sell(session, ticket_id: str, day: str, symbol: str, units, price, fees="0", *, account=api.DEFAULT_ACCOUNT, clock="14:35"):
    """A one-line SELL ticket, confirmed as executed."""
    units, price = D(str(units)), D(str(price))
    ticket(session, ticket_id, day, [("SELL", symbol, (units * price).quantize(D("0.01")), units, price)], account=account)
    return api.record_fill(session, ticket_id, 1, "executed", units=units, price=price, fees=fees, filled_at=at(day, clock), account=account, actor=ACTOR)


@pytest.fixture
def kit() -> SimpleNamespace:
    return SimpleNamespace(D=D, UTC=UTC, ACTOR=ACTOR, TOLERANCES=TOLERANCES, at=at, ticket=ticket, fund=fund, buy=buy, sell=sell)
