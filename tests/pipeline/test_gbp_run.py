"""A GBP workspace through the real daily run: the ledger's account in pounds, a ticket sized in
pounds, the executor's fills booked at the ticket's rate, and the checked GBPUSD rates cached in
the ledger for the next morning.  (The two halves of issue #12 joined: FX data/sizing and the ledger.)"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
import yaml

from tradeops.clock import FixedClock
from tradeops.daily import run_daily
from tradeops.demo import prepare_workspace, start_ledger
from tradeops.errors import LedgerError
from tradeops.ledger import api, db
from tradeops.ledger.inputs import FillInput
from tradeops.stages import run_time

FIRST = date(2025, 1, 6)  # a Monday: the week's rebalance, a TRADE ticket
SECOND = date(2025, 1, 7)

pytestmark = pytest.mark.slow


@pytest.fixture
def gbp(tmp_path, monkeypatch):
    ws = prepare_workspace(tmp_path / "ws")
    policy = yaml.safe_load(ws.policy_path.read_text())
    policy["account"].update(account_currency="GBP", fx_fee_bps=50)
    ws.policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
    monkeypatch.setenv("TRADEOPS_DB_URL", ws.default_db_url)
    start_ledger(ws, FIRST)
    return ws


def run_on_schedule(ws, day):
    return run_daily(ws, day, clock=FixedClock(run_time(ws.policy(), day)))


def test_a_gbp_account_runs_books_and_caches_its_rates(gbp):
    engine = db.open_at_head(gbp.db_url())
    with db.transaction(engine) as s:
        assert api.get_account(s).currency == "GBP"
        assert api.compute_cash(s).amount == Decimal("10000.00")  # the demo's starting cash, in pounds

    first = run_on_schedule(gbp, FIRST)
    assert first.ticket_kind == "TRADE", first.message
    ticket = json.loads(next((first.run_dir).glob("TICKET-*.json")).read_text())
    rate = Decimal(ticket["fx_rate"])
    assert ticket["fx_pair"] == "GBPUSD" and Decimal("0.9") < rate < Decimal("2")
    buys = [ln for ln in ticket["lines"] if ln["side"] == "BUY"]
    assert buys and all(ln["amount_currency"] == "GBP" and ln["instrument_currency"] == "USD" and Decimal(ln["fx_rate"]) == rate for ln in buys)

    # the checked rates of the days up to the decision session are in the ledger for tomorrow's marks
    with db.transaction(engine) as s:
        cached = api.load_fx_rates(s, "GBP", "USD")
    decision = date.fromisoformat(ticket["decision_session"])
    assert cached[decision] == rate and all(d <= decision for d in cached)

    # the executor fills every line at its reference price; the ledger books each at the ticket's rate
    with db.transaction(engine) as s:
        cash_before = api.compute_cash(s).amount
        rows = [
            FillInput(
                line_no=ln["seq"],
                status="EXECUTED",
                units=Decimal(ln["units"]),
                price=Decimal(ln["reference_price"]),
                fees=Decimal(ln["fx_fee"]),
                filled_at=first_open(gbp) + timedelta(minutes=10 + ln["seq"]),
                where=f"line {ln['seq']}",
            )
            for ln in ticket["lines"]
        ]
        fills = api.confirm_ticket(s, first.ticket_id, rows, actor="executor")
        assert {f.fx_rate for f in fills} == {rate} and {f.currency for f in fills} == {"GBP"}
        for f in fills:  # booked in pounds: units x USD price / rate, to the penny
            assert f.account_amount == (f.units * f.price / rate).quantize(Decimal("0.01"))
        effect = sum(((f.account_amount - f.fees) if f.side == "SELL" else -(f.account_amount + f.fees) for f in fills), Decimal(0))
    with db.transaction(engine) as s:
        cash_after = api.compute_cash(s).amount
    assert cash_after == cash_before + effect >= 0

    second = run_on_schedule(gbp, SECOND)
    assert second.ticket_kind in ("HOLD", "TRADE", "NO-TRADE")
    account = json.loads((second.run_dir / "account.json").read_text())
    assert account["currency"] == "GBP" and Decimal(account["cash"]) == cash_after
    engine.dispose()


def first_open(ws):
    from tradeops.calendar import get_calendar

    return get_calendar(ws.policy().schedule.exchange).market_open(FIRST)


def test_an_account_that_holds_money_keeps_its_currency(gbp):
    engine = db.open_at_head(gbp.db_url())
    with db.transaction(engine) as s, pytest.raises(LedgerError, match="is in GBP and already holds cash movements"):
        api.set_account_currency(s, "USD", actor="owner")
    engine.dispose()
