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
from datetime import date, datetime, time, timezone
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tradeops import cashplan
from tradeops.calendar import get_calendar
from tradeops.errors import LedgerError
from tradeops.ledger import api
from tradeops.ledger.inputs import parse_fill
from tradeops.ledger.models import CashMovement, Fill
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
    with pytest.raises(LedgerError, match=r"keeping the cash floor of 150.00"):
        api.confirm_ticket(s, "T", [_fill(kit, 3, "executed", "1", "100")], actor="t", min_cash=D(150))
    api.confirm_ticket(s, "T", [_fill(kit, 3, "partial", "0.5", "100")], actor="t", min_cash=D(150))
    assert api.compute_cash(s).amount == D(150)


def test_a_withdrawal_or_fee_the_cash_cannot_cover_is_refused(session, kit):
    kit.fund(session, "100.00", "2024-01-02")
    with pytest.raises(LedgerError) as refused:
        api.record_cash_movement(session, "WITHDRAWAL", "120", date(2024, 1, 3), actor="t", min_cash=D(10))
    text = str(refused.value)
    assert "withdrawal of 120.00 dated 2024-01-03 needs 120.00 but the cash on 2024-01-03 is 100.00" in text
    assert "keeping the cash floor of 10.00" in text and "would leave -20.00" in text and "at most 90.00" in text
    with pytest.raises(LedgerError, match=r"fee of 95.00 .* at most 90.00"):
        api.record_cash_movement(session, "FEE", "95", date(2024, 1, 3), actor="t", min_cash=D(10))
    api.record_cash_movement(session, "WITHDRAWAL", "90", date(2024, 1, 3), actor="t", min_cash=D(10))
    assert api.compute_cash(session).amount == D(10)
    with pytest.raises(LedgerError, match=r"interest of 0.01 .* at most 0.00"):  # a negative interest amount takes cash out too
        api.record_cash_movement(session, "INTEREST", "-0.01", date(2024, 1, 4), actor="t", min_cash=D(10))
    assert api.compute_cash(session).amount == D(10)


def test_reversing_a_deposit_that_was_spent_is_refused(session, kit):
    deposit = kit.fund(session, "100.00", "2024-01-02")
    kit.buy(session, "B1", "2024-01-03", "AAPL", 1, 60)
    with pytest.raises(LedgerError, match=r"reversal of a deposit of 100.00 dated 2024-01-02 .* would leave -60.00"):
        api.reverse_cash_movement(session, deposit.id, "typed twice", actor="t")
    assert api.compute_cash(session).amount == D(40)


def test_a_back_dated_entry_is_checked_against_its_day_and_every_later_day(session, kit):
    # 100 on 2 Jan, a BUY of 80 on 5 Jan; 9 Jan a deposit of 500
    kit.fund(session, "100.00", "2024-01-02")
    kit.buy(session, "B1", "2024-01-05", "AAPL", 1, 80)
    kit.fund(session, "500.00", "2024-01-09")
    assert api.compute_cash(session).amount == D(520)
    # today's cash (520) covers a BUY of 50, but on 3 Jan there were 100 and on 5 Jan the cash falls to 20 - 50
    kit.ticket(session, "T", "2024-01-03", [("BUY", "XOM", "50.00", "1", "50")])
    late = parse_fill({"line": "1", "status": "executed", "units": "1", "price": "50", "filled_at": kit.at("2024-01-03")}, "T line 1", kit.UTC)
    with pytest.raises(LedgerError) as refused:
        api.confirm_ticket(session, "T", [late], actor="t")
    text = str(refused.value)
    assert "line 1 of T (BUY XOM) needs 50.00 (1 x 50) but the cash left after the lines saved before it is 20.00 on 2024-01-05" in text
    assert "dated 2024-01-03" in text and "would leave -30.00" in text and "at most 0.4 units" in text
    # what the cash allows on every later day: 20 / 50 = 0.4 units
    part = parse_fill({"line": "1", "status": "partial", "units": "0.4", "price": "50", "filled_at": kit.at("2024-01-03")}, "T line 1", kit.UTC)
    api.confirm_ticket(session, "T", [part], actor="t")
    assert api.compute_cash(session, as_of=kit.at("2024-01-05", "23:00")).amount == 0
    # a withdrawal dated before the big deposit cannot take what is only there later
    with pytest.raises(LedgerError, match=r"withdrawal of 1.00 dated 2024-01-04 .* on 2024-01-05 \(it is dated 2024-01-04"):
        api.record_cash_movement(session, "WITHDRAWAL", "1", date(2024, 1, 4), actor="t")
    api.record_cash_movement(session, "WITHDRAWAL", "1", date(2024, 1, 9), actor="t")
    assert api.compute_cash(session).amount == D(499)


