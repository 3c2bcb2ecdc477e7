"""What a BUY may spend: the cash there is after the lines before it.

One rule, written once and used by the paper-fill model (``tradeops.demo``),
the ledger's refusal (``tradeops.ledger.api.confirm_ticket``), the page's
live budget as the executor types (``tradeops.dashboard``) and the ticket's
"if blocked" section (``tradeops.tickets``):

- the SELLs come first and bring in what they really sold for;
- each BUY, in ticket order, may spend at most the cash left after the
  lines before it (less a floor, where the policy keeps a buffer);
- a BUY the cash cannot cover is shrunk to the whole micro-units the cash
  allows (still "executed" when that is within the line's band of its
  value, else "partial"), or skipped ("not executed", reason
  :data:`NOT_ENOUGH_CASH`) when that would be less than :data:`MIN_VALUE`.

Pure: Decimals in, Decimals out, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Iterable, Sequence

from .ledger.money import booked_value

UNIT = Decimal("0.000001")  # the ledger's units precision
CENT = Decimal("0.01")
MIN_VALUE = Decimal("1")  # a BUY worth less than this is not placed: "not enough cash"
NOT_ENOUGH_CASH = "not enough cash"
PART_FOR_CASH = "not enough cash for the whole order"
ZERO = Decimal(0)


def cost(units: Decimal, price: Decimal, fees: Decimal = ZERO) -> Decimal:
    """What a BUY takes from cash, as the ledger books it (value rounded to the cent, plus fees)."""
    return booked_value(units, price) + fees


def affordable_units(cash: Decimal, price: Decimal, fees: Decimal = ZERO) -> Decimal:
    """The most units (whole micro-units) whose booked cost plus ``fees`` is within ``cash``."""
    if price <= 0 or cash <= fees:
        return ZERO
    units = ((cash - fees) / price).quantize(UNIT, ROUND_DOWN)
    while units > 0 and cost(units, price, fees) > cash:  # the cent rounding can add half a cent
        units -= UNIT
    return max(units, ZERO)


@dataclass(frozen=True)
class Fit:
    """How a BUY that the cash cannot cover is answered instead."""

    status: str  # EXECUTED (shrunk, still within the band) | PARTIAL | NOT_EXECUTED
    units: Decimal
    reason: str | None

    @property
    def skipped(self) -> bool:
        return self.status == "NOT_EXECUTED"


def fit_buy(cash: Decimal, units: Decimal, price: Decimal, fees: Decimal, value: Decimal, band: Decimal) -> Fit | None:
    """None when ``units`` at ``price`` plus ``fees`` fit in ``cash``; else what the cash allows."""
    if cost(units, price, fees) <= cash:
        return None
    can = affordable_units(cash, price, fees)
    if can * price < MIN_VALUE:
        return Fit("NOT_EXECUTED", ZERO, NOT_ENOUGH_CASH)
    if can * price >= value * (1 - band):
        return Fit("EXECUTED", can, None)  # within the band of the order: that is an executed order
    return Fit("PARTIAL", can, PART_FOR_CASH)


# --------------------------------------------------------------------------- a plan for a whole ticket


@dataclass(frozen=True)
class PlanLine:
    """A ticket line, and what is known of its answer (typed or saved): None while unknown."""

    line_no: int
    side: str  # BUY | SELL
    symbol: str
    value: Decimal  # what the ticket expects it to spend (BUY) or bring in (SELL)
    reference_price: Decimal
    band: Decimal
    status: str | None = None  # EXECUTED | PARTIAL | NOT_EXECUTED | None
    units: Decimal | None = None
    price: Decimal | None = None
    fees: Decimal = ZERO

    @property
    def known(self) -> bool:
        return self.status == "NOT_EXECUTED" or (self.status is not None and self.units is not None and self.price is not None)

    def cash_effect(self) -> Decimal:
        """What this line does to cash: its answer when known, else what the ticket expects."""
        if self.status == "NOT_EXECUTED":
            return -self.fees
        if self.known:
            value = booked_value(self.units, self.price)
            return value - self.fees if self.side == "SELL" else -(value + self.fees)
        return self.value if self.side == "SELL" else -self.value


@dataclass(frozen=True)
class Step:
    """One line of the plan: the cash before it, and for a BUY how much it may spend."""

    line: PlanLine
    cash_before: Decimal  # after the lines before it (SELLs first), less nothing
    may_spend: Decimal | None  # BUY only: the cash it may use (cash_before - floor, at least 0)
    fit: Fit | None  # BUY only: None if the line fits as asked; else shrink or skip

    @property
    def over(self) -> Decimal:
        """By how much the line (as typed, or as the ticket asks) is more than the cash allows."""
        if self.may_spend is None:
            return ZERO
        return max(-self.line.cash_effect() - self.may_spend, ZERO)


def order(lines: Iterable[PlanLine]) -> list[PlanLine]:
    """SELLs first, then BUYs, each in ticket order: the order the ticket asks for."""
    return sorted(lines, key=lambda ln: (ln.side != "SELL", ln.line_no))


def plan(lines: Sequence[PlanLine], cash: Decimal, floor: Decimal = ZERO) -> list[Step]:
    """Walk the ticket in its order with ``cash`` before it; say what each BUY may spend.

    A BUY whose answer is known spends what it did; one not yet answered is
    assumed to spend only what fits (so the BUYs after a shrunk one see the
    cash that is really left)."""
    steps = []
    for line in order(lines):
        before = cash
        if line.side == "SELL":
            steps.append(Step(line, before, None, None))
            cash += line.cash_effect()
            continue
        may = max(before - floor, ZERO)
        units = line.units if line.known and line.units is not None else (line.value / line.reference_price).quantize(UNIT, ROUND_DOWN)
        price = line.price if line.known and line.price is not None else line.reference_price
        fit = None if line.status == "NOT_EXECUTED" else fit_buy(may, units, price, line.fees, line.value, line.band)
        steps.append(Step(line, before, may, fit))
        if line.known:
            cash += line.cash_effect()
        elif fit is None:
            cash -= line.value
        elif not fit.skipped:
            cash -= cost(fit.units, price, line.fees)
    return steps


def short_steps(steps: Sequence[Step]) -> list[Step]:
    """The BUYs the cash cannot cover as asked (to shrink or to skip)."""
    return [s for s in steps if s.fit is not None]


def money(x: Decimal, sign: str = "$") -> str:
    q = x.quantize(CENT)
    return f"-{sign}{-q:,.2f}" if q < 0 else f"{sign}{q:,.2f}"


def advice(step: Step, sign: str = "$") -> str:
    """One plain sentence for a BUY that does not fit: how much to buy instead, or skip it."""
    line, fit = step.line, step.fit
    head = f"Line {line.line_no}, BUY {line.symbol}"
    if fit is None:
        return f"{head}: the cash covers it ({money(step.may_spend or ZERO, sign)} available)."
    if fit.skipped:
        return (
            f"{head}: skip it. Only {money(step.may_spend, sign)} is left for it, so record it as "
            f"“not executed”, reason “{NOT_ENOUGH_CASH}”."
        )
    spend = fit.units * (line.price or line.reference_price)
    status = "partial" if fit.status == "PARTIAL" else "executed"
    return (
        f"{head}: buy only {money(spend, sign)} (about {fit.units.normalize():f} shares) instead of "
        f"{money(line.value, sign)}: that is the cash left for it. Record it as “{status}”"
        + (f", reason “{NOT_ENOUGH_CASH}”." if fit.status == "PARTIAL" else ".")
    )


def what_if_not_sold(lines: Sequence[PlanLine], cash: Decimal, floor: Decimal = ZERO, sign: str = "$") -> list[str]:
    """For the ticket: for each SELL, which BUYs to shrink or skip if that SELL is not executed at all."""
    out = []
    for sell in (ln for ln in order(lines) if ln.side == "SELL"):
        changed = [PlanLine(**{**ln.__dict__, "status": "NOT_EXECUTED"}) if ln.line_no == sell.line_no else ln for ln in lines]
        short = short_steps(plan(changed, cash, floor))
        if not short:
            continue
        todo = ", ".join(
            f"skip line {s.line.line_no} ({s.line.symbol})" if s.fit.skipped
            else f"buy only about {money(s.fit.units * s.line.reference_price, sign)} on line {s.line.line_no} ({s.line.symbol})"
            for s in short
        )
        out.append(f"If line {sell.line_no} (SELL {sell.symbol}) is not executed: {todo}.")
    return out
