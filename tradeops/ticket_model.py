"""What a ticket is: its lines (:class:`TicketLine`), the failures that stopped trading and the
whole ticket (:class:`IssuedTicket`: JSON, Markdown, the ledger record, the version hash).
Built by :func:`tradeops.tickets.build_ticket`; every name is re-exported there."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Mapping, Sequence


from .calendar import ExecutionWindow
from . import messages
from .risk import CENT
from .state import Gate

from .ticket_format import _cents, _iso, _plain, _plain_rate, _price, _template, validate_ticket


SCHEMA_VERSION = 1
CURRENCY_SIGN = {"USD": "$", "GBP": "£", "EUR": "€"}

# What the executor does when a gate, the state or a rule stops trading: the message catalogue's words.
ACTIONS = {name: m.executor for name, m in messages.CATALOGUE.items()}
DEFAULT_ACTION = "Do nothing in eToro and tell the owner."
# A drawdown halt's risk-off ticket: these failures are why every position is sold.
_HALT_FAILURES = {("gate", "drawdown"), ("state", "HALT"), ("rule", "drawdown_kill_switch")}
HALT_HEADLINE = (
    " Risk-off: the account fell past its drawdown limit, so every position is sold to cash;"
    " after this ticket trading is halted (nothing is bought) until the owner resumes it with a reason."
)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Failure:
    source: str  # gate | state | rule | stage
    name: str
    reasons: tuple[str, ...]
    action: str

    def to_dict(self) -> dict:
        return {"source": self.source, "name": self.name, "reasons": list(self.reasons), "action": self.action}


def explained(failures: Sequence[Failure]) -> list[messages.Explained]:
    """The failures in plain words, one item per cause (see tradeops.messages.explain)."""
    return messages.explain(f.to_dict() for f in failures)


@dataclass(frozen=True)
class TicketLine:
    seq: int
    side: str
    symbol: str
    etoro_search_name: str
    value: Decimal
    units: Decimal
    close_position: bool
    reference_price: Decimal
    order_type: str
    band: Decimal
    band_price: Decimal  # do not execute above it (BUY) or below it (SELL)
    enter_by: str = "amount"  # how to size it in eToro: "amount" (fractional units) or "units"
    rank: int | None = None
    company: str = ""  # the company's name, from the universe
    # a non-USD account: ``value`` is in ``currency`` (the amount to enter), the prices stay in USD
    currency: str = "USD"
    fx_rate: Decimal | None = None  # USD per 1 unit of ``currency``, the rate the line was sized at
    account_price: Decimal | None = None  # reference_price / fx_rate: the price the sizing used
    fx_fee: Decimal = Decimal("0")  # the broker's conversion fee on this line, in ``currency``

    @property
    def compare_with(self) -> str:
        """Which of eToro's two prices to compare with the band: the one this order gets."""
        return "eToro's BUY price (the higher one, what you pay)" if self.side == "BUY" else "eToro's SELL price (the lower one, what you get)"

    @property
    def band_side(self) -> str:
        return "above" if self.side == "BUY" else "below"

    @property
    def limit_price(self) -> Decimal | None:
        return self.band_price if self.order_type == "limit" else None

    def to_dict(self) -> dict:
        return {
            "seq": self.seq,
            "side": self.side,
            "symbol": self.symbol,
            "etoro_search_name": self.etoro_search_name,
            "value": _cents(self.value),
            "units": _plain(self.units),
            "close_position": self.close_position,
            "reference_price": _price(self.reference_price),
            "order_type": self.order_type,
            "limit_price": _cents(self.limit_price) if self.limit_price is not None else None,
            "band": _plain(self.band),
            "do_not_execute_if": {"price": _cents(self.band_price), "is": self.band_side},
            "enter_by": self.enter_by,
            "rank": self.rank,
            "company": self.company,
            "compare_price": "buy" if self.side == "BUY" else "sell",
            **(
                {
                    "amount": _cents(self.value),
                    "amount_currency": self.currency,
                    "instrument_currency": "USD",
                    "fx_rate": _plain_rate(self.fx_rate),
                    "fx_fee": _cents(self.fx_fee),
                }
                if self.fx_rate is not None
                else {}
            ),
        }

    @property
    def sizing_price(self) -> Decimal:
        """The price in the account currency (what value / units mean)."""
        return self.account_price if self.account_price is not None else self.reference_price


