"""Cash truth: the ledger refuses a fill that would take cash below zero (or below a floor).

The issue's case first: a partial SELL and a SELL not executed left too little
cash, every BUY was saved anyway, and the ledger ended at -$805.24.  Then a
property test on both backends: whatever sequence of deposits, fills and
corrections is tried, what the ledger accepts never leaves its cash below the
floor, and it refuses exactly the fills the cash cannot cover.
"""

from __future__ import annotations

import itertools
import os
from datetime import datetime, time, timezone
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tradeops import cashplan
from tradeops.calendar import get_calendar
from tradeops.errors import LedgerError
from tradeops.ledger import api
from tradeops.ledger.inputs import parse_fill
from tradeops.ledger.models import Fill
from tradeops.ledger.money import booked_value

# The -$805.24 ticket: $200.00 cash; two SELLs, then two BUYs that need what the SELLs bring in.
START = D("200.00")
LINES = [
    ("SELL", "AMT", "1000.00", "10", "100"),
    ("SELL", "SO", "400.00", "8", "50"),
    ("BUY", "NVDA", "600.00", "6", "100"),
    ("BUY", "PEP", "905.24", "4", "226.31"),
]


@pytest.fixture
def short_ticket(session, kit):
    kit.fund(session, START + D("1000") + D("400"), "2023-12-27")
    kit.buy(session, "B1", "2023-12-28", "AMT", 10, 100)
    kit.buy(session, "B2", "2023-12-29", "SO", 8, 50)
    assert api.compute_cash(session).amount == START
    kit.ticket(session, "T", "2024-01-03", LINES)
    return session


def _fill(kit, line: int, status: str, units: str = "", price: str = "", reason: str = ""):
    raw = {"line": str(line), "status": status, "units": units, "price": price, "filled_at": kit.at("2024-01-03", "14:50"), "reason": reason}
    return parse_fill(raw, f"page line {line}", kit.UTC)


def test_the_805_24_case_is_refused_and_the_proposed_partial_is_accepted(short_ticket, kit, ledger_engine):
    s = short_ticket
    sells = [_fill(kit, 1, "partial", "5", "100"), _fill(kit, 2, "not_executed", reason="price outside band")]
    buys = [_fill(kit, 3, "executed", "6", "100"), _fill(kit, 4, "executed", "4", "226.31")]
    # what the ledger would have said before: 200 + 5 x 100 - 6 x 100 - 4 x 226.31
    assert START + 5 * D(100) - 6 * D(100) - 4 * D("226.31") == D("-805.24")
    api.confirm_ticket(s, "T", sells, actor="t")
    assert api.compute_cash(s).amount == D("700.00")
    with pytest.raises(LedgerError) as refused:
        api.confirm_ticket(s, "T", buys, actor="t")
    text = str(refused.value)
    # the line, what it needs, the cash after the lines already saved (700 - 600), what the cash allows
    assert "line 4 of T (BUY PEP) needs 905.24" in text and "the cash left after the lines saved before it is 100.00" in text
    allowed = (D(100) / D("226.31")).quantize(D("0.000001"), rounding="ROUND_DOWN")
    while booked_value(allowed, D("226.31")) > 100:
        allowed -= D("0.000001")
    assert f"at most {allowed} units" in text and text.endswith("(nothing was written)")
    assert api.compute_cash(s).amount == D("700.00") and api.compute_positions(s).get("NVDA") is None  # nothing of it written
    # the same rule, as the page and the paper fills apply it
    fit = cashplan.fit_buy(D(100), D(4), D("226.31"), D(0), D("905.24"), D("0.03"))
    assert (fit.status, fit.units, fit.reason) == ("PARTIAL", allowed, cashplan.PART_FOR_CASH)
    api.confirm_ticket(s, "T", [buys[0], _fill(kit, 4, "partial", str(allowed), "226.31")], actor="t")
    assert api.compute_cash(s).amount == D(100) - booked_value(allowed, D("226.31")) >= 0


def test_a_submission_applies_its_sells_before_its_buys(short_ticket, kit):
    s = short_ticket
    # the BUY is listed first, but the SELL in the same submission pays for it
    api.confirm_ticket(s, "T", [_fill(kit, 3, "executed", "6", "100"), _fill(kit, 1, "executed", "10", "100")], actor="t")
    assert api.compute_cash(s).amount == START + 1000 - 600


def test_a_correction_the_cash_cannot_cover_is_refused(short_ticket, kit):
    s = short_ticket
    api.confirm_ticket(s, "T", [_fill(kit, 1, "not_executed", reason="halted"), _fill(kit, 3, "executed", "2", "100")], actor="t")
    fill = api.line_statuses(s, "T")[2].fill
    with pytest.raises(LedgerError, match=r"line 3 of T \(BUY NVDA\) needs 400.00 \(6 x 100, less the 200.00 of the fill it corrects\) .* before it is 0.00"):
        api.correct_fill(s, fill.id, "typed 2 for 6", "executed", units="6", price="100", filled_at=kit.at("2024-01-03"), actor="t")
    api.correct_fill(s, fill.id, "typed 2 for 1", "partial", units="1", price="100", filled_at=kit.at("2024-01-03"), actor="t")
    assert api.compute_cash(s).amount == D(100)


