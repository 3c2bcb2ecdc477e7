"""What the executor types -> checked ledger inputs, or one plain message per field.

Pure: no database, no widgets.  Every check that can fail returns its
message as data, keyed ``"<line>.<field>"`` for ticket lines (``"2.price"``)
and by field name for the other forms; ``"form"`` holds a message about the
whole form.  Nothing is written when any message is present.

The limits are the ledger's own (``tradeops.ledger.fill_checks.line_checks``,
which ``tradeops.ledger.api.confirm_ticket`` applies): a
price outside the line's band or more than the line asks for is refused
unless the executor explains it (stored as the fill's ``override_reason``);
a sell of units the ledger does not hold, a time in the future and bad
numbers are always refused.  A fill time outside the ticket's execution
window (the ticket had expired, or was not open yet) also needs an
explanation, and so does an answer the confirmations gate would call
ambiguous (EXECUTED for a fraction of the line, PARTIAL for all of it).

A line of a GBP account (it converts: ``LineView.fx_rate``) is paid in pounds
for a USD price: its FX rate (USD per pound) is typed as eToro showed it,
defaulted from the ticket's rate, and a rate more than :data:`FX_SLACK` from
the ticket's needs an explanation; what a BUY spends is compared in pounds
(``units x price / rate``), and empty fees mean the broker's conversion fee
(``account.fx_fee_bps`` of the pound amount, rounded up to the penny: the fee
the ticket and the page's cash plan count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from decimal import Decimal
from typing import Mapping, Sequence

from ..checks import Check
from ..errors import ValidationError
from ..ledger.fill_checks import line_checks
from ..ledger.inputs import FUTURE_SLACK, FillInput, parse_symbol
from ..cashplan import conversion_fee
from ..ledger.money import MONEY_PLACES, PRICE_PLACES, RATIO_PLACES, UNITS_PLACES, ZERO, NumberError, account_value, parse_decimal
from .model import LineView, TicketView

STATUSES = {"executed": "EXECUTED", "partial": "PARTIAL", "not_executed": "NOT_EXECUTED"}
STATUS_LABELS = {"EXECUTED": "executed", "PARTIAL": "partial", "NOT_EXECUTED": "not executed"}
EXPLAIN = "If that is really what happened, say why in “Explain an exception”."
MIN_REASON = 3
FX_SLACK = Decimal("0.05")  # a typed FX rate this far (as a fraction) from the ticket's needs an explanation
TEXT_LIMITS = {"reason": 200, "notes": 500, "explanation": 300}  # characters, after cleaning
# bidirectional controls (they reorder the text shown around them) and other invisible controls but newline and tab
_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f]")
_CLOCK = re.compile(r"^(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?$")


class FieldError(Exception):
    """A value the executor typed cannot be used; the message says why in plain words."""


@dataclass(frozen=True)
class LineEntry:
    """One ticket line as typed on the page (all text, nothing checked yet)."""

    status: str | None = None  # executed | partial | not_executed | None (not answered in this submit)
    units: str = ""
    price: str = ""
    fees: str = ""
    time: str = ""  # HH:MM, local (UK) time on the ticket's session
    reason: str = ""
    notes: str = ""
    explanation: str = ""
    fx_rate: str = ""  # USD per account-currency unit, as eToro showed it (a converting line; empty: the ticket's)


@dataclass(frozen=True)
class Checked:
    """Outcome of a check: the values to write, or the messages (never both)."""

    values: tuple = ()
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------- values


def clean_text(text: str | None) -> str:
    """Free text as stored: bidirectional and other control characters removed, ends trimmed."""
    return _CONTROLS.sub("", text or "").strip()


def _text_errors(entry: "LineEntry", names: Sequence[str]) -> dict[str, str]:
    out = {}
    for name in names:
        n, limit = len(clean_text(getattr(entry, name))), TEXT_LIMITS[name]
        if n > limit:
            out[name] = f"Too long: {n:,} characters, at most {limit:,}. Shorten it (a screenshot can hold the details)."
    return out


def parse_number(text: str, places: int, *, positive: bool = False, default: Decimal | None = None) -> Decimal:
    """A non-negative decimal typed by a person ('141.20', '$141.20', ' 5 ').

    Commas are refused (is '1,5' one and a half or fifteen?); ``default`` is
    used for an empty field, otherwise empty is an error.
    """
    raw = (text or "").strip()
    body = raw[1:].strip() if raw.startswith("$") else raw
    if not body:
        if default is not None:
            return default
        raise FieldError("Enter a number.")
    if "," in body:
        raise FieldError(f"“{raw}”: use a dot for decimals and no commas, e.g. 1234.56.")
    try:
        value, problem = parse_decimal(body, places), None
    except NumberError as err:  # the ledger's parser; its sign is judged first, then the places it keeps
        value, problem = err.number, err.code
    if value is None or problem == "not_finite":
        raise FieldError(f"“{raw}” is not a number. Type digits, with a dot for decimals, e.g. 141.20.")
    if value < 0:
        raise FieldError(f"{raw} is negative. Enter it without a minus sign.")
    if positive and value == 0:
        raise FieldError("Must be more than 0.")
    if problem == "too_large":
        raise FieldError(f"{raw} is too large.")
    if problem == "too_many_places":
        raise FieldError(f"{raw} has more than {places} decimal places.")
    return value


def parse_clock(text: str) -> time:
    """'14:40' (or '14.40', '14:40:05') -> time; 24-hour clock."""
    m = _CLOCK.match((text or "").strip())
    hour, minute, second = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else (99, 0, 0)
    if hour > 23 or minute > 59 or second > 59:
        shown = f"“{text.strip()}” is not a time. " if (text or "").strip() else ""
        raise FieldError(f"{shown}Enter the time eToro shows as HH:MM, 24-hour UK time, e.g. 14:40.")
    return time(hour, minute, second)


def money(x: Decimal, sign: str = "$") -> str:
    return f"{sign}{x.quantize(Decimal('0.01')):,}"


def rate_text(x: Decimal) -> str:
    """An FX rate with at least 4 decimals (1.25 -> 1.2500), as the ticket writes it."""
    return f"{x:.4f}" if x == x.quantize(Decimal("0.0001")) else format(x.normalize(), "f")


def fill_rate(entry: LineEntry, line: LineView) -> Decimal:
    """The FX rate of a converting line's fill: the one typed, else the ticket's (FieldError if unreadable)."""
    if not (entry.fx_rate or "").strip():
        return line.rate
    return parse_number(entry.fx_rate, RATIO_PLACES, positive=True)


def default_fees(line: LineView, units: Decimal | None, price: Decimal | None, fx_rate: Decimal, fee_rate: Decimal) -> Decimal:
    """The fees of a fill typed without any: the conversion fee on its pound amount for a converting
    line (0 when the units or price are not readable yet), nothing for a USD one."""
    if not line.converts or units is None or price is None:
        return ZERO
    return conversion_fee(account_value(units, price, fx_rate), fee_rate)


def units_text(x: Decimal) -> str:
    text = format(x.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def hhmm(dt: datetime) -> str:
    return dt.strftime("%H:%M")


# --------------------------------------------------------------------------- ticket lines


def _fill_summary(line: LineView) -> str:
    f = line.fill
    if f.status == "NOT_EXECUTED":
        return f"not executed: {f.reason}"
    return f"{STATUS_LABELS[f.status]}, {units_text(f.units)} shares at {money(f.price)}" + (
        f" ({money(f.account_amount, line.sign)} at {rate_text(f.fx_rate)})" if f.converts and f.account_amount is not None else ""
    )


def _finding_text(finding: Check, line: LineView) -> str:
    """The page's words for a finding of the ledger's ``line_checks`` (the executor may accept it with an explanation)."""
    v = finding.values
    if finding.code == "price_band":
        return (
            f"{money(v['price'])} is outside this line's band: the ticket allowed {money(v['low'])} to {money(v['high'])} "
            f"(reference {money(v['reference'])} ± {units_text(v['band'] * 100)}%). Check the price in eToro."
        )
    if finding.code == "buy_value":
        spent = f"{money(v['gross'])} = {money(v['spent'], line.sign)} at {rate_text(v['fx_rate'])}" if line.converts else money(v["spent"])
        return (
            f"{units_text(v['units'])} shares × {money(v['price'])} = {spent} is more than this line asks for "
            f"({money(v['value'], line.sign)}, at most {money(v['limit'], line.sign)} with the band)."
        )
    if finding.code == "sell_units":
        return f"{units_text(v['units'])} shares is more than this line asks to sell (about {units_text(v['approx_units'])})."
    if finding.code == "executed_short":
        what, whole = (
            (money(v["done"], line.sign), money(v["asked"], line.sign))
            if v["side"] == "BUY"
            else (f"{units_text(v['done'])} shares", f"{units_text(v['asked'])} shares")
        )
        return f"“Executed” means all of it, but {what} is well short of {whole}. If only part was filled, choose Partial."
    return "“Partial” means only part was filled, but this is (nearly) all of the line. If it was all filled, choose Executed."


def check_line(entry: LineEntry, line: LineView, ticket: TicketView, held: Decimal, now: datetime) -> tuple[FillInput | None, dict[str, str]]:
    """Check one line.  ``held``: units of the line's symbol the ledger holds before this line."""
    if entry.status is None:
        return None, {}
    if entry.status not in STATUSES:
        return None, {"status": "Choose Executed, Partial or Not executed."}
    if line.fill is not None:
        return None, {"status": f"Already confirmed ({_fill_summary(line)}). Only the owner can correct it."}
    status = STATUSES[entry.status]
    notes = clean_text(entry.notes) or None
    explanation = clean_text(entry.explanation) or None
    where = f"line {line.line_no}"
    too_long = _text_errors(entry, ("notes", "explanation") + (("reason",) if status == "NOT_EXECUTED" else ()))
    if status == "NOT_EXECUTED":
        reason = clean_text(entry.reason)
        if len(reason) < MIN_REASON:
            too_long["reason"] = "Say why it was not executed (pick a reason or type your own)."
        if too_long:
            return None, too_long
        fill = FillInput(
            line.line_no, status, ZERO, None, ZERO, now.astimezone(timezone.utc), reason=reason, notes=notes, override_reason=explanation, where=where
        )
        return fill, {}

    hard: dict[str, str] = dict(too_long)
    soft: dict[str, str] = {}  # accepted with an explanation
    values = {}
    for name, places, positive, default in (("units", UNITS_PLACES, True, None), ("price", PRICE_PLACES, True, None)):
        try:
            values[name] = parse_number(getattr(entry, name), places, positive=positive, default=default)
        except FieldError as err:
            hard[name] = str(err)
    rate = line.rate
    if line.converts:
        try:
            rate = fill_rate(entry, line)
        except FieldError as err:
            hard["fx_rate"] = str(err)
        else:
            if abs(rate - line.rate) > line.rate * FX_SLACK:
                soft["fx_rate"] = (
                    f"{rate_text(rate)} USD per {line.currency} is more than {units_text(FX_SLACK * 100)}% from the ticket's rate "
                    f"{rate_text(line.rate)}. Check the rate eToro used for this order."
                )
    try:
        values["fees"] = parse_number(entry.fees, MONEY_PLACES, default=default_fees(line, values.get("units"), values.get("price"), rate, ticket.fee_rate))
    except FieldError as err:
        hard["fees"] = str(err)
    window = ticket.window
    try:
        clock = parse_clock(entry.time)
        filled_at = datetime.combine(window.start.date(), clock, tzinfo=window.start.tzinfo)
    except FieldError as err:
        hard["time"] = str(err)
        filled_at = None
    if filled_at is not None:
        day = f"{window.start:%A} {window.start.day} {window.start:%B}"
        if filled_at > now + FUTURE_SLACK:
            hard["time"] = f"{hhmm(filled_at)} UK time on {day} is still in the future. Enter the time of the fill."
        elif filled_at < window.start.replace(second=0, microsecond=0):
            soft["time"] = f"At {hhmm(filled_at)} the ticket was not open yet: its window was {hhmm(window.start)}–{hhmm(window.end)} UK time on {day}."
        elif filled_at.replace(second=0) > window.end:
            soft["time"] = f"At {hhmm(filled_at)} the ticket had expired: it could only be traded {hhmm(window.start)}–{hhmm(window.end)} UK time on {day}."
    units, price = values.get("units"), values.get("price")
    selling_more_than_held = units is not None and line.side == "SELL" and units > held
    if selling_more_than_held:
        hard["units"] = (
            f"The ledger holds only {units_text(held)} {line.symbol} shares, so {units_text(units)} cannot have been sold. Check the units in eToro."
        )
    fx = rate if line.converts else None
    for finding in line_checks(line.side, line.reference_price, line.band, line.value, line.approx_units, status, units, price, fx):
        if finding.values["field"] != "price" and selling_more_than_held:
            continue
        soft[finding.values["field"]] = _finding_text(finding, line)
    errors = dict(hard)
    if explanation is None:
        errors.update({k: f"{v} {EXPLAIN}" for k, v in soft.items() if k not in errors})
    if errors:
        return None, errors
    fill = FillInput(
        line.line_no,
        status,
        units,
        price,
        values["fees"],
        filled_at.astimezone(timezone.utc),
        notes=notes,
        override_reason=explanation,
        where=where,
        fx_rate=rate if line.converts else None,
    )
    return fill, {}


