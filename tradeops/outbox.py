"""After a run: send the ticket and the alerts it raised (email and/or webhook).

Channels come from the environment only (tradeops.notify).  Sending never
blocks or fails the run: the ticket is already written, a failed send is
retried, logged and recorded in the manifest, and an undelivered alert is
tried again after the next run.  Each alert goes out once per cause
(tradeops.alerts; the store is ``data/alerts.json``).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from .clock import SYSTEM
from . import alerts, notify
from .calendar import get_calendar
from .checks import Gate
from .config import Policy, Workspace
from .errors import ConfigError, TradeopsError
from .redact import redact
from .reports import ReportLine

log = logging.getLogger(__name__)


def _gate(gates: list[dict], name: str) -> dict | None:
    return next((g for g in gates if g["name"] == name), None)


def _ledger_alerts(ws: Workspace, policy: Policy, now: datetime) -> list:
    """Missing confirmations and drawdown, from the ledger and the clean prices."""
    from .ledger import api
    from .ledger.db import make_engine, transaction

    out = []
    with transaction(make_engine(ws.db_url())) as s:
        lines = []
        for line in api.unconfirmed_lines(s):
            confirm_by = (line.ticket.payload or {}).get("confirm_by")
            lines.append(
                ReportLine(
                    ticket_id=line.ticket.ticket_id,
                    session=line.ticket.session_date,
                    symbol=line.symbol,
                    side=line.side.lower(),
                    intended_units=line.approx_units,
                    reference_price=line.reference_price,
                    status="unconfirmed",
                    deadline=datetime.fromisoformat(confirm_by) if confirm_by else None,
                )
            )
        out += alerts.missing_confirmations(lines, now)
        if ws.clean_path.exists():
            prices = api.price_series_from_frame(pd.read_parquet(ws.clean_path, columns=["symbol", "date", "close"]))
            points = api.compute_equity_curve(s, prices, start=api.last_resume(s))
            if points:
                equity = pd.Series([float(p.equity) for p in points], index=pd.DatetimeIndex([pd.Timestamp(p.day) for p in points]))
                out.append(alerts.drawdown_alert(equity, policy.risk, now, {p.day: p.flow for p in points if p.flow}))
    return out


def _drift_alerts(ws: Workspace, policy: Policy, now: datetime) -> list:
    """Live vs shadow past a policy threshold, and silent erosion (tradeops.drift, tradeops.alerts.drift_alerts)."""
    from . import drift
    from .drift_section import section

    result = drift.from_workspace(ws, policy)
    if result is None or result.last is None:
        return []
    cal = get_calendar(policy.schedule.exchange)
    from .reports import week_start

    day = result.last.day
    return alerts.drift_alerts(section(result, day, week_start(day, cal), policy.drift), now)


def run_alerts(ws: Workspace, policy: Policy, manifest, failure: str | None, now: datetime) -> list:
    """Every alert this run gives cause for (None entries are fine: nothing to say)."""
    gates = manifest.gates
    found: list = []
    dq = _gate(gates, "data_quality")
    if dq and not dq["passed"]:
        found.append(alerts.data_quality_alert(date.fromisoformat(manifest.decision_session), Gate.from_dict(dq).checks, now))
    rec = _gate(gates, "reconciliation")
    if rec and not rec["passed"]:
        snapshot = str(rec.get("details", {}).get("snapshot_id") or "none")
        found.append(alerts.reconciliation_alert(snapshot, Gate.from_dict(rec).checks, now))
    if failure:
        found.append(alerts.run_failed_alert(date.fromisoformat(manifest.session_date), manifest.run_id, failure, now))
    cal = get_calendar(policy.schedule.exchange)
    found += alerts.run_missing_alerts(policy.schedule, cal, _runs_started(ws), (now - timedelta(days=14)).date(), now)
    try:
        found += _drift_alerts(ws, policy, now)
    except Exception as err:  # noqa: BLE001 - drift alerts never stop the run's other alerts
        log.warning("drift alerts skipped: %s: %s", type(err).__name__, err)
    try:
        found += _ledger_alerts(ws, policy, now)
    except TradeopsError as err:  # an unreachable ledger is already the run's failure
        log.warning("ledger alerts skipped: %s", err)
    except Exception as err:  # noqa: BLE001 - the database driver's own errors
        log.warning("ledger alerts skipped: %s: %s", type(err).__name__, err)
    return found


def _runs_started(ws: Workspace) -> list[datetime]:
    """When each archived run was scheduled (what 'the run happened' means)."""
    from .runner import Manifest

    out = []
    for path in ws.runs_dir.glob("*/*/manifest.json"):
        m = Manifest.read(path.parent)
        scheduled = m.parameters.get("scheduled_at")
        if scheduled:
            out.append(datetime.fromisoformat(scheduled))
    return out


def send_after_run(ws: Workspace, policy: Policy, run_dir: Path, manifest, failure: str | None, now: datetime | None = None) -> list[str]:
    """Send the ticket and the run's alerts; return notes for the manifest (never raises)."""
    now = now or SYSTEM.now()
    try:
        settings = notify.NotifySettings.from_env()
    except ConfigError as err:
        return [f"notifications not sent: {err}"]
    if settings.smtp is None and settings.webhook_url is None:
        return ["notifications: no channel configured (TRADEOPS_SMTP_HOST or TRADEOPS_WEBHOOK_URL)"]
    notes = []
    if manifest.ticket_id:
        name = manifest.ticket_id  # the files are named by the ticket id (TICKET-YYYYMMDD, -R2, ...)
        result = notify.send_ticket(manifest.ticket_id, manifest.ticket_kind, run_dir / f"{name}.md", run_dir / f"{name}.json", settings)
        failed = "; ".join(f"{r.channel}: {r.error}" for r in result.failures)
        notes.append(f"ticket {manifest.ticket_id} sent" if result.ok else f"ticket {manifest.ticket_id} NOT fully sent: {failed}")
    try:
        store = alerts.JsonAlertStore(ws.data_dir / "alerts.json")
        alerter = alerts.Alerter(store, lambda: now, lambda a: notify.send_alert(a, settings).delivered)
        sent = alerter.dispatch(run_alerts(ws, policy, manifest, failure, now))
    except Exception as err:  # noqa: BLE001 - alerts must never take the run down
        log.exception("alerts not dispatched")
        notes.append(f"alerts not dispatched: {type(err).__name__}: {err}")
        return [redact(n) for n in notes]
    return [redact(n) for n in notes + [f"alert sent: {a.subject}" for a in sent]]
