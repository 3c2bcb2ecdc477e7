"""Decimal rules of the ledger: how many places each kind of number keeps,
how user input becomes a Decimal, and :class:`Money` (an amount with its
currency).

The ledger never rounds what it is given: a value with more places than its
column keeps is refused.  The one rounding rule is the booked value of a
fill, ``units x price`` rounded half-even to the cent, as the broker books it
(and in the account currency ``units x price / fx_rate``, also to the cent).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from ..errors import ValidationError

UNITS_PLACES = 8  # share units (fractional shares)
PRICE_PLACES = 6  # prices per unit
MONEY_PLACES = 4  # amounts of money
RATIO_PLACES = 12  # split ratios, FX rates, price bands
CENT = Decimal("0.01")
ZERO = Decimal(0)


NUMBER_CODES = ("empty", "not_a_number", "not_finite", "too_large", "too_many_places")


class NumberError(ValidationError):
    """A value that is not a number of the kind asked for: ``code`` says why (one of
    :data:`NUMBER_CODES`), ``number`` is the Decimal read (None when there was none)."""

    def __init__(self, code: str, message: str, number: Decimal | None = None):
        super().__init__(message)
        self.code = code
        self.number = number


def parse_decimal(value: str | Decimal, places: int) -> Decimal:
    """The one decimal parser: ``value`` (text or a Decimal) as a Decimal of exactly ``places`` places.

    Text is read by ``Decimal`` as given (surrounding whitespace ignored; each
    caller trims and strips its own extras first).  Raises :class:`NumberError`:
    ``empty`` (""), ``not_a_number``, ``not_finite`` (NaN, Infinity),
    ``too_large`` (it cannot keep ``places`` places) or ``too_many_places``
    (it has more than ``places`` places: never rounded).
    """
    if isinstance(value, str):
        if not value:
            raise NumberError("empty", "empty, expected a number")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise NumberError("not_a_number", f"{value!r} is not a decimal number (use '.' as the decimal point, no thousands separators)") from None
    else:
        number = value
    if not number.is_finite():
        raise NumberError("not_finite", f"{number} is not a finite number", number)
    try:
        fitted = number.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:
        raise NumberError("too_large", f"{number} is too large", number) from None
    if fitted != number:
        raise NumberError("too_many_places", f"{number} has more than {places} decimal places", number)
    return fitted


def to_decimal(value: object, field: str, places: int, *, where: str = "") -> Decimal:
    """Parse ``value`` (Decimal, int or str; never float) into a Decimal.

    Raises ValidationError naming ``where`` and ``field`` when the value is
    not a finite number or has more than ``places`` decimal places (a
    :class:`NumberError` with its code for what :func:`parse_decimal` refuses).
    Text is trimmed and its underscores dropped ('1_000.50').
    """
    prefix = f"{where}, field '{field}'" if where else f"field '{field}'"
    if isinstance(value, (bool, float)):
        raise ValidationError(f"{prefix}: {value!r} is a {type(value).__name__}; pass a Decimal or a string such as '12.34'")
    if isinstance(value, str):
        value = value.strip().replace("_", "")
    elif isinstance(value, int):
        value = Decimal(value)
    elif not isinstance(value, Decimal):
        raise ValidationError(f"{prefix}: {value!r} ({type(value).__name__}) is not a number")
    try:
        return parse_decimal(value, places)
    except NumberError as err:
        raise NumberError(err.code, f"{prefix}: {err}", err.number) from None


def booked_value(units: Decimal, price: Decimal) -> Decimal:
    """What the broker books for ``units`` at ``price``: rounded half-even to the cent."""
    return (units * price).quantize(CENT, rounding=ROUND_HALF_EVEN)


def account_value(units: Decimal, price: Decimal, fx_rate: Decimal = Decimal(1)) -> Decimal:
    """What a fill books in the account currency: ``units x price / fx_rate`` rounded half-even to the cent.

    ``fx_rate`` is USD (the instrument currency) per one unit of the account
    currency; at a rate of exactly 1 this is :func:`booked_value`."""
    if fx_rate == 1:
        return booked_value(units, price)
    if fx_rate <= 0:
        raise ValidationError(f"fx_rate {fx_rate} must be above zero")
    return (units * price / fx_rate).quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Money:
    """An amount of money and its ISO currency code."""

    amount: Decimal
    currency: str

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise ValidationError(f"cannot combine {self} with {other}: currencies differ")

    def __str__(self) -> str:
        return f"{self.amount:,.2f} {self.currency}"

    def to_dict(self) -> dict[str, str]:
        return {"amount": str(self.amount), "currency": self.currency}


class AsOf:
    """The last value of a dated series (closes, FX rates) on or before a day."""

    def __init__(self, series: Mapping[date, Decimal]):
        self.days = sorted(series)
        self.values = [series[d] for d in self.days]

    def get(self, day: date) -> Decimal | None:
        i = bisect_right(self.days, day)
        return self.values[i - 1] if i else None
