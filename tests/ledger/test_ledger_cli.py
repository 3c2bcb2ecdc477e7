"""The executor's path on the command line, on both backends."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from tradeops.cli import main
from tradeops.ledger import api, db

REPO = Path(__file__).resolve().parents[2]

FILLS = """line,status,units,price,fees,filled_at,reason,notes
1,executed,10,100.50,1.00,2024-01-03T14:35,,eToro order 1
2,not_executed,,,,2024-01-03T14:40,price above the band all morning,
"""


@pytest.fixture
def ws(tmp_path, db_url, db_backend, monkeypatch):
    """A workspace with the project's policy; the ledger is TRADEOPS_DB_URL (PostgreSQL) or data/ledger.sqlite."""
    (tmp_path / "config").mkdir()
    shipped = (REPO / "config" / "policy.yml").read_text()  # a new workspace is in GBP; these tests are of a USD one
    (tmp_path / "config" / "policy.yml").write_text(
        shipped.replace("account_currency: GBP", "account_currency: USD", 1).replace("fx_fee_bps: 50", "fx_fee_bps: 0", 1)
    )
    monkeypatch.setenv("TRADEOPS_HOME", str(tmp_path))
    monkeypatch.setenv("TRADEOPS_ACTOR", "cli-test")
    if db_backend == "postgresql":
        monkeypatch.setenv("TRADEOPS_DB_URL", db_url)
    else:
        monkeypatch.delenv("TRADEOPS_DB_URL", raising=False)
    return tmp_path


def _url(ws: Path) -> str:
    from tradeops.config import Workspace

    return Workspace.at(ws).db_url()


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _exit_code(*argv) -> tuple[int, str]:
    """Exit code as the shell sees it (click's runner: tradeops.cli.main returns 0 for click's Exit, see the report)."""
    from click.testing import CliRunner

    from tradeops.cli import cli

    result = CliRunner().invoke(cli, list(argv))
    return result.exit_code, result.output


def _with_ledger(ws, fn):
    engine = db.make_engine(_url(ws))
    try:
        with db.transaction(engine) as s:
            return fn(s)
    finally:
        engine.dispose()


def _issue_ticket(s):
    """What the pipeline does: one TRADE ticket with two lines."""
    api.record_ticket(s, "TICKET-20240103", date(2024, 1, 3), "TRADE", "v1")
    api.record_intended_trade(s, "TICKET-20240103", 1, "BUY", "AAPL", "1005", "10", "100.00", "0.03")
    api.record_intended_trade(s, "TICKET-20240103", 2, "BUY", "MSFT", "400", "2", "200.00", "0.03")


def test_commands_need_an_initialised_ledger(ws, capsys):
    code, _, err = _run(capsys, "kill-switch", "on", "--reason", "x")
    assert code == 2 and "not initialised: run `tradeops ledger init`" in err


def test_init_twice_keeps_the_data(ws, capsys, db_backend):
    code, out, _ = _run(capsys, "ledger", "init")
    assert code == 0 and "schema created, at revision 0003" in out
    if db_backend == "sqlite":
        assert (ws / "data" / "ledger.sqlite").is_file()
    assert _run(capsys, "cash", "add", "deposit", "1000", "--date", "2024-01-02")[0] == 0
    code, out, _ = _run(capsys, "ledger", "init")
    assert code == 0 and "already current" in out
    assert _with_ledger(ws, lambda s: api.compute_cash(s).amount) == 1000


def test_init_puts_a_new_account_in_the_policys_currency(ws, capsys):
    policy = ws / "config" / "policy.yml"
    policy.write_text(policy.read_text().replace("account_currency: USD", "account_currency: GBP", 1))
    code, out, _ = _run(capsys, "ledger", "init")
    assert code == 0 and out.rstrip().endswith(", account in GBP")
    assert _with_ledger(ws, lambda s: api.get_account(s).currency) == "GBP"
    assert _run(capsys, "cash", "add", "deposit", "1000", "--date", "2024-01-02", "--currency", "GBP")[0] == 0
    # without --currency a movement is in the account's currency (was always USD), on the command line and in a file
    code, out, _ = _run(capsys, "cash", "add", "deposit", "250.50", "--date", "2024-01-03")
    assert code == 0 and "recorded deposit +250.50 GBP on 2024-01-03" in out and "cash now 1,250.50 GBP" in out
    (ws / "cash.csv").write_text("kind,amount,date\ndeposit,10,2024-01-04\n")
    code, out, _ = _run(capsys, "cash", "add", "--file", str(ws / "cash.csv"))
    assert code == 0 and "recorded deposit +10.00 GBP on 2024-01-04" in out and "cash now 1,260.50 GBP" in out
    # once the account holds money its currency stays: a USD policy over it is refused, naming why
    policy.write_text(policy.read_text().replace("account_currency: GBP", "account_currency: USD", 1))
    code, _, err = _run(capsys, "ledger", "init")
    assert code != 0 and "is in GBP and already holds cash movements" in err


