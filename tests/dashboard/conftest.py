"""Fixtures for the confirmation page: a demo workspace and ledger on SQLite and PostgreSQL.

``page`` is the whole page (:class:`tradeops.dashboard.Dashboard`) over the
demo ledger of :mod:`tradeops.dashboard.demo`: a deposit, an earlier ticket
that bought AAPL and KO, and an open TRADE ticket (SELL AAPL, BUY AVGO, BUY
MSFT) for the latest complete US session, whose window has therefore
passed.  ``kit`` gives small helpers (the suite runs with
--import-mode=importlib, so test modules cannot import a helper module).
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from tradeops.dashboard import build_app
from tradeops.dashboard.demo import create_demo
from tradeops.ledger import api, db


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
    return SimpleNamespace(fill_time=fill_time, enter=enter, event_count=event_count, fills=fills)


@pytest.fixture
def demo(db_url, tmp_path):
    """A demo workspace whose ledger (SQLite or PostgreSQL) holds the demo; yields (workspace, engine, ticket id)."""
    ws, url, ticket_id = create_demo(tmp_path / "ws", db_url)
    engine = db.make_engine(url)
    yield SimpleNamespace(ws=ws, engine=engine, ticket_id=ticket_id, url=url)
    engine.dispose()


@pytest.fixture
def page(demo):
    return build_app(demo.ws, engine=demo.engine, actor="test")
