"""Risk guard: rule limits, shaping, checks, risk-off, tiny deltas, rebalance days, files."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D

import pandas as pd
import pytest

from tradeops.config import parse_policy
from tradeops.errors import ConfigError, DataError
from tradeops.portfolio import PortfolioState
from tradeops.risk import (
    CashBuffer,
    DrawdownKillSwitch,
    KnownTradable,
    LongOnly,
    MaxPositions,
    MaxTurnover,
    MaxWeight,
    MinOrderValue,
    NoBuy,
    TinyDeltas,
    TradeLine,
    decide,
    make_book,
    read_decision,
    rebalance_due,
    reference_prices,
    rules_from_policy,
    run_risk_stage,
    turnover,
)
from tradeops.signals import compute_signal, write_signal

SESSION = date(2024, 3, 15)


def ranked(symbols, selected=None):
    n = len(symbols)
    sel = [True] * n if selected is None else [i < selected for i in range(n)]
    return pd.DataFrame({"symbol": symbols, "score": [1 - i / max(n, 1) for i in range(n)], "rank": range(1, n + 1), "selected": sel})


def pf(cash="10000", peak="0", **units):
    return PortfolioState(as_of=SESSION, cash=D(cash), positions={k: D(v) for k, v in units.items()}, peak_equity=D(peak))


PRICES = {s: D(p) for s, p in {"AAPL": "100", "MSFT": "200", "NVDA": "50", "KO": "60", "XOM": "110", "JPM": "150", "PEP": "170", "IBM": "130"}.items()}


def run(policy, universe, portfolio, symbols, rebalance=True, selected=None, prices=PRICES, **kw):
    return decide(ranked(symbols, selected), portfolio, prices, policy, universe, rebalance, SESSION, **kw)[1]


# --------------------------------------------------------------------------- rule objects


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: MaxWeight(0), r"max_weight: max_weight must be in \(0, 1\], got 0"),
        (lambda: MaxWeight(1.5), r"max_weight must be in \(0, 1\], got 1.5"),
        (lambda: MaxPositions(0), r"max_positions: max_positions must be in \[1, 1000\], got 0"),
        (lambda: MaxPositions(2.5), r"max_positions must be an integer, got 2.5"),
        (lambda: CashBuffer(1.0), r"cash_buffer: min_cash_buffer must be in \[0, 1\), got 1.0"),
        (lambda: CashBuffer(-0.1), r"min_cash_buffer must be in \[0, 1\), got -0.1"),
        (lambda: MaxTurnover(0), r"max_turnover must be in \(0, 2\], got 0"),
        (lambda: MaxTurnover(3), r"max_turnover must be in \(0, 2\], got 3"),
        (lambda: DrawdownKillSwitch(1.0), r"max_drawdown must be in \(0, 1\), got 1.0"),
        (lambda: MinOrderValue(D("-1")), r"min_order_value must be in \[0, 1000000\], got Decimal\('-1'\)"),
        (lambda: TinyDeltas(D("10"), 0.9), r"tiny_delta_weight must be in \[0, 0.5\], got 0.9"),
        (lambda: NoBuy(["AAPL", ""]), r"no_buy: symbols must be non-empty strings"),
        (lambda: KnownTradable([], []), r"known must be a non-empty set"),
        (lambda: KnownTradable(["A"], ["A", "B"]), r"tradable symbols \['B'\] are not in the known set"),
    ],
)
def test_rules_validate_limits_at_construction(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_rule_reprs_show_their_limits(policy, universe):
    reprs = [repr(r) for r in rules_from_policy(policy, universe)]
    assert "MaxWeight(max_weight=0.1)" in reprs
    assert "MaxPositions(max_positions=20)" in reprs
    assert "CashBuffer(min_cash_buffer=0.02)" in reprs
    assert "MaxTurnover(max_turnover=0.5)" in reprs
    assert "DrawdownKillSwitch(max_drawdown=0.2)" in reprs
    assert "TinyDeltas(tiny_delta_value='25', tiny_delta_weight=0.005)" in reprs
    assert "NoBuy(symbols=[])" in reprs and "LongOnly()" in reprs


def _book(portfolio, prices=PRICES):
    return make_book(portfolio, prices, ranked([]), SESSION)


def test_checks_return_reasons_instead_of_raising():
    book = _book(pf(cash="1000", AAPL="10"))  # equity 2000
    buy = TradeLine("BUY", "MSFT", D("900"), D("4.5"), D("200"))
    short = TradeLine("SELL", "AAPL", D("1500"), D("15"), D("100"))
    assert MaxWeight(0.4).check([buy], book).message.startswith("MSFT would be 45.0% of equity")
    assert not MaxWeight(0.4).check([buy], book).passed
    r = CashBuffer(0.1).check([buy], book)
    assert not r.passed and "cash after trading 100.00 is below the buffer 200.00" in r.message
    r = LongOnly().check([short], book)
    assert not r.passed and "SELL AAPL 1,500.00 is more than the 1,000.00 held" in r.message
    r = MaxTurnover(0.2).check([buy], book)
    assert not r.passed and "turnover 22.50% above the cap 20.0%" in r.message
    assert NoBuy(["MSFT"]).check([buy], book).message == "BUY of MSFT, which the policy lists under portfolio.no_buy"
    r = MaxPositions(1).check([buy], book)
    assert not r.passed and "2 positions after trading > max 1, and the ticket opens MSFT" in r.message
    r = KnownTradable(["AAPL", "SPY"], ["AAPL"]).check([buy], book)
    assert not r.passed and "MSFT is not in the universe" in r.message
    r = MinOrderValue(D("1000")).check([buy], book)
    assert not r.passed and "small trades left on the ticket: BUY MSFT 900.00 (below the minimum order 1,000.00)" in r.message
    assert all(rule.check([], book).passed for rule in (MaxWeight(0.4), CashBuffer(0.1), LongOnly(), MaxTurnover(0.2), MaxPositions(1)))


def test_drawdown_and_kill_switch_fail_even_with_no_trades():
    deep = _book(pf(cash="7900", peak="10000"))
    r = DrawdownKillSwitch(0.2).check([], deep)
    assert not r.passed and r.message == "drawdown 21.0% from peak equity 10,000.00 is at or past the kill-switch limit 20.0%"
    on = make_book(PortfolioState(SESSION, D("100"), kill_switch=True, kill_switch_reason="owner on holiday"), PRICES, ranked([]), SESSION)
    r = DrawdownKillSwitch(0.2).check([], on)
    assert not r.passed and "kill switch is on (owner on holiday)" in r.message


# --------------------------------------------------------------------------- the guard


def test_fresh_account_rebalance_trades_within_every_limit(policy, universe):
    d = run(policy, universe, pf(cash="10000"), ["AAPL", "MSFT", "NVDA", "KO", "XOM"])
    assert d.kind == "TRADE" and all(r.passed for r in d.rules)
    assert [t.side for t in d.trades] == ["BUY"] * 5
    # 5 names at 20% are clipped to the 10% max weight; the rest stays cash
    assert all(t.value == D("1000.00") for t in d.trades)
    assert any(n.startswith("max_weight: AAPL target 20.0% clipped to 10.0%") for n in d.notes)
    assert d.cash_after == D("5000")


def test_turnover_cap_scales_buys_and_sells_come_first(factory, universe):
    pol = factory.policy(max_weight=0.3, max_turnover=0.3, target_positions=10, min_positions=3)
    d = run(pol, universe, pf(cash="0", KO="100", XOM="50"), ["AAPL", "MSFT", "NVDA"])  # equity 11,500
    sides = [t.side for t in d.trades]
    assert sides == sorted(sides, key=lambda s: s != "SELL"), "sells before buys"
    assert {t.symbol for t in d.trades if t.side == "SELL"} == {"KO", "XOM"}
    assert turnover(d.trades, d.equity) <= D("0.3")
    assert any("max_turnover" in n for n in d.notes)


def test_non_rebalance_day_is_hold_and_lists_nothing(policy, universe):
    d = run(policy, universe, pf(cash="8000", AAPL="9", MSFT="4", KO="5"), ["NVDA", "XOM"], rebalance=False)
    # today's weights are kept, even though the signal would pick other names
    assert d.kind == "HOLD" and d.trades == () and all(r.passed for r in d.rules)


def test_drift_above_max_weight_is_trimmed_only_when_not_tiny(factory, universe):
    pol = factory.policy(max_weight=0.5)
    # AAPL is 51% of 10,000: the 1% trim is worth $100 > $25 and > 0.5% -> SELL
    d = run(pol, universe, pf(cash="4900", AAPL="51"), ["AAPL"], rebalance=False)
    assert d.kind == "TRADE" and [(t.side, t.symbol, t.value) for t in d.trades] == [("SELL", "AAPL", D("100.00"))]
    # 50.2%: the trim is $20 -> a tiny delta, not traded, but listed
    d = run(pol, universe, pf(cash="4980", AAPL="50.2"), ["AAPL"], rebalance=False)
    assert d.kind == "HOLD"
    assert [(s["side"], s["symbol"], s["value"]) for s in d.suppressed] == [("SELL", "AAPL", "20.00")]
    assert "below 25.00" in d.suppressed[0]["reason"]


def test_tiny_deltas_on_a_rebalance_day(factory, universe):
    pol = factory.policy(max_weight=0.5, min_cash_buffer=0.0, target_positions=10, min_positions=2)
    # target 50/50 of 10,000; AAPL is 5,010 (delta -10), MSFT 4,990 (+10): nothing worth trading
    d = run(pol, universe, pf(cash="0", AAPL="50.1", MSFT="24.95"), ["AAPL", "MSFT"])
    assert d.kind == "HOLD"
    assert sorted(s["symbol"] for s in d.suppressed) == ["AAPL", "MSFT"]


def test_dropped_sell_never_leaves_a_buy_unfunded(factory, universe):
    """A tiny sell that funded part of a buy is dropped; the buy shrinks so the buffer holds."""
    pol = factory.policy(max_weight=0.6, min_cash_buffer=0.05, target_positions=10, min_positions=2, tiny_delta_value=D("30"), tiny_delta_weight=0.0)
    # targets 31.67% each of 10,000: AAPL sells $20 (tiny), MSFT sells $3,647, NVDA buys $3,166
    d = run(pol, universe, pf(cash="0", AAPL="31.86", MSFT="34.07"), ["AAPL", "MSFT", "NVDA"])
    assert d.kind == "TRADE" and all(r.passed for r in d.rules)
    assert [s["symbol"] for s in d.suppressed] == ["AAPL"]
    assert any(n.startswith("cash_buffer: buys shrunk by 19.") for n in d.notes)
    assert [(t.side, t.symbol) for t in d.trades] == [("SELL", "MSFT"), ("BUY", "NVDA")]
    assert d.cash_after == D("500.00") == D("0.05") * d.equity


def test_whole_position_closes_are_never_tiny(policy, universe):
    d = run(policy, universe, pf(cash="9990", PEP="0.05"), ["AAPL"])  # PEP is $8.50
    closes = [t for t in d.trades if t.close_position]
    assert [(t.symbol, t.units) for t in closes] == [("PEP", D("0.05"))]


def test_no_buy_caps_targets_at_current_weight(factory, universe):
    pol = factory.policy(no_buy=("AAPL",), max_weight=0.5, target_positions=10, min_positions=2)
    d = run(pol, universe, pf(cash="9000", AAPL="10"), ["AAPL", "MSFT"])  # AAPL at 10%, target 49%
    assert not any(t.symbol == "AAPL" and t.side == "BUY" for t in d.trades)
    assert any(n.startswith("no_buy: AAPL is on the no-buy list") for n in d.notes)
    assert d.kind == "TRADE"


def test_max_positions_keeps_the_best_ranked(factory, universe):
    pol = factory.policy(max_positions=2, target_positions=2, min_positions=1, max_weight=0.5)
    d = run(pol, universe, pf(cash="10000"), ["AAPL", "MSFT", "NVDA", "KO"], selected=4)
    assert [t.symbol for t in d.trades] == ["AAPL", "MSFT"]
    assert any("max_positions: 4 targets > 2; dropped KO, NVDA" in n for n in d.notes)


def test_risk_off_moves_targets_to_cash(factory, universe):
    portfolio = pf(cash="5000", AAPL="25", MSFT="12.5")
    full = run(factory.policy(), universe, portfolio, ["AAPL", "MSFT"], risk_off_reasons=["SPY is below its 200-session average"])
    assert full.risk_off["applied"] and full.kind == "TRADE"
    assert {(t.side, t.symbol, t.close_position) for t in full.trades} == {("SELL", "AAPL", True), ("SELL", "MSFT", True)}
    half = run(factory.policy(risk_off_cash_fraction=0.5, max_weight=0.5), universe, portfolio, ["AAPL", "MSFT"], risk_off_reasons=["x"])
    rows = {r["symbol"]: r for r in half.targets}
    assert D(rows["AAPL"]["target_weight"]) == D("0.25")  # half of the 50% equal weight
    off = run(factory.policy(risk_off_to_cash=False), universe, portfolio, ["AAPL", "MSFT"], risk_off_reasons=["x"])
    assert not off.risk_off["applied"] and "risk_off_to_cash is false" in off.risk_off["note"]
    later = run(factory.policy(max_weight=0.5), universe, portfolio, ["AAPL", "MSFT"], rebalance=False, risk_off_reasons=["x"])
    assert not later.risk_off["applied"] and later.kind == "HOLD"


@pytest.mark.parametrize(
    "portfolio, symbols, rule, text",
    [
        (pf(cash="1000", ZZZ="3"), ["AAPL"], "known_tradable", "no reference price on 2024-03-15 for ZZZ"),
        (pf(cash="1000"), ["AAPL", "ZZZ"], "known_tradable", "no reference price on 2024-03-15 for ZZZ"),
    ],
)
def test_a_failed_rule_gives_no_trade_with_its_reason(policy, universe, portfolio, symbols, rule, text):
    d = run(policy, universe, portfolio, symbols)
    assert d.kind == "NO-TRADE" and d.trades == ()
    failed = {r.code: r.message for r in d.failed}
    assert rule in failed and text in failed[rule]


def test_unknown_held_symbol_blocks_the_rebalance(policy, universe):
    prices = dict(PRICES, ZZZ=D("10"))
    d = run(policy, universe, pf(cash="1000", ZZZ="3"), ["AAPL"], prices=prices)
    assert d.kind == "NO-TRADE"
    assert "SELL ZZZ: ZZZ is not in the universe" in {r.code: r.message for r in d.failed}["known_tradable"]
    assert [t.symbol for t in d.blocked] == ["ZZZ", "AAPL"]  # kept for the audit, not as orders


def test_whole_units_when_fractions_are_not_allowed(factory, universe):
    pol = factory.policy(fractional_units=False)
    d = run(pol, universe, pf(cash="10000", NVDA="30.5"), ["AAPL", "MSFT", "NVDA"])
    for t in d.trades:
        assert t.units == t.units.to_integral_value() or t.close_position
        assert t.value == (t.units * t.price).quantize(D("0.01")) or t.close_position


def test_rebalance_days_come_from_the_calendar(calendar):
    fri, mon, tue = date(2024, 3, 15), date(2024, 3, 18), date(2024, 3, 19)
    assert rebalance_due(calendar, fri, "weekly", date(2024, 3, 11))  # executes Monday 18th
    assert not rebalance_due(calendar, mon, "weekly", mon)  # Tuesday, done on Monday
    assert rebalance_due(calendar, mon, "weekly", date(2024, 3, 11))  # Monday was missed: catch up
    assert rebalance_due(calendar, tue, "weekly", None)  # never rebalanced
    # Good Friday 2024-03-29 is a holiday: the week of 1 April starts on Monday 1st
    assert rebalance_due(calendar, date(2024, 3, 28), "weekly", date(2024, 3, 25))
    assert rebalance_due(calendar, date(2024, 3, 28), "monthly", date(2024, 3, 1))
    assert not rebalance_due(calendar, date(2024, 3, 19), "monthly", date(2024, 3, 1))


def test_reference_prices_are_raw_closes(eod):
    p = reference_prices(eod, SESSION)
    raw = eod[(eod["symbol"] == "NVDA") & (eod["date"] == pd.Timestamp(SESSION))]["close"].iloc[0]
    assert p["NVDA"] == D(repr(float(raw))).quantize(D("0.0001"))


def test_risk_stage_files(eod, policy, universe, tmp_path):
    run_dir = tmp_path / "run"
    write_signal(compute_signal(eod, policy, SESSION, universe), run_dir)
    pf(cash="10000").write(run_dir / "portfolio.json")
    pq = tmp_path / "eod.parquet"
    eod.to_parquet(pq)
    d = run_risk_stage(run_dir, pq, run_dir / "portfolio.json", policy, universe, SESSION)
    assert d.rebalance  # never rebalanced before
    proposed = json.loads((run_dir / "proposed.json").read_text())
    assert len(proposed["raw_target_weights"]) == policy.portfolio.target_positions
    assert read_decision(run_dir / "approved.json") == d
    with pytest.raises(DataError, match="approved trades not found"):
        read_decision(tmp_path / "missing.json")


def test_rotation_end_to_end_holds_one_etf(eod, universe):
    """Rotation holds a single asset: it needs max_weight 1 and one target position."""
    pol = parse_policy({"strategy": {"signal": "rotation"}, "portfolio": {"max_weight": 1.0, "target_positions": 1, "min_positions": 1}})
    sig = compute_signal(eod, pol, SESSION, universe)
    assert sig.ranked.loc[sig.ranked["selected"], "symbol"].tolist() == ["SPY"]  # +3.3% over 6 months; QQQ -25%
    _, d = decide(sig.ranked, pf(cash="10000", QQQ="10"), reference_prices(eod, SESSION), pol, universe, True, SESSION, sig.risk_off_reasons)
    assert d.kind == "TRADE"
    assert [(t.side, t.symbol, t.close_position) for t in d.trades] == [("SELL", "QQQ", True), ("BUY", "SPY", False)]
    assert d.trades[1].value == D("10000.00")  # 98% of 10,560.70 is 10,349.49; the 50% turnover cap allows 10,000.00
    assert d.cash_after == D("560.70") and any(n.startswith("max_turnover") for n in d.notes)


def test_benchmark_below_its_average_sells_everything_on_a_rebalance_day(eod, policy, universe):
    crash = eod.copy()
    spy_last = (crash["symbol"] == "SPY") & (crash["date"] == pd.Timestamp(SESSION))
    crash.loc[spy_last, "adj_close"] *= 0.5
    sig = compute_signal(crash, policy, SESSION, universe)
    prices = reference_prices(crash, SESSION)
    held = pf(cash="1000", AAPL="3", MSFT="4")
    _, d = decide(sig.ranked, held, prices, policy, universe, True, SESSION, sig.risk_off_reasons)
    assert d.risk_off["applied"] and "below its 200-session average" in d.risk_off["reasons"][0]
    assert {(t.side, t.symbol, t.close_position) for t in d.trades} == {("SELL", "AAPL", True), ("SELL", "MSFT", True)}


# --------------------------------------------------------------------------- the drawdown halt


def test_a_drawdown_breach_sells_every_position_to_cash(factory, universe):
    """Equity 7,000 + 5 x 100 + 2 x 200 = 7,900 against a peak of 10,000: 21% down, past the 20%
    limit.  The halt closes both holdings in full even though that is 10% turnover above a 5% cap
    and the signal wants to buy: no shaping, no buy, the drawdown rule fails (-> HALT)."""
    pol = factory.policy(max_turnover=0.05)
    d = run(pol, universe, pf(cash="7000", peak="10000", AAPL="5", MSFT="2"), ["NVDA", "KO"])
    assert d.halt and d.kind == "TRADE"
    assert [(t.side, t.symbol, t.units, t.value, t.close_position) for t in d.trades] == [
        ("SELL", "AAPL", D("5"), D("500"), True),
        ("SELL", "MSFT", D("2"), D("400"), True),
    ]
    assert d.cash_after == D("7900")
    (rule,) = d.failed
    assert rule.code == "drawdown_kill_switch" and "drawdown 21.0%" in rule.message and "sold to cash" in rule.message and "then HALT" in rule.message
    assert d.risk_off["applied"] and d.risk_off["halt"]
    assert json.loads(json.dumps(d.to_dict()))["halt"] is True
    from tradeops.risk import Decision

    assert Decision.from_dict(d.to_dict()) == d


def test_the_ledger_drawdown_gate_alone_triggers_the_halt(policy, universe):
    """The preflight gate (ledger equity curve) failed although today's prices show no breach."""
    d = run(policy, universe, pf(cash="1000", AAPL="5"), ["AAPL"], drawdown_breach="equity 9,000 is 21% below its peak")
    assert d.halt and [t.symbol for t in d.trades] == ["AAPL"] and "equity 9,000 is 21% below its peak" in d.failed[0].message


