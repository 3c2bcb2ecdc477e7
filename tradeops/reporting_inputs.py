"""ReportInputs from a workspace: the ledger (through its public API) and the clean data.

The reports themselves (tradeops.reports) are pure; this module is the
edge that reads the ledger and the clean parquet for them.  Used by the
``60_report`` stage and by ``tradeops report daily|weekly``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from .calendar import get_calendar
from .config import Policy, Universe, Workspace
from .errors import DataError
from .runfolder import read_all_gates
from .checks import Gate
from .reports import Position, ReportInputs, RunInfo, ReportLine, publish_daily, publish_weekly, week_start

_STATUS = {"EXECUTED": "executed", "PARTIAL": "partial", "NOT_EXECUTED": "not_executed"}


def _clean_prices(ws: Workspace, as_of: date) -> pd.DataFrame:
    if not ws.clean_path.exists():
        raise DataError(f"no clean data at {ws.clean_path}: run `tradeops data build` first")
    eod = pd.read_parquet(ws.clean_path, columns=["symbol", "date", "close"])
    return eod[eod["date"] <= pd.Timestamp(as_of)]


def _run_facts(run_dir: Path | None) -> tuple[tuple[Gate, ...], RunInfo | None]:
    if run_dir is None:
        return (), None
    gates = tuple(Gate.of(g) for g in read_all_gates(run_dir))
    info = None
    ticket_file = run_dir / "ticket.json"
    manifest = run_dir / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        t = json.loads(ticket_file.read_text()) if ticket_file.exists() else {}
        info = RunInfo(
            run_id=m["run_id"],
            started_at=datetime.fromisoformat(m["started_at"]),
            decision_session=date.fromisoformat(m["decision_session"]),
            ticket_id=t.get("ticket_id"),
            ticket_kind=t.get("kind"),
        )
    return gates, info


def confirmation_deadline(payload, session: date, policy: Policy) -> datetime:
    """When a ticket's lines must be confirmed: the ticket's own ``confirm_by``, else its window's end
    plus the policy's ``confirmations.deadline_minutes_after_window`` (tickets recorded without one)."""
    stated = payload.get("confirm_by")
    if stated:
        return datetime.fromisoformat(stated)
    window = get_calendar(policy.schedule.exchange).execution_window(session, policy.execution.window_start_minutes, policy.execution.window_end_minutes)
    return window.end + timedelta(minutes=policy.confirmations.deadline_minutes_after_window)


def _line_rate(fill, payload) -> Decimal:
    """The USD per account-currency unit a report line is translated at: its fill's, else its ticket's (1 in USD)."""
    if fill is not None and fill.units > 0:
        return fill.fx_rate
    return Decimal(str(payload["fx_rate"])) if payload.get("fx_rate") else Decimal(1)


