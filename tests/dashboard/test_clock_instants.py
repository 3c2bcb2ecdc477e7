"""The page at the instants that matter, with its clock pinned (never the wall clock).

For a session in each of the four clock regimes (both zones on winter time,
the US on summer time before the UK in March, both on summer time, the UK back
on winter time before the US in October), the page is looked at before the
execution window, inside it, after it, after the confirmation deadline and
just after midnight UK; what it says and what it accepts as a fill time must
follow from that instant alone.  The expected UK window times are worked out
by hand: the US open is 09:30 New York, the window 5-60 minutes after it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tradeops.clock import FixedClock
from tradeops.dashboard import build_app
from tradeops.dashboard.demo import create_demo
from tradeops.ledger import api, db

UK = ZoneInfo("Europe/London")

# session, window start and end in UK time (09:35-10:30 New York)
SESSIONS = {
    "winter": (date(2026, 1, 12), "14:35", "15:30"),  # EST (UTC-5), GMT
    "us-summer-first": (date(2026, 3, 10), "13:35", "14:30"),  # EDT from 8 March, the UK on GMT until 29 March
    "summer": (date(2026, 6, 15), "14:35", "15:30"),  # EDT, BST
    "uk-winter-first": (date(2026, 10, 26), "13:35", "14:30"),  # the UK on GMT from 25 October, EDT until 1 November
}


@pytest.fixture(params=list(SESSIONS))
def setup(request, tmp_path):
    session, start, end = SESSIONS[request.param]
    clock = FixedClock(datetime.combine(session, time(6, 0), UK))
    ws, url, ticket_id = create_demo(tmp_path / "ws", session=session, clock=clock)
    engine = db.make_engine(url)
    page = build_app(ws, engine=engine, actor="test", clock=clock)
    yield page, clock, session, start, end
    engine.dispose()


def at(session: date, hhmm: str, days: int = 0) -> datetime:
    return datetime.combine(session + timedelta(days=days), time.fromisoformat(hhmm), UK)


def look(page, clock, instant: datetime) -> str:
    clock.set(instant)
    page.refresh()
    return page.ticket.header.value


def submit(page, hhmm: str):
    """Save line 1 (SELL AAPL) as executed at ``hhmm`` UK on the session day, as the executor would."""
    form = page.ticket.forms[1]
    form.status.value, form.units.value, form.price.value, form.time.value = "executed", "5", "141", hhmm
    return page.ticket.submit()


def time_error(page, hhmm: str) -> str:
    """The page's message next to the time field for a fill at ``hhmm``; it must refuse the line."""
    outcome = submit(page, hhmm)
    assert not outcome.ok, f"a fill at {hhmm} was saved"
    return outcome.errors.get("1.time", "")


def test_the_window_is_in_uk_time_for_each_clock_regime(setup):
    page, clock, session, start, end = setup
    window = page.ticket.ticket.window
    assert (f"{window.start:%H:%M}", f"{window.end:%H:%M}") == (start, end)
    assert window.start.date() == session


def test_before_the_window(setup):
    page, clock, session, start, end = setup
    header = look(page, clock, at(session, start) - timedelta(minutes=65))
    assert "The window opens in 1 h 05 min" in header and f"Do not trade before {start}" in header
    assert "still in the future" in time_error(page, start)


def test_inside_the_window(setup):
    page, clock, session, start, end = setup
    header = look(page, clock, at(session, start) + timedelta(minutes=20))
    assert "OPEN NOW: 35 min left" in header and f"Trade only until {end} UK time" in header
    # a fill half an hour from now is refused; one 10 minutes into the window is saved at that time
    assert "still in the future" in time_error(page, (at(session, start) + timedelta(minutes=50)).strftime("%H:%M"))
    ten_in = at(session, start) + timedelta(minutes=10)
    assert submit(page, ten_in.strftime("%H:%M")).ok
    with db.transaction(page.engine) as s:
        fill = next(st.fill for st in api.line_statuses(s, page.ticket.ticket.ticket_id) if st.line.line_no == 1)
    assert fill.filled_at.replace(tzinfo=fill.filled_at.tzinfo or timezone.utc) == ten_in


def test_after_the_window(setup):
    page, clock, session, start, end = setup
    header = look(page, clock, at(session, end) + timedelta(hours=1))
    assert f"The window closed at {end} UK time" in header and "(1 h 00 min ago)" in header and "Do not trade now" in header
    assert "(that time has passed" not in header
    assert "still in the future" in time_error(page, "23:59")


def test_after_the_confirmation_deadline(setup):
    page, clock, session, start, end = setup
    confirm_by = page.ticket.ticket.confirm_by
    assert look(page, clock, confirm_by - timedelta(minutes=1)).count("(that time has passed: confirm now)") == 0
    header = look(page, clock, confirm_by + timedelta(minutes=1))
    assert f"Confirm by {confirm_by:%H:%M} UK time" in header and "(that time has passed: confirm now)" in header


def test_just_after_midnight_uk(setup):
    page, clock, session, start, end = setup
    look(page, clock, at(session, "00:30", days=1))
    assert "had expired" in time_error(page, "23:59")  # the session day is over: 23:59 is in the past, after the window
    assert "was not open yet" in time_error(page, "09:00")
