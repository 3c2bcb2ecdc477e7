"""What the BUYs of the ticket on the page may spend, live, from what is saved and what is typed.

Pure: a :class:`~tradeops.dashboard.model.TicketView`, the ledger's cash and
the typed entries in; the plan of :mod:`tradeops.cashplan` (the same rule as
the paper fills and the ledger's refusal) and plain sentences out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping, Sequence

from ..cashplan import PlanLine, Step, advice, money, plan, short_steps
from ..ledger.money import MONEY_PLACES, PRICE_PLACES, UNITS_PLACES, ZERO
from .model import LineView, TicketView
from .validation import STATUSES, FieldError, LineEntry, parse_number


def _typed(entry: LineEntry | None) -> tuple[str | None, Decimal | None, Decimal | None, Decimal]:
    """What a typed entry says, as far as it can be read (None where it cannot yet)."""
    if entry is None or entry.status not in STATUSES:
        return None, None, None, ZERO
    values = []
    for text, places in ((entry.units, UNITS_PLACES), (entry.price, PRICE_PLACES)):
        try:
            values.append(parse_number(text, places, positive=True))
        except FieldError:
            values.append(None)
    try:
        fees = parse_number(entry.fees, MONEY_PLACES, default=ZERO)
    except FieldError:
        fees = ZERO
    return STATUSES[entry.status], values[0], values[1], fees


def plan_line(line: LineView, entry: LineEntry | None = None) -> PlanLine:
    base = dict(line_no=line.line_no, side=line.side, symbol=line.symbol, value=line.value, reference_price=line.reference_price, band=line.band)
    f = line.fill
    if f is not None:
        return PlanLine(**base, status=f.status, units=f.units, price=f.price, fees=f.fees)
    status, units, price, fees = _typed(entry)
    return PlanLine(**base, status=status, units=units, price=price, fees=fees)


def cash_before(ticket: TicketView, cash_now: Decimal) -> Decimal:
    """The cash before the ticket: the ledger's cash less what the saved lines of it did."""
    return cash_now - sum((plan_line(ln).cash_effect() for ln in ticket.lines if ln.fill is not None), ZERO)


def ticket_plan(ticket: TicketView, cash_now: Decimal, entries: Mapping[int, LineEntry], floor: Decimal = ZERO) -> list[Step]:
    lines = [plan_line(ln, entries.get(ln.line_no)) for ln in ticket.lines]
    return plan(lines, cash_before(ticket, cash_now), floor)


def budget_text(step: Step) -> str:
    """The sentence on a BUY card: the cash this BUY may use, and what to do if it does not fit."""
    if step.fit is None:
        return f"Cash for this BUY, after the lines above: {money(step.may_spend)}. It covers the order."
    return f"Cash for this BUY, after the lines above: {money(step.may_spend)}. " + advice(step)


def short_sells(steps: Sequence[Step]) -> list[str]:
    out = []
    for s in steps:
        ln = s.line
        if ln.side != "SELL" or ln.status not in ("PARTIAL", "NOT_EXECUTED"):
            continue
        what = "was not executed" if ln.status == "NOT_EXECUTED" else "was only partly filled"
        out.append(f"line {ln.line_no} (SELL {ln.symbol}) {what}")
    return out


def summary(steps: Sequence[Step]) -> list[str]:
    """Plain sentences for the whole ticket: which SELLs came out short, which BUYs to shrink or skip."""
    short = short_steps(steps)
    sells = short_sells(steps)
    out = []
    if sells:
        head = "; ".join(sells)
        out.append(f"{head[0].upper()}{head[1:]}: the BUYs have less cash than the ticket planned." if short else
                   f"{head[0].upper()}{head[1:]}, but the cash still covers every BUY.")
    out += [advice(s) for s in short]
    return out
