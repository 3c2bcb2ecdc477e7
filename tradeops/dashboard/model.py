"""Read-only views of the ledger for the page: tickets, lines, account, history.

Plain frozen dataclasses built from the ledger's public functions
(``tradeops.ledger.api``), so the forms, validation and rendering never
touch the database.  Times are aware datetimes in the page's time zone
(``Europe/London`` by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Mapping

from sqlalchemy.orm import Session

from ..calendar import get_calendar
from ..config import Policy
from ..ledger import api
from ..ledger.models import Fill, IntendedTrade, Ticket

CENT = Decimal("0.01")
BPS = Decimal(10000)
CURRENCY_SIGN = {"USD": "$", "GBP": "£", "EUR": "€"}  # as the ticket writes them (tradeops.tickets)
FILL_EVENTS = ("FILL_RECORDED", "FILL_REVERSED", "FILL_CORRECTED")


@dataclass(frozen=True)
class FillView:
    """The answer currently recorded for a line."""

    fill_id: int
    status: str  # EXECUTED | PARTIAL | NOT_EXECUTED
    units: Decimal
    price: Decimal | None
    fees: Decimal
    filled_at: datetime
    reason: str | None
    notes: str | None
    attachment: str | None
    override_reason: str | None
    actor: str
    fx_rate: Decimal = Decimal(1)  # USD per account-currency unit it was booked at (1: same currency)
    currency: str = "USD"  # the account currency: of the fees and the booked amount
    account_amount: Decimal | None = None  # units x price / fx_rate, to the cent, as the ledger booked it

    @classmethod
    def of(cls, fill: Fill, tz: tzinfo) -> "FillView":
        return cls(
            fill.id,
            fill.status,
            fill.units,
            fill.price,
            fill.fees,
            fill.filled_at.astimezone(tz),
            fill.reason,
            fill.notes,
            fill.attachment,
            fill.override_reason,
            fill.actor,
            fill.fx_rate if fill.fx_rate is not None else Decimal(1),
            fill.currency or "USD",
            fill.account_amount,
        )

    @property
    def converts(self) -> bool:
        return self.fx_rate != 1


@dataclass(frozen=True)
class LineView:
    """One ticket line as the executor sees it, with its recorded answer (if any)."""

    line_no: int
    side: str
    symbol: str
    search_name: str
    value: Decimal
    approx_units: Decimal
    reference_price: Decimal
    band: Decimal
    band_price: Decimal  # the ticket's "do not execute above (BUY) / below (SELL)" price
    close_position: bool
    enter_by: str  # "amount" or "units"
    order_type: str
    fill: FillView | None = None
    company: str = ""  # the company's name, from the universe (tickets since issue 18)
    # a non-USD account (issue 12): ``value`` is in ``currency``, the prices stay in USD
    currency: str = "USD"
    fx_rate: Decimal | None = None  # USD per ``currency`` unit the line was sized at (None: no conversion)
    fx_fee: Decimal = Decimal(0)  # the conversion fee the ticket counted on the line, in ``currency``

    @property
    def converts(self) -> bool:
        """Whether the line is paid in another currency than its USD price (a GBP account)."""
        return self.fx_rate is not None

    @property
    def sign(self) -> str:
        return CURRENCY_SIGN.get(self.currency, self.currency + " ")

    @property
    def rate(self) -> Decimal:
        """The ticket's rate (1 when the line does not convert)."""
        return self.fx_rate if self.fx_rate is not None else Decimal(1)

    @property
    def price_low(self) -> Decimal:
        """Lowest price the ledger accepts without an explanation (reference - band)."""
        return self.reference_price * (1 - self.band)

    @property
    def price_high(self) -> Decimal:
        return self.reference_price * (1 + self.band)

    @property
    def max_value(self) -> Decimal:
        """Most a BUY may spend without an explanation (value + band)."""
        return self.value * (1 + self.band)

    @property
    def max_units(self) -> Decimal:
        """Most units a SELL may sell without an explanation (approx units + band)."""
        return self.approx_units * (1 + self.band)


