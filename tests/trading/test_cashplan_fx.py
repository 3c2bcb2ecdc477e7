"""The cash plan of a converting line (a GBP account buying USD shares): properties.

``affordable_units`` is the most micro-units whose pound cost (value rounded half-even to the penny, plus
the fees and the conversion fee rounded up) fits in the cash; at a rate of 1 with no fee it is the plain
rule; the plan's fee is the sizing's (``tradeops.risk.conversion_fee``)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops import cashplan
from tradeops.risk import conversion_fee

UNIT = D("0.000001")
cash_s = st.decimals("0", "50000", places=2)
price_s = st.decimals("0.50", "5000", places=2)
rate_s = st.decimals("0.9000", "1.6000", places=4)
fee_s = st.sampled_from([D(0), D("0.0015"), D("0.005"), D("0.015")])


@settings(max_examples=300, deadline=None)
@given(cash=cash_s, price=price_s, rate=rate_s, fee_rate=fee_s, fees=st.decimals("0", "5", places=2))
def test_the_most_units_the_cash_allows_and_not_one_more(cash, price, rate, fee_rate, fees):
    units = cashplan.affordable_units(cash, price, fees, rate, fee_rate)
    assert units >= 0 and units == units.quantize(UNIT)
    if units > 0:
        assert cashplan.cost(units, price, fees, rate, fee_rate) <= cash
    if cash > fees and (rate != 1 or fee_rate > 0):  # (at rate 1 with no fee the plain rule, unchanged, may stop a few micro-units short)
        assert cashplan.cost(units + UNIT, price, fees, rate, fee_rate) > cash


@settings(max_examples=200, deadline=None)
@given(value=st.decimals("0", "100000", places=2), fee_rate=fee_s)
def test_the_plans_fee_is_the_sizings(value, fee_rate):
    assert cashplan.conversion_fee(value, fee_rate) == conversion_fee(value, fee_rate)


@settings(max_examples=200, deadline=None)
@given(cash=cash_s, price=price_s, fees=st.decimals("0", "5", places=2))
def test_at_a_rate_of_one_and_no_fee_it_is_the_plain_rule(cash, price, fees):
    assert cashplan.affordable_units(cash, price, fees, D(1), D(0)) == cashplan.affordable_units(cash, price, fees)
    assert cashplan.cost(D("3.5"), price, fees, D(1), D(0)) == (D("3.5") * price).quantize(D("0.01")) + fees


@settings(max_examples=200, deadline=None)
@given(
    cash=cash_s,
    rate=rate_s,
    fee_rate=fee_s,
    lines=st.lists(st.tuples(st.sampled_from(["SELL", "BUY"]), st.decimals("25", "5000", places=2), st.decimals("1", "900", places=2)), min_size=1, max_size=6),
)
def test_a_plan_never_lets_the_buys_spend_more_than_the_cash(cash, rate, fee_rate, lines):
    """Every BUY, as planned (in full, shrunk or skipped), fits in what the lines before it leave.
    (Prices up to $900 at >= 0.9 USD per pound: a micro-unit is worth at most a tenth of a penny, so a
    line's whole micro-units are worth its value to the penny, as on a ticket.)"""
    plan = [cashplan.PlanLine(i, side, "X", value, price, D("0.03"), fx_rate=rate, fee_rate=fee_rate) for i, (side, value, price) in enumerate(lines, start=1)]
    left = cash
    for step in cashplan.plan(plan, cash):
        line = step.line
        assert step.cash_before == left
        if line.side == "SELL":
            left += line.value - line.expected_fee
        elif step.fit is None:
            assert line.value + line.expected_fee <= left
            left -= line.value + line.expected_fee
        elif not step.fit.skipped:
            spent = cashplan.cost(step.fit.units, line.reference_price, D(0), rate, fee_rate)
            assert spent <= left
            left -= spent
        assert left >= 0
