"""Benchmark: recompute positions, cash and FIFO P&L from 100,000 fills.

Target: under 1 s for the three together, on SQLite and on PostgreSQL.
The ledger is seeded with valid data (no sell ever exceeds the units held,
every fill answers a ticket line) through bulk inserts, with the database's
own guards on; only the recomputation is timed.  PostgreSQL is
``TRADEOPS_BENCH_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
in a throw-away schema; it is reported as skipped when unreachable.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import datetime, timezone
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, text

from ..clock import SYSTEM
from ..calendar import get_calendar
from .common import PG_URL, machine, postgres_schema
from ..ledger import api, db
from ..ledger.models import Fill, IntendedTrade, Ticket
from ..ledger.money import booked_value

FILLS = 100_000
SYMBOLS = 100
LINES_PER_TICKET = 100
REPEATS = 5
TARGET_S = 1.0


def _rows(seed: int = 7):
    """Tickets, lines and fills: buys and sells per symbol, sells never above the units held."""
    rng = random.Random(seed)
    symbols = [f"S{n:03d}" for n in range(SYMBOLS)]
    held = {s: Decimal(0) for s in symbols}
    days = get_calendar().sessions("2010-01-04", "2030-12-31")[: FILLS // LINES_PER_TICKET]
    now = SYSTEM.now()
    tickets, lines, fills = [], [], []
    for t, day in enumerate(days, start=1):
        tickets.append(
            {
                "id": t,
                "account_id": 1,
                "ticket_id": f"T{t}",
                "session_date": day,
                "kind": "TRADE",
                "status": "OPEN",
                "version_hash": "bench",
                "actor": "bench",
                "created_at": now,
            }
        )
        at = datetime.combine(day, clock(15, 0), tzinfo=timezone.utc)
        for n in range(1, LINES_PER_TICKET + 1):
            line_id = len(lines) + 1
            symbol = rng.choice(symbols)
            price = Decimal(rng.randint(1_000, 50_000)).scaleb(-2)
            if held[symbol] > 0 and rng.random() < 0.4:
                side, units = "SELL", (held[symbol] * Decimal(rng.randint(10, 100)) / 100).quantize(Decimal("0.00000001"))
            else:
                side, units = "BUY", Decimal(rng.randint(1, 100_000)).scaleb(-3)
            held[symbol] += units if side == "BUY" else -units
            amount = booked_value(units, price)
            lines.append(
                {
                    "id": line_id,
                    "ticket_pk": t,
                    "account_id": 1,
                    "line_no": n,
                    "side": side,
                    "symbol": symbol,
                    "value": max(amount, Decimal("0.01")),
                    "currency": "USD",
                    "approx_units": units,
                    "reference_price": price,
                    "band": Decimal("0.03"),
                    "order_type": "market",
                    "created_at": now,
                }
            )
            fills.append(
                {
                    "account_id": 1,
                    "line_id": line_id,
                    "symbol": symbol,
                    "side": side,
                    "kind": "FILL",
                    "status": "EXECUTED",
                    "units": units,
                    "price": price,
                    "amount": amount,
                    "fees": Decimal("1.00"),
                    "currency": "USD",
                    "filled_at": at,
                    "actor": "bench",
                    "created_at": now,
                }
            )
    marks = {s: Decimal(rng.randint(1_000, 50_000)).scaleb(-2) for s in symbols}
    return tickets, lines, fills, marks


def _seed(engine, tickets, lines, fills) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(Ticket), tickets)
        for i in range(0, len(lines), 10_000):
            conn.execute(insert(IntendedTrade), lines[i : i + 10_000])
        for i in range(0, len(fills), 10_000):
            conn.execute(insert(Fill), fills[i : i + 10_000])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def _time(engine, marks) -> dict[str, float]:
    """Median seconds of each computation over REPEATS runs, each in its own transaction."""
    runs: dict[str, list[float]] = {"positions": [], "cash": [], "pnl": [], "all": []}
    for _ in range(REPEATS):
        with db.transaction(engine) as s:
            t0 = time.perf_counter()
            positions = api.compute_positions(s)
            t1 = time.perf_counter()
            api.compute_cash(s)
            t2 = time.perf_counter()
            pnl = api.compute_pnl(s, marks)
            t3 = time.perf_counter()
        assert {k: p.units for k, p in pnl.by_symbol.items() if p.units} == positions  # the FIFO pass agrees with the SQL sums
        for key, seconds in (("positions", t1 - t0), ("cash", t2 - t1), ("pnl", t3 - t2), ("all", t3 - t0)):
            runs[key].append(seconds)
    return {k: statistics.median(v) for k, v in runs.items()}


def _bench(url: str, tickets, lines, fills, marks) -> tuple[str, float, dict[str, float]]:
    engine = db.init_db(url)
    try:
        seeded = _seed(engine, tickets, lines, fills)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT sqlite_version()" if engine.dialect.name == "sqlite" else "SHOW server_version")).scalar_one()
        name = f"SQLite {version}" if engine.dialect.name == "sqlite" else f"PostgreSQL {version.split()[0]}"
        return name, seeded, _time(engine, marks)
    finally:
        engine.dispose()


def run() -> str:
    tickets, lines, fills, marks = _rows()
    sells = sum(f["side"] == "SELL" for f in fills)
    results, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(_bench(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", tickets, lines, fills, marks))
    admin, schema, url_or_error = postgres_schema()
    if admin is None:
        notes.append(f"PostgreSQL skipped: {PG_URL} unreachable ({url_or_error}).")
    else:
        try:
            results.append(_bench(url_or_error, tickets, lines, fills, marks))
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.dispose()
    rows = [
        f"| {name} | {t['positions']:.3f} | {t['cash']:.3f} | {t['pnl']:.3f} | **{t['all']:.3f}** | {'yes' if t['all'] < TARGET_S else 'NO'} | {seeded:.1f} |"
        for name, seeded, t in results
    ]
    return "\n".join(
        [
            "## Ledger: recompute positions, cash and P&L from 100,000 fills",
            "",
            f"{len(fills):,} fills ({sells:,} sells) over {SYMBOLS} symbols on {len(tickets):,} tickets; FIFO lots for the P&L.",
            f"Median of {REPEATS} runs, seconds; target: all three under {TARGET_S:.0f} s.",
            "",
            "| backend | positions (SQL GROUP BY) | cash (SQL SUM) | P&L (one ordered FIFO pass) | all three | under target | seeding (not timed) |",
            "| --- | ---: | ---: | ---: | ---: | :---: | ---: |",
            *rows,
            "",
            *notes,
            f"Machine: {machine()}.",
            "Command: `make bench` (`python -m tradeops.bench`); this section: `tradeops.bench.ledger.run()`.",
        ]
    )


if __name__ == "__main__":  # pragma: no cover
    print(run())
