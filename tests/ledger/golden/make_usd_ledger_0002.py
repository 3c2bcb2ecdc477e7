"""Make ``usd_ledger_0002.json``: a USD ledger written by the release before migration 0003.

Run with the package of commit 917f63a (schema head 0002) first on the path,
never with the code under test:

    git archive 917f63a tradeops tests/ledger/golden | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python /tmp/old/../make_usd_ledger_0002.py OUT.json   (this file, copied)

It replays the steps of ``worked_example.json`` (deposits, buys, a partial, a
correction with its reversal, a sell, a dividend, a fee, a split, a
not-executed line, an FX rate and a broker snapshot) on a fresh SQLite ledger,
then writes every row of every table (Decimals as strings, instants in ISO
form) and the figures that release reported: positions, cash, P&L, the
equity curve in USD and in GBP, and the reconciliation.  The test
``test_ledger_migrations.py::test_a_usd_ledger_migrates_forward_with_the_same_figures``
loads these rows into a ledger at 0002, migrates it to head and checks that
the figures are the same.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import MetaData, select

from tradeops.config import Reconciliation
from tradeops.ledger import api, db

HERE = Path(__file__).resolve().parent
GOLDEN = json.loads((HERE / "worked_example.json").read_text())
TABLES = (
    "accounts",
    "tickets",
    "intended_trades",
    "fills",
    "cash_movements",
    "corporate_actions",
    "broker_snapshots",
    "snapshot_positions",
    "prices",
    "fx_rates",
    "events",
)


def _plain(value):
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$instant": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    return value


def _replay(s) -> None:
    fills = {}
    for step in GOLDEN["steps"]:
        op = step["op"]
        if op == "cash":
            api.record_cash_movement(s, step["kind"], step["amount"], date.fromisoformat(step["date"]), symbol=step.get("symbol"), actor="old")
        elif op == "ticket":
            api.record_ticket(s, step["ticket_id"], date.fromisoformat(step["session_date"]), "TRADE", "hash-" + step["ticket_id"], {"id": step["ticket_id"]})
            for n, ln in enumerate(step["lines"], start=1):
                api.record_intended_trade(s, step["ticket_id"], n, ln["side"], ln["symbol"], ln["value"], ln["approx_units"], ln["reference_price"], ln["band"])
        elif op == "fill":
            fills[(step["ticket_id"], step["line"])] = api.record_fill(
                s,
                step["ticket_id"],
                step["line"],
                step["status"],
                units=step.get("units"),
                price=step.get("price"),
                fees=step.get("fees", "0"),
                filled_at=step["filled_at"],
                reason=step.get("reason"),
                actor="old",
            )
        elif op == "correct":
            api.correct_fill(
                s,
                fills[(step["ticket_id"], step["line"])].id,
                step["reason"],
                step["status"],
                units=step["units"],
                price=step["price"],
                fees=step["fees"],
                filled_at=step["filled_at"],
                actor="old",
            )
        elif op == "split":
            api.record_split(s, step["symbol"], step["ratio"], date.fromisoformat(step["date"]), actor="old")
        elif op == "fx":
            api.store_fx_rates(s, {date.fromisoformat(step["date"]): step["rate"]}, base=step["base"], quote=step["quote"], source="golden")
        elif op == "snapshot":
            api.record_snapshot(s, datetime.fromisoformat(step["taken_at"]), step["cash"], step["positions"], actor="old")


def main(out: Path) -> None:
    prices = {sym: {date.fromisoformat(d): Decimal(v) for d, v in series.items()} for sym, series in GOLDEN["prices"].items()}
    end = date.fromisoformat(GOLDEN["as_of"])
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.init_db(f"sqlite:///{tmp}/old.sqlite")
        assert db.current_revision(engine) == "0002", db.current_revision(engine)
        with db.transaction(engine) as s:
            api.store_prices(s, [(sym, d, c) for sym, series in prices.items() for d, c in series.items()], source="golden")
            _replay(s)
        with db.transaction(engine) as s:
            marks = api.marks_on(prices, end)
            figures = {
                "positions": api.compute_positions(s),
                "cash": api.compute_cash(s).to_dict(),
                "pnl": api.compute_pnl(s, marks).to_dict(),
                "pnl_mid_month": api.compute_pnl(
                    s, api.marks_on(prices, date(2024, 1, 12)), as_of=datetime.fromisoformat("2024-01-12T21:00:00+00:00")
                ).to_dict(),
                "equity_usd": [p.to_dict() for p in api.compute_equity_curve(s, prices, end=end)],
                "equity_gbp": [p.to_dict() for p in api.compute_equity_curve(s, prices, start=end, end=end, currency="GBP")],
                "reconciliation": api.reconcile_snapshot(s, Reconciliation(), now=datetime.fromisoformat(GOLDEN["reconcile_now"])).to_dict(),
                "events": len(api.events(s)),
            }
        meta = MetaData()
        meta.reflect(engine)
        rows = {}
        from tradeops.ledger.models import Base

        with engine.connect() as conn:
            for name in TABLES:
                table = Base.metadata.tables[name]  # the models' types: Decimals and aware instants, not SQLite's scaled integers
                rows[name] = [{k: _plain(v) for k, v in r._mapping.items()} for r in conn.execute(select(table).order_by(table.c.id))]
        engine.dispose()
    out.write_text(json.dumps({"made_by": "tradeops at 917f63a (schema 0002)", "rows": rows, "figures": api.jsonable(figures)}, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
