"""Column types that keep Decimals and instants exact on every backend.

SQLite has no exact decimal type: a NUMERIC column stores a binary float, so
``0.1 + 0.2`` would come back wrong and large amounts would lose digits.
:class:`Fixed` therefore stores a scaled 64-bit integer on SQLite (units are
kept as hundred-millionths, money as ten-thousandths) and a plain
``NUMERIC(precision, scale)`` on PostgreSQL.  Both give back a Decimal with
exactly ``scale`` places, and ``SUM`` over the column stays exact in SQL.

SQLite also drops time zones; :class:`UTCDateTime` stores UTC and gives back
aware UTC datetimes everywhere.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.types import TypeDecorator

from ..errors import LedgerError

INT64_MAX = 2**63 - 1


class Fixed(TypeDecorator):
    """A Decimal with ``scale`` places: scaled BIGINT on SQLite, NUMERIC elsewhere."""

    impl = Numeric
    cache_ok = True

    def __init__(self, scale: int, precision: int = 20):
        super().__init__()
        self.scale = scale
        self.precision = precision
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise LedgerError(f"float {value!r} given for a decimal column; pass a Decimal")
        value = Decimal(value)
        fitted = value.quantize(self._quantum)
        if fitted != value:
            raise LedgerError(f"{value} has more than {self.scale} decimal places for this column")
        if dialect.name == "sqlite":
            scaled = int(fitted.scaleb(self.scale))
            if abs(scaled) > INT64_MAX:
                raise LedgerError(f"{value} is too large for this column")
            return scaled
        return fitted

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(self._quantum)

    def copy(self, **kw):
        return Fixed(self.scale, self.precision)

    def __repr__(self) -> str:
        return f"Fixed({self.scale}, {self.precision})"


class UTCDateTime(TypeDecorator):
    """An instant: aware datetimes in, aware UTC datetimes out (naive ones are refused)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise LedgerError(f"timestamp {value!r} has no time zone; pass an aware datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def __repr__(self) -> str:
        return "UTCDateTime()"
