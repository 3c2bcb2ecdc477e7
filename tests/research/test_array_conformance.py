"""The array engine decides like the live Decimal guard: both engines on the same bars and policy.

Per decision session: the same decision kind, the same selected symbols (the exact engine's
raw targets), the same trade sides, approved weights within 1e-9 (the exact one worked out
unrounded from the guard's trades and the book it saw), and equity curves within 1e-6
relative.  A disagreement names the session, the symbol and the rules that shaped or refused
the decision on each side.  Real bars: the 104 shared AlphaVantage symbols, weekly momentum,
2019-2020 in the default run and 2005-2021 behind ``slow``; plus a daily-checks variant and a
hypothesis property test over small random markets, books and policies.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tradeops.calendar import get_calendar
from tradeops.config import parse_policy
from tradeops.research import array_engine as ae
from tradeops.research.backtest import _NO_RANKS, Costs, HaltResume, Market, live_ranker, run_backtest
from tradeops.research.sources import alphavantage_symbols, from_alphavantage_dir
from tradeops.research.study import universe_of
from tradeops.risk import ZERO, make_book

DATA_END = date(2021, 4, 20)  # the shared files end on 2021-04-21


def mismatches(exact, array, eod, policy, calendar, limit: int = 10) -> list[str]:
    """Every disagreement between the two results, as 'session symbol: what (rules)'."""
    market = Market(eod, calendar)
    col = {s: j for j, s in enumerate(array.symbols)}
    out = []
    rel = np.abs(array.equity.to_numpy() / exact.equity.to_numpy() - 1.0)
    for k in np.nonzero(rel > 1e-6)[0][:1]:
        out.append(f"{array.sessions[k].date()}: equity {array.equity.iloc[k]!r} vs exact {exact.equity.iloc[k]!r} (relative {rel[k]:.2e})")
    for w, day in enumerate(array.sessions):
        d = day.date()
        dx = exact.decisions.get(d)
        ka = ae.KINDS.get(int(array.kind[w]))
        rules = f"array rules {array.rules_named(w)}; exact notes {list(dx.notes) if dx else []}, failed {[r.code for r in dx.failed] if dx else []}"
        if dx is None or ka is None:
            if (dx is None) != (ka is None):
                out.append(f"{d}: exact decision {dx.kind if dx else None}, array {ka}")
            continue
        if ka != dx.kind or bool(array.halt[w]) != dx.halt:
            out.append(f"{d}: kind {ka} (halt {bool(array.halt[w])}) vs exact {dx.kind} (halt {dx.halt}); {rules}")
            continue
        chosen = {t["symbol"] for t in dx.targets if Decimal(t["raw_target_weight"]) > 0} if dx.rebalance and not dx.halt else set()
        mine = {array.symbols[j] for j in np.nonzero(array.selected[w])[0]} if array.rebalance[w] and not array.halt[w] else set()
        for s in sorted(chosen ^ mine):
            out.append(f"{d} {s}: selected by {'exact' if s in chosen else 'array'} only (signal)")
        sides = {t.symbol: t.side for t in dx.trades}
        for s in sorted(set(sides) | {array.symbols[j] for j in np.nonzero(array.side[w])[0]}):
            a = {1: "BUY", -1: "SELL", 0: None}[int(array.side[w, col[s]])]
            if a != sides.get(s):
                sup = [x["rule"] for x in dx.suppressed if x["symbol"] == s]
                out.append(f"{d} {s}: array {a} vs exact {sides.get(s)} (suppressed by {sup}); {rules}")
        state = exact.states[d]
        book = make_book(state, market.reference_prices(market.row[d]), _NO_RANKS, d)
        post, _ = book.after(dx.trades)
        for s, j in col.items():
            want = float(post.get(s, ZERO) / book.equity) if book.equity > 0 else 0.0
            if abs(array.approved[w, j] - want) > 1e-9:
                out.append(f"{d} {s}: approved weight {array.approved[w, j]!r} vs exact {want!r}; {rules}")
        if len(out) >= limit:
            break
    return out[:limit]


def both(eod, policy, universe, start, end, daily_checks=False, costs=None, resume=None, cash=None, quarantine=()):
    cal = get_calendar()
    exact = run_backtest(
        eod, policy, universe, start, end, costs=costs, daily_checks=daily_checks, keep_states=True, resume=resume, cash=cash, quarantine=quarantine
    )
    array = ae.run_array_backtest(eod, policy, universe, start, end, costs=costs, daily_checks=daily_checks, resume=resume, cash=cash, quarantine=quarantine)
    return exact, array, mismatches(exact, array, eod, policy, cal)


@pytest.fixture(scope="module")
def shared(av_dir):
    stocks = alphavantage_symbols(av_dir)
    assert len(stocks) == 104
    universe = universe_of([s for s in stocks if s != "SPY"], "SPY")
    return stocks, universe


@pytest.fixture(scope="module")
def short_eod(av_dir, shared):
    return from_alphavantage_dir(av_dir, shared[0], start=date(2017, 6, 1), end=date(2020, 12, 31))


POLICY = {"research": {"halt_resume": "sessions", "halt_resume_sessions": 60}}


def test_weekly_momentum_2019_2020_both_engines_agree(short_eod, shared):
    policy = parse_policy(POLICY)
    exact, array, bad = both(short_eod, policy, shared[1], date(2019, 1, 2), date(2020, 12, 31))
    assert not bad, "\n".join(bad)
    assert sum(d.kind == "TRADE" for d in exact.decisions.values()) > 50 and len(exact.trades) > 300
    assert len(array.fills) == len(exact.trades)
    assert np.allclose(array.fills["value"].sum(), float(exact.trades["value"].sum()), rtol=1e-9)


def test_daily_checks_2019_2020_both_engines_agree(short_eod, shared):
    """Every session is checked (trims between rebalances), with the 2020 crash's drawdown halt."""
    policy = parse_policy({**POLICY, "risk": {"kill_switch_drawdown": 0.15, "drawdown_warning": 0.1}})
    exact, array, bad = both(short_eod, policy, shared[1], date(2019, 1, 2), date(2020, 12, 31), daily_checks=True, resume=HaltResume("sessions", 30))
    assert not bad, "\n".join(bad)
    assert exact.halts and len(exact.halts) == len(array.halts)
    for hx, ha in zip(exact.halts, array.halts):
        assert {k: hx[k] for k in ("breach", "in_cash", "resumed", "sessions_halted", "resume_reason")} == {
            k: ha[k] for k in ("breach", "in_cash", "resumed", "sessions_halted", "resume_reason")
        }
        assert np.allclose([hx["drawdown"], hx["equity"], hx["peak"]], [ha["drawdown"], ha["equity"], ha["peak"]], rtol=1e-9)
    assert any(not d.rebalance and d.kind == "TRADE" for d in exact.decisions.values())  # a trim between rebalances


