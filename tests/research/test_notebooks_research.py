"""The research notebooks run top to bottom on tiny demo parameters (through the pipeline runner)."""

from __future__ import annotations

import nbformat
import pytest

from tradeops.runner import NOTEBOOK_DIR, Stage, execute_stage

TINY = {
    "source": "demo",
    "av_dir": "",
    "benchmark_file": "",
    "no_benchmark": False,
    "seed": 42,
    "start": "2023-03-01",
    "end": "2023-05-31",
    "symbols": 8,
    "policy": {
        "portfolio": {"target_positions": 4, "min_positions": 2, "risk_off_ma_sessions": 40},
        "research": {"train_sessions": 60, "retrain_every": 100, "num_boost_round": 10, "num_leaves": 7},
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("name, strategy", [("momentum_backtest", "momentum"), ("qlib_lightgbm", "qlib_lgbm")])
def test_research_notebook_runs_and_writes_the_report(name, strategy, tmp_path):
    report = tmp_path / "reports" / "backtest_latest.html"
    extra = {"engine": "array"} if strategy == "momentum" else {}  # the momentum notebook chooses the engine (array by default)
    outcome = execute_stage(Stage(name), tmp_path, {**TINY, **extra, "report_path": str(report)}, notebook_dir=NOTEBOOK_DIR / "research", export=False)
    assert outcome.ok, outcome.error
    nb = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
    shown = nb.cells[-1].outputs[0]["data"]
    assert shown["text/plain"].startswith(f"{strategy} on 8 demo symbols, 2023-03-01..2023-05-31")
    assert "<h2>Cost stress</h2>" in shown["text/html"]
    page = report.read_text()
    assert "<h2>Parameter neighbourhood</h2>" in page and "<svg" in page
    if strategy == "qlib_lgbm":
        assert "LightGBM IC" in page


@pytest.mark.slow
def test_the_sweep_notebook_runs_and_names_the_candidate(tmp_path):
    params = {k: TINY[k] for k in ("source", "av_dir", "benchmark_file", "no_benchmark", "seed", "start", "end", "symbols", "policy")}
    params.update(lookbacks="20,40", tops="3,4", frequencies="weekly", cost_multiples="1,2", jobs=1, dask="", reports_dir=str(tmp_path / "reports"))
    outcome = execute_stage(Stage("sweep"), tmp_path, params, notebook_dir=NOTEBOOK_DIR / "research", export=False)
    assert outcome.ok, outcome.error
    nb = nbformat.read(tmp_path / "sweep.ipynb", as_version=4)
    shown = nb.cells[-1].outputs[0]["data"]["text/plain"]
    assert shown.startswith("sweep: 8 variants x ") and "would be promoted: lb" in shown
    assert len(list((tmp_path / "reports").glob("sweep-*/sweep.json"))) == 1