def test_a_correction_moved_to_an_earlier_day_is_checked_there(session, kit):
    kit.fund(session, "100.00", "2024-01-02")
    kit.fund(session, "100.00", "2024-01-08")
    fill = kit.buy(session, "B1", "2024-01-08", "AAPL", 1, 150)
    assert api.compute_cash(session).amount == D(50)
    # dated 3 Jan, the same BUY would need 150 when only 100 was there
    with pytest.raises(
        LedgerError, match=r"needs 150.00 \(1 x 150\) .* is 100.00 on 2024-01-03, which would leave -50.00: the cash allows at most 0.666666 units"
    ):
        api.correct_fill(session, fill.id, "wrong day", "executed", units="1", price="150", filled_at=kit.at("2024-01-03"), actor="t")
    api.correct_fill(session, fill.id, "wrong day", "partial", units="0.5", price="150", filled_at=kit.at("2024-01-03"), actor="t")
    assert api.compute_cash(session).amount == D(125)


# --------------------------------------------------------------------------- the property

SYMBOLS = ("AAPL", "XOM")
DAYS = get_calendar().sessions("2024-01-02", "2024-03-29")
_accounts = itertools.count()
price = st.decimals(min_value=D(1), max_value=D(500), places=2)
fees = st.decimals(min_value=D(0), max_value=D(5), places=2)
day = st.integers(1, 25)  # any day, in any order: back-dated entries are common (a late confirmation, a fee booked later)
amount = st.decimals(min_value=D("0.01"), max_value=D(3000), places=2)
operation = st.one_of(
    st.tuples(st.just("buy"), day, st.sampled_from(SYMBOLS), st.decimals(min_value=D("0.01"), max_value=D(40), places=6), price, fees),
    st.tuples(st.just("sell"), day, st.sampled_from(SYMBOLS), st.decimals(min_value=D("0.1"), max_value=D(1), places=2), price, fees),
    st.tuples(st.just("correct"), day, st.integers(0, 30), st.decimals(min_value=D("0.1"), max_value=D(3), places=2), price, fees),
    st.tuples(st.sampled_from(["deposit", "withdrawal", "fee"]), day, amount),
    st.tuples(st.just("reverse"), day, st.integers(0, 30)),
)


def _end_of(d) -> datetime:
    return datetime.combine(d, time(23, 0), tzinfo=timezone.utc)  # 18:00 in New York: after every entry of that exchange day


class Model:
    """The cash of every day as a plain list of (day, change): what the ledger must agree with."""

    def __init__(self):
        self.changes: list[tuple] = []

    def cash(self, d, extra=()) -> D:
        return sum((c for when, c in [*self.changes, *extra] if when <= d), D(0))

    def fits(self, pieces, floor) -> bool:
        """Lowering the cash is allowed only where every day from the first piece on keeps the floor."""
        first = min(when for when, _ in pieces)
        return all(self.cash(d, pieces) >= floor or self.cash(d, pieces) >= self.cash(d) for d in DAYS[:27] if d >= first)


