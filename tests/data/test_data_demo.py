"""The offline demo generator: deterministic, calendar-true, realistic events, clean by our own checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tradeops.calendar import get_calendar
from tradeops.config import Policy, load_universe
from tradeops.data.demo import DemoProvider, demo_bars, demo_csv
from tradeops.data.parsers import parse_bars
from tradeops.data.quality import Panel, assess, session_days
from tradeops.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
CAL = get_calendar()


def test_same_bars_for_a_date_whatever_range_is_asked():
    a = demo_bars(42, "AAPL", "Information Technology", False, date(2000, 1, 3), date(2012, 6, 29)).to_pandas()
    b = demo_bars(42, "AAPL", "Information Technology", False, date(2008, 3, 3), date(2021, 4, 21)).to_pandas()
    both = a.merge(b, on="timestamp", suffixes=("_a", "_b"))
    assert len(both) > 1000
    for col in ("open", "high", "low", "close", "volume", "dividend_amount", "split_coefficient"):
        np.testing.assert_array_equal(both[f"{col}_a"], both[f"{col}_b"])
    # adjusted closes are anchored on each range's last bar: same returns, different level
    ratio = both.adjusted_close_a / both.adjusted_close_b
    np.testing.assert_allclose(ratio, ratio.iloc[0], rtol=1e-9)


def test_seed_changes_the_data():
    a = demo_csv(1, "AAPL", "Information Technology", False, date(2020, 1, 2), date(2020, 3, 2))
    assert a == demo_csv(1, "AAPL", "Information Technology", False, date(2020, 1, 2), date(2020, 3, 2))
    assert a != demo_csv(2, "AAPL", "Information Technology", False, date(2020, 1, 2), date(2020, 3, 2))


def test_no_bars_on_exchange_holidays():
    bars = demo_bars(42, "SPY", "Benchmark", True, date(2001, 9, 1), date(2025, 1, 31))
    days = set(bars.column("timestamp").to_pylist())
    assert days == set(CAL.sessions(date(2001, 9, 1), date(2025, 1, 31)))  # an ETF never misses a bar
    for closed in (date(2001, 9, 11), date(2012, 10, 29), date(2024, 7, 4), date(2025, 1, 9)):
        assert closed not in days


def test_every_universe_symbol_from_1990_to_2040():
    universe = load_universe(ROOT / "config" / "universe.csv", "SPY")
    provider = DemoProvider(seed=7)
    for inst in universe.instruments:
        for start, end in [(date(1990, 1, 2), date(1990, 1, 31)), (date(2040, 12, 3), date(2040, 12, 31))]:
            bars = parse_bars("demo", provider.download(inst, start, end).data)
            assert bars.num_rows >= 19, inst.internal_symbol
    whole = parse_bars("demo", provider.download(universe["AAPL"], date(1990, 1, 2), date(2040, 12, 31)).data)
    assert whole.num_rows > 12_000
    with pytest.raises(DataError, match="1990..2040"):
        demo_bars(42, "AAPL", "", False, date(1989, 12, 1), date(1990, 2, 1))


@pytest.fixture(scope="module")
def history():
    """200 stocks and two ETFs over 1990..2040, as one panel."""
    syms = [(f"S{i:03d}", ["Energy", "Financials", "Health Care", "Utilities"][i % 4], False) for i in range(200)]
    syms += [("SPY", "Benchmark", True), ("QQQ", "Benchmark", True)]
    tables = {s: demo_bars(42, s, sector, etf, date(1990, 1, 2), date(2040, 12, 31)) for s, sector, etf in syms}
    order = sorted(tables)
    names = {"adj_close": "adjusted_close", "dividend": "dividend_amount", "split": "split_coefficient"}
    cols = {
        c: np.concatenate([tables[s].column(names.get(c, c)).to_numpy() for s in order])
        for c in ("open", "high", "low", "close", "adj_close", "volume", "dividend", "split")
    }
    days = np.concatenate([tables[s].column("timestamp").to_numpy().astype("datetime64[D]").astype(np.int64) for s in order])
    offsets = np.concatenate([[0], np.cumsum([tables[s].num_rows for s in order])])
    return Panel(order, offsets, days, **cols)


def test_history_has_splits_reverse_splits_dividends_and_missing_bars(history):
    split = history.split
    assert (split > 1).sum() > 100 and (split < 1).sum() >= 3
    assert set(np.unique(split[split != 1])) <= {2.0, 3.0, 4.0, 1.5, 0.1, 0.2, 0.25, 0.333333}
    assert (history.dividend > 0).sum() > 10_000
    full = len(session_days()[(session_days() >= np.datetime64("1990-01-02").astype(int))])
    rows = np.diff(history.offsets)
    assert (rows < full).sum() > 100  # stocks miss the odd bar
    assert rows[history.symbols.index("SPY")] == full


def test_fat_tails(history):
    k = history.group
    r = np.diff(np.log(history.adj_close))[k[1:] == k[:-1]]
    z = (r - r.mean()) / r.std()
    assert (z**4).mean() > 5  # excess kurtosis: a normal distribution gives 3


def test_history_passes_our_own_quality_checks(history):
    """Every split is smooth in adjusted terms and no adjusted move is a jump: the generator is consistent."""
    q = Policy().quality.model_copy(update={"window_sessions": 10_000, "max_missing_sessions": 20, "max_symbol_age_sessions": 10})
    r = assess(history, as_of=date(2040, 12, 31), universe=history.symbols, benchmark="SPY", sessions=session_days(), q=q)
    excluded = {s: st.reasons for s, st in r.statuses.items() if st.status != "ok"}
    assert excluded == {}
    raw_jump = np.abs(history.close[1:] / history.close[:-1] - 1)[(history.split[1:] != 1)]
    assert (raw_jump > 0.3).mean() > 0.9  # splits do move the traded price