def test_the_tight_rules_shape_alike(short_eod, shared):
    """A policy where the shaping rules bind (max_positions cannot: the policy keeps target <= max): few positions, a low turnover cap, a big cash
    buffer, large tiny deltas and minimum orders, a no-buy list, half risk-off, costs and a delay."""
    policy = parse_policy(
        {
            **POLICY,
            "portfolio": {
                "target_positions": 6,
                "min_positions": 4,
                "max_positions": 6,
                "max_weight": 0.16,
                "min_cash_buffer": 0.1,
                "max_turnover": 0.2,
                "tiny_delta_value": 150,
                "tiny_delta_weight": 0.012,
                "min_order_value": 200,
                "no_buy": ["AAPL", "MSFT"],
                "risk_off_cash_fraction": 0.5,
            },
        }
    )
    exact, array, bad = both(short_eod, policy, shared[1], date(2019, 1, 2), date(2020, 12, 31), daily_checks=True, costs=Costs(25.0, 12.5, delay=1))
    assert not bad, "\n".join(bad)
    notes = " ".join(n for d in exact.decisions.values() for n in d.notes)
    for rule in ("max_weight", "max_turnover", "cash_buffer"):
        assert rule in notes, rule
    assert any(x["rule"] == "tiny_deltas" for d in exact.decisions.values() for x in d.suppressed)


def test_quarantined_ranges_are_honoured_alike(short_eod, shared):
    """Two held names lose a range of bars that a position may not be carried across: both engines
    sell them at the open before the range and buy them again only after it."""
    from tradeops.data.quality import Finding

    policy = parse_policy(POLICY)
    start, end = date(2019, 1, 2), date(2019, 12, 31)
    probe = run_backtest(short_eod, policy, shared[1], start, end, keep_states=True)
    day = sorted(probe.states)[10]
    held = sorted(probe.states[day].positions)[:2]
    lo, hi = pd.Timestamp(day) + pd.Timedelta(days=7), pd.Timestamp(day) + pd.Timedelta(days=40)
    eod = short_eod[~(short_eod["symbol"].isin(held) & short_eod["date"].between(lo, hi))].reset_index(drop=True)
    found = [Finding(s, "jump", str(lo.date()), str(hi.date()), "disagree", "quarantined", "test", carry=False) for s in held]
    exact, array, bad = both(eod, policy, shared[1], start, end, quarantine=found)
    assert not bad, "\n".join(bad)
    exits = exact.trades[(exact.trades["symbol"].isin(held)) & (exact.trades["side"] == "SELL")]
    assert len(exits) >= 2 and len(array.fills) == len(exact.trades)


