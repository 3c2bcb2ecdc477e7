"""Alerts: what the owner must not overlook, each sent once per cause.

Detectors are pure functions: they look at inputs and a ``now`` and return
:class:`Alert` objects (or nothing).  Every alert carries a dedupe ``key``
naming its cause (the ticket, the drawdown episode, the session, the
snapshot, the streak of missed runs), so the same cause never alerts twice.
:class:`Alerter` keeps the keys in an :class:`AlertStore` and sends only
what is new, or what could not be delivered last time.  The clock is
injected, so tests fix it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import pandas as pd

from . import messages, metrics
from .checks import Check
from .calendar import ExchangeCalendar
from .config import Risk, Schedule
from .errors import DataError
from .files import write_atomic
from .reports import LEVEL_EPS, ReportLine

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class AlertKind(StrEnum):
    MISSING_CONFIRMATIONS = "missing_confirmations"
    DRAWDOWN_WARNING = "drawdown_warning"
    DRAWDOWN_KILL_SWITCH = "drawdown_kill_switch"
    DATA_QUALITY = "data_quality"
    RECONCILIATION_DRIFT = "reconciliation_drift"
    RUN_FAILED = "run_failed"
    RUN_MISSING = "run_missing"
    DRIFT = "drift"
    DRIFT_EROSION = "drift_erosion"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    key: str  # one cause, one key: "missing_confirmations:TICKET-20240503"
    severity: str  # warning | critical
    subject: str
    body: str  # what happened, then what to do
    raised_at: datetime


# --------------------------------------------------------------------------- detectors


def missing_confirmations(lines: Iterable[ReportLine], now: datetime) -> list[Alert]:
    """One alert per ticket whose confirmation deadline passed with lines unconfirmed."""
    late: dict[str, list[ReportLine]] = {}
    for line in lines:
        if line.confirmed_at is None and line.deadline is not None and line.deadline < now:
            late.setdefault(line.ticket_id, []).append(line)
    alerts = []
    for ticket, items in sorted(late.items()):
        deadline = min(i.deadline for i in items)
        what = ", ".join(f"{i.side} {i.symbol}" for i in items)
        alerts.append(
            Alert(
                AlertKind.MISSING_CONFIRMATIONS,
                f"missing_confirmations:{ticket}",
                "critical",
                f"Confirm {ticket}: {len(items)} trade(s) unconfirmed after the deadline",
                f"{ticket} has {len(items)} line(s) with no confirmation ({what}); the deadline was "
                f"{deadline.isoformat(timespec='minutes')}. Until every line is recorded, each run issues a ticket with no trades.\n"
                f"What to do:\n{messages.to_do('confirmations')}",
                now,
            )
        )
    return alerts


def drawdown_alert(equity: pd.Series, risk: Risk, now: datetime, flows: Mapping[date, object] | None = None) -> Alert | None:
    """The worse of kill switch / warning for the current drawdown, keyed by the
    drawdown's peak date: one alert per level per drawdown episode."""
    e = pd.Series(equity, dtype=float)
    e.index = pd.DatetimeIndex(e.index)
    if len(e) < 2:
        return None
    returns = metrics.returns_from_equity(e, flows)
    wealth = pd.concat([pd.Series([1.0], index=e.index[:1]), metrics.wealth_index(returns)])
    current = float(wealth.iloc[-1] / wealth.max() - 1.0)
    peak_date = wealth.idxmax().date()
    peak_equity = float(e[wealth.idxmax()])
    if current <= -risk.kill_switch_drawdown + LEVEL_EPS:
        kind, level, severity = AlertKind.DRAWDOWN_KILL_SWITCH, risk.kill_switch_drawdown, "critical"
        todo = "Trading is halted: the next ticket sells every position to cash, and nothing is bought.\n" + messages.to_do(
            "drawdown", executor="Carry out the ticket that sells to cash, then trade nothing more until the owner resumes."
        )
    elif current <= -risk.drawdown_warning + LEVEL_EPS:
        kind, level, severity = AlertKind.DRAWDOWN_WARNING, risk.drawdown_warning, "warning"
        todo = (
            f"No action is forced yet.\nFor the executor: nothing changes; carry out the tickets as usual.\n"
            f"For the owner: review the positions; at {risk.kill_switch_drawdown:.0%} below the peak trading halts.\n"
            "Who acts: the owner."
        )
    else:
        return None
    return Alert(
        kind,
        f"{kind.value}:{peak_date}",
        severity,
        f"Drawdown {-current:.1%} is past the {'kill switch' if severity == 'critical' else 'warning level'} ({level:.0%})",
        f"Equity {float(e.iloc[-1]):,.2f} on {e.index[-1].date()} is {-current:.2%} below the peak of "
        f"{peak_equity:,.2f} on {peak_date} (limit {level:.0%}).\nWhat to do:\n{todo}",
        now,
    )


