"""What every part of the ledger API shares: the exchange, the cash-flow kinds, the session's clock,
the exchange date of an instant, and the SQL expressions for active fills and their cash effect."""

from __future__ import annotations

from datetime import date, datetime, time, timezone, tzinfo
from decimal import Decimal
from typing import Mapping

from sqlalchemy import and_, case, exists, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from ..calendar import exchange_tz
from ..clock import Clock
from ..errors import LedgerError, ValidationError
from .db import clock_of
from .models import MONEY, UNITS, Fill


EXCHANGE = "XNYS"
OUTFLOW_KINDS = ("WITHDRAWAL", "FEE")  # entered as positive amounts, take from cash
EXTERNAL_FLOWS = ("DEPOSIT", "WITHDRAWAL")  # money the owner moves in or out (not returns)

PriceSeries = Mapping[str, Mapping[date, Decimal]]  # symbol -> session date -> close


# --------------------------------------------------------------------------- helpers


def _now(session: Session, clock: Clock | None = None) -> datetime:
    """``clock``'s time when one is passed, else the session's clock (``db.transaction(engine,
    clock=...)``), the machine's by default."""
    return (clock or clock_of(session)).now()


def _exchange_tz() -> tzinfo:
    return exchange_tz(EXCHANGE)


def exchange_date(instant: datetime) -> date:
    """The exchange's (New York) calendar date of an instant."""
    return instant.astimezone(_exchange_tz()).date()


def _day_start(day: date) -> datetime:
    """Midnight at the exchange on ``day``: when a split dated ``day`` applies."""
    return datetime.combine(day, time(0), tzinfo=_exchange_tz()).astimezone(timezone.utc)


def jsonable(value):
    """Decimals, dates and tuples made JSON-safe (Decimals as exact strings)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return value


def _flush(session: Session, what: str) -> None:
    """Flush; a database refusal becomes a LedgerError that says what was refused."""
    try:
        session.flush()
    except IntegrityError as err:
        detail = str(err.orig).strip().splitlines()[0]
        raise LedgerError(f"{what}: refused by the database ({detail})") from err


def _text(value: str | None, field: str, where: str) -> str:
    if value is None or not str(value).strip():
        raise ValidationError(f"{where}, field '{field}': required, and empty")
    return str(value).strip()


_REVERSAL = aliased(Fill)
_NOT_REVERSED = ~exists().where(_REVERSAL.reverses_id == Fill.id)
_ACTIVE = and_(Fill.kind == "FILL", _NOT_REVERSED)  # fills that count (neither reversed nor reversals)

# signed effect of a fill row on units and on cash (a reversal undoes its fill)
_SIGNED_UNITS = type_coerce(
    case((and_(Fill.side == "BUY", Fill.kind == "FILL"), Fill.units), (and_(Fill.side == "SELL", Fill.kind == "REVERSAL"), Fill.units), else_=-Fill.units),
    UNITS,
)
_CASH_EFFECT = type_coerce(  # in the fill's (account) currency: its account amount and fees
    case(
        (and_(Fill.side == "BUY", Fill.kind == "FILL"), -Fill.account_amount - Fill.fees),
        (and_(Fill.side == "SELL", Fill.kind == "FILL"), Fill.account_amount - Fill.fees),
        (and_(Fill.side == "BUY", Fill.kind == "REVERSAL"), Fill.account_amount + Fill.fees),
        else_=Fill.fees - Fill.account_amount,
    ),
    MONEY,
)
