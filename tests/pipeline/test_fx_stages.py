"""A GBP workspace through the data, risk and ticket stages (the stage functions the notebooks call).

The ledger cannot hold GBP fills yet (the ledger half of issue #12), so the preflight is replaced
by a hand-written GBP portfolio.json and the ticket is not recorded in the ledger; everything
else is the real stage code on the offline demo provider.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
import yaml

from tradeops import stages
from tradeops.data import fx as fxmod
from tradeops.data import fx_demo
from tradeops.demo import prepare_workspace
from tradeops.portfolio import PortfolioState

DECISION = date(2025, 1, 8)  # Wednesday; 9 January 2025 the NYSE was closed, so the ticket is for Friday 10th
SESSION = date(2025, 1, 10)


@pytest.fixture
def gbp_ws(tmp_path):
    ws = prepare_workspace(tmp_path / "ws")
    policy = yaml.safe_load(ws.policy_path.read_text())
    policy["account"].update(account_currency="GBP", fx_fee_bps=50)
    ws.policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return ws


def gbp_portfolio(run_dir, cash="10000"):
    PortfolioState(as_of=DECISION, cash=Decimal(cash), positions={}, peak_equity=Decimal(cash), account_currency="GBP").write(run_dir / "portfolio.json")


def run_front(ws, run_dir, run_id="r1"):
    stages.fetch(str(run_dir), str(ws.root), run_id, str(DECISION))
    qa = stages.clean_qa(str(run_dir), str(ws.root), str(DECISION))
    gbp_portfolio(run_dir)
    stages.signal(str(run_dir), str(ws.root), str(DECISION))
    risk = stages.risk(str(run_dir), str(ws.root), str(SESSION), str(DECISION))
    tk = stages.ticket(str(run_dir), str(ws.root), run_id, str(SESSION), str(DECISION), record_in_ledger=False)
    return qa, risk, tk


def test_a_gbp_workspace_gets_its_rate_and_a_ticket_in_pounds(gbp_ws, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    qa, risk, tk = run_front(gbp_ws, run)
    fx_gate = next(g for g in qa.gates if g["name"] == "fx_rate")
    assert fx_gate["passed"] and fx_gate["details"]["date"] == "2025-01-08"
    assert (gbp_ws.root / "data/raw/demo/GBPUSD/2025-01-08_r1.csv").exists()
    assert (gbp_ws.root / "data/clean/fx/GBPUSD.parquet").exists()
    # the rate is the demo series' close of the decision session, to a pip
    demo = fxmod.parse_fx("demo", fxmod.demo_fx_csv(42, "GBPUSD", date(2025, 1, 2), DECISION))
    expected = fxmod.to_rate(float(demo["close"].iloc[-1]))
    report = fxmod.FxReport.load(run / "fx.json")
    assert report.rate.rate == expected and fx_gate["details"]["rate"] == str(expected)
    ticket = json.loads((gbp_ws.tickets_dir / "TICKET-20250110.json").read_text())
    assert ticket["kind"] == "TRADE", ticket["failures"]
    assert ticket["account_currency"] == "GBP" and ticket["fx_rate"] == str(expected) and ticket["fx_date"] == "2025-01-08"
    eod = pd.read_parquet(run / "eod.parquet", columns=["symbol", "date", "close"])
    closes = eod[eod["date"] == pd.Timestamp(DECISION)].set_index("symbol")["close"]
    fee = Decimal("0.005")
    total_fee = Decimal("0")
    for line in ticket["lines"]:
        assert line["side"] == "BUY" and line["amount_currency"] == "GBP" and line["instrument_currency"] == "USD"
        usd = Decimal(repr(float(closes[line["symbol"]]))).quantize(Decimal("0.0001"))
        assert Decimal(line["reference_price"]) == usd  # the band is on the USD price eToro quotes
        assert Decimal(line["do_not_execute_if"]["price"]) == (usd * Decimal("1.03")).quantize(Decimal("0.01"))
        # about amount / (usd / rate) units
        units = Decimal(line["amount"]) / (usd / expected)
        assert abs(Decimal(line["units"]) - units) <= Decimal("0.000001")
        assert Decimal(line["fx_fee"]) >= Decimal(line["amount"]) * fee
        total_fee += Decimal(line["fx_fee"])
    spent = sum(Decimal(line["amount"]) for line in ticket["lines"])
    assert Decimal(ticket["account"]["fx_fees"]) == total_fee
    assert Decimal(ticket["account"]["cash_after"]) == Decimal("10000.00") - spent - total_fee
    assert Decimal(ticket["account"]["cash_after"]) >= Decimal("200.00")  # the 2% buffer holds after the fees


def test_a_gbp_workspace_without_a_rate_for_t_minus_1_gets_a_no_trade_naming_it(gbp_ws, tmp_path, monkeypatch):
    real = fxmod.demo_fx_csv

    def a_day_short(seed, pair, start, end):  # the vendor has not published 8 January yet
        return real(seed, pair, start, date(2025, 1, 7))

    monkeypatch.setattr(fx_demo, "demo_fx_csv", a_day_short)  # what the demo provider calls
    run = tmp_path / "run"
    run.mkdir()
    qa, risk, tk = run_front(gbp_ws, run)
    fx_gate = next(g for g in qa.gates if g["name"] == "fx_rate")
    assert not fx_gate["passed"]
    assert fx_gate["reasons"] == [
        "GBPUSD rate dated 2025-01-07, 1 session(s) before the decision session 2025-01-08 > quality.fx_max_staleness_sessions 0: no rate for 2025-01-08"
    ]
    assert risk.headline == "nothing sized: no valid GBPUSD rate (no rate, no trade)" and not (run / "approved.json").exists()
    ticket = json.loads((gbp_ws.tickets_dir / "TICKET-20250110.json").read_text())
    assert ticket["kind"] == "NO-TRADE" and ticket["lines"] == []
    # bad FX data moves the state as bad bars do (DEGRADED_DATA), with the gate's reasons
    assert [(f["source"], f["name"]) for f in ticket["failures"]] == [("gate", "fx_rate"), ("state", "DEGRADED_DATA")]
    assert ticket["failures"][0]["reasons"] == fx_gate["reasons"] == ticket["failures"][1]["reasons"]
    assert ticket["state"] == "DEGRADED_DATA"
    assert "no valid pound-dollar exchange rate" in ticket["headline"]
    assert not (gbp_ws.root / "data/clean/fx/GBPUSD.parquet").exists()


def test_a_usd_workspace_fetches_no_fx(tmp_path):
    ws = prepare_workspace(tmp_path / "ws", account_currency="USD")
    run = tmp_path / "run"
    run.mkdir()
    stages.fetch(str(run), str(ws.root), "r1", str(DECISION))
    qa = stages.clean_qa(str(run), str(ws.root), str(DECISION))
    assert [g["name"] for g in qa.gates] == ["data_quality"]
    assert not (run / "fx_fetch.json").exists() and not (run / "fx.json").exists()
    assert not (ws.root / "data/raw/demo/GBPUSD").exists()
