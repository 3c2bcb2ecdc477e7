"""A GBP account: golden TRADE and NO-TRADE (missing FX rate) tickets, figures worked out by hand.

Golden files: tests/trading/golden/gbp_trade/ and gbp_no_trade/ (TICKET-20240318.{md,json}).
Regenerate them on purpose only (TRADEOPS_REGEN_GOLDEN=1), and check the figures below first.

The TRADE case
--------------
Decision session Friday 15 March 2024, ticket for Monday 18 March.  GBPUSD on 15 March:
1.2500 USD per pound; the broker's conversion fee is 50 bps of every converted amount.

USD closes and their pound prices (close / 1.25): AAA $125.00 = £100.00, BBB $250.00 = £200.00,
CCC $50.00 = £40.00.

The account (pounds): cash £6,000.00 and 100 CCC (100 x £40.00 = £4,000.00): equity £10,000.00,
at its peak (drawdown 0).  The signal selects AAA (rank 1) and BBB (rank 2); CCC is not selected.
Policy: max_weight 0.5, max_turnover 2.0, min_cash_buffer 0.02, price_band 0.03.

1. Targets: 1/2 each; the cash buffer scales them by 0.98 to 0.49 each, i.e. £4,900.00 each.
2. Trades before shaping: SELL CCC (close, all 100 units, £4,000.00), BUY AAA £4,900.00,
   BUY BBB £4,900.00.
3. Cash after them, with the fee rounded up to the cent on each line:
   6,000.00 + 4,000.00 - 20.00 - 4,900.00 - 24.50 - 4,900.00 - 24.50 = £131.00,
   below the buffer 2% x 10,000.00 = £200.00 by £69.00, so the buys shrink by 69.00 in total:
   k = (9,800 - 69) / 9,800, and each buy becomes 4,900 x 9,731 / 9,800 = £4,865.50.
4. Units: AAA 4,865.50 / 100.00 = 48.655; BBB 4,865.50 / 200.00 = 24.3275.
5. Fees: CCC 4,000.00 x 0.005 = £20.00; AAA and BBB 4,865.50 x 0.005 = 24.3275 -> £24.33 each;
   in all 20.00 + 24.33 + 24.33 = £68.66.
6. Cash after the orders: 6,000.00 + 4,000.00 - 4,865.50 - 4,865.50 - 68.66 = £200.34 (>= £200.00).
7. Bands, in USD as eToro quotes them: SELL CCC not below 50.00 x 0.97 = $48.50; BUY AAA not
   above 125.00 x 1.03 = $128.75; BUY BBB not above 250.00 x 1.03 = $257.50.
8. Turnover (4,000.00 + 4,865.50 + 4,865.50) / 2 / 10,000.00 = 68.655% <= 200%.
9. If the SELL of CCC is not executed, the what-if line counts the conversion fee as the sizing
   does: AAA takes 4,865.50 + 24.33 = £4,889.83, leaving 6,000.00 - 4,889.83 = £1,110.17 for BBB.
   BBB at £200.00 a unit (in micro-units) must cost, rounded half-even to the penny, plus its fee
   rounded up, at most 1,110.17: 5.523225 units = £1,104.645 -> £1,104.64, fee 1,104.64 x 0.005 =
   5.5232 -> £5.53, total £1,110.17 (fits); 5.523226 units = £1,104.6452 -> £1,104.65, + £5.53 =
   £1,110.18 (does not).  So "buy only about £1,104.64" (1,104.645 shown half-even)
   (was £1,134.50 before the fee was counted).

The NO-TRADE case
-----------------
The same account, but the FX series has no rate for 15 March (its last is 14 March): the
fx_rate gate fails with the FX check's reason and the risk stage sizes nothing, so the ticket is
NO-TRADE naming the rate, with the ledger's figures (cash £6,000.00, equity £10,000.00).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D

import pandas as pd
import pytest

from tradeops.config import parse_policy
from tradeops.data.fx import FxReport, assess_fx, fx_gate
from tradeops.errors import DataError, ValidationError
from tradeops.portfolio import PortfolioState
from tradeops.risk import Fx, decide, read_decision, run_risk_stage
from tradeops.tickets import build_ticket, run_ticket_stage, validate_ticket, write_ticket

from .test_tickets import check_golden

SESSION = date(2024, 3, 15)
CODE, CONFIG, DATA = "c0de" * 16, "c0f1" * 16, "da7a" * 16
PRICES = {"AAA": D("125.00"), "BBB": D("250.00"), "CCC": D("50.00"), "SPY": D("510.00")}
FX = Fx("GBP", "GBPUSD", D("1.2500"), SESSION, D("50"))
BOOK = PortfolioState(
    as_of=SESSION, cash=D("6000.00"), positions={"CCC": D("100")}, peak_equity=D("10000"), account_currency="GBP", last_rebalance=date(2024, 3, 11)
)
RANKED = pd.DataFrame({"symbol": ["AAA", "BBB", "CCC"], "rank": [1, 2, 3], "score": [0.9, 0.8, 0.1], "selected": [True, True, False]})
GATES_OK = [{"name": n, "passed": True, "reasons": []} for n in ("kill_switch", "drawdown", "confirmations", "reconciliation", "data_quality")]


@pytest.fixture(scope="module")
def gbp_universe(factory):
    return factory.universe(stocks=("AAA", "BBB", "CCC"), etfs=("SPY",))


@pytest.fixture(scope="module")
def gbp_policy():
    return parse_policy(
        {
            "account": {"account_currency": "GBP", "fx_fee_bps": 50},
            "portfolio": {"max_weight": 0.5, "max_turnover": 2.0, "min_positions": 1, "target_positions": 2},
        }
    )


@pytest.fixture(scope="module")
def window(calendar):
    return calendar.execution_window(date(2024, 3, 18), 5, 60)


def gbp_decision(policy, universe, fx=FX):
    return decide(RANKED, BOOK, PRICES, policy, universe, True, SESSION, strategy="momentum", fx=fx)


def test_golden_gbp_trade_ticket(tmp_path, gbp_policy, gbp_universe, window, factory):
    _, decision = gbp_decision(gbp_policy, gbp_universe)
    assert decision.kind == "TRADE" and decision.equity == D("10000.00") and decision.cash_after == D("200.34")
    assert decision.fx == {"currency": "GBP", "pair": "GBPUSD", "rate": "1.2500", "date": "2024-03-15", "fee_bps": "50", "fees": "68.66"}
    t = build_ticket(decision, GATES_OK, window, gbp_policy, gbp_universe, CODE, CONFIG, DATA, SESSION)
    got = [(ln.side, ln.symbol, ln.value, ln.units, ln.reference_price, ln.band_price, ln.fx_fee, ln.close_position) for ln in t.lines]
    assert got == [
        ("SELL", "CCC", D("4000.00"), D("100"), D("50.00"), D("48.50"), D("20.00"), True),
        ("BUY", "AAA", D("4865.50"), D("48.655"), D("125.00"), D("128.75"), D("24.33"), False),
        ("BUY", "BBB", D("4865.50"), D("24.3275"), D("250.00"), D("257.50"), D("24.33"), False),
    ]
    data = t.to_dict()
    validate_ticket(data)
    assert (data["account_currency"], data["fx_pair"], data["fx_rate"], data["fx_date"], data["fx_fee_bps"]) == ("GBP", "GBPUSD", "1.2500", "2024-03-15", "50")
    assert data["account"] == {"equity": "10000.00", "cash_before": "6000.00", "cash_after": "200.34", "drawdown": "0", "fx_fees": "68.66"}
    line = data["lines"][1]
    assert (line["amount"], line["amount_currency"], line["units"], line["reference_price"], line["do_not_execute_if"], line["fx_rate"], line["fx_fee"]) == (
        "4865.50",
        "GBP",
        "48.655",
        "125.00",
        {"price": "128.75", "is": "above"},
        "1.2500",
        "24.33",
    )
    md, js = write_ticket(t, tmp_path)
    text = md.read_text()
    assert "**BUY AAA** — £4,865.50 (about 48.655 units at ~$125.00; £100.00 a unit at 1.2500 USD per GBP, conversion fee about £24.33)" in text
    assert "is above $128.75 (3% band)" in text and "is below $48.50" in text
    assert "| FX rate | 1 GBP = 1.2500 USD (GBPUSD of Friday 15 March 2024); conversion fee 50 bps |" in text
    assert "Cash after all orders: about £200.34." in text and "about £68.66 on these orders" in text
    assert "check that the available cash is £6,000.00 (within £5.00)" in text
    assert "If line 1 (SELL CCC) is not executed: buy only about £1,104.64 on line 3 (BBB)." in text
    check_golden("gbp_trade", md, js, factory)
    rec = t.ledger_record()["lines"][1]
    assert rec["currency"] == "GBP" and rec["value"] == D("4865.50") and rec["reference_price"] == D("125.00")
    assert rec["details"]["fx_rate"] == "1.2500" and rec["details"]["instrument_currency"] == "USD"


def test_golden_gbp_no_trade_ticket_for_a_missing_fx_rate(tmp_path, gbp_policy, gbp_universe, calendar, factory):
    s = pd.DataFrame({"date": pd.to_datetime(["2024-03-13", "2024-03-14"]), "close": [1.2790, 1.2741]})
    report = assess_fx(s, "GBPUSD", SESSION, gbp_policy.quality)
    run = tmp_path / "run"
    run.mkdir()
    report.save(run / "fx.json")
    assert run_risk_stage(run, tmp_path / "none.parquet", tmp_path / "none.json", gbp_policy, gbp_universe, SESSION) is None
    assert not (run / "approved.json").exists()  # nothing sized on a missing rate
    gates = [*GATES_OK, fx_gate(FxReport.load(run / "fx.json"))]
    t, md, js = run_ticket_stage(
        run, tmp_path / "tickets", gbp_policy, gbp_universe, SESSION, gates, CODE, CONFIG, DATA, ledger_account={"cash": D("6000.00"), "equity": D("10000.00")}
    )
    assert t.kind == "NO-TRADE" and t.lines == () and [(f.source, f.name) for f in t.failures] == [("gate", "fx_rate")]
    assert t.headline == "Do not trade today (Monday 18 March 2024): no valid pound-dollar exchange rate."
    text = md.read_text()
    assert (
        "GBPUSD rate dated 2024-03-14, 1 session(s) before the decision session 2024-03-15 > quality.fx_max_staleness_sessions 0: no rate for 2024-03-15"
    ) in text
    assert "The account is in pounds and the run has no exchange rate it can trust" in text
    data = json.loads(js.read_text())
    assert data["account"] == {"equity": "10000.00", "cash_before": "6000.00", "cash_after": "6000.00", "drawdown": "0"}
    assert "fx_rate" not in data and data["account_currency"] == "GBP"
    check_golden("gbp_no_trade", md, js, factory)


def test_risk_stage_sizes_in_pounds_from_the_runs_fx_report(tmp_path, gbp_policy, gbp_universe):
    """The file stage: signals + portfolio.json + eod.parquet + fx.json -> approved.json in pounds (same figures as above)."""
    from tradeops.data.fx import FxRate, fx_check
    from tradeops.signals import Regime, SignalResult, write_signal

    run = tmp_path / "run"
    regime = Regime("SPY", 200, 510.0, 480.0, False, "SPY above its 200-session average")
    write_signal(SignalResult(SESSION, "momentum", RANKED, {}, "two names selected", regime, []), run)
    eod = pd.DataFrame({"symbol": list(PRICES), "date": pd.Timestamp(SESSION), "close": [float(p) for p in PRICES.values()]})
    eod.to_parquet(tmp_path / "eod.parquet")
    BOOK.write(run / "portfolio.json")
    # no fx.json yet: nothing is sized
    assert run_risk_stage(run, tmp_path / "eod.parquet", run / "portfolio.json", gbp_policy, gbp_universe, SESSION, rebalance=True) is None
    rate = FxRate("GBPUSD", D("1.2500"), SESSION, "demo", "data/raw/demo/GBPUSD/2024-03-15_r1.csv")
    FxReport("GBPUSD", SESSION, (fx_check("fx_fresh", True, "ok", 0),), rate).save(run / "fx.json")
    decision = run_risk_stage(run, tmp_path / "eod.parquet", run / "portfolio.json", gbp_policy, gbp_universe, SESSION, rebalance=True)
    assert decision.kind == "TRADE" and decision.cash_after == D("200.34")
    approved = read_decision(run / "approved.json")
    assert approved.fx["rate"] == "1.2500" and approved.fx["fees"] == "68.66"
    assert [t.instrument_price for t in approved.trades] == [D("50.00"), D("125.00"), D("250.00")]
    assert [t.price for t in approved.trades] == [D("40.00000000"), D("100.00000000"), D("200.00000000")]
    assert [t.value for t in approved.trades] == [D("4000.00"), D("4865.50"), D("4865.50")]
    # a failed FX report: the stale approved.json goes, nothing is sized
    FxReport("GBPUSD", SESSION, (fx_check("fx_fresh", False, "no rate for 2024-03-15", 0),), None).save(run / "fx.json")
    assert run_risk_stage(run, tmp_path / "eod.parquet", run / "portfolio.json", gbp_policy, gbp_universe, SESSION, rebalance=True) is None
    assert not (run / "approved.json").exists()
    # a GBP policy over a ledger still in USD: refused by name, never sized in the wrong currency
    FxReport("GBPUSD", SESSION, (fx_check("fx_fresh", True, "ok", 0),), rate).save(run / "fx.json")
    replace_ccy = PortfolioState(as_of=SESSION, cash=D("6000.00"), positions={}, peak_equity=D("6000"), account_currency="USD")
    replace_ccy.write(run / "portfolio.json")
    with pytest.raises(DataError, match="policy account.account_currency is GBP, but the ledger's cash .* is in USD"):
        run_risk_stage(run, tmp_path / "eod.parquet", run / "portfolio.json", gbp_policy, gbp_universe, SESSION, rebalance=True)


def test_a_gbp_account_is_never_sized_without_a_rate_and_a_usd_one_never_with_one(gbp_policy, gbp_universe, policy, universe):
    with pytest.raises(DataError, match="a GBP account is sized at the day's GBPUSD rate, and none was given"):
        decide(RANKED, BOOK, PRICES, gbp_policy, gbp_universe, True, SESSION)
    usd_book = PortfolioState(as_of=SESSION, cash=D("6000"), positions={}, peak_equity=D("6000"))
    with pytest.raises(DataError, match="a USD account converts nothing"):
        decide(RANKED, usd_book, PRICES, gbp_policy, gbp_universe, True, SESSION, fx=FX)


@pytest.mark.parametrize(
    "rate,fee,err",
    [
        (D("0"), D("50"), "is not a rate"),
        (D("-1.27"), D("0"), "is not a rate"),
        (D("1.27"), D("-1"), r"account.fx_fee_bps -1 is outside \[0, 500\]"),
        (D("1.27"), D("501"), r"outside \[0, 500\]"),
    ],
)
def test_fx_is_validated_at_construction(rate, fee, err):
    with pytest.raises((DataError, Exception), match=err):
        Fx("GBP", "GBPUSD", rate, SESSION, fee)
    assert repr(FX) == "Fx(GBPUSD 1.2500 on 2024-03-15, fee 50 bps)"


def test_fee_is_in_the_cash_check(gbp_policy, gbp_universe):
    """Without the fee the same book keeps £131.00 + 69.00 of shrink... with a 0 bps fee there is no shrink:
    cash after = 10,000.00 - 2 x 4,900.00 = £200.00, exactly the buffer."""
    zero = Fx("GBP", "GBPUSD", D("1.2500"), SESSION, D("0"))
    _, decision = gbp_decision(gbp_policy, gbp_universe, zero)
    assert [t.value for t in decision.trades] == [D("4000.00"), D("4900.00"), D("4900.00")]
    assert decision.cash_after == D("200.00") and decision.fx["fees"] == "0"


def test_schema_requires_the_rate_on_a_gbp_trade_ticket(gbp_policy, gbp_universe, window):
    _, decision = gbp_decision(gbp_policy, gbp_universe)
    data = build_ticket(decision, GATES_OK, window, gbp_policy, gbp_universe, CODE, CONFIG, DATA, SESSION).to_dict()
    for key in ("fx_rate", "fx_date"):
        broken = {k: v for k, v in data.items() if k != key}
        with pytest.raises(ValidationError, match=key):
            validate_ticket(broken)
    broken = json.loads(json.dumps(data))
    del broken["lines"][0]["amount"]
    with pytest.raises(ValidationError, match="amount"):
        validate_ticket(broken)


@pytest.mark.parametrize(
    "closes,check",
    [
        ([1.2790, 1.2741, 0.0], "fx_valid"),  # a zero rate for 15 March
        ([1.2790, 1.2741, -1.2736], "fx_valid"),  # negative
        ([1.2790, 1.2741, 12.736], "fx_plausible"),  # 10x off (pence for pounds)
        ([1.2790, 1.2741, 0.12736], "fx_plausible"),  # a tenth
        ([1.2790, 1.2741, 1.45], "fx_jump"),  # an absurd jump: ln(1.45 / 1.2741) = 0.1292 > 0.10
    ],
)
def test_bad_fx_rates_give_a_no_trade_naming_the_check_never_a_sized_ticket(tmp_path, gbp_policy, gbp_universe, closes, check):
    s = pd.DataFrame({"date": pd.to_datetime(["2024-03-13", "2024-03-14", "2024-03-15"]), "close": closes})
    report = assess_fx(s, "GBPUSD", SESSION, gbp_policy.quality)
    assert check in [c.code for c in report.checks if not c.passed]
    run = tmp_path / "run"
    run.mkdir()
    report.save(run / "fx.json")
    assert run_risk_stage(run, tmp_path / "none.parquet", tmp_path / "none.json", gbp_policy, gbp_universe, SESSION) is None
    gates = [*GATES_OK, fx_gate(report)]
    t, md, js = run_ticket_stage(
        run, tmp_path / "tickets", gbp_policy, gbp_universe, SESSION, gates, CODE, CONFIG, DATA, ledger_account={"cash": D("6000.00"), "equity": D("10000.00")}
    )
    assert t.kind == "NO-TRADE" and t.lines == () and [f.name for f in t.failures] == ["fx_rate"]
    assert t.failures[0].reasons == tuple(report.reasons) and all(r in md.read_text() for r in report.reasons)
