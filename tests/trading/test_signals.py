"""Signals on the seeded market: ranking contract, no lookahead, drops, rotation, regime."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradeops import signals
from tradeops.config import parse_policy
from tradeops.errors import ConfigError, DataError
from tradeops.signals import FACTORS, compute_signal, history_until, read_signal, run_signal_stage, write_signal


def test_ranked_frame_contract(eod, policy, universe, factory):
    r = compute_signal(eod, policy, factory.data_end, universe)
    f = r.ranked
    assert list(f.columns[:4]) == ["symbol", "score", "rank", "selected"]
    assert set(FACTORS) <= set(f.columns)
    assert list(f["rank"]) == list(range(1, len(f) + 1))
    assert f["score"].is_monotonic_decreasing
    # candidates are the universe's tradable stocks: no benchmark, no ETF
    assert set(f["symbol"]) == set(factory.stocks)
    assert f["selected"].sum() == policy.portfolio.target_positions
    assert f.loc[f["selected"], "rank"].max() == policy.portfolio.target_positions
    assert r.dropped == {}
    assert r.regime.benchmark == "SPY" and r.regime.below_ma is not None


def test_score_is_the_documented_weighted_percentile_sum(eod, policy, universe, factory):
    f = compute_signal(eod, policy, factory.data_end, universe).ranked
    w = policy.strategy.momentum.weights
    expected = sum(w[k] * (-f[k] if k == "volatility" else f[k]).rank(pct=True) for k in FACTORS)
    assert np.allclose(f["score"], expected, atol=1e-12)


def test_future_bars_are_never_read(eod, policy, universe, factory, calendar):
    session = factory.data_end
    base = compute_signal(eod, policy, session, universe)
    # the data goes on for 10 more sessions with absurd prices that would reorder everything
    future_days = calendar.sessions(calendar.next_session(session), calendar.session_offset(session, 10))
    rng = np.random.default_rng(1)
    extra = []
    for i, sym in enumerate(sorted(eod["symbol"].unique())):
        last = eod[eod["symbol"] == sym].iloc[-1]
        for d in future_days:
            row = last.copy()
            row["date"] = pd.Timestamp(d)
            jump = 10.0 ** rng.integers(-2, 3) * (i + 1)
            for c in ("open", "high", "low", "close", "adj_open", "adj_high", "adj_low", "adj_close"):
                row[c] = row[c] * jump
            row["volume"] = 1e12 * (i + 1)
            extra.append(row)
    tampered = pd.concat([eod, pd.DataFrame(extra)], ignore_index=True).sample(frac=1.0, random_state=3)
    later = compute_signal(tampered, policy, session, universe)
    pd.testing.assert_frame_equal(base.ranked, later.ranked)
    assert base.regime == later.regime and base.dropped == later.dropped
    # and the cut itself keeps nothing after the session, whatever the input order
    assert history_until(tampered, session)["date"].max() == pd.Timestamp(session)


def test_a_future_bar_does_not_rescue_a_symbol_missing_on_the_session(eod, policy, universe, factory, calendar):
    session = factory.data_end
    gap = eod[~((eod["symbol"] == "MSFT") & (eod["date"] == pd.Timestamp(session)))]
    nxt = eod[(eod["symbol"] == "MSFT") & (eod["date"] == pd.Timestamp(session))].assign(date=pd.Timestamp(calendar.next_session(session)))
    r = compute_signal(pd.concat([gap, nxt]), policy, session, universe)
    assert "MSFT" not in set(r.ranked["symbol"])
    assert r.dropped["MSFT"].startswith(f"no bar on the decision session {session}")


def test_split_uses_adjusted_prices(eod, policy, universe, factory):
    """NVDA's raw close falls 75% at its 4:1 split; momentum must follow adj_close."""
    sym = eod[eod["symbol"] == "NVDA"].set_index("date")
    split_day = sym.index[sym["split"] == 4.0][0]
    assert sym["close"].shift(1).loc[split_day] / sym["close"].loc[split_day] > 3.5
    r = compute_signal(eod, policy, factory.data_end, universe).ranked.set_index("symbol")
    adj = sym["adj_close"]
    ref = adj.index[-1 - policy.strategy.momentum.lookback_12w]
    assert ref < split_day  # the lookback straddles the split
    assert r.loc["NVDA", "mom_12w"] == pytest.approx(adj.iloc[-1] / adj.loc[ref] - 1, rel=1e-12)
    raw = sym["close"]
    assert raw.iloc[-1] / raw.loc[ref] - 1 < r.loc["NVDA", "mom_12w"] - 0.5
    # the 60-day volatility has no 75% one-day drop in it
    assert r.loc["NVDA", "volatility"] < 0.05