@given(
    ops=st.lists(operation, min_size=4, max_size=20),
    floor=st.sampled_from([D(0), D(0), D("50.00")]),
    opening=st.decimals(min_value=D(50), max_value=D(3000), places=2),
)
@settings(
    max_examples=int(os.environ.get("LEDGER_MODEL_EXAMPLES", "40")),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_accepted_entries_never_take_cash_below_the_floor(session, ops, floor, opening):
    """Fills, corrections, deposits, withdrawals, fees and reversals, dated in any order: whatever the ledger
    accepts keeps the cash of every day at or above the floor, and it refuses only what the cash cannot cover."""
    account = f"cash-{next(_accounts)}"
    api.create_account(session, account, actor="h")
    first = api.record_cash_movement(session, "DEPOSIT", opening, DAYS[0], account=account, actor="h")
    model = Model()
    model.changes.append((DAYS[0], opening))
    fills: list[int] = []
    moves: list[int] = [first.id]
    for n, op in enumerate(ops):
        d = DAYS[op[1]]
        at = datetime.combine(d, time(15, 0), tzinfo=timezone.utc)
        savepoint = session.begin_nested()
        try:
            if op[0] in ("deposit", "withdrawal", "fee", "reverse"):
                if op[0] == "reverse":
                    if not moves:
                        savepoint.rollback()
                        continue
                    original = session.get(CashMovement, moves[op[2] % len(moves)])
                    pieces = [(original.value_date, -original.amount)]
                    call = lambda: api.reverse_cash_movement(session, original.id, "property", account=account, actor="h", min_cash=floor)  # noqa: E731
                else:
                    signed = op[2] if op[0] == "deposit" else -op[2]
                    pieces = [(d, signed)]
                    call = lambda: api.record_cash_movement(session, op[0].upper(), op[2], d, account=account, actor="h", min_cash=floor)  # noqa: E731
            elif op[0] == "correct":
                if not fills:
                    savepoint.rollback()
                    continue
                original = session.get(Fill, fills[op[2] % len(fills)])
                units = (original.units * op[3]).quantize(D("0.000001"))
                if units <= 0:
                    savepoint.rollback()
                    continue
                undone = (-original.amount - original.fees) if original.side == "BUY" else (original.amount - original.fees)
                value = booked_value(units, op[4])
                done = -value - op[5] if original.side == "BUY" else value - op[5]
                old_day = api.exchange_date(original.filled_at)
                pieces = [(d, done), (old_day, -undone)]
                call = lambda: api.correct_fill(  # noqa: E731
                    session,
                    original.id,
                    "property",
                    "executed",
                    units=units,
                    price=op[4],
                    fees=op[5],
                    filled_at=at,
                    override_reason="property",
                    account=account,
                    actor="h",
                    min_cash=floor,
                )[1]
            else:
                _, _, symbol, qty, p, fee = op
                side = op[0].upper()
                held = api.compute_positions(session, account=account)
                units = qty if side == "BUY" else (held.get(symbol, D(0)) * qty).quantize(D("0.000001"))
                if units <= 0:
                    savepoint.rollback()
                    continue
                api.record_ticket(session, f"T{n}", DAYS[30 + n], "TRADE", "h", account=account)  # one ticket per session date
                api.record_intended_trade(session, f"T{n}", 1, side, symbol, booked_value(units, p) * 2 + 1, units, p, "0.03", account=account)
                value = booked_value(units, p)
                pieces = [(d, -value - fee if side == "BUY" else value - fee)]
                call = lambda: api.record_fill(  # noqa: E731
                    session, f"T{n}", 1, "executed", units=units, price=p, fees=fee, filled_at=at, account=account, actor="h", min_cash=floor
                )
            fits = model.fits(pieces, floor)
            try:
                row = call()
            except LedgerError as err:
                savepoint.rollback()
                if "units would go negative" in str(err) or "already" in str(err):
                    event("refused: units or done")
                    continue
                event("refused: cash")
                assert not fits, f"refused what the cash covers: {op}: {err}"
                assert "which would leave" in str(err) and "nothing was written" in str(err)
                continue
            savepoint.commit()
            event("accepted")
            assert fits, f"accepted what the cash does not cover: {op}"
            model.changes.extend(pieces)
            if isinstance(row, Fill):
                fills = [f for f in fills if f != row.supersedes_id] + [row.id]
            elif row.reverses_id is None:
                moves.append(row.id)
            else:
                moves.remove(row.reverses_id)
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise
        assert api.compute_cash(session, account=account).amount == model.cash(DAYS[-1])
    for when in DAYS[:27]:  # the ledger's cash, day by day, is the model's, and never below the floor
        cash = api.compute_cash(session, as_of=_end_of(when), account=account).amount
        assert cash == model.cash(when) and cash >= floor, (when, cash, floor)
    session.commit()