@pytest.mark.parametrize("momentum", [{}, {"volume_window": 21, "volatility_window": 45, "lookback_12w": 50}], ids=["default", "odd-windows"])
def test_the_scores_equal_the_live_signal(short_eod, shared, momentum):
    """The vectorised panel against the live signal (tradeops.signals.momentum, the definition)
    on real bars: the same scores, ranks, selection, factor values (bit for bit) and risk-off."""
    policy = parse_policy({**POLICY, "strategy": {"momentum": momentum}})
    cal = get_calendar()
    market = Market(short_eod, cal)
    panel = ae.momentum_panel(short_eod, policy, shared[1], market)
    rank = live_ranker(short_eod, policy, shared[1], cal)
    for d in cal.sessions("2019-01-02", "2020-12-31")[::5]:
        signal = rank(d)
        live = signal.ranked
        i = market.row[d]
        cols = np.nonzero(panel.rank[i])[0]
        mine = {market.symbols[j]: panel.score[i, j] for j in cols}
        assert len(live) > 50 and dict(zip(live["symbol"], live["score"])) == mine, d
        assert {market.symbols[j]: int(panel.rank[i, j]) for j in cols} == dict(zip(live["symbol"], live["rank"])), d
        assert {market.symbols[j] for j in np.nonzero(panel.selected[i])[0]} == set(live.loc[live["selected"], "symbol"]), d
        for f in panel.factors:
            assert {market.symbols[j]: panel.factors[f][i, j] for j in cols} == dict(zip(live["symbol"], live[f])), (d, f)
        assert bool(panel.risk_off[i]) == bool(signal.risk_off_reasons), d


@pytest.mark.slow
@pytest.mark.parametrize("daily", [False, True], ids=["weekly", "daily-checks"])
def test_2005_2021_both_engines_agree(av_dir, shared, daily):
    eod = from_alphavantage_dir(av_dir, shared[0], start=date(2003, 1, 1), end=DATA_END)
    policy = parse_policy(POLICY)
    exact, array, bad = both(eod, policy, shared[1], date(2005, 1, 3), DATA_END, daily_checks=daily)
    assert not bad, "\n".join(bad)
    assert exact.halts  # 2008
    assert abs(array.equity.iloc[-1] / exact.equity.iloc[-1] - 1) <= 1e-6


# --------------------------------------------------------------------------- property test


