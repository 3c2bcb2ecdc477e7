"""Policy and universe validation: every bad value is refused with a message
that names the key (or row) and the allowed range."""

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.config import Policy, Workspace, load_policy, load_universe, parse_policy, parse_universe
from tradeops.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "config" / "policy.yml"


def shipped() -> dict:
    return yaml.safe_load(POLICY.read_text())


def test_shipped_policy_holds_the_design_defaults():
    p = load_policy(POLICY)
    assert p.schedule.run_time == "07:30" and p.schedule.timezone == "Europe/London"
    assert p.schedule.run_days == ("Mon", "Tue", "Wed", "Thu", "Fri")
    assert p.rebalance.frequency == "weekly"
    assert p.portfolio.long_only is True and p.portfolio.leverage == 1.0
    assert p.portfolio.instrument == "underlying" and p.portfolio.risk_off_to_cash
    assert (p.portfolio.min_positions, p.portfolio.target_positions, p.portfolio.max_positions) == (10, 15, 20)
    assert p.portfolio.max_weight == 0.10 and p.portfolio.min_cash_buffer == 0.02
    assert p.portfolio.max_turnover == 0.50 and p.risk.kill_switch_drawdown == 0.20
    assert (p.execution.window_start_minutes, p.execution.window_end_minutes) == (5, 60)
    assert p.universe.benchmark == "SPY"
    assert p.account.account_currency == "GBP" and p.account.reporting_currency == "GBP"  # a new workspace is in pounds (issue 12)
    assert p.portfolio.fractional_units and p.portfolio.reinvest == "all"
    assert isinstance(p.portfolio.min_order_value, Decimal)
    assert p.account.cash_floor == Decimal(0) and isinstance(p.account.cash_floor, Decimal)  # the ledger's cash floor
    assert p.quality.min_coverage == 0.98 and p.quality.max_duplicate_dates == 0


def test_policy_is_frozen():
    p = load_policy(POLICY)
    with pytest.raises(Exception):
        p.portfolio.max_weight = 0.5  # type: ignore[misc]


# a new workspace (the shipped policy.yml) is in pounds, as the operating model asks (issue 12), while a
# policy that does not name its currency stays USD: an existing USD workspace keeps working unchanged
NEW_WORKSPACE = {"account_currency": "GBP", "fx_fee_bps": Decimal("50")}


def test_policy_file_and_code_defaults_agree():
    """policy.yml spells out every key; its values equal the code's defaults but the account's currency."""
    shipped_policy = load_policy(POLICY)
    assert shipped_policy.account.model_dump(include=set(NEW_WORKSPACE)) == NEW_WORKSPACE
    assert shipped_policy == Policy().model_copy(update={"account": Policy().account.model_copy(update=NEW_WORKSPACE)})
    assert Policy().account.account_currency == "USD" and Policy().account.fx_fee_bps == 0


@pytest.mark.parametrize(
    "section,key,value,expect",
    [
        ("portfolio", "max_weight", 1.5, ["portfolio.max_weight", "1.5", "le 1.0"]),
        ("portfolio", "max_weight", "lots", ["portfolio.max_weight", "lots"]),
        ("portfolio", "min_cash_buffer", -0.1, ["portfolio.min_cash_buffer", "ge 0.0"]),
        ("risk", "kill_switch_drawdown", 0, ["risk.kill_switch_drawdown", "gt 0.0"]),
        ("quality", "min_coverage", 1.2, ["quality.min_coverage", "le 1.0"]),
        ("portfolio", "long_only", False, ["portfolio.long_only"]),
        ("portfolio", "leverage", 2.0, ["portfolio.leverage", "le 1.0"]),
        ("schedule", "run_time", "7h30", ["schedule.run_time", "HH:MM"]),
        ("schedule", "timezone", "Mars/Olympus", ["schedule.timezone", "Mars/Olympus"]),
        ("data", "primary", "bloomberg", ["data.primary", "bloomberg"]),
        ("account", "cash_floor", -1, ["account.cash_floor", "-1", "ge 0"]),
        ("account", "cash_floor", "100", ["account.cash_floor", "without quotes"]),
    ],
)
def test_bad_values_name_the_key_and_bound(section, key, value, expect):
    raw = shipped()
    raw[section][key] = value
    with pytest.raises(ConfigError) as err:
        parse_policy(raw)
    for fragment in expect:
        assert fragment in str(err.value)