@dataclass(frozen=True)
class Window:
    """When the ticket may be traded, in the page's time zone."""

    start: datetime
    end: datetime
    early_close: bool = False


@dataclass(frozen=True)
class TicketView:
    ticket_id: str
    kind: str  # TRADE | HOLD | NO-TRADE
    status: str  # OPEN | SUPERSEDED | VOIDED
    status_reason: str | None
    session_date: date
    headline: str
    window: Window
    confirm_by: datetime | None
    currency: str
    lines: tuple[LineView, ...]
    failures: tuple[dict, ...] = ()
    pre_trade: tuple[str, ...] = ()
    post_trade: tuple[str, ...] = ()
    if_blocked: tuple[str, ...] = ()
    account: Mapping = field(default_factory=dict)  # the ticket's account figures {equity, cash_before, ...}
    fx_fee_bps: Decimal = Decimal(0)  # the broker's conversion fee the ticket was sized with (a GBP account)

    @property
    def fee_rate(self) -> Decimal:
        """The conversion fee as a fraction of the converted amount."""
        return self.fx_fee_bps / BPS

    @property
    def sign(self) -> str:
        return CURRENCY_SIGN.get(self.currency, self.currency + " ")

    @property
    def missing(self) -> tuple[LineView, ...]:
        """Lines with no answer yet."""
        return tuple(line for line in self.lines if line.fill is None)

    @property
    def confirmed(self) -> bool:
        return self.kind == "TRADE" and not self.missing

    def line(self, line_no: int) -> LineView:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise KeyError(line_no)


@dataclass(frozen=True)
class AccountView:
    currency: str
    cash: Decimal
    positions: Mapping[str, Decimal]
    kill_switch: api.Flag
    state: api.Flag
    last_snapshot: datetime | None


@dataclass(frozen=True)
class HistoryItem:
    """One fill event of a ticket: a confirmation, a reversal or a correction."""

    kind: str
    at: datetime
    actor: str
    payload: Mapping


