"""The page never lets the ledger go wrong on cash, and a stray status can be taken back.

The issue's case (the tight-cash demo of :mod:`tradeops.dashboard.demo`):
$1,104.40 of cash before a ticket with two SELLs (AAPL, KO) and two BUYs
(AVGO $1,333.33, MSFT $1,000.00).  The AAPL sell is partly filled and the KO
sell not executed; the executor then enters every BUY in full.  Before, the
ledger took all of it and ended below zero; now the ledger refuses the BUY
that does not fit, the page says so next to the line with what the cash
allows, and the proposed partial is accepted.  Every page is pinned to
DEMO_NOW (conftest).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN
from decimal import Decimal as D
from html import unescape

import pytest

from tradeops.dashboard import build_app
from tradeops.dashboard.demo import create_demo
from tradeops.ledger import api, db

CENT = D("0.01")


@pytest.fixture
def short(db_url, tmp_path, clock, kit):
    ws, url, ticket_id = create_demo(tmp_path / "ws", db_url, session=kit.session, clock=clock, short=True)
    engine = db.make_engine(url)
    page = build_app(ws, engine=engine, actor="test", clock=clock)
    yield page, engine, ticket_id
    engine.dispose()


def _cash(engine) -> D:
    with db.transaction(engine) as s:
        return api.compute_cash(s).amount


def _line_units(page, n: int) -> D:
    return page.ticket.ticket.line(n).approx_units


def test_a_short_sell_shrinks_the_buy_that_does_not_fit(short, kit):
    page, engine, ticket_id = short
    assert _cash(engine) == D("1104.40")
    t = kit.fill_time(page)
    aapl, avgo, msft = page.ticket.ticket.line(1), page.ticket.ticket.line(3), page.ticket.ticket.line(4)
    # the SELLs first: AAPL partly (3 of 5), KO not executed
    kit.enter(page.ticket.forms[1], "partial", units="3", price="141.34", time=t)
    kit.enter(page.ticket.forms[2], "not_executed", reason="price outside band")
    # live, before Save: the MSFT card already says the cash will not cover it
    after_sells = D("1104.40") + (3 * D("141.34")).quantize(CENT)
    left_for_msft = after_sells - avgo.value
    assert f"${left_for_msft:,.2f}" in unescape(page.ticket.forms[4].budget.value)  # AVGO not typed yet: as the ticket plans
    assert page.ticket.forms[4].use_proposal.layout.display != "none"
    assert "Line 1 (SELL AAPL) was only partly filled" in unescape(page.ticket.plan_box.value)
    assert page.ticket.forms[3].proposal is None  # AVGO fits
    assert page.ticket.submit().ok
    assert _cash(engine) == after_sells
    # every BUY in full, as the ticket planned: what the ledger used to accept
    kit.enter(page.ticket.forms[3], "executed", units=str(avgo.approx_units), price=str(avgo.reference_price), time=t)
    kit.enter(page.ticket.forms[4], "executed", units=str(msft.approx_units), price=str(msft.reference_price), time=t)
    would_be = (
        after_sells
        - (avgo.approx_units * avgo.reference_price).quantize(CENT, ROUND_HALF_EVEN)
        - (msft.approx_units * msft.reference_price).quantize(CENT, ROUND_HALF_EVEN)
    )
    assert would_be < 0  # the negative ledger cash
    refused = page.ticket.submit()
    assert not refused.ok
    message = unescape(page.ticket.forms[4].errors["units"].value)
    assert message.count("line 4 of") == 1 and f"needs {msft.value.quantize(CENT)}" in message and "field" not in message
    avgo_cost = (avgo.approx_units * avgo.reference_price).quantize(CENT, ROUND_HALF_EVEN)
    left_for_msft = after_sells - avgo_cost  # AVGO, in the same submission, goes first
    assert f"the cash left after the lines saved before it is {left_for_msft}" in message
    assert _cash(engine) == after_sells  # nothing of the submission written: cash never below zero
    assert page.ticket.forms[3].units.value == str(avgo.approx_units)  # nothing typed is lost
    # the proposal: the units the cash allows after AVGO, as partial
    page.ticket.forms[4].apply_proposal()
    allowed = ((left_for_msft) / msft.reference_price).quantize(D("0.000001"), ROUND_DOWN)
    while (allowed * msft.reference_price).quantize(CENT, ROUND_HALF_EVEN) > left_for_msft:
        allowed -= D("0.000001")
    assert page.ticket.forms[4].status.value == "partial" and D(page.ticket.forms[4].units.value) == allowed
    assert page.ticket.submit().ok
    cash = _cash(engine)
    assert 0 <= cash == left_for_msft - (allowed * msft.reference_price).quantize(CENT, ROUND_HALF_EVEN)
    assert {n: f.status for n, f in kit.fills(engine, ticket_id).items()} == {1: "PARTIAL", 2: "NOT_EXECUTED", 3: "EXECUTED", 4: "PARTIAL"}
    assert aapl.symbol == "AAPL"


def test_a_stray_status_is_cleared_without_a_reload(page, kit, demo):
    t = kit.fill_time(page)
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141.34", time=t)
    page.ticket.forms[3].status.value = "executed"  # a stray click on another line
    assert not page.ticket.submit().ok  # its empty fields block the save
    form3 = page.ticket.forms[3]
    form3.clear_line()
    assert form3.status.value is None and form3.errors["units"].value == ""
    assert page.ticket.forms[1].units.value == "5"  # the other line keeps what was typed
    assert page.ticket.submit().ok
    assert page.ticket.forms[3] is form3  # the open cards stay as they were: no rebuild, no jump
    assert set(page.ticket.forms) == {2, 3}
    assert kit.fills(demo.engine, demo.ticket_id)[1].status == "EXECUTED"


def test_free_text_is_limited_and_bidi_controls_are_removed(page, kit, demo):
    t = kit.fill_time(page)
    form = page.ticket.forms[1]
    kit.enter(form, "executed", units="5", price="141.34", time=t, notes="x" * 10_240)
    assert "10,240 / 500" in form.counters["notes"].value
    assert not page.ticket.submit().ok
    assert "Too long: 10,240 characters, at most 500" in unescape(form.errors["notes"].value)
    form.notes.value = "paid \u202eevil\u202c ok"
    assert page.ticket.submit().ok
    assert kit.fills(demo.engine, demo.ticket_id)[1].notes == "paid evil ok"


def test_the_ticket_says_which_buys_to_shrink_or_skip_if_a_sell_is_not_executed(kit):
    """The same rule, on the ticket: for each SELL the BUYs need, what to do if it is not executed."""
    from tradeops.config import Policy
    from tradeops.dashboard.demo import SHORT_TODAY, _line, trade_ticket

    held = {"AAPL": D(5), "KO": D(4)}
    lines = [_line(side, sym, value, price, held.get(sym, D(0))) for side, sym, value, price in SHORT_TODAY]
    cash = D("1104.40")
    ticket = trade_ticket(kit.session, lines, cash, D("3000"), Policy())
    text = "\n".join(ticket.if_blocked)
    # without AAPL's 5 x 141.34 = 706.70: 1104.40 + 914.00 (KO) - 1333.33 (AVGO) = 685.07 left for MSFT's 1000.00
    left = cash + 4 * D("228.50") - D("1333.33")
    assert f"If line 1 (SELL AAPL) is not executed: buy only about ${left:,.2f} on line 4 (MSFT)." in text
    # without KO's 914.00: 1104.40 + 706.70 - 1333.33 = 477.77 for MSFT
    left = cash + 5 * D("141.34") - D("1333.33")
    assert f"If line 2 (SELL KO) is not executed: buy only about ${left:,.2f} on line 4 (MSFT)." in text
    assert "SELL" in ticket.to_markdown().split("## If blocked")[1]


def test_a_deposit_dated_after_the_session_does_not_pay_for_its_buys(short, kit):
    """The page's live budget and the ledger's refusal use one rule: the lowest cash from the session on.

    Worked by hand: $1,104.40 of cash before the ticket (session 2026-11-30).  A deposit of $2,000.00
    dated 2026-12-01, the day after, makes today's cash $3,104.40, but a BUY filled on 2026-11-30 must
    leave cash >= 0 at the end of 2026-11-30 too, where the cash is still $1,104.40.  Both SELLs are not
    executed, so AVGO (1333.33 / 294.81 = 4.522676 units, $1,333.33) may spend $1,104.40, not $3,104.40.
    What the cash allows: 1104.40 / 294.81 = 3.7461415..., rounded down to micro-units 3.746141, which
    costs 3.746141 x 294.81 = 1,104.39982821, booked as $1,104.40: it fits, and leaves $0.00 that day.
    """
    page, engine, ticket_id = short
    day_after = kit.session + timedelta(days=1)
    with db.transaction(engine) as s:
        api.record_cash_movement(s, "DEPOSIT", D("2000.00"), day_after, notes="arrives the day after", actor="test")
        assert api.compute_cash(s).amount == D("3104.40")  # today's cash counts the deposit
        assert api.lowest_cash_from(s, kit.session).amount == D("1104.40")  # the session's BUYs cannot use it
        assert api.lowest_cash_from(s, day_after).amount == D("3104.40")
    page.refresh()
    t = kit.fill_time(page)
    kit.enter(page.ticket.forms[1], "not_executed", reason="price outside band")
    kit.enter(page.ticket.forms[2], "not_executed", reason="price outside band")
    assert page.ticket.submit().ok
    avgo = page.ticket.ticket.line(3)
    assert (avgo.approx_units, avgo.value) == (D("4.522676"), D("1333.33"))
    form = page.ticket.forms[3]
    budget = unescape(form.budget.value)
    assert "after the lines above: $1,104.40." in budget and "$3,104.40" not in budget
    assert form.proposal is not None and form.proposal.units == D("3.746141")
    # the executor enters AVGO in full anyway: the ledger refuses it with the same figures
    kit.enter(form, "executed", units=str(avgo.approx_units), price=str(avgo.reference_price), time=t)
    assert not page.ticket.submit().ok
    message = unescape(form.errors["units"].value)
    assert "the cash left after the lines saved before it is 1104.40" in message
    assert "the cash allows at most 3.746141 units at 294.81" in message
    assert _cash(engine) == D("3104.40")  # nothing written
    form.apply_proposal()
    assert form.status.value == "partial" and form.units.value == "3.746141"
    assert page.ticket.submit().ok
    with db.transaction(engine) as s:
        assert api.lowest_cash_from(s, kit.session).amount == D("0.00")  # 1,104.40 - 1,104.40 at the end of the session
        assert api.compute_cash(s).amount == D("2000.00")
