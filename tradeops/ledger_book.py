"""The book as the ledger holds it on a decision session: positions, cash, the drawdown's peak and the last rebalance, as the preflight stage derives them (and the research replay, to decide from the same book)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from .portfolio import PortfolioState


def last_rebalance(session, before: date) -> date | None:
    """The session of the last TRADE/HOLD ticket before ``before`` that was a rebalance (None: never)."""
    from .ledger import api

    ticket = api.latest_ticket(session, before=before)
    while ticket is not None:
        payload = ticket.payload or {}
        if payload.get("rebalance") and ticket.kind in ("TRADE", "HOLD"):
            return ticket.session_date
        ticket = api.latest_ticket(session, before=ticket.session_date)
    return None


def peak_equivalent(points) -> Decimal:
    """The flow-adjusted peak of the equity curve, in today's money.

    The drawdown the guard checks with fresh prices is then
    ``1 - equity_now / peak``: deposits never hide a loss and withdrawals
    are never a drawdown (the same definition as the ledger's gate and the reports).
    """
    from .ledger.gates import drawdown

    dd = drawdown(points)
    if dd is None or dd.current_equity <= 0:
        return Decimal(0)
    return (dd.current_equity / (1 - dd.drawdown)).quantize(Decimal("0.01"))


def ledger_book(s, session_day: date, decision: date) -> tuple[PortfolioState, list]:
    """The book the run derives from the ledger (open transaction ``s``) for the decision
    session: cash, positions, the flow-adjusted peak since the last resume, state, kill switch
    and last rebalance; with the equity curve points it was measured on."""
    from .ledger import api

    cash = api.compute_cash(s)
    state, switch = api.current_state(s), api.kill_switch(s)
    points = api.compute_equity_curve(s, start=api.last_resume(s), end=decision)
    portfolio = PortfolioState(
        as_of=decision,
        cash=cash.amount,
        positions=api.compute_positions(s),
        peak_equity=peak_equivalent(points),
        account_currency=cash.currency,
        state=state.value or "RUN",
        kill_switch=switch.value == "ON",
        kill_switch_reason=switch.reason,
        last_rebalance=last_rebalance(s, session_day),
    )
    return portfolio, points
