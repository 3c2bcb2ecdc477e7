"""Confirmations: executed, partial, not executed; input checks; corrections; never negative units."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from tradeops.errors import LedgerError, ValidationError
from tradeops.ledger import api, db
from tradeops.ledger.inputs import parse_fill
from tradeops.ledger.models import Fill

LINES = [("BUY", "AAPL", "1000", "10", "100"), ("BUY", "MSFT", "2000", "10", "200"), ("SELL", "AAPL", "300", "3", "100")]


@pytest.fixture
def t1(session, kit):
    kit.fund(session, "10000")
    kit.ticket(session, "T1", "2024-01-03", LINES)
    return session


def _fill_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Fill))


def test_three_kinds_of_answer(t1, kit):
    s = t1
    done = api.record_fill(s, "T1", 1, "executed", units="10", price="99.5", fees="1.00", filled_at=kit.at("2024-01-03"), notes="ok", actor="ann")
    part = api.record_fill(s, "T1", 2, "partial", units="4.5", price="201", filled_at=kit.at("2024-01-03", "14:40"), actor="ann")
    skip = api.record_fill(s, "T1", 3, "not_executed", reason="market halted", actor="ann")
    assert (done.status, done.amount, done.fees, done.notes) == ("EXECUTED", D("995.00"), D("1.00"), "ok")
    assert (part.status, part.units, part.amount) == ("PARTIAL", D("4.5"), D("904.50"))
    assert (skip.status, skip.units, skip.price, skip.reason) == ("NOT_EXECUTED", 0, None, "market halted")
    assert api.unconfirmed_lines(s) == []
    statuses = api.line_statuses(s, "T1")
    assert [x.fill.id for x in statuses] == [done.id, part.id, skip.id]
    assert [e.payload["line_no"] for e in api.events(s, kind="FILL_RECORDED", ticket_id="T1")] == [3, 2, 1]
    assert api.compute_positions(s) == {"AAPL": D(10), "MSFT": D("4.5")}


def test_input_checks_name_the_field(t1, kit):
    s, when = t1, kit.at("2024-01-03")
    cases = [
        (dict(line_no=1, status="done"), "field 'status'"),
        (dict(line_no=1, status="executed", units="0", price="100"), "field 'units'.*above zero"),
        (dict(line_no=1, status="executed", units="1", price="-1"), "field 'price'"),
        (dict(line_no=1, status="executed", units="1", price="110"), "field 'price'.*10.00% from the reference.*band of 3.00%"),
        (dict(line_no=1, status="executed", units="11", price="100"), "field 'units'.*more than the 1000.0000 the line asks for"),
        (dict(line_no=3, status="executed", units="4", price="100"), "field 'units'.*more than the ~3"),
        (dict(line_no=1, status="not_executed"), "field 'reason'"),
        (dict(line_no=1, status="not_executed", units="3", reason="x"), "field 'units'.*not executed"),
        (dict(line_no=9, status="not_executed", reason="x"), "field 'line'.*no line 9"),
        (dict(line_no=1, status="executed", units="1", price="100", fees="-1"), "field 'fees'"),
        (dict(line_no=1, status="executed", units="1", price="100", filled_at="2999-01-01T00:00"), "field 'filled_at'.*future"),
    ]
    for kwargs, message in cases:
        kwargs.setdefault("filled_at", when)
        line_no, status = kwargs.pop("line_no"), kwargs.pop("status")
        with pytest.raises(ValidationError, match=message):
            api.record_fill(s, "T1", line_no, status, actor="t", **kwargs)
    assert _fill_count(s) == 0


def test_override_records_a_price_outside_the_band(t1, kit):
    fill = api.record_fill(t1, "T1", 1, "executed", units="9", price="110", filled_at=kit.at("2024-01-03"), override_reason="gapped up at the open", actor="t")
    assert fill.override_reason == "gapped up at the open" and fill.amount == D("990.00")


def test_a_line_is_confirmed_once(t1, kit):
    api.record_fill(t1, "T1", 1, "executed", units="10", price="100", filled_at=kit.at("2024-01-03"), actor="t")
    with pytest.raises(LedgerError, match="line 1 of T1 .* is already confirmed .*correction"):
        api.record_fill(t1, "T1", 1, "executed", units="10", price="100", filled_at=kit.at("2024-01-03"), actor="t")


def test_cannot_sell_more_than_held(t1, kit):
    s = t1
    with pytest.raises(LedgerError, match="AAPL units would go negative"):
        api.record_fill(s, "T1", 3, "executed", units="3", price="100", filled_at=kit.at("2024-01-03"), actor="t")
    api.record_fill(s, "T1", 1, "executed", units="2", price="100", filled_at=kit.at("2024-01-03", "15:00"), actor="t")
    # a sell dated before the buy it would need is refused even though the total would be fine
    with pytest.raises(LedgerError, match="would go negative"):
        api.record_fill(s, "T1", 3, "partial", units="2", price="100", filled_at=kit.at("2024-01-03", "14:00"), actor="t")
    api.record_fill(s, "T1", 3, "partial", units="2", price="100", filled_at=kit.at("2024-01-03", "16:00"), actor="t")
    assert api.compute_positions(s) == {}


def test_one_bad_row_writes_nothing(ledger_engine, kit):
    with db.transaction(ledger_engine) as s:
        kit.ticket(s, "T1", "2024-01-03", LINES)
    when = kit.at("2024-01-03")
    good = parse_fill({"line": "1", "status": "executed", "units": "3", "price": "100", "filled_at": when}, "row 2", kit.UTC)
    too_many = parse_fill({"line": "3", "status": "executed", "units": "3.05", "price": "100", "filled_at": when}, "row 3", kit.UTC)
    with pytest.raises(LedgerError, match="row 3: AAPL units would go negative"), db.transaction(ledger_engine) as s:
        api.confirm_ticket(s, "T1", [good, too_many], actor="t")
    with db.transaction(ledger_engine) as s:
        assert _fill_count(s) == 0 and api.events(s, kind="FILL_RECORDED") == []


def test_correction_reverses_and_replaces(t1, kit):
    s = t1
    wrong = api.record_fill(s, "T1", 1, "executed", units="10", price="101", fees="1", filled_at=kit.at("2024-01-03"), actor="ann")
    with pytest.raises(ValidationError, match="reason"):
        api.correct_fill(s, wrong.id, "", "executed", units="10", price="100", filled_at=kit.at("2024-01-03"), actor="bob")
    reversal, new = api.correct_fill(s, wrong.id, "price typo", "partial", units="8", price="100", fees="1", filled_at=kit.at("2024-01-03"), actor="bob")
    assert (reversal.kind, reversal.reverses_id, reversal.units, reversal.amount) == ("REVERSAL", wrong.id, D(10), D("1010.00"))
    assert (new.kind, new.supersedes_id, new.status, new.units) == ("FILL", wrong.id, "PARTIAL", D(8))
    s.expire_all()
    assert s.get(Fill, wrong.id).price == D("101")  # the original row is untouched
    assert api.compute_positions(s) == {"AAPL": D(8)}
    assert api.compute_cash(s).amount == D("10000") - D("801.00")
    assert api.line_statuses(s, "T1")[0].fill.id == new.id
    assert [e.kind for e in api.events(s, ticket_id="T1")][:2] == ["FILL_CORRECTED", "FILL_REVERSED"]
    with pytest.raises(LedgerError, match="already corrected"):
        api.correct_fill(s, wrong.id, "again", "executed", units="8", price="100", filled_at=kit.at("2024-01-03"), actor="bob")


def test_correcting_a_buy_that_a_later_sell_needs_is_refused(session, kit):
    kit.fund(session)
    buy = kit.buy(session, "B", "2024-01-03", "AAPL", 10, 100)
    kit.sell(session, "S", "2024-01-04", "AAPL", 8, 100)
    with pytest.raises(LedgerError, match="would go negative"):
        api.correct_fill(session, buy.id, "fewer", "partial", units="5", price="100", filled_at=kit.at("2024-01-03"), actor="t")
    api.correct_fill(session, buy.id, "more", "partial", units="9", price="100", filled_at=kit.at("2024-01-03"), actor="t")
    assert api.compute_positions(session) == {"AAPL": D(1)}


def test_not_executed_can_be_corrected_to_executed(t1, kit):
    skip = api.record_fill(t1, "T1", 2, "not_executed", reason="app down", actor="t")
    _, new = api.correct_fill(t1, skip.id, "it did fill after all", "executed", units="10", price="200", filled_at=kit.at("2024-01-03"), actor="t")
    assert new.status == "EXECUTED" and api.compute_positions(t1) == {"MSFT": D(10)}


def test_entries_across_a_recorded_split_are_refused(session, kit):
    kit.fund(session)
    buy = kit.buy(session, "B", "2024-01-03", "AAPL", 10, 100)
    api.record_split(session, "AAPL", "4", date(2024, 1, 10), actor="t")
    assert api.compute_positions(session) == {"AAPL": D(40)}
    with pytest.raises(LedgerError, match="before the 4:1 split of 2024-01-10"):
        api.correct_fill(session, buy.id, "late fix", "executed", units="9", price="100", filled_at=kit.at("2024-01-03"), actor="t")
    kit.ticket(session, "L", "2024-01-05", [("BUY", "AAPL", "100", "1", "100")])
    with pytest.raises(LedgerError, match="before the 4:1 split"):
        api.record_fill(session, "L", 1, "executed", units="1", price="100", filled_at=kit.at("2024-01-05"), actor="t")
    with pytest.raises(LedgerError, match="before the 4:1 split"):
        api.record_split(session, "AAPL", "2", date(2024, 1, 8), actor="t")
