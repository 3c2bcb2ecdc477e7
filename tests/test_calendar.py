"""Calendar facts checked against known dates (NYSE holidays, the
2025-01-09 national day of mourning, early closes, and the weeks when the UK
and the US change clocks on different dates)."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from tradeops.calendar import EXCHANGE_TZ, UK, exchange_tz, get_calendar
from tradeops.errors import CalendarError

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def cal():
    return get_calendar("XNYS")


@pytest.mark.parametrize(
    "day",
    [
        "2024-01-01",
        "2024-01-15",
        "2024-03-29",
        "2024-07-04",
        "2024-11-28",
        "2024-12-25",
        "2025-01-09",
        "2025-04-18",
        "2025-06-19",
        "2018-12-05",
        "2012-10-29",
        "2012-10-30",
        "2001-09-11",
    ],
)
def test_known_closures(cal, day):
    assert not cal.is_session(day)


@pytest.mark.parametrize("day", ["2025-01-08", "2025-01-10", "2024-07-03", "2024-11-29", "2021-04-21"])
def test_known_sessions(cal, day):
    assert cal.is_session(day)


@pytest.mark.parametrize("day,early", [("2024-07-03", True), ("2024-11-29", True), ("2024-12-24", True), ("2025-07-03", True), ("2024-07-05", False)])
def test_early_closes(cal, day, early):
    assert cal.is_early_close(day) is early
    close_ny = cal.market_close(day).astimezone(NY).time()
    assert close_ny == (time(13, 0) if early else time(16, 0))


def test_latest_complete_session_is_t_minus_1_in_the_uk_morning(cal):
    # Friday 2025-01-10 07:30 London: Thursday 9 Jan was closed -> Wednesday 8 Jan.
    rd = cal.run_dates(datetime(2025, 1, 10, 7, 30, tzinfo=UK))
    assert rd.decision_session == date(2025, 1, 8) and rd.execution_session == date(2025, 1, 10)
    # Monday morning -> Friday; Tuesday after Easter Monday (UK holiday, US open) -> Monday.
    assert cal.run_dates(datetime(2024, 4, 1, 7, 30, tzinfo=UK)).decision_session == date(2024, 3, 28)
    assert cal.run_dates(datetime(2024, 4, 2, 7, 30, tzinfo=UK)).decision_session == date(2024, 4, 1)
    # During the session the day is not complete yet; after the close it is.
    assert cal.latest_complete_session(datetime(2025, 1, 8, 15, 0, tzinfo=NY)) == date(2025, 1, 7)
    assert cal.latest_complete_session(datetime(2025, 1, 8, 16, 0, tzinfo=NY)) == date(2025, 1, 8)
    # Early close: the day after Thanksgiving is complete at 13:00 New York.
    assert cal.latest_complete_session(datetime(2024, 11, 29, 13, 0, tzinfo=NY)) == date(2024, 11, 29)


def test_market_closed_days_have_no_run(cal):
    assert cal.run_dates(datetime(2025, 1, 9, 7, 30, tzinfo=UK)) is None  # closure
    assert cal.run_dates(datetime(2025, 1, 11, 7, 30, tzinfo=UK)) is None  # Saturday
    assert cal.run_dates(datetime(2025, 12, 25, 7, 30, tzinfo=UK)) is None


def test_naive_time_is_refused(cal):
    with pytest.raises(CalendarError, match="no time zone"):
        cal.latest_complete_session(datetime(2025, 1, 8, 12, 0))


@pytest.mark.parametrize(
    "day,start,end",
    [
        ("2025-03-07", "14:35", "15:30"),  # both on winter time: open 14:30 UK
        ("2025-03-10", "13:35", "14:30"),  # US on DST, UK not yet: open 13:30 UK
        ("2025-03-28", "13:35", "14:30"),  # last day of the gap
        ("2025-03-31", "14:35", "15:30"),  # both on summer time
        ("2025-10-24", "14:35", "15:30"),
        ("2025-10-27", "13:35", "14:30"),  # UK back on GMT, US still on DST
        ("2025-10-31", "13:35", "14:30"),
        ("2025-11-03", "14:35", "15:30"),  # both on winter time again
    ],
)
def test_execution_window_across_dst_gap_weeks(cal, day, start, end):
    w = cal.execution_window(day, 5, 60)
    assert w.start.tzinfo == UK
    assert w.start.strftime("%H:%M") == start and w.end.strftime("%H:%M") == end
    assert w.start.date().isoformat() == day


def test_window_never_runs_past_an_early_close(cal):
    w = cal.execution_window("2024-11-29", 5, 400)
    assert w.early_close and w.end == cal.market_close("2024-11-29").astimezone(UK)


def test_weekly_and_monthly_rebalance(cal):
    assert cal.rebalance_sessions("2025-01-01", "2025-01-31", "weekly") == [
        date(2025, 1, 6),
        date(2025, 1, 13),
        date(2025, 1, 21),
        date(2025, 1, 27),
    ]  # 2 Jan is mid-week (the week began on 30 Dec); 20 Jan is MLK day: that week starts on Tuesday
    assert cal.next_rebalance("2025-01-14", "weekly") == date(2025, 1, 21)
    assert cal.next_rebalance("2025-01-21", "weekly") == date(2025, 1, 21)
    assert cal.next_rebalance("2025-08-02", "monthly") == date(2025, 9, 2)  # Labor Day 1 Sep
    assert cal.is_rebalance_session("2025-01-21", "weekly") and not cal.is_rebalance_session("2025-01-22", "weekly")
    assert cal.rebalance_sessions("2025-01-06", "2025-01-08", "daily") == [date(2025, 1, 6), date(2025, 1, 7), date(2025, 1, 8)]


def test_session_navigation(cal):
    assert cal.previous_session("2025-01-10") == date(2025, 1, 8)
    assert cal.next_session("2025-01-08") == date(2025, 1, 10)
    assert cal.sessions_back("2025-01-10", 3) == [date(2025, 1, 7), date(2025, 1, 8), date(2025, 1, 10)]
    assert cal.session_offset("2025-01-10", -2) == date(2025, 1, 7)
    assert len(cal.sessions("2024-01-01", "2024-12-31")) == 252
    with pytest.raises(CalendarError, match="not a XNYS session"):
        cal.market_open("2025-01-09")
    with pytest.raises(CalendarError, match="outside the calendar's range"):
        cal.is_session("2099-01-01")


@pytest.mark.parametrize("name", sorted(EXCHANGE_TZ))
def test_the_light_exchange_zone_is_the_calendars_own(name):
    """exchange_tz answers without building the calendar; it must give the calendar's own zone."""
    import pandas_market_calendars as mcal

    assert exchange_tz(name) == ZoneInfo(str(mcal.get_calendar(name).tz))
