"""The confirmation page for a GBP account: pounds to enter, dollar prices, the fill's FX rate.

The ledger: a GBP account with a £1,000.00 deposit and nothing else.  The open TRADE ticket for
DEMO_SESSION (built by the real ticket builder, recorded as the pipeline records it) was sized at
GBPUSD 1.2500 with a conversion fee of 50 bps:

    line 1  BUY AAPL £600.00 at $125.00 (£100.00 a unit: 6 units),    fee 600.00 x 0.005 = £3.00
    line 2  BUY MSFT £390.00 at $250.00 (£200.00 a unit: 1.95 units), fee 390.00 x 0.005 = £1.95

Figures worked out by hand:

1. Nothing typed: MSFT may spend what AAPL leaves, fee included: 1,000.00 - 600.00 - 3.00 = £397.00;
   it needs 390.00 + 1.95 = £391.95, so it fits.
2. AAPL typed: 6 units at $126.25 at the rate eToro used, 1.2400 USD per pound (not the ticket's),
   fees left empty.  In pounds: 6 x 126.25 / 1.24 = 757.50 / 1.24 = 610.887... -> £610.89; the
   empty fees mean the conversion fee, 610.89 x 0.005 = 3.05445 -> £3.06 (rounded up).  Left for
   MSFT: 1,000.00 - 610.89 - 3.06 = £386.05 < £391.95: MSFT must shrink.  The most micro-units of
   MSFT (£200.00 a unit) whose pound value, rounded half-even to the penny, plus its fee rounded
   up, is within 386.05: 1.920625 units = £384.125 -> £384.12, fee 384.12 x 0.005 = 1.9206 ->
   £1.93, total £386.05 (fits); 1.920626 units = £384.1252 -> £384.13, + £1.93 = £386.06 (does
   not).  384.125 is within the 3% band of 390.00 (>= 378.30): "executed", shrunk.  Shown as
   £384.12 (half-even) and in dollars 384.125 x 1.25 = $480.15625 -> $480.16.
3. Saved (Save), the ledger books AAPL at 1.2400: account amount £610.89, fees £3.06, cash
   1,000.00 - 610.89 - 3.06 = £386.05, which the MSFT card now starts from.
4. A MSFT rate of 1.4000 is 12% from the ticket's 1.2500 (more than 5%): explain it or fix it.
   2.1 MSFT at $250.00 is $525.00 = £420.00 at 1.2500, more than £390.00 x 1.03 = £401.70.
"""

from __future__ import annotations

from decimal import Decimal as D
from html import unescape

import pytest

from tradeops.calendar import get_calendar
from tradeops.config import Workspace
from tradeops.dashboard import build_app
from tradeops.dashboard.demo import record, universe
from tradeops.dashboard.validation import LineEntry, check_confirmation
from tradeops.ledger import api, db
from tradeops.risk import Decision, TradeLine
from tradeops.tickets import build_ticket

RATE, FEE_BPS = D("1.2500"), D("50")


def _decision(session, cash):
    trades = (
        TradeLine("BUY", "AAPL", D("600.00"), D("6"), D("100.00000000"), instrument_price=D("125.00")),
        TradeLine("BUY", "MSFT", D("390.00"), D("1.95"), D("200.00000000"), instrument_price=D("250.00")),
    )
    fees = D("3.00") + D("1.95")
    return Decision(
        session=session,
        kind="TRADE",
        rebalance=True,
        strategy="momentum",
        account_currency="GBP",
        equity=cash,
        cash_before=cash,
        cash_after=cash - D("990.00") - fees,
        drawdown=D(0),
        trades=trades,
        blocked=(),
        suppressed=(),
        notes=(),
        rules=(),
        targets=(),
        risk_off={"applied": False, "reasons": []},
        top_ranks=(),
        changes={"entering": ["AAPL", "MSFT"], "leaving": [], "resized": []},
        signal_note="demo ticket",
        fx={"currency": "GBP", "pair": "GBPUSD", "rate": str(RATE), "date": session.isoformat(), "fee_bps": str(FEE_BPS), "fees": str(fees)},
    )


@pytest.fixture
def gbp(db_url, tmp_path, clock, kit):
    ws = Workspace.at(tmp_path / "ws").ensure()
    ws.policy_path.write_text("account:\n  account_currency: GBP\n  fx_fee_bps: 50\n")
    policy = ws.policy()
    cal = get_calendar(policy.schedule.exchange)
    engine = db.init_db(db_url)
    decision_session = cal.previous_session(kit.session)
    with db.transaction(engine, clock) as s:
        api.set_account_currency(s, "GBP", actor="test")
        api.record_cash_movement(s, "DEPOSIT", D("1000.00"), cal.session_offset(kit.session, -3), currency="GBP", actor="test")
        window = cal.execution_window(kit.session, policy.execution.window_start_minutes, policy.execution.window_end_minutes)
        ticket = build_ticket(_decision(decision_session, D("1000.00")), [], window, policy, universe(), "c", "c", "d", decision_session)
        ticket_id = record(s, ticket)
    page = build_app(ws, engine=engine, actor="test", clock=clock)
    yield page, engine, ticket_id
    engine.dispose()


