"""Providers without the network: Stooq against a local HTTP server, yfinance through an
injected callable, the AlphaVantage folder, retries, backoff and the rate limiter."""

from __future__ import annotations

import random
import socket
from datetime import date

import pandas as pd
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.config import Policy, Workspace, parse_universe
from tradeops.data import make_provider, parse_bars
from tradeops.data.demo import DemoProvider
from tradeops.data.providers import (
    AlphaVantageDirProvider,
    Backoff,
    RateLimiter,
    StooqProvider,
    YFinanceProvider,
    _yfinance_history,
    canonical_symbol,
    yfinance_csv,
)
from tradeops.errors import ConfigError, DataError, MissingApiKey, ProviderUnavailable, RateLimited, SymbolNotFound, VendorError

GOOD = b"Date,Open,High,Low,Close,Volume\n2024-06-27,544.0,546.0,543.0,545.5,35000000\n2024-06-28,547.0,550.0,544.0,544.2,76000000\n"
START, END = date(2024, 6, 27), date(2024, 6, 28)


@pytest.fixture(scope="module")
def universe():
    text = (
        "internal_symbol,yahoo_symbol,stooq_symbol,alphavantage_symbol,etoro_search_name,exchange,currency,instrument_type,tradable_as_underlying,sector,notes\n"
        "SPY,SPY,spy.us,SPY,SPY,NYSE Arca,USD,ETF,true,Benchmark,\n"
        "BRK.B,BRK-B,brk-b.us,BRK.B,BRK.B,NYSE,USD,stock,true,Financials,\n"
    )
    return parse_universe(text, "SPY")


# --------------------------------------------------------------------------- stooq


def test_stooq_good_csv_is_returned_byte_for_byte(stooq_server, universe, monkeypatch):
    monkeypatch.delenv("STOOQ_API_KEY", raising=False)
    stooq_server.answer("spy.us", (200, GOOD))
    payload = stooq_server.provider().download(universe["SPY"], START, END)
    assert payload.data == GOOD
    assert stooq_server.requests == [{"s": "spy.us", "i": "d", "d1": "20240627", "d2": "20240628"}]
    assert payload.request["apikey"] == "unset" and parse_bars("stooq", payload.data).num_rows == 2


def test_stooq_api_key_is_sent_but_never_recorded(stooq_server, universe, monkeypatch):
    monkeypatch.setenv("STOOQ_API_KEY", "s3cret")
    stooq_server.answer("spy.us", (200, GOOD))
    payload = stooq_server.provider().download(universe["SPY"], START, END)
    assert stooq_server.requests[0]["apikey"] == "s3cret"
    assert "s3cret" not in repr(payload.request) and payload.request["apikey"] == "set"


@pytest.mark.parametrize("status", [500, 503])
def test_stooq_retries_transient_errors_then_succeeds(stooq_server, universe, status):
    waits = []
    stooq_server.answer("spy.us", (status, b"busy"), (status, b"busy"), (200, GOOD))
    payload = stooq_server.provider(retries=3, backoff_seconds=1.0, sleep=waits.append).download(universe["SPY"], START, END)
    assert payload.data == GOOD and len(stooq_server.requests) == 3
    assert waits == [1.0, 2.0]  # exponential backoff between the attempts


@pytest.mark.parametrize("status", [500])
def test_stooq_gives_up_after_the_retries(stooq_server, universe, status):
    stooq_server.answer("spy.us", (status, b""))
    with pytest.raises(ProviderUnavailable, match=f"failed after 3 attempt\\(s\\): HTTP {status}"):
        stooq_server.provider(retries=2).download(universe["SPY"], START, END)
    assert len(stooq_server.requests) == 3


def test_stooq_client_errors_are_vendor_errors_without_retry(stooq_server, universe):
    stooq_server.answer("spy.us", (404, b"not found"))
    with pytest.raises(VendorError, match="HTTP 404 for spy.us: 'not found'"):
        stooq_server.provider(retries=3).download(universe["SPY"], START, END)
    assert len(stooq_server.requests) == 1


