"""Migrations: the models match the migrated schema, and upgrading keeps the data."""

from __future__ import annotations

from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tradeops.ledger import api, db
from tradeops.ledger.models import Base


def test_models_match_the_migrations(ledger_engine):
    with ledger_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_init_creates_head_and_seeds_the_default_account(ledger_engine):
    assert db.current_revision(ledger_engine) == db.head_revision() == "0002"
    with db.transaction(ledger_engine) as s:
        account = api.get_account(s)
        assert (account.name, account.broker, account.currency) == ("main", "eToro", "USD")


def test_upgrade_keeps_existing_data(db_url, kit):
    engine = db.make_engine(db_url)
    try:
        assert db.upgrade(engine, "0001") == "0001"
        with db.transaction(engine) as s:  # a ledger written by the first schema revision
            api.record_cash_movement(s, "DEPOSIT", "5000", date(2024, 1, 2), actor="t")
            kit.buy(s, "T1", "2024-01-03", "AAPL", "10", "100", fees="1")
        with db.transaction(engine) as s:
            before = (api.compute_positions(s), api.compute_cash(s), len(api.events(s)))
        assert db.upgrade(engine) == "0002"
        assert db.upgrade(engine) == "0002"  # running init again is a no-op
        with db.transaction(engine) as s:
            assert (api.compute_positions(s), api.compute_cash(s), len(api.events(s))) == before
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:  # 0002's guards now apply
            conn.execute(text("UPDATE fills SET units = units + 1"))
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(ledger_engine):
    with db.transaction(ledger_engine) as s:
        api.record_cash_movement(s, "DEPOSIT", "100", date(2024, 1, 2), actor="t")
    assert db.downgrade(ledger_engine, "0001") == "0001"
    assert db.upgrade(ledger_engine) == "0002"
    with db.transaction(ledger_engine) as s:
        assert api.compute_cash(s).amount == 100
