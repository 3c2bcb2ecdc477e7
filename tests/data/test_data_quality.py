"""Every quality check on constructed bars: where it excludes, where it only warns,
and exactly at its threshold."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradeops.checks import OK
from tradeops.calendar import get_calendar
from tradeops.config import Quality
from tradeops.data.quality import Panel, QualityReport, assess, disagreement, session_days

AS_OF = date(2025, 1, 10)  # the Friday after the 2025-01-09 closure
CAL = get_calendar()
Q = Quality(window_sessions=40)


def bars(n: int = 60, end: date = AS_OF, price: float = 100.0) -> pd.DataFrame:
    """A clean series of ``n`` sessions ending at ``end``: 0.1% a day, no events."""
    days = pd.to_datetime(CAL.sessions_back(end, n))
    close = price * 1.001 ** np.arange(n)
    return pd.DataFrame(
        {
            "date": days,
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": 1e6,
            "dividend": 0.0,
            "split": 1.0,
        }
    )


def panel(frames: dict[str, pd.DataFrame]) -> Panel:
    syms = sorted(frames)
    fs = [frames[s].sort_values("date", kind="stable") for s in syms]
    cat = lambda c: np.concatenate([f[c].to_numpy(dtype=float) for f in fs]) if fs else np.zeros(0)  # noqa: E731
    days = np.concatenate([f["date"].to_numpy().astype("datetime64[D]").astype(np.int64) for f in fs]) if fs else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in fs])]).astype(np.int64)
    return Panel(syms, offsets, days, *(cat(c) for c in ("open", "high", "low", "close", "adj_close", "volume", "dividend", "split")))


def run(frames, q=Q, universe=None, benchmark="SPY", **kw):
    frames = {"SPY": bars(), **frames}
    return assess(panel(frames), as_of=AS_OF, universe=universe or sorted(frames), benchmark=benchmark, sessions=session_days(), q=q, **kw)


def status(result, sym):
    return result.statuses[sym]


def test_clean_bars_pass_every_check():
    r = run({"AAA": bars()})
    assert all(c.severity == OK for c in r.checks) and r.keep.all()
    assert status(r, "AAA").status == "ok" and status(r, "AAA").bars == 60


def test_2025_01_09_closure_is_not_a_missing_session():
    days = pd.to_datetime(CAL.sessions_back(AS_OF, 3))
    assert list(days.strftime("%Y-%m-%d")) == ["2025-01-07", "2025-01-08", "2025-01-10"]
    assert status(run({"AAA": bars()}), "AAA").status == "ok"


def test_duplicate_dates_exclude_and_never_reach_the_output():
    f = bars()
    r = run({"AAA": pd.concat([f, f.iloc[[10]]])})
    st = status(r, "AAA")
    assert st.checks_failed == ["duplicate_dates"] and "1 duplicate date(s)" in st.reasons[0] and "max_duplicate_dates 0" in st.reasons[0]
    r = run({"AAA": pd.concat([f, f.iloc[[10]]])}, q=Quality(window_sessions=40, max_duplicate_dates=1))
    assert status(r, "AAA").status == "ok"
    assert r.checks[-2].code == "clean_duplicate_dates" and r.checks[-2].values["observed"] == 0  # dropped anyway


@pytest.mark.parametrize("column, value", [("low", 1000.0), ("high", 1.0), ("close", -1.0), ("open", np.nan), ("volume", -5.0)])
def test_insane_bar_in_the_window_excludes(column, value):
    f = bars()
    f.loc[55, column] = value
    st = status(run({"AAA": f}), "AAA")
    assert st.checks_failed == ["ohlc_sanity"]


def test_insane_bar_before_the_window_is_dropped_with_a_warning():
    f = bars()
    f.loc[2, "low"] = 1000.0
    r = run({"AAA": f})
    st = status(r, "AAA")
    assert st.status == "ok" and "1 insane bar(s) before the check window dropped" in st.warnings[0]
    assert r.keep.sum() == 119 and all(c.passed for c in r.checks if c.values["scope"] == "gate")


def test_bar_on_a_holiday_is_off_calendar():
    f = bars()
    extra = f.iloc[[-1]].assign(date=pd.Timestamp("2025-01-09"))  # national day of mourning: closed
    st = status(run({"AAA": pd.concat([f, extra])}), "AAA")
    assert st.checks_failed == ["off_calendar"] and "2025-01-09" in st.reasons[0]


@pytest.mark.parametrize("missing, excluded", [(5, False), (6, True)])
def test_missing_sessions_at_the_threshold(missing, excluded):
    f = bars().drop(index=range(40, 40 + missing))
    st = status(run({"AAA": f}), "AAA")
    assert (st.status == "excluded") is excluded
    if excluded:
        assert "6 session(s) without a bar in the last 40 sessions; max_missing_sessions 5" in st.reasons[0]


@pytest.mark.parametrize("zeros, excluded", [(3, False), (4, True)])
def test_zero_volume_at_the_threshold(zeros, excluded):
    f = bars()
    f.loc[50 : 49 + zeros, "volume"] = 0.0
    st = status(run({"AAA": f}), "AAA")
    assert (st.checks_failed == ["zero_volume"]) is excluded


def test_stale_symbol_is_excluded_not_forward_filled():
    r = run({"AAA": bars(59, end=CAL.previous_session(AS_OF))})
    st = status(r, "AAA")
    assert st.checks_failed == ["stale"] and "1 session(s) before as_of 2025-01-10" in st.reasons[0]
    assert not r.keep[:59].any() and r.keep[59:].all()  # AAA sorts first: none of its rows is written
    assert status(run({"AAA": bars(59, end=CAL.previous_session(AS_OF))}, q=Quality(window_sessions=40, max_symbol_age_sessions=1)), "AAA").status == "ok"


def test_unexplained_jump_excludes_but_a_split_explains_one():
    f = bars()
    f.loc[50:, ["open", "high", "low", "close", "adj_close"]] *= 0.5  # -50%: a 2:1 split the vendor did not adjust
    st = status(run({"AAA": f}), "AAA")
    assert st.checks_failed == ["unexplained_jump"] and "largest -49.9% on 2024-12-26" in st.reasons[0] and "max_unexplained_jump 45%" in st.reasons[0]
    g = bars()
    g.loc[:49, "adj_close"] = g.loc[:49, "close"] * 0.5  # the vendor adjusted it: adj smooth, close jumps
    g.loc[50:, ["open", "high", "low", "close", "adj_close"]] *= 0.5
    g.loc[50, "split"] = 2.0
    assert status(run({"AAA": g}), "AAA").status == "ok"


def test_split_whose_adjusted_series_is_not_smooth():
    f = bars()
    f.loc[50:, ["open", "high", "low", "close", "adj_close"]] *= 0.5
    f.loc[50, "split"] = 2.0  # split recorded, adjusted close not adjusted
    st = status(run({"AAA": f}), "AAA")
    assert st.checks_failed == ["split_not_smooth"] and "on a 2 split" in st.reasons[0]


def test_old_jumps_are_warnings():
    f = bars()
    f.loc[5:, ["open", "high", "low", "close", "adj_close"]] *= 2.0
    st = status(run({"AAA": f}), "AAA")
    assert st.status == "ok" and "before the check window (largest +100.2% on 2024-10-22" in st.warnings[0]


def test_bars_after_as_of_are_never_used():
    f = bars(65, end=CAL.session_offset(AS_OF, 5))
    r = run({"AAA": f})
    assert r.dropped_after_as_of == 5 and status(r, "AAA").last_date == "2025-01-10"
    assert status(r, "AAA").status == "ok"


def test_vendor_error_and_no_data_are_reasons_not_exceptions():
    r = run(
        {},
        universe=["SPY", "BAD", "GONE"],
        failures={
            "BAD": [("alphavantage", "vendor_error", "alphavantage answered with an error payload instead of CSV: '{}'")],
            "GONE": [("yfinance", "unavailable", "failed after 4 attempts")],
        },
    )
    assert status(r, "BAD").checks_failed == ["vendor_error"] and "BAD: vendor error, no data: alphavantage" in status(r, "BAD").reasons[0]
    assert status(r, "GONE").checks_failed == ["no_data"] and "yfinance: failed after 4 attempts" in status(r, "GONE").reasons[0]


@pytest.mark.parametrize("n_bad, passes", [(1, True), (2, False)])
def test_coverage_gate_at_the_threshold(n_bad, passes):
    """49 of 50 is exactly 98%: it passes; 48 of 50 does not."""
    frames = {f"S{i:02d}": bars() for i in range(49)}
    for i in range(n_bad):
        frames[f"S{i:02d}"] = bars(59, end=CAL.previous_session(AS_OF))
    r = run(frames, q=Quality(window_sessions=40, min_coverage=0.98))
    cov = next(c for c in r.checks if c.code == "coverage")
    assert cov.values["observed"] == (50 - n_bad) / 50 and cov.passed is passes


def test_benchmark_missing_or_stale_fails_the_gate():
    r = run({"SPY": bars(59, end=CAL.previous_session(AS_OF)), "AAA": bars()})
    gates = {c.code: c for c in r.checks if c.values["scope"] == "gate"}
    assert not gates["benchmark_fresh"].passed and not gates["benchmark_present"].passed
    assert "benchmark SPY last bar 2025-01-08 is 1 session(s) before as_of 2025-01-10" in gates["benchmark_fresh"].message
    r = run({"SPY": bars(59, end=CAL.previous_session(AS_OF))}, q=Quality(window_sessions=40, benchmark_max_age_sessions=1, min_coverage=0.0))
    assert all(c.passed for c in r.checks if c.values["scope"] == "gate")


def test_report_from_failed_gates_says_no_trade():
    r = run({"SPY": bars(59, end=CAL.previous_session(AS_OF))})
    report = QualityReport.from_assessment(r, as_of=AS_OF, run_id="x", benchmark="SPY", universe_size=1, output={"path": "p", "rows": 0})
    assert not report.passed and not report.trade_allowed
    assert any("benchmark_fresh" in reason for reason in report.reasons)
    again = QualityReport.from_dict(report.to_dict())
    assert again.to_dict() == report.to_dict()
    md = report.to_markdown()
    assert "Trade allowed: **NO (no trade if failed)**" in md and "## Why trading is blocked" in md


def test_disagreement_between_sources():
    d = int(np.datetime64(AS_OF, "D").astype(np.int64))
    assert disagreement("AAA", ("yfinance", d, 101.9), ("stooq", d, 100.0), 0.02) is None
    reason = disagreement("AAA", ("yfinance", d, 103.0), ("stooq", d, 100.0), 0.02)
    assert reason == "AAA: sources disagree on 2025-01-10: yfinance adjusted close 103.0000 vs stooq 100.0000 (3.00% > max_source_disagreement 2.00%)"
    r = run({"AAA": bars()}, disagreements={"AAA": reason})
    assert status(r, "AAA").checks_failed == ["source_disagreement"]


def test_nothing_fetched_gives_reasons_and_an_empty_clean_file(tmp_path):
    from tradeops.data import CLEAN_COLUMNS
    from tradeops.data.clean import write_clean

    empty = panel({})
    r = assess(
        empty, as_of=AS_OF, universe=["SPY", "AAA"], benchmark="SPY", sessions=session_days(), q=Q, failures={"AAA": [("demo", "unavailable", "demo down")]}
    )
    gates = {c.code: c.passed for c in r.checks if c.values["scope"] == "gate"}
    assert gates == {"coverage": False, "benchmark_present": False, "benchmark_fresh": False, "clean_duplicate_dates": True, "clean_prices_sane": True}
    assert status(r, "SPY").reasons == ["SPY: no data: not fetched"] and status(r, "AAA").reasons == ["AAA: no data: demo: demo down"]
    path = tmp_path / "eod.parquet"
    assert write_clean(empty, r.keep, {}, path) == 0
    clean = pd.read_parquet(path)
    assert tuple(clean.columns) == CLEAN_COLUMNS and len(clean) == 0