def test_short_history_and_bad_prices_are_dropped_with_reasons(eod, policy, universe, factory, calendar):
    session = factory.data_end
    start = pd.Timestamp(calendar.session_offset(session, -30))
    short = eod[~((eod["symbol"] == "IBM") & (eod["date"] < start))].copy()
    short.loc[(short["symbol"] == "KO") & (short["date"] == pd.Timestamp(session)), "adj_close"] = np.nan
    short = short[short["symbol"] != "PEP"]
    r = compute_signal(short, policy, session, universe)
    assert "history starts" in r.dropped["IBM"] and "mom_12w" in r.dropped["IBM"]
    assert "not a positive number" in r.dropped["KO"]
    assert r.dropped["PEP"] == f"no bars up to {session}"
    assert not {"IBM", "KO", "PEP"} & set(r.ranked["symbol"])


def test_ties_are_broken_by_symbol(eod, universe, factory):
    """Identical price histories give identical scores; the ranks follow the symbol."""
    twin = eod[eod["symbol"] == "JPM"]
    data = pd.concat([eod[~eod["symbol"].isin(["BAC", "GS"])], twin.assign(symbol="GS"), twin.assign(symbol="BAC")], ignore_index=True)
    f = compute_signal(data, parse_policy({}), factory.data_end, universe).ranked.set_index("symbol")
    assert f.loc["BAC", "score"] == f.loc["GS", "score"] == f.loc["JPM", "score"]
    assert f.loc["BAC", "rank"] + 1 == f.loc["GS", "rank"] and f.loc["GS", "rank"] + 1 == f.loc["JPM", "rank"]


def test_single_factor_weights_order_by_that_factor(eod, universe, factory):
    pol = parse_policy({"strategy": {"momentum": {"weights": {"mom_4w": 1.0, "mom_1w": 0, "mom_12w": 0, "volatility": 0, "liquidity": 0, "reversal": 0}}}})
    f = compute_signal(eod, pol, factory.data_end, universe).ranked
    assert f["mom_4w"].is_monotonic_decreasing


def test_regime_and_risk_off_reasons(eod, universe, factory):
    session = factory.data_end
    bench = eod["symbol"] == "SPY"
    crash = eod.copy()
    last = crash.loc[bench, "date"].max()
    crash.loc[bench & (crash["date"] == last), "adj_close"] *= 0.5
    r = compute_signal(crash, parse_policy({}), session, universe)
    assert r.regime.below_ma is True
    assert r.risk_off_reasons and "below its 200-session average" in r.risk_off_reasons[0]

    # every name falling over 12 weeks -> "no positive momentum"
    down = eod.copy()
    days = np.sort(down["date"].unique())
    ramp = pd.Series(np.linspace(2.0, 1.0, len(days)), index=days)
    mask = ~down["symbol"].isin(["SPY", "QQQ"])
    down.loc[mask, "adj_close"] = 100 * ramp.reindex(down.loc[mask, "date"]).to_numpy()
    r2 = compute_signal(down, parse_policy({}), session, universe)
    assert any("no ranked name has positive 12-week momentum" in x for x in r2.risk_off_reasons)


def test_regime_without_enough_benchmark_history(eod, universe, factory):
    r = compute_signal(eod, parse_policy({"portfolio": {"risk_off_ma_sessions": 1000}}), factory.data_end, universe)
    assert r.regime.below_ma is None and "fewer than" in r.regime.note
    assert r.risk_off_reasons == []


def _rotation_policy(defensive=None, months=3):
    return parse_policy({"strategy": {"signal": "rotation", "rotation": {"assets": ["SPY", "QQQ"], "lookback_months": months, "defensive_asset": defensive}}})


def _trend(eod, symbol, start, end):
    out = eod.copy()
    m = out["symbol"] == symbol
    out.loc[m, "adj_close"] = np.linspace(start, end, m.sum())
    return out


