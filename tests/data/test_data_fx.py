"""The GBPUSD series of a GBP account: providers, raw + clean store, and the checks that gate the ticket.

/work/shared/data has no FX file (its README lists AlphaVantage stock files and
Stooq's SPY export only), so the vendor shapes are built here exactly as the
vendors send them: Stooq's ``Date,Open,High,Low,Close`` CSV (served by the
local Stooq stand-in) and a yfinance ``Ticker("GBPUSD=X").history`` frame
(zero volume, no actions) through :func:`yfinance_csv`.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from tradeops.calendar import get_calendar
from tradeops.config import Policy, Workspace, parse_policy
from tradeops.data.fx import (
    DemoFxProvider,
    FxReport,
    assess_fx,
    build_fx_clean,
    demo_fx_csv,
    fetch_fx,
    fx_days,
    fx_gate,
    fx_instrument,
    fx_record_path,
    pair_for,
    parse_fx,
    to_rate,
)
from tradeops.data.providers import YFinanceProvider, yfinance_csv
from tradeops.errors import ConfigError, DataError, VendorError

CAL = get_calendar()
AS_OF = date(2024, 3, 15)  # a Friday session
GBP = parse_policy({"account": {"account_currency": "GBP", "fx_fee_bps": 50}, "data": {"primary": "demo", "secondary": "stooq"}})
Q = Policy().quality


def series(rates: dict[date, float]) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime(list(rates)), "close": list(rates.values())}, dtype=None)


def week(*closes: float, end: date = AS_OF) -> pd.DataFrame:
    """Closes on the last len(closes) sessions up to ``end``."""
    return series(dict(zip(CAL.sessions_back(end, len(closes)), closes)))


STOOQ_FX = (
    b"Date,Open,High,Low,Close\n2024-03-13,1.2785,1.2801,1.2755,1.27918\n2024-03-14,1.27917,1.28,1.2735,1.27406\n2024-03-15,1.27405,1.2758,1.2719,1.27359\n"
)


# --------------------------------------------------------------------------- the demo series


def test_demo_fx_is_deterministic_whatever_range_is_asked():
    a = parse_fx("demo", demo_fx_csv(42, "GBPUSD", date(2001, 1, 1), date(2012, 12, 31)))
    b = parse_fx("demo", demo_fx_csv(42, "GBPUSD", date(2010, 6, 1), date(2024, 3, 15)))
    both = a.merge(b, on="date")
    assert len(both) > 500
    np.testing.assert_array_equal(both.close_x, both.close_y)
    assert demo_fx_csv(1, "GBPUSD", AS_OF - timedelta(days=30), AS_OF) != demo_fx_csv(2, "GBPUSD", AS_OF - timedelta(days=30), AS_OF)


def test_demo_fx_path_is_realistic_and_trades_weekdays_only():
    full = parse_fx("demo", demo_fx_csv(42, "GBPUSD", date(1990, 1, 1), date(2040, 12, 31)))
    days = pd.DatetimeIndex(full["date"])
    assert (days.dayofweek < 5).all()
    assert not ((days.month == 12) & (days.day == 25)).any() and not ((days.month == 1) & (days.day == 1)).any()
    assert len(full) == len(fx_days())
    r = np.diff(np.log(full["close"].to_numpy()))
    assert 0.004 < r.std() < 0.009  # GBPUSD: about 0.5-0.7% a day (8-11% a year)
    assert np.abs(r).max() < Q.fx_max_jump  # no day the demo's own gate would refuse
    assert 0.8 < full["close"].min() and full["close"].max() < 2.3  # 1990..2024 GBPUSD stayed in 1.04..2.11
    assert (full["close"] > 0).all()
    # the series passes its own checks on every Friday of a sample year
    for d in CAL.sessions(date(2023, 1, 2), date(2023, 12, 29))[::5]:
        assert assess_fx(full, "GBPUSD", d, Q).passed, d


def test_demo_fx_provider_works_offline(monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("the demo FX provider touched the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    payload = DemoFxProvider(seed=42).download(fx_instrument("GBP"), date(2024, 3, 1), AS_OF)
    frame = parse_fx("demo", payload.data)
    assert frame["date"].iloc[-1] == pd.Timestamp(AS_OF) and payload.request["generator"] == "tradeops.data.fx"


# --------------------------------------------------------------------------- parsers


def test_parse_stooq_and_yfinance_fx_shapes():
    s = parse_fx("stooq", STOOQ_FX)
    assert list(s["close"]) == [1.27918, 1.27406, 1.27359]
    idx = pd.DatetimeIndex(pd.to_datetime(["2024-03-13", "2024-03-14", "2024-03-15"])).tz_localize("Europe/London")
    frame = pd.DataFrame(
        {
            "Open": [1.2785, 1.2792, 1.2741],
            "High": [1.2801, 1.28, 1.2758],
            "Low": [1.2755, 1.2735, 1.2719],
            "Close": [1.2791800022125244, 1.274060010910034, 1.273590087890625],
            "Adj Close": [1.2791800022125244, 1.274060010910034, 1.273590087890625],
            "Volume": [0, 0, 0],
            "Dividends": [0.0, 0.0, 0.0],
            "Stock Splits": [0.0, 0.0, 0.0],
        },
        index=idx,
    )
    y = parse_fx(
        "yfinance", YFinanceProvider(history=lambda *a: frame, retries=0, min_interval=0).download(fx_instrument("GBP"), date(2024, 3, 13), AS_OF).data
    )
    assert [to_rate(c) for c in y["close"]] == [Decimal("1.2792"), Decimal("1.2741"), Decimal("1.2736")]
    assert yfinance_csv(frame).startswith(b"Date,Open,High,Low,Close,Adj Close,Volume")


@pytest.mark.parametrize(
    "data,err",
    [
        (b'{"error": "Invalid ticker GBPUSD"}', VendorError),
        (b"<html><title>503 Service Unavailable</title></html>", VendorError),
        (b"Date,Open,High,Low,Close\n", DataError),
        (b"Date,Open,High,Low,Close\n2024-03-15,1.27,1.28,1.26\n", DataError),
        (b"Date,Open,High,Low,Close\n2024-13-15,1.27,1.28,1.26,1.27\n", DataError),
    ],
)
def test_parse_fx_rejects_what_is_not_a_series(data, err):
    with pytest.raises(err):
        parse_fx("stooq", data)


def test_parse_fx_knows_its_sources():
    with pytest.raises(DataError, match="no FX parser for source 'alphavantage'"):
        parse_fx("alphavantage", STOOQ_FX)
    assert pair_for("USD") is None and pair_for("GBP") == "GBPUSD"
    with pytest.raises(DataError, match="EUR"):
        pair_for("EUR")


closes = st.floats(min_value=1e-4, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(closes, min_size=1, max_size=40), start=st.dates(date(1995, 1, 1), date(2035, 1, 1)))
def test_parse_fx_round_trips_any_stooq_series(values, start):
    days = [start + timedelta(days=i) for i in range(len(values))]
    body = "".join(f"{d},{v!r},{v!r},{v!r},{v!r}\n" for d, v in zip(days, values))
    out = parse_fx("stooq", ("Date,Open,High,Low,Close\n" + body).encode())
    assert list(out["close"]) == values and [d.date() for d in out["date"]] == days


@settings(max_examples=200, deadline=None)
@given(x=st.floats(allow_nan=True, allow_infinity=True))
def test_to_rate_is_a_positive_pip_or_refused(x):
    if math.isfinite(x) and x > 0:
        try:
            r = to_rate(x)
        except DataError:
            assert x <= 0.00005 or x >= 1e9  # rounds to 0.0000, or no pair's quote: refused, never a zero rate
            return
        assert r > 0 and r == r.quantize(Decimal("0.0001")) and abs(r - Decimal(repr(x))) <= Decimal("0.00005")
    else:
        with pytest.raises(DataError, match="not a rate"):
            to_rate(x)


@settings(max_examples=80, deadline=None)
@given(rates=st.lists(st.floats(min_value=0.6, max_value=2.5), min_size=2, max_size=15), bad=st.sampled_from([0.0, -1.27, float("nan"), None]))
def test_assess_fx_never_passes_a_bad_latest_rate(rates, bad):
    s = week(*rates)
    ok = assess_fx(s, "GBPUSD", AS_OF, Q)
    steps = np.abs(np.diff(np.log(rates)))
    assert ok.passed == bool(steps[-1] <= Q.fx_max_jump)
    if ok.passed:
        assert ok.rate.rate == to_rate(rates[-1]) and ok.rate.date == AS_OF
    if bad is None:  # 10x off: a pence-for-pounds unit error
        s.loc[s.index[-1], "close"] = rates[-1] * 10
    else:
        s.loc[s.index[-1], "close"] = bad
    report = assess_fx(s, "GBPUSD", AS_OF, Q)
    assert not report.passed and report.rate is None and report.reasons


# --------------------------------------------------------------------------- checks, by name


def test_missing_rate_for_t_minus_1_fails_fresh_naming_the_date():
    s = week(1.27, 1.271, 1.272, 1.273, end=date(2024, 3, 14))  # nothing for Friday 15 March
    report = assess_fx(s, "GBPUSD", AS_OF, Q)
    assert not report.passed
    assert report.reasons == [
        "GBPUSD rate dated 2024-03-14, 1 session(s) before the decision session 2024-03-15 > quality.fx_max_staleness_sessions 0: no rate for 2024-03-15"
    ]
    stale_ok = assess_fx(s, "GBPUSD", AS_OF, Q.model_copy(update={"fx_max_staleness_sessions": 1}))
    assert stale_ok.passed and stale_ok.rate.date == date(2024, 3, 14) and stale_ok.rate.rate == Decimal("1.2730")


def test_a_us_holiday_is_not_a_missing_fx_session():
    # Good Friday 2024-03-29 is no NYSE session; the decision session is Thursday 28 March, and the rate of 28 March is fresh
    s = series({date(2024, 3, 27): 1.2630, date(2024, 3, 28): 1.2623, date(2024, 3, 29): 1.2636})
    report = assess_fx(s, "GBPUSD", date(2024, 3, 28), Q)
    assert report.passed and report.rate.rate == Decimal("1.2623")
    # decision session Monday 1 April with only Thursday's rate: one exchange session (1 April) later, so stale
    s2 = series({date(2024, 3, 28): 1.2623})
    assert "1 session(s)" in assess_fx(s2, "GBPUSD", date(2024, 4, 1), Q).reasons[0]


@pytest.mark.parametrize(
    "latest,check,fragment",
    [
        (0.0, "fx_valid", "GBPUSD rate on 2024-03-15 is 0.0: not a rate"),
        (-1.27, "fx_valid", "is -1.27: not a rate"),
        (12.71, "fx_plausible", "GBPUSD rate 12.71 on 2024-03-15 is outside [quality.fx_min_rate 0.5, quality.fx_max_rate 3.0]"),
        (0.1271, "fx_plausible", "0.1271 on 2024-03-15 is outside"),
        # ln(1.45 / 1.2735) = ln(1.138594) = 0.129790
        (1.45, "fx_jump", "GBPUSD moved +12.98% (log) from 1.2735 on 2024-03-14 to 1.45 on 2024-03-15: more than quality.fx_max_jump 0.1"),
    ],
)
def test_bad_rates_are_named_with_value_and_bound(latest, check, fragment):
    report = assess_fx(week(1.2720, 1.2735, latest), "GBPUSD", AS_OF, Q)
    failed = [c for c in report.checks if not c.passed]
    assert check in [c.code for c in failed] and report.rate is None
    assert any(fragment in r for r in report.reasons), report.reasons
    gate = fx_gate(report)
    assert gate["name"] == "fx_rate" and gate["passed"] is False and gate["details"]["rate"] is None


def test_duplicated_dates_with_different_closes_fail():
    s = pd.concat([week(1.27, 1.28), week(1.29)], ignore_index=True)
    report = assess_fx(s, "GBPUSD", AS_OF, Q)
    assert not report.passed and "GBPUSD has 1 date(s) twice with different closes: 2024-03-15" in report.reasons


def test_bars_after_the_decision_session_are_ignored():
    s = series({date(2024, 3, 14): 1.2741, AS_OF: 1.2736, date(2024, 3, 18): 9.99})
    assert assess_fx(s, "GBPUSD", AS_OF, Q).rate.rate == Decimal("1.2736")


def test_fx_policy_keys_are_validated():
    with pytest.raises(ConfigError, match=r"quality.fx_min_rate \(3.0\) must be below quality.fx_max_rate \(2.0\)"):
        parse_policy({"quality": {"fx_min_rate": 3.0, "fx_max_rate": 2.0}})
    with pytest.raises(ConfigError, match=r"account.fx_fee_bps.*ge 0"):
        parse_policy({"account": {"fx_fee_bps": -1}})
    with pytest.raises(ConfigError, match=r"account.fx_fee_bps.*write it without quotes"):
        parse_policy({"account": {"fx_fee_bps": "50"}})
    with pytest.raises(ConfigError, match=r"quality.fx_max_staleness_sessions.*le 10"):
        parse_policy({"quality": {"fx_max_staleness_sessions": 11}})
    with pytest.raises(ConfigError, match=r"account.account_currency"):
        parse_policy({"account": {"account_currency": "EUR"}})
    assert GBP.account.fx_fee_bps == Decimal("50") and Policy().account.account_currency == "USD"


# --------------------------------------------------------------------------- fetch -> raw -> clean


def test_fetch_fx_stores_raw_beside_bars_and_builds_clean(tmp_path):
    ws = Workspace.at(tmp_path).ensure()
    result = fetch_fx(ws, GBP, AS_OF, "r1", providers=[DemoFxProvider(42)])
    chosen = result.chosen()
    assert chosen.raw_file == "data/raw/demo/GBPUSD/2024-03-15_r1.csv" and (tmp_path / chosen.raw_file).exists()
    assert (tmp_path / "data/raw/demo/GBPUSD/2024-03-15_r1.json").exists()
    assert fx_record_path(ws, AS_OF, "r1").exists()
    # kept apart from the bars' fetch records (latest_fetch_record takes the newest of those)
    assert not (tmp_path / "data/raw/_fetch").exists() and fx_record_path(ws, AS_OF, "r1").parent.name == "_fetch_fx"
    report = build_fx_clean(ws, GBP, AS_OF, fx_record_path(ws, AS_OF, "r1"))
    assert report.passed and report.rate.date == AS_OF and report.rate.source == "demo"
    clean = pd.read_parquet(tmp_path / report.output["path"])
    assert report.output["path"] == "data/clean/fx/GBPUSD.parquet" and clean["date"].max() == pd.Timestamp(AS_OF)
    assert len(clean) >= GBP.data.history_sessions
    assert FxReport.load(tmp_path / "data/clean/fx/quality.json") == report
    with pytest.raises(DataError, match="already fetched GBPUSD"):
        fetch_fx(ws, GBP, AS_OF, "r1", providers=[DemoFxProvider(42)])


def test_fetch_fx_falls_back_to_stooq_and_stores_the_failed_answer(tmp_path, stooq_server):
    ws = Workspace.at(tmp_path).ensure()
    stooq_server.answer("gbpusd", (200, STOOQ_FX))

    class Down:
        name = "yfinance"

        def download(self, instrument, start, end):
            raise DataError("yfinance answered nothing for GBPUSD=X")

    result = fetch_fx(ws, GBP, AS_OF, "r2", providers=[Down(), stooq_server.provider()])
    assert [(a.source, a.role, a.ok) for a in result.attempts] == [("yfinance", "primary", False), ("stooq", "fallback", True)]
    assert stooq_server.requests[-1]["s"] == "gbpusd"
    report = build_fx_clean(ws, GBP, AS_OF, result)
    assert report.passed and report.rate.rate == Decimal("1.2736") and report.rate.source == "stooq"


def test_no_provider_answers_gives_a_failed_report_naming_why(tmp_path, stooq_server):
    ws = Workspace.at(tmp_path).ensure()
    stooq_server.answer("gbpusd", (200, b"No data"))
    result = fetch_fx(ws, GBP, AS_OF, "r3", providers=[stooq_server.provider()])
    report = build_fx_clean(ws, GBP, AS_OF, result)
    assert not report.passed and report.rate is None
    assert report.reasons[0].startswith("no GBPUSD rate for 2024-03-15: no provider answered (stooq: ")
    assert not (tmp_path / "data/clean/fx/GBPUSD.parquet").exists()  # a failed build never writes the clean series
    # the refusal itself is kept as evidence
    assert result.attempts[0].raw_file == "data/raw/stooq/GBPUSD/2024-03-15_r3.csv"


def test_a_usd_account_needs_no_fx(tmp_path):
    with pytest.raises(DataError, match="a USD account needs no FX rate"):
        fetch_fx(Workspace.at(tmp_path).ensure(), Policy(), AS_OF, "r4")


def test_workspace_fx_rate_is_the_checked_rate_of_that_day_only(tmp_path):
    from tradeops.data.fx import workspace_fx_rate

    ws = Workspace.at(tmp_path).ensure()
    with pytest.raises(DataError, match="FX report .* does not exist"):
        workspace_fx_rate(ws, AS_OF)
    build_fx_clean(ws, GBP, AS_OF, fetch_fx(ws, GBP, AS_OF, "r5", providers=[DemoFxProvider(42)]))
    assert workspace_fx_rate(ws, AS_OF).date == AS_OF
    with pytest.raises(DataError, match="is the FX check of 2024-03-15, not of 2024-03-18"):
        workspace_fx_rate(ws, date(2024, 3, 18))