@dataclass(frozen=True)
class IssuedTicket:
    ticket_id: str
    kind: str
    headline: str
    execution_session: date
    decision_session: date
    broker: str
    account_currency: str
    state: str
    rebalance: bool
    strategy: str
    version: dict
    window: ExecutionWindow
    confirm_by: datetime
    account: dict
    lines: tuple[TicketLine, ...]
    failures: tuple[Failure, ...]
    gates: tuple[Gate, ...]
    rules: tuple[dict, ...]
    tiny_deltas: tuple[dict, ...]
    why: dict
    pre_trade: tuple[str, ...]
    post_trade: tuple[str, ...]
    if_blocked: tuple[str, ...]
    fx: Mapping[str, str] | None = None  # a non-USD account that sized: pair, rate, date, fee_bps, fees

    @property
    def explained(self) -> list[messages.Explained]:
        """The failures in plain words: one item per cause, nothing repeated."""
        return explained(self.failures)

    @property
    def state_words(self) -> str:
        return "normal: trading allowed" if self.state == "RUN" else messages.title(self.state).lower()

    @property
    def expires_at(self) -> datetime:
        return self.window.end

    def to_dict(self) -> dict:
        return {
            "schema": "tradeops/ticket",
            "schema_version": SCHEMA_VERSION,
            "ticket_id": self.ticket_id,
            "kind": self.kind,
            "headline": self.headline,
            "execution_session": self.execution_session.isoformat(),
            "decision_session": self.decision_session.isoformat(),
            "broker": self.broker,
            "account_currency": self.account_currency,
            **(
                {
                    "fx_pair": self.fx["pair"],
                    "fx_rate": _plain_rate(Decimal(self.fx["rate"])),
                    "fx_date": self.fx["date"],
                    "fx_fee_bps": _plain(Decimal(self.fx["fee_bps"])),
                }
                if self.fx
                else {}
            ),
            "state": self.state,
            "rebalance": self.rebalance,
            "strategy": self.strategy,
            "version": dict(self.version),
            "window": {
                "timezone": "Europe/London",
                "start": _iso(self.window.start),
                "end": _iso(self.window.end),
                "market_open": _iso(self.window.market_open),
                "early_close": self.window.early_close,
            },
            "expires_at": _iso(self.expires_at),
            "confirm_by": _iso(self.confirm_by),
            "account": dict(self.account),
            "lines": [line.to_dict() for line in self.lines],
            "failures": [f.to_dict() for f in self.failures],
            "explained": [e.to_dict() for e in self.explained],
            "gates": [g.to_dict() for g in self.gates],
            "rules": list(self.rules),
            "tiny_deltas": list(self.tiny_deltas),
            "why": self.why,
            "checklists": {"pre_trade": list(self.pre_trade), "post_trade": list(self.post_trade)},
            "if_blocked": list(self.if_blocked),
        }

    def to_json(self) -> str:
        data = self.to_dict()
        validate_ticket(data)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        return _template().render(t=self, sign=CURRENCY_SIGN.get(self.account_currency, self.account_currency + " "))

    def ledger_record(self) -> dict:
        """Keyword arguments for the ledger: ``record_ticket(session, **rec["ticket"])``, then
        ``record_intended_trade(session, rec["ticket"]["ticket_id"], **line)`` per line."""
        return {
            "ticket": {
                "ticket_id": self.ticket_id,
                "session_date": self.execution_session,
                "kind": self.kind,
                "version_hash": self.version["hash"],
                "payload": self.to_dict(),
            },
            "lines": [
                {
                    "line_no": line.seq,
                    "side": line.side,
                    "symbol": line.symbol,
                    "value": line.value.quantize(CENT, ROUND_HALF_EVEN),
                    "approx_units": line.units,
                    "reference_price": line.reference_price,
                    "band": line.band,
                    "order_type": line.order_type,
                    "currency": self.account_currency,
                    "details": {
                        "close_position": line.close_position,
                        "enter_by": line.enter_by,
                        "band_price": _cents(line.band_price),
                        **(
                            {"instrument_currency": "USD", "fx_rate": _plain_rate(line.fx_rate), "fx_fee": _cents(line.fx_fee)}
                            if line.fx_rate is not None
                            else {}
                        ),
                    },
                }
                for line in self.lines
            ],
        }


def ticket_id(execution_session: date, revision: int = 1) -> str:
    """TICKET-YYYYMMDD; a ticket that supersedes an earlier one for the same session gets -R2, -R3..."""
    return f"TICKET-{execution_session:%Y%m%d}" + (f"-R{revision}" if revision > 1 else "")
