"""Property tests for a GBP account: for random books, limits, GBPUSD rates and conversion fees,
the guard sizes in pounds at price / rate, keeps every line's USD close, charges the fee (rounded
up to the cent) on every trade, and the cash after the orders (fees included) keeps the buffer.
The post-trade cash is recomputed here, independently of tradeops.risk."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeops.config import parse_policy
from tradeops.risk import Fx, decide
from tradeops.tickets import build_ticket

from .test_risk_properties import SESSION, SYMS, scenarios

rates = st.decimals(min_value=D("0.9000"), max_value=D("2.2000"), places=4)
fees = st.sampled_from([D("0"), D("25"), D("50"), D("150")])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(sc=scenarios(), rate=rates, fee_bps=fees)
def test_gbp_sizing_converts_prices_and_pays_the_fee(factory, calendar, sc, rate, fee_bps):
    universe = factory.universe(stocks=tuple(SYMS))
    pf = replace(sc["portfolio"], account_currency="GBP")
    fx = Fx("GBP", "GBPUSD", rate, SESSION, fee_bps)
    policy = sc["policy"]
    _, d = decide(sc["ranked"], pf, sc["prices"], policy, universe, sc["rebalance"], SESSION, risk_off_reasons=sc["risk_off"], fx=fx)
    gbp = {s: (p / rate).quantize(D("0.00000001"), ROUND_HALF_EVEN) for s, p in sc["prices"].items()}
    valued = {s: u * gbp[s] for s, u in pf.positions.items() if s in gbp}
    equity = pf.cash + sum(valued.values(), D(0))
    assert d.equity == equity and d.fx["rate"] == str(rate) and d.fx["fee_bps"] == str(fee_bps)
    fee = fee_bps / 10000
    cash, paid = pf.cash, D(0)
    for t in d.trades:
        assert t.instrument_price == sc["prices"][t.symbol] and t.price == gbp[t.symbol]
        value = valued[t.symbol] if t.close_position else t.value
        charge = (value * fee).quantize(D("0.01"), ROUND_UP) if fee > 0 else D(0)
        paid += charge
        cash += (value if t.side == "SELL" else -value) - charge
    assert D(d.fx["fees"]) == paid and d.cash_after == cash
    buys = any(t.side == "BUY" for t in d.trades)
    if buys and not d.halt:
        assert cash >= D(str(policy.portfolio.min_cash_buffer)) * equity, "the buffer holds after the conversion fees"
    if d.kind == "NO-TRADE":
        return
    window = calendar.execution_window(calendar.next_session(SESSION), 5, 60)
    t = build_ticket(d, [], window, policy, universe, "c" * 64, "d" * 64, "e" * 64, SESSION, state="RUN")
    band = D(str(policy.risk.price_band))
    for line, trade in zip(t.lines, d.trades):
        usd = sc["prices"][trade.symbol]
        assert line.reference_price == usd and line.fx_rate == rate and line.currency == "GBP"
        assert line.band_price == (usd * (1 + band if line.side == "BUY" else 1 - band)).quantize(D("0.01"), ROUND_HALF_EVEN)
    data = json.loads(t.to_json())  # validated against ticket-v1.json (a GBP TRADE/HOLD must carry its rate)
    if t.kind == "TRADE":
        assert data["fx_rate"] == format(rate, "f") and all(ln["amount_currency"] == "GBP" for ln in data["lines"])


def test_gbp_policy_parses_with_the_fee():
    p = parse_policy({"account": {"account_currency": "GBP", "fx_fee_bps": 50.5}})
    assert p.account.fx_fee_bps == D("50.5")