def test_rotation_holds_the_best_positive_asset(eod, universe, factory):
    data = _trend(_trend(eod, "SPY", 100, 110), "QQQ", 100, 130)
    r = compute_signal(data, _rotation_policy(), factory.data_end, universe)
    f = r.ranked.set_index("symbol")
    assert list(r.ranked["symbol"]) == ["QQQ", "SPY"]
    assert f.loc["QQQ", "selected"] and not f.loc["SPY", "selected"]
    assert f.loc["QQQ", "momentum"] > f.loc["SPY", "momentum"] > 0
    assert "hold it" in r.note


def test_rotation_goes_defensive_or_to_cash(eod, universe, factory):
    data = _trend(_trend(eod, "SPY", 120, 100), "QQQ", 130, 100)
    to_cash = compute_signal(data, _rotation_policy(), factory.data_end, universe)
    assert not to_cash.ranked["selected"].any() and "hold cash" in to_cash.note
    defensive = compute_signal(data, _rotation_policy(defensive="JNJ"), factory.data_end, universe)
    chosen = defensive.ranked.loc[defensive.ranked["selected"], "symbol"].tolist()
    assert chosen == ["JNJ"] and "defensive asset JNJ" in defensive.note


def test_rotation_lookback_is_months_times_21_sessions(eod, universe, factory, calendar):
    r = compute_signal(eod, _rotation_policy(months=2), factory.data_end, universe).ranked.set_index("symbol")
    spy = eod[eod["symbol"] == "SPY"].set_index("date")["adj_close"]
    ref = pd.Timestamp(calendar.session_offset(factory.data_end, -42))
    assert r.loc["SPY", "momentum"] == pytest.approx(spy.iloc[-1] / spy.loc[ref] - 1, abs=1e-12)


def test_registry_is_extensible_and_names_unknown_signals(eod, universe, factory):
    assert set(signals.available()) >= {"momentum", "rotation", "qlib_lgbm"}
    real = signals._REGISTRY.pop("qlib_lgbm")
    try:
        with pytest.raises(ConfigError, match="'qlib_lgbm' is not available"):
            compute_signal(eod, parse_policy({"strategy": {"signal": "qlib_lgbm"}}), factory.data_end, universe)

        @signals.register("qlib_lgbm")
        def fake(history, policy, session, universe, calendar):
            assert history["date"].max() <= pd.Timestamp(session)
            frame = pd.DataFrame({"symbol": ["AAPL"], "score": [1.0], "rank": [1], "selected": [True]})
            return signals.Ranking(frame, {}, "fake")

        r = compute_signal(eod, parse_policy({"strategy": {"signal": "qlib_lgbm"}}), factory.data_end, universe)
        assert r.strategy == "qlib_lgbm" and r.ranked["symbol"].tolist() == ["AAPL"]
    finally:
        signals._REGISTRY["qlib_lgbm"] = real


def test_bad_inputs_raise_named_errors(eod, policy, universe):
    with pytest.raises(DataError, match="2024-03-16 is not a XNYS session"):
        compute_signal(eod, policy, date(2024, 3, 16), universe)
    with pytest.raises(DataError, match=r"missing columns \['adj_close'\]"):
        compute_signal(eod.drop(columns=["adj_close"]), policy, date(2024, 3, 15), universe)


def test_signal_files_round_trip(eod, policy, universe, factory, tmp_path):
    r = compute_signal(eod, policy, factory.data_end, universe)
    path = write_signal(r, tmp_path)
    assert path == tmp_path / "signals" / "2024-03-15.csv"
    back = read_signal(tmp_path, factory.data_end)
    assert back.ranked["symbol"].tolist() == r.ranked["symbol"].tolist()
    assert back.ranked["selected"].tolist() == r.ranked["selected"].tolist()
    assert np.allclose(back.ranked["score"], r.ranked["score"], atol=0, rtol=1e-15)
    assert back.regime == r.regime and back.risk_off_reasons == r.risk_off_reasons


