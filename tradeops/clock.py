"""Where "now" comes from.

Code that needs the current instant takes a :class:`Clock` (default:
:data:`SYSTEM`, the machine's clock) instead of calling ``datetime.now()``,
so tests and rehearsals pin it to the instants that matter (before the
execution window, inside it, after the confirmation deadline, across midnight
UK and both clock changes) and the answer never depends on the hour the code
runs.  Every clock returns timezone-aware UTC datetimes.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from .errors import ConfigError

#: The environment variable that pins the clock of a process that cannot be
#: handed one (the Voilà page's kernel), e.g. for a rehearsal or a browser test.
FIXED_NOW_ENV = "TRADEOPS_FIXED_NOW"


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that says ``instant`` until it is moved with :meth:`set` or :meth:`advance`."""

    def __init__(self, instant: datetime):
        self._instant = _aware(instant, "FixedClock instant")

    def now(self) -> datetime:
        return self._instant

    def set(self, instant: datetime) -> None:
        self._instant = _aware(instant, "FixedClock instant")

    def advance(self, delta: timedelta) -> datetime:
        self._instant += delta
        return self._instant

    def __repr__(self) -> str:
        return f"FixedClock({self._instant.isoformat()})"


SYSTEM = SystemClock()


def _aware(instant: datetime, what: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ConfigError(f"{what} {instant.isoformat()} has no time zone: give an aware datetime (e.g. 2026-03-30T06:30+00:00)")
    return instant.astimezone(timezone.utc)


def parse_instant(text: str, what: str = FIXED_NOW_ENV) -> datetime:
    """'2026-03-30T07:30:00+01:00' -> aware UTC datetime; a clear error otherwise."""
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{what}={text!r} is not an ISO 8601 instant (e.g. 2026-03-30T07:30:00+01:00)") from None
    return _aware(instant, what)


def from_env(environ=None) -> Clock:
    """:data:`SYSTEM`, or a :class:`FixedClock` when ``TRADEOPS_FIXED_NOW`` is set."""
    environ = os.environ if environ is None else environ
    text = environ.get(FIXED_NOW_ENV, "").strip()
    return FixedClock(parse_instant(text)) if text else SYSTEM


def ensure(clock: Clock | None) -> Clock:
    return SYSTEM if clock is None else clock
