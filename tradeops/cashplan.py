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

An account in another currency than the instrument's (a GBP account buying
USD shares): a line's ``value`` and the cash are in the account currency, its
prices in USD; a fill costs ``units x price / fx_rate`` (the ledger's
:func:`~tradeops.ledger.money.account_value`) plus its fees, and a line not
yet answered also pays the broker's conversion fee (``fee_rate``, a fraction:
``account.fx_fee_bps / 10000``) on its value, rounded up to the penny as the
sizing does (:func:`tradeops.risk.conversion_fee`).  At a rate of 1 and no
fee (a USD account) every figure is the one of the plain rule.

Pure: Decimals in, Decimals out, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Iterable, Sequence

from .ledger.money import account_value

UNIT = Decimal("0.000001")  # the ledger's units precision
CENT = Decimal("0.01")
MIN_VALUE = Decimal("1")  # a BUY worth less than this is not placed: "not enough cash"
NOT_ENOUGH_CASH = "not enough cash"
PART_FOR_CASH = "not enough cash for the whole order"
ZERO = Decimal(0)
ONE = Decimal(1)


def conversion_fee(value: Decimal, fee_rate: Decimal) -> Decimal:
    """The broker's conversion fee on ``value`` (account currency), rounded up to the penny
    (the same rule as :func:`tradeops.risk.conversion_fee`, which sizes the ticket)."""
    return (value * fee_rate).quantize(CENT, ROUND_UP) if fee_rate > 0 and value > 0 else ZERO


def cost(units: Decimal, price: Decimal, fees: Decimal = ZERO, fx_rate: Decimal = ONE, fee_rate: Decimal = ZERO) -> Decimal:
    """What a BUY takes from cash, as the ledger books it: ``units x price / fx_rate`` rounded to the
    cent, plus ``fees``, plus the conversion fee at ``fee_rate`` on that value."""
    value = account_value(units, price, fx_rate)
    return value + fees + conversion_fee(value, fee_rate)


def affordable_units(cash: Decimal, price: Decimal, fees: Decimal = ZERO, fx_rate: Decimal = ONE, fee_rate: Decimal = ZERO) -> Decimal:
    """The most units (whole micro-units) whose :func:`cost` is within ``cash``."""
    if price <= 0 or cash <= fees:
        return ZERO
    if fx_rate == 1 and fee_rate == 0:  # the plain rule (a USD account), as it always was
        units = ((cash - fees) / price).quantize(UNIT, ROUND_DOWN)
        while units > 0 and cost(units, price, fees) > cash:  # the cent rounding can add half a cent
            units -= UNIT
        return max(units, ZERO)

    # converted and with a fee rounded up per order: the cost is monotone in the units, and within two
    # cents of (cash - fees) the exact estimate is; search the micro-units in between
    def micro(amount: Decimal, rounding: str) -> int:
        return int((max(amount, ZERO) / (1 + fee_rate) * fx_rate / price / UNIT).to_integral_value(rounding))

    lo, hi = micro(cash - fees - 2 * CENT, ROUND_DOWN), micro(cash - fees + 2 * CENT, ROUND_UP) + 1
    if cost(lo * UNIT, price, fees, fx_rate, fee_rate) > cash:
        lo = 0
    while hi - lo > 1:  # cost(lo) fits, cost(hi) does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cost(mid * UNIT, price, fees, fx_rate, fee_rate) <= cash else (lo, mid)
    return lo * UNIT


@dataclass(frozen=True)
class Fit:
    """How a BUY that the cash cannot cover is answered instead."""

    status: str  # EXECUTED (shrunk, still within the band) | PARTIAL | NOT_EXECUTED
    units: Decimal
    reason: str | None

    @property
    def skipped(self) -> bool:
        return self.status == "NOT_EXECUTED"


def fit_buy(
    cash: Decimal, units: Decimal, price: Decimal, fees: Decimal, value: Decimal, band: Decimal, fx_rate: Decimal = ONE, fee_rate: Decimal = ZERO
) -> Fit | None:
    """None when ``units`` at ``price`` (USD; ``fx_rate`` USD per account unit) plus ``fees`` and the
    conversion fee fit in ``cash``; else what the cash allows.  ``value``: the line's, in the account currency."""
    if cost(units, price, fees, fx_rate, fee_rate) <= cash:
        return None
    can = affordable_units(cash, price, fees, fx_rate, fee_rate)
    worth = can * price / fx_rate if fx_rate != 1 else can * price
    if worth < MIN_VALUE:
        return Fit("NOT_EXECUTED", ZERO, NOT_ENOUGH_CASH)
    if worth >= value * (1 - band):
        return Fit("EXECUTED", can, None)  # within the band of the order: that is an executed order
    return Fit("PARTIAL", can, PART_FOR_CASH)


