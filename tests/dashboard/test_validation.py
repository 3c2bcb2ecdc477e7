"""What the executor types, checked without a database: numbers, times, windows, limits.

Lines and windows come from the real exchange calendar (a GMT and a BST
session), so the UK times and the window bounds are the ones a ticket has.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.calendar import get_calendar
from tradeops.dashboard.model import FillView, LineView, TicketView, Window
from tradeops.dashboard.validation import FieldError, LineEntry, check_confirmation, check_kill_switch, check_line, check_snapshot, parse_clock, parse_number

UK = ZoneInfo("Europe/London")


def window_of(day: str) -> Window:
    w = get_calendar().execution_window(date.fromisoformat(day), 5, 60, UK)
    return Window(w.start, w.end, w.early_close)


def line(side="BUY", value="1000.00", units="4", ref="250.00", band="0.03", fill=None) -> LineView:
    ref_d, band_d = D(ref), D(band)
    return LineView(
        1, side, "MSFT", "MSFT", D(value), D(units), ref_d, band_d, ref_d * (1 + band_d if side == "BUY" else 1 - band_d), False, "amount", "market", fill
    )


def ticket(lines, day="2024-03-18", status="OPEN", kind="TRADE") -> TicketView:
    return TicketView("TICKET-X", kind, status, None, date.fromisoformat(day), "h", window_of(day), None, "USD", tuple(lines))


LATER = datetime(2030, 1, 1, tzinfo=timezone.utc)  # "now", after every window used here


def check(entry, ln=None, t=None, held=D(10), now=LATER):
    ln = ln or line()
    return check_line(entry, ln, t or ticket([ln]), held, now)


# --------------------------------------------------------------------------- numbers and times


@pytest.mark.parametrize("text,places,expected", [("141.20", 6, D("141.2")), ("$141.20", 6, D("141.2")), ("  5 ", 8, D(5)), ("0", 4, D(0)), ("1e2", 2, D(100))])
def test_numbers_people_type(text, places, expected):
    assert parse_number(text, places) == expected


@pytest.mark.parametrize(
    "text,words",
    [
        ("", "Enter a number"),
        ("abc", "is not a number"),
        ("1,5", "use a dot"),
        ("-3", "negative"),
        ("NaN", "is not a number"),
        ("Infinity", "is not a number"),
        ("1.123", "more than 2 decimal places"),
        ("1e999999", "too large"),
    ],
)
def test_numbers_that_are_refused(text, words):
    with pytest.raises(FieldError, match=words):
        parse_number(text, 2)


def test_zero_is_refused_where_it_must_be_positive_and_empty_takes_the_default():
    with pytest.raises(FieldError, match="more than 0"):
        parse_number("0", 2, positive=True)
    assert parse_number("  ", 2, default=D(0)) == 0


@given(st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False))
def test_any_decimal_typed_back_is_read_exactly(value):
    assert parse_number(f"{value:f}", 4) == value


@given(st.text(max_size=30))
@settings(max_examples=300)
def test_any_text_is_a_number_or_a_plain_message(text):
    try:
        value = parse_number(text, 6)
    except FieldError as err:
        assert str(err) and "Traceback" not in str(err)
    else:
        assert value >= 0 and value == value.quantize(D("0.000001"))


@given(st.integers(0, 23), st.integers(0, 59), st.sampled_from([":", "."]))
def test_every_clock_time_is_read(h, m, sep):
    assert parse_clock(f"{h}{sep}{m:02d}") == time(h, m)


@pytest.mark.parametrize("text", ["", "24:00", "12:60", "noon", "1230", "12:3"])
def test_times_that_are_refused(text):
    with pytest.raises(FieldError, match="HH:MM"):
        parse_clock(text)


@given(st.text(max_size=12))
def test_any_text_is_a_time_or_a_plain_message(text):
    try:
        parse_clock(text)
    except FieldError as err:
        assert "HH:MM" in str(err)


# --------------------------------------------------------------------------- one line


def test_a_good_buy_becomes_a_fill_at_the_uk_time_typed():
    fill, errors = check(LineEntry("executed", units="4", price="250.50", fees="1.5", time="13:45", notes=" ok "))
    assert errors == {}
    assert (fill.status, fill.units, fill.price, fill.fees, fill.notes) == ("EXECUTED", D(4), D("250.5"), D("1.5"), "ok")
    assert fill.filled_at == datetime(2024, 3, 18, 13, 45, tzinfo=timezone.utc)  # GMT: UK time = UTC


def test_uk_summer_time_is_taken_into_account():
    t = ticket([line()], day="2024-07-15")  # BST: the window is 14:35-15:30 UK time
    assert (t.window.start.strftime("%H:%M %Z"), t.window.end.strftime("%H:%M")) == ("14:35 BST", "15:30")
    fill, errors = check(LineEntry("executed", units="4", price="250", time="14:40"), t=t)
    assert errors == {} and fill.filled_at == datetime(2024, 7, 15, 13, 40, tzinfo=timezone.utc)


@pytest.mark.parametrize("clock,ok", [("13:34", False), ("13:35", True), ("14:30", True), ("14:30:59", True), ("14:31", False)])
def test_the_window_bounds(clock, ok):
    _, errors = check(LineEntry("executed", units="4", price="250", time=clock))
    assert (errors == {}) is ok
    if not ok:
        assert "not open yet" in errors["time"] or "had expired" in errors["time"]


def test_a_time_in_the_future_is_refused_even_with_an_explanation():
    now = datetime(2024, 3, 18, 13, 50, tzinfo=timezone.utc)
    _, errors = check(LineEntry("executed", units="4", price="250", time="14:10", explanation="really"), now=now)
    assert "still in the future" in errors["time"]


def test_price_band_is_the_ledgers():
    assert check(LineEntry("executed", units="3.9", price="257.50", time="13:45"))[1] == {}  # exactly +3%
    _, errors = check(LineEntry("executed", units="3.8", price="257.51", time="13:45"))
    assert "outside this line's band" in errors["price"] and "$242.50 to $257.50" in errors["price"]
    _, errors = check(LineEntry("executed", units="4", price="240", time="13:45"))  # -4%: refused both ways, as the ledger does
    assert "outside" in errors["price"]


def test_limits_can_be_overridden_with_an_explanation_but_not_a_sale_of_units_not_held():
    fill, errors = check(LineEntry("executed", units="4", price="300", time="13:45", explanation="gap up at the open"))
    assert errors == {} and fill.override_reason == "gap up at the open"
    sell = line(side="SELL", value="1000", units="4")
    _, errors = check(LineEntry("executed", units="5", price="250", time="13:45", explanation="x"), ln=sell, held=D(4))
    assert "holds only 4 MSFT" in errors["units"]


def test_more_than_the_line_asks_for():
    _, errors = check(LineEntry("executed", units="4.2", price="250", time="13:45"))
    assert "more than this line asks for ($1,000.00, at most $1,030.00" in errors["units"]
    sell = line(side="SELL", units="4")
    _, errors = check(LineEntry("executed", units="4.2", price="250", time="13:45"), ln=sell, held=D(10))
    assert "more than this line asks to sell (about 4)" in errors["units"]


def test_executed_and_partial_must_match_what_was_filled():
    _, errors = check(LineEntry("executed", units="2", price="250", time="13:45"))
    assert "choose Partial" in errors["status"]
    _, errors = check(LineEntry("partial", units="4", price="250", time="13:45"))
    assert "choose Executed" in errors["status"]
    assert check(LineEntry("partial", units="2", price="250", time="13:45"))[1] == {}


def test_not_executed_needs_a_reason_and_ignores_hidden_fields():
    assert "Say why" in check(LineEntry("not_executed"))[1]["reason"]
    fill, errors = check(LineEntry("not_executed", units="4", price="x", reason="eToro was down"))
    assert errors == {} and (fill.units, fill.price, fill.reason, fill.filled_at) == (D(0), None, "eToro was down", LATER)


def test_a_line_already_answered_is_refused():
    done = FillView(7, "EXECUTED", D(4), D(250), D(0), LATER, None, None, None, None, "x")
    _, errors = check(LineEntry("executed", units="4", price="250", time="13:45"), ln=line(fill=done))
    assert "Already confirmed (executed, 4 shares at $250.00)" in errors["status"]


# --------------------------------------------------------------------------- whole submissions


def test_sells_in_one_submission_share_the_units_held():
    a = line(side="SELL", units="3")
    b = replace(a, line_no=2)
    t = ticket([a, b])
    entries = {1: LineEntry("executed", units="3", price="250", time="13:45"), 2: LineEntry("executed", units="3", price="250", time="13:46")}
    checked = check_confirmation(entries, t, {"MSFT": D(5)}, LATER)
    assert not checked.ok and "holds only 2 MSFT" in checked.errors["2.units"] and "1.units" not in checked.errors


@pytest.mark.parametrize(
    "status,kind,entries,words",
    [
        ("SUPERSEDED", "TRADE", {1: LineEntry("not_executed", reason="x y z")}, "was superseded"),
        ("VOIDED", "TRADE", {1: LineEntry("not_executed", reason="x y z")}, "was voided"),
        ("OPEN", "HOLD", {}, "nothing to confirm"),
        ("OPEN", "TRADE", {1: LineEntry()}, "Nothing to save yet"),
    ],
)
def test_form_level_refusals(status, kind, entries, words):
    checked = check_confirmation(entries, ticket([line()], status=status, kind=kind), {}, LATER)
    assert not checked.ok and words in checked.errors["form"] and checked.values == ()


# --------------------------------------------------------------------------- snapshot and kill switch


def test_snapshot_rows():
    checked = check_snapshot("100.5", {"AAPL": "2", "KO": "0", "MSFT": ""}, [("tsla", "1.5"), ("", "")])
    assert checked.ok and checked.values == (D("100.5"), {"AAPL": D(2), "TSLA": D("1.5")})
    checked = check_snapshot("", {"AAPL": "-1"}, [("AAPL", "1"), ("", "3")])
    assert set(checked.errors) == {"cash", "units:AAPL", "extra:0:symbol", "extra:1:symbol", "form"}


@pytest.mark.parametrize(
    "on,reason,confirmed,current,keys",
    [
        (True, "", False, "OFF", {"reason"}),
        (True, "broker down", False, "ON", {"form"}),
        (False, "fixed", False, "ON", {"confirm"}),
        (False, "fixed", True, "OFF", {"form"}),
        (True, "broker down", False, "OFF", set()),
        (False, "fixed now", True, "ON", set()),
    ],
)
def test_kill_switch_rules(on, reason, confirmed, current, keys):
    assert set(check_kill_switch(on, reason, confirmed, current).errors) == keys
