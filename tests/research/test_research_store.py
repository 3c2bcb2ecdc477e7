"""Research reads the clean store: the 2007 backtest on the shared AlphaVantage set never holds TRMB on its bad bars."""

from __future__ import annotations

import csv
import hashlib
from datetime import date

import pytest

from tradeops.calendar import get_calendar
from tradeops.config import parse_policy
from tradeops.research.backtest import run_backtest
from tradeops.research.study import load_bars

START, END = date(2007, 1, 2), date(2007, 12, 31)


@pytest.fixture(scope="module")
def bars_2007(av_dir, tmp_path_factory):
    policy = parse_policy({})
    store = tmp_path_factory.mktemp("research-store")
    return policy, store, load_bars("alphavantage", START, END, 200, policy, "momentum", av_dir, store_dir=store)


def bad_sessions(av_dir) -> list[str]:
    """From the raw TRMB file: the session where adjusted/close doubles with no split or dividend, and the next one."""
    with open(next(av_dir.glob("DA-TRMB-T-*.csv")), newline="") as fh:
        rows = list(csv.DictReader(fh))
    for k in range(1, len(rows)):
        fa = float(rows[k - 1]["adjusted_close"]) / float(rows[k - 1]["close"])
        fb = float(rows[k]["adjusted_close"]) / float(rows[k]["close"])
        if fb / fa > 1.5 and float(rows[k]["split_coefficient"]) == 1.0:
            return [rows[k]["timestamp"], rows[k + 1]["timestamp"]]
    raise AssertionError("no factor step in TRMB")


def test_bars_come_from_the_quality_checked_snapshot(bars_2007, av_dir):
    _, _, (eod, universe, data) = bars_2007
    assert hashlib.sha256(data.path.read_bytes()).hexdigest() == data.snapshot
    assert "BF.B" not in set(eod["symbol"])  # the error payload never reaches research
    days = set(eod.loc[eod["symbol"] == "TRMB", "date"].dt.strftime("%Y-%m-%d"))
    assert not days & set(bad_sessions(av_dir))
    assert any("clean snapshot" in n for n in data.notes) and any(f.symbol == "TRMB" for f in data.quarantine)
    assert not ((eod["date"] == "2003-01-29").any())  # cut to the research window with its warm-up


def test_a_2007_backtest_does_not_hold_trmb_on_the_bad_bar(bars_2007, av_dir):
    policy, _, (eod, universe, data) = bars_2007
    bad = [date.fromisoformat(d) for d in bad_sessions(av_dir)]
    result = run_backtest(eod, policy, universe, START, END, calendar=get_calendar("XNYS"), quarantine=data.quarantine, keep_states=True)
    trmb = result.trades[result.trades["symbol"] == "TRMB"]
    assert not trmb.empty  # TRMB is traded in 2007, just not across its bad bars
    assert not set(trmb["session"]) & set(bad)
    for d in bad:
        state = result.states.get(d)
        assert state is None or "TRMB" not in state.positions


def test_a_second_load_reuses_the_build(bars_2007, av_dir):
    policy, store, (_, _, data) = bars_2007
    again = load_bars("alphavantage", START, END, 200, policy, "momentum", av_dir, store_dir=store)[2]
    assert again.snapshot == data.snapshot and len(list(store.iterdir())) == 1
