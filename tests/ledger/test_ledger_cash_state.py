"""Cash movements, snapshots, run state and kill switch."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest

from tradeops.errors import LedgerError, ValidationError
from tradeops.ledger import api

DAY = date(2024, 1, 2)


def test_cash_kinds_and_signs(session):
    for kind, amount in [("DEPOSIT", "1000"), ("WITHDRAWAL", "100"), ("DIVIDEND", "2.50"), ("FEE", "1.25"), ("INTEREST", "-0.10"), ("FX", "3.00")]:
        api.record_cash_movement(session, kind, amount, DAY, symbol="AAPL" if kind == "DIVIDEND" else None, actor="t")
    # 1000 - 100 + 2.50 - 1.25 - 0.10 + 3.00
    assert api.compute_cash(session).amount == D("904.15")
    assert len(api.events(session, kind="CASH_RECORDED")) == 6


@pytest.mark.parametrize(
    "kind, amount, change, message",
    [
        ("FEE", "-1", {}, "field 'amount'.*positive"),
        ("DIVIDEND", "1", {}, "field 'symbol'"),
        ("DEPOSIT", "1", {"currency": "GBP"}, "field 'currency'.*GBP.*USD"),
        ("INTEREST", "0", {}, "field 'amount'.*zero"),
        ("BONUS", "1", {}, "field 'kind'"),
    ],
)
def test_cash_input_checks(session, kind, amount, change, message):
    with pytest.raises(ValidationError, match=message):
        api.record_cash_movement(session, kind, amount, DAY, actor="t", **change)
    assert api.compute_cash(session).amount == 0


def test_cash_reversal(session):
    api.record_cash_movement(session, "DEPOSIT", "20", DAY, actor="t")  # a fee the cash cannot cover is refused (test_ledger_cash_truth)
    fee = api.record_cash_movement(session, "FEE", "9.99", DAY, actor="t")
    reversal = api.reverse_cash_movement(session, fee.id, "charged in error", actor="t")
    assert (reversal.amount, reversal.reverses_id) == (D("9.99"), fee.id)
    assert api.compute_cash(session).amount == 20
    with pytest.raises(LedgerError, match="already reversed"):
        api.reverse_cash_movement(session, fee.id, "again", actor="t")


def test_as_of_uses_exchange_dates(session, kit):
    api.record_cash_movement(session, "DEPOSIT", "100", date(2024, 1, 2), actor="t")
    api.record_cash_movement(session, "DEPOSIT", "50", date(2024, 1, 3), actor="t")
    kit.buy(session, "B", "2024-01-03", "AAPL", 1, 10, clock="15:00")
    # 2024-01-03 04:00 UTC is still 2 January in New York: only the first deposit
    assert api.compute_cash(session, as_of=datetime(2024, 1, 3, 4, 0, tzinfo=timezone.utc)).amount == 100
    assert api.compute_cash(session, as_of=kit.at("2024-01-03", "14:59")).amount == 150
    assert api.compute_positions(session, as_of=kit.at("2024-01-03", "14:59")) == {}
    assert api.compute_positions(session, as_of=kit.at("2024-01-03", "15:00")) == {"AAPL": D(1)}


def test_snapshot(session, kit):
    snap = api.record_snapshot(session, kit.at("2024-01-03", "21:00"), "100.50", {"aapl": "2", "MSFT": "0"}, actor="t")
    assert [(p.symbol, p.units) for p in snap.positions] == [("AAPL", D(2))]  # zero lines are dropped
    assert api.latest_snapshot(session).id == snap.id
    with pytest.raises(ValidationError, match="units of AAPL.*negative"):
        api.record_snapshot(session, kit.at("2024-01-03"), "1", {"AAPL": "-1"}, actor="t")
    with pytest.raises(ValidationError, match="field 'cash'"):
        api.record_snapshot(session, kit.at("2024-01-03"), "-1", {}, actor="t")


def test_state_and_kill_switch(session):
    assert api.current_state(session).value == "RUN" and api.kill_switch(session).value == "OFF"
    api.set_state(session, "SAFE_MODE", "data provider failing", actor="pipeline")
    api.set_kill_switch(session, True, "broker outage", actor="ann")
    state, switch = api.current_state(session), api.kill_switch(session)
    assert (state.value, state.reason, state.actor) == ("SAFE_MODE", "data provider failing", "pipeline")
    assert (switch.value, switch.reason, switch.actor) == ("ON", "broker outage", "ann")
    api.set_kill_switch(session, False, "broker back", actor="ann")
    assert api.kill_switch(session).value == "OFF"
    assert [e.kind for e in api.events(session)][:3] == ["KILL_SWITCH_OFF", "KILL_SWITCH_ON", "STATE_CHANGED"]
    assert api.events(session, kind="STATE_CHANGED")[0].payload["previous"] == "RUN"
    with pytest.raises(ValidationError, match="state 'PANIC'"):
        api.set_state(session, "PANIC", "?", actor="t")
    with pytest.raises(ValidationError, match="reason"):
        api.set_kill_switch(session, True, "", actor="t")


def test_accounts_are_separate_ledgers(session, kit):
    api.create_account(session, "isa", actor="t")
    api.record_cash_movement(session, "DEPOSIT", "10", DAY, account="isa", actor="t")
    kit.buy(session, "T1", "2024-01-03", "AAPL", 1, 5, account="isa")
    assert api.compute_positions(session) == {} and api.compute_cash(session).amount == 0
    assert api.compute_positions(session, account="isa") == {"AAPL": D(1)}
    with pytest.raises(LedgerError, match="account 'nope' is unknown"):
        api.compute_cash(session, account="nope")
