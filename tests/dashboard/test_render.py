"""The page's HTML pieces: the countdown, durations, badges, escaping."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from tradeops.calendar import get_calendar
from tradeops.dashboard import render
from tradeops.dashboard.model import AccountView, FillView, LineView, TicketView, Window
from tradeops.ledger.api import Flag

UK = ZoneInfo("Europe/London")


def window(day: str) -> Window:
    w = get_calendar().execution_window(date.fromisoformat(day), 5, 60, UK)
    return Window(w.start, w.end, w.early_close)


@pytest.mark.parametrize(
    "minutes,text",
    [(0, "0 min"), (59, "59 min"), (60, "1 h 00 min"), (65, "1 h 05 min"), (24 * 60 + 61, "1 day 1 h"), (3 * 24 * 60, "3 days 0 h"), (-5, "0 min")],
)
def test_durations(minutes, text):
    assert render.duration(timedelta(minutes=minutes, seconds=30)) == text


def test_countdown_before_during_and_after_the_window():
    w = window("2024-03-18")  # the US is on summer time, the UK not yet: 13:35-14:30 UK (GMT)
    before, tone = render.countdown(w, w.start - timedelta(hours=2, minutes=5))
    assert tone == "blue" and "13:35–14:30 UK time (GMT) on Monday 18 March 2024" in before and "opens in 2 h 05 min" in before
    during, tone = render.countdown(w, w.start + timedelta(minutes=13))
    assert tone == "green" and during.startswith("OPEN NOW: 42 min left") and "until 14:30 UK time (GMT)" in during
    after, tone = render.countdown(w, w.end + timedelta(days=1, hours=2))
    assert tone == "grey" and "closed at 14:30 UK time" in after and "1 day 2 h ago" in after and "Do not trade now" in after


def test_countdown_in_british_summer_time_and_on_an_early_close():
    text, _ = render.countdown(window("2024-07-15"), datetime(2024, 7, 15, 6, 0, tzinfo=timezone.utc))
    assert "14:35–15:30 UK time (BST)" in text
    early = window("2024-11-29")  # the day after Thanksgiving: the market closes at 13:00 New York time
    assert early.early_close
    text, _ = render.countdown(early, early.start - timedelta(hours=1))
    assert "closes early" in text


def _line(**kw) -> LineView:
    base = dict(
        line_no=1,
        side="BUY",
        symbol="AVGO",
        search_name="Broadcom",
        value=D("1333.33"),
        approx_units=D("4.522676"),
        reference_price=D("294.81"),
        band=D("0.03"),
        band_price=D("303.65"),
        close_position=False,
        enter_by="amount",
        order_type="market",
        fill=None,
    )
    return LineView(**{**base, **kw})


def test_line_heading_says_what_to_do_and_the_do_not_execute_price():
    text = render.line_heading(_line())
    assert "AVGO: $1,333.33 (about 4.522676 shares)" in text and "eToro search: “Broadcom”" in text
    assert "Do not execute if eToro's BUY price is above $303.65" in text
    text = render.line_heading(_line(side="SELL", close_position=True, approx_units=D(5), value=D("706.70"), band_price=D("137.10")))
    assert "close the whole position: all 5 shares (about $706.70)" in text and "below $137.10" in text


def test_whatever_people_typed_is_escaped():
    at = datetime(2024, 3, 18, 13, 45, tzinfo=UK)
    fill = FillView(1, "NOT_EXECUTED", D(0), None, D(0), at, "<img src=x onerror=alert(1)>", "<b>n</b>", None, "<i>o</i>", "me")
    text = render.recorded(_line(fill=fill))
    assert "<img" not in text and "&lt;img src=x" in text and "&lt;b&gt;n&lt;/b&gt;" in text and "<i>" not in text


def test_no_ticket_hold_and_no_trade_are_plain():
    now = datetime(2024, 3, 18, 9, 0, tzinfo=UK)
    assert "There is no open ticket" in render.ticket_header(None, now)
    base = dict(
        ticket_id="TICKET-20240318",
        status="OPEN",
        status_reason=None,
        session_date=date(2024, 3, 18),
        headline="h",
        window=window("2024-03-18"),
        confirm_by=None,
        currency="USD",
        lines=(),
    )
    assert "HOLD: do nothing on eToro today" in render.ticket_header(TicketView(kind="HOLD", **base), now)
    failure = {"name": "reconciliation", "reasons": ["cash differs by $120"], "action": "Enter a fresh broker snapshot"}
    text = render.ticket_header(TicketView(kind="NO-TRADE", failures=(failure,), **base), now)
    assert "NO-TRADE: do not trade today" in text and "cash differs by $120" in text
    assert "eToro and the ledger disagree" in text and "What to do: Do nothing in eToro today. Enter a fresh broker snapshot" in text
    assert "reconciliation" not in text  # the catalogue's words, not the code's


def test_kill_switch_status():
    on = AccountView("USD", D(0), {}, Flag("ON", "broker <down>", datetime(2024, 3, 18, 9, tzinfo=timezone.utc), "owner"), Flag("RUN", None, None, None), None)
    assert "The kill switch is ON since 18 Mar 2024 09:00 UTC" in render.kill_status(on) and "broker &lt;down&gt;" in render.kill_status(on)
    assert "KILL SWITCH ON" in render.account_bar(on, datetime(2024, 3, 18, 10, tzinfo=timezone.utc))
