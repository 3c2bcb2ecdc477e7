"""A small demo workspace for the confirmation page: the benchmark, the browser test, trying it out.

:func:`create_demo` writes a policy file and a ledger holding a deposit, an
earlier ticket that bought AAPL and KO (confirmed), and a TRADE ticket for
``session`` (default: the latest complete US session, so its window has
passed and its fills can be entered) with three lines, made by the real
ticket builder (:func:`tradeops.tickets.build_ticket`) and recorded with
``IssuedTicket.ledger_record()`` exactly as the pipeline records them.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from ..clock import SYSTEM, Clock
from ..calendar import get_calendar
from ..files import write_atomic
from ..config import UNIVERSE_COLUMNS, Policy, Workspace, parse_universe
from ..ledger import api, db
from ..risk import Decision, TradeLine
from ..tickets import IssuedTicket, build_ticket

ACTOR = "demo"
DEPOSIT = Decimal("20000")
SYMBOLS = ("AAPL", "KO", "AVGO", "MSFT", "SPY")
EARLIER = (("BUY", "AAPL", "5", "140.00"), ("BUY", "KO", "4", "228.50"))  # side, symbol, units, price
TODAY = (("SELL", "AAPL", None, "141.34"), ("BUY", "AVGO", "1333.33", "294.81"), ("BUY", "MSFT", "1000.00", "415.10"))  # value None: close
# the case: little cash, two SELLs that the BUYs need ($1,104.40 of cash before the ticket)
SHORT_TODAY = (("SELL", "AAPL", None, "141.34"), ("SELL", "KO", None, "228.50")) + TODAY[1:]
SHORT_DEPOSIT = Decimal("1614.00") + Decimal("1104.40")  # the earlier BUYs cost 5 x 140 + 4 x 228.50 = 1,614.00


def universe():
    """A five-symbol universe (four stocks and the SPY benchmark)."""
    rows = [",".join(UNIVERSE_COLUMNS)]
    for s in SYMBOLS:
        kind = "ETF" if s == "SPY" else "stock"
        rows.append(f"{s},{s},{s.lower()}.us,{s},{s},NASDAQ,USD,{kind},true,Demo,{s} demo")
    return parse_universe("\n".join(rows) + "\n", "SPY")


def _decision(session: date, trades: list[TradeLine], cash: Decimal, equity: Decimal) -> Decision:
    spent = sum((t.value if t.side == "BUY" else -t.value for t in trades), Decimal(0))
    return Decision(
        session=session,
        kind="TRADE",
        rebalance=True,
        strategy="momentum",
        account_currency="USD",
        equity=equity,
        cash_before=cash,
        cash_after=cash - spent,
        drawdown=Decimal(0),
        trades=tuple(trades),
        blocked=(),
        suppressed=(),
        notes=(),
        rules=(),
        targets=(),
        risk_off={"applied": False, "reasons": []},
        top_ranks=(),
        changes={"entering": [t.symbol for t in trades if t.side == "BUY"], "leaving": [t.symbol for t in trades if t.close_position], "resized": []},
        signal_note="demo ticket",
    )


def trade_ticket(execution: date, trades: list[TradeLine], cash: Decimal, equity: Decimal, policy: Policy) -> IssuedTicket:
    """The TRADE ticket the pipeline would issue for ``execution`` with these trades."""
    cal = get_calendar(policy.schedule.exchange)
    window = cal.execution_window(execution, policy.execution.window_start_minutes, policy.execution.window_end_minutes)
    decision_session = cal.previous_session(execution)
    return build_ticket(
        _decision(decision_session, trades, cash, equity), [], window, policy, universe(), "demo-code", "demo-config", "demo-data", decision_session
    )


def record(session, ticket: IssuedTicket) -> str:
    """Record a built ticket and its lines in the ledger, as the pipeline does."""
    rec = ticket.ledger_record()
    api.record_ticket(session, **rec["ticket"], actor=ACTOR)
    for line in rec["lines"]:
        api.record_intended_trade(session, ticket.ticket_id, **line, actor=ACTOR)
    return ticket.ticket_id


def _line(side: str, symbol: str, value: str | None, price: str, held: Decimal) -> TradeLine:
    price_d = Decimal(price)
    if value is None:
        return TradeLine(side, symbol, (held * price_d).quantize(Decimal("0.01"), ROUND_HALF_EVEN), held, price_d, close_position=True)
    value_d = Decimal(value)
    return TradeLine(side, symbol, value_d, (value_d / price_d).quantize(Decimal("0.000001"), ROUND_HALF_EVEN), price_d)


def seed(engine, policy: Policy, session: date | None = None, clock: Clock = SYSTEM, *, short: bool = False) -> str:
    """Fill an empty ledger with the demo history; returns the id of the open TRADE ticket.

    The ticket is for ``session`` (default: the latest complete session at ``clock``'s now);
    the ledger's rows are stamped with ``clock``'s time.  ``short``: the tight-cash variant
    (:data:`SHORT_TODAY`, :data:`SHORT_DEPOSIT`), where the BUYs need what both SELLs bring in."""
    deposit, lines = (SHORT_DEPOSIT, SHORT_TODAY) if short else (DEPOSIT, TODAY)
    cal = get_calendar(policy.schedule.exchange)
    session = session or cal.latest_complete_session(clock.now())
    earlier = cal.session_offset(session, -5)
    with db.transaction(engine, clock) as s:
        api.record_cash_movement(s, "DEPOSIT", deposit, cal.session_offset(session, -7), actor=ACTOR)
        trades = [TradeLine(side, sym, Decimal(u) * Decimal(p), Decimal(u), Decimal(p)) for side, sym, u, p in EARLIER]
        first = trade_ticket(earlier, trades, deposit, deposit, policy)
        record(s, first)
        at = first.window.start + timedelta(minutes=10)
        for n, (_side, _sym, units, price) in enumerate(EARLIER, start=1):
            api.record_fill(s, first.ticket_id, n, "executed", units=units, price=price, fees="0", filled_at=at, actor=ACTOR)
        held = api.compute_positions(s)
        cash = api.compute_cash(s).amount
        equity = cash + sum(held[sym] * Decimal(p) for _side, sym, _u, p in EARLIER)
        today = [_line(side, sym, value, price, held.get(sym, Decimal(0))) for side, sym, value, price in lines]
        return record(s, trade_ticket(session, today, cash, equity, policy))


def create_demo(
    root: str | Path, db_url: str | None = None, *, session: date | None = None, clock: Clock = SYSTEM, short: bool = False
) -> tuple[Workspace, str, str]:
    """A workspace at ``root`` (default policy) whose ledger holds the demo; returns (workspace, db url, ticket id)."""
    ws = Workspace.at(root).ensure()
    if not ws.policy_path.exists():
        write_atomic(ws.policy_path, "# demo workspace: every key at its default (see config/policy.yml in the project)\n{}\n")
    url = db_url or ws.default_db_url
    engine = db.init_db(url)
    try:
        ticket_id = seed(engine, ws.policy(), session, clock, short=short)
    finally:
        engine.dispose()
    return ws, url, ticket_id
