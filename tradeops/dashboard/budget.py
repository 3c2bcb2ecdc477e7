"""What the BUYs of the ticket on the page may spend, live, from what is saved and what is typed.

Pure: a :class:`~tradeops.dashboard.model.TicketView`, the ledger's cash (the
lowest from the ticket's session on: the ledger's day-by-day rule, so a deposit
dated later does not count) and the typed entries in; the plan of
:mod:`tradeops.cashplan` (the same rule as the paper fills and the ledger's
refusal) and plain sentences out.

A GBP account's lines convert: the cash and each line's value are in pounds,
the prices in USD; a saved fill counts at the rate it was booked at, a typed
one at the rate typed (else the ticket's), with the fees typed (else the
conversion fee, as :mod:`~tradeops.dashboard.validation` books it), and a line
not answered yet at the ticket's rate plus the conversion fee the ticket counted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping, Sequence

from ..cashplan import PlanLine, Step, advice, money, plan, short_steps
from ..ledger.money import MONEY_PLACES, PRICE_PLACES, UNITS_PLACES, ZERO
from .model import LineView, TicketView
from .validation import STATUSES, FieldError, LineEntry, default_fees, fill_rate, parse_number


def _typed(entry: LineEntry | None, line: LineView, fee_rate: Decimal) -> tuple[str | None, Decimal | None, Decimal | None, Decimal, Decimal]:
    """What a typed entry says, as far as it can be read (None where it cannot yet): status, units, price, fees, rate."""
    if entry is None or entry.status not in STATUSES:
        return None, None, None, ZERO, line.rate
    values = []
    for text, places in ((entry.units, UNITS_PLACES), (entry.price, PRICE_PLACES)):
        try:
            values.append(parse_number(text, places, positive=True))
        except FieldError:
            values.append(None)
    try:
        rate = fill_rate(entry, line) if line.converts else line.rate
    except FieldError:
        rate = line.rate
    try:
        fees = parse_number(entry.fees, MONEY_PLACES, default=default_fees(line, values[0], values[1], rate, fee_rate))
    except FieldError:
        fees = ZERO
    return STATUSES[entry.status], values[0], values[1], fees, rate


def plan_line(line: LineView, entry: LineEntry | None = None, fee_rate: Decimal = ZERO) -> PlanLine:
    """``fee_rate``: the ticket's conversion fee (a fraction), for a converting line."""
    base = dict(
        line_no=line.line_no,
        side=line.side,
        symbol=line.symbol,
        value=line.value,
        reference_price=line.reference_price,
        band=line.band,
        fee_rate=fee_rate if line.converts else ZERO,
    )
    f = line.fill
    if f is not None:
        return PlanLine(**base, status=f.status, units=f.units, price=f.price, fees=f.fees, fx_rate=f.fx_rate if line.converts else Decimal(1))
    status, units, price, fees, rate = _typed(entry, line, fee_rate)
    return PlanLine(**base, status=status, units=units, price=price, fees=fees, fx_rate=rate)


def cash_before(ticket: TicketView, cash_now: Decimal) -> Decimal:
    """The cash before the ticket: ``cash_now`` (the ledger's lowest cash from the ticket's session on,
    :func:`tradeops.dashboard.model.budget_cash`) less what the saved lines of it did."""
    return cash_now - sum((plan_line(ln, None, ticket.fee_rate).cash_effect() for ln in ticket.lines if ln.fill is not None), ZERO)


def ticket_plan(ticket: TicketView, cash_now: Decimal, entries: Mapping[int, LineEntry], floor: Decimal = ZERO) -> list[Step]:
    lines = [plan_line(ln, entries.get(ln.line_no), ticket.fee_rate) for ln in ticket.lines]
    return plan(lines, cash_before(ticket, cash_now), floor)


def budget_text(step: Step, sign: str = "$") -> str:
    """The sentence on a BUY card: the cash this BUY may use, and what to do if it does not fit."""
    fee = " (the conversion fee counted)" if step.line.fee_rate > 0 else ""
    if step.fit is None:
        return f"Cash for this BUY, after the lines above{fee}: {money(step.may_spend, sign)}. It covers the order."
    return f"Cash for this BUY, after the lines above{fee}: {money(step.may_spend, sign)}. " + advice(step, sign)


def short_sells(steps: Sequence[Step]) -> list[str]:
    out = []
    for s in steps:
        ln = s.line
        if ln.side != "SELL" or ln.status not in ("PARTIAL", "NOT_EXECUTED"):
            continue
        what = "was not executed" if ln.status == "NOT_EXECUTED" else "was only partly filled"
        out.append(f"line {ln.line_no} (SELL {ln.symbol}) {what}")
    return out


def summary(steps: Sequence[Step], sign: str = "$") -> list[str]:
    """Plain sentences for the whole ticket: which SELLs came out short, which BUYs to shrink or skip."""
    short = short_steps(steps)
    sells = short_sells(steps)
    out = []
    if sells:
        head = "; ".join(sells)
        out.append(
            f"{head[0].upper()}{head[1:]}: the BUYs have less cash than the ticket planned."
            if short
            else f"{head[0].upper()}{head[1:]}, but the cash still covers every BUY."
        )
    out += [advice(s, sign) for s in short]
    return out
