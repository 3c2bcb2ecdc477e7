"""Tickets: golden TRADE / HOLD / NO-TRADE tickets through the file stages, schema, one per session.

Golden files live in tests/trading/golden/<case>/TICKET-20240318.{md,json}.  After a deliberate
change, this writes each differing ticket beside its golden as ``.new`` and fails with the diff
(tests/golden.py); read it, then move the file into place:

    TRADEOPS_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/trading/test_tickets.py -k golden
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from .. import golden
from tradeops.errors import ValidationError
from tradeops.portfolio import PortfolioState
from tradeops.risk import run_risk_stage
from tradeops.signals import run_signal_stage
from tradeops.tickets import build_ticket, read_gates, run_ticket_stage, validate_ticket, write_ticket

SESSION = date(2024, 3, 15)  # decision session (Friday); the ticket is for Monday 18 March
CODE, CONFIG, DATA = "c0de" * 16, "c0f1" * 16, "da7a" * 16

# Prices on 2024-03-15 in the seeded market: TXN 297.31, KO 230.70, AAPL 141.34, XOM 123.94,
# JNJ 94.53, PEP 224.23.  Equity is 20,000.00 (to the cent); the target weight is 0.98 / 15.
TRADE_BOOK = PortfolioState(
    as_of=SESSION,
    cash=D("15138.57"),
    positions={"TXN": D("4.4"), "KO": D("8"), "AAPL": D("5"), "XOM": D("3.5"), "JNJ": D("6")},
    peak_equity=D("21000"),
    last_rebalance=date(2024, 3, 11),
)
# The same book after a week of drift: PEP is 10.09% (a $18 trim: a tiny delta).
HOLD_BOOK = replace(TRADE_BOOK, cash=D("13120.50"), positions={**TRADE_BOOK.positions, "PEP": D("9")}, last_rebalance=date(2024, 3, 18))
GATES_OK = [
    {"name": "kill_switch", "passed": True, "reasons": []},
    {"name": "drawdown", "passed": True, "reasons": []},
    {"name": "confirmations", "passed": True, "reasons": []},
    {"name": "reconciliation", "passed": True, "reasons": []},
    {"name": "data_quality", "passed": True, "reasons": []},
]
GATES_BAD = [
    *GATES_OK[:3],
    {"name": "reconciliation", "passed": False, "reasons": ["cash differs by 42.10 (ledger 15,138.57, broker 15,096.47) > tolerance 5.00: a missing fee?"]},
    {"name": "data_quality", "passed": False, "reasons": ["coverage 93.8% < 98.0% on 2024-03-15 (ACN, ADBE missing)"]},
]


@pytest.fixture(scope="module")
def parquet(eod, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "eod.parquet"
    eod.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def golden_policy(factory):
    return factory.policy(no_buy=("INTC",))


def run_stages(tmp_path, parquet, policy, universe, book, rebalance=None, gates=GATES_OK, state="RUN", state_reasons=()):
    """signal -> risk -> ticket, each through its files, exactly as the pipeline runs them."""
    run_dir = tmp_path / "run"
    run_signal_stage(parquet, policy, universe, SESSION, run_dir)
    book.write(run_dir / "portfolio.json")
    run_risk_stage(run_dir, parquet, run_dir / "portfolio.json", policy, universe, SESSION, rebalance)
    (run_dir / "gates.json").write_text(json.dumps(gates))
    return run_ticket_stage(
        run_dir, tmp_path / "tickets", policy, universe, SESSION, read_gates(run_dir / "gates.json"), CODE, CONFIG, DATA, state, state_reasons
    )


def check_golden(case, md_path, json_path, factory):
    for produced in (md_path, json_path):
        golden.check(factory.golden / case / produced.name, produced.read_text())


def test_golden_trade_ticket(tmp_path, parquet, golden_policy, universe, factory):
    t, md, js = run_stages(tmp_path, parquet, golden_policy, universe, TRADE_BOOK)
    assert t.kind == "TRADE" and t.ticket_id == "TICKET-20240318" and t.rebalance  # Monday after last week's rebalance
    sides = [line.side for line in t.lines]
    assert sides[:3] == ["SELL"] * 3 and set(sides[3:]) == {"BUY"}
    assert {line.symbol for line in t.lines if line.close_position} == {"AAPL", "XOM"}
    assert "INTC" not in {line.symbol for line in t.lines}  # on the no-buy list
    assert [d["symbol"] for d in t.tiny_deltas] == ["TXN"]
    check_golden("trade", md, js, factory)


def test_golden_hold_ticket(tmp_path, parquet, golden_policy, universe, factory):
    t, md, js = run_stages(tmp_path, parquet, golden_policy, universe, HOLD_BOOK)
    assert t.kind == "HOLD" and not t.rebalance and t.lines == ()
    assert [(d["side"], d["symbol"]) for d in t.tiny_deltas] == [("SELL", "PEP")]
    check_golden("hold", md, js, factory)


def test_golden_no_trade_ticket(tmp_path, parquet, golden_policy, universe, factory):
    t, md, js = run_stages(
        tmp_path, parquet, golden_policy, universe, TRADE_BOOK, gates=GATES_BAD, state="SAFE_MODE", state_reasons=["the reconciliation gate failed"]
    )
    assert t.kind == "NO-TRADE" and t.lines == ()
    assert [(f.source, f.name) for f in t.failures] == [("gate", "reconciliation"), ("gate", "data_quality"), ("state", "SAFE_MODE")]
    text = md.read_text()
    for f in GATES_BAD[3:]:  # every failed gate, with its reason and what to do
        assert f["reasons"][0] in text
    assert "Enter a fresh broker snapshot" in text and "market data failed its checks" in text
    check_golden("no_trade", md, js, factory)


# --------------------------------------------------------------------------- pure builder


@pytest.fixture(scope="module")
def trade_decision(tmp_path_factory, parquet, golden_policy, universe):
    tmp = tmp_path_factory.mktemp("decision")
    run_signal_stage(parquet, golden_policy, universe, SESSION, tmp)
    TRADE_BOOK.write(tmp / "portfolio.json")
    return run_risk_stage(tmp, parquet, tmp / "portfolio.json", golden_policy, universe, SESSION)


@pytest.fixture(scope="module")
def window(calendar):
    return calendar.execution_window(date(2024, 3, 18), 5, 60)


def test_lines_carry_bands_units_and_search_names(trade_decision, window, golden_policy, universe):
    t = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    for line in t.lines:
        ref = line.reference_price
        if line.side == "BUY":
            assert line.band_price == (ref * D("1.03")).quantize(D("0.01")) and line.band_side == "above"
        else:
            assert line.band_price == (ref * D("0.97")).quantize(D("0.01")) and line.band_side == "below"
        assert line.etoro_search_name == universe[line.symbol].etoro_search_name
        assert line.value.quantize(D("0.01")) == line.value or line.close_position
    md = t.to_markdown()
    first_buy = next(line for line in t.lines if line.side == "BUY")
    assert f"**BUY {first_buy.symbol}** — ${first_buy.value:,.2f} (about {first_buy.units.normalize():f} units at ~${first_buy.reference_price:,.2f})" in md
    assert f"Do not execute if eToro's BUY price (the higher one, what you pay) is above ${first_buy.band_price:,.2f} (3% band)." in md
    first_sell = next(line for line in t.lines if line.side == "SELL")
    assert f"Do not execute if eToro's SELL price (the lower one, what you get) is below ${first_sell.band_price:,.2f}" in md
    company = universe[first_buy.symbol].notes
    assert company and f'eToro search: "{first_buy.etoro_search_name}" ({company})' in md
    assert t.to_dict()["lines"][0]["compare_price"] == first_sell.side.lower()


def test_no_trade_for_unconfirmed_lines_reads_plainly_with_the_ledger_figures(window, golden_policy, universe):
    """The issue's NO-TRADE: previous ticket unconfirmed, SAFE_MODE, the run stopped before the risk stage."""
    missing = [f"TICKET-20240315 line {n} (BUY {s} ~1,000.00) has no confirmation" for n, s in enumerate(["AMT", "NVDA", "SO", "PEP", "CB"], 1)]
    gates = [{"name": "kill_switch", "passed": True}, {"name": "confirmations", "passed": False, "reasons": missing}]
    t = build_ticket(
        None,
        gates,
        window,
        golden_policy,
        universe,
        CODE,
        CONFIG,
        DATA,
        SESSION,
        state="SAFE_MODE",
        state_reasons=["the confirmations gate failed"],
        ledger_account={"cash": D("1104.40"), "equity": D("20431.17")},
    )
    md = t.to_markdown()
    why = md.split("## Why there is no trade today")[1].split("## Before you start")[0]
    assert "5 lines of ticket TICKET-20240315 are not confirmed: AMT, NVDA, SO, PEP, CB." in why
    assert why.count("NVDA") == 1  # the list once, not once per gate and once more for the state
    assert "`" not in why and "SAFE_MODE" not in why and "confirmations" not in why.lower().replace("confirmation page", "")
    assert "restarts by itself once the ledger and the broker agree" not in md  # the SAFE_MODE advice of a reconciliation failure
    assert "record what happened to every line of the previous ticket" in why
    assert "equity $20,431.17, cash $1,104.40" in md and "$0.00" not in md
    assert t.to_dict()["account"]["cash_before"] == "1104.40"
    assert "SAFE_MODE" not in t.headline and "confirmations" not in t.headline
    t.to_json()  # valid against the schema


