"""FIFO lots of one symbol (pure: no database).

A buy opens a lot at its booked amount (fees are expensed, not added to the
cost); a sell closes the oldest lots first and realizes ``proceeds - cost``;
a split multiplies every open lot's units by the ratio (rounded half-even to
the unit scale, lot by lot) and keeps its cost.  When a sell takes part of a
lot, the cost taken is rounded to ``COST_PLACES`` and the rest stays in the
lot, so ``realized + remaining cost == proceeds - amounts paid`` holds
exactly.
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
    cost: Decimal  # what is left of the amount paid for these units


def split_units(units: Decimal, ratio: Decimal) -> Decimal:
    """Units of one lot after a split, rounded half-even to the unit scale."""
    return (units * ratio).quantize(_UNIT, rounding=ROUND_HALF_EVEN)


@dataclass
class Book:
    """Open lots and realized trading P&L of one symbol; feed it entries in time order."""

    symbol: str
    lots: deque[Lot] = field(default_factory=deque)
    realized: Decimal = ZERO
    units: Decimal = ZERO  # always the sum of the lots' units

    @property
    def cost(self) -> Decimal:
        return sum((lot.cost for lot in self.lots), ZERO)

    def buy(self, units: Decimal, amount: Decimal) -> None:
        self.lots.append(Lot(units, amount))
        self.units += units

    def sell(self, units: Decimal, proceeds: Decimal) -> None:
        if units > self.units:
            raise LedgerError(f"{self.symbol}: a sell of {units} units but only {self.units} are held (the ledger is inconsistent)")
        left, cost = units, ZERO
        while left > 0:
            lot = self.lots[0]
            if lot.units <= left:
                cost += lot.cost
                left -= lot.units
                self.lots.popleft()
            else:
                taken = (lot.cost * left / lot.units).quantize(_COST, rounding=ROUND_HALF_EVEN)
                cost += taken
                lot.cost -= taken
                lot.units -= left
                left = ZERO
        self.units -= units
        self.realized += proceeds - cost

    def split(self, ratio: Decimal) -> Decimal:
        """Apply a split; return the change in units."""
        before = self.units
        for lot in self.lots:
            lot.units = split_units(lot.units, ratio)
        self.units = sum((lot.units for lot in self.lots), ZERO)
        return self.units - before
