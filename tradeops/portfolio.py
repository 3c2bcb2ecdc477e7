"""What the account holds when a decision is made: :class:`PortfolioState`.

An earlier pipeline stage builds it from the ledger and writes
``portfolio.json`` into the run folder; the risk stage reads it back.  Money
and units are :class:`~decimal.Decimal` and travel through JSON as strings,
so nothing is rounded on the way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from . import files
from .errors import ValidationError
from .state import State

STATES = tuple(s.value for s in State)


def _dec(value: Any, key: str) -> Decimal:
    if isinstance(value, float):
        raise ValidationError(f"portfolio {key}: {value!r} is a float; write money and units as strings")
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"portfolio {key}: {value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ValidationError(f"portfolio {key}: {value!r} is not a finite number")
    return d


@dataclass(frozen=True)
class PortfolioState:
    """Cash, units per symbol and the risk facts the guard needs, as of one session."""

    as_of: date
    cash: Decimal
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    peak_equity: Decimal = Decimal("0")
    account_currency: str = "USD"
    state: str = State.RUN.value
    kill_switch: bool = False
    kill_switch_reason: str | None = None
    last_rebalance: date | None = None

    def __post_init__(self) -> None:
        cash = _dec(self.cash, "cash")
        peak = _dec(self.peak_equity, "peak_equity")
        if peak < 0:
            raise ValidationError(f"portfolio peak_equity {peak} must be >= 0")
        positions = {}
        for sym, units in sorted(self.positions.items()):
            u = _dec(units, f"positions.{sym}")
            if u < 0:
                raise ValidationError(f"portfolio positions.{sym}: {u} units is negative; the account is long-only (units >= 0)")
            if u > 0:
                positions[str(sym)] = u
        if not isinstance(self.as_of, date):
            raise ValidationError(f"portfolio as_of: {self.as_of!r} is not a date")
        if not isinstance(self.state, str) or self.state not in STATES:
            raise ValidationError(f"portfolio state {self.state!r} is unknown; allowed {list(STATES)}")
        if not isinstance(self.kill_switch, bool):
            raise ValidationError(f"portfolio kill_switch: {self.kill_switch!r} is not true or false")
        if self.kill_switch_reason is not None and not isinstance(self.kill_switch_reason, str):
            raise ValidationError(f"portfolio kill_switch_reason: {self.kill_switch_reason!r} is not text")
        if self.kill_switch and not (self.kill_switch_reason or "").strip():
            raise ValidationError("portfolio kill_switch is on but kill_switch_reason is empty")
        if not isinstance(self.account_currency, str) or not self.account_currency:
            raise ValidationError(f"portfolio account_currency: {self.account_currency!r} is not a currency code")
        object.__setattr__(self, "cash", cash)
        object.__setattr__(self, "peak_equity", peak)
        object.__setattr__(self, "positions", MappingProxyType(positions))

    # ------------------------------------------------------------------ valuation
    def market_values(self, prices: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """units x price per held symbol; KeyError names a symbol without a price."""
        return {s: u * prices[s] for s, u in self.positions.items()}

    def equity(self, prices: Mapping[str, Decimal]) -> Decimal:
        return self.cash + sum(self.market_values(prices).values(), Decimal("0"))

    def drawdown(self, equity: Decimal) -> Decimal:
        """Fall from the peak, as a fraction (0 when at or above the peak)."""
        peak = max(self.peak_equity, equity)
        if peak <= 0:
            return Decimal("0")
        return (peak - equity) / peak

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "account_currency": self.account_currency,
            "cash": str(self.cash),
            "positions": {s: str(u) for s, u in self.positions.items()},
            "peak_equity": str(self.peak_equity),
            "state": self.state,
            "kill_switch": self.kill_switch,
            "kill_switch_reason": self.kill_switch_reason,
            "last_rebalance": self.last_rebalance.isoformat() if self.last_rebalance else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping) -> "PortfolioState":
        required = ("as_of", "cash")
        missing = [k for k in required if k not in data]
        if missing:
            raise ValidationError(f"portfolio is missing {missing}")
        known = {"as_of", "account_currency", "cash", "positions", "peak_equity", "state", "kill_switch", "kill_switch_reason", "last_rebalance"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(f"portfolio has unknown keys {unknown}; allowed {sorted(known)}")

        def day(key: str) -> date | None:
            v = data.get(key)
            if v is None:
                return None
            try:
                return date.fromisoformat(str(v))
            except ValueError:
                raise ValidationError(f"portfolio {key}: {v!r} is not a YYYY-MM-DD date") from None

        if not isinstance(data.get("positions", {}), Mapping):
            raise ValidationError("portfolio positions must be a mapping of symbol -> units")
        return cls(
            as_of=day("as_of"),
            cash=data["cash"],
            positions=dict(data.get("positions", {})),
            peak_equity=data.get("peak_equity", "0"),
            account_currency=data.get("account_currency", "USD"),
            state=data.get("state", "RUN"),
            kill_switch=data.get("kill_switch", False),
            kill_switch_reason=data.get("kill_switch_reason"),
            last_rebalance=day("last_rebalance"),
        )

    @classmethod
    def from_json(cls, text: str) -> "PortfolioState":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValidationError(f"portfolio JSON is invalid: {err}") from None
        if not isinstance(data, dict):
            raise ValidationError("portfolio JSON must be an object")
        return cls.from_dict(data)

    def write(self, path: str | Path) -> Path:
        return files.write_atomic(path, self.to_json())

    @classmethod
    def read(cls, path: str | Path) -> "PortfolioState":
        path = Path(path)
        try:
            return cls.from_json(path.read_text())
        except FileNotFoundError:
            raise ValidationError(f"portfolio file not found: {path}") from None