@dataclass(frozen=True)
class HistoryEntry:
    ticket: TicketView
    items: tuple[HistoryItem, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- building views


def _window(ticket: Ticket, payload: Mapping, policy: Policy, tz: tzinfo) -> Window:
    """The window the ticket states, else the one the calendar and policy give."""
    stated = payload.get("window") or {}
    if stated.get("start") and stated.get("end"):
        return Window(
            datetime.fromisoformat(stated["start"]).astimezone(tz), datetime.fromisoformat(stated["end"]).astimezone(tz), bool(stated.get("early_close"))
        )
    w = get_calendar(policy.schedule.exchange).execution_window(
        ticket.session_date, policy.execution.window_start_minutes, policy.execution.window_end_minutes, tz
    )
    return Window(w.start, w.end, w.early_close)


def _line(line: IntendedTrade, stated: Mapping, fill: Fill | None, tz: tzinfo) -> LineView:
    details = line.details or {}
    rate = details.get("fx_rate") or stated.get("fx_rate")
    factor = 1 + line.band if line.side == "BUY" else 1 - line.band
    band_price = details.get("band_price") or (line.reference_price * factor).quantize(CENT, ROUND_HALF_EVEN)
    return LineView(
        line_no=line.line_no,
        side=line.side,
        symbol=line.symbol,
        search_name=stated.get("etoro_search_name") or line.symbol,
        value=line.value,
        approx_units=line.approx_units,
        reference_price=line.reference_price,
        band=line.band,
        band_price=Decimal(str(band_price)),
        close_position=bool(details.get("close_position", stated.get("close_position", False))),
        enter_by=details.get("enter_by") or stated.get("enter_by") or "amount",
        order_type=line.order_type,
        fill=FillView.of(fill, tz) if fill is not None else None,
        company=stated.get("company") or "",
        currency=line.currency or "USD",
        fx_rate=Decimal(str(rate)) if rate else None,
        fx_fee=Decimal(str(details.get("fx_fee") or stated.get("fx_fee") or 0)),
    )


def ticket_view(session: Session, ticket_id: str, policy: Policy, tz: tzinfo, *, account: str = api.DEFAULT_ACCOUNT) -> TicketView:
    """The ticket, its lines in execution order and the answer recorded for each."""
    ticket = api.get_ticket(session, ticket_id, account=account)
    payload = ticket.payload or {}
    stated_lines = {int(item.get("seq", 0)): item for item in payload.get("lines", [])}
    statuses = api.line_statuses(session, ticket_id, account=account)
    checklists = payload.get("checklists") or {}
    confirm_by = payload.get("confirm_by")
    return TicketView(
        ticket_id=ticket.ticket_id,
        kind=ticket.kind,
        status=ticket.status,
        status_reason=ticket.status_reason,
        session_date=ticket.session_date,
        headline=payload.get("headline") or f"{ticket.kind} ticket for {ticket.session_date:%A %d %B %Y}.",
        window=_window(ticket, payload, policy, tz),
        confirm_by=datetime.fromisoformat(confirm_by).astimezone(tz) if confirm_by else None,
        currency=payload.get("account_currency") or policy.account.account_currency,
        lines=tuple(_line(s.line, stated_lines.get(s.line.line_no, {}), s.fill, tz) for s in statuses),
        failures=tuple(payload.get("failures") or ()),
        pre_trade=tuple(checklists.get("pre_trade") or ()),
        post_trade=tuple(checklists.get("post_trade") or ()),
        if_blocked=tuple(payload.get("if_blocked") or ()),
        account=dict(payload.get("account") or {}),
        fx_fee_bps=Decimal(str(payload.get("fx_fee_bps") or 0)),
    )


def current_ticket(session: Session, policy: Policy, tz: tzinfo, *, account: str = api.DEFAULT_ACCOUNT) -> TicketView | None:
    """The latest OPEN ticket (TRADE, HOLD or NO-TRADE), or None when none was issued."""
    ticket = api.latest_ticket(session, account=account)
    return ticket_view(session, ticket.ticket_id, policy, tz, account=account) if ticket else None


def tickets_to_confirm(session: Session, *, account: str = api.DEFAULT_ACCOUNT) -> list[str]:
    """OPEN tickets that still have unconfirmed lines, oldest first."""
    return list(dict.fromkeys(line.ticket.ticket_id for line in api.unconfirmed_lines(session, account=account)))


def account_view(session: Session, *, account: str = api.DEFAULT_ACCOUNT) -> AccountView:
    snap = api.latest_snapshot(session, account=account)
    cash = api.compute_cash(session, account=account)
    return AccountView(
        currency=cash.currency,
        cash=cash.amount,
        positions=api.compute_positions(session, account=account),
        kill_switch=api.kill_switch(session, account=account),
        state=api.current_state(session, account=account),
        last_snapshot=snap.taken_at if snap else None,
    )


def budget_cash(session: Session, ticket: TicketView | None, *, account: str = api.DEFAULT_ACCOUNT) -> Decimal | None:
    """The cash the BUYs of a TRADE ticket may spend from, by the ledger's day-by-day rule: the lowest
    cash from the ticket's session on (:func:`~tradeops.ledger.api.lowest_cash_from`, the figure the
    ledger's refusal names); None for other tickets."""
    if ticket is None or ticket.kind != "TRADE":
        return None
    return api.lowest_cash_from(session, ticket.session_date, account=account).amount


def history(session: Session, policy: Policy, tz: tzinfo, *, limit: int = 20, account: str = api.DEFAULT_ACCOUNT) -> list[HistoryEntry]:
    """The latest ``limit`` tickets, newest first, each with its fill events (oldest first)."""
    out = []
    for recorded in api.events(session, kind="TICKET_RECORDED", account=account, limit=limit):
        view = ticket_view(session, recorded.ticket_id, policy, tz, account=account)
        items = [
            HistoryItem(e.kind, e.at.astimezone(tz), e.actor, e.payload)
            for e in reversed(api.events(session, ticket_id=recorded.ticket_id, account=account))
            if e.kind in FILL_EVENTS
        ]
        out.append(HistoryEntry(view, tuple(items)))
    return out