def test_window_and_expiry_are_uk_local_and_dst_aware(trade_decision, golden_policy, universe, calendar):
    # 18 March 2024: New York is on summer time, London not yet -> the open is 13:30 UK
    march = build_ticket(trade_decision, GATES_OK, calendar.execution_window(date(2024, 3, 18), 5, 60), golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    assert march.to_dict()["window"]["start"] == "2024-03-18T13:35:00+00:00"
    assert march.to_dict()["expires_at"] == "2024-03-18T14:30:00+00:00"
    # 8 April 2024: both on summer time -> 14:35 BST
    april = build_ticket(trade_decision, GATES_OK, calendar.execution_window(date(2024, 4, 8), 5, 60), golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    assert april.to_dict()["window"]["start"] == "2024-04-08T14:35:00+01:00"
    assert "14:35–15:30 UK time (BST)" in april.to_markdown()


def test_whole_units_tickets_say_units_first(tmp_path, parquet, factory, universe):
    pol = factory.policy(fractional_units=False)
    t, md, _ = run_stages(tmp_path, parquet, pol, universe, TRADE_BOOK)
    assert t.kind == "TRADE" and all(line.enter_by == "units" for line in t.lines)
    assert all(line.units == line.units.to_integral_value() for line in t.lines if not line.close_position)
    assert "**BUY" in md.read_text() and " units (about $" in md.read_text()
    assert "Enter each order **by units**" in md.read_text()


def test_no_trade_when_the_state_is_halt_even_if_gates_pass(trade_decision, window, golden_policy, universe):
    t = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION, state="HALT")
    assert t.kind == "NO-TRADE" and t.lines == ()
    assert t.failures[0].reasons == ("the operating state is HALT; only RUN may trade",)
    assert "resumes it with a reason" in t.failures[0].action
    assert "HALT" not in t.to_markdown().split("## Why there is no trade today")[1].split("## Before")[0]


def test_no_trade_when_the_risk_stage_never_ran(window, golden_policy, universe):
    t = build_ticket(None, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    assert t.kind == "NO-TRADE"
    assert t.failures[0].name == "risk" and "did not run" in t.failures[0].reasons[0]
    t.to_json()  # still a valid ticket


def test_no_trade_names_a_failed_risk_rule(trade_decision, window, golden_policy, universe):
    from tradeops.risk import rule_result

    bad = replace(trade_decision, kind="NO-TRADE", trades=(), rules=trade_decision.rules + (rule_result("max_weight", False, "AAPL would be 12.0%"),))
    t = build_ticket(bad, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    assert t.kind == "NO-TRADE" and [(f.source, f.name, f.reasons) for f in t.failures] == [("rule", "max_weight", ("AAPL would be 12.0%",))]


def test_version_hash_covers_code_config_and_data(trade_decision, window, golden_policy, universe):
    a = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    b = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, "f" * 64, SESSION)
    assert a.version["hash"] != b.version["hash"] and len(a.version["hash"]) == 64


def test_schema_rejects_a_broken_ticket(trade_decision, window, golden_policy, universe):
    data = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION).to_dict()
    validate_ticket(data)
    data["lines"][0]["value"] = "12.3"
    data["kind"] = "MAYBE"
    with pytest.raises(ValidationError, match=r"kind: 'MAYBE' is not one of .*lines/0/value: '12.3' does not match"):
        validate_ticket(data)
    data = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION).to_dict()
    data["failures"] = [{"source": "gate", "name": "x", "reasons": ["y"], "action": "z"}]
    with pytest.raises(ValidationError, match="failures"):
        validate_ticket(data)  # a TRADE ticket cannot carry failures


