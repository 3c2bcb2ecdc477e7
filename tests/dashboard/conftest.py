"""Fixtures for the confirmation page: a demo workspace and ledger on SQLite and PostgreSQL.

``page`` is the whole page (:class:`tradeops.dashboard.Dashboard`) over the
demo ledger of :mod:`tradeops.dashboard.demo`: a deposit, an earlier ticket
that bought AAPL and KO, and an open TRADE ticket (SELL AAPL, BUY AVGO, BUY
MSFT) for :data:`DEMO_SESSION`.  The page's clock (``clock``) is pinned to
:data:`DEMO_NOW`, the next morning before the next run: the window has passed
and the whole session day lies behind it, whatever the hour the suite runs.
``kit`` gives small helpers (the suite runs with --import-mode=importlib, so
test modules cannot import a helper module).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo
from types import SimpleNamespace

import pytest

from tradeops.clock import FixedClock
from tradeops.dashboard import build_app
from tradeops.dashboard.demo import create_demo
from tradeops.ledger import api, db


DEMO_SESSION = date(2026, 11, 30)  # a Monday, a full NYSE session; the window is 14:35-15:30 UK
DEMO_NOW = datetime(2026, 12, 1, 6, 0, tzinfo=ZoneInfo("Europe/London"))  # next morning, before the 07:30 run


def fill_time(page, minutes: int = 10) -> str:
    """HH:MM (UK) ``minutes`` after the window of the page's ticket opened."""
    return (page.ticket.ticket.window.start + timedelta(minutes=minutes)).strftime("%H:%M")


def enter(form, status=None, **fields) -> None:
    """Type into a line form as a person would."""
    if status is not None:
        form.status.value = status
    for name, value in fields.items():
        getattr(form, name).value = value


def event_count(engine) -> int:
    with db.transaction(engine) as s:
        return len(api.events(s))


def fills(engine, ticket_id: str) -> dict:
    """line_no -> the active fill (or None)."""
    with db.transaction(engine) as s:
        return {st.line.line_no: st.fill for st in api.line_statuses(s, ticket_id)}


@pytest.fixture
def kit() -> SimpleNamespace:
    return SimpleNamespace(fill_time=fill_time, enter=enter, event_count=event_count, fills=fills, session=DEMO_SESSION, now=DEMO_NOW)


@pytest.fixture
def clock() -> FixedClock:
    """The page's clock, at :data:`DEMO_NOW`; a test moves it with ``set``/``advance``."""
    return FixedClock(DEMO_NOW)


@pytest.fixture
def demo(db_url, tmp_path, clock):
    """A demo workspace whose ledger (SQLite or PostgreSQL) holds the demo; yields (workspace, engine, ticket id)."""
    ws, url, ticket_id = create_demo(tmp_path / "ws", db_url, session=DEMO_SESSION, clock=clock)
    engine = db.make_engine(url)
    yield SimpleNamespace(ws=ws, engine=engine, ticket_id=ticket_id, url=url)
    engine.dispose()


@pytest.fixture
def page(demo, clock):
    return build_app(demo.ws, engine=demo.engine, actor="test", clock=clock)