def build_inputs(ws: Workspace, policy: Policy, universe: Universe, as_of: date, generated_at: datetime, run_dir: Path | None = None) -> ReportInputs:
    """Everything the daily and weekly reports show, as of the close of session ``as_of``."""
    from .ledger import api
    from .ledger.db import make_engine, transaction

    cal = get_calendar(policy.schedule.exchange)
    close_at = cal.market_close(as_of)
    eod = _clean_prices(ws, as_of)
    prices = api.price_series_from_frame(eod)
    marks = api.marks_on(prices, as_of)
    period_start = week_start(as_of, cal)
    with transaction(make_engine(ws.db_url())) as s:
        points = api.compute_equity_curve(s, prices, end=as_of)
        if not points:
            raise DataError("the ledger has no entries yet: deposit cash first (`tradeops cash add`)")
        cash = api.compute_cash(s, as_of=close_at)
        units = api.compute_positions(s, as_of=close_at)
        pnl = api.compute_pnl(s, {k: marks[k] for k in units if k in marks}, as_of=close_at)
        # the benchmark's return in the account currency: its USD closes at the day's cached rate (a GBP account)
        rates = api.load_fx_rates(s, cash.currency, "USD") if cash.currency != "USD" else {}
        state = api.current_state(s).value or "RUN"
        trades = []
        ticket = api.latest_ticket(s, before=cal.next_session(as_of))
        while ticket is not None and ticket.session_date >= period_start:
            deadline = confirmation_deadline(ticket.payload or {}, ticket.session_date, policy)
            for st in api.line_statuses(s, ticket.ticket_id):
                line, fill = st.line, st.fill
                trades.append(
                    ReportLine(
                        ticket_id=ticket.ticket_id,
                        session=ticket.session_date,
                        symbol=line.symbol,
                        side=line.side.lower(),
                        intended_units=line.approx_units,
                        reference_price=line.reference_price,
                        status=_STATUS[fill.status] if fill else "unconfirmed",
                        filled_units=fill.units if fill else Decimal(0),
                        fill_price=fill.price if fill else None,
                        fees=fill.fees if fill else Decimal(0),
                        reason=(fill.reason or "") if fill else "",
                        confirmed_at=fill.created_at if fill else None,
                        deadline=deadline,
                        fx_rate=_line_rate(fill, ticket.payload or {}),
                    )
                )
            ticket = api.latest_ticket(s, before=ticket.session_date)
    missing = sorted(k for k in units if k not in marks)
    if missing:
        raise DataError(f"no close on {as_of} for held symbols {missing} in {ws.clean_path}")
    sectors = universe.sectors()

    def fx_of(sym: str) -> Decimal:  # the rate the ledger valued the holding at (1 in a USD account)
        return (pnl.by_symbol[sym].fx_rate if sym in pnl.by_symbol else None) or Decimal(1)

    positions = tuple(
        Position(sym, u, marks[sym], pnl.by_symbol[sym].cost if sym in pnl.by_symbol else u * marks[sym], sectors.get(sym, "Unknown"), fx_rate=fx_of(sym))
        for sym, u in sorted(units.items())
    )
    bench = eod[eod["symbol"] == policy.universe.benchmark]
    gates, last_run = _run_facts(run_dir)
    return ReportInputs(
        as_of=as_of,
        generated_at=generated_at,
        equity=pd.Series([p.equity for p in points], index=pd.DatetimeIndex([pd.Timestamp(p.day) for p in points])),
        cash=cash.amount,
        positions=positions,
        realized_pnl=pnl.trading,
        state=state,
        benchmark=pd.Series(bench["close"].to_numpy(), index=pd.DatetimeIndex(bench["date"])),
        benchmark_symbol=policy.universe.benchmark,
        cash_flows={p.day: p.flow for p in points if p.flow},
        gates=gates,
        last_run=last_run,
        next_rebalance=cal.next_rebalance(cal.next_session(as_of), policy.rebalance.frequency),
        trades=tuple(reversed(trades)),
        period_start=period_start,
        currency=cash.currency,
        timezone=policy.schedule.timezone,
        drawdown_warning=policy.risk.drawdown_warning,
        kill_switch_drawdown=policy.risk.kill_switch_drawdown,
        fx_effect=pnl.split_to_the_penny()[2] if pnl.trading_fx is not None else None,
        benchmark_fx=pd.Series(list(rates.values()), index=pd.DatetimeIndex(list(rates)), dtype=object) if rates else None,
        drift=drift_section(ws, policy, as_of, period_start),
    )


def drift_section(ws: Workspace, policy: Policy, as_of: date, period_start: date):
    """The weekly report's live-vs-shadow section (tradeops.drift), or None without live tickets.  A drift
    that cannot be computed (a price missing from the ledger's cache) leaves the section out and says why
    in the log; it never stops a report."""
    import logging

    from . import drift
    from .drift_section import section
    from .errors import TradeopsError

    try:
        result = drift.from_workspace(ws, policy, end=as_of)
    except TradeopsError as err:
        logging.getLogger(__name__).warning("drift section left out: %s", err)
        return None
    return section(result, as_of, period_start, policy.drift) if result is not None else None


def is_week_end(as_of: date, policy: Policy) -> bool:
    """True when ``as_of`` is the last session of its week (the weekly report's day)."""
    cal = get_calendar(policy.schedule.exchange)
    return cal.is_rebalance_session(cal.next_session(as_of), "weekly")


def publish_reports(ws: Workspace, policy: Policy, universe: Universe, as_of: date, generated_at: datetime, run_dir: Path | None = None) -> list[Path]:
    """The daily report, and the weekly one (with tearsheet) on the week's last session."""
    inputs = build_inputs(ws, policy, universe, as_of, generated_at, run_dir)
    written = publish_daily(inputs, ws.reports_dir)
    if is_week_end(as_of, policy):
        written += publish_weekly(inputs, ws.reports_dir)
    return written
