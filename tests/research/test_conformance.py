"""Research and live agree: for a stretch of sessions, the live code path (compute_signal ->
signals/<d>.csv -> portfolio.json -> run_risk_stage) approves the same targets as the backtest."""

from __future__ import annotations

import json


from tradeops.calendar import get_calendar
from tradeops.config import parse_policy
from tradeops.research.backtest import run_backtest
from tradeops.signals import compute_signal, write_signal
from tradeops.risk import run_risk_stage


def test_live_approved_targets_equal_backtest_targets(demo_eod, demo_universe, tmp_path):
    policy = parse_policy({"portfolio": {"target_positions": 10, "risk_off_ma_sessions": 60}})
    cal = get_calendar()
    sessions = cal.sessions("2023-06-01", "2023-08-15")
    result = run_backtest(demo_eod, policy, demo_universe, sessions[0], sessions[-1], keep_states=True)
    kinds = {d.kind for d in result.decisions.values()}
    assert {"TRADE", "HOLD"} <= kinds and len(result.trades) > 10
    eod_path = tmp_path / "eod.parquet"
    demo_eod.to_parquet(eod_path)
    backtest_targets = result.approved_targets()
    for d, state in result.states.items():
        run_dir = tmp_path / d.isoformat()
        write_signal(compute_signal(demo_eod, policy, d, demo_universe, cal), run_dir)
        state.write(run_dir / "portfolio.json")
        live = run_risk_stage(run_dir, eod_path, run_dir / "portfolio.json", policy, demo_universe, d)
        approved = json.loads((run_dir / "approved.json").read_text())
        assert {t["symbol"]: t["approved_weight"] for t in approved["targets"]} == backtest_targets[d], d
        assert live.kind == result.decisions[d].kind and live.rebalance == result.decisions[d].rebalance
        assert [t.to_dict() for t in live.trades] == [t.to_dict() for t in result.decisions[d].trades]
    assert sum(result.decisions[d].rebalance for d in result.states) >= 10  # weekly over ~2.5 months