def test_unknown_key_is_refused_by_name():
    raw = shipped()
    raw["portfolio"]["max_wieght"] = 0.1
    with pytest.raises(ConfigError, match=r"portfolio\.max_wieght.*unknown key"):
        parse_policy(raw)
    raw = shipped()
    raw["extras"] = {}
    with pytest.raises(ConfigError, match=r"'extras'.*unknown key"):
        parse_policy(raw)


def test_cross_field_rules():
    raw = shipped()
    raw["portfolio"]["target_positions"] = 25
    with pytest.raises(ConfigError, match="target_positions"):
        parse_policy(raw)
    raw = shipped()
    raw["execution"]["window_end_minutes"] = 3
    with pytest.raises(ConfigError, match="window_end_minutes"):
        parse_policy(raw)
    raw = shipped()
    raw["risk"]["drawdown_warning"] = 0.3
    with pytest.raises(ConfigError, match="drawdown_warning"):
        parse_policy(raw)


def test_hash_is_stable_and_sensitive():
    a, b = load_policy(POLICY), load_policy(POLICY)
    assert a.hash() == b.hash() and len(a.hash()) == 64
    raw = shipped()
    raw["portfolio"]["max_weight"] = 0.09
    assert parse_policy(raw).hash() != a.hash()


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "policy.yml"
    bad.write_text("portfolio: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_policy(tmp_path / "nope.yml")


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8))


@settings(max_examples=200, deadline=None)
@given(
    section=st.sampled_from(list(Policy.model_fields)),
    key=st.text(min_size=1, max_size=20),
    value=st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=3)),
)
def test_any_edit_gives_a_policy_or_a_config_error(section, key, value):
    raw = shipped()
    if isinstance(raw.get(section), dict):
        raw[section][key] = value
    try:
        parse_policy(raw)
    except ConfigError as err:
        assert "policy key" in str(err)


def _numeric_and_bool_keys() -> list[tuple[str, str, object]]:
    """(section, key, shipped value) for every int, float, Decimal and bool key of the shipped policy file."""
    out = []
    for section, keys in shipped().items():
        for key, value in (keys or {}).items():
            if isinstance(value, (bool, int, float)):
                out.append((section, key, value))
    return out


@pytest.mark.parametrize("section,key,value", _numeric_and_bool_keys())
def test_quoted_numbers_and_booleans_are_refused_naming_the_key(section, key, value):
    """Strict types: the shipped value written as a string ("300", "no") is refused, not coerced."""
    raw = shipped()
    raw[section][key] = str(value).lower() if isinstance(value, bool) else str(value)
    with pytest.raises(ConfigError) as err:
        parse_policy(raw)
    assert f"policy key '{section}.{key}'" in str(err.value) and repr(raw[section][key]) in str(err.value)


def test_issue_examples_of_coercion_are_refused():
    for section, key, value in (
        ("data", "history_sessions", "300"),
        ("data", "cross_check", "no"),
        ("account", "starting_cash", "10000"),
        ("data", "retries", True),
    ):
        raw = shipped()
        raw[section][key] = value
        with pytest.raises(ConfigError, match=rf"policy key '{section}\.{key}'.*\(got {value!r}\)"):
            parse_policy(raw)


def test_money_keys_take_yaml_numbers_as_exact_decimals():
    p = parse_policy({"account": {"starting_cash": 1234.56}, "portfolio": {"min_order_value": 30}})
    assert p.account.starting_cash == Decimal("1234.56") and p.portfolio.min_order_value == Decimal("30")


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=20, max_value=10000))
def test_a_number_in_quotes_is_never_coerced(n):
    assert parse_policy({"data": {"history_sessions": n}}).data.history_sessions == n
    with pytest.raises(ConfigError, match="data.history_sessions"):
        parse_policy({"data": {"history_sessions": str(n)}})


