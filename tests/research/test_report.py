"""reports/backtest_latest.html from a small demo study: tearsheet + our tables, atomic, deterministic."""

from __future__ import annotations

import re

import pytest

from tradeops import metrics
from tradeops.research.report import report_html, study_html, summary_table, write_report
from tradeops.research.study import backtest_study

POLICY = {"portfolio": {"target_positions": 6, "min_positions": 2, "risk_off_ma_sessions": 60}}


@pytest.fixture(scope="module")
def study():
    return backtest_study("demo", "2023-01-03", "2023-04-28", "momentum", symbols=12, policy=POLICY)


@pytest.mark.slow
def test_study_tables_are_consistent_runs_of_the_same_engine(study):
    base = study.summary()
    t = study.tables
    # the x1 / delay-0 / first start / base rows are the base run itself, computed once
    for title, label in (
        ("Cost stress", "costs x1"),
        ("Execution delay", "delay 0 session(s)"),
        ("Start-date sensitivity", "start 2023-01-03"),
        ("Parameter neighbourhood", "base"),
    ):
        row = t[title].set_index("run").loc[label]
        assert row["total_return"] == base["total_return"] and row["trades"] == len(study.result.trades), title
    stress = t["Cost stress"]["total_return"].tolist()
    assert stress[0] > stress[1] > stress[2]  # same trades decisions, dearer fills
    assert list(t["Parameter neighbourhood"]["run"]) == ["base", "1 positions", "11 positions", "12-week lookback 45", "12-week lookback 75"]
    quarters = t["Returns by quarter"]  # a short window: quarters; they chain to the whole return
    assert quarters["period"].tolist() == ["2023Q1", "2023Q2"]
    assert (1 + quarters["total_return"]).prod() - 1 == pytest.approx(base["total_return"]) == quarters["cumulative"].iloc[-1]
    bench = study.benchmark.pct_change()
    assert quarters["benchmark_return"].iloc[1] == pytest.approx((1 + bench.loc["2023-04"]).prod() - 1)
    wf = t["Walk-forward (re-fit)"]  # Q2 is out of sample: the variant with the best Q1 Sharpe
    trials = {label: r for label, r in t["Parameter neighbourhood"].set_index("run")["sharpe"].items()}
    assert len(wf) == 2 and wf["fold"].iloc[0].startswith("2023-04-03") and wf["chosen"].iloc[0] in trials
    assert wf["total_return"].iloc[-1] == wf["total_return"].iloc[0]
    assert t["Regime slices"].empty  # 2023 is in none of the named regimes
    assert 0.0 <= study.pbo.pbo <= 1.0 and study.pbo.combinations == 70  # 80 sessions: S = 8 blocks, C(8, 4) and study.dsr.n_trials == 5
    assert 0.0 <= study.dsr.dsr <= 1.0 and study.dsr.n == len(study.returns)
    assert summary_table(study)["series"].tolist() == ["momentum (net of costs)", "SPY (benchmark)"]


@pytest.mark.slow
def test_report_is_the_tearsheet_with_our_tables_written_atomically_and_deterministically(study, tmp_path):
    path = write_report(study, tmp_path / "reports" / "backtest_latest.html")
    page = path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["backtest_latest.html"]  # no temporary left behind
    for title in (
        "Summary",
        "Overfitting",
        "Returns by quarter",
        "Walk-forward (re-fit)",
        "Cost stress",
        "Execution delay",
        "Start-date sensitivity",
        "Parameter neighbourhood",
        "Regime slices",
    ):
        assert f"<h2>{title}</h2>" in page
    assert "Deflated Sharpe ratio" in page and "Probability of backtest overfitting" in page
    assert page.count("<svg") >= 5 and "SPY" in page  # quantstats' charts against the benchmark
    assert page.index('class="tradeops-research"') < page.index("<svg")  # our section on top of the body
    # the summary shows metrics.summary of the equity curve's returns
    assert f"{metrics.total_return(study.returns):.2%}" in study_html(study)
    assert f"{study.pbo.pbo:.3f}" in page and f"{study.dsr.dsr:.3f}" in page
    # same inputs, same bytes (quantstats is stamped with the last session, not the clock)
    assert report_html(study) == page
    assert not re.search(r"20(2[4-9]|3\d)-\d\d-\d\d", page.replace(str(study.end), ""))  # no run-time date


def test_repr_html_is_our_section_only(study):
    out = study._repr_html_()
    assert "<h2>Cost stress</h2>" in out and "<svg" not in out
    assert out == study_html(study)
