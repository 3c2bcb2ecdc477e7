"""Exchange calendar: every date in tradeops comes from here.

A thin layer over pandas-market-calendars.  There is no weekday arithmetic
and no fixed UTC offset anywhere in the package: sessions, early closes and
open/close times come from the exchange's schedule, and local times are
converted with the IANA time-zone database (so the weeks when the UK and the
US change clocks on different dates come out right).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .errors import CalendarError

if TYPE_CHECKING:
    import pandas as pd

# numpy and pandas are imported where the schedule is built or searched, not with this module: the
# confirmation page imports the ledger (and so this module) but needs only exchange_tz at first paint

UK = ZoneInfo("Europe/London")
FIRST_YEAR = 1990
LAST_YEAR = 2040


def _as_date(d: date | datetime | str | pd.Timestamp) -> date:
    if isinstance(d, str):
        return date.fromisoformat(d[:10])
    if isinstance(d, datetime):  # a pandas Timestamp too (a datetime subclass)
        return d.date()
    return d


@dataclass(frozen=True)
class RunDates:
    """What a run started at ``run_at`` is about."""

    run_at: datetime
    decision_session: date  # latest complete session: the data's last bar (T-1)
    execution_session: date  # the session the ticket is executed in (T)


@dataclass(frozen=True)
class ExecutionWindow:
    session: date
    start: datetime  # aware, in the requested local time zone
    end: datetime
    market_open: datetime  # aware, same zone
    market_close: datetime
    early_close: bool


class ExchangeCalendar:
    """Sessions of one exchange, precomputed for FIRST_YEAR..LAST_YEAR."""

    def __init__(self, name: str = "XNYS"):
        import numpy as np
        import pandas as pd
        import pandas_market_calendars as mcal

        self.name = name
        cal = mcal.get_calendar(name)
        sched = cal.schedule(f"{FIRST_YEAR}-01-01", f"{LAST_YEAR}-12-31")
        self._open = sched["market_open"]
        self._close = sched["market_close"]
        self._dates = np.array([d.date() for d in sched.index], dtype=object)
        self._index = pd.DatetimeIndex(sched.index)
        self._pos = {d: i for i, d in enumerate(self._dates)}
        early = cal.early_closes(sched)
        self._early = {d.date() for d in early.index}
        self.tz = ZoneInfo(str(cal.tz))

    # ------------------------------------------------------------------ basics
    def _check_range(self, d: date) -> None:
        if not (FIRST_YEAR <= d.year <= LAST_YEAR):
            raise CalendarError(f"date {d} is outside the calendar's range {FIRST_YEAR}..{LAST_YEAR}")

    def is_session(self, d) -> bool:
        d = _as_date(d)
        self._check_range(d)
        return d in self._pos

    def is_early_close(self, d) -> bool:
        d = _as_date(d)
        self._require_session(d)
        return d in self._early

    def _require_session(self, d: date) -> int:
        self._check_range(d)
        try:
            return self._pos[d]
        except KeyError:
            raise CalendarError(f"{d} is not a {self.name} session") from None

    def _searchsorted(self, d: date, side: str) -> int:
        self._check_range(d)
        import pandas as pd

        return int(self._index.searchsorted(pd.Timestamp(d), side=side))

    def sessions(self, start, end) -> list[date]:
        """Sessions with start <= session <= end."""
        i = self._searchsorted(_as_date(start), "left")
        j = self._searchsorted(_as_date(end), "right")
        return list(self._dates[i:j])

    def sessions_index(self, start, end) -> pd.DatetimeIndex:
        i = self._searchsorted(_as_date(start), "left")
        j = self._searchsorted(_as_date(end), "right")
        return self._index[i:j]

    def previous_session(self, d) -> date:
        """The last session strictly before d."""
        i = self._searchsorted(_as_date(d), "left")
        if i == 0:
            raise CalendarError(f"no session before {d} in the calendar")
        return self._dates[i - 1]

    def next_session(self, d) -> date:
        """The first session strictly after d."""
        j = self._searchsorted(_as_date(d), "right")
        if j >= len(self._dates):
            raise CalendarError(f"no session after {d} in the calendar")
        return self._dates[j]

    def sessions_back(self, end, count: int) -> list[date]:
        """The ``count`` sessions ending at ``end`` (inclusive if it is a session)."""
        if count < 1:
            raise CalendarError(f"count must be >= 1, got {count}")
        j = self._searchsorted(_as_date(end), "right")
        i = max(0, j - count)
        return list(self._dates[i:j])

    def session_number(self, d) -> int:
        """The position of session ``d`` in the calendar (its first session is 0): a fixed count
        for schedules that must fall on the same sessions whatever window is looked at."""
        return self._require_session(_as_date(d))

    def session_offset(self, d, n: int) -> date:
        """The session n sessions after (n>0) or before (n<0) session d."""
        i = self._require_session(_as_date(d)) + n
        if not 0 <= i < len(self._dates):
            raise CalendarError(f"{n} sessions from {d} falls outside the calendar")
        return self._dates[i]

    def market_open(self, d) -> datetime:
        i = self._require_session(_as_date(d))
        return self._open.iloc[i].to_pydatetime()

    def market_close(self, d) -> datetime:
        i = self._require_session(_as_date(d))
        return self._close.iloc[i].to_pydatetime()

    # ------------------------------------------------------------------ the run
    def latest_complete_session(self, at: datetime) -> date:
        """The last session whose close is at or before ``at`` (an aware datetime)."""
        if at.tzinfo is None:
            raise CalendarError(f"run time {at} has no time zone; pass an aware datetime")
        d = at.astimezone(self.tz).date()
        candidate = d if self.is_session(d) else self.previous_session(d)
        if self.market_close(candidate) <= at:
            return candidate
        return self.previous_session(candidate)

    def run_dates(self, run_at: datetime, local_tz: ZoneInfo = UK) -> RunDates | None:
        """Decision and execution sessions for a run started at ``run_at``.

        ``None`` means the market is closed on the run's local date: the run
        records "market closed" and stops.  Otherwise the data's last bar is
        the latest complete session (T-1 in the UK morning) and the ticket is
        executed in the next session.
        """
        if run_at.tzinfo is None:
            run_at = run_at.replace(tzinfo=local_tz)
        local_day = run_at.astimezone(local_tz).date()
        if not self.is_session(local_day):
            return None
        decision = self.latest_complete_session(run_at)
        return RunDates(run_at=run_at, decision_session=decision, execution_session=self.next_session(decision))

    def execution_window(self, d, start_minutes: int, end_minutes: int, tz: ZoneInfo = UK) -> ExecutionWindow:
        """The execution window (US open + minutes) in ``tz``; never past the close."""
        d = _as_date(d)
        opened, closed = self.market_open(d), self.market_close(d)
        start = opened + timedelta(minutes=start_minutes)
        end = min(opened + timedelta(minutes=end_minutes), closed)
        if start >= end:
            raise CalendarError(f"execution window {start_minutes}..{end_minutes} min after the open is empty on {d}")
        return ExecutionWindow(
            session=d,
            start=start.astimezone(tz),
            end=end.astimezone(tz),
            market_open=opened.astimezone(tz),
            market_close=closed.astimezone(tz),
            early_close=d in self._early,
        )

    # ------------------------------------------------------------------ rebalancing
    def _period_key(self, idx: pd.DatetimeIndex, frequency: str):
        import numpy as np

        if frequency == "daily":
            return np.arange(len(idx))
        if frequency == "weekly":
            iso = idx.isocalendar()
            return iso["year"].to_numpy() * 100 + iso["week"].to_numpy()
        if frequency == "monthly":
            return idx.year * 100 + idx.month
        raise CalendarError(f"rebalance frequency {frequency!r} is unknown; allowed daily, weekly, monthly")

    def rebalance_sessions(self, start, end, frequency: str) -> list[date]:
        """First session of each period (week or month) between start and end."""
        import numpy as np

        start, end = _as_date(start), _as_date(end)
        # widen to whole periods so the first session of a period is seen
        lo = self._searchsorted(start - timedelta(days=31), "left")
        hi = self._searchsorted(end, "right")
        idx = self._index[lo:hi]
        key = np.asarray(self._period_key(idx, frequency))
        first = np.ones(len(idx), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        firsts = [self._dates[lo + i] for i in np.flatnonzero(first)]
        return [d for d in firsts if start <= d <= end]

    def is_rebalance_session(self, d, frequency: str) -> bool:
        d = _as_date(d)
        return self.is_session(d) and d in self.rebalance_sessions(d, d, frequency)

    def next_rebalance(self, after, frequency: str) -> date:
        """The first rebalance session on or after ``after``."""
        after = _as_date(after)
        found = self.rebalance_sessions(after, after + timedelta(days=40), frequency)
        if not found:
            raise CalendarError(f"no {frequency} rebalance session found after {after}")
        return found[0]


@lru_cache(maxsize=4)
def get_calendar(name: str = "XNYS") -> ExchangeCalendar:
    return ExchangeCalendar(name)


# the time zone of the exchanges in use, so the zone alone does not build the calendar (its schedule
# from pandas-market-calendars costs a second of CPU in a fresh process: the page's first paint needs
# only the zone); tests/test_calendar.py checks each against pandas-market-calendars
EXCHANGE_TZ = {"XNYS": "America/New_York", "NYSE": "America/New_York", "NASDAQ": "America/New_York", "XLON": "Europe/London"}


def exchange_tz(name: str = "XNYS") -> ZoneInfo:
    """The exchange's time zone (the calendar's own, without building the calendar when known)."""
    zone = EXCHANGE_TZ.get(name)
    return ZoneInfo(zone) if zone else get_calendar(name).tz
