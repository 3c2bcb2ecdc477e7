"""What the ledger checks before it books a fill: the ticket line it answers (side, units, the price band), a split it would straddle, and the units a symbol holds at every instant (never short)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Sequence
from sqlalchemy import select
from sqlalchemy.orm import Session
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
    off = abs(fill.price - line.reference_price) / line.reference_price
    if off > line.band:
        raise ValidationError(
            f"{where}, field 'price': {fill.price} is {off:.2%} from the reference price {line.reference_price}, beyond "
            f"the ticket's band of {line.band:.2%}; check it, or give an override_reason if it really filled there"
        )
    if line.side == "BUY":
        limit = line.value * (1 + line.band)
        fx = fill.fx_rate if fill.fx_rate is not None else Decimal(1)
        spent = fill.units * fill.price if fx == 1 else fill.units * fill.price / fx
        if spent > limit:
            at = "" if fx == 1 else f" / {fx.normalize():f} (the FX rate)"
            raise ValidationError(
                f"{where}, field 'units': {fill.units} x {fill.price}{at} = {spent:.2f} is more than the "
                f"{line.value} the line asks for (at most {limit:.2f} with the band); check it, or give an override_reason"
            )
    elif fill.units > line.approx_units * (1 + line.band):
        raise ValidationError(
            f"{where}, field 'units': {fill.units} is more than the ~{line.approx_units} units line {line.line_no} asks to sell; "
            "check it, or give an override_reason"
        )


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