def check_confirmation(entries: Mapping[int, LineEntry], ticket: TicketView, positions: Mapping[str, Decimal], now: datetime) -> Checked:
    """Check a whole submission; ``values`` are the FillInputs in line order."""
    if ticket.status != "OPEN":
        why = f" ({ticket.status_reason})" if ticket.status_reason else ""
        return Checked(errors={"form": f"Ticket {ticket.ticket_id} was {ticket.status.lower()}{why}: nothing can be confirmed on it. Reload the page."})
    if ticket.kind != "TRADE":
        return Checked(errors={"form": f"Ticket {ticket.ticket_id} is a {ticket.kind} ticket: there is nothing to confirm."})
    chosen = {n: e for n, e in entries.items() if e.status is not None}
    if not chosen:
        return Checked(errors={"form": "Nothing to save yet: choose Executed, Partial or Not executed for at least one line."})
    held = dict(positions)
    fills, errors = [], {}
    for line in ticket.lines:
        if line.line_no not in chosen:
            continue
        fill, line_errors = check_line(chosen[line.line_no], line, ticket, held.get(line.symbol, ZERO), now)
        errors.update({f"{line.line_no}.{k}": v for k, v in line_errors.items()})
        if fill is not None:
            fills.append(fill)
            if line.side == "SELL":
                held[line.symbol] = held.get(line.symbol, ZERO) - fill.units
    unknown = sorted(set(chosen) - {line.line_no for line in ticket.lines})
    if unknown:
        errors["form"] = f"Ticket {ticket.ticket_id} has no line {unknown[0]}. Reload the page."
    answered = [str(line.line_no) for line in ticket.lines if line.line_no in chosen and line.fill is not None]
    if answered:
        errors["form"] = confirmed_meanwhile(answered)
    if errors:
        errors.setdefault("form", "Nothing was saved. Fix the fields marked in red, then press Save again.")
        return Checked(errors=errors)
    return Checked(values=tuple(fills))