def test_local_files_policy_entry():
    p = parse_policy({"data": {"local_files": {"SPY": {"source": "stooq", "path": "../shared/data/stooq-spy/spy.us.csv"}}}})
    assert p.data.local_files["SPY"].source == "stooq"
    with pytest.raises(ConfigError, match=r"data\.local_files\.SPY\.source"):
        parse_policy({"data": {"local_files": {"SPY": {"source": "bloomberg", "path": "x.csv"}}}})


# --------------------------------------------------------------------- universe

HEADER = (
    "internal_symbol,yahoo_symbol,stooq_symbol,alphavantage_symbol,etoro_search_name,exchange,currency,instrument_type,tradable_as_underlying,sector,notes\n"
)
ROW = "{s},{s},{s}.us,{s},{s},NYSE,USD,{t},{tr},Tech,\n"


def test_shipped_universe():
    u = load_universe(ROOT / "config" / "universe.csv", "SPY")
    assert 95 <= len(u.tradable) <= 110
    assert "SPY" in u and "QQQ" in u and "SPY" not in u.tradable
    assert u["BRK.B"].yahoo_symbol == "BRK-B" and u["BRK.B"].vendor_symbol("stooq") == "brk-b.us"
    assert all(u[s].sector for s in u.tradable)


def test_universe_validation_messages():
    good = HEADER + ROW.format(s="AAPL", t="stock", tr="true") + ROW.format(s="SPY", t="ETF", tr="true")
    assert parse_universe(good, "SPY").tradable == ["AAPL"]
    with pytest.raises(ConfigError, match=r"line 3: duplicate internal_symbol 'AAPL' \(first on line 2\)"):
        parse_universe(HEADER + ROW.format(s="AAPL", t="stock", tr="true") * 2, "AAPL")
    with pytest.raises(ConfigError, match=r"line 3: duplicate internal_symbol 'aapl' \(first on line 2 as 'AAPL'; .*whatever their case"):
        parse_universe(HEADER + ROW.format(s="AAPL", t="stock", tr="true") + ROW.format(s="aapl", t="stock", tr="true"), "AAPL")
    with pytest.raises(ConfigError, match=r"instrument_type 'CFD' for AAPL is unknown"):
        parse_universe(HEADER + ROW.format(s="AAPL", t="CFD", tr="true"), "AAPL")
    with pytest.raises(ConfigError, match=r"benchmark 'SPY'.*missing"):
        parse_universe(HEADER + ROW.format(s="AAPL", t="stock", tr="true"), "SPY")
    with pytest.raises(ConfigError, match=r"AAPL is not tradable as underlying"):
        parse_universe(HEADER + ROW.format(s="AAPL", t="stock", tr="false") + ROW.format(s="SPY", t="ETF", tr="true"), "SPY")
    with pytest.raises(ConfigError, match=r"columns must be"):
        parse_universe("symbol,name\nAAPL,Apple\n", "AAPL")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_universe_parser_never_crashes(text):
    try:
        parse_universe(HEADER + text, "SPY")
    except ConfigError:
        pass


def test_workspace_paths(tmp_path, monkeypatch):
    ws = Workspace.at(tmp_path).ensure()
    assert ws.clean_path == tmp_path / "data" / "clean" / "eod.parquet"
    monkeypatch.delenv("TRADEOPS_DB_URL", raising=False)
    assert ws.db_url() == f"sqlite:///{tmp_path}/data/ledger.sqlite"
    monkeypatch.setenv("TRADEOPS_DB_URL", "postgresql+psycopg://u@h/db")
    assert ws.db_url() == "postgresql+psycopg://u@h/db"
    for d in ("runs", "tickets", "reports", "data/raw"):
        assert (tmp_path / d).is_dir()


def test_policy_yaml_data_loads_again_under_the_strict_types():
    """A policy written out (research workspaces, the agent's what-if) is accepted again with equal values."""
    import yaml

    from tradeops.config import parse_policy, policy_yaml_data

    policy = parse_policy({"portfolio": {"min_order_value": 30}, "reconciliation": {"cash_tolerance": 2.5}})
    again = parse_policy(yaml.safe_load(yaml.safe_dump(policy_yaml_data(policy))))
    assert again.model_dump() == policy.model_dump()