@pytest.mark.parametrize(
    "body, error, text",
    [
        (b"", DataError, "empty body"),
        (b"<html><head><title>Stooq</title></head><body>verify</body></html>", VendorError, "HTML page instead of CSV"),
        (b"Exceeded the daily hits limit", RateLimited, "rate limit"),
        (b"No data", SymbolNotFound, "no data for this symbol"),
        (b"Get your apikey:\n1. Open https://stooq.com/q/d/?s=spy.us&get_apikey", MissingApiKey, "set STOOQ_API_KEY"),
    ],
)
def test_stooq_200_answers_that_are_not_csv(stooq_server, universe, body, error, text):
    """Stooq answers these with HTTP 200: the payload is kept, the parser names what it is."""
    stooq_server.answer("spy.us", (200, body))
    payload = stooq_server.provider().download(universe["SPY"], START, END)
    assert payload.data == body
    with pytest.raises(error, match=text):
        parse_bars("stooq", payload.data)


def test_stooq_unreachable_is_provider_unavailable(universe):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    session = requests.Session()
    session.trust_env = False
    provider = StooqProvider(session=session, base_url=f"http://127.0.0.1:{port}/", retries=1, backoff_seconds=0, min_interval=0, timeout=2)
    with pytest.raises(ProviderUnavailable, match="ConnectionError"):
        provider.download(universe["SPY"], START, END)


def test_rate_limiter_spaces_requests():
    now = [100.0]
    slept = []

    def sleep(s):
        slept.append(round(s, 6))
        now[0] += s

    limiter = RateLimiter(0.5, clock=lambda: now[0], sleep=sleep)
    limiter.wait()  # first request: no wait
    now[0] += 0.2
    limiter.wait()  # 0.2 s later: wait the remaining 0.3 s
    now[0] += 1.0
    limiter.wait()  # long after: no wait
    assert slept == [0.3]


# --------------------------------------------------------------------------- yfinance


def yahoo_frame(splits=(0.0, 0.0)) -> pd.DataFrame:
    idx = pd.DatetimeIndex(["2024-06-27", "2024-06-28"]).tz_localize("America/New_York")
    return pd.DataFrame(
        {
            "Open": [544.0, 547.0],
            "High": [546.0, 550.0],
            "Low": [543.0, 544.0],
            "Close": [545.5, 544.2],
            "Adj Close": [540.1, 544.2],
            "Volume": [35000000, 76000000],
            "Dividends": [0.0, 1.76],
            "Stock Splits": list(splits),
            "Capital Gains": [0.0, 0.0],
        },
        index=idx,
    )


def test_yfinance_frame_becomes_csv_that_parses(universe):
    calls = []
    provider = YFinanceProvider(history=lambda s, a, b: calls.append((s, a, b)) or yahoo_frame(), min_interval=0)
    payload = provider.download(universe["BRK.B"], START, END)
    assert calls == [("BRK-B", START, date(2024, 7, 1))]  # end is exclusive: the next session (Jul 1)
    assert payload.data.decode().splitlines() == [
        "Date,Open,High,Low,Close,Adj Close,Volume,Dividends,Stock Splits",
        "2024-06-27,544.0,546.0,543.0,545.5,540.1,35000000.0,0.0,0.0",
        "2024-06-28,547.0,550.0,544.0,544.2,544.2,76000000.0,1.76,0.0",
    ]
    assert payload.request["auto_adjust"] is False and payload.request["actions"] is True
    bars = parse_bars("yfinance", payload.data).to_pydict()
    assert bars["close"] == [545.5, 544.2] and bars["adj_close"] == [540.1, 544.2] and bars["split"] == [1.0, 1.0]


def test_default_yfinance_call_asks_for_unadjusted_prices(monkeypatch):
    import yfinance

    seen = {}

    class FakeTicker:
        def __init__(self, symbol):
            seen["symbol"] = symbol

        def history(self, **kw):
            seen.update(kw)
            return yahoo_frame()

    monkeypatch.setattr(yfinance, "Ticker", FakeTicker)
    _yfinance_history("SPY", START, date(2024, 7, 1))
    assert seen == {
        "symbol": "SPY",
        "start": "2024-06-27",
        "end": "2024-07-01",
        "interval": "1d",
        "auto_adjust": False,
        "actions": True,
        "raise_errors": True,
        "timeout": 30.0,
    }
    seen.clear()
    # the policy's request timeout reaches yfinance through make_provider
    provider = make_provider(
        "yfinance", Workspace.at("/nonexistent"), Policy.model_validate({"data": {"request_timeout_seconds": 7.5, "yfinance_cache_hours": 0}})
    )
    provider._limiter.min_interval = 0
    provider.download(
        parse_universe(
            "internal_symbol,yahoo_symbol,stooq_symbol,alphavantage_symbol,etoro_search_name,exchange,currency,instrument_type,tradable_as_underlying,sector,notes\n"
            "SPY,SPY,spy.us,SPY,SPY,NYSE Arca,USD,ETF,true,Benchmark,\n",
            "SPY",
        )["SPY"],
        START,
        END,
    )
    assert seen["timeout"] == 7.5 and provider.timeout == 7.5