def drift_alerts(section, now: datetime) -> list[Alert]:
    """Live vs shadow (tradeops.drift_section.Section): a component past its policy threshold (one alert per
    component and week), and a silent-erosion indicator worse for ``drift.erosion_weeks`` weeks running."""
    if section is None:
        return []
    out = []
    week = section.weeks[-1].start if section.weeks else section.as_of
    for text in section.breaches:
        component = text.split(":")[0]
        out.append(
            Alert(
                AlertKind.DRIFT,
                f"drift:{component}:{week}",
                "warning",
                f"Drift vs the shadow portfolio: {component}",
                f"Live equity {section.live:,.2f} vs shadow {section.shadow:,.2f} {section.currency} on {section.as_of}: {text}.\n"
                "What to do:\nFor the owner: read the weekly report's drift table; a large residual means the ledger or the "
                "archive holds something the attribution does not explain.\nWho acts: the owner.",
                now,
            )
        )
    for name in section.eroding:
        words = name.replace("_", " ")
        values = ", ".join("n/a" if getattr(w, name) is None else f"{getattr(w, name):.4g}" for w in section.weeks)
        out.append(
            Alert(
                AlertKind.DRIFT_EROSION,
                f"drift_erosion:{name}:{week}",
                "warning",
                f"Silent erosion: {words} worse every week",
                f"{words} by week (oldest first): {values}.\nWhat to do:\nFor the executor: execute at the window's start, "
                "in full.\nFor the owner: check the execution assumptions (slippage, turnover).\nWho acts: the owner.",
                now,
            )
        )
    return out


def data_quality_alert(session: date, checks: Iterable[Check], now: datetime) -> Alert | None:
    """An alert for the failed data-quality check records among ``checks`` (none failed, or none says why: no alert)."""
    failures = [(c.code, c.message) for c in checks if not c.passed and c.message]
    if not failures:
        return None
    lines = "\n".join(f"- {check}: {reason}" for check, reason in failures)
    return Alert(
        AlertKind.DATA_QUALITY,
        f"data_quality:{session}",
        "warning",
        f"Data quality failed for {session}: {', '.join(c for c, _ in failures)}",
        f"The data for session {session} failed {len(failures)} check(s):\n{lines}\n"
        "The run issued a ticket with no trades. If a provider was down, re-run later (`tradeops run daily`).\n"
        f"What to do:\n{messages.to_do('data_quality')}",
        now,
    )


def reconciliation_alert(snapshot_id: str, checks: Iterable[Check], now: datetime) -> Alert | None:
    """An alert for the failed reconciliation check records among ``checks``: each message describes
    a mismatch between the broker snapshot and the ledger (none failed: no alert)."""
    differences = [c.message for c in checks if not c.passed and c.message]
    if not differences:
        return None
    lines = "\n".join(f"- {d}" for d in differences)
    return Alert(
        AlertKind.RECONCILIATION_DRIFT,
        f"reconciliation:{snapshot_id}",
        "critical",
        f"Broker and ledger disagree (snapshot {snapshot_id})",
        f"Broker snapshot {snapshot_id} differs from the ledger beyond tolerance:\n{lines}\n"
        f"Trading stays blocked until they agree.\nWhat to do:\n{messages.to_do('reconciliation')}",
        now,
    )


def run_failed_alert(run_date: date, run_id: str, error: str, now: datetime) -> Alert:
    """A run started but failed: keyed by the run's local date, so a re-run that
    fails again the same day does not alert twice."""
    return Alert(
        AlertKind.RUN_FAILED,
        f"run_failed:{run_date}",
        "critical",
        f"The daily run of {run_date} failed",
        f"Run {run_id} failed: {error}\n"
        f"The ticket for the day has no trades. The executed notebooks in runs/ for run {run_id} keep the failing stage's traceback; "
        "fix the cause and re-run.\n"
        f"What to do:\n{messages.to_do('stage')}",
        now,
    )


