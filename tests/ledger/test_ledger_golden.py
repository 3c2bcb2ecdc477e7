"""The worked example of golden/worked_example.json, computed by hand, on both backends."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from tradeops.config import Reconciliation
from tradeops.ledger import api

ACTOR = "test"

GOLDEN = json.loads((Path(__file__).parent / "golden" / "worked_example.json").read_text())


def _prices():
    return {s: {date.fromisoformat(d): D(v) for d, v in series.items()} for s, series in GOLDEN["prices"].items()}


def _run(session, ticket) -> None:
    fills = {}
    for step in GOLDEN["steps"]:
        op = step["op"]
        if op == "cash":
            api.record_cash_movement(session, step["kind"], step["amount"], date.fromisoformat(step["date"]), symbol=step.get("symbol"), actor=ACTOR)
        elif op == "ticket":
            lines = [(ln["side"], ln["symbol"], ln["value"], ln["approx_units"], ln["reference_price"]) for ln in step["lines"]]
            ticket(session, step["ticket_id"], step["session_date"], lines)
        elif op == "fill":
            fill = api.record_fill(
                session,
                step["ticket_id"],
                step["line"],
                step["status"],
                units=step.get("units"),
                price=step.get("price"),
                fees=step.get("fees", "0"),
                filled_at=step["filled_at"],
                reason=step.get("reason"),
                actor=ACTOR,
            )
            fills[(step["ticket_id"], step["line"])] = fill
        elif op == "correct":
            original = fills[(step["ticket_id"], step["line"])]
            api.correct_fill(
                session,
                original.id,
                step["reason"],
                step["status"],
                units=step["units"],
                price=step["price"],
                fees=step["fees"],
                filled_at=step["filled_at"],
                actor=ACTOR,
            )
        elif op == "split":
            api.record_split(session, step["symbol"], step["ratio"], date.fromisoformat(step["date"]), actor=ACTOR)
        elif op == "fx":
            api.store_fx_rates(session, {date.fromisoformat(step["date"]): step["rate"]}, base=step["base"], quote=step["quote"], source="golden")
        elif op == "snapshot":
            api.record_snapshot(session, datetime.fromisoformat(step["taken_at"]), step["cash"], step["positions"], actor=ACTOR)
        else:  # pragma: no cover - a typo in the golden file
            raise AssertionError(f"unknown op {op}")
    session.commit()


@pytest.fixture
def worked(session, kit):
    _run(session, kit.ticket)
    return session


def test_positions_and_cash(worked):
    want = GOLDEN["expected"]
    assert api.compute_positions(worked) == {s: D(u) for s, u in want["positions"].items()}
    cash = api.compute_cash(worked)
    assert (cash.amount, cash.currency) == (D(want["cash"]), "USD")


def test_pnl_matches_the_hand_computation(worked):
    want = GOLDEN["expected"]
    marks = api.marks_on(_prices(), date.fromisoformat(GOLDEN["as_of"]))
    pnl = api.compute_pnl(worked, marks)
    assert pnl.trading == D(want["trading"])
    assert pnl.dividends == D(want["dividends"])
    assert pnl.fees == D(want["fees"])
    assert pnl.realized == D(want["realized"])
    assert pnl.unrealized == D(want["unrealized"])
    assert {s: p.unrealized for s, p in pnl.by_symbol.items()} == {s: D(v) for s, v in want["unrealized_by_symbol"].items()}
    assert {s: p.cost for s, p in pnl.by_symbol.items()} == {s: D(v) for s, v in want["cost_by_symbol"].items()}
    equity = D(want["equity"])
    assert pnl.realized + pnl.unrealized == equity - D(want["net_deposits"])


def test_equity_curve_and_gbp(worked):
    want = GOLDEN["expected"]
    end = date.fromisoformat(GOLDEN["as_of"])
    curve = {p.day: p for p in api.compute_equity_curve(worked, _prices(), end=end)}
    for day, equity in want["equity_on"].items():
        assert curve[date.fromisoformat(day)].equity == D(equity), day
    last = curve[end]
    assert last.market_value == D(want["market_value"])
    assert last.net_deposits == D(want["net_deposits"])
    gbp = api.compute_equity_curve(worked, _prices(), start=end, end=end, currency="GBP")
    assert [(p.day, p.equity, p.currency) for p in gbp] == [(end, D(want["equity_gbp"]), "GBP")]


def test_split_correction_and_events(worked):
    want = GOLDEN["expected"]
    split = api.events(worked, kind="SPLIT_RECORDED")[0]
    assert D(split.payload["units_delta"]) == D(want["split_units_delta"])
    reversed_, corrected = api.events(worked, kind="FILL_REVERSED"), api.events(worked, kind="FILL_CORRECTED")
    assert len(reversed_) == len(corrected) == 1
    assert corrected[0].payload["supersedes"] == reversed_[0].payload["fill_id"]
    assert corrected[0].payload["price"] == "50.000000" and corrected[0].payload["reason"].startswith("typed 51")
    assert len(api.unconfirmed_lines(worked)) == want["unconfirmed_lines"]


def test_reconciles_with_the_broker(worked):
    report = api.reconcile_snapshot(worked, Reconciliation(), now=datetime.fromisoformat(GOLDEN["reconcile_now"]))
    assert report.passed is GOLDEN["expected"]["reconciliation_passed"]
    assert report.differences == () and report.matched == ("AAPL", "MSFT", "XOM")
