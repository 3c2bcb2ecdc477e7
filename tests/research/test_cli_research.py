"""`tradeops backtest` through click's CliRunner on a tiny demo run."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from tradeops.cli import cli


@pytest.mark.slow
def test_backtest_command_writes_the_report_and_prints_a_summary(tmp_path):
    work = tmp_path / "w"
    (work / "config").mkdir(parents=True)
    (work / "config" / "policy.yml").write_text("portfolio:\n  target_positions: 4\n  min_positions: 2\n  risk_off_ma_sessions: 40\n")
    args = ["backtest", "--workdir", str(work), "--start", "2023-03-01", "--end", "2023-05-31", "--symbols", "8"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("momentum on 8 demo symbols, 2023-03-01..2023-05-31: total ")
    assert lines[1] == "benchmark: SPY from the bars"
    assert lines[2].startswith("PBO ") and "over 4 trials" in lines[2]  # base, 9 positions, 12-week lookback x0.75 and x1.25 (-1 positions is no policy)
    # the bars came from a clean snapshot built in the workspace's research store, named by its hash
    snapshot = next(line for line in lines if line.startswith("data: clean snapshot ")).removeprefix("data: clean snapshot ")
    stored = list((work / "data" / "research").glob("demo-*/data/clean/snapshots/*/eod.parquet"))
    assert len(stored) == 1 and hashlib.sha256(stored[0].read_bytes()).hexdigest() == snapshot
    assert any(line.startswith(f"note: bars from clean snapshot {snapshot[:16]}") for line in lines)
    report = work / "reports" / "backtest_latest.html"
    html = report.read_text()
    assert lines[-1] == f"report: {report}" and "<h2>Cost stress</h2>" in html and f"clean snapshot <code>{snapshot}</code>" in html


def test_backtest_command_rejects_bad_arguments(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["backtest", "--workdir", str(tmp_path), "--source", "alphavantage"])
    assert res.exit_code == 2 and "--av-dir" in res.output
    res = runner.invoke(cli, ["backtest", "--workdir", str(tmp_path), "--symbols", "1"])
    assert res.exit_code == 2 and "1 is not in the range 2<=x<=2000" in res.output
    res = runner.invoke(cli, ["backtest", "--workdir", str(tmp_path), "--strategy", "rotation"])
    assert res.exit_code == 2 and "'rotation' is not one of 'momentum', 'qlib_lgbm'" in res.output


def test_bars_without_the_benchmark_stop_the_backtest_unless_the_study_says_so(tmp_path, av_dir, capsys):
    from tradeops.cli import main

    args = [
        "backtest",
        "--workdir",
        str(tmp_path),
        "--source",
        "alphavantage",
        "--av-dir",
        str(av_dir),
        "--symbols",
        "3",
        "--start",
        "2019-01-02",
        "--end",
        "2019-03-29",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the bars have no SPY" in err and "--benchmark-file" in err and "--no-benchmark" in err


@pytest.mark.slow
def test_the_array_engine_is_the_default_and_exact_agrees_to_the_printed_figure(tmp_path):
    """The same study on both engines: the array engine by default, ``--engine exact`` for the
    Decimal guard; the summary (total return, CAGR, Sharpe, drawdown, fills) is the same."""
    out = {}
    for engine in ("array", "exact"):
        work = tmp_path / engine
        (work / "config").mkdir(parents=True)
        (work / "config" / "policy.yml").write_text("portfolio:\n  target_positions: 4\n  min_positions: 2\n  risk_off_ma_sessions: 40\n")
        args = ["backtest", "--workdir", str(work), "--start", "2023-03-01", "--end", "2023-05-31", "--symbols", "8"]
        result = CliRunner().invoke(cli, args + (["--engine", "exact"] if engine == "exact" else []))
        assert result.exit_code == 0, result.output
        out[engine] = result.output.splitlines()
    assert out["array"][0] == out["exact"][0] and out["array"][2] == out["exact"][2]
    assert "note: engine: array (numpy/numba; the live guard's rules, conformance-tested)" in out["array"]
    assert "note: engine: exact (the live Decimal guard on every decision)" in out["exact"]