def test_one_ticket_per_session(tmp_path, trade_decision, window, golden_policy, universe):
    t = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    md, js = write_ticket(t, tmp_path)
    assert write_ticket(t, tmp_path) == (md, js)  # the same ticket again: nothing changes
    other = build_ticket(trade_decision, GATES_BAD, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    with pytest.raises(ValidationError, match="already holds a different ticket for 2024-03-18"):
        write_ticket(other, tmp_path)
    assert json.loads(js.read_text())["kind"] == "TRADE"
    write_ticket(other, tmp_path, replace=True)
    assert json.loads(js.read_text())["kind"] == "NO-TRADE"


def test_ledger_record_has_one_intended_trade_per_line(trade_decision, window, golden_policy, universe):
    t = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    rec = t.ledger_record()
    assert rec["ticket"]["ticket_id"] == "TICKET-20240318" and rec["ticket"]["kind"] == "TRADE"
    assert rec["ticket"]["session_date"] == date(2024, 3, 18)
    assert rec["ticket"]["payload"] == json.loads(t.to_json())
    assert [(x["line_no"], x["side"], x["symbol"]) for x in rec["lines"]] == [(line.seq, line.side, line.symbol) for line in t.lines]
    for x in rec["lines"]:
        assert all(isinstance(x[k], D) for k in ("value", "approx_units", "reference_price", "band"))
        assert x["value"] > 0 and x["approx_units"] > 0 and x["currency"] == "USD"


def test_gate_file_errors_are_clear(tmp_path):
    bad = tmp_path / "gates.json"
    bad.write_text("{not json")
    with pytest.raises(ValidationError, match="not valid JSON"):
        read_gates(bad)
    bad.write_text('[{"name": "x"}]')
    with pytest.raises(ValidationError, match="boolean 'passed'"):
        read_gates(bad)
    with pytest.raises(ValidationError, match="gate results not found"):
        read_gates(tmp_path / "missing.json")
    assert read_gates(None) == []


def test_unknown_state_is_refused(trade_decision, window, golden_policy, universe):
    with pytest.raises(ValidationError, match="state 'PAUSED' is unknown"):
        build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION, state="PAUSED")


