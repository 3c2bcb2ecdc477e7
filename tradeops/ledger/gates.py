"""The pipeline's ledger gates: kill switch, drawdown, confirmations, reconciliation.

Each gate reads the ledger and RETURNS a :class:`tradeops.checks.Gate` (it never raises
for a failed check, and never writes); the pipeline puts ``to_dict()`` into
the run manifest and records it with :func:`record_gate_result`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..checks import Gate
from ..errors import DataError, LedgerError
from ..reconcile import Tolerances
from . import api
from .fill_checks import line_checks
from .models import Event, Ticket


def _gate(name: str, passed: bool, reasons: Iterable[str], details: Mapping) -> Gate:
    """A ledger gate: one check record (source ``ledger``) per reason, JSON-safe details
    (only str, numbers, bools, lists, dicts)."""
    return Gate.of_reasons(name, passed, list(reasons), api.jsonable(details), source="ledger")


def from_dict(data: Mapping) -> Gate:
    """A ledger gate read back from its ``to_dict()`` (a gates file, the event log)."""
    return Gate.from_dict(data, source="ledger")


def _result(name: str, reasons: list[str], **details) -> Gate:
    return _gate(name, not reasons, reasons, details)


def record_gate_result(
    session: Session, result: Gate, *, actor: str, run_id: str | None = None, ticket_id: str | None = None, account: str = api.DEFAULT_ACCOUNT
) -> Event:
    """Append a gate result to the event log."""
    return api.record_event(session, "GATE_RESULT", {**result.to_dict(), "run_id": run_id}, actor=actor, account=account, ticket_id=ticket_id)


# --------------------------------------------------------------------------- kill switch


def kill_switch_gate(session: Session, *, account: str = api.DEFAULT_ACCOUNT) -> Gate:
    """Fails while the manual kill switch is on or the state is HALT."""
    switch = api.kill_switch(session, account=account)
    state = api.current_state(session, account=account)
    reasons = []
    if switch.value == "ON":
        reasons.append(
            f"the kill switch is ON (set {switch.at:%Y-%m-%d %H:%M} UTC by {switch.actor}: {switch.reason}); "
            "turn it off with `tradeops kill-switch off --reason ...` once it is safe"
        )
    if state.value == "HALT":
        reasons.append(
            f"the state is HALT (since {state.at:%Y-%m-%d %H:%M} UTC, by {state.actor}: {state.reason}); resume explicitly with `tradeops resume --reason ...`"
        )
    return _result("kill_switch", reasons, kill_switch=switch.value, kill_switch_reason=switch.reason, state=state.value, state_reason=state.reason)


# --------------------------------------------------------------------------- drawdown


@dataclass(frozen=True)
class Drawdown:
    drawdown: Decimal  # 0.2 = 20% below the peak
    peak_day: date
    peak_equity: Decimal
    current_day: date
    current_equity: Decimal


def drawdown(points: Iterable[api.EquityPoint]) -> Drawdown | None:
    """Drawdown of the flow-adjusted (time-weighted) equity index from its peak.

    Deposits and withdrawals are not returns: each session's return is
    ``(equity - flow) / previous equity``, so adding money never hides a
    loss and taking it out is never a drawdown.
    """
    index = peak = Decimal(1)
    previous = None
    peak_point = current = None
    for point in points:
        if previous is not None and previous > 0:
            index *= (point.equity - point.flow) / previous
        previous = point.equity
        current = point
        if peak_point is None or index > peak:
            peak, peak_point = index, point
    if current is None:
        return None
    return Drawdown(1 - index / peak, peak_point.day, peak_point.equity, current.day, current.equity)


def drawdown_gate(session: Session, risk, prices: api.PriceSeries | None = None, *, as_of: date | None = None, account: str = api.DEFAULT_ACCOUNT) -> Gate:
    """Fails when equity is ``risk.kill_switch_drawdown`` or more below its peak (warns from
    ``risk.drawdown_warning``).  The peak is taken since the latest explicit resume from HALT."""
    limit, warn = Decimal(str(risk.kill_switch_drawdown)), Decimal(str(risk.drawdown_warning))
    try:
        since = api.last_resume(session, account=account)
        dd = drawdown(api.compute_equity_curve(session, prices, start=since, end=as_of, account=account))
    except (DataError, LedgerError) as err:
        return _result("drawdown", [f"equity could not be computed: {err}"], threshold=limit)
    if dd is None:
        return _result("drawdown", [], drawdown=Decimal(0), threshold=limit, warning=False, note="no ledger history yet")
    reasons = []
    if dd.drawdown >= limit:
        reasons.append(
            f"equity {dd.current_equity:,.2f} on {dd.current_day} is {dd.drawdown:.2%} below its peak of {dd.peak_day}, "
            f"at or beyond risk.kill_switch_drawdown = {limit:.0%}: enter HALT and review before resuming"
        )
    return _result(
        "drawdown",
        reasons,
        drawdown=round(dd.drawdown, 6),
        threshold=limit,
        warning=dd.drawdown >= warn,
        peak_day=dd.peak_day,
        peak_equity=dd.peak_equity,
        current_day=dd.current_day,
        current_equity=dd.current_equity,
    )


# --------------------------------------------------------------------------- confirmations


def _ambiguity(line, fill) -> str | None:
    """Why a confirmation contradicts itself (None if it does not): the status warnings of the fill
    rules (:func:`tradeops.ledger.fill_checks.line_checks`), a BUY's amount in the account currency."""
    if fill.status == "NOT_EXECUTED" or fill.override_reason:
        return None
    found = line_checks(line.side, line.reference_price, line.band, line.value, line.approx_units, fill.status, fill.units, fill.price, fill.fx_rate)
    for c in found:
        done, asked = c.values.get("done"), c.values.get("asked")
        if c.code == "executed_short":
            return f"confirmed EXECUTED but filled {done:.2f} of {asked:.2f}: was it partial?"
        if c.code == "partial_full":
            return f"confirmed PARTIAL but filled {done:.2f} of {asked:.2f}: was it executed in full?"
    return None


