"""Leaving HALT: only explicitly, with a reason, with the kill switch off; the drawdown peak restarts."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest

from tradeops.clock import FixedClock
from tradeops.config import Risk
from tradeops.errors import LedgerError, ValidationError
from tradeops.ledger import api, gates


def test_resume_needs_halt_a_reason_and_the_switch_off(session):
    with pytest.raises(LedgerError, match="not HALT: there is nothing to resume"):
        api.resume(session, "why not", actor="owner")
    api.set_state(session, "HALT", "drawdown 23%", actor="pipeline")
    api.set_kill_switch(session, True, "holiday", actor="owner")
    with pytest.raises(LedgerError, match="kill switch is ON"):
        api.resume(session, "back", actor="owner")
    api.set_kill_switch(session, False, "back from holiday", actor="owner")
    with pytest.raises(ValidationError, match="reason"):
        api.resume(session, "  ", actor="owner")
    assert gates.kill_switch_gate(session).passed is False  # HALT still blocks
    api.resume(session, "reviewed the losses; strategy unchanged", actor="owner")
    assert api.current_state(session).value == "RUN"
    assert gates.kill_switch_gate(session).passed
    assert [e.payload["reason"] for e in api.events(session, kind="RESUMED")] == ["reviewed the losses; strategy unchanged"]


def test_drawdown_peak_restarts_at_the_resume(session):
    api.record_cash_movement(session, "DEPOSIT", "1000", date(2024, 1, 2), actor="t")
    api.record_cash_movement(session, "FEE", "300", date(2024, 1, 4), actor="t")  # a 30% loss
    risk = Risk()
    assert not gates.drawdown_gate(session, risk, {}, as_of=date(2024, 1, 5)).passed
    api.set_state(session, "HALT", "drawdown", actor="pipeline")
    resumed_at = FixedClock(datetime(2024, 1, 5, 21, 0, tzinfo=timezone.utc))  # 16:00 in New York: the session of 2024-01-05
    api.resume(session, "reviewed", actor="owner", clock=resumed_at)
    assert api.last_resume(session) == date(2024, 1, 5)
    g = gates.drawdown_gate(session, risk, {}, as_of=date(2024, 1, 8))
    assert g.passed and D(g.details["drawdown"]) == 0
    assert (g.details["peak_day"], D(g.details["peak_equity"])) == ("2024-01-05", D(700))