def run_missing_alerts(
    schedule: Schedule, calendar: ExchangeCalendar, runs_started: Iterable[datetime], since: date, now: datetime, grace: timedelta = timedelta(hours=1)
) -> list[Alert]:
    """Session days since ``since`` whose scheduled run did not start.

    A day needs a run when it is one of ``schedule.run_days`` and the US
    market has a session on that local date (on other days the run only
    records "market closed").  It counts as missed ``grace`` after the
    scheduled time.  Consecutive missed days are one cause (the scheduler
    was down), keyed by the first of them; a run ends the streak.
    """
    tz = ZoneInfo(schedule.timezone)
    ran = {r.astimezone(tz).date() for r in runs_started}
    streaks: list[list[date]] = []
    streak: list[date] = []
    for ts in pd.date_range(since, now.astimezone(tz).date(), freq="D"):
        day = ts.date()
        if day.strftime("%a") not in schedule.run_days or not calendar.is_session(day):
            continue
        if day in ran:
            streak = []
        elif datetime.combine(day, schedule.run_clock, tz) + grace <= now:
            if not streak:
                streaks.append(streak)
            streak.append(day)
    return [_run_missing(schedule, days, now) for days in streaks]


def _run_missing(schedule: Schedule, days: list[date], now: datetime) -> Alert:
    first = days[0]
    return Alert(
        AlertKind.RUN_MISSING,
        f"run_missing:{first}",
        "critical",
        f"No daily run since {first}" if len(days) > 1 else f"The daily run of {first} did not happen",
        f"The run scheduled at {schedule.run_time} {schedule.timezone} did not start on: "
        f"{', '.join(str(d) for d in days)}.\n"
        "What to do: check the scheduler (cron) and the machine, then run `tradeops run daily` by hand. "
        "No ticket was issued for those days.",
        now,
    )


# --------------------------------------------------------------------------- store and dispatch


@dataclass(frozen=True)
class AlertRecord:
    key: str
    kind: str
    subject: str
    first_raised_at: str  # ISO 8601
    attempts: int = 0
    delivered_at: str | None = None


class AlertStore(Protocol):
    """Where raised alerts are remembered (the ledger keeps one too)."""

    def get(self, key: str) -> AlertRecord | None: ...

    def put(self, record: AlertRecord) -> None: ...


class MemoryAlertStore:
    def __init__(self) -> None:
        self._records: dict[str, AlertRecord] = {}

    def get(self, key: str) -> AlertRecord | None:
        return self._records.get(key)

    def put(self, record: AlertRecord) -> None:
        self._records[record.key] = record

    def records(self) -> list[AlertRecord]:
        return sorted(self._records.values(), key=lambda r: r.key)


class JsonAlertStore:
    """Alert records in one JSON file, rewritten atomically on every change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, dict]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as err:
            raise DataError(f"alert store {self.path} is not valid JSON ({err}); fix or delete it") from None

    def get(self, key: str) -> AlertRecord | None:
        raw = self._load().get(key)
        return AlertRecord(**raw) if raw else None

    def put(self, record: AlertRecord) -> None:
        data = self._load()
        data[record.key] = asdict(record)
        write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")


class Alerter:
    """Sends each alert once per cause.

    ``send`` delivers one alert and returns True when it reached someone
    (see :func:`tradeops.notify.send_alert`).  An alert whose delivery failed
    is retried by the next ``dispatch`` call; a delivered one never again.
    """

    def __init__(self, store: AlertStore, clock: Clock, send: Callable[[Alert], bool]) -> None:
        self.store = store
        self.clock = clock
        self.send = send

    def now(self) -> datetime:
        return self.clock()

    def dispatch(self, candidates: Iterable[Alert | None]) -> list[Alert]:
        """Send the new (or still undelivered) alerts; return the ones sent now."""
        sent = []
        for alert in candidates:
            if alert is None:
                continue
            record = self.store.get(alert.key)
            if record is not None and record.delivered_at is not None:
                continue
            now = self.now()
            if record is None:
                record = AlertRecord(alert.key, alert.kind.value, alert.subject, now.isoformat())
            delivered = self.send(alert)
            record = replace(record, attempts=record.attempts + 1, delivered_at=now.isoformat() if delivered else None)
            self.store.put(record)
            if delivered:
                sent.append(alert)
            else:
                log.error("alert %s not delivered (attempt %d); retrying on the next check", alert.key, record.attempts)
        return sent
