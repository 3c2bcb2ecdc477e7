"""Reconciliation: the broker's snapshot against what the ledger expects (pure).

``reconcile`` compares cash and units per symbol, each against its tolerance
from policy.yml (``reconciliation``), and says for every difference what most
likely caused it: an unconfirmed ticket line (missing fill), a missing
dividend, fee or deposit, an unrecorded split.  A position only one side
knows about and a snapshot older than the allowed age are hard failures.
No database here: ``tradeops.ledger.api.reconcile_snapshot`` gathers the
inputs.

Currencies: the cash is compared in the currency the broker showed.  When
that is not the account's (a pound account whose balance eToro shows in
dollars), the ledger's cash is converted at the snapshot's own FX rate
(``fx_rate``: USD per account-currency unit), and so is the tolerance; the
difference names both figures.  Without a rate the mismatch is a blocking
CURRENCY difference, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Mapping, Protocol

ZERO = Decimal(0)
CENT = Decimal("0.01")
SMALL_CASH = Decimal(50)  # cash gaps below this look like fees or dividends rather than transfers
SPLIT_RATIOS = (2, 3, 4, 5, 8, 10, 15, 20)
WARNING_KINDS = ("SNAPSHOT_BEFORE_FILLS",)


class Tolerances(Protocol):
    """What ``reconcile`` needs from ``config.Reconciliation``."""

    cash_tolerance: Decimal
    units_tolerance: Decimal
    max_snapshot_age_days: int


@dataclass(frozen=True)
class Holdings:
    """Cash and units per symbol at a moment, as the ledger or the broker sees them."""

    at: datetime
    cash: Decimal
    positions: Mapping[str, Decimal]
    currency: str = "USD"
    fx_rate: Decimal | None = None  # USD per account-currency unit shown with a snapshot (None: not given)


@dataclass(frozen=True)
class OpenLine:
    """A ticket line the executor has not confirmed yet (a candidate missing fill)."""

    ticket_id: str
    line_no: int
    side: str
    symbol: str
    value: Decimal
    approx_units: Decimal

    def __str__(self) -> str:
        return f"{self.side} {self.symbol} ~{self.value:.2f} (line {self.line_no} of {self.ticket_id}, unconfirmed)"


@dataclass(frozen=True)
class Difference:
    """One thing the broker and the ledger disagree about."""

    kind: str  # CASH | UNITS | UNKNOWN_POSITION | UNMATCHED_POSITION | STALE_SNAPSHOT | CURRENCY | NEGATIVE_CASH | SNAPSHOT_BEFORE_FILLS
    symbol: str | None
    ledger: Decimal | None
    broker: Decimal | None
    tolerance: Decimal | None
    blocking: bool
    likely_cause: str

    @property
    def diff(self) -> Decimal | None:
        if self.ledger is None or self.broker is None:
            return None
        return self.broker - self.ledger

    def describe(self) -> str:
        what = self.kind.lower().replace("_", " ")
        subject = f"{what} {self.symbol}" if self.symbol else what
        if self.diff is not None:
            head = f"{subject}: broker {self.broker} vs ledger {self.ledger} (difference {self.diff:+}, tolerance {self.tolerance})"
        else:
            head = subject
        return f"{head}; likely cause: {self.likely_cause}"

    def to_dict(self) -> dict:
        def s(v):
            return None if v is None else str(v)

        return {
            "kind": self.kind,
            "symbol": self.symbol,
            "ledger": s(self.ledger),
            "broker": s(self.broker),
            "difference": s(self.diff),
            "tolerance": s(self.tolerance),
            "blocking": self.blocking,
            "likely_cause": self.likely_cause,
        }


@dataclass(frozen=True)
class ReconciliationReport:
    snapshot_id: int | None
    taken_at: datetime
    checked_at: datetime
    differences: tuple[Difference, ...]
    matched: tuple[str, ...] = field(default=())  # symbols whose units agree within tolerance

    @property
    def passed(self) -> bool:
        return not any(d.blocking for d in self.differences)

    @property
    def reasons(self) -> list[str]:
        """One sentence per blocking difference (what the gate reports)."""
        return [d.describe() for d in self.differences if d.blocking]

    @property
    def warnings(self) -> list[str]:
        """Non-blocking findings worth reading (e.g. a snapshot older than the last fill)."""
        return [d.describe() for d in self.differences if not d.blocking and d.kind in WARNING_KINDS]

    def to_dict(self) -> dict:
        return {
            "snapshot_id": self.snapshot_id,
            "taken_at": self.taken_at.isoformat(),
            "checked_at": self.checked_at.isoformat(),
            "passed": self.passed,
            "differences": [d.to_dict() for d in self.differences],
            "warnings": self.warnings,
            "matched": list(self.matched),
        }

    def render(self) -> str:
        """Plain text for the terminal and the reports."""
        head = f"reconciliation of snapshot {self.snapshot_id} taken {self.taken_at:%Y-%m-%d %H:%M} UTC: {'PASS' if self.passed else 'FAIL'}"
        lines = [head]
        for d in self.differences:
            mark = "FAIL" if d.blocking else "WARN" if d.kind in WARNING_KINDS else "ok  "
            lines.append(f"  [{mark}] {d.describe()}")
        if self.matched:
            lines.append(f"  matched: {', '.join(self.matched)}")
        return "\n".join(lines)


def _split_ratio(broker: Decimal, ledger: Decimal) -> str | None:
    """'2:1' or '1:10' when broker/ledger is close to a usual split ratio."""
    if broker <= 0 or ledger <= 0:
        return None
    ratio = broker / ledger
    for r in SPLIT_RATIOS:
        if abs(ratio - r) <= Decimal("0.001") * r:
            return f"{r}:1"
        if abs(ratio * r - 1) <= Decimal("0.001"):
            return f"1:{r}"
    return None


def _units_cause(symbol: str, ledger: Decimal, broker: Decimal, open_lines: list[OpenLine]) -> str:
    more = broker > ledger
    side = "BUY" if more else "SELL"
    pending = [ln for ln in open_lines if ln.symbol == symbol and ln.side == side]
    if pending:
        return "missing fill: " + "; ".join(str(ln) for ln in pending)
    ratio = _split_ratio(broker, ledger)
    if ratio:
        return f"an unrecorded split ({ratio}): record it with `tradeops ledger split {symbol} RATIO --date EX-DATE`"
    if ledger == 0:
        return f"a {side.lower()} the ledger never saw (missing fill or a transfer), or the symbol is spelled differently"
    if broker == 0:
        return "a sell the ledger never saw (missing fill), or the position was closed at the broker"
    return f"a missing {side.lower()} fill, or wrong units in a confirmation (correct the fill)"


def _cash_cause(diff: Decimal, open_lines: list[OpenLine], held: list[str]) -> str:
    # a missing BUY fill leaves the broker with less cash than the ledger; a SELL, more
    side = "BUY" if diff < 0 else "SELL"
    for ln in open_lines:
        if ln.side == side and abs(abs(diff) - ln.value) <= max(Decimal("0.05") * ln.value, Decimal(1)):
            return f"missing fill: {ln}"
    if diff < 0:
        causes = ["a missing fee or FX charge", "a missing withdrawal or buy fill"]
    else:
        income = f"a missing dividend (held: {', '.join(held)}) or interest" if held else "missing interest"
        causes = [income, "a missing deposit or sell fill"]
    if abs(diff) >= SMALL_CASH:
        causes.reverse()
    return "; or ".join(causes)


def _rate(account: str, shown: str, fx_rate: Decimal | None) -> Decimal | None:
    """What one unit of the account currency is in the shown currency, from a snapshot's USD-per-account-unit rate."""
    if fx_rate is None or fx_rate <= 0:
        return None
    if shown == "USD":
        return fx_rate  # a pound balance shown in dollars
    return None  # (only USD figures of a non-USD account are converted)


