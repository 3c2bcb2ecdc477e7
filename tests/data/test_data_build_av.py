"""The whole AlphaVantage sample (105 real files) + the Stooq SPY export through fetch and build."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tradeops.config import Workspace
from tradeops.data import CLEAN_COLUMNS, build_clean, load_clean, load_quality_report
from tradeops.data.parsers import parse_stooq
from tradeops.data.providers import internal_symbol

AS_OF = date(2021, 4, 21)


@pytest.fixture(scope="module")
def clean(av_build) -> pd.DataFrame:
    ws, _, _ = av_build
    return load_clean(ws)


@pytest.fixture
def rebuild_ws(av_build, tmp_path) -> Workspace:
    """A fresh workspace sharing the fetched raw files, for builds with other thresholds."""
    ws = Workspace.at(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw").symlink_to(av_build[0].raw_dir)
    return ws


def test_bf_b_error_payload_is_reported_as_a_vendor_error(av_build, av_dir):
    ws, result, report = av_build
    st = report.symbols["BF.B"]
    assert st.status == "excluded" and st.checks_failed == ["vendor_error"]
    assert "error payload instead of CSV" in st.reasons[0] and "Error Message" in st.reasons[0]
    first = result.for_symbol("BF.B")[0]
    assert (first.source, first.kind) == ("alphavantage", "vendor_error")
    # the raw store kept exactly what the vendor sent, error and all
    original = next(av_dir.glob("DA-BF.B-*.csv")).read_bytes()
    assert (ws.root / first.raw_file).read_bytes() == original
    assert report.check("vendor_error").values["symbols"] == ("BF.B",)


def test_the_stale_symbol_is_excluded_and_named(av_build, clean):
    _, _, report = av_build
    stale = report.check("stale")
    assert stale.values["symbols"] == ("VAR",)
    assert report.symbols["VAR"].last_date == "2021-04-16"
    assert "VAR: stale: last bar 2021-04-16 is 3 session(s) before as_of 2021-04-21" in report.excluded["VAR"][0]
    assert "VAR" not in set(clean.symbol)  # excluded, not forward-filled
    assert "VAR" in report.check("coverage").message


def test_shipped_thresholds_pass_with_two_symbols_excluded(av_build):
    _, _, report = av_build
    assert report.passed and report.trade_allowed and report.reasons == []
    assert sorted(report.excluded) == ["BF.B", "VAR"]
    cov = report.check("coverage")
    assert cov.values["observed"] == 104 / 106 and cov.values["threshold"] == 0.98


@pytest.mark.parametrize("min_coverage, passes", [(104 / 106, True), (math.nextafter(104 / 106, 1.0), False), (0.98, True), (0.99, False)])
def test_coverage_passes_or_fails_exactly_at_the_threshold(av_build, rebuild_ws, av_universe, make_av_policy, min_coverage, passes):
    ws, result = rebuild_ws, av_build[1]
    report = build_clean(ws, make_av_policy(min_coverage=min_coverage), av_universe, AS_OF, result)
    assert report.check("coverage").passed is passes
    assert report.trade_allowed is passes and report.passed is passes
    assert bool(report.reasons) is not passes
    if not passes:
        assert "coverage 98.11% (104 of 106" in report.reasons[0] and "min_coverage" in report.reasons[0]
    assert load_quality_report(ws).trade_allowed is passes


@pytest.mark.parametrize("day, ratio", [("2014-06-09", 7.00000700001), ("2020-08-31", 4.0)])
def test_aapl_splits_jump_raw_but_not_adjusted(clean, day, ratio):
    aapl = clean[clean.symbol == "AAPL"].set_index("date")
    i = aapl.index.get_loc(pd.Timestamp(day))
    before, on = aapl.iloc[i - 1], aapl.iloc[i]
    assert on.split == ratio
    assert abs(on.close / before.close - 1) > 0.70
    assert abs(on.adj_close / before.adj_close - 1) < 0.05


def test_adjusted_ohlc_keeps_low_below_open_close_below_high(clean):
    lo, hi = clean[["adj_open", "adj_close"]].min(axis=1), clean[["adj_open", "adj_close"]].max(axis=1)
    assert (clean.adj_low <= lo).all() and (clean.adj_high >= hi).all()
    assert (clean.low <= clean[["open", "close"]].min(axis=1)).all()
    np.testing.assert_allclose(clean.adj_open / clean.open, clean.adj_close / clean.close, rtol=1e-12)


def test_last_adjusted_close_of_aapl(clean):
    aapl = clean[clean.symbol == "AAPL"]
    assert aapl.date.iloc[-1] == pd.Timestamp(AS_OF)
    assert aapl.adj_close.iloc[-1] == 133.5 and aapl.close.iloc[-1] == 133.5


def test_stooq_spy_export_parses_through_the_stooq_path_unchanged(av_build, clean, spy_csv):
    ws, result, _ = av_build
    chosen = result.chosen("SPY")
    assert (chosen.source, chosen.role) == ("stooq", "fallback")
    assert (ws.root / chosen.raw_file).read_bytes() == spy_csv  # byte for byte
    vendor = pd.read_csv(pd.io.common.BytesIO(spy_csv), parse_dates=["Date"])
    vendor = vendor[vendor.Date <= pd.Timestamp(AS_OF)].reset_index(drop=True)
    spy = clean[clean.symbol == "SPY"].reset_index(drop=True)
    assert len(spy) == len(vendor) and (spy.date == vendor.Date).all()  # nothing after as_of: no lookahead
    for ours, theirs in [("open", "Open"), ("high", "High"), ("low", "Low"), ("close", "Close"), ("adj_close", "Close"), ("volume", "Volume")]:
        np.testing.assert_array_equal(spy[ours].to_numpy(), vendor[theirs].to_numpy(dtype=float))
    assert spy.dividend.isna().all() and spy.split.isna().all() and (spy.source == "stooq").all()
    assert parse_stooq(spy_csv).num_rows == 2000


def test_clean_file_contract(av_build, clean):
    ws, _, report = av_build
    assert tuple(clean.columns) == CLEAN_COLUMNS
    assert str(clean.date.dtype) == "datetime64[ns]" and clean.date.dt.tz is None
    assert (clean.date == clean.date.dt.normalize()).all()
    for col in CLEAN_COLUMNS[2:13]:
        assert clean[col].dtype == np.float64, col
    assert not clean.duplicated(["symbol", "date"]).any()
    assert clean.sort_values(["symbol", "date"]).index.equals(clean.index)
    assert clean.date.max() == pd.Timestamp(AS_OF)
    assert sorted(clean.symbol.unique()) == sorted(s for s, st in report.symbols.items() if st.status == "ok")
    assert report.output["rows"] == len(clean) == pq.read_metadata(ws.clean_path).num_rows
    # lineage: every row names its source and a raw file that exists in the workspace
    for raw in clean.raw_file.unique():
        assert (ws.root / raw).is_file() and (ws.root / raw).with_suffix(".json").is_file()
    assert set(clean.source) == {"alphavantage", "stooq"}


def test_class_shares_map_back_to_the_internal_symbol(av_universe, clean):
    assert "BRK.B" in set(clean.symbol)
    for source, spelling in [("yfinance", "BRK-B"), ("stooq", "brk-b.us"), ("alphavantage", "BRK.B"), ("yfinance", "BRK/B")]:
        assert internal_symbol(av_universe, source, spelling) == "BRK.B"
    assert internal_symbol(av_universe, "yfinance", "NOPE") is None


def test_findings_before_the_window_are_warnings(av_build):
    _, _, report = av_build
    trmb = " ".join(report.symbols["TRMB"].warnings)
    assert report.symbols["TRMB"].status == "ok" and "+100.0% on 2007-02-23" in trmb
    assert "19 zero-volume bar(s)" in " ".join(report.symbols["NDAQ"].warnings)


def test_a_wide_window_turns_old_jumps_into_exclusions(av_build, rebuild_ws, av_universe, make_av_policy):
    """A price jump that no split explains (real ones: AAPL 2000, TRMB's 2007 glitch) excludes the symbol."""
    report = build_clean(rebuild_ws, make_av_policy(window_sessions=6000, max_zero_volume_sessions=100), av_universe, AS_OF, av_build[1])
    jumped = report.check("unexplained_jump").values["symbols"]
    assert {"AAPL", "TRMB", "MRO", "EQIX"} <= set(jumped)
    assert "largest -51.9% on 2000-09-29" in report.excluded["AAPL"][0]
    assert report.check("split_not_smooth").values["symbols"] == ()  # every recorded split is smooth
    assert not report.trade_allowed and "coverage" in report.reasons[0]


def test_quality_report_files(av_build):
    ws, _, report = av_build
    data = json.loads((ws.quality_dir / "quality.json").read_text())
    assert data["trade_allowed"] is True and data["as_of"] == "2021-04-21"
    assert {c["name"] for c in data["checks"]} >= {
        "coverage",
        "benchmark_present",
        "benchmark_fresh",
        "clean_duplicate_dates",
        "clean_prices_sane",
        "vendor_error",
        "stale",
        "zero_volume",
        "unexplained_jump",
        "split_not_smooth",
        "ohlc_sanity",
    }
    for c in data["checks"]:
        assert {"threshold", "observed", "passed", "rule"} <= set(c)
    assert data["excluded"]["BF.B"] and data["symbols"]["AAPL"]["status"] == "ok"
    md = (ws.quality_dir / "quality.md").read_text()
    assert "Overall: **PASS**" in md and "| VAR |" in md and "| coverage | gate | 0.98 |" in md