def confirmations_gate(session: Session, *, before: date | None = None, account: str = api.DEFAULT_ACCOUNT) -> Gate:
    """Fails while an earlier TRADE ticket has a line with no confirmation or a contradictory one."""
    account_id = api.get_account(session, account).id
    query = select(Ticket).where(Ticket.account_id == account_id, Ticket.status == "OPEN", Ticket.kind == "TRADE")
    if before is not None:
        query = query.where(Ticket.session_date < before)
    tickets = list(session.scalars(query.order_by(Ticket.session_date)))
    missing, ambiguous = [], []
    for ticket in tickets:
        for status in api.line_statuses(session, ticket.ticket_id, account=account):
            line, fill = status.line, status.fill
            label = f"{ticket.ticket_id} line {line.line_no} ({line.side} {line.symbol} ~{line.value:,.2f})"
            if fill is None:
                missing.append(f"{label} has no confirmation: enter executed, partial or not executed")
            elif (why := _ambiguity(line, fill)) is not None:
                ambiguous.append(f"{label} {why} (correct fill {fill.id} with a reason)")
    latest = api.latest_ticket(session, before=before, account=account)
    return _result(
        "confirmations",
        missing + ambiguous,
        previous_ticket=latest.ticket_id if latest else None,
        tickets_checked=[t.ticket_id for t in tickets],
        missing=missing,
        ambiguous=ambiguous,
    )


# --------------------------------------------------------------------------- reconciliation


def reconciliation_gate(session: Session, tolerances: Tolerances, *, now: datetime | None = None, account: str = api.DEFAULT_ACCOUNT) -> Gate:
    """Fails when the latest snapshot is missing, too old, or disagrees with the ledger beyond tolerance."""
    try:
        report = api.reconcile_snapshot(session, tolerances, now=now, account=account)
    except LedgerError as err:
        return _result("reconciliation", [str(err)])
    return _gate("reconciliation", report.passed, report.reasons, report.to_dict())