def confirmed_meanwhile(line_numbers: Sequence[str]) -> str:
    which = f"Line {line_numbers[0]} was" if len(line_numbers) == 1 else f"Lines {', '.join(line_numbers)} were"
    return (
        f"{which} already confirmed (in another tab, or by someone else), so nothing was saved. "
        "The page now shows what is recorded: check it, then save the other lines again."
    )


# --------------------------------------------------------------------------- broker snapshot


def check_snapshot(cash: str, units: Mapping[str, str], extra: Sequence[tuple[str, str]]) -> Checked:
    """Cash and units per symbol as the broker shows them.

    ``units`` are the prefilled rows (symbol -> text); ``extra`` are rows the
    executor added (symbol text, units text), blank rows ignored.  ``values``
    is ``(cash, {symbol: units})`` with zero positions left out.
    """
    errors: dict[str, str] = {}
    try:
        cash_value = parse_number(cash, MONEY_PLACES)
    except FieldError as err:
        errors["cash"] = str(err)
    positions: dict[str, Decimal] = {}
    for symbol, text in units.items():
        try:
            positions[symbol] = parse_number(text, UNITS_PLACES, default=ZERO)
        except FieldError as err:
            errors[f"units:{symbol}"] = str(err)
    for i, (symbol_text, units_text_) in enumerate(extra):
        if not symbol_text.strip() and not units_text_.strip():
            continue
        try:
            symbol = parse_symbol(symbol_text)
        except ValidationError:
            errors[f"extra:{i}:symbol"] = (
                "Enter the symbol as eToro shows it, e.g. AAPL."
                if not symbol_text.strip()
                else f"“{symbol_text.strip()}” is not a symbol (letters, digits, '.' or '-')."
            )
            symbol = None
        if symbol is not None and (symbol in units or symbol in positions):
            errors[f"extra:{i}:symbol"] = f"{symbol} is already in the list; change its units there."
        try:
            value = parse_number(units_text_, UNITS_PLACES, positive=True)
        except FieldError as err:
            errors[f"extra:{i}:units"] = str(err)
            continue
        if symbol is not None and f"extra:{i}:symbol" not in errors:
            positions[symbol] = value
    if errors:
        errors["form"] = "Nothing was saved. Fix the fields marked in red, then press the button again."
        return Checked(errors=errors)
    return Checked(values=(cash_value, {s: u for s, u in positions.items() if u > 0}))


# --------------------------------------------------------------------------- kill switch


def check_kill_switch(turn_on: bool, reason: str, confirmed: bool, current: str) -> Checked:
    """``values`` is ``(turn_on, reason)``; turning it off also needs ``confirmed``."""
    errors = {}
    if turn_on and current == "ON":
        errors["form"] = "The kill switch is already ON."
    elif not turn_on and current == "OFF":
        errors["form"] = "The kill switch is already OFF."
    if len(reason.strip()) < MIN_REASON:
        errors["reason"] = "Write why, in a few words: it goes in the log."
    if not turn_on and not confirmed:
        errors["confirm"] = "Tick the box to confirm that trading may resume at the next run."
    return Checked(errors=errors) if errors else Checked(values=(turn_on, reason.strip()))
