"""`tradeops signal`, `tradeops risk`, `tradeops ticket` on a workspace in a temporary folder."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D

from tradeops.cli import main
from tradeops.portfolio import PortfolioState


def make_workspace(root, eod, factory):
    (root / "config").mkdir(parents=True)
    (root / "config" / "policy.yml").write_text("portfolio:\n  target_positions: 12\n")
    (root / "config" / "universe.csv").write_text(factory.universe_csv())
    (root / "data" / "clean").mkdir(parents=True)
    eod.to_parquet(root / "data" / "clean" / "eod.parquet")
    return root


def test_the_three_commands_write_their_files(tmp_path, eod, factory, capsys):
    ws = make_workspace(tmp_path / "ws", eod, factory)
    run = tmp_path / "run"
    common = ["--workdir", str(ws), "--session", "2024-03-15", "--run-dir", str(run)]

    assert main(["signal", *common]) == 0
    assert (run / "signals" / "2024-03-15.csv").exists()
    assert "30 ranked, 0 dropped" in capsys.readouterr().out

    # risk needs portfolio.json, which the ledger stage writes
    assert main(["risk", *common]) == 2
    assert "portfolio file not found" in capsys.readouterr().err
    PortfolioState(as_of=date(2024, 3, 15), cash=D("10000")).write(run / "portfolio.json")
    assert main(["risk", *common]) == 0
    assert "TRADE, 12 trade(s), rebalance=True" in capsys.readouterr().out
    assert json.loads((run / "approved.json").read_text())["kind"] == "TRADE"

    (run / "gates.json").write_text(json.dumps([{"name": "data_quality", "passed": True, "reasons": []}]))
    assert main(["ticket", *common]) == 0
    out = capsys.readouterr().out
    assert out.startswith("TICKET-20240318 TRADE: Place 12 order(s)")
    ticket = json.loads((ws / "tickets" / "TICKET-20240318.json").read_text())
    assert ticket["kind"] == "TRADE" and len(ticket["lines"]) == 12
    assert ticket["gates"] == [{"name": "data_quality", "passed": True, "reasons": []}]
    assert len(ticket["version"]["data"]) == 64 and len(ticket["version"]["config"]) == 64

    # a second, different ticket for the same session is refused
    assert main(["ticket", *common, "--state", "HALT"]) == 2
    assert "already holds a different ticket" in capsys.readouterr().err
    assert main(["ticket", *common, "--state", "HALT", "--state-reason", "owner stopped it", "--replace"]) == 0
    assert json.loads((ws / "tickets" / "TICKET-20240318.json").read_text())["failures"][0]["reasons"] == ["owner stopped it"]


def test_ticket_without_approved_trades_is_no_trade(tmp_path, eod, factory, capsys):
    ws = make_workspace(tmp_path / "ws", eod, factory)
    code = main(["ticket", "--workdir", str(ws), "--session", "2024-03-15", "--run-dir", str(tmp_path / "empty"), "--tickets-dir", str(tmp_path / "t")])
    assert code == 0
    assert "NO-TRADE" in capsys.readouterr().out
    assert json.loads((tmp_path / "t" / "TICKET-20240318.json").read_text())["failures"][0]["name"] == "risk"
