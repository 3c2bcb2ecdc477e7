"""What people type: fills, broker snapshots and cash movements (pure parsing).

Every value is checked before anything reaches the database; a bad value
raises :class:`~tradeops.errors.ValidationError` naming the row and the
field.  The CSV readers check every row and report all bad rows at once.

File formats (header row first; spreadsheet row numbers in messages):

``fills.csv``     line,status,units,price,fees,filled_at[,symbol,side,reason,notes,attachment,override_reason,fx_rate]
                  (price in the instrument currency, fees in the account currency; fx_rate: USD per
                  account-currency unit paid, for a non-USD account; empty = the ticket's/day's rate)
``snapshot.csv``  type,symbol,quantity   (one ``cash,USD,1234.56`` row, then ``position,AAPL,3.5`` rows;
                  a non-USD account may add one ``fx,GBPUSD,1.2702`` row: USD per account unit shown)
``cash.csv``      kind,amount,date[,symbol,currency,notes]
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Callable, Mapping, TypeVar

from ..clock import SYSTEM
from ..errors import ValidationError
from .money import MONEY_PLACES, PRICE_PLACES, RATIO_PLACES, UNITS_PLACES, ZERO, to_decimal

FILL_STATUSES = {"executed": "EXECUTED", "partial": "PARTIAL", "not_executed": "NOT_EXECUTED"}
from .names import CASH_KINDS  # noqa: E402

SIGNED_CASH_KINDS = ("INTEREST", "FX")  # the only kinds whose amount may be negative
SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,31}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
LINE_RE = re.compile(r"^[1-9][0-9]{0,5}$")
FUTURE_SLACK = timedelta(minutes=5)

FILL_COLUMNS = ("line", "status", "units", "price", "fees", "filled_at")
FILL_OPTIONAL = ("symbol", "side", "reason", "notes", "attachment", "override_reason", "fx_rate")
SNAPSHOT_COLUMNS = ("type", "symbol", "quantity")
CASH_COLUMNS = ("kind", "amount", "date")
CASH_OPTIONAL = ("symbol", "currency", "notes")


@dataclass(frozen=True)
class FillInput:
    """One confirmed ticket line, checked and normalised."""

    line_no: int
    status: str  # EXECUTED | PARTIAL | NOT_EXECUTED
    units: Decimal
    price: Decimal | None
    fees: Decimal
    filled_at: datetime  # aware
    reason: str | None = None
    notes: str | None = None
    attachment: str | None = None
    override_reason: str | None = None
    symbol: str | None = None  # optional cross-checks against the ticket line
    side: str | None = None
    where: str = ""  # "fills.csv row 3": prefix for later messages
    fx_rate: Decimal | None = None  # USD per account-currency unit paid; None: the ledger's default (api.fill_fx_rate)


@dataclass(frozen=True)
class SnapshotInput:
    cash: Decimal
    currency: str
    positions: dict[str, Decimal]
    fx_rate: Decimal | None = None  # USD per account-currency unit, as the broker showed it (an ``fx`` row)


@dataclass(frozen=True)
class CashInput:
    kind: str
    amount: Decimal  # as entered: a magnitude, signed only for INTEREST and FX
    value_date: date
    currency: str = "USD"
    symbol: str | None = None
    notes: str | None = None
    where: str = ""


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _fail(where: str, field: str, message: str) -> ValidationError:
    return ValidationError(f"{where}, field '{field}': {message}" if where else f"field '{field}': {message}")


def parse_symbol(value: object, where: str = "", field: str = "symbol") -> str:
    text = (_text(value) or "").upper()
    if not SYMBOL_RE.match(text):
        raise _fail(where, field, f"{value!r} is not a symbol (letters, digits, '.' or '-', at most 32)")
    return text


def parse_currency(value: object, where: str = "", field: str = "currency") -> str:
    text = (_text(value) or "").upper()
    if not CURRENCY_RE.match(text):
        raise _fail(where, field, f"{value!r} is not a three-letter currency code such as USD")
    return text


def parse_timestamp(value: object, where: str, field: str, local_tz: tzinfo, now: datetime | None = None) -> datetime:
    """ISO 8601 date-time; without an offset it is read in ``local_tz``; never in the future."""
    if isinstance(value, datetime):
        stamp = value
    else:
        text = _text(value)
        if text is None:
            raise _fail(where, field, "empty, expected a date and time such as 2024-01-03T14:35")
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise _fail(where, field, f"{text!r} is not an ISO 8601 date and time such as 2024-01-03T14:35") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=local_tz)
    now = now or SYSTEM.now()
    if stamp > now + FUTURE_SLACK:
        raise _fail(where, field, f"{stamp.isoformat()} is in the future (now {now.isoformat(timespec='seconds')})")
    return stamp.astimezone(timezone.utc)


def parse_date(value: object, where: str, field: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = _text(value)
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        raise _fail(where, field, f"{value!r} is not a date such as 2024-01-03") from None


def parse_fill(raw: Mapping[str, object], where: str, local_tz: tzinfo, now: datetime | None = None) -> FillInput:
    """Check one fill; ``raw`` has the fills.csv column names (values may be str or Decimal)."""
    line = _text(raw.get("line"))
    if line is None or not LINE_RE.match(line):
        raise _fail(where, "line", f"{raw.get('line')!r} is not a ticket line number (1, 2, ...)")
    status_text = (_text(raw.get("status")) or "").lower().replace(" ", "_").replace("-", "_")
    if status_text not in FILL_STATUSES:
        raise _fail(where, "status", f"{raw.get('status')!r} is not one of executed, partial, not_executed")
    status = FILL_STATUSES[status_text]
    fees = to_decimal(raw.get("fees") if _text(raw.get("fees")) is not None else "0", "fees", MONEY_PLACES, where=where)
    if fees < 0:
        raise _fail(where, "fees", f"{fees} is negative; fees are entered as positive amounts")
    reason = _text(raw.get("reason"))
    if status == "NOT_EXECUTED":
        if _text(raw.get("units")) not in (None, "0") and to_decimal(raw.get("units"), "units", UNITS_PLACES, where=where) != 0:
            raise _fail(where, "units", f"{raw.get('units')!r} given for a line that was not executed; leave it empty")
        if _text(raw.get("price")) is not None:
            raise _fail(where, "price", f"{raw.get('price')!r} given for a line that was not executed; leave it empty")
        if reason is None:
            raise _fail(where, "reason", "say why the line was not executed")
        units, price = ZERO, None
        # when the line was given up; defaults to now
        if isinstance(raw.get("filled_at"), datetime) or _text(raw.get("filled_at")):
            filled_at = parse_timestamp(raw.get("filled_at"), where, "filled_at", local_tz, now)
        else:
            filled_at = (now or SYSTEM.now()).astimezone(timezone.utc)
    else:
        units = to_decimal(raw.get("units"), "units", UNITS_PLACES, where=where)
        if units <= 0:
            raise _fail(where, "units", f"{units} must be above zero for an {status.lower()} line")
        price = to_decimal(raw.get("price"), "price", PRICE_PLACES, where=where)
        if price <= 0:
            raise _fail(where, "price", f"{price} must be above zero")
        filled_at = parse_timestamp(raw.get("filled_at"), where, "filled_at", local_tz, now)
    fx_rate = None
    if isinstance(raw.get("fx_rate"), Decimal) or _text(raw.get("fx_rate")) is not None:
        fx_rate = to_decimal(raw.get("fx_rate"), "fx_rate", RATIO_PLACES, where=where)
        if fx_rate <= 0:
            raise _fail(where, "fx_rate", f"{fx_rate.normalize():f} must be above zero (USD per account-currency unit, e.g. 1.27)")
    symbol = _text(raw.get("symbol"))
    side = (_text(raw.get("side")) or "").upper() or None
    if side is not None and side not in ("BUY", "SELL"):
        raise _fail(where, "side", f"{raw.get('side')!r} is not BUY or SELL")
    return FillInput(
        line_no=int(line),
        status=status,
        units=units,
        price=price,
        fees=fees,
        filled_at=filled_at,
        reason=reason,
        notes=_text(raw.get("notes")),
        attachment=_text(raw.get("attachment")),
        override_reason=_text(raw.get("override_reason")),
        symbol=parse_symbol(symbol, where) if symbol else None,
        side=side,
        where=where,
        fx_rate=fx_rate,
    )


def parse_cash(raw: Mapping[str, object], where: str, default_currency: str = "USD") -> CashInput:
    """Check one cash movement; ``raw`` has the cash.csv column names (no currency: ``default_currency``,
    the account's for the CLI)."""
    kind = (_text(raw.get("kind")) or "").upper()
    if kind not in CASH_KINDS:
        raise _fail(where, "kind", f"{raw.get('kind')!r} is not one of {', '.join(k.lower() for k in CASH_KINDS)}")
    amount = to_decimal(raw.get("amount"), "amount", MONEY_PLACES, where=where)
    if kind in SIGNED_CASH_KINDS:
        if amount == 0:
            raise _fail(where, "amount", "is zero")
    elif amount <= 0:
        raise _fail(where, "amount", f"{amount}: enter a {kind.lower()} as a positive amount (the kind gives the direction)")
    symbol = _text(raw.get("symbol"))
    if kind == "DIVIDEND" and symbol is None:
        raise _fail(where, "symbol", "a dividend needs the symbol that paid it")
    currency = raw.get("currency")
    return CashInput(
        kind=kind,
        amount=amount,
        value_date=parse_date(raw.get("date"), where, "date"),
        currency=parse_currency(currency, where) if _text(currency) else default_currency,
        symbol=parse_symbol(symbol, where) if symbol else None,
        notes=_text(raw.get("notes")),
        where=where,
    )


T = TypeVar("T")


def _read_rows(text: str, source: str, required: tuple[str, ...], optional: tuple[str, ...]) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        unknown = [c for c in header if c not in required + optional]
        if missing or unknown:
            raise ValidationError(
                f"{source} row 1 (header): columns must include {list(required)}"
                + (f" and may include {list(optional)}" if optional else "")
                + f"; missing {missing}, unknown {unknown}"
            )
        reader.fieldnames = header
        rows = []
        for row in reader:
            n = reader.line_num
            if None in row:
                raise ValidationError(f"{source} row {n}: more values than columns")
            if all(_text(v) is None for v in row.values()):
                continue  # blank line
            rows.append((n, row))
    except csv.Error as err:
        raise ValidationError(f"{source} row {reader.line_num}: not valid CSV ({err})") from None
    if not rows:
        raise ValidationError(f"{source}: no data rows")
    return rows


def _collect(rows: list[tuple[int, dict]], source: str, parse: Callable[[dict, str], T]) -> list[T]:
    out, errors = [], []
    for n, row in rows:
        try:
            out.append(parse(row, f"{source} row {n}"))
        except ValidationError as err:
            errors.append(str(err))
    if errors:
        raise ValidationError("; ".join(errors) + " (nothing was written)")
    return out


def parse_fills_csv(text: str, local_tz: tzinfo, source: str = "fills.csv", now: datetime | None = None) -> list[FillInput]:
    rows = _read_rows(text, source, FILL_COLUMNS, FILL_OPTIONAL)
    fills = _collect(rows, source, lambda row, where: parse_fill(row, where, local_tz, now))
    seen: dict[int, str] = {}
    for f in fills:
        if f.line_no in seen:
            raise _fail(f.where, "line", f"line {f.line_no} is confirmed twice (also in {seen[f.line_no]}) (nothing was written)")
        seen[f.line_no] = f.where
    return fills


def parse_cash_csv(text: str, source: str = "cash.csv", default_currency: str = "USD") -> list[CashInput]:
    return _collect(_read_rows(text, source, CASH_COLUMNS, CASH_OPTIONAL), source, lambda row, where: parse_cash(row, where, default_currency))


def parse_snapshot_csv(text: str, source: str = "snapshot.csv") -> SnapshotInput:
    """One ``cash`` row (symbol = currency) and any number of ``position`` rows."""
    rows = _read_rows(text, source, SNAPSHOT_COLUMNS, ())
    cash: tuple[Decimal, str] | None = None
    fx_rate: Decimal | None = None
    positions: dict[str, Decimal] = {}
    first_seen: dict[str, int] = {}
    errors = []
    for n, row in rows:
        where = f"{source} row {n}"
        try:
            kind = (_text(row.get("type")) or "").lower()
            if kind == "cash":
                if cash is not None:
                    raise _fail(where, "type", "a second cash row; enter the account's cash once")
                currency = parse_currency(row.get("symbol"), where, "symbol")
                amount = to_decimal(row.get("quantity"), "quantity", MONEY_PLACES, where=where)
                if amount < 0:
                    raise _fail(where, "quantity", f"cash {amount} is negative; the account holds no debt")
                cash = (amount, currency)
            elif kind == "fx":
                if fx_rate is not None:
                    raise _fail(where, "type", "a second fx row; enter the rate once")
                pair = (_text(row.get("symbol")) or "").upper()
                if not re.match(r"^[A-Z]{3}USD$", pair) or pair == "USDUSD":
                    raise _fail(where, "symbol", f"{row.get('symbol')!r} is not a rate against USD such as GBPUSD")
                fx_rate = to_decimal(row.get("quantity"), "quantity", RATIO_PLACES, where=where)
                if fx_rate <= 0:
                    raise _fail(where, "quantity", f"rate {fx_rate.normalize():f} must be above zero (USD per {pair[:3]}, e.g. 1.27)")
            elif kind == "position":
                symbol = parse_symbol(row.get("symbol"), where)
                if symbol in first_seen:
                    raise _fail(where, "symbol", f"{symbol} already given on row {first_seen[symbol]}")
                units = to_decimal(row.get("quantity"), "quantity", UNITS_PLACES, where=where)
                if units < 0:
                    raise _fail(where, "quantity", f"{units} units is negative")
                first_seen[symbol] = n
                if units > 0:
                    positions[symbol] = units
            else:
                raise _fail(where, "type", f"{row.get('type')!r} is not cash, fx or position")
        except ValidationError as err:
            errors.append(str(err))
    if cash is None and not errors:
        errors.append(f"{source}: no cash row (add a row: cash,USD,<amount>)")
    if errors:
        raise ValidationError("; ".join(errors) + " (nothing was written)")
    return SnapshotInput(cash=cash[0], currency=cash[1], positions=positions, fx_rate=fx_rate)
