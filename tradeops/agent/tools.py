"""What the assistant's tools do, without the MCP wiring (that is :mod:`tradeops.agent.server`).

A :class:`Toolbox` answers questions about one workspace: market data from
the clean parquet, the ledger (read-only), research on the clean data, a
what-if of the risk guard, and the "why" of an archived ticket.  Every
answer is a JSON-safe dict (Decimals as exact strings), bounded in size:
long lists come in pages of :data:`PAGE_SIZE` with ``page``/``pages``.

Nothing here writes, except :meth:`Toolbox.write_fills`, which goes through
the confirmation page's own check and write (:func:`tradeops.dashboard.actions.confirm`),
and :meth:`Toolbox.backtest`, whose report goes to ``reports/research/`` (a
research output, never the ledger, runs, tickets or data).
Ledger reads run in a transaction that is always rolled back, so a read can
never commit anything.  Bad input raises :class:`~tradeops.errors.ValidationError`
(or the package's other errors) with a message naming the value and the bound.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

import pandas as pd

from ..calendar import get_calendar
from ..clock import SYSTEM, Clock
from ..config import Policy, Universe, Workspace
from ..errors import DataError, ValidationError
from ..ledger import api, db

from .limits import (  # noqa: F401  (re-exported)
    _num,
    EVENTS_PAGE,
    MAX_BACKTEST_SESSIONS,
    MAX_PAYLOAD,
    MAX_SWEEP_SESSIONS,
    MAX_SWEEP_VALUES,
    MAX_SYMBOLS,
    MAX_TOP,
    OVERRIDES,
    page_of,
    PAGE_SIZE,
    RESEARCH_REPORTS,
    TICKET_ID,
    with_overrides,
)
from .research_tools import ResearchTools


@dataclass
class Toolbox(ResearchTools):
    """The tools' answers for the workspace at ``root``; ``clock`` gives "now"."""

    workspace: Workspace
    clock: Clock = SYSTEM
    _engine: object = field(default=None, init=False, repr=False)
    _eod: tuple[float, pd.DataFrame] | None = field(default=None, init=False, repr=False)  # (mtime, frame)

    @classmethod
    def at(cls, root: str | Path, clock: Clock = SYSTEM) -> "Toolbox":
        ws = Workspace.at(root)
        if not ws.root.is_dir():
            raise ValidationError(f"workspace {ws.root} does not exist")
        return cls(ws, clock)

    # ------------------------------------------------------------------ edges

    def policy(self) -> Policy:
        return self.workspace.policy()

    def universe(self, policy: Policy | None = None) -> Universe:
        return self.workspace.universe(policy)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def engine(self):
        """The ledger's engine (one per server), refusing a database that is not at the current schema."""
        if self._engine is None:
            self._engine = db.open_at_head(self.workspace.db_url())
        return self._engine

    @contextmanager
    def reading(self) -> Iterator:
        """A ledger session that is always rolled back: reads only."""
        with db.session_factory(self.engine(), self.clock)() as s:
            s.begin()
            try:
                yield s
            finally:
                s.rollback()

    def eod(self) -> pd.DataFrame:
        """The clean parquet, read again only when the daily run has rewritten it."""
        path = self.workspace.clean_path
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            raise DataError(f"no clean data at {path}: run `tradeops data build` (or the daily run) first") from None
        if self._eod is None or self._eod[0] != mtime:
            self._eod = (mtime, pd.read_parquet(path))
        return self._eod[1]

    def _sessions_covered(self) -> tuple[date, date]:
        dates = self.eod()["date"]
        return dates.min().date(), dates.max().date()

    def _check_window(self, start: date, end: date, what: str) -> tuple[date, date]:
        first, last = self._sessions_covered()
        if start > end:
            raise ValidationError(f"{what}: start {start} is after end {end}")
        if start < first or end > last:
            raise ValidationError(f"{what}: {start}..{end} is out of range; the clean data covers {first}..{last}")
        return start, end

    def _known_symbols(self, symbols: Sequence[str]) -> list[str]:
        have = set(self.eod()["symbol"].unique())
        unknown = [s for s in symbols if s not in have]
        if unknown:
            raise ValidationError(f"unknown symbol {unknown[0]!r}: not in the clean data ({len(have)} symbols, e.g. {sorted(have)[:5]})")
        return list(dict.fromkeys(symbols))

    def _marks(self, s, as_of: date | None) -> tuple[dict[str, Decimal], date | None, str]:
        """Closes per symbol on or before ``as_of``: the clean data, else the ledger's price cache."""
        if self.workspace.clean_path.exists():
            eod = self.eod()
            last = eod["date"].max().date()
            day = min(as_of or last, last)
            frame = eod.loc[eod["date"] <= pd.Timestamp(day), ["symbol", "date", "close"]]
            return api.marks_on(api.price_series_from_frame(frame), day), day, "clean data"
        prices = api.load_prices(s)
        last = max((max(v) for v in prices.values() if v), default=None)
        day = as_of or last
        return (api.marks_on(prices, day) if day else {}), day, "ledger price cache"

    def _price_series(self) -> api.PriceSeries | None:
        if not self.workspace.clean_path.exists():
            return None
        return api.price_series_from_frame(self.eod()[["symbol", "date", "close"]])

    # ------------------------------------------------------------------ market data

    def prices(self, symbols: Sequence[str], start: date, end: date, page: int = 1) -> dict:
        """Closes, adjusted closes, volume and daily total returns (from adjusted closes)."""
        if not symbols:
            raise ValidationError("symbols: give at least one symbol")
        if len(symbols) > MAX_SYMBOLS:
            raise ValidationError(f"symbols: {len(symbols)} given, at most {MAX_SYMBOLS} per call")
        symbols = self._known_symbols(symbols)
        self._check_window(start, end, "prices")
        eod = self.eod()
        frame = eod.loc[eod["symbol"].isin(symbols), ["symbol", "date", "close", "adj_close", "volume"]].sort_values(["symbol", "date"])
        frame = frame.assign(ret=frame.groupby("symbol")["adj_close"].pct_change())
        frame = frame[(frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))]
        rows = [
            {"symbol": s, "date": d.date().isoformat(), "close": _num(c), "adj_close": _num(a), "volume": None if v != v else int(v), "return": _num(r)}
            for s, d, c, a, v, r in zip(frame["symbol"], frame["date"], frame["close"], frame["adj_close"], frame["volume"], frame["ret"])
        ]
        return {"symbols": symbols, "start": start.isoformat(), "end": end.isoformat(), "source": str(self.workspace.clean_path), **page_of(rows, page)}

    def data_quality(self, page: int = 1) -> dict:
        """The latest data-quality report: verdict, reasons, checks; excluded symbols paged."""
        from ..data.quality import QualityReport

        report = QualityReport.load(self.workspace.quality_dir / "quality.json").to_dict()
        excluded = [{"symbol": k, "reasons": v} for k, v in sorted(report.get("excluded", {}).items())]
        checks = [
            {**{k: c.get(k) for k in ("name", "scope", "rule", "threshold", "observed", "passed", "detail")}, "symbols": c.get("symbols", [])[:MAX_TOP]}
            for c in report.get("checks", [])
        ]
        keys = ("as_of", "run_id", "benchmark", "universe_size", "passed", "trade_allowed", "reasons", "output", "generated_at")
        out = {k: report.get(k) for k in keys}
        return {**out, "checks": checks, "excluded": page_of(excluded, page)}

    # ------------------------------------------------------------------ ledger (read-only)

    def ledger_status(self) -> dict:
        """Cash, positions, kill switch, operating state and the unconfirmed ticket lines."""
        with self.reading() as s:
            cash = api.compute_cash(s)
            switch, state = api.kill_switch(s), api.current_state(s)
            snap = api.latest_snapshot(s)
            return api.jsonable(
                {
                    "currency": cash.currency,
                    "cash": cash.amount,
                    "positions": api.compute_positions(s),
                    "kill_switch": {"value": switch.value, "reason": switch.reason},
                    "state": {"value": state.value, "reason": state.reason},
                    "last_snapshot": snap.taken_at if snap else None,
                    "unconfirmed": [
                        {"ticket_id": ln.ticket.ticket_id, "line_no": ln.line_no, "side": ln.side, "symbol": ln.symbol, "value": ln.value}
                        for ln in api.unconfirmed_lines(s)
                    ],
                }
            )

    def pnl(self, as_of: date | None = None) -> dict:
        """Realized (FIFO) and unrealized P&L, marked at the close of ``as_of`` (default: the latest close)."""
        cal = get_calendar(self.policy().schedule.exchange)
        if self.workspace.clean_path.exists():
            self.eod()  # read the parquet before the transaction
        with self.reading() as s:
            marks, day, source = self._marks(s, as_of)
            if day is not None and not cal.is_session(day):
                day = cal.previous_session(day)
            when = cal.market_close(day) if day else None
            held = api.compute_positions(s, as_of=when)
            pnl = api.compute_pnl(s, {k: marks[k] for k in held if k in marks}, as_of=when)
            return {"marked_on": day.isoformat() if day else None, "marks_from": source, **pnl.to_dict()}

    def equity_curve(self, start: date | None = None, end: date | None = None, page: int = 1) -> dict:
        """Equity at every session's close (cash + units x close) and the drawdown since the last resume."""
        from ..ledger.gates import drawdown

        if start and end and start > end:
            raise ValidationError(f"equity_curve: start {start} is after end {end}")
        prices = self._price_series()  # before the transaction: on SQLite even a read holds the write lock
        with self.reading() as s:
            points = api.compute_equity_curve(s, prices, start=start, end=end)
            dd = drawdown(api.compute_equity_curve(s, prices, start=api.last_resume(s), end=end))
        rows = [p.to_dict() for p in points]
        facts = (
            None
            if dd is None
            else api.jsonable(
                {
                    "drawdown": round(dd.drawdown, 6),
                    "peak_day": dd.peak_day,
                    "peak_equity": dd.peak_equity,
                    "current_day": dd.current_day,
                    "current_equity": dd.current_equity,
                }
            )
        )
        return {"drawdown": facts, **page_of(rows, page)}

    def ticket(self, ticket_id: str | None = None) -> dict:
        """A ticket (default: the latest one) with its lines, band and the answer recorded for each."""
        from ..dashboard import model

        if ticket_id is not None and not TICKET_ID.match(ticket_id):
            raise ValidationError(f"ticket id {ticket_id!r} is not of the form TICKET-YYYYMMDD[-Rn]")
        policy = self.policy()
        tz = ZoneInfo(policy.schedule.timezone)
        with self.reading() as s:
            view = model.ticket_view(s, ticket_id, policy, tz) if ticket_id else model.current_ticket(s, policy, tz)
        if view is None:
            return {"ticket": None, "note": "no ticket has been issued yet"}
        lines = []
        for ln in view.lines:
            fill = ln.fill
            lines.append(
                api.jsonable(
                    {
                        "line_no": ln.line_no,
                        "side": ln.side,
                        "symbol": ln.symbol,
                        "value": ln.value,
                        "approx_units": ln.approx_units,
                        "reference_price": ln.reference_price,
                        "band": ln.band,
                        "price_low": ln.price_low,
                        "price_high": ln.price_high,
                        "close_position": ln.close_position,
                        "order_type": ln.order_type,
                        "fill": None
                        if fill is None
                        else {
                            "status": fill.status,
                            "units": fill.units,
                            "price": fill.price,
                            "fees": fill.fees,
                            "filled_at": fill.filled_at,
                            "reason": fill.reason,
                            "override_reason": fill.override_reason,
                            "actor": fill.actor,
                        },
                    }
                )
            )
        return api.jsonable(
            {
                "ticket_id": view.ticket_id,
                "kind": view.kind,
                "status": view.status,
                "status_reason": view.status_reason,
                "session_date": view.session_date,
                "headline": view.headline,
                "window": {"start": view.window.start, "end": view.window.end, "timezone": policy.schedule.timezone},
                "confirm_by": view.confirm_by,
                "confirmed": view.confirmed,
                "lines": lines,
                "failures": list(view.failures),
            }
        )

    def reconciliation(self) -> dict:
        """The latest broker snapshot against the ledger at its time (computed now; nothing is recorded)."""
        policy = self.policy()
        with self.reading() as s:
            report = api.reconcile_snapshot(s, policy.reconciliation, now=self.clock.now())
            last = api.events(s, kind="RECONCILIATION", limit=1)
        return {
            **report.to_dict(),
            "reasons": report.reasons,
            "text": report.render(),
            "last_recorded": None if not last else {"at": last[0].at.isoformat(), "actor": last[0].actor, "passed": last[0].payload.get("passed")},
        }

    def alerts(self, page: int = 1) -> dict:
        """Alerts raised so far (data/alerts.json), newest first, and whether each was delivered."""
        path = self.workspace.data_dir / "alerts.json"
        try:
            raw = json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError as err:
            raise DataError(f"alert store {path} is not valid JSON ({err})") from None
        rows = sorted(({"key": k, **v} for k, v in raw.items()), key=lambda r: r.get("first_raised_at") or "", reverse=True)
        return page_of(rows, page)

    def events(self, kind: str | None = None, page: int = 1) -> dict:
        """The ledger's event log (who did what, when), newest first, :data:`EVENTS_PAGE` a page;
        a payload longer than :data:`MAX_PAYLOAD` characters (a whole ticket) is left out with its size."""
        size = EVENTS_PAGE
        with self.reading() as s:
            found = api.events(s, kind=kind, limit=size * page + 1)
            rows = []
            for e in found[: size * page]:
                payload = api.jsonable(e.payload)
                text = json.dumps(payload)
                if len(text) > MAX_PAYLOAD:
                    payload = {"omitted": f"{len(text)} characters; ledger_ticket or ticket_explain show a ticket"}
                rows.append(api.jsonable({"id": e.id, "at": e.at, "kind": e.kind, "actor": e.actor, "ticket_id": e.ticket_id, "payload": payload}))
        out = page_of(rows, page, size) if rows or page > 1 else {"page": 1, "pages": 1, "rows_total": 0, "rows": []}
        out.pop("rows_total")
        out.pop("pages")
        out["more"] = len(found) > size * page
        return out

    # ------------------------------------------------------------------ ticketing

    def explain_ticket(self, ticket_id: str) -> dict:
        """The "why" of a ticket, read from the run archive that issued it."""
        from ..daily import list_runs

        if not TICKET_ID.match(ticket_id or ""):
            raise ValidationError(f"ticket id {ticket_id!r} is not of the form TICKET-YYYYMMDD[-Rn]")
        runs = [m for m in list_runs(self.workspace) if m.ticket_id == ticket_id]
        if not runs:
            raise ValidationError(f"no run archive under {self.workspace.runs_dir} issued {ticket_id}")
        manifest = runs[-1]
        run_dir = next(iter(sorted(self.workspace.runs_dir.glob(f"*/{manifest.run_id}"))))
        base = ticket_id.split("-R")[0]
        md_path, json_path = run_dir / f"{base}.md", run_dir / f"{base}.json"
        if not json_path.exists() or not md_path.exists():
            raise DataError(f"the archive {run_dir} has no {base}.md/.json")
        data = json.loads(json_path.read_text())
        return {
            "ticket_id": ticket_id,
            "run_id": manifest.run_id,
            "archive": str(run_dir.relative_to(self.workspace.root)),
            "kind": data.get("kind"),
            "headline": data.get("headline"),
            "state": data.get("state"),
            "why_text": why_section(md_path.read_text(encoding="utf-8")),
            "why": data.get("why"),
            "failures": data.get("failures"),
            "rules": data.get("rules"),
            "version": data.get("version"),
        }

    # ------------------------------------------------------------------ the one write

    def write_fills(self, ticket_id: str, lines: Sequence[Mapping[str, str | None]], actor: str) -> dict:
        """Answers for some lines of an OPEN ticket, checked and written exactly as the confirmation page does."""
        from ..dashboard import actions
        from ..dashboard.validation import LineEntry

        if not TICKET_ID.match(ticket_id or ""):
            raise ValidationError(f"ticket id {ticket_id!r} is not of the form TICKET-YYYYMMDD[-Rn]")
        entries: dict[int, LineEntry] = {}
        for raw in lines:
            n = int(raw["line_no"])
            if n in entries:
                raise ValidationError(f"line {n} is given twice; one answer per line")
            entries[n] = LineEntry(**{k: (v if v is not None else "") for k, v in raw.items() if k != "line_no"})
        policy = self.policy()
        outcome = actions.confirm(
            self.engine(),
            ticket_id,
            entries,
            {},
            tickets_dir=self.workspace.tickets_dir,
            root=self.workspace.root,
            policy=policy,
            tz=ZoneInfo(policy.schedule.timezone),
            actor=actor,
            clock=self.clock,
        )
        if not outcome.ok:
            details = "; ".join(f"{k}: {v}" for k, v in sorted(outcome.errors.items()) if k != "form")
            raise ValidationError(outcome.message + (f" [{details}]" if details else ""))
        return {"ok": True, "message": outcome.message, "saved_lines": list(outcome.saved), "actor": actor}


def why_section(markdown: str) -> str:
    """The ticket's "Why" (or "Why there is no trade today") section, as written in the archive."""
    out, keep = [], False
    for line in markdown.splitlines():
        if line.startswith("## "):
            keep = line.startswith("## Why")
        if keep:
            out.append(line)
    return "\n".join(out).strip()