def test_the_executor_path(ws, capsys):
    assert _run(capsys, "ledger", "init")[0] == 0
    code, out, _ = _run(capsys, "cash", "add", "deposit", "10000", "--date", "2024-01-02", "--notes", "first transfer")
    assert code == 0 and "cash now 10,000.00 USD" in out
    _with_ledger(ws, _issue_ticket)

    (ws / "fills.csv").write_text(FILLS)
    code, out, err = _run(capsys, "confirm", "TICKET-20240103", "--file", str(ws / "fills.csv"))
    assert code == 0, err
    assert "confirmed BUY AAPL: EXECUTED 10 @ 100.5, fees 1.00" in out and "0 line(s) still unconfirmed" in out

    (ws / "snapshot.csv").write_text("type,symbol,quantity\ncash,USD,8994.00\nposition,AAPL,10\n")
    code, out, _ = _run(capsys, "snapshot", "--file", str(ws / "snapshot.csv"), "--taken-at", "2024-01-03T21:30")
    assert code == 0 and "cash 8,994.00 USD, 1 position(s)" in out

    code, out = _exit_code("reconcile")
    assert code == 1 and "FAIL" in out  # the figures agree, but the snapshot is long past its allowed age
    assert "older than reconciliation.max_snapshot_age_days = 7: enter a fresh snapshot" in out

    (ws / "snapshot.csv").write_text("type,symbol,quantity\ncash,USD,8994.00\nposition,AAPL,10\n")
    assert _run(capsys, "snapshot", "--file", str(ws / "snapshot.csv"))[0] == 0  # taken now
    code, out = _exit_code("reconcile")
    assert code == 0 and "PASS" in out and "matched: AAPL" in out

    assert _run(capsys, "kill-switch", "on", "--reason", "going on holiday")[0] == 0
    code, out, _ = _run(capsys, "ledger", "status")
    assert "cash 8,994.00 USD" in out and "AAPL     10\n" in out and "kill switch ON (going on holiday)" in out

    def check(s):
        kinds = [e.kind for e in api.events(s)]
        assert kinds[:3] == ["KILL_SWITCH_ON", "RECONCILIATION", "SNAPSHOT_RECORDED"]
        assert {e.actor for e in api.events(s, kind="FILL_RECORDED")} == {"cli-test"}

    _with_ledger(ws, check)


@pytest.mark.parametrize(
    "fills, message",
    [
        ("line,status,units,price,fees,filled_at\n1,executed,10,abc,1,2024-01-03T14:35\n", "fills.csv row 2, field 'price': 'abc' is not a decimal"),
        (
            "line,status,units,price,fees,filled_at\n1,executed,10,100,1,2024-01-03T14:35\n2,executed,-2,200,0,2024-01-03T14:35\n",
            "fills.csv row 3, field 'units'",
        ),
        (
            "line,status,units,price,fees,filled_at\n1,executed,10,100,1,2024-01-03T14:35\n7,executed,1,200,0,2024-01-03T14:35\n",
            "fills.csv row 3, field 'line': ticket TICKET-20240103 has no line 7",
        ),
        ("line,status,units,price,fees,filled_at\n1,executed,10,130,1,2024-01-03T14:35\n", "fills.csv row 2, field 'price'.*band"),
        ("line,status,unit,price,fees,filled_at\n", r"fills.csv row 1 \(header\)"),
    ],
)
def test_bad_fills_write_nothing(ws, capsys, fills, message):
    assert _run(capsys, "ledger", "init")[0] == 0
    _with_ledger(ws, _issue_ticket)
    events_before = _with_ledger(ws, lambda s: len(api.events(s)))
    (ws / "fills.csv").write_text(fills)
    code, _, err = _run(capsys, "confirm", "TICKET-20240103", "--file", str(ws / "fills.csv"))
    assert code == 2
    assert re.search(message, err), err
    assert _with_ledger(ws, lambda s: (len(api.unconfirmed_lines(s)), len(api.events(s)))) == (2, events_before)


def test_bad_cash_file_writes_nothing(ws, capsys):
    assert _run(capsys, "ledger", "init")[0] == 0
    (ws / "cash.csv").write_text("kind,amount,date\ndeposit,100,2024-01-02\nfee,abc,2024-01-03\n")
    code, _, err = _run(capsys, "cash", "add", "--file", str(ws / "cash.csv"))
    assert code == 2 and "cash.csv row 3, field 'amount'" in err
    assert _with_ledger(ws, lambda s: api.compute_cash(s).amount) == 0
    (ws / "cash.csv").write_text("kind,amount,date,symbol\ndeposit,100,2024-01-02,\ndividend,1.25,2024-01-03,AAPL\n")
    code, out, _ = _run(capsys, "cash", "add", "--file", str(ws / "cash.csv"))
    assert code == 0 and "cash now 101.25 USD" in out


