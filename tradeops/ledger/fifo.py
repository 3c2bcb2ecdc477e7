"""FIFO lots of one symbol (pure: no database).

A buy opens a lot at its booked amount (fees are expensed, not added to the
cost); a sell closes the oldest lots first and realizes ``proceeds - cost``;
a split multiplies every open lot's units by the ratio (rounded half-even to
the unit scale, lot by lot) and keeps its cost.  When a sell takes part of a
lot, the cost taken is rounded to ``COST_PLACES`` and the rest stays in the
lot, so ``realized + remaining cost == proceeds - amounts paid`` holds
exactly.

Currencies: a lot keeps its cost in the account currency (``cost``, what the
fill booked: ``account_amount``) and in the instrument currency
(``cost_ic``, the fill's ``amount``).  For a lot, or the part of a lot a sell
takes, of USD cost ``C$`` and account-currency cost ``C``, the *booking rate*
is ``fx0 = C$ / C`` (USD per account unit: the fill's rate, up to the cent
rounding of its account amount).  Valued at ``V$`` in USD and ``V`` in the
account currency (a sell: its share of the sale's proceeds, by units; an
open lot: units x mark, and that over today's rate ``fx1``):

- P&L in the account currency: ``V - C``;
- price effect: ``(V$ - C$) / fx0 = V$ x C / C$ - C``, the dollar gain
  translated at the lot's own booking rate;
- FX effect: ``V - V$ / fx0 = V - V$ x C / C$`` (for an open lot
  ``V$ x (1/fx1 - 1/fx0)``), what the rate's move made of the dollar value.

``V$ x C / C$`` is rounded to ``COST_PLACES`` once and used in both, so price
effect + FX effect = P&L exactly.  When the instrument is in the account's
own currency ``C = C$``: the price effect is the whole P&L, the FX effect 0.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from ..errors import LedgerError
from .money import UNITS_PLACES, ZERO

COST_PLACES = 8
_UNIT = Decimal(1).scaleb(-UNITS_PLACES)
_COST = Decimal(1).scaleb(-COST_PLACES)


@dataclass
class Lot:
    units: Decimal
    cost: Decimal  # what is left of the amount paid for these units (account currency)
    cost_ic: Decimal | None = None  # the same in the instrument currency (None: the account's own)
    fx_rate: Decimal = Decimal(1)  # the fill's rate, used only when the USD cost rounds to zero

    @property
    def usd_cost(self) -> Decimal:
        return self.cost if self.cost_ic is None else self.cost_ic

    def at_booking_rate(self, value_ic: Decimal, cost: Decimal | None = None, cost_ic: Decimal | None = None) -> Decimal:
        """``value_ic`` (instrument currency) translated at this lot's booking rate ``C$ / C``."""
        cost = self.cost if cost is None else cost
        cost_ic = self.usd_cost if cost_ic is None else cost_ic
        if self.cost_ic is None:
            return value_ic
        exact = value_ic * cost / cost_ic if cost_ic != 0 else value_ic / self.fx_rate
        return exact.quantize(_COST, rounding=ROUND_HALF_EVEN)


def split_units(units: Decimal, ratio: Decimal) -> Decimal:
    """Units of one lot after a split, rounded half-even to the unit scale."""
    return (units * ratio).quantize(_UNIT, rounding=ROUND_HALF_EVEN)


@dataclass
class FifoBook:
    """Open lots and realized trading P&L of one symbol; feed it entries in time order."""

    symbol: str
    lots: deque[Lot] = field(default_factory=deque)
    realized: Decimal = ZERO  # account currency
    units: Decimal = ZERO  # always the sum of the lots' units
    realized_price: Decimal = ZERO  # the price effect of ``realized`` (see the module docstring)

    @property
    def realized_fx(self) -> Decimal:
        """The FX effect of ``realized``: ``realized - realized_price``."""
        return self.realized - self.realized_price

    @property
    def foreign(self) -> bool:
        """Whether the open lots were paid in another currency than the account's."""
        return any(lot.cost_ic is not None for lot in self.lots)

    @property
    def cost(self) -> Decimal:
        return sum((lot.cost for lot in self.lots), ZERO)

    @property
    def cost_ic(self) -> Decimal:
        """What the open lots cost in the instrument currency."""
        return sum((lot.usd_cost for lot in self.lots), ZERO)

    def buy(self, units: Decimal, amount: Decimal, amount_ic: Decimal | None = None, fx_rate: Decimal = Decimal(1)) -> None:
        """A lot of ``units`` that cost ``amount`` (account currency) and ``amount_ic`` (instrument
        currency; None when the instrument is in the account's currency)."""
        self.lots.append(Lot(units, amount, amount_ic, fx_rate))
        self.units += units

    def sell(self, units: Decimal, proceeds: Decimal, proceeds_ic: Decimal | None = None) -> None:
        """Close ``units`` FIFO for ``proceeds`` (account currency) and ``proceeds_ic`` (instrument currency)."""
        if units > self.units:
            raise LedgerError(f"{self.symbol}: a sell of {units} units but only {self.units} are held (the ledger is inconsistent)")
        proceeds_ic = proceeds if proceeds_ic is None else proceeds_ic
        left, cost, price_effect, shared = units, ZERO, ZERO, ZERO
        while left > 0:
            lot = self.lots[0]
            take = min(lot.units, left)
            if lot.units <= left:
                part, part_ic = lot.cost, lot.usd_cost
                self.lots.popleft()
            else:
                part = (lot.cost * left / lot.units).quantize(_COST, rounding=ROUND_HALF_EVEN)
                part_ic = (lot.usd_cost * left / lot.units).quantize(_COST, rounding=ROUND_HALF_EVEN)
                lot.cost -= part
                if lot.cost_ic is not None:
                    lot.cost_ic -= part_ic
                lot.units -= left
            left -= take
            # this part's share of the USD proceeds, by units (the last part takes the rest, so the shares add up)
            share_ic = proceeds_ic - shared if left == 0 else (proceeds_ic * take / units).quantize(_COST, rounding=ROUND_HALF_EVEN)
            shared += share_ic
            price_effect += lot.at_booking_rate(share_ic, part, part_ic) - part
            cost += part
        self.units -= units
        self.realized += proceeds - cost
        self.realized_price += price_effect

    def open_split(self, mark: Decimal, fx_rate: Decimal = Decimal(1)) -> tuple[Decimal, Decimal, Decimal]:
        """``(market value, price effect, FX effect)`` of the open lots, in the account currency.

        ``mark`` is in the instrument currency, ``fx_rate`` today's USD per account unit; the market
        value is ``units x mark / fx_rate`` rounded to ``COST_PLACES`` (exactly ``units x mark`` at 1),
        and price effect + FX effect = market value - cost exactly."""
        if fx_rate == 1:
            value = self.units * mark
        else:
            value = (self.units * mark / fx_rate).quantize(_COST, rounding=ROUND_HALF_EVEN)
        translated = sum((lot.at_booking_rate(lot.units * mark) for lot in self.lots), ZERO)
        return value, translated - self.cost, value - translated

    def split(self, ratio: Decimal) -> Decimal:
        """Apply a split; return the change in units."""
        before = self.units
        for lot in self.lots:
            lot.units = split_units(lot.units, ratio)
        self.units = sum((lot.units for lot in self.lots), ZERO)
        return self.units - before