def reconcile(
    ledger: Holdings,
    broker: Holdings,
    tolerances: Tolerances,
    now: datetime,
    open_lines: list[OpenLine] | tuple[OpenLine, ...] = (),
    snapshot_id: int | None = None,
    ledger_cash_now: Decimal | None = None,
    last_fill_at: datetime | None = None,
) -> ReconciliationReport:
    """Compare ``broker`` (the snapshot) with ``ledger`` (the ledger as of the snapshot).

    ``ledger_cash_now``: the ledger's own cash as of ``now``; negative fails,
    whatever the snapshot says.  ``last_fill_at``: the latest fill; a
    snapshot taken before it cannot show it, which is a warning."""
    lines = list(open_lines)
    diffs: list[Difference] = []
    if ledger_cash_now is not None and ledger_cash_now < 0:
        diffs.append(
            Difference(
                "NEGATIVE_CASH",
                None,
                ledger_cash_now,
                None,
                ZERO,
                True,
                f"the ledger's own cash is {ledger_cash_now} {ledger.currency} (below zero): a fill, fee or withdrawal was "
                "recorded that the cash could not cover; check the latest confirmations and cash entries",
            )
        )
    if last_fill_at is not None and last_fill_at > broker.at:
        diffs.append(
            Difference(
                "SNAPSHOT_BEFORE_FILLS",
                None,
                None,
                None,
                None,
                False,
                f"the snapshot (taken {broker.at:%Y-%m-%d %H:%M} UTC) is older than the last fill "
                f"({last_fill_at:%Y-%m-%d %H:%M} UTC), so it cannot show it: enter a fresh snapshot",
            )
        )
    age = now - broker.at
    max_age = timedelta(days=tolerances.max_snapshot_age_days)
    if age > max_age:
        diffs.append(
            Difference(
                "STALE_SNAPSHOT",
                None,
                None,
                None,
                None,
                True,
                f"the snapshot is {age.days} days old (taken {broker.at:%Y-%m-%d %H:%M} UTC), older than "
                f"reconciliation.max_snapshot_age_days = {tolerances.max_snapshot_age_days}: enter a fresh snapshot",
            )
        )
    ledger_cash, cash_tolerance, to_account, note = ledger.cash, tolerances.cash_tolerance, Decimal(1), ""
    if broker.currency != ledger.currency:
        rate = _rate(ledger.currency, broker.currency, broker.fx_rate)
        if rate is None:
            diffs.append(
                Difference(
                    "CURRENCY",
                    None,
                    None,
                    None,
                    None,
                    True,
                    f"the snapshot is in {broker.currency} but the account is in {ledger.currency}: enter the broker's {ledger.currency} figures",
                )
            )
        else:
            ledger_cash = (ledger.cash * rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
            cash_tolerance = (tolerances.cash_tolerance * rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
            to_account = 1 / rate
            note = (
                f" (compared in {broker.currency}: the ledger's {ledger.cash:,.2f} {ledger.currency} at the snapshot's rate "
                f"{broker.fx_rate.normalize():f} USD per {ledger.currency})"
            )
    cash_diff = broker.cash - ledger_cash
    if cash_diff != 0:
        held = sorted(s for s, u in ledger.positions.items() if u > 0)
        blocking = abs(cash_diff) > cash_tolerance
        cause = _cash_cause(cash_diff * to_account, lines, held) if blocking else "within tolerance (rounding)"
        diffs.append(Difference("CASH", None, ledger_cash, broker.cash, cash_tolerance, blocking, cause + note))
    matched = []
    tol = tolerances.units_tolerance
    for symbol in sorted(set(ledger.positions) | set(broker.positions)):
        mine = ledger.positions.get(symbol, ZERO)
        theirs = broker.positions.get(symbol, ZERO)
        if mine == theirs:
            matched.append(symbol)
            continue
        within = abs(theirs - mine) <= tol
        if within:
            kind, cause = "UNITS", "within tolerance (rounding)"
        elif mine == 0:
            kind, cause = "UNKNOWN_POSITION", _units_cause(symbol, mine, theirs, lines)
        elif theirs == 0:
            kind, cause = "UNMATCHED_POSITION", _units_cause(symbol, mine, theirs, lines)
        else:
            kind, cause = "UNITS", _units_cause(symbol, mine, theirs, lines)
        diffs.append(Difference(kind, symbol, mine, theirs, tol, not within, cause))
    return ReconciliationReport(snapshot_id, broker.at, now, tuple(diffs), tuple(matched))