def test_the_policy_floor_is_kept(short_ticket, kit):
    s = short_ticket
    with pytest.raises(LedgerError, match=r"keeping the cash buffer of 150.00"):
        api.confirm_ticket(s, "T", [_fill(kit, 3, "executed", "1", "100")], actor="t", min_cash=D(150))
    api.confirm_ticket(s, "T", [_fill(kit, 3, "partial", "0.5", "100")], actor="t", min_cash=D(150))
    assert api.compute_cash(s).amount == D(150)


# --------------------------------------------------------------------------- the property

SYMBOLS = ("AAPL", "XOM")
DAYS = get_calendar().sessions("2024-01-02", "2024-03-29")
_accounts = itertools.count()
price = st.decimals(min_value=D(1), max_value=D(500), places=2)
fees = st.decimals(min_value=D(0), max_value=D(5), places=2)
operation = st.one_of(
    st.tuples(st.just("buy"), st.sampled_from(SYMBOLS), st.decimals(min_value=D("0.01"), max_value=D(40), places=6), price, fees),
    st.tuples(st.just("sell"), st.sampled_from(SYMBOLS), st.decimals(min_value=D("0.1"), max_value=D(1), places=2), price, fees),
    st.tuples(st.just("correct"), st.integers(0, 30), st.decimals(min_value=D("0.1"), max_value=D(3), places=2), price, fees),
    st.tuples(st.just("deposit"), st.decimals(min_value=D("0.01"), max_value=D(3000), places=2)),
)


@given(ops=st.lists(operation, min_size=4, max_size=20), floor=st.sampled_from([D(0), D(0), D("50.00")]))
@settings(
    max_examples=int(os.environ.get("LEDGER_MODEL_EXAMPLES", "40")), deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_accepted_fills_never_take_cash_below_the_floor(session, ops, floor):
    account = f"cash-{next(_accounts)}"
    api.create_account(session, account, actor="h")
    fills: list[int] = []
    for n, op in enumerate(ops):
        day = DAYS[n]
        at = datetime.combine(day, time(15, 0), tzinfo=timezone.utc)
        before = api.compute_cash(session, account=account).amount
        held = api.compute_positions(session, account=account)
        savepoint = session.begin_nested()
        try:
            if op[0] == "deposit":
                api.record_cash_movement(session, "DEPOSIT", op[1], day, account=account, actor="h")
                savepoint.commit()
                continue
            if op[0] == "correct":
                if not fills:
                    savepoint.rollback()
                    continue
                original = session.get(Fill, fills[op[1] % len(fills)])
                units = (original.units * op[2]).quantize(D("0.000001"))
                if units <= 0 or (original.side == "SELL" and units > held.get(original.symbol, D(0)) + original.units):
                    savepoint.rollback()
                    continue
                undone = (-original.amount - original.fees) if original.side == "BUY" else (original.amount - original.fees)
                amount = booked_value(units, op[3])
                change = (-amount - op[4] if original.side == "BUY" else amount - op[4]) - undone
                call = lambda: api.correct_fill(  # noqa: E731
                    session, original.id, "property", "executed", units=units, price=op[3], fees=op[4], filled_at=original.filled_at,
                    override_reason="property", account=account, actor="h", min_cash=floor,
                )[1]
            else:
                _, symbol, qty, p, fee = op
                side = op[0].upper()
                units = qty if side == "BUY" else (held.get(symbol, D(0)) * qty).quantize(D("0.000001"))
                if units <= 0:
                    savepoint.rollback()
                    continue
                api.record_ticket(session, f"T{n}", day, "TRADE", "h", account=account)
                api.record_intended_trade(session, f"T{n}", 1, side, symbol, booked_value(units, p) * 2 + 1, units, p, "0.03", account=account)
                amount = booked_value(units, p)
                change = -amount - fee if side == "BUY" else amount - fee
                call = lambda: api.record_fill(  # noqa: E731
                    session, f"T{n}", 1, "executed", units=units, price=p, fees=fee, filled_at=at, account=account, actor="h",
                    min_cash=floor,
                )
            fits = change >= 0 or before + change >= floor
            try:
                fill = call()
            except LedgerError as err:
                savepoint.rollback()
                if "units would go negative" in str(err):
                    event("refused: units")
                    continue
                event("refused: cash")
                assert not fits, f"refused a fill the cash covers: {op} with {before}: {err}"
                assert "the cash left after the lines saved before it is" in str(err)
                continue
            savepoint.commit()
            event("accepted")
            assert fits, f"accepted a fill the cash does not cover: {op} with {before}"
            if fill.kind == "FILL":
                fills = [f for f in fills if f != getattr(fill, "supersedes_id", None)] + [fill.id]
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise
        after = api.compute_cash(session, account=account).amount
        assert after == before + change
        assert after >= floor or after >= before  # a line that lowers the cash leaves at least the floor
        assert after >= 0 or before < 0
    assert api.compute_cash(session, account=account).amount >= 0
    session.commit()