def _market(seed: int, n_sym: int, sessions, splits: bool):
    rng = np.random.default_rng(seed)
    rows = []
    syms = [f"X{k}" for k in range(n_sym)] + ["SPY"]
    for k, s in enumerate(syms):
        p = float(rng.uniform(5, 300))
        adj_factor = 1.0
        for t, d in enumerate(sessions):
            if k < n_sym and rng.random() < 0.03:
                continue  # a missing bar
            ret = rng.normal(0.0003, 0.025)
            o = round(p * (1 + rng.normal(0, 0.005)), 2)
            p = max(round(p * (1 + ret), 2), 0.5)
            split = float(rng.choice([2.0, 0.5, 1.5])) if splits and rng.random() < 0.004 else 1.0
            div = round(float(rng.uniform(0.05, 1.5)), 2) if rng.random() < 0.01 else 0.0
            if split != 1.0:
                p, o = round(p / split, 2), round(o / split, 2)
            adj_factor *= 1.0
            rows.append((s, pd.Timestamp(d), o, max(o, p), min(o, p), p, p, float(rng.integers(1e4, 1e7)), div, split))
    eod = pd.DataFrame(rows, columns=["symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "dividend", "split"])
    return eod, syms[:-1]


@settings(max_examples=int(os.environ.get("TRADEOPS_ARRAY_EXAMPLES", "25")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n_sym=st.integers(3, 8),
    target=st.integers(1, 6),
    max_pos=st.integers(1, 6),
    max_weight=st.sampled_from([0.1, 0.2, 0.35, 0.5, 1.0]),
    buffer=st.sampled_from([0.0, 0.02, 0.1, 0.3]),
    turnover=st.sampled_from([0.05, 0.2, 0.5, 2.0]),
    tiny_value=st.sampled_from([0, 25, 400]),
    tiny_weight=st.sampled_from([0.0, 0.005, 0.05]),
    min_order=st.sampled_from([0, 25, 300]),
    risk_off=st.sampled_from([0.0, 0.5, 1.0]),
    kill=st.sampled_from([0.05, 0.15, 0.5]),
    frequency=st.sampled_from(["daily", "weekly", "monthly"]),
    daily_checks=st.booleans(),
    bps=st.sampled_from([(0.0, 0.0), (10.0, 5.0), (7.5, 2.5), (50.0, 30.0)]),
    delay=st.integers(0, 2),
    cash=st.sampled_from([Decimal("10000"), Decimal("2500.55"), Decimal("123456.78")]),
    no_buy=st.booleans(),
    splits=st.booleans(),
)
def test_random_markets_books_and_policies_agree(
    seed,
    n_sym,
    target,
    max_pos,
    max_weight,
    buffer,
    turnover,
    tiny_value,
    tiny_weight,
    min_order,
    risk_off,
    kill,
    frequency,
    daily_checks,
    bps,
    delay,
    cash,
    no_buy,
    splits,
):
    cal = get_calendar()
    sessions = cal.sessions("2021-01-04", "2021-09-30")
    eod, syms = _market(seed, n_sym, sessions, splits)
    universe = universe_of(syms, "SPY")
    policy = parse_policy(
        {
            "rebalance": {"frequency": frequency},
            "strategy": {
                "momentum": {"lookback_1w": 3, "lookback_4w": 8, "lookback_12w": 15, "volatility_window": 10, "volume_window": 5, "reversal_window": 2}
            },
            "portfolio": {
                "target_positions": target,
                "min_positions": min(target, max_pos),
                "max_positions": max(max_pos, target),
                "max_weight": max_weight,
                "min_cash_buffer": buffer,
                "max_turnover": turnover,
                "tiny_delta_value": tiny_value,
                "tiny_delta_weight": tiny_weight,
                "min_order_value": min_order,
                "risk_off_cash_fraction": risk_off,
                "risk_off_to_cash": risk_off > 0,
                "risk_off_ma_sessions": 20,
                "no_buy": [syms[0]] if no_buy else [],
            },
            "risk": {"kill_switch_drawdown": kill, "drawdown_warning": kill / 2},
            "data": {"history_sessions": 40},
            "research": {"halt_resume": "sessions", "halt_resume_sessions": 10},
        }
    )
    exact, array, bad = both(eod, policy, universe, sessions[30], sessions[-1], daily_checks=daily_checks, costs=Costs(*bps, delay=delay), cash=cash)
    assert not bad, "\n".join(bad)


def _fractions_cell_by_cell(a: np.ndarray, neutral: float) -> tuple[np.ndarray, np.ndarray]:
    """The definition :func:`ae._fractions` vectorises: ``ae._fraction`` (Decimal(repr(x)) as a
    reduced fraction) on every cell, den 0 where it has too many decimals."""
    num, den = np.zeros(a.shape, np.int64), np.ones(a.shape, np.int64)
    for idx in zip(*np.nonzero(a != neutral)):
        try:
            num[idx], den[idx] = ae._fraction(a[idx], 10**6)
        except Exception:
            num[idx], den[idx] = 0, 0
    num[a == neutral] = int(neutral)
    return num, den


def test_fractions_of_the_real_dividends_and_splits_equal_the_cell_by_cell_definition(short_eod):
    market = Market(short_eod, get_calendar())
    for grid, neutral in ((market.dividend, 0.0), (market.split, 1.0)):
        assert (grid != neutral).any()
        want, got = _fractions_cell_by_cell(grid, neutral), ae._fractions(grid, neutral)
        assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])


@settings(max_examples=int(os.environ.get("TRADEOPS_ARRAY_EXAMPLES", "25")) * 4, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.builds(lambda n, k: n / 10**k, st.integers(-(10**9), 10**9), st.integers(0, 9)),  # decimals, 0 to 9 places
            st.floats(-1e13, 1e13, allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0078125, 1 / 3, 1 / 524288, 1e12, 1e12 + 1, 1e-7, 2.0, 0.5, 1.0]),  # a 7-decimal 1/128, >1e12, a repeating split
        ),
        min_size=1,
        max_size=40,
    )
)
def test_fractions_equal_the_cell_by_cell_definition(values):
    a = np.array(values, float).reshape(1, -1)
    for neutral in (0.0, 1.0):
        want, got = _fractions_cell_by_cell(a, neutral), ae._fractions(a, neutral)
        assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1]), values
