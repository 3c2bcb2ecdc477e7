"""The toolbox's pure parts, in process: paging, parameter overrides, the ticket's "why" section,
and the server's input schemas (no subprocess: these are the SDK's own schema objects)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.agent.tools import OVERRIDES, PAGE_SIZE, page_of, why_section, with_overrides
from tradeops.config import parse_policy
from tradeops.errors import ConfigError, TradeopsError, ValidationError


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 2000), size=st.integers(1, 300))
def test_pages_cover_every_row_once_in_order(n, size):
    rows = list(range(n))
    first = page_of(rows, 1, size)
    pages = first["pages"]
    assert pages == max(1, -(-n // size)) and first["rows_total"] == n
    seen = [r for p in range(1, pages + 1) for r in page_of(rows, p, size)["rows"]]
    assert seen == rows
    assert all(len(page_of(rows, p, size)["rows"]) <= size for p in range(1, pages + 1))
    with pytest.raises(ValidationError, match=rf"page {pages + 1} is past the last page \({pages}\)"):
        page_of(rows, pages + 1, size)
    with pytest.raises(ValidationError, match="page 0 is below 1"):
        page_of(rows, 0, size)


def test_default_page_size_is_bounded():
    assert page_of(list(range(10_000)), 1)["rows"] == list(range(PAGE_SIZE))


def test_overrides_change_only_the_named_keys_and_keep_the_policys_bounds():
    policy = parse_policy({})
    changed = with_overrides(policy, {"lookback_12w": 126, "max_positions": 12, "target_positions": 10, "signal": None})
    assert changed.strategy.momentum.lookback_12w == 126
    assert (changed.portfolio.max_positions, changed.portfolio.target_positions) == (12, 10)
    assert changed.strategy.signal == policy.strategy.signal  # None: left as it is
    assert changed.model_dump(exclude={"strategy", "portfolio"}) == policy.model_dump(exclude={"strategy", "portfolio"})
    assert policy.strategy.momentum.lookback_12w == 60  # the original is untouched
    with pytest.raises(ValidationError, match="unknown parameter 'kill_switch_drawdown'"):
        with_overrides(policy, {"kill_switch_drawdown": 0.99})
    with pytest.raises(ConfigError, match="max_weight"):
        with_overrides(policy, {"max_weight": 5.0})
    with pytest.raises(ConfigError, match=r"target_positions must lie in \[min_positions, max_positions\]"):
        with_overrides(policy, {"target_positions": 50})


def test_no_override_reaches_a_risk_limit_or_the_kill_switch():
    sections = {path[0] for path, _ in OVERRIDES.values()}
    assert sections <= {"strategy", "portfolio", "rebalance"}
    assert not [name for name in OVERRIDES if "kill" in name or "drawdown" in name or "band" in name]


def test_why_section_is_the_why_heading_and_its_lines():
    md = "# T\n\n## Orders\n\n1. BUY X\n\n## Why\n\n- Strategy: momentum.\n- Top ranks: 1. X\n\n## Checklist\n\n- [ ] a\n"
    assert why_section(md) == "## Why\n\n- Strategy: momentum.\n- Top ranks: 1. X"
    no_trade = "# T\n\n## Why there is no trade today\n\n- kill switch ON\n"
    assert why_section(no_trade) == "## Why there is no trade today\n\n- kill switch ON"


def test_server_schemas_come_from_the_typed_signatures(tmp_path):
    import anyio

    from tradeops.agent.server import build_server
    from tradeops.agent.tools import Toolbox
    from tradeops.config import Workspace

    Workspace.at(tmp_path).ensure()
    tb = Toolbox.at(tmp_path)

    async def names(allow):
        return {t.name: t.input_schema for t in await build_server(tb, allow_fills=allow).list_tools()}

    read, write = anyio.run(names, False), anyio.run(names, True)
    assert set(write) - set(read) == {"write_fills"}
    lines = write["write_fills"]["properties"]["lines"]
    assert lines["maxItems"] == 100 and lines["minItems"] == 1
    fill = write["write_fills"]["$defs"]["FillLine"]
    assert fill["additionalProperties"] is False
    assert fill["properties"]["status"]["enum"] == ["executed", "partial", "not_executed"]
    assert read["research_score_universe"]["properties"]["top"]["maximum"] == 100
    with pytest.raises(TradeopsError, match="does not exist"):
        Toolbox.at(tmp_path / "missing")
