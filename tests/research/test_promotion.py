"""The promotion gate: thresholds from the policy, verdicts recorded, the live signal refuses an unpromoted model."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from tradeops import stages
from tradeops.config import parse_policy
from tradeops.demo import prepare_workspace
from tradeops.research import promotion, validation

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
DAYS = pd.bdate_range("2016-01-04", periods=1000)


def sweep(edge: float, seed: int = 0, n: int = 16) -> pd.DataFrame:
    """16 trials of i.i.d. N(0, 1%) daily returns; the candidate ("base") gets ``edge`` a day on top."""
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 0.01, (len(DAYS), n))
    m[:, 0] += edge
    return pd.DataFrame(m, index=DAYS, columns=["base"] + [f"variant {k}" for k in range(1, n)])


def test_a_noise_strategy_is_refused():
    policy = parse_policy({})
    v = promotion.judge(promotion.gather(sweep(0.0), "base", None, policy.promotion), policy.promotion)
    assert not v.granted
    failed = {c.code for c in v.checks if not c.passed}
    assert {"dsr", "oos_sharpe"} <= failed and "trials" not in failed
    assert v.evidence.n_trials == 16 and v.evidence.dsr_basis == "raw returns (no benchmark)"
    assert v.summary().startswith("promotion REFUSED: ")


def test_a_planted_edge_is_granted():
    """+0.2%/day on a 1% daily volatility (daily Sharpe 0.2) against 15 noise trials: the in-sample
    best is nearly always the candidate and it stays above the median out of sample (PBO < 0.05),
    DSR ~1, the hold-out is strong."""
    policy = parse_policy({})
    trials = sweep(0.002)
    e = promotion.gather(trials, "base", None, policy.promotion)
    v = promotion.judge(e, policy.promotion)
    assert v.granted, v.summary()
    assert e.pbo <= 0.05 and e.dsr > 0.99 and e.oos_sessions == 300
    hold = trials["base"].iloc[-300:]
    assert e.oos_sharpe == pytest.approx(hold.mean() / hold.std(ddof=1) * np.sqrt(252))


def test_the_dsr_is_on_excess_returns_when_there_is_a_benchmark():
    """A candidate that only tracks the benchmark (+0.2%/day for everyone) has no edge over it."""
    policy = parse_policy({})
    rng = np.random.default_rng(9)
    bench_ret = 0.002 + rng.normal(0, 0.01, len(DAYS))
    closes = pd.Series(100 * np.cumprod(1 + np.r_[0, bench_ret]), index=DAYS.insert(0, DAYS[0] - pd.offsets.BDay()), name="SPY")
    trials = sweep(0.0, seed=3).add(bench_ret, axis=0)
    raw = promotion.gather(trials, "base", None, policy.promotion)
    excess = promotion.gather(trials, "base", closes, policy.promotion)
    assert excess.dsr_basis == "returns over SPY"
    over = validation.excess_returns(trials["base"], closes)
    np.testing.assert_allclose(over.to_numpy(), (trials["base"] - bench_ret).to_numpy(), atol=1e-12)
    assert raw.dsr > 0.95 and excess.dsr < 0.95  # the benchmark's drift no longer counts as skill


def test_too_few_pre_registered_trials_is_a_refusal_naming_the_threshold():
    policy = parse_policy({"promotion": {"min_trials": 16}})
    v = promotion.judge(promotion.gather(sweep(0.002, n=5), "base", None, policy.promotion), policy.promotion)
    assert not v.granted
    assert [c.message for c in v.checks if not c.passed] == ["5 pre-registered variants < promotion.min_trials 16"]


def test_thresholds_are_validated_policy_values():
    from tradeops.errors import ConfigError

    with pytest.raises(ConfigError, match="promotion.max_pbo"):
        parse_policy({"promotion": {"max_pbo": 1.5}})


def test_the_verdict_is_recorded_and_the_live_signal_needs_a_granted_one(tmp_path):
    ws = prepare_workspace(tmp_path / "ws")
    ws.policy_path.write_text(ws.policy_path.read_text().replace("signal: momentum", "signal: qlib_lgbm"))
    policy = ws.policy()
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    blocked = stages.signal(str(run_dir), str(ws.root), "2025-01-03")
    gate = json.loads((run_dir / "gates" / "30_signal.json").read_text())[0]
    assert gate["name"] == "model_promotion" and not gate["passed"] and "tradeops model promote" in gate["reasons"][0]
    assert not (run_dir / "signals").exists() and "not run" in blocked.headline

    refused = promotion.judge(promotion.gather(sweep(0.0), "base", None, policy.promotion), policy.promotion)
    path = promotion.record(ws.models_dir, refused, policy, NOW)
    body = json.loads(path.read_text())
    assert body["verdict"] == "REFUSED" and body["model_id"] == promotion.model_id(policy) and body["decided_at"] == "2026-03-02T09:30:00+00:00"
    assert not (ws.models_dir / "current.json").exists()
    assert "was refused promotion" in promotion.promotion_gate(ws.models_dir, policy)["reasons"][0]

    granted = promotion.judge(promotion.gather(sweep(0.002), "base", None, policy.promotion), policy.promotion)
    promotion.record(ws.models_dir, granted, policy, NOW)
    assert promotion.promotion_gate(ws.models_dir, policy)["passed"]
    assert json.loads((ws.models_dir / "current.json").read_text())["model_id"] == promotion.model_id(policy)
    # another training window is another model: it needs its own promotion
    other = validation.with_update(policy, {"research": {"train_sessions": 500}})
    assert promotion.model_id(other) != promotion.model_id(policy)
    assert not promotion.promotion_gate(ws.models_dir, other)["passed"]
    # a book-running setting is not part of the model
    assert promotion.model_id(validation.with_update(policy, {"portfolio": {"max_weight": 0.08}})) == promotion.model_id(policy)


def test_the_verdict_is_an_event_in_a_configured_ledger(tmp_path, monkeypatch):
    from datetime import date

    from tradeops.cli.research import _ledger_event
    from tradeops.demo import start_ledger
    from tradeops.ledger import api, db

    ws = prepare_workspace(tmp_path / "ws")
    monkeypatch.delenv("TRADEOPS_DB_URL", raising=False)
    policy = parse_policy({})
    verdict = promotion.judge(promotion.gather(sweep(0.002), "base", None, policy.promotion), policy.promotion)
    assert _ledger_event(ws, "m-1", verdict, "alice") == "ledger: none configured, no event recorded"
    start_ledger(ws, date(2025, 1, 6))
    assert _ledger_event(ws, "m-1", verdict, "alice") == "ledger: MODEL_PROMOTION event recorded (GRANTED)"
    engine = db.make_engine(ws.db_url())
    with db.transaction(engine) as s:
        (event,) = api.events(s, kind="MODEL_PROMOTION")
        assert event.actor == "alice" and event.payload["model_id"] == "m-1" and event.payload["verdict"] == "GRANTED"
        assert event.payload["evidence"]["n_trials"] == 16
    engine.dispose()