# --------------------------------------------------------------------------- a plan for a whole ticket


@dataclass(frozen=True)
class PlanLine:
    """A ticket line, and what is known of its answer (typed or saved): None while unknown."""

    line_no: int
    side: str  # BUY | SELL
    symbol: str
    value: Decimal  # what the ticket expects it to spend (BUY) or bring in (SELL), in the account currency
    reference_price: Decimal  # in the instrument currency (USD)
    band: Decimal
    status: str | None = None  # EXECUTED | PARTIAL | NOT_EXECUTED | None
    units: Decimal | None = None
    price: Decimal | None = None  # in the instrument currency
    fees: Decimal = ZERO  # in the account currency, as typed (a known answer)
    fx_rate: Decimal = ONE  # USD per account-currency unit: the fill's (typed) or the ticket's
    fee_rate: Decimal = ZERO  # the conversion fee on what is not answered yet (fx_fee_bps / 10000)

    @property
    def account_price(self) -> Decimal:
        """The reference price in the account currency."""
        return self.reference_price if self.fx_rate == 1 else self.reference_price / self.fx_rate

    def usd(self, amount: Decimal) -> Decimal:
        """An account-currency amount in the instrument's dollars, at the line's rate."""
        return amount if self.fx_rate == 1 else amount * self.fx_rate

    @property
    def expected_fee(self) -> Decimal:
        """The conversion fee on the line's whole value (what the ticket counted)."""
        return conversion_fee(self.value, self.fee_rate)

    @property
    def known(self) -> bool:
        return self.status == "NOT_EXECUTED" or (self.status is not None and self.units is not None and self.price is not None)

    def cash_effect(self) -> Decimal:
        """What this line does to cash: its answer when known, else what the ticket expects."""
        if self.status == "NOT_EXECUTED":
            return -self.fees
        if self.known:
            value = account_value(self.units, self.price, self.fx_rate)
            return value - self.fees if self.side == "SELL" else -(value + self.fees)
        return self.value - self.expected_fee if self.side == "SELL" else -(self.value + self.expected_fee)


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
        known = line.known
        units = line.units if known and line.units is not None else (line.value * line.fx_rate / line.reference_price).quantize(UNIT, ROUND_DOWN)
        price = line.price if known and line.price is not None else line.reference_price
        fee_rate = ZERO if known else line.fee_rate  # a typed answer states its fees
        fit = None if line.status == "NOT_EXECUTED" else fit_buy(may, units, price, line.fees, line.value, line.band, line.fx_rate, fee_rate)
        steps.append(Step(line, before, may, fit))
        if known:
            cash += line.cash_effect()
        elif fit is None:
            cash += line.cash_effect()
        elif not fit.skipped:
            cash -= cost(fit.units, price, line.fees, line.fx_rate, fee_rate)
    return steps


def short_steps(steps: Sequence[Step]) -> list[Step]:
    """The BUYs the cash cannot cover as asked (to shrink or to skip)."""
    return [s for s in steps if s.fit is not None]


def money(x: Decimal, sign: str = "$") -> str:
    q = x.quantize(CENT)
    return f"-{sign}{-q:,.2f}" if q < 0 else f"{sign}{q:,.2f}"


def _usd(line: PlanLine, amount: Decimal) -> str:
    """', $X': an account-currency amount in the dollars eToro quotes, when the line converts."""
    return "" if line.fx_rate == 1 else f", {money(line.usd(amount))}"


def advice(step: Step, sign: str = "$") -> str:
    """One plain sentence for a BUY that does not fit: how much to buy instead, or skip it."""
    line, fit = step.line, step.fit
    head = f"Line {line.line_no}, BUY {line.symbol}"
    if fit is None:
        return f"{head}: the cash covers it ({money(step.may_spend or ZERO, sign)} available)."
    if fit.skipped:
        return f"{head}: skip it. Only {money(step.may_spend, sign)} is left for it, so record it as “not executed”, reason “{NOT_ENOUGH_CASH}”."
    price = line.price or line.reference_price
    spend = fit.units * price if line.fx_rate == 1 else fit.units * price / line.fx_rate
    status = "partial" if fit.status == "PARTIAL" else "executed"
    return (
        f"{head}: buy only {money(spend, sign)} (about {fit.units.normalize():f} shares{_usd(line, spend)}) instead of "
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
            f"skip line {s.line.line_no} ({s.line.symbol})"
            if s.fit.skipped
            else f"buy only about {money(s.fit.units * s.line.account_price, sign)} on line {s.line.line_no} ({s.line.symbol})"
            for s in short
        )
        out.append(f"If line {sell.line_no} (SELL {sell.symbol}) is not executed: {todo}.")
    return out
