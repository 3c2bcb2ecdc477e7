"""The drawdown halt in the backtest, on the real 2007-2009 bars: sell to cash, HALT, the study's resume."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tradeops.calendar import get_calendar
from tradeops.config import parse_policy
from tradeops.errors import DataError
from tradeops.research.backtest import Costs, HaltResume, run_backtest
from tradeops.research.sources import alphavantage_symbols, from_alphavantage_dir
from tradeops.research.study import Study, halts_table, universe_of
from tradeops.research.report import study_html

START, END = date(2007, 1, 3), date(2009, 12, 31)
LIMIT = 0.20
RESUME = HaltResume("sessions", 60)


@pytest.fixture(scope="module")
def crisis(av_dir):
    """Every real symbol (no SPY in this set), default policy, momentum, 2007-2009."""
    policy = parse_policy({"research": {"halt_resume": "sessions", "halt_resume_sessions": 60}})
    stocks = alphavantage_symbols(av_dir)
    eod = from_alphavantage_dir(av_dir, stocks, start=date(2006, 1, 1), end=END)
    universe = universe_of(stocks, "SPY")
    res = run_backtest(eod, policy, universe, START, END, keep_states=True)
    return policy, eod, universe, res


def test_a_breach_moves_the_book_to_cash_within_one_session_and_nothing_freezes(crisis):
    policy, eod, universe, res = crisis
    cal = get_calendar()
    assert res.halts, "2008 must breach the 20% limit"
    eq = res.equity
    fills = res.trades.assign(session=pd.to_datetime(res.trades["session"]))
    for h in res.halts:
        breach, resumed = h["breach"], h["resumed"]
        # the breach is the first session past the limit since the last (assumed) resume, on the
        # close-valued equity curve (the guard prices the book at the same raw closes)
        since = [r["resumed"] for r in res.halts if r["resumed"] and r["resumed"] < breach]
        window = eq.loc[pd.Timestamp(since[-1] if since else START) : pd.Timestamp(breach)]
        dd = 1 - window / window.cummax()
        assert dd.iloc[-1] >= LIMIT and (dd.iloc[:-1] < LIMIT).all()
        # every position is sold at the next session's open: in cash one session later
        nxt = cal.next_session(breach)
        assert h["in_cash"] == nxt
        sold = fills[fills["session"] == pd.Timestamp(nxt)]
        held = res.states[breach].positions
        assert set(sold["symbol"]) == set(held) and (sold["side"] == "SELL").all()
        assert dict(zip(sold["symbol"], sold["units"])) == held
        # in HALT: no fill at all, equity flat (all cash), until the assumed resume
        stop = pd.Timestamp(resumed) if resumed else eq.index[-1]
        assert fills[(fills["session"] > pd.Timestamp(nxt)) & (fills["session"] <= stop)].empty
        flat = eq.loc[pd.Timestamp(nxt) : stop]
        assert flat.nunique() == 1
        assert h["sessions_halted"] == (RESUME.min_sessions if resumed else len(cal.sessions(nxt, eq.index[-1].date())))
    # no frozen spell: every decision the drawdown rule refused holds nothing, except the breach itself
    breaches = {h["breach"] for h in res.halts}
    for d, dec_ in res.decisions.items():
        refused = any(r.code == "drawdown_kill_switch" and not r.passed for r in dec_.rules)
        if refused:
            assert dec_.halt
            assert d in breaches or not res.states[d].positions, f"{d}: refused while holding {res.states[d].positions}"
        assert not (dec_.halt and any(t.side == "BUY" for t in dec_.trades))


def test_the_report_lists_each_halt_and_the_assumed_resume(crisis):
    policy, eod, universe, res = crisis
    table = halts_table(res)
    assert list(table["breach (decision session)"]) == [h["breach"] for h in res.halts]
    assert res.resume_rule == "resume assumed 60 sessions after the breach"
    study = Study(
        "momentum", "alphavantage", START, END, tuple(universe.tradable), "SPY", Costs(), res, pd.Series(dtype=float), {"Drawdown halts": table}, None, None
    )
    page = study_html(study)
    assert "Drawdown halts" in page and str(res.halts[0]["breach"]) in page and "assumed resume after 60 sessions in HALT" in page
    assert f"drawdown halts: {len(res.halts)}; resume assumed 60 sessions after the breach" in study.summary_text()


def test_the_benchmark_resume_rule_needs_the_benchmark(crisis):
    policy, eod, universe, _ = crisis
    with pytest.raises(DataError, match="'benchmark_ma' needs the benchmark SPY.*research.halt_resume: sessions"):
        run_backtest(eod, policy, universe, date(2008, 9, 2), date(2008, 12, 31), resume=HaltResume("benchmark_ma", 5))


def test_the_benchmark_ma_resume_waits_for_the_benchmark(demo_eod, demo_universe):
    """Seeded demo market with SPY; a 5% limit forces breaches.  Each assumed resume is the first
    decision session, 5 or more sessions after the breach, where SPY's adjusted close is at or
    above its 20-session average, computed here from the bars."""
    policy = parse_policy(
        {
            "risk": {"kill_switch_drawdown": 0.05, "drawdown_warning": 0.04},
            "portfolio": {"risk_off_ma_sessions": 20},
            "research": {"halt_resume": "benchmark_ma", "halt_resume_sessions": 5},
        }
    )
    res = run_backtest(demo_eod, policy, demo_universe, date(2022, 6, 1), date(2023, 12, 29))
    assert res.resume_rule.startswith("resume assumed on the first close, 5 or more sessions after the breach, with SPY at or above its 20-session average")
    spy = demo_eod[demo_eod["symbol"] == "SPY"].set_index("date")["adj_close"]
    above = spy >= spy.rolling(20).mean()
    resumed = [h for h in res.halts if h["resumed"]]
    assert resumed, "a 5% limit must halt and resume at least once over 19 months"
    decided = sorted(res.decisions)
    for h in resumed:
        after = [d for d in decided if d > h["breach"]]
        first_allowed = after[4]  # the 5th decision session after the breach
        want = next(d for d in after if d >= first_allowed and above.loc[pd.Timestamp(d)])
        assert h["resumed"] == want and h["sessions_halted"] == after.index(want) + 1
        assert "closed at or above its 20-session average" in h["resume_reason"]
