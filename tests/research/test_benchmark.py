"""The benchmark a study needs: from the bars, from a Stooq export, or explicitly none."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from tradeops.config import parse_policy
from tradeops.errors import DataError
from tradeops.research.benchmark import NO_BENCHMARK, require_benchmark
from tradeops.research.sources import from_alphavantage_dir


@pytest.fixture(scope="module")
def bars(av_dir):
    return from_alphavantage_dir(av_dir, ["AAPL", "MSFT"], start=date(2019, 1, 2), end=date(2019, 12, 31))


@pytest.fixture(scope="module")
def stooq(shared_data):
    return shared_data / "stooq-spy" / "spy.us.csv"


def test_missing_benchmark_is_an_error_naming_the_way_out(bars):
    with pytest.raises(DataError, match=r"the bars have no SPY .* risk-off rule .* would silently switch off.*--benchmark-file.*--no-benchmark"):
        require_benchmark(bars, parse_policy({}))


def test_a_stooq_export_supplies_the_benchmark_on_the_stock_sessions(bars, stooq):
    out, how = require_benchmark(bars, parse_policy({}), benchmark_file=stooq)
    assert how == "SPY from spy.us.csv (Stooq)"
    spy = out[out["symbol"] == "SPY"].set_index("date")
    with stooq.open() as f:
        raw = {r["Date"]: float(r["Close"]) for r in csv.DictReader(f)}
    days = sorted(set(bars["date"]))
    assert list(spy.index) == [d for d in days if d.strftime("%Y-%m-%d") in raw]
    assert len(spy) == len(days)  # Stooq has every 2019 session the stocks have
    for d, row in spy.iterrows():
        assert row["close"] == row["adj_close"] == raw[d.strftime("%Y-%m-%d")]
    assert (spy["dividend"] == 0).all() and (spy["split"] == 1).all()
    assert out[out["symbol"] != "SPY"].equals(bars.reset_index(drop=True)) or len(out[out["symbol"] != "SPY"]) == len(bars)


def test_a_file_that_does_not_cover_the_warm_up_is_refused(av_dir, stooq):
    early = from_alphavantage_dir(av_dir, ["AAPL"], start=date(2017, 6, 1), end=date(2018, 12, 31))
    with pytest.raises(DataError, match="starts 2018-02-26, after the first bar 2017-06-01"):
        require_benchmark(early, parse_policy({}), benchmark_file=stooq)


def test_no_benchmark_is_explicit_and_needs_a_resume_rule_without_it(bars):
    with pytest.raises(DataError, match="research.halt_resume = benchmark_ma needs the benchmark"):
        require_benchmark(bars, parse_policy({}), no_benchmark=True)
    out, how = require_benchmark(bars, parse_policy({"research": {"halt_resume": "sessions"}}), no_benchmark=True)
    assert how == NO_BENCHMARK and out is bars
