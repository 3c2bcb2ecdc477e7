"""The one clock: injectable, pinned in tests, and the only place the package reads the wall clock."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tradeops import clock as clock_mod
from tradeops.clock import FIXED_NOW_ENV, SYSTEM, Clock, FixedClock, from_env, parse_instant
from tradeops.errors import ConfigError
from tradeops.ledger import api, db

PACKAGE = Path(clock_mod.__file__).resolve().parent
# attribute calls that read the machine's clock
WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("Timestamp", "now"),
    ("Timestamp", "today"),
    ("Timestamp", "utcnow"),
}


def _wall_clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if (name, node.func.attr) in WALL_CLOCK:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}.{node.func.attr}()")
    return found


def test_only_the_clock_module_reads_the_wall_clock():
    """Everything else takes a Clock (or a ``now``); a test pins it."""
    # the initial migration stamps the first account with the time it ran: a one-off, not code under test
    allowed = {PACKAGE / "clock.py", PACKAGE / "ledger" / "migrations" / "versions" / "0001_initial_schema.py"}
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path not in allowed for hit in _wall_clock_reads(path)]
    assert found == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    sample = PACKAGE / "_scan_sample.py"
    try:
        sample.write_text("import time, datetime as dt\nx = dt.datetime.now()\ny = time.time()\nz = dt.date.today()\n")
        assert [h.split(": ")[1] for h in _wall_clock_reads(sample)] == ["datetime.now()", "time.time()", "date.today()"]
    finally:
        sample.unlink()


def test_system_clock_is_aware_utc():
    now = SYSTEM.now()
    assert isinstance(SYSTEM, Clock) and now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_fixed_clock_stays_put_until_moved():
    uk = ZoneInfo("Europe/London")
    c = FixedClock(datetime(2026, 3, 29, 0, 30, tzinfo=uk))  # GMT until 01:00 that night
    assert c.now() == datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc) and c.now() == c.now()
    c.advance(timedelta(hours=1))
    assert c.now().astimezone(uk).strftime("%H:%M %Z") == "02:30 BST"  # across the spring change
    c.set(datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc))
    assert c.now().astimezone(uk).strftime("%H:%M %Z") == "01:30 BST"
    c.advance(timedelta(hours=1))
    assert c.now().astimezone(uk).strftime("%H:%M %Z") == "01:30 GMT"  # the autumn change repeats 01:xx
    assert isinstance(c, Clock) and "2026-10-25T01:30:00+00:00" in repr(c)


def test_a_naive_instant_is_refused_with_its_value():
    with pytest.raises(ConfigError, match=r"2026-03-30T07:30:00 has no time zone"):
        FixedClock(datetime(2026, 3, 30, 7, 30))


def test_from_env():
    assert from_env({}) is SYSTEM
    pinned = from_env({FIXED_NOW_ENV: "2026-03-30T07:30:00+01:00"})
    assert pinned.now() == datetime(2026, 3, 30, 6, 30, tzinfo=timezone.utc)
    with pytest.raises(ConfigError, match="TRADEOPS_FIXED_NOW='tomorrow' is not an ISO 8601 instant"):
        from_env({FIXED_NOW_ENV: "tomorrow"})
    with pytest.raises(ConfigError, match="has no time zone"):
        parse_instant("2026-03-30T07:30")


def test_the_ledger_stamps_rows_with_the_session_clock(db_url):
    """Event times and created_at come from the clock the transaction was given, on both backends."""
    engine = db.init_db(db_url)
    pinned = FixedClock(datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc))
    try:
        with db.transaction(engine, pinned) as s:
            api.record_cash_movement(s, "DEPOSIT", "1000", "2026-11-30", actor="test")
            api.record_event(s, "NOTE", {"what": "pinned"}, actor="test")
        pinned.advance(timedelta(minutes=45))  # past midnight UTC
        with db.transaction(engine, pinned) as s:
            api.record_event(s, "NOTE", {"what": "later"}, actor="test")
        with db.transaction(engine) as s:
            stamps = sorted((e.at, e.payload.get("what")) for e in api.events(s, kind="NOTE"))
    finally:
        engine.dispose()
    assert stamps == [(datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc), "pinned"), (datetime(2026, 12, 2, 0, 15, tzinfo=timezone.utc), "later")]