def test_yfinance_retries_exceptions_then_succeeds(universe):
    answers = [ConnectionError("reset"), RuntimeError("Read timed out"), yahoo_frame()]
    waits = []

    def history(*_):
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    payload = YFinanceProvider(history=history, retries=3, backoff_seconds=0.5, min_interval=0, sleep=waits.append).download(universe["SPY"], START, END)
    assert parse_bars("yfinance", payload.data).num_rows == 2 and waits == [0.5, 1.0]


def test_yfinance_gives_up_after_the_retries(universe):
    def history(*_):
        raise TimeoutError("read timed out")

    with pytest.raises(ProviderUnavailable, match="yfinance history\\(SPY\\) failed after 2 attempt\\(s\\): TimeoutError"):
        YFinanceProvider(history=history, retries=1, backoff_seconds=0, min_interval=0).download(universe["SPY"], START, END)


def test_yfinance_empty_frame_is_an_answer_without_bars(universe):
    payload = YFinanceProvider(history=lambda *_: pd.DataFrame(), min_interval=0).download(universe["SPY"], START, END)
    with pytest.raises(DataError, match="header but no bars"):
        parse_bars("yfinance", payload.data)


def test_yfinance_adjusted_frame_is_refused():
    frame = yahoo_frame().drop(columns=["Adj Close"])
    with pytest.raises(DataError, match="auto_adjust=False"):
        yfinance_csv(frame)


def test_yfinance_cache_serves_the_same_request(universe, tmp_path):
    calls = []

    def history(*args):
        calls.append(args)
        return yahoo_frame()

    provider = YFinanceProvider(history=history, cache_dir=tmp_path, cache_hours=1, min_interval=0)
    first = provider.download(universe["SPY"], START, END)
    second = provider.download(universe["SPY"], START, END)
    assert len(calls) == 1 and second.from_cache and not first.from_cache and second.data == first.data
    YFinanceProvider(history=history, cache_dir=tmp_path, cache_hours=0, min_interval=0).download(universe["SPY"], START, END)
    assert len(calls) == 2


# --------------------------------------------------------------------------- alphavantage folder, factory


def test_alphavantage_folder_matches_class_share_spellings(av_dir, universe):
    provider = AlphaVantageDirProvider(av_dir)
    assert len(provider.symbols()) == 105 and "BRK.B" in provider.symbols()
    payload = provider.download(universe["BRK.B"], START, END)
    assert payload.data == (av_dir / "DA-BRK.B-T-2021-04-21.csv").read_bytes()
    with pytest.raises(DataError, match="has no DA-SPY-T-\\*.csv"):
        provider.download(universe["SPY"], START, END)


@pytest.mark.parametrize("spelling", ["BRK-B", "brk.b", "BRK/B", "BRK_B", "brk-b.us"])
def test_canonical_symbol(spelling):
    assert canonical_symbol(spelling) == "BRK.B"


def test_make_provider_by_name(tmp_path, av_dir):
    ws = Workspace.at(tmp_path)
    policy = Policy()
    assert isinstance(make_provider("yfinance", ws, policy), YFinanceProvider)
    assert isinstance(make_provider("stooq", ws, policy), StooqProvider)
    assert isinstance(make_provider("demo", ws, policy), DemoProvider)
    assert isinstance(make_provider("alphavantage", ws, policy, alphavantage_dir=av_dir), AlphaVantageDirProvider)
    with pytest.raises(ConfigError, match="data.alphavantage_dir"):
        make_provider("alphavantage", ws, policy)
    with pytest.raises(ConfigError, match="unknown data provider 'bloomberg'"):
        make_provider("bloomberg", ws, policy)


# --------------------------------------------------------------------------- permanent answers, limits, backoff


def test_stooq_429_is_a_rate_limit_without_retries(stooq_server, universe):
    waits = []
    stooq_server.answer("spy.us", (429, b"slow down"))
    with pytest.raises(RateLimited, match="rate limit \\(HTTP 429"):
        stooq_server.provider(retries=3, backoff_seconds=1.0, sleep=waits.append).download(universe["SPY"], START, END)
    assert len(stooq_server.requests) == 1 and waits == []