def test_split_from_the_command_line(ws, capsys):
    assert _run(capsys, "ledger", "init")[0] == 0
    assert _run(capsys, "cash", "add", "deposit", "5000", "--date", "2024-01-02")[0] == 0
    _with_ledger(ws, _issue_ticket)
    (ws / "fills.csv").write_text(FILLS)
    assert _run(capsys, "confirm", "TICKET-20240103", "--file", str(ws / "fills.csv"))[0] == 0
    code, out, _ = _run(capsys, "ledger", "split", "aapl", "4", "--date", "2024-02-01")
    assert code == 0 and "split AAPL 4:1 on 2024-02-01: units held before it 10 -> 40" in out
    code, _, err = _run(capsys, "ledger", "split", "AAPL", "1", "--date", "2024-02-02")
    assert code == 2 and "field 'ratio'" in err


def test_corrections_from_the_command_line(ws, capsys):
    assert _run(capsys, "ledger", "init")[0] == 0
    assert _run(capsys, "cash", "add", "deposit", "5000", "--date", "2024-01-02")[0] == 0
    _with_ledger(ws, _issue_ticket)
    (ws / "fills.csv").write_text(FILLS)
    assert _run(capsys, "confirm", "TICKET-20240103", "--file", str(ws / "fills.csv"))[0] == 0
    (ws / "fix.csv").write_text("line,status,units,price,fees,filled_at\n1,partial,8,100.50,1.00,2024-01-03T14:35\n")
    code, out, _ = _run(capsys, "confirm", "TICKET-20240103", "--file", str(ws / "fix.csv"), "--correct", "typed 10 for 8")
    assert code == 0 and "corrected BUY AAPL: PARTIAL 8 @ 100.5" in out
    assert _with_ledger(ws, lambda s: api.compute_positions(s)) == {"AAPL": D(8)}


def test_backup_and_restore_commands(ws, capsys):
    assert _run(capsys, "ledger", "init")[0] == 0
    assert _run(capsys, "cash", "add", "deposit", "100", "--date", "2024-01-02")[0] == 0
    backup_file = ws / "ledger.backup"
    code, out, _ = _run(capsys, "ledger", "backup", "--out", str(backup_file))
    assert code == 0 and backup_file.is_file()
    assert _run(capsys, "cash", "add", "withdrawal", "60", "--date", "2024-01-03")[0] == 0
    code, out, _ = _run(capsys, "ledger", "restore", str(backup_file), "--yes")
    assert code == 0 and "current ledger saved to" in out and "restored from" in out
    assert _with_ledger(ws, lambda s: api.compute_cash(s).amount) == 100
    assert list((ws / "data" / "backups").iterdir())  # the pre-restore safety copy


def test_the_policys_cash_floor_is_kept_by_confirm_and_cash_add(ws, capsys):
    """account.cash_floor in policy.yml reaches the ledger: a fill or a withdrawal that would leave less is refused."""
    policy = ws / "config" / "policy.yml"
    policy.write_text(policy.read_text().replace("  cash_floor: 0 ", "  cash_floor: 100 "))
    assert "cash_floor: 100" in policy.read_text()
    assert _run(capsys, "ledger", "init")[0] == 0
    assert _run(capsys, "cash", "add", "deposit", "1050", "--date", "2024-01-02")[0] == 0
    _with_ledger(ws, _issue_ticket)
    (ws / "fills.csv").write_text(FILLS)  # line 1 costs 10 x 100.50 + 1.00 = 1006.00
    code, _, err = _run(capsys, "confirm", "TICKET-20240103", "--file", str(ws / "fills.csv"))
    assert code == 2 and "line 1 of TICKET-20240103 (BUY AAPL) needs 1006.00" in err and "keeping the cash floor of 100.00" in err
    assert _run(capsys, "cash", "add", "deposit", "150", "--date", "2024-01-02")[0] == 0
    assert _run(capsys, "confirm", "TICKET-20240103", "--file", str(ws / "fills.csv"))[0] == 0  # 1200 - 1006 leaves 194.00
    code, _, err = _run(capsys, "cash", "add", "withdrawal", "100", "--date", "2024-01-04")
    assert code == 2 and "withdrawal of 100.00" in err and "keeping the cash floor of 100.00" in err and "at most 94.00" in err
    assert _with_ledger(ws, lambda s: api.compute_cash(s).amount) == D("194.00")
    assert _run(capsys, "cash", "add", "withdrawal", "94", "--date", "2024-01-04")[0] == 0
    assert _with_ledger(ws, lambda s: api.compute_cash(s).amount) == D("100.00")
