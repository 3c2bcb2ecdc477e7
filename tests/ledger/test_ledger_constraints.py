"""The database itself refuses bad rows, whoever writes them (not only the API)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from tradeops.ledger import api
from tradeops.ledger.models import CashMovement, Fill, Ticket

NOW = datetime(2024, 1, 3, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def line(session, kit):
    """A BUY AAPL line (id) on ticket T1, committed, with no fill yet."""
    kit.ticket(session, "T1", "2024-01-03", [("BUY", "AAPL", "1000", "10", "100"), ("SELL", "AAPL", "500", "5", "100")])
    ids = {ln.line_no: ln.id for ln in api.get_ticket(session, "T1").lines}
    session.commit()  # and leave the session idle: on SQLite an open transaction holds the write lock
    return ids


def _fill(line_id: int, **change) -> dict:
    row = {
        "account_id": 1,
        "line_id": line_id,
        "symbol": "AAPL",
        "side": "BUY",
        "kind": "FILL",
        "status": "EXECUTED",
        "units": D("10"),
        "price": D("100"),
        "amount": D("1000"),
        "fees": D("0"),
        "currency": "USD",
        "instrument_currency": "USD",
        "fx_rate": D("1"),
        "account_amount": D("1000"),
        "filled_at": NOW,
        "actor": "raw",
        "created_at": NOW,
    }
    row.update(change)
    return row


def _refused(engine, statement, params, match: str) -> None:
    with pytest.raises(IntegrityError, match=match), engine.begin() as conn:
        conn.execute(statement, params)


def test_same_line_cannot_be_confirmed_twice(ledger_engine, line):
    with ledger_engine.begin() as conn:
        conn.execute(insert(Fill), _fill(line[1]))
    _refused(ledger_engine, insert(Fill), _fill(line[1]), "(?i)unique|duplicate")


def test_negative_units_and_fees_are_refused(ledger_engine, line):
    _refused(ledger_engine, insert(Fill), _fill(line[1], units=D("-1")), "(?i)check")
    _refused(ledger_engine, insert(Fill), _fill(line[1], fees=D("-0.01")), "(?i)check")
    _refused(ledger_engine, insert(Fill), _fill(line[1], status="NOT_EXECUTED"), "(?i)check")  # not executed, yet 10 units


def test_fill_needs_a_known_ticket_line_of_the_same_symbol_and_side(ledger_engine, line):
    _refused(ledger_engine, insert(Fill), _fill(999_999), "(?i)foreign key")
    _refused(ledger_engine, insert(Fill), _fill(line[1], symbol="MSFT"), "(?i)foreign key")
    _refused(ledger_engine, insert(Fill), _fill(line[2], side="BUY"), "(?i)foreign key")  # line 2 is a SELL


def test_a_sell_cannot_exceed_the_units_held(ledger_engine, line):
    with ledger_engine.begin() as conn:
        conn.execute(insert(Fill), _fill(line[1]))  # buy 10
    _refused(ledger_engine, insert(Fill), _fill(line[2], side="SELL", units=D("10.00000001")), "would go negative")
    with ledger_engine.begin() as conn:  # exactly what is held is fine
        conn.execute(insert(Fill), _fill(line[2], side="SELL", units=D("10")))


def test_reversal_must_repeat_the_fill_it_reverses(ledger_engine, line):
    with ledger_engine.begin() as conn:
        fill_id = conn.execute(insert(Fill).returning(Fill.id), _fill(line[1])).scalar_one()
    wrong = _fill(line[1], kind="REVERSAL", reverses_id=fill_id, units=D("9"), amount=D("900"), account_amount=D("900"))
    _refused(ledger_engine, insert(Fill), wrong, "(?i)foreign key|account amount")  # the FK of 0001, or 0003's guard first
    right = _fill(line[1], kind="REVERSAL", reverses_id=fill_id)
    with ledger_engine.begin() as conn:
        conn.execute(insert(Fill), right)
    _refused(ledger_engine, insert(Fill), right, "(?i)unique|duplicate")  # reversed once only


def test_fx_rate_and_account_amount_must_agree(ledger_engine, line):
    """Migration 0003's guard: a same-currency fill books its amount at rate 1; a reversal repeats the rate."""
    _refused(ledger_engine, insert(Fill), _fill(line[1], account_amount=D("999")), "FX rate or account amount")
    _refused(ledger_engine, insert(Fill), _fill(line[1], fx_rate=D("1.27")), "FX rate or account amount")
    _refused(ledger_engine, insert(Fill), _fill(line[1], instrument_currency="USD", currency="GBP", fx_rate=D("0")), "(?i)FX rate|check")
    with ledger_engine.begin() as conn:
        fill_id = conn.execute(insert(Fill).returning(Fill.id), _fill(line[1])).scalar_one()
    wrong = _fill(line[1], kind="REVERSAL", reverses_id=fill_id, account_amount=D("999"))
    _refused(ledger_engine, insert(Fill), wrong, "FX rate or account amount")


@pytest.mark.parametrize("table", ["fills", "events", "cash_movements", "intended_trades"])
def test_append_only_tables_refuse_update_and_delete(ledger_engine, line, table):
    with ledger_engine.begin() as conn:
        conn.execute(insert(Fill), _fill(line[1]))
        conn.execute(
            insert(CashMovement),
            {"account_id": 1, "kind": "DEPOSIT", "amount": D(1), "currency": "USD", "value_date": date(2024, 1, 2), "actor": "raw", "created_at": NOW},
        )
    _refused(ledger_engine, text(f"UPDATE {table} SET id = id"), {}, "append-only")
    _refused(ledger_engine, text(f"DELETE FROM {table}"), {}, "append-only")


def test_cash_signs_follow_the_kind(ledger_engine):
    row = {"account_id": 1, "kind": "FEE", "amount": D("5"), "currency": "USD", "value_date": date(2024, 1, 2), "actor": "raw", "created_at": NOW}
    _refused(ledger_engine, insert(CashMovement), row, "(?i)check")  # a fee must take money out
    _refused(ledger_engine, insert(CashMovement), {**row, "kind": "DEPOSIT", "amount": D("-5")}, "(?i)check")
    _refused(ledger_engine, insert(CashMovement), {**row, "kind": "DIVIDEND"}, "(?i)check")  # a dividend needs its symbol


def test_one_open_ticket_per_session_date(ledger_engine):
    row = {
        "account_id": 1,
        "ticket_id": "A",
        "session_date": date(2024, 1, 3),
        "kind": "HOLD",
        "status": "OPEN",
        "version_hash": "h",
        "actor": "raw",
        "created_at": NOW,
    }
    with ledger_engine.begin() as conn:
        conn.execute(insert(Ticket), row)
    _refused(ledger_engine, insert(Ticket), {**row, "ticket_id": "B"}, "(?i)unique|duplicate")
    with ledger_engine.begin() as conn:  # a superseded one may share the date
        conn.execute(insert(Ticket), {**row, "ticket_id": "C", "status": "SUPERSEDED"})