def _text(widget) -> str:
    return unescape(widget.value)


def test_the_gbp_page_shows_pounds_with_dollars_beside(gbp):
    page, _engine, _tid = gbp
    line = page.ticket.ticket.line(1)
    assert (line.currency, line.fx_rate, line.fx_fee, line.value, line.reference_price) == ("GBP", RATE, D("3.00"), D("600.00"), D("125.00"))
    heading = unescape(page.ticket.forms[1].widget.children[0].value)
    assert "£600.00 ≈ $750.00 at 1.2500 USD per GBP (about 6 shares)" in heading  # 600.00 x 1.25 = 750.00
    assert "reference price $125.00" in heading and "conversion fee about £3.00" in heading
    assert page.ticket.forms[1].fx_rate.value == "1.2500"  # prefilled with the ticket's rate
    # 1. nothing typed: MSFT's cash is what AAPL leaves, its conversion fee counted
    assert "Cash for this BUY, after the lines above (the conversion fee counted): £397.00. It covers the order." in _text(page.ticket.forms[2].budget)


def test_a_fill_at_another_rate_shrinks_the_next_buy_in_pounds(gbp, kit):
    page, engine, tid = gbp
    t = kit.fill_time(page)
    kit.enter(page.ticket.forms[1], "executed", units="6", price="126.25", time=t, fx_rate="1.2400")
    budget = _text(page.ticket.forms[2].budget)
    # 2. 1,000.00 - 610.89 - 3.06 = 386.05; MSFT shrinks to 1.920625 units = £384.12 ($480.16)
    assert "after the lines above (the conversion fee counted): £386.05." in budget
    assert "buy only £384.12 (about 1.920625 shares, $480.16) instead of £390.00" in budget
    assert page.ticket.forms[2].proposal.units == D("1.920625") and page.ticket.forms[2].proposal.status == "EXECUTED"
    # 3. saved: booked at the typed rate, the fee defaulted to the conversion fee
    outcome = page.ticket.submit()
    assert outcome.ok, outcome.errors
    fill = kit.fills(engine, tid)[1]
    assert (fill.fx_rate, fill.account_amount, fill.fees, fill.currency, fill.amount) == (D("1.24"), D("610.89"), D("3.06"), "GBP", D("757.50"))
    with db.transaction(engine) as s:
        assert api.compute_cash(s).amount == D("386.05")
    assert "after the lines above (the conversion fee counted): £386.05." in _text(page.ticket.forms[2].budget)
    assert "6 shares at $126.25 = £610.89 at 1.2400 USD per GBP, fees £3.06" in unescape(page.ticket.cards.children[1].value)


def test_validation_compares_a_gbp_buy_in_pounds_and_checks_the_rate(gbp, kit):
    page, _engine, _tid = gbp
    ticket = page.ticket.ticket
    t = kit.fill_time(page)
    now = kit.now
    # 4. a rate far from the ticket's needs an explanation; so does a BUY worth more than the band allows, in pounds
    got = check_confirmation({2: LineEntry("executed", "2.1", "250.00", "", t, fx_rate="1.4000")}, ticket, {}, now)
    assert "1.4000 USD per GBP is more than 5% from the ticket's rate 1.2500" in got.errors["2.fx_rate"]
    got = check_confirmation({2: LineEntry("executed", "2.1", "250.00", "", t)}, ticket, {}, now)
    assert got.errors["2.units"].startswith(
        "2.1 shares × $250.00 = $525.00 = £420.00 at 1.2500 is more than this line asks for (£390.00, at most £401.70 with the band)."
    )
    # explained, it is accepted at the ticket's rate with the conversion fee (420.00 x 0.005 = £2.10)
    got = check_confirmation({2: LineEntry("executed", "2.1", "250.00", "", t, explanation="eToro filled more")}, ticket, {}, now)
    assert got.ok and (got.values[0].fx_rate, got.values[0].fees) == (RATE, D("2.10"))
    bad = check_confirmation({2: LineEntry("executed", "1.95", "250.00", "", t, fx_rate="abc")}, ticket, {}, now)
    assert "is not a number" in bad.errors["2.fx_rate"]


def test_a_usd_line_has_no_rate_field_and_no_rate(page, kit):
    form = page.ticket.forms[2]
    assert form.fx_rate.value == "" and not page.ticket.ticket.line(2).converts
    got = check_confirmation({2: LineEntry("executed", "4.5", "294.81", "", kit.fill_time(page))}, page.ticket.ticket, {}, kit.now)
    assert got.ok and got.values[0].fx_rate is None and got.values[0].fees == 0
