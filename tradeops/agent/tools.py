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

import hashlib
import json
import re
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
from ..config import Policy, Universe, Workspace, parse_policy, policy_yaml_data
from ..errors import DataError, ValidationError
from ..ledger import api, db

PAGE_SIZE = 200  # rows per page of any list
EVENTS_PAGE = 50
MAX_PAYLOAD = 2000
MAX_SYMBOLS = 25  # symbols per price query
MAX_BACKTEST_SESSIONS = 260  # about a year: a backtest answers in seconds, not minutes
MAX_SWEEP_VALUES = 5
MAX_SWEEP_SESSIONS = 130
MAX_TOP = 100
RESEARCH_REPORTS = "research"  # reports/<this>/: the only folder a research tool writes to
TICKET_ID = re.compile(r"^TICKET-\d{8}(-R\d{1,3})?$")

# what-if / research parameters: name -> (policy section path, type)
OVERRIDES: dict[str, tuple[tuple[str, ...], type]] = {
    "signal": (("strategy", "signal"), str),
    "lookback_1w": (("strategy", "momentum", "lookback_1w"), int),
    "lookback_4w": (("strategy", "momentum", "lookback_4w"), int),
    "lookback_12w": (("strategy", "momentum", "lookback_12w"), int),
    "volatility_window": (("strategy", "momentum", "volatility_window"), int),
    "target_positions": (("portfolio", "target_positions"), int),
    "max_positions": (("portfolio", "max_positions"), int),
    "max_weight": (("portfolio", "max_weight"), float),
    "min_cash_buffer": (("portfolio", "min_cash_buffer"), float),
    "max_turnover": (("portfolio", "max_turnover"), float),
    "rebalance_frequency": (("rebalance", "frequency"), str),
}


