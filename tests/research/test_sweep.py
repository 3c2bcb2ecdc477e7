"""`tradeops backtest sweep`: a grid on the array engine, fanned out with joblib (local processes,
and a Dask cluster: a LocalCluster here), into PBO, deflated Sharpe and the promotion gate."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradeops.config import parse_policy
from tradeops.research import array_engine as ae
from tradeops.research import sweep
from tradeops.research.backtest import Costs
from tradeops.research.sources import alphavantage_symbols, from_alphavantage_dir
from tradeops.research.study import universe_of
from tradeops.research.validation import with_update

START, END = date(2019, 1, 2), date(2020, 12, 31)


@pytest.fixture(scope="module")
def bars(av_dir):
    stocks = alphavantage_symbols(av_dir)[:30]
    eod = from_alphavantage_dir(av_dir, stocks, start=date(2017, 6, 1), end=END)
    return eod, universe_of(stocks, "SPY")


def test_grid_labels_and_the_true_trial_count():
    variants = sweep.grid((40, 60), (5, 8), ("weekly", "monthly"), (1, 2))
    assert len(variants) == 16 and variants[0].label == "lb40-top5-weekly-x1" and variants[-1].label == "lb60-top8-monthly-x2"
    with pytest.raises(Exception, match="sweep frequency 'hourly' is unknown"):
        sweep.grid((40,), (5,), ("hourly",), (1,))


def test_local_processes_and_a_dask_cluster_give_the_same_returns(bars, tmp_path):
    from distributed import LocalCluster

    eod, universe = bars
    policy = parse_policy({"research": {"halt_resume": "sessions", "halt_resume_sessions": 60}})
    variants = sweep.grid((40, 60), (5, 8), ("weekly",), (1, 3))
    local = sweep.run_sweep(eod, policy, universe, START, END, variants, n_jobs=2)
    assert list(local.columns) == [v.label for v in variants] and local.shape[0] > 400
    # each column is the array engine's run of that variant
    v = variants[-1]
    direct = ae.run_array_backtest(
        eod, with_update(policy, v.update(policy)), universe, START, END, Costs(policy.research.cost_bps, policy.research.slippage_bps).scaled(v.cost_multiple)
    )
    pd.testing.assert_series_equal(local[v.label], direct.returns, check_names=False)
    assert not np.allclose(local.iloc[:, 0], local.iloc[:, 1])  # the costs differ
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = sweep.run_sweep(eod, policy, universe, START, END, variants, dask=cluster.scheduler_address)
    pd.testing.assert_frame_equal(local, remote)
    report = sweep.judge_sweep(local, policy)
    assert report.candidate == local.columns[np.argmax([(local[c].mean() / local[c].std()) for c in local.columns])]
    assert report.verdict is not None and report.verdict.evidence.n_trials == len(variants)
    assert f"would be promoted: {report.candidate}" in report.text() and "promotion gate: " in report.text()
    path = sweep.write_outputs(tmp_path / "out", report, {"grid": "test"}, eod)
    meta = json.loads(path.read_text())
    assert meta["n_trials"] == len(variants) and meta["data_hash"] == sweep.data_hash(eod) and len(meta["code_hash"]) == 64
    assert meta["candidate"] == report.candidate and meta["gate"]["granted"] == report.verdict.granted
    back = pd.read_csv(tmp_path / "out" / "returns.csv", index_col=0, parse_dates=True)
    assert np.allclose(back.to_numpy(), report.returns.to_numpy())
    assert sweep.data_hash(eod.sample(frac=1.0, random_state=1)) == meta["data_hash"]  # row order does not matter
    assert sweep.data_hash(eod.assign(close=eod["close"] * 1.0001)) != meta["data_hash"]


@pytest.mark.slow
def test_the_sweep_command_reports_the_candidate_and_the_gate(tmp_path):
    from click.testing import CliRunner

    from tradeops.cli import cli

    work = tmp_path / "w"
    (work / "config").mkdir(parents=True)
    (work / "config" / "policy.yml").write_text("portfolio:\n  target_positions: 4\n  min_positions: 2\n  risk_off_ma_sessions: 40\n")
    args = [
        "backtest",
        "sweep",
        "--workdir",
        str(work),
        "--start",
        "2022-06-01",
        "--end",
        "2023-05-31",
        "--symbols",
        "12",
        "--lookbacks",
        "20,40",
        "--tops",
        "3,5",
        "--frequencies",
        "weekly",
        "--cost-multiples",
        "1,2",
        "--jobs",
        "1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("sweep: 8 variants x ") and lines[1].startswith("would be promoted: lb")
    assert any(line.startswith("promotion gate: ") for line in lines)
    out = next(line for line in lines if line.startswith("outputs: ")).removeprefix("outputs: ")
    meta = json.loads((__import__("pathlib").Path(out) / "sweep.json").read_text())
    assert meta["n_trials"] == 8 and meta["params"]["lookbacks"] == "20,40" and meta["snapshot"] and len(meta["code_hash"]) == 64