def test_signal_stage_reads_parquet_and_writes_files(eod, policy, universe, factory, tmp_path):
    pq = tmp_path / "eod.parquet"
    eod.to_parquet(pq)
    r = run_signal_stage(pq, policy, universe, "2024-03-15", tmp_path / "run")
    assert (tmp_path / "run" / "signals" / "2024-03-15.csv").exists()
    assert (tmp_path / "run" / "signals" / "2024-03-15.json").exists()
    assert len(r.ranked) == len(factory.stocks)
    with pytest.raises(DataError, match="clean EOD file not found"):
        run_signal_stage(tmp_path / "nope.parquet", policy, universe, "2024-03-15", tmp_path / "run")


def test_nothing_rankable_gives_an_empty_list_that_survives_the_files(eod, policy, universe, factory, tmp_path):
    from decimal import Decimal

    from tradeops.portfolio import PortfolioState
    from tradeops.risk import decide

    short = eod[eod["date"] > pd.Timestamp("2024-02-01")]  # 30 sessions: too short for a 60-session lookback
    r = compute_signal(short, policy, factory.data_end, universe)
    assert r.ranked.empty and len(r.dropped) == len(factory.stocks)
    write_signal(r, tmp_path)
    back = read_signal(tmp_path, factory.data_end)
    assert back.ranked.empty
    book = PortfolioState(as_of=factory.data_end, cash=Decimal("1000"))
    _, d = decide(back.ranked, book, {}, policy, universe, True, factory.data_end)
    assert d.kind == "HOLD" and d.trades == ()


def test_bars_cut_is_the_frame_filter(eod):
    from hypothesis import given, settings, strategies as st

    ordered = eod.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    bars = signals.Bars.from_frame(ordered)
    days = sorted(ordered["date"].dt.date.unique())
    pick = st.sampled_from(days + [date(1995, 1, 3), date(2039, 12, 30)])

    @settings(max_examples=60, deadline=None)
    @given(first=st.one_of(st.none(), pick), last=pick)
    def check(first, last):
        view = bars.until(last, first)
        keep = (ordered["date"] <= pd.Timestamp(last)) & ((ordered["date"] >= pd.Timestamp(first)) if first else True)
        expected = ordered.loc[keep].reset_index(drop=True)
        pd.testing.assert_frame_equal(view.frame(), expected)
        assert list(view.symbols) == sorted(set(expected["symbol"]))
        assert [int(b - a) for a, b in zip(view.start, view.stop)] == expected.groupby("symbol", sort=True).size().tolist()

    check()


def test_the_backtest_index_and_the_frame_give_the_same_signal(eod, universe, calendar, factory):
    bars = signals.Bars.from_frame(history_until(eod, factory.data_end))
    for name in ("momentum", "rotation"):
        policy = parse_policy({"strategy": {"signal": name, "rotation": {"assets": ["SPY", "AAPL", "MSFT"], "defensive_asset": None}}})
        for d in calendar.sessions_back(factory.data_end, 60)[::7]:
            first = calendar.session_offset(d, -150)
            framed = compute_signal(eod.loc[eod["date"] >= pd.Timestamp(first)], policy, d, universe, calendar)
            indexed = compute_signal(bars.until(d, first), policy, d, universe, calendar)
            pd.testing.assert_frame_equal(framed.ranked, indexed.ranked)
            assert (framed.dropped, framed.note, framed.regime, framed.risk_off_reasons) == (
                indexed.dropped,
                indexed.note,
                indexed.regime,
                indexed.risk_off_reasons,
            )
            assert len(framed.ranked) > 0


def test_percentile_rank_is_pandas_average_rank_over_count():
    """The factor ranks (ties share the mean of the ranks they span) equal pandas' and
    scipy's, value for value, for any finite values with or without ties."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from scipy.stats import rankdata

    # hand-worked: 3.0 ranks 4th of 4; the tied 1.0s share ranks 1 and 2 -> 1.5; 2.0 ranks 3rd
    assert signals._pct_rank(np.array([3.0, 1.0, 2.0, 1.0])).tolist() == [1.0, 0.375, 0.75, 0.375]
    assert signals._pct_rank(np.array([])).tolist() == []

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.one_of(st.integers(-3, 3).map(float), st.floats(-1e6, 1e6, allow_nan=False)), max_size=40))
    def check(xs):
        v = np.array(xs, float)
        got = signals._pct_rank(v)
        assert got.tolist() == pd.Series(v).rank(pct=True, method="average").tolist()
        if len(v):
            assert got.tolist() == (rankdata(v, method="average") / len(v)).tolist()

    check()
