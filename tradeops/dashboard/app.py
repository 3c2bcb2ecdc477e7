"""The page: a title, the account line, and four tabs (ticket, snapshot, kill switch, history).

:func:`app_from_env` is what ``notebooks/dashboard.ipynb`` calls (after
:func:`wait_for_request`, which in Voilà's pre-heated kernel waits for the page request): the
workspace is ``TRADEOPS_HOME`` (default: the current folder), the database
``TRADEOPS_DB_URL`` or the workspace's SQLite file.  When the page cannot
start (no policy, a ledger that is not initialised) it shows one plain
sentence; tracebacks go to the server's log only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo

import ipywidgets as w
from sqlalchemy import Engine

from .. import clock
from ..clock import SYSTEM, Clock
from ..config import Policy, Workspace
from ..errors import LedgerError, TradeopsError
from ..ledger import api, db
from . import actions, model, render
from .actions import Outcome
from .validation import LineEntry
from .widgets import HistoryPanel, KillSwitchPanel, SnapshotPanel, TicketPanel

log = logging.getLogger("tradeops.dashboard")
TICK_SECONDS = 20
TABS = ("Ticket", "Broker snapshot", "Kill switch", "History")


class Dashboard:
    """The whole page for one workspace and ledger; ``widget`` is what Voilà displays."""

    def __init__(
        self, engine: Engine, workspace: Workspace, policy: Policy, *, actor: str = "dashboard", account: str = api.DEFAULT_ACCOUNT, clock: Clock = SYSTEM
    ):
        self.engine, self.workspace, self.policy = engine, workspace, policy
        self.actor, self.account = actor, account
        self.tz = ZoneInfo(policy.schedule.timezone)
        self.clock = clock
        self.title = w.HTML("<h1>Trade confirmation</h1>")
        self.account_bar = w.HTML()
        self.ticket = TicketPanel(self)
        self.snapshot_panel = SnapshotPanel(self)
        self.kill = KillSwitchPanel(self)
        self.history = HistoryPanel()
        self.tabs = w.Tab(children=[self.ticket.widget, self.snapshot_panel.widget, self.kill.widget, self.history.widget])
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        self.widget = w.VBox([w.HTML(render.STYLE), self.title, self.account_bar, self.tabs])
        self.widget.add_class("to-page")
        self._task: asyncio.Task | None = None
        self.tabs.observe(self._on_tab, "selected_index")
        self.refresh()

    def history_shown(self) -> bool:
        return self.tabs.selected_index == TABS.index("History")

    def _on_tab(self, _change) -> None:
        """The history is read when its tab is opened (and kept current while it is open): it is 20
        tickets with their fills, more than half of a Save's time if read on every redraw."""
        if self.history_shown():
            self.history.load(self._read_history)

    def _read_history(self) -> list[model.HistoryEntry]:
        with db.transaction(self.engine, self.clock) as s:
            return model.history(s, self.policy, self.tz, account=self.account)

    def now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)

    # ------------------------------------------------------------------ reading
    def refresh(self, ticket_id: str | None = None) -> None:
        """Reload everything from the ledger (one read transaction) and redraw; the history only while its tab is open."""
        with db.transaction(self.engine, self.clock) as s:
            waiting = model.tickets_to_confirm(s, account=self.account)
            if ticket_id is None and self.ticket.ticket is not None and self.ticket.ticket.ticket_id in waiting:
                ticket_id = self.ticket.ticket.ticket_id  # stay on the ticket being confirmed
            try:
                ticket = model.ticket_view(s, ticket_id, self.policy, self.tz, account=self.account) if ticket_id else None
            except LedgerError:
                ticket = None
            ticket = ticket or model.current_ticket(s, self.policy, self.tz, account=self.account)
            account = model.account_view(s, account=self.account)
            spendable = model.budget_cash(s, ticket, account=self.account)
            history = model.history(s, self.policy, self.tz, account=self.account) if self.history_shown() else None
        now = self.now()
        self.account_bar.value = render.account_bar(account, now)
        self.ticket.show(ticket, waiting, now, spendable)
        self.snapshot_panel.show(account, ticket)
        self.kill.show(account)
        if history is not None:
            self.history.show(history)

    def tick(self) -> None:
        self.ticket.tick(self.now())

    def start_background(self) -> None:
        """Once the page is shown: keep the countdown current (on the kernel's event loop), and
        load the exchange calendar the ledger's writes need, so the first submit is not slowed by it."""
        threading.Thread(target=api.exchange_date, args=(self.clock.now(),), name="tradeops-calendar", daemon=True).start()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._run_clock())

    async def _run_clock(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the clock must never take the page down
                log.exception("dashboard: countdown update failed")

    # ------------------------------------------------------------------ writing
    def confirm(self, ticket_id: str, entries: Mapping[int, LineEntry], screenshots: Mapping[int, bytes]) -> Outcome:
        return actions.confirm(
            self.engine,
            ticket_id,
            entries,
            screenshots,
            tickets_dir=self.workspace.tickets_dir,
            root=self.workspace.root,
            policy=self.policy,
            tz=self.tz,
            actor=self.actor,
            account=self.account,
            clock=self.clock,
        )

    def snapshot(self, cash: str, units: Mapping[str, str], extra: list[tuple[str, str]]) -> Outcome:
        return actions.snapshot(self.engine, cash, units, extra, policy=self.policy, actor=self.actor, account=self.account, clock=self.clock)

    def kill_switch(self, turn_on: bool, reason: str, confirmed: bool) -> Outcome:
        return actions.kill_switch(self.engine, turn_on, reason, confirmed, actor=self.actor, account=self.account, clock=self.clock)


def open_ledger(url: str) -> Engine:
    """An engine on ``url``, refusing a ledger that is not at the current schema (:func:`tradeops.ledger.db.open_at_head`)."""
    return db.open_at_head(url)


def build_app(workspace: Workspace, *, engine: Engine | None = None, actor: str | None = None, clock: Clock = SYSTEM) -> Dashboard:
    """The page for ``workspace`` (its policy; its ledger unless ``engine`` is given)."""
    policy = workspace.policy()
    engine = engine or open_ledger(workspace.db_url())
    return Dashboard(engine, workspace, policy, actor=actor or os.environ.get("TRADEOPS_ACTOR") or "dashboard", clock=clock)


def _log_to_server() -> None:
    """Send the package's log to the kernel process's own stderr (the Voilà terminal), not the page."""
    if not any(getattr(h, "_tradeops", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.__stderr__)
        handler._tradeops = True
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.propagate = False


PREHEAT_ENV = "VOILA_PREHEAT"  # "True" in the kernel Voilà starts ahead, for the next page request
WAITING = "dashboard: kernel ready, waiting for a page request"
BUILT = "dashboard: page read from the ledger and built"


def wait_for_request(environ: Mapping[str, str] = os.environ) -> None:
    """In Voilà's pre-heated kernel: wait for a page request (the package is imported by then).

    The ledger is read only after a page asks (:func:`app_from_env`), so a kernel that waited an hour
    still shows what was recorded meanwhile.  The exchange calendar (pandas, a second of CPU) is not
    loaded here: when the server has just started, the request is already waiting, and the calendar
    would slow the first paint; :meth:`Dashboard.start_background` loads it once the page is built.
    In a kernel started for a request (no pool, or the pool used up) it returns at once."""
    if environ.get(PREHEAT_ENV) != "True":
        return
    _log_to_server()
    # the server's log: the browser test waits for it; the benchmark reads the instant (a system-wide monotonic clock)
    print(f"{WAITING} (monotonic {time.monotonic():.3f})", file=sys.__stderr__, flush=True)
    info = _request_info(environ)
    if info is not None:
        os.environ.update({str(k): str(v) for k, v in info.items()})


def _request_info(environ: Mapping[str, str]) -> dict | None:
    """What ``voila.utils.wait_for_request()`` (Voilà 0.5.13) does, without importing ``voila.utils``
    (it pulls in Jupyter Server and nbconvert: 0.7-3 s of imports in the kernel, on the first page's
    path when the server has just started): open Voilà's request-info socket for this kernel and
    block until Voilà sends the page request that takes the kernel; None if the socket cannot be opened
    (then the page is read at once, as Voilà's own helper does)."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    base = environ.get("VOILA_WS_BASE_URL") or environ.get("VOILA_SERVER_URL") or "/"
    url = (
        f"{environ.get('VOILA_WS_PROTOCOL', 'ws')}://{environ.get('VOILA_APP_IP', '127.0.0.1')}:"
        f"{environ.get('VOILA_APP_PORT', '8866')}{base}voila/query/{environ.get('VOILA_KERNEL_ID', '')}"
    )
    try:
        with connect(url, open_timeout=5) as socket:
            return json.loads(socket.recv())
    except (OSError, TimeoutError, ValueError, WebSocketException) as err:
        log.warning("dashboard: no page request from Voilà at %s (%s); reading the ledger now", url, err)
        return None


def app_from_env(environ: Mapping[str, str] = os.environ) -> w.Widget:
    """The page for the workspace in ``TRADEOPS_HOME``; a plain message when it cannot start."""
    _log_to_server()
    started = time.perf_counter()
    try:
        app = build_app(Workspace.at(Path(environ.get("TRADEOPS_HOME") or ".")), clock=clock.from_env(environ))
    except TradeopsError as err:
        return w.HTML(render.fatal(str(err)))
    except Exception:  # noqa: BLE001 - never show a traceback on the page
        log.exception("dashboard: the page could not start")
        return w.HTML(render.fatal("Tell the owner: the details are in the server's log."))
    app.start_background()
    widgets = len(getattr(w.widgets.widget, "_instances", ()))  # every live widget model, layouts and styles included
    print(f"{BUILT} in {time.perf_counter() - started:.3f} s, {widgets} widgets (monotonic {time.monotonic():.3f})", file=sys.__stderr__, flush=True)
    return app.widget
