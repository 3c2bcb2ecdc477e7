"""Backup and restore: a restored ledger gives the same positions, cash and events."""

from __future__ import annotations

from datetime import date

import pytest

from tradeops.errors import LedgerError
from tradeops.ledger import api, backup, db


def _fill_ledger(engine, kit) -> None:
    with db.transaction(engine) as s:
        api.record_cash_movement(s, "DEPOSIT", "5000", date(2024, 1, 2), actor="t")
        kit.buy(s, "B1", "2024-01-03", "AAPL", "10.5", "100", fees="1")
        kit.buy(s, "B2", "2024-01-04", "MSFT", "3", "200")
        kit.sell(s, "S1", "2024-01-05", "AAPL", "2.25", "110", fees="1")
        api.record_split(s, "MSFT", "3", date(2024, 1, 8), actor="t")
        api.set_kill_switch(s, True, "holiday", actor="t")


def _state(url: str):
    engine = db.make_engine(url)
    try:
        with db.transaction(engine) as s:
            return api.compute_positions(s), api.compute_cash(s), [(e.kind, e.payload) for e in api.events(s)], api.kill_switch(s).value
    finally:
        engine.dispose()


def test_restore_into_a_fresh_database_gives_identical_state(ledger_engine, db_url, second_db_url, tmp_path, kit):
    _fill_ledger(ledger_engine, kit)
    dump = backup.backup(db_url, backup.default_backup_path(tmp_path / "backups", db_url))
    assert dump.exists() and dump.stat().st_size > 0
    backup.restore(second_db_url, dump).dispose()
    original, restored = _state(db_url), _state(second_db_url)
    assert restored == original
    assert original[0] == {"AAPL": kit.D("8.25"), "MSFT": kit.D("9")} and original[3] == "ON"


def test_restore_over_a_changed_ledger_brings_the_old_state_back(ledger_engine, db_url, tmp_path, kit):
    _fill_ledger(ledger_engine, kit)
    before = _state(db_url)
    dump = backup.backup(db_url, tmp_path / ("b" + backup.SUFFIX[ledger_engine.dialect.name]))
    with db.transaction(ledger_engine) as s:
        api.record_cash_movement(s, "WITHDRAWAL", "100", date(2024, 2, 1), actor="t")
    ledger_engine.dispose()
    backup.restore(db_url, dump).dispose()
    assert _state(db_url) == before


def test_restore_refuses_what_is_not_a_backup(db_url, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_text("not a database")
    with pytest.raises(LedgerError, match="not a"):
        backup.restore(db_url, junk)
    with pytest.raises(LedgerError, match="does not exist"):
        backup.restore(db_url, tmp_path / "missing")


def test_an_old_backup_comes_back_upgraded(db_url, second_db_url, tmp_path):
    engine = db.make_engine(db_url)
    db.upgrade(engine, "0001")  # a ledger written by the first schema revision
    with db.transaction(engine) as s:
        api.record_cash_movement(s, "DEPOSIT", "42", date(2024, 1, 2), actor="t")
    engine.dispose()
    dump = backup.backup(db_url, tmp_path / "old-backup")
    restored = backup.restore(second_db_url, dump)
    try:
        assert db.current_revision(restored) == db.head_revision()
        with db.transaction(restored) as s:
            assert api.compute_cash(s).amount == 42
    finally:
        restored.dispose()
