"""Migrations: the models match the migrated schema, and upgrading keeps the data."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from tradeops.config import Reconciliation
from tradeops.ledger import api, db
from tradeops.ledger.models import Base, BrokerSnapshot, CashMovement, Fill


def test_models_match_the_migrations(ledger_engine):
    with ledger_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_init_creates_head_and_seeds_the_default_account(ledger_engine):
    assert db.current_revision(ledger_engine) == db.head_revision() == "0003"
    with db.transaction(ledger_engine) as s:
        account = api.get_account(s)
        assert (account.name, account.broker, account.currency) == ("main", "eToro", "USD")


def test_upgrade_keeps_existing_data(db_url, kit):
    engine = db.make_engine(db_url)
    try:
        assert db.upgrade(engine, "0001") == "0001"
        with db.transaction(engine) as s:  # a ledger written by the first schema revision (tables the later ones leave alone)
            api.record_cash_movement(s, "DEPOSIT", "5000", date(2024, 1, 2), actor="t")
            kit.ticket(s, "T1", "2024-01-03", [("BUY", "AAPL", "1000", "10", "100")])
        with db.transaction(engine) as s:  # (the ledger's cash reads columns of 0003: sum the movements themselves)
            before = (s.scalar(select(func.sum(CashMovement.amount))), len(api.events(s)), len(api.unconfirmed_lines(s)))
        assert db.upgrade(engine) == "0003"
        assert db.upgrade(engine) == "0003"  # running init again is a no-op
        with db.transaction(engine) as s:
            assert (api.compute_cash(s).amount, len(api.events(s)), len(api.unconfirmed_lines(s))) == before
            api.record_fill(s, "T1", 1, "executed", units="10", price="100", fees="1", filled_at=kit.at("2024-01-03"), actor="t")
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:  # 0002's guards still apply
            conn.execute(text("UPDATE fills SET units = units + 1"))
    finally:
        engine.dispose()


OLD = json.loads((Path(__file__).parent / "golden" / "usd_ledger_0002.json").read_text())
# parents before children; the split before the fills (the never-negative trigger replays the history)
LOAD_ORDER = (
    "accounts",
    "tickets",
    "intended_trades",
    "corporate_actions",
    "fills",
    "cash_movements",
    "broker_snapshots",
    "snapshot_positions",
    "prices",
    "fx_rates",
    "events",
)


TYPED = {"$decimal": Decimal, "$instant": datetime.fromisoformat, "$date": date.fromisoformat}


def _value(v):
    """A value of the file: {"$decimal": "1.5"} etc. become Decimals, instants and dates; JSON columns stay as they are."""
    if isinstance(v, dict) and len(v) == 1 and next(iter(v)) in TYPED:
        ((kind, text_),) = v.items()
        return TYPED[kind](text_)
    return v


def _load_old_rows(engine) -> None:
    """Insert the rows the release at schema 0002 wrote (golden/make_usd_ledger_0002.py), with their own columns only."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM accounts"))  # the seeded account: the file has its own
        for name in LOAD_ORDER:
            rows = [{k: _value(v) for k, v in row.items()} for row in OLD["rows"][name]]
            if rows:
                conn.execute(insert(Base.metadata.tables[name]), rows)
        if engine.dialect.name == "postgresql":  # the ids were given: move the sequences past them
            for name in LOAD_ORDER:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {name}))"))


def _figures(s) -> dict:
    """The figures the old release reported (make_usd_ledger_0002.py computes the same ones)."""
    golden = json.loads((Path(__file__).parent / "golden" / "worked_example.json").read_text())
    prices = {sym: {date.fromisoformat(d): Decimal(v) for d, v in series.items()} for sym, series in golden["prices"].items()}
    end = date.fromisoformat(golden["as_of"])
    figures = {
        "positions": api.compute_positions(s),
        "cash": api.compute_cash(s).to_dict(),
        "pnl": api.compute_pnl(s, api.marks_on(prices, end)).to_dict(),
        "pnl_mid_month": api.compute_pnl(s, api.marks_on(prices, date(2024, 1, 12)), as_of=datetime.fromisoformat("2024-01-12T21:00:00+00:00")).to_dict(),
        "equity_usd": [p.to_dict() for p in api.compute_equity_curve(s, prices, end=end)],
        "equity_gbp": [p.to_dict() for p in api.compute_equity_curve(s, prices, start=end, end=end, currency="GBP")],
        "reconciliation": api.reconcile_snapshot(s, Reconciliation(), now=datetime.fromisoformat(golden["reconcile_now"])).to_dict(),
        "events": len(api.events(s)),
    }
    return api.jsonable(figures)


def test_a_usd_ledger_migrates_forward_with_the_same_figures(db_url, kit):
    """A ledger built at the previous head (0002) by the previous release, migrated to 0003, reports the same USD figures.

    The rows and the figures in golden/usd_ledger_0002.json were written by tradeops at 917f63a (schema 0002),
    not by the code under test."""
    engine = db.make_engine(db_url)
    try:
        assert db.upgrade(engine, "0002") == "0002"
        _load_old_rows(engine)
        assert db.upgrade(engine) == "0003"
        with db.transaction(engine) as s:
            assert _figures(s) == OLD["figures"]
            fills = s.scalars(select(Fill).order_by(Fill.id)).all()
            assert len(fills) == len(OLD["rows"]["fills"]) == 9
            assert all((f.instrument_currency, f.fx_rate, f.account_amount) == ("USD", 1, f.amount) for f in fills)
            assert [snap.fx_rate for snap in s.scalars(select(BrokerSnapshot))] == [1]
            assert api.compute_cash_balances(s) == {"USD": api.compute_cash(s)}
            # the migrated ledger takes new entries as before (ids and guards carried forward)
            kit.fund(s, "100", day="2024-02-01")
            kit.buy(s, "T-AFTER", "2024-02-01", "MSFT", "0.4", "210", fees="0.10")
            assert api.compute_positions(s)["MSFT"] == Decimal("5.4")
            assert api.compute_cash(s).amount == Decimal("8412.25") + 100 - Decimal("84.00") - Decimal("0.10")
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE fills SET account_amount = 0"))
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(ledger_engine):
    with db.transaction(ledger_engine) as s:
        api.record_cash_movement(s, "DEPOSIT", "100", date(2024, 1, 2), actor="t")
    assert db.downgrade(ledger_engine, "0001") == "0001"
    assert db.upgrade(ledger_engine) == "0003"
    with db.transaction(ledger_engine) as s:
        assert api.compute_cash(s).amount == 100


def test_the_one_way_to_open_the_ledger_names_what_is_wrong(tmp_path):
    # the stages, the page, the CLI and the assistant all open the ledger through db.open_at_head
    from tradeops.errors import LedgerError

    with pytest.raises(LedgerError, match=r"is not initialised: run `tradeops ledger init`"):
        db.open_at_head(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    old = db.make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    db.upgrade(old, "0001")
    old.dispose()
    with pytest.raises(LedgerError, match=r"is at schema revision 0001, not .*: run `tradeops ledger init`"):
        db.open_at_head(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with pytest.raises(LedgerError, match=r"cannot be opened; check TRADEOPS_DB_URL") as err:
        db.open_at_head("postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:9/nowhere?connect_timeout=2")
    assert "s3cret-pw" not in str(err.value)
    engine = db.init_db(f"sqlite:///{tmp_path / 'new.sqlite'}")
    engine.dispose()
    db.open_at_head(f"sqlite:///{tmp_path / 'new.sqlite'}").dispose()
