"""Property tests: random sequences of fills, cash movements and corrections.

For every sequence, on both backends:
- positions and cash rebuilt from the ledger equal what a plain Python model
  of the entries says;
- realized + unrealized P&L equals equity minus net deposits, exactly;
- the ledger refuses exactly the calls that would make units negative at
  some point in time or take the cash below zero, and a refused call changes nothing.
"""

from __future__ import annotations

import itertools
import os
from datetime import datetime, time, timezone
from decimal import ROUND_UP
from decimal import Decimal as D

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tradeops.calendar import get_calendar
from tradeops.errors import LedgerError
from tradeops.ledger import api
from tradeops.ledger.models import Fill
from tradeops.ledger.money import booked_value

SYMBOLS = ("AAPL", "MSFT", "XOM")
DAYS = get_calendar().sessions("2024-01-02", "2024-03-29")
_accounts = itertools.count()


def money(lo: str, hi: str):
    return st.decimals(min_value=D(lo), max_value=D(hi), places=2)


symbol = st.sampled_from(SYMBOLS)
units = st.decimals(min_value=D("0.00000001"), max_value=D(50), places=8)
price = st.decimals(min_value=D(1), max_value=D(500), places=2)
fraction = st.decimals(min_value=D("0.1"), max_value=D("1.3"), places=2)
trade = st.one_of(st.tuples(st.just("buy"), symbol, units, price, money("0", "5")), st.tuples(st.just("sell"), symbol, fraction, price, money("0", "5")))
operation = st.one_of(
    trade,
    trade,
    st.tuples(st.just("correct"), st.integers(0, 50), fraction, price, money("0", "5")),
    st.tuples(st.just("DEPOSIT"), money("0.01", "5000")),
    st.tuples(st.just("WITHDRAWAL"), money("0.01", "1000")),
    st.tuples(st.just("DIVIDEND"), money("0.01", "50"), symbol),
    st.tuples(st.just("FEE"), money("0.01", "20")),
    st.tuples(st.just("INTEREST"), money("-5", "-0.01") | money("0.01", "5")),
)
SETTINGS = settings(
    max_examples=int(os.environ.get("LEDGER_MODEL_EXAMPLES", "60")),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Model:
    """What the ledger should say, kept with plain Python arithmetic."""

    def __init__(self):
        self.entries = []  # dicts: at, symbol, units (signed), cash, fees, fill_id, active
        self.cash = D(0)
        self.net_deposits = D(0)
        self.cash_log = []  # (exchange day, change): the ledger checks the cash of every day from an entry's day on

    def cash_fits(self, day, change: D) -> bool:
        """A change dated ``day`` that lowers the cash must keep every day from ``day`` on at or above zero."""
        if change >= 0:
            return True
        days = sorted({d for d, _ in self.cash_log if d >= day} | {day})
        return all(sum((c for d2, c in self.cash_log if d2 <= d), D(0)) + change >= 0 for d in days)

    def add_cash(self, day, change: D) -> None:
        self.cash += change
        self.cash_log.append((day, change))

    def never_negative(self, symbol: str, extra=()) -> bool:
        timeline = sorted([(e["at"], e["units"]) for e in self.entries if e["active"] and e["symbol"] == symbol] + list(extra), key=lambda x: x[0])
        held = D(0)
        for _, u in timeline:
            held += u
            if held < 0:
                return False
        return True

    def positions(self) -> dict[str, D]:
        out = {}
        for e in self.entries:
            if e["active"]:
                out[e["symbol"]] = out.get(e["symbol"], D(0)) + e["units"]
        return {s: u for s, u in sorted(out.items()) if u != 0}

    def held(self, symbol: str) -> D:
        return self.positions().get(symbol, D(0))


def _line_value(u: D, p: D) -> D:
    return (u * p).quantize(D("0.01"), rounding=ROUND_UP) + D("0.01")


def _apply(session, account: str, model: Model, n: int, op) -> None:
    """Run one operation through the API, in a savepoint; update the model if the ledger accepts it."""
    day = DAYS[n]
    at = datetime.combine(day, time(15, 0), tzinfo=timezone.utc)
    kind = op[0]
    savepoint = session.begin_nested()
    try:
        if kind in ("buy", "sell"):
            _, sym, qty, p, fee = op
            side = "BUY" if kind == "buy" else "SELL"
            u = qty if kind == "buy" else (model.held(sym) * qty).quantize(D("0.00000001"))
            if u <= 0:
                savepoint.rollback()
                return
            api.record_ticket(session, f"T{n}", day, "TRADE", "h", account=account)
            api.record_intended_trade(session, f"T{n}", 1, side, sym, _line_value(u, p), u, p, "0.03", account=account)
            amount = booked_value(u, p)
            change = (-amount if side == "BUY" else amount) - fee
            units_ok = side == "BUY" or model.never_negative(sym, [(at, -u)])
            cash_ok = model.cash_fits(day, change)
            expect_ok = units_ok and cash_ok
            try:
                fill = api.record_fill(session, f"T{n}", 1, "executed", units=u, price=p, fees=fee, filled_at=at, account=account, actor="h")
            except LedgerError:
                event("refused: " + ("sell beyond the units held" if not units_ok else "not enough cash"))
                assert not expect_ok, f"refused a valid {side} of {u} {sym}"
                savepoint.rollback()
                return
            assert expect_ok, f"accepted a {side} of {u} {sym} that makes units or cash negative"
            signed = u if side == "BUY" else -u
            model.entries.append({"at": at, "symbol": sym, "units": signed, "fill_id": fill.id, "side": side, "active": True})
            model.add_cash(day, (-amount if side == "BUY" else amount) - fee)
        elif kind == "correct":
            _, index, factor, p, fee = op
            live = [e for e in model.entries if e["active"]]
            if not live:
                savepoint.rollback()
                return
            old = live[index % len(live)]
            u = (abs(old["units"]) * factor).quantize(D("0.00000001"))
            if u <= 0:
                savepoint.rollback()
                return
            sign = 1 if old["side"] == "BUY" else -1
            change = [(old["at"], -old["units"]), (old["at"], sign * u)]
            original = session.get(Fill, old["fill_id"])
            undone = (-original.amount if old["side"] == "BUY" else original.amount) - original.fees
            amount = booked_value(u, p)
            cash_change = (-amount if old["side"] == "BUY" else amount) - fee - undone
            old_day = old["at"].date()  # 15:00 UTC: the same exchange day
            expect_ok = model.never_negative(old["symbol"], change) and model.cash_fits(old_day, cash_change)
            try:
                _, new = api.correct_fill(
                    session,
                    old["fill_id"],
                    "property test",
                    "executed",
                    units=u,
                    price=p,
                    fees=fee,
                    filled_at=old["at"],
                    override_reason="test correction",
                    account=account,
                    actor="h",
                )
            except LedgerError:
                event("refused: correction that a later sell needs, or that the cash cannot cover")
                assert not expect_ok, f"refused a valid correction of {old}"
                savepoint.rollback()
                return
            assert expect_ok, f"accepted a correction that makes {old['symbol']} or the cash negative"
            event("accepted: correction")
            old["active"] = False
            model.entries.append({"at": old["at"], "symbol": old["symbol"], "units": sign * u, "fill_id": new.id, "side": old["side"], "active": True})
            model.add_cash(old_day, cash_change)
        else:
            amount, sym = op[1], (op[2] if kind == "DIVIDEND" else None)
            effect = -amount if kind in ("WITHDRAWAL", "FEE") else amount
            expect_ok = model.cash_fits(day, effect)
            try:
                api.record_cash_movement(session, kind, abs(amount) if kind != "INTEREST" else amount, day, symbol=sym, account=account, actor="h")
            except LedgerError as err:
                event("refused: a movement the cash cannot cover")
                assert not expect_ok and "which would leave" in str(err), f"refused a {kind} of {amount} with {model.cash}: {err}"
                savepoint.rollback()
                return
            assert expect_ok, f"accepted a {kind} of {amount} that takes the cash ({model.cash}) below zero"
            model.add_cash(day, effect)
            if kind in ("DEPOSIT", "WITHDRAWAL"):
                model.net_deposits += effect
        savepoint.commit()
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise


@given(ops=st.lists(operation, min_size=6, max_size=24), marks=st.lists(price, min_size=3, max_size=3))
@SETTINGS
def test_ledger_matches_the_model(session, ops, marks):
    account = f"acct-{next(_accounts)}"
    api.create_account(session, account, actor="h")
    model = Model()
    for n, op in enumerate(ops):
        _apply(session, account, model, n, op)
    positions = api.compute_positions(session, account=account)
    assert positions == model.positions()
    assert all(u > 0 for u in positions.values())
    cash = api.compute_cash(session, account=account)
    assert cash.amount == model.cash
    mark = dict(zip(SYMBOLS, marks))
    pnl = api.compute_pnl(session, mark, account=account)
    equity = cash.amount + sum(u * mark[s] for s, u in positions.items())
    assert pnl.realized + pnl.unrealized == equity - model.net_deposits
    assert {s: p.units for s, p in pnl.by_symbol.items() if p.units} == positions  # FIFO lots agree with the SQL sums
    session.commit()