def test_a_breach_in_cash_is_no_trade_and_the_kill_switch_does_nothing(policy, universe):
    flat = run(policy, universe, pf(cash="7900", peak="10000"), ["AAPL"])
    assert flat.halt and flat.kind == "NO-TRADE" and flat.trades == () and "holds nothing to sell" in flat.failed[0].message
    kill = PortfolioState(SESSION, D("7000"), {"AAPL": D("5")}, D("10000"), kill_switch=True, kill_switch_reason="owner on holiday")
    d = run(policy, universe, kill, ["AAPL"])
    assert not d.halt and d.kind == "NO-TRADE" and d.trades == ()
    assert "owner on holiday" in {r.code: r.message for r in d.failed}["drawdown_kill_switch"]


@pytest.mark.parametrize("frequency", ["daily", "weekly", "monthly"])
def test_rebalance_due_from_sessions_computed_once_equals_the_per_call_answer(calendar, frequency):
    """The backtest computes the rebalance sessions once; every answer must be the per-call one."""
    days = calendar.sessions("2023-11-01", "2024-04-30")
    due = calendar.rebalance_sessions(date(2023, 9, 1), date(2024, 5, 31), frequency)
    for d in days:
        for last in (None, calendar.previous_session(d), d, date(2023, 12, 27), date(2024, 2, 1)):
            assert rebalance_due(calendar, d, frequency, last, due) == rebalance_due(calendar, d, frequency, last), (d, last)
