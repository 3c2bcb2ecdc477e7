"""PortfolioState: exact JSON round trip, clear errors, and a parser that never crashes."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.errors import ValidationError
from tradeops.portfolio import PortfolioState
from tradeops.state import Gate

decimals = st.decimals(min_value=D("0"), max_value=D("1e9"), places=8)


@settings(max_examples=200, deadline=None)
@given(
    cash=st.decimals(min_value=D("-1e6"), max_value=D("1e9"), places=6),
    positions=st.dictionaries(st.from_regex(r"[A-Z]{1,5}(\.[A-Z])?", fullmatch=True), decimals, max_size=15),
    peak=decimals,
    last=st.one_of(st.none(), st.dates(date(2000, 1, 1), date(2040, 1, 1))),
    kill=st.booleans(),
)
def test_json_round_trip_is_exact(cash, positions, peak, last, kill):
    state = PortfolioState(
        as_of=date(2024, 3, 15),
        cash=cash,
        positions=positions,
        peak_equity=peak,
        last_rebalance=last,
        kill_switch=kill,
        kill_switch_reason="pressed" if kill else None,
    )
    back = PortfolioState.from_json(state.to_json())
    assert back == state
    assert back.positions == {s: u for s, u in positions.items() if u > 0}  # zero holdings are dropped
    assert all(isinstance(v, str) for v in json.loads(state.to_json())["positions"].values())  # Decimals as strings


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(["as_of", "cash", "positions", "peak_equity", "state", "kill_switch", "kill_switch_reason", "last_rebalance", "x"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, json_values | st.sampled_from(["2024-03-15", "12.5", "RUN", "HALT"])))
def test_any_json_object_parses_or_fails_with_a_validation_error(data):
    try:
        state = PortfolioState.from_dict(data)
    except ValidationError as err:
        assert str(err).startswith("portfolio")
    else:
        assert state.cash.is_finite() and all(u > 0 for u in state.positions.values())


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=60), json_values.map(json.dumps)))
def test_any_text_parses_or_fails_with_a_validation_error(text):
    try:
        PortfolioState.from_json(text)
    except ValidationError as err:
        assert str(err).startswith("portfolio")


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_gate_parser_accepts_only_well_formed_gates(value):
    try:
        g = Gate.of(value)
    except ValidationError:
        return
    assert isinstance(g.name, str) and g.name and isinstance(g.passed, bool)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"as_of": "2024-03-15", "cash": 1.5}, "cash: 1.5 is a float"),
        ({"as_of": "2024-03-15", "cash": "abc"}, "cash: 'abc' is not a decimal number"),
        ({"as_of": "2024-03-15", "cash": "NaN"}, "not a finite number"),
        ({"as_of": "2024-03-15", "cash": "1", "positions": {"AAPL": "-2"}}, "positions.AAPL: -2 units is negative"),
        ({"as_of": "15/03/2024", "cash": "1"}, "as_of: '15/03/2024' is not a YYYY-MM-DD date"),
        ({"as_of": "2024-03-15", "cash": "1", "state": "PAUSED"}, "state 'PAUSED' is unknown"),
        ({"as_of": "2024-03-15", "cash": "1", "kill_switch": True}, "kill_switch is on but kill_switch_reason is empty"),
        ({"as_of": "2024-03-15", "cash": "1", "colour": "red"}, "unknown keys ['colour']"),
        ({"cash": "1"}, "missing ['as_of']"),
        ({"as_of": None, "cash": "1"}, "as_of: None is not a date"),
        ({"as_of": "2024-03-15", "cash": "1", "kill_switch": "false"}, "kill_switch: 'false' is not true or false"),
        ({"as_of": "2024-03-15", "cash": "1", "kill_switch": True, "kill_switch_reason": 5}, "kill_switch_reason: 5 is not text"),
        ({"as_of": "2024-03-15", "cash": "1", "positions": {"AAPL": None}}, "positions.AAPL: None is not a decimal number"),
    ],
)
def test_errors_name_the_field(data, message):
    with pytest.raises(ValidationError) as err:
        PortfolioState.from_dict(data)
    assert message in str(err.value)


def test_valuation_and_drawdown():
    s = PortfolioState(as_of=date(2024, 3, 15), cash=D("1000"), positions={"AAPL": D("10")}, peak_equity=D("4000"))
    eq = s.equity({"AAPL": D("200")})
    assert eq == D("3000") and s.drawdown(eq) == D("0.25")
    assert s.drawdown(D("5000")) == 0  # above the peak
    with pytest.raises(KeyError):
        s.equity({})


def test_read_and_write(tmp_path):
    s = PortfolioState(as_of=date(2024, 3, 15), cash=D("0.10"), positions={"KO": D("1.000001")})
    assert PortfolioState.read(s.write(tmp_path / "p" / "portfolio.json")) == s
    with pytest.raises(ValidationError, match="portfolio file not found"):
        PortfolioState.read(tmp_path / "missing.json")
