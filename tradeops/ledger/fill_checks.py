"""What the ledger checks before it books a fill: the ticket line it answers (side, units, the price band), a split it would straddle, and the units a symbol holds at every instant (never short)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Sequence
from sqlalchemy import select
from sqlalchemy.orm import Session
from ..checks import ERROR, WARNING, Check, failures
from ..errors import LedgerError, ValidationError
from .inputs import FillInput
from .models import CorporateAction, Fill, IntendedTrade, Ticket
from .money import ZERO
from .common import _ACTIVE, _SIGNED_UNITS, _day_start, exchange_date


def _active_fills(session: Session, line_ids: Sequence[int]) -> dict[int, Fill]:
    if not line_ids:
        return {}
    rows = session.scalars(select(Fill).where(Fill.line_id.in_(line_ids), _ACTIVE))
    return {f.line_id: f for f in rows}


def line_checks(
    side: str,
    reference_price: Decimal,
    band: Decimal,
    value: Decimal,
    approx_units: Decimal,
    status: str,
    units: Decimal | None,
    price: Decimal | None,
    fx_rate: Decimal | None = None,
) -> list[Check]:
    """The rules of a fill against its ticket line, as check records (source "ledger"), in the order the ledger applies them.

    Errors are what the ledger refuses without an ``override_reason``: ``price_band``, a price
    with ``|price - reference| > reference x band``; ``buy_value``, a BUY that spends more than
    ``value x (1 + band)`` in the account currency (``units x price / fx_rate``, not rounded);
    ``sell_units``, a SELL of more than ``approx_units x (1 + band)``.  Warnings are what it
    accepts but a person should read (the confirmations gate's ambiguity): ``executed_short``,
    EXECUTED for less than ``(1 - band)`` of the line (its value for a BUY, its units for a
    SELL); ``partial_full``, PARTIAL for at least that.  At most one finding is about the units
    (a BUY over its value is not also judged on its status).  A value exactly on a bound is
    inside it.  NOT_EXECUTED has nothing to check; a ``price`` of None (not readable) skips
    the price, a ``units`` or ``price`` of None the rest.  ``values`` hold the ``field`` the
    finding is about and the figures behind it.
    """
    out: list[Check] = []
    if status == "NOT_EXECUTED":
        return out
    if price is not None and abs(price - reference_price) > reference_price * band:
        off = abs(price - reference_price) / reference_price
        low, high = reference_price * (1 - band), reference_price * (1 + band)
        out.append(
            Check(
                "ledger",
                "price_band",
                f"price {price} is {off:.2%} from the reference price {reference_price}, beyond the band of {band:.2%}",
                ERROR,
                {"field": "price", "price": price, "reference": reference_price, "band": band, "off": off, "low": low, "high": high},
            )
        )
    if units is None or price is None:
        return out
    fx = fx_rate if fx_rate is not None else Decimal(1)
    spent = (units * price if fx == 1 else units * price / fx) if side == "BUY" else None  # in the account currency
    if spent is not None and spent > (limit := value * (1 + band)):
        at = "" if fx == 1 else f" / {fx.normalize():f}"
        figures = {"field": "units", "units": units, "price": price, "fx_rate": fx, "gross": units * price, "spent": spent, "value": value, "limit": limit}
        out.append(
            Check("ledger", "buy_value", f"{units} x {price}{at} = {spent:.2f} is more than {value} (at most {limit:.2f} with the band)", ERROR, figures)
        )
        return out
    if side == "SELL" and units > (limit := approx_units * (1 + band)):
        figures = {"field": "units", "units": units, "approx_units": approx_units, "limit": limit}
        out.append(Check("ledger", "sell_units", f"{units} units is more than ~{approx_units} (at most {limit} with the band)", ERROR, figures))
        return out
    done, asked = (spent, value) if spent is not None else (units, approx_units)
    floor = asked * (1 - band)
    figures = {"field": "status", "status": status, "side": side, "done": done, "asked": asked, "floor": floor}
    if status == "EXECUTED" and done < floor:
        out.append(Check("ledger", "executed_short", f"EXECUTED but {done} is short of {asked} by more than the band (under {floor})", WARNING, figures))
    elif status == "PARTIAL" and done >= floor:
        out.append(Check("ledger", "partial_full", f"PARTIAL but {done} is (nearly) all of {asked} (at least {floor})", WARNING, figures))
    return out


def _refusal(check: Check, line: IntendedTrade) -> str:
    """The ledger's words for a refused ``line_checks`` record (after "<where>, field '<field>': ")."""
    v = check.values
    if check.code == "price_band":
        return (
            f"{v['price']} is {v['off']:.2%} from the reference price {v['reference']}, beyond "
            f"the ticket's band of {v['band']:.2%}; check it, or give an override_reason if it really filled there"
        )
    if check.code == "buy_value":
        at = "" if v["fx_rate"] == 1 else f" / {v['fx_rate'].normalize():f} (the FX rate)"
        return (
            f"{v['units']} x {v['price']}{at} = {v['spent']:.2f} is more than the "
            f"{v['value']} the line asks for (at most {v['limit']:.2f} with the band); check it, or give an override_reason"
        )
    return f"{v['units']} is more than the ~{v['approx_units']} units line {line.line_no} asks to sell; check it, or give an override_reason"


def _check_against_line(fill: FillInput, line: IntendedTrade | None, ticket: Ticket) -> None:
    """Input checks that need the ticket line (raise ValidationError naming row and field)."""
    where = fill.where
    if line is None:
        numbers = ", ".join(str(ln.line_no) for ln in ticket.lines) or "none"
        raise ValidationError(f"{where}, field 'line': ticket {ticket.ticket_id} has no line {fill.line_no} (its lines: {numbers})")
    if fill.symbol is not None and fill.symbol != line.symbol:
        raise ValidationError(f"{where}, field 'symbol': {fill.symbol} but line {line.line_no} of {ticket.ticket_id} is {line.symbol}")
    if fill.side is not None and fill.side != line.side:
        raise ValidationError(f"{where}, field 'side': {fill.side} but line {line.line_no} of {ticket.ticket_id} is a {line.side}")
    if fill.status == "NOT_EXECUTED" or fill.override_reason:
        return
    checks = line_checks(line.side, line.reference_price, line.band, line.value, line.approx_units, fill.status, fill.units, fill.price, fill.fx_rate)
    refused = failures(checks)
    if refused:
        raise ValidationError(f"{where}, field '{refused[0].values['field']}': {_refusal(refused[0], line)}")


def _check_not_before_split(session: Session, account_id: int, symbol: str, at: datetime, where: str) -> None:
    """Refuse entries dated before a recorded split of the symbol (its units delta is fixed)."""
    split = session.scalar(
        select(CorporateAction)
        .where(CorporateAction.account_id == account_id, CorporateAction.symbol == symbol, CorporateAction.effective_date > exchange_date(at))
        .order_by(CorporateAction.effective_date.desc())
        .limit(1)
    )
    if split is not None:
        raise LedgerError(
            f"{where}: {symbol} entry dated {exchange_date(at)} is before the {split.ratio.normalize()}:1 split of "
            f"{split.effective_date} already in the ledger; entries across a recorded split are not supported"
        )


def _check_units_timeline(session: Session, account_id: int, symbol: str, changes: list[tuple[datetime, Decimal]], where: str) -> None:
    """Refuse changes that would make the units of ``symbol`` negative at any time, now or later."""
    fills = session.execute(select(Fill.filled_at, _SIGNED_UNITS).where(Fill.account_id == account_id, Fill.symbol == symbol)).all()
    splits = session.execute(
        select(CorporateAction.effective_date, CorporateAction.units_delta).where(CorporateAction.account_id == account_id, CorporateAction.symbol == symbol)
    ).all()
    timeline = [(at, 1, units) for at, units in fills]
    timeline += [(_day_start(day), 0, delta) for day, delta in splits]
    timeline += [(at, 2, units) for at, units in changes]
    timeline.sort(key=lambda item: (item[0], item[1]))
    held = ZERO
    for at, _, units in timeline:
        held += units
        if held < 0:
            raise LedgerError(
                f"{where}: {symbol} units would go negative ({held}) at {at:%Y-%m-%d %H:%M} UTC; the ledger does not "
                f"hold enough {symbol} for this sell (or a later sell needs the units of this buy)"
            )