def page_of(rows: Sequence, page: int, size: int = PAGE_SIZE) -> dict:
    """One page of ``rows`` (1-based) with the paging facts; a page past the end is an error."""
    if page < 1:
        raise ValidationError(f"page {page} is below 1")
    pages = max(1, -(-len(rows) // size))
    if page > pages:
        raise ValidationError(f"page {page} is past the last page ({pages}) of {len(rows)} rows")
    return {"page": page, "pages": pages, "rows_total": len(rows), "rows": list(rows[(page - 1) * size : page * size])}


def with_overrides(policy: Policy, overrides: Mapping[str, object]) -> Policy:
    """The policy with some parameters changed, validated like policy.yml (bounds in the message)."""
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ValidationError(f"unknown parameter {unknown[0]!r}; allowed: {sorted(OVERRIDES)}")
    data = policy_yaml_data(policy)
    for name, value in overrides.items():
        if value is None:
            continue
        path, _ = OVERRIDES[name]
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return parse_policy(data)


def _decision_counts(result) -> dict[str, int]:
    """How many sessions of a backtest ended in each decision kind (TRADE, HOLD, NO-TRADE ...), most first."""
    if hasattr(result, "decisions"):  # the exact engine's result
        found = [d.kind for d in result.decisions.values()]
    else:  # the array engine's: a decision kind per session, -1 where none
        from ..research.array_engine import KINDS

        found = [KINDS[int(k)] for k in result.kind if k >= 0]
    kinds = pd.Series(found, dtype=object).value_counts()
    return {str(k): int(v) for k, v in kinds.items()}


def _num(x) -> float | None:
    return None if x is None or x != x else round(float(x), 6)


@dataclass
class Toolbox:
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
            return api.jsonable({
                "currency": cash.currency, "cash": cash.amount, "positions": api.compute_positions(s),
                "kill_switch": {"value": switch.value, "reason": switch.reason},
                "state": {"value": state.value, "reason": state.reason},
                "last_snapshot": snap.taken_at if snap else None,
                "unconfirmed": [
                    {"ticket_id": ln.ticket.ticket_id, "line_no": ln.line_no, "side": ln.side, "symbol": ln.symbol, "value": ln.value}
                    for ln in api.unconfirmed_lines(s)
                ],
            })

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
        facts = None if dd is None else api.jsonable({
            "drawdown": round(dd.drawdown, 6), "peak_day": dd.peak_day, "peak_equity": dd.peak_equity,
            "current_day": dd.current_day, "current_equity": dd.current_equity,
        })
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
            lines.append(api.jsonable({
                "line_no": ln.line_no, "side": ln.side, "symbol": ln.symbol, "value": ln.value, "approx_units": ln.approx_units,
                "reference_price": ln.reference_price, "band": ln.band, "price_low": ln.price_low, "price_high": ln.price_high,
                "close_position": ln.close_position, "order_type": ln.order_type,
                "fill": None if fill is None else {
                    "status": fill.status, "units": fill.units, "price": fill.price, "fees": fill.fees, "filled_at": fill.filled_at,
                    "reason": fill.reason, "override_reason": fill.override_reason, "actor": fill.actor,
                },
            }))
        return api.jsonable({
            "ticket_id": view.ticket_id, "kind": view.kind, "status": view.status, "status_reason": view.status_reason,
            "session_date": view.session_date, "headline": view.headline,
            "window": {"start": view.window.start, "end": view.window.end, "timezone": policy.schedule.timezone},
            "confirm_by": view.confirm_by, "confirmed": view.confirmed, "lines": lines, "failures": list(view.failures),
        })

    def reconciliation(self) -> dict:
        """The latest broker snapshot against the ledger at its time (computed now; nothing is recorded)."""
        policy = self.policy()
        with self.reading() as s:
            report = api.reconcile_snapshot(s, policy.reconciliation, now=self.clock.now())
            last = api.events(s, kind="RECONCILIATION", limit=1)
        return {
            **report.to_dict(), "reasons": report.reasons, "text": report.render(),
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

    # ------------------------------------------------------------------ research (compute only)

    def _research_window(self, start: date | None, end: date | None, limit: int, what: str, default: int) -> tuple[date, date]:
        first, last = self._sessions_covered()
        cal = get_calendar(self.policy().schedule.exchange)
        end = end or last
        if start is None:
            start = cal.session_offset(cal.previous_session(end) if not cal.is_session(end) else end, -default)
        self._check_window(start, end, what)
        n = len(cal.sessions(start, end))
        if n > limit:
            raise ValidationError(f"{what}: {start}..{end} has {n} sessions; at most {limit} per call")
        if n < 20:
            raise ValidationError(f"{what}: {start}..{end} has {n} sessions; at least 20 are needed")
        return start, end

    def _run_backtest(self, policy: Policy, start: date, end: date):
        """The policy's backtest on the engine ``tradeops backtest`` would use: the array engine
        where it supports the policy (momentum, USD, fractional units), else the exact one
        (:func:`tradeops.research.study.choose_engine`, the CLI's rule)."""
        from ..research.study import run_one_backtest

        result, _ = run_one_backtest(self.eod(), policy, self.universe(policy), start, end, calendar=get_calendar(policy.schedule.exchange))
        return result

    @staticmethod
    def _backtest_answer(result) -> dict:
        from .. import metrics

        summary = {k: _num(v) for k, v in metrics.summary(result.returns).items()}
        return {
            "metrics": summary, "fills": len(result.trades), "final_equity": _num(result.equity.iloc[-1]),
            "decisions": _decision_counts(result), "engine": getattr(result, "engine", "exact"),
        }

    def _backtest(self, policy: Policy, start: date, end: date) -> dict:
        return self._backtest_answer(self._run_backtest(policy, start, end))

    def research_report_path(self, policy: Policy, start: date, end: date) -> Path:
        """Where the report of one backtest goes: ``reports/research/backtest-<key>.html``, the key
        a hash of the window, the policy and the clean snapshot, so the same question always
        names the same file (and the same bytes)."""
        key = hashlib.sha256(
            json.dumps([start.isoformat(), end.isoformat(), policy.hash(), self.workspace.clean_path.name,
                        self.workspace.clean_path.parent.name]).encode()
        ).hexdigest()[:16]
        return self.workspace.reports_dir / RESEARCH_REPORTS / f"backtest-{key}.html"

    def _write_report(self, policy: Policy, start: date, end: date, result) -> Path:
        """The backtest's tearsheet with its run description and halts (no validation sweep:
        that is `tradeops backtest`, minutes, not a tool call)."""
        from ..research.backtest import Costs
        from ..research.report import write_report
        from ..research.study import Study, halts_table

        eod = self.eod()
        bench_symbol = policy.universe.benchmark
        closes = eod.loc[eod["symbol"] == bench_symbol].set_index("date")["close"]
        bench = closes.reindex(result.equity.index).dropna()
        universe = self.universe(policy)
        symbols = tuple(sorted(s for s in universe.tradable if s != bench_symbol))
        decisions = pd.DataFrame(list(_decision_counts(result).items()), columns=["decision", "sessions"])
        notes = ["a tool call's report: the backtest alone; the validation tables (walk-forward, cost stress, "
                 "PBO, deflated Sharpe, promotion gate) come from `tradeops backtest`"]
        if bench.empty:
            notes.append(f"benchmark {bench_symbol} is not in the clean data: the tearsheet has no benchmark")
        study = Study(
            policy.strategy.signal, "workspace", start, end, symbols, bench_symbol,
            Costs(policy.research.cost_bps, policy.research.slippage_bps), result, bench,
            {"Decisions": decisions, "Drawdown halts": halts_table(result)}, None, None, None, notes,
            self.workspace.clean_path.parent.name, None, bench_symbol if not bench.empty else "",
        )
        return write_report(study, self.research_report_path(policy, start, end))

    def backtest(self, start: date | None = None, end: date | None = None, overrides: Mapping[str, object] | None = None) -> dict:
        """The live signal and risk guard replayed over the clean data (costs from the policy).

        Writes one file, the report, under ``reports/research/`` (never the ledger, the
        runs, the tickets or the data); its path is in the answer."""
        policy = with_overrides(self.policy(), overrides or {})
        start, end = self._research_window(start, end, MAX_BACKTEST_SESSIONS, "backtest", 120)
        result = self._run_backtest(policy, start, end)
        report = self._write_report(policy, start, end, result)
        return {
            "start": start.isoformat(), "end": end.isoformat(), "strategy": policy.strategy.signal,
            "parameters": {k: v for k, v in (overrides or {}).items() if v is not None},
            **self._backtest_answer(result),
            "report": str(report),
            "note": "computed on the workspace's clean data; the report (tearsheet, decisions, halts) is the only file "
                    "written; `tradeops backtest` adds the validation tables",
        }

    def sweep(self, parameter: str, values: Sequence, start: date | None = None, end: date | None = None) -> dict:
        """The same backtest for a few values of one parameter."""
        if parameter not in OVERRIDES:
            raise ValidationError(f"unknown parameter {parameter!r}; allowed: {sorted(OVERRIDES)}")
        if not 1 <= len(values) <= MAX_SWEEP_VALUES:
            raise ValidationError(f"values: {len(values)} given; between 1 and {MAX_SWEEP_VALUES} per sweep")
        start, end = self._research_window(start, end, MAX_SWEEP_SESSIONS, "sweep", 60)
        base = self.policy()
        policies = [(v, with_overrides(base, {parameter: v})) for v in values]  # all validated before any compute
        rows = [{"value": v, **self._backtest(p, start, end)} for v, p in policies]
        return {"parameter": parameter, "start": start.isoformat(), "end": end.isoformat(), "results": rows}

    def score_universe(self, signal: str | None = None, session: date | None = None, top: int = 25) -> dict:
        """Rank the universe with a named signal on the clean data up to ``session`` (default: the latest)."""
        from ..signals import available, compute_signal

        if signal is not None and signal not in available():
            raise ValidationError(f"unknown signal {signal!r}; available: {available()}")
        if not 1 <= top <= MAX_TOP:
            raise ValidationError(f"top {top} is outside 1..{MAX_TOP}")
        policy = with_overrides(self.policy(), {"signal": signal})
        session = self._decision_session(session)
        result = compute_signal(self.eod(), policy, session, self.universe(policy))
        ranked = result.ranked.head(top)
        rows = [
            {"rank": int(r["rank"]), "symbol": str(r["symbol"]), "score": _num(r["score"]), "selected": bool(r["selected"])}
            for _, r in ranked.iterrows()
        ]
        return {
            "signal": result.strategy, "session": session.isoformat(), "note": result.note, "ranked_total": len(result.ranked),
            "top": rows, "dropped": dict(sorted(result.dropped.items())[:MAX_TOP]), "risk_off_reasons": list(result.risk_off_reasons),
        }

    def _decision_session(self, session: date | None) -> date:
        first, last = self._sessions_covered()
        session = session or last
        if not first <= session <= last:
            raise ValidationError(f"session {session} is out of range; the clean data covers {first}..{last}")
        if not get_calendar(self.policy().schedule.exchange).is_session(session):
            raise ValidationError(f"session {session} is not an exchange session")
        return session

    # ------------------------------------------------------------------ risk guard what-if

    def risk_what_if(self, session: date | None = None, rebalance: bool | None = None, overrides: Mapping[str, object] | None = None) -> dict:
        """Targets and the approved trade list the guard would give for the ledger's book today,
        with the rule results the ticket shows.  Writes nothing."""
        from ..portfolio import PortfolioState
        from ..risk import decide, rebalance_due, reference_prices
        from ..signals import compute_signal
        from ..stages import last_rebalance, peak_equivalent  # the daily run's own book-keeping

        policy = with_overrides(self.policy(), overrides or {})
        universe = self.universe(policy)
        session = self._decision_session(session)
        cal = get_calendar(policy.schedule.exchange)
        execution = cal.next_session(session)
        prices = self._price_series()
        with self.reading() as s:
            cash = api.compute_cash(s)
            switch, state = api.kill_switch(s), api.current_state(s)
            since = api.last_resume(s)
            try:  # the peak as the daily run's preflight sees it (the ledger's price cache) ...
                points, peak_from = api.compute_equity_curve(s, start=since, end=session), "ledger price cache"
            except DataError:  # ... or, before any run has filled that cache, the clean data
                points, peak_from = api.compute_equity_curve(s, prices, start=since, end=session), "clean data"
            portfolio = PortfolioState(
                as_of=session, cash=cash.amount, positions=api.compute_positions(s), peak_equity=peak_equivalent(points),
                account_currency=cash.currency, state=state.value or "RUN", kill_switch=switch.value == "ON",
                kill_switch_reason=switch.reason, last_rebalance=last_rebalance(s, execution),
            )
        eod = self.eod()
        signal = compute_signal(eod, policy, session, universe, cal)
        if rebalance is None:
            rebalance = rebalance_due(cal, session, policy.rebalance.frequency, portfolio.last_rebalance)
        fx = None
        if portfolio.account_currency != "USD":  # sized in the account currency at the day's checked rate
            from ..data.fx import workspace_fx_rate
            from ..risk import Fx

            rate = workspace_fx_rate(self.workspace, session)
            fx = Fx(portfolio.account_currency, rate.pair, rate.rate, rate.date, policy.account.fx_fee_bps)
        _, decision = decide(
            signal.ranked, portfolio, reference_prices(eod, session), policy, universe, rebalance, session,
            risk_off_reasons=signal.risk_off_reasons, strategy=signal.strategy, signal_note=signal.note, regime=signal.meta()["regime"],
            fx=fx,
        )
        out = decision.to_dict()
        out["what_if"] = {
            "decision_session": session.isoformat(), "execution_session": execution.isoformat(),
            "parameters": {k: v for k, v in (overrides or {}).items() if v is not None},
            "kill_switch": switch.value, "state": state.value, "portfolio": portfolio.to_dict(), "peak_from": peak_from,
            "note": "a what-if: no ticket was issued and nothing was written; the daily run's gates (kill switch, "
                    "confirmations, reconciliation, data quality) still decide whether a real ticket may trade",
        }
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
            "ticket_id": ticket_id, "run_id": manifest.run_id, "archive": str(run_dir.relative_to(self.workspace.root)),
            "kind": data.get("kind"), "headline": data.get("headline"), "state": data.get("state"),
            "why_text": why_section(md_path.read_text(encoding="utf-8")), "why": data.get("why"),
            "failures": data.get("failures"), "rules": data.get("rules"), "version": data.get("version"),
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
            self.engine(), ticket_id, entries, {}, tickets_dir=self.workspace.tickets_dir, root=self.workspace.root,
            policy=policy, tz=ZoneInfo(policy.schedule.timezone), actor=actor, clock=self.clock,
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
