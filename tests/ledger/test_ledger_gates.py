"""Gates return Gate data (check records; never raise) that the manifest can hold as JSON."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

from tradeops.config import Reconciliation, Risk
from tradeops.ledger import api, gates
from tradeops.checks import Gate
from tradeops.ledger.gates import from_dict

RISK = Risk()  # kill switch at 20%, warning at 10%


def _json_round_trip(result: Gate) -> Gate:
    back = from_dict(json.loads(result.to_json()))
    assert back == result
    return back


def test_kill_switch_gate(session):
    assert gates.kill_switch_gate(session).passed
    api.set_kill_switch(session, True, "broker outage", actor="ann")
    result = _json_round_trip(gates.kill_switch_gate(session))
    assert not result.passed and "kill switch is ON" in result.reasons[0] and "broker outage" in result.reasons[0]
    api.set_kill_switch(session, False, "back", actor="ann")
    api.set_state(session, "HALT", "drawdown 21%", actor="pipeline")
    result = gates.kill_switch_gate(session)
    assert not result.passed and result.details["state"] == "HALT" and "resume explicitly" in result.reasons[0]


def _prices(closes: dict[str, str]):
    return {"AAPL": {date.fromisoformat(d): D(c) for d, c in closes.items()}}


def test_drawdown_gate_uses_the_peak_and_ignores_deposits(session, kit):
    api.record_cash_movement(session, "DEPOSIT", "1000", date(2024, 1, 2), actor="t")
    kit.buy(session, "B", "2024-01-02", "AAPL", 10, 100)
    closes = {"2024-01-02": "100", "2024-01-03": "120", "2024-01-04": "96", "2024-01-05": "95"}
    # equity 1000 -> 1200 (peak) -> 960: 20% below the peak -> fails
    result = _json_round_trip(gates.drawdown_gate(session, RISK, _prices(closes), as_of=date(2024, 1, 4)))
    assert not result.passed and result.details["drawdown"] == "0.200000" and result.details["peak_day"] == "2024-01-03"
    assert "risk.kill_switch_drawdown = 20%" in result.reasons[0]
    # a deposit the next day does not hide the loss: 95 x 10 + 500 = 1450 equity, still 20.8% below the peak
    api.record_cash_movement(session, "DEPOSIT", "500", date(2024, 1, 5), actor="t")
    result = gates.drawdown_gate(session, RISK, _prices(closes), as_of=date(2024, 1, 5))
    assert not result.passed and result.details["drawdown"] == "0.208333"
    # and a withdrawal is not a loss: AAPL back to 120 and 400 taken out -> equity 100 + 1200 = 1300;
    # the session's return is (1300 + 400) / 1450, the index 1.2 x 0.8 x 950/960 x 1700/1450 = 1.11379,
    # 7.18% below the peak of 1.2 (a naive equity drawdown from the 1450 peak would say 10.3%)
    api.record_cash_movement(session, "WITHDRAWAL", "400", date(2024, 1, 8), actor="t")
    closes["2024-01-08"] = "120"
    result = gates.drawdown_gate(session, RISK, _prices(closes), as_of=date(2024, 1, 8))
    assert result.passed and result.details["drawdown"] == "0.071839" and result.details["current_equity"] == "1300.00000000"


def test_drawdown_gate_warns_and_reports_missing_prices(session, kit):
    api.record_cash_movement(session, "DEPOSIT", "1000", date(2024, 1, 2), actor="t")
    kit.buy(session, "B", "2024-01-02", "AAPL", 10, 100)
    result = gates.drawdown_gate(session, RISK, _prices({"2024-01-02": "100", "2024-01-03": "89"}), as_of=date(2024, 1, 3))
    assert result.passed and result.details["warning"] is True  # 11% down: warn, trade on
    result = gates.drawdown_gate(session, RISK, {"MSFT": {date(2024, 1, 2): D(1)}}, as_of=date(2024, 1, 3))
    assert not result.passed and "no price for AAPL" in result.reasons[0]
    assert gates.drawdown_gate(session, RISK, {}, as_of=date(2024, 1, 1)).passed  # before any history


def test_confirmations_gate(session, kit):
    assert gates.confirmations_gate(session, before=date(2024, 1, 4)).passed
    kit.ticket(session, "TICKET-20240103", "2024-01-03", [("BUY", "AAPL", "1000", "10", "100"), ("BUY", "MSFT", "1000", "5", "200")])
    result = _json_round_trip(gates.confirmations_gate(session, before=date(2024, 1, 4)))
    assert not result.passed and len(result.details["missing"]) == 2
    assert result.reasons[0].startswith("TICKET-20240103 line 1 (BUY AAPL ~1,000.00) has no confirmation")
    assert gates.confirmations_gate(session, before=date(2024, 1, 3)).passed  # the ticket of the day itself is not "previous"
    kit.fund(session)
    api.record_fill(session, "TICKET-20240103", 1, "executed", units="6", price="100", filled_at=kit.at("2024-01-03"), actor="t")
    api.record_fill(session, "TICKET-20240103", 2, "partial", units="5", price="200", filled_at=kit.at("2024-01-03"), actor="t")
    result = gates.confirmations_gate(session, before=date(2024, 1, 4))
    assert not result.passed and result.details["missing"] == []
    assert "confirmed EXECUTED but filled 600.00 of 1000.00: was it partial?" in result.reasons[0]
    assert "confirmed PARTIAL but filled 1000.00 of 1000.00" in result.reasons[1]
    # a HOLD the next day does not clear an unconfirmed TRADE ticket before it
    api.record_ticket(session, "TICKET-20240104", date(2024, 1, 4), "HOLD", "v")
    assert not gates.confirmations_gate(session, before=date(2024, 1, 5)).passed


def test_reconciliation_gate(session):
    tol = Reconciliation()
    result = gates.reconciliation_gate(session, tol)
    assert not result.passed and "no broker snapshot recorded" in result.reasons[0]
    taken = datetime(2024, 1, 3, 21, 0, tzinfo=timezone.utc)
    api.record_cash_movement(session, "DEPOSIT", "1000", date(2024, 1, 2), actor="t")
    api.record_snapshot(session, taken, "1000", {}, actor="t")
    assert gates.reconciliation_gate(session, tol, now=taken + timedelta(days=1)).passed
    result = _json_round_trip(gates.reconciliation_gate(session, tol, now=taken + timedelta(days=9)))
    assert not result.passed and result.details["differences"][0]["kind"] == "STALE_SNAPSHOT"


def test_gate_results_go_to_the_event_log(session):
    result = gates.kill_switch_gate(session)
    event = gates.record_gate_result(session, result, actor="pipeline", run_id="run-1", ticket_id="TICKET-20240103")
    assert event.payload == {**result.to_dict(), "run_id": "run-1"} and event.ticket_id == "TICKET-20240103"
