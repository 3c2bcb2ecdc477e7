"""Tickets and their lines: one OPEN ticket per session date, explicit supersede and void."""

from __future__ import annotations

from datetime import date

import pytest

from tradeops.errors import LedgerError, ValidationError
from tradeops.ledger import api

DAY = date(2024, 1, 3)


def test_one_ticket_per_session_date(session, kit):
    first = api.record_ticket(session, "TICKET-20240103", DAY, "HOLD", "v1", {"why": "no trades"})
    assert api.open_ticket(session, DAY).ticket_id == "TICKET-20240103"
    with pytest.raises(LedgerError, match="already has ticket TICKET-20240103.*does not issue a second ticket"):
        api.record_ticket(session, "TICKET-20240103-2", DAY, "TRADE", "v2")
    with pytest.raises(LedgerError, match="already in the ledger"):
        api.record_ticket(session, "TICKET-20240103", date(2024, 1, 4), "HOLD", "v1")
    assert api.latest_ticket(session) is first and api.latest_ticket(session, before=DAY) is None


def test_supersede_needs_a_reason_and_no_fills(session, kit):
    api.record_ticket(session, "A", DAY, "TRADE", "v1")
    new = api.record_ticket(session, "B", DAY, "NO-TRADE", "v2", supersede_reason="data was stale at 07:30")
    old = api.get_ticket(session, "A")
    assert (old.status, old.status_reason, new.status, new.supersedes_id) == ("SUPERSEDED", "data was stale at 07:30", "OPEN", old.id)
    assert [e.payload["by"] for e in api.events(session, kind="TICKET_SUPERSEDED")] == ["B"]
    kit.fund(session)
    kit.buy(session, "C", "2024-01-04", "AAPL", 1, 100)
    with pytest.raises(LedgerError, match="cannot be superseded: fills have been recorded"):
        api.record_ticket(session, "D", date(2024, 1, 4), "HOLD", "v3", supersede_reason="rerun")


def test_void(session, kit):
    api.record_ticket(session, "A", DAY, "TRADE", "v1")
    with pytest.raises(ValidationError, match="reason"):
        api.void_ticket(session, "A", " ", actor="t")
    assert api.void_ticket(session, "A", "wrong account", actor="t").status == "VOIDED"
    assert api.open_ticket(session, DAY) is None
    kit.fund(session)
    kit.buy(session, "B", "2024-01-04", "AAPL", 1, 100)
    with pytest.raises(LedgerError, match="cannot be voided"):
        api.void_ticket(session, "B", "oops", actor="t")


def test_lines_are_checked(session, kit):
    api.record_ticket(session, "H", DAY, "HOLD", "v")
    with pytest.raises(LedgerError, match="OPEN TRADE ticket"):
        api.record_intended_trade(session, "H", 1, "BUY", "AAPL", "100", "1", "100", "0.03")
    api.record_ticket(session, "T", date(2024, 1, 4), "TRADE", "v")
    kit.fund(session)
    cases = [
        (dict(side="SHORT"), "field 'side'"),
        (dict(value="-5"), "field 'value'"),
        (dict(value="1.00001"), "field 'value'.*more than 4 decimal places"),
        (dict(band="1"), "field 'band'"),
        (dict(symbol="no spaces"), "field 'symbol'"),
    ]
    base = dict(side="BUY", symbol="AAPL", value="100", approx_units="1", reference_price="100", band="0.03")
    for change, message in cases:
        with pytest.raises(ValidationError, match=message):
            api.record_intended_trade(session, "T", 1, **{**base, **change})
    api.record_intended_trade(session, "T", 1, **base)
    with pytest.raises(LedgerError, match="already has a line 1"):
        api.record_intended_trade(session, "T", 1, **base)
    api.record_fill(session, "T", 1, "executed", units="1", price="100", filled_at=kit.at("2024-01-04"), actor="t")
    with pytest.raises(LedgerError, match="lines are fixed"):
        api.record_intended_trade(session, "T", 2, **base)


def test_superseded_ticket_cannot_be_confirmed(session, kit):
    kit.ticket(session, "A", "2024-01-03", [("BUY", "AAPL", "100", "1", "100")])
    api.record_ticket(session, "B", DAY, "HOLD", "v2", supersede_reason="rerun")
    with pytest.raises(LedgerError, match="A is SUPERSEDED"):
        api.record_fill(session, "A", 1, "executed", units="1", price="100", filled_at=kit.at("2024-01-03"), actor="t")
