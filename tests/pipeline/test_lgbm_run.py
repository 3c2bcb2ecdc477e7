"""The daily run with ``signal: qlib_lgbm`` end to end: real papermill stages, the demo data
provider, a SQLite ledger.  Without a promoted model the run stops at the signal stage with a
NO-TRADE ticket that names the missing promotion; with one, the signal stage trains the
calendar's fit into the workspace's model registry, the ticket is issued, and the model's id is
in the run manifest and the ticket's version hash (and `tradeops runs verify` reproduces it)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
import yaml

from tradeops import audit
from tradeops.calendar import get_calendar
from tradeops.clock import FixedClock
from tradeops.config import Workspace
from tradeops.daily import run_daily, verify_run
from tradeops.demo import prepare_workspace, start_ledger
from tradeops.research import promotion
from tradeops.research.model import fit_window
from tradeops.research.registry import ModelRegistry
from tradeops.runner import EXIT_NO_TRADE, EXIT_OK
from tradeops.stages import run_time

pytestmark = pytest.mark.slow

FIRST = date(2025, 1, 6)  # a Monday: the week's rebalance
# a small model so the signal stage trains in seconds (the training window fits the 300 fetched sessions)
RESEARCH = {"train_sessions": 120, "purge_sessions": 5, "retrain_every": 5, "num_boost_round": 20, "num_leaves": 7}


@pytest.fixture
def lgbm(tmp_path, monkeypatch):
    ws = prepare_workspace(tmp_path / "ws")
    policy = yaml.safe_load(ws.policy_path.read_text())
    policy["strategy"]["signal"] = "qlib_lgbm"
    policy["research"].update(RESEARCH)
    ws.policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
    monkeypatch.setenv("TRADEOPS_DB_URL", ws.default_db_url)
    start_ledger(ws, FIRST)
    return ws


def run_on_schedule(ws, day: date):
    return run_daily(ws, day, clock=FixedClock(run_time(ws.policy(), day)))


def ticket_of(ws, result) -> dict:
    return json.loads((ws.tickets_dir / f"TICKET-{result.session_date:%Y%m%d}.json").read_text())


def test_without_a_promoted_model_the_run_is_no_trade_naming_the_promotion(lgbm):
    mid = promotion.model_id(lgbm.policy())
    result = run_on_schedule(lgbm, FIRST)
    assert result.exit_code == EXIT_NO_TRADE, result.message
    t = ticket_of(lgbm, result)
    assert t["kind"] == "NO-TRADE"
    failures = json.dumps(t["failures"])
    assert "model_promotion" in failures and f"model {mid} has no promotion verdict" in failures and "tradeops model promote" in failures
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    gate = next(g for g in manifest["gates"] if g["name"] == "model_promotion")
    assert not gate["passed"] and "model" not in manifest["hashes"] and "model" not in t["version"]
    assert not (result.run_dir / "signals").exists() and not (result.run_dir / "approved.json").exists()  # nothing scored, nothing sized
    assert ModelRegistry(lgbm.models_dir).fits(mid) == []  # no fit was trained for an unpromoted model


def test_a_promoted_model_scores_the_live_run_and_its_id_is_in_the_ticket_and_manifest(lgbm, tmp_path):
    policy = lgbm.policy()
    evidence = promotion.Evidence("base", 16, 500, 0.01, 0.99, "returns over SPY", 150, 1.2, 0.1)  # a planted edge: every check passes
    verdict = promotion.judge(evidence, policy.promotion)
    assert verdict.granted
    promotion.record(lgbm.models_dir, verdict, policy, datetime(2025, 1, 3, 18, tzinfo=timezone.utc))

    result = run_on_schedule(lgbm, FIRST)
    assert result.exit_code == EXIT_OK, result.message
    t = ticket_of(lgbm, result)
    assert t["kind"] == "TRADE" and t["lines"] and all(ln["side"] == "BUY" for ln in t["lines"])  # the first rebalance of an all-cash book

    decision = date.fromisoformat(t["decision_session"])
    (artifact,) = ModelRegistry(lgbm.models_dir).fits(promotion.model_id(policy))  # the fit the signal stage trained and stored
    window = fit_window(get_calendar(), decision, policy.research)
    assert (artifact.retrain_session, artifact.train_start, artifact.train_end) == (window.retrain_session, window.train_start, window.train_end)
    meta = json.loads((result.run_dir / "signals" / f"{decision}.json").read_text())
    assert meta["model"]["model_id"] == artifact.model_id

    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["hashes"]["model"] == artifact.model_id
    assert next(g for g in manifest["gates"] if g["name"] == "model_promotion")["passed"]
    version = t["version"]
    assert version["model"] == artifact.model_id
    assert version["hash"] == audit.version_hash(version["code"], version["config"], version["data"], artifact.model_id)
    assert version["hash"] != audit.version_hash(version["code"], version["config"], version["data"])  # the model is part of it

    # the archived run re-executes to the same ticket: the signal stage loads the same fit from the registry
    ok, message = verify_run(lgbm, result.run_dir.name, tmp_path / "verify")
    assert ok, message
    assert "byte-for-byte identical" in message
    scratch = ModelRegistry(Workspace.at(tmp_path / "verify" / "workspace").models_dir)
    assert [a.model_id for a in scratch.fits(promotion.model_id(policy))] == [artifact.model_id]  # the archived run's fit, copied
    assert len(ModelRegistry(lgbm.models_dir).fits(promotion.model_id(policy))) == 1