# --------------------------------------------------------------------------- the drawdown halt


def test_a_drawdown_breach_gives_a_trade_ticket_of_sells_to_cash(tmp_path, parquet, golden_policy, universe):
    """Equity 20,000 against a peak of 30,000 (33% down, limit 20%): the ticket sells the five
    holdings in full, buys nothing, and its state is HALT; with another gate failing too it is
    NO-TRADE instead (an untrusted ledger is no basis for selling)."""
    book = replace(TRADE_BOOK, peak_equity=D("30000"))
    dd_gate = {"name": "drawdown", "passed": False, "reasons": ["equity 20,000.00 is 33.33% below its peak"]}
    gates = [GATES_OK[0], dd_gate, *GATES_OK[2:]]
    t, md, js = run_stages(tmp_path / "a", parquet, golden_policy, universe, book, gates=gates, state="HALT", state_reasons=["the drawdown gate failed"])
    assert t.kind == "TRADE" and t.state == "HALT" and t.failures == ()
    assert {(line.side, line.symbol, line.close_position, line.units) for line in t.lines} == {("SELL", s, True, u) for s, u in TRADE_BOOK.positions.items()}
    assert "Risk-off" in t.headline and "nothing is bought" in t.headline
    assert t.why["risk_off"]["applied"] and "then HALT" in t.why["risk_off"]["reasons"][0]
    assert D(t.account["cash_after"]) == D("20000.00")
    validate_ticket(json.loads(js.read_text()))
    assert "Risk-off" in md.read_text()
    t2, _, _ = run_stages(tmp_path / "b", parquet, golden_policy, universe, book, gates=[*gates[:3], GATES_BAD[3], gates[4]], state="HALT")
    assert t2.kind == "NO-TRADE" and t2.lines == () and ("gate", "reconciliation") in [(f.source, f.name) for f in t2.failures]


def test_the_scoring_model_is_part_of_the_version(trade_decision, window, golden_policy, universe):
    import hashlib

    plain = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION)
    model = "qlib_lgbm-0123456789ab.20240301.fedcba987654"
    t = build_ticket(trade_decision, GATES_OK, window, golden_policy, universe, CODE, CONFIG, DATA, SESSION, model_id=model)
    assert plain.version["hash"] == hashlib.sha256(f"{CODE}:{CONFIG}:{DATA}".encode()).hexdigest() and "model" not in plain.version
    assert t.version == {
        "hash": hashlib.sha256(f"{CODE}:{CONFIG}:{DATA}:{model}".encode()).hexdigest(),
        "code": CODE,
        "config": CONFIG,
        "data": DATA,
        "model": model,
    }
    validate_ticket(t.to_dict())
    assert f"model `{model}`" in t.to_markdown()