def test_stooq_http_error_asking_for_a_key_is_a_missing_key(stooq_server, universe):
    stooq_server.answer("spy.us", (401, b"Get your apikey: https://stooq.com/q/d/?s=spy.us&get_apikey"))
    with pytest.raises(MissingApiKey, match="set STOOQ_API_KEY in the environment"):
        stooq_server.provider(retries=3).download(universe["SPY"], START, END)
    assert len(stooq_server.requests) == 1


@pytest.mark.parametrize(
    "err, kind",
    [
        (RuntimeError("$ZZZQ: possibly delisted; no price data found  (1d 2024-06-27 -> 2024-07-01)"), SymbolNotFound),
        (type("YFPricesMissingError", (Exception,), {})("$ZZZQ: prices missing"), SymbolNotFound),
        (type("YFTzMissingError", (Exception,), {})("$ZZZQ: possibly delisted; no timezone found"), SymbolNotFound),
        (type("YFRateLimitError", (Exception,), {})("Too Many Requests. Rate limited. Try after a while."), RateLimited),
    ],
)
def test_yfinance_permanent_answers_and_limits_are_not_retried(universe, err, kind):
    calls, waits = [], []

    def history(*a):
        calls.append(a)
        raise err

    with pytest.raises(kind):
        YFinanceProvider(history=history, retries=3, backoff_seconds=1.0, min_interval=0, sleep=waits.append).download(universe["SPY"], START, END)
    assert len(calls) == 1 and waits == []


def test_yfinance_multiindex_frame_is_a_data_error_not_a_type_error(universe):
    frame = yahoo_frame()
    multi = pd.concat({"SPY": frame, "QQQ": frame}, axis=1)  # what yfinance.download gives for two tickers
    with pytest.raises(DataError, match="MultiIndex"):
        yfinance_csv(multi)
    with pytest.raises(DataError, match="MultiIndex"):
        YFinanceProvider(history=lambda *_: multi, min_interval=0).download(universe["SPY"], START, END)
    one = pd.concat({"SPY": frame}, axis=1).swaplevel(axis=1)  # ("Open", "SPY") ... for one ticker
    with pytest.raises(DataError, match="MultiIndex"):
        yfinance_csv(one)
    with pytest.raises(DataError, match="duplicated columns"):
        yfinance_csv(pd.concat([frame, frame[["Close"]]], axis=1))


@settings(max_examples=100, deadline=None)
@given(first=st.floats(0, 5), ceiling=st.floats(0, 20), jitter=st.floats(0, 3), retries=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_backoff_grows_with_jitter_and_never_passes_the_ceiling(first, ceiling, jitter, retries, seed):
    waits = []
    answers = [ConnectionError("reset")] * retries + [yahoo_frame()]

    def history(*_):
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    backoff = Backoff(first=first, ceiling=ceiling, jitter=jitter, rng=random.Random(seed))
    YFinanceProvider(history=history, retries=retries, backoff_seconds=backoff, min_interval=0, sleep=waits.append).download(
        parse_universe(
            "internal_symbol,yahoo_symbol,stooq_symbol,alphavantage_symbol,etoro_search_name,exchange,currency,instrument_type,"
            "tradable_as_underlying,sector,notes\nSPY,SPY,spy.us,SPY,SPY,NYSE Arca,USD,ETF,true,Benchmark,\n",
            "SPY",
        )["SPY"],
        START,
        END,
    )
    assert len(waits) == retries
    for n, w in enumerate(waits):
        exp = min(ceiling, first * 2**n)
        assert exp - 1e-9 <= w <= min(ceiling, exp + jitter) + 1e-9


def test_policy_backoff_reaches_the_providers(tmp_path):
    pol = Policy.model_validate({"data": {"backoff_seconds": 2.0, "backoff_max_seconds": 5.0, "backoff_jitter_seconds": 0.25, "request_timeout_seconds": 12.5}})
    for name in ("yfinance", "stooq"):
        provider = make_provider(name, Workspace.at(tmp_path), pol)
        b = provider.backoff
        assert (b.first, b.ceiling, b.jitter) == (2.0, 5.0, 0.25) and provider.timeout == 12.5


def test_stooq_passes_the_timeout_to_requests(universe):
    seen = {}

    class Session:
        def get(self, url, params, timeout):
            seen["timeout"] = timeout

            class Response:
                status_code, content = 200, GOOD

            return Response()

    StooqProvider(session=Session(), timeout=12.5, min_interval=0).download(universe["SPY"], START, END)
    assert seen == {"timeout": 12.5}
