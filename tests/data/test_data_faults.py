"""Provider faults through a whole fetch (a local HTTP server standing in for Stooq, injected
yfinance calls), incremental fetch (kilobytes per extra session, vendor revisions become
findings, re-adjusted histories fetched whole again), local vendor files and future bars."""

from __future__ import annotations

import functools
import io
from datetime import date

import pandas as pd
import pytest

from tradeops.calendar import get_calendar
from tradeops.config import Policy, Workspace, parse_universe
from tradeops.data import build_clean, fetch, load_clean, parse_bars
from tradeops.data.demo import DemoProvider
from tradeops.data.providers import Payload, YFinanceProvider
from tradeops.data.raw import RawStore

from .test_data_fetch import HEADER, Scripted, stooq_csv

CAL = get_calendar("XNYS")
AS_OF = date(2024, 6, 28)


def uni(*stocks: str, delisted: tuple[str, ...] = ()):
    rows = "".join(f"{s},{s},{s.lower()}.us,{s},{s},NYSE,USD,stock,true,Energy,\n" for s in (*delisted, *stocks))
    return parse_universe(HEADER + "SPY,SPY,spy.us,SPY,SPY,NYSE Arca,USD,ETF,true,Benchmark,\n" + rows, "SPY")


def pol(**data) -> Policy:
    return Policy.model_validate(
        {
            "data": {"primary": "stooq", "secondary": "demo", "history_sessions": 30, "cross_check": False, "overlap_sessions": 3, **data},
            "quality": {"window_sessions": 25},
        }
    )


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.at(tmp_path).ensure()


def stooq_for(symbol: str, etf: bool = False):
    def answer(start: date, end: date) -> bytes:
        return stooq_csv(symbol, etf, start, end)

    return answer


# --------------------------------------------------------------------------- faults against a local server


def test_three_delisted_symbols_do_not_stop_the_healthy_ones(ws, stooq_server):
    start = CAL.sessions_back(AS_OF, 30)[0]
    for s in ("ZZA", "ZZB", "ZZC"):
        stooq_server.answer(f"{s.lower()}.us", (200, b"No data"))
    for s, etf in (("SPY", True), ("AAA", False), ("BBB", False)):
        stooq_server.answer(f"{s.lower()}.us", (200, stooq_csv(s, etf, start, AS_OF)))
    u = uni("AAA", "BBB", delisted=("ZZA", "ZZB", "ZZC"))
    result = fetch(ws, pol(secondary=None), u, AS_OF, "r1", providers=[stooq_server.provider(retries=3)])
    asked = [r["s"] for r in stooq_server.requests]
    assert asked == ["spy.us", "zza.us", "zzb.us", "zzc.us", "aaa.us", "bbb.us"]  # each asked once: no retries, no breaker
    assert {s for s in u.symbols if result.chosen(s)} == {"SPY", "AAA", "BBB"}
    assert [(a.symbol, a.kind) for a in result.attempts if not a.ok] == [("ZZA", "not_found"), ("ZZB", "not_found"), ("ZZC", "not_found")]
    assert [(f.symbol, f.kind) for f in result.findings] == [("ZZA", "unknown_symbol"), ("ZZB", "unknown_symbol"), ("ZZC", "unknown_symbol")]
    report = build_clean(ws, pol(secondary=None), u, AS_OF, result)
    assert report.symbols["AAA"].status == "ok" and "unknown or delisted" in report.excluded["ZZA"][0]


def test_yfinance_delisted_symbols_are_findings_not_outages(ws):
    """The issue's case: yfinance's "possibly delisted" three times in a row once tripped the breaker."""
    demo = DemoProvider(42)
    asked = []

    class YFPricesMissingError(Exception):
        pass

    def history(symbol, start, end_exclusive):
        asked.append(symbol)
        if symbol.startswith("ZZ"):
            raise YFPricesMissingError(f"${symbol}: possibly delisted; no price data found")
        payload = demo.download(u[symbol], start, CAL.previous_session(end_exclusive))
        bars = parse_bars("demo", payload.data).to_pandas()
        idx = pd.DatetimeIndex(bars.date).tz_localize("America/New_York")
        return pd.DataFrame(
            {
                "Open": bars.open.values,
                "High": bars.high.values,
                "Low": bars.low.values,
                "Close": bars.close.values,
                "Adj Close": bars.adj_close.values,
                "Volume": bars.volume.values,
                "Dividends": 0.0,
                "Stock Splits": 0.0,
            },
            index=idx,
        )

    u = uni("AAA", "BBB", delisted=("ZZA", "ZZB", "ZZC"))
    yf = YFinanceProvider(history=history, retries=3, backoff_seconds=1.0, min_interval=0, sleep=lambda s: pytest.fail("no backoff"))
    result = fetch(ws, pol(primary="yfinance", secondary=None), u, AS_OF, "r1", providers=[yf])
    assert asked == ["SPY", "ZZA", "ZZB", "ZZC", "AAA", "BBB"]
    assert {s for s in u.symbols if result.chosen(s)} == {"SPY", "AAA", "BBB"}
    assert sum(f.kind == "unknown_symbol" for f in result.findings) == 3


def test_a_daily_limit_opens_the_breaker_after_the_first_answer(ws, stooq_server):
    stooq_server.default = (200, b"Exceeded the daily hits limit")
    u = uni("AAA", "BBB", "CCC")
    demo = Scripted("demo", {}, default=lambda inst, s, e: DemoProvider(42).download(inst, s, e).data)
    result = fetch(ws, pol(), u, AS_OF, "r1", providers=[stooq_server.provider(retries=3), demo])
    assert len(stooq_server.requests) == 1  # the first refusal opened the breaker: nobody else is asked
    assert demo.calls == ["SPY", "AAA", "BBB", "CCC"]  # the fallback takes over for every symbol
    assert [a.kind for a in result.attempts if a.source == "stooq"] == ["rate_limited", "skipped", "skipped", "skipped"]
    assert all(result.chosen(s).source == "demo" for s in u.symbols)
    limits = [f for f in result.findings if f.kind == "rate_limited"]
    assert len(limits) == 1 and "not asked again" in limits[0].message
    assert len(list((ws.raw_dir / "stooq").rglob("*.csv"))) == 1  # one refusal stored, not one per symbol


def test_a_missing_key_is_one_finding_naming_the_variable(ws, stooq_server, monkeypatch):
    monkeypatch.delenv("STOOQ_API_KEY", raising=False)
    stooq_server.default = (200, b"Get your apikey:\n\n1. Open https://stooq.com/q/d/?s=spy.us&get_apikey\n2. Copy the key\n")
    u = uni("AAA", "BBB")
    result = fetch(ws, pol(), u, AS_OF, "r1", providers=[stooq_server.provider(retries=3), DemoProvider(42)])
    assert len(stooq_server.requests) == 1
    keys = [f for f in result.findings if f.kind == "missing_key"]
    assert len(keys) == 1 and "set STOOQ_API_KEY in the environment" in keys[0].message
    assert [a.kind for a in result.attempts if a.source == "stooq"] == ["missing_key", "skipped", "skipped"]
    assert all(result.chosen(s).source == "demo" for s in u.symbols)


def test_server_errors_still_trip_after_three_outages(ws, stooq_server):
    stooq_server.default = (503, b"busy")
    waits = []
    u = uni("AAA", "BBB", "CCC", "DDD")
    result = fetch(ws, pol(), u, AS_OF, "r1", providers=[stooq_server.provider(retries=1, backoff_seconds=0.0, sleep=waits.append), DemoProvider(42)])
    assert len(stooq_server.requests) == 3 * 2  # three symbols, each tried twice (one retry), then the breaker
    assert [a.kind for a in result.attempts if a.source == "stooq"] == ["unavailable"] * 3 + ["skipped"] * 2


# --------------------------------------------------------------------------- incremental fetch


class Vendor:
    """A range-aware scripted vendor with Stooq's format: bars from the demo generator, optionally edited."""

    name = "stooq"

    def __init__(self, edit=None):
        self.asked: list[tuple[str, date, date]] = []
        self.edit = edit  # (symbol, frame) -> frame

    def download(self, inst, start, end):
        self.asked.append((inst.internal_symbol, start, end))
        data = stooq_csv(inst.internal_symbol, inst.instrument_type == "ETF", start, end)
        if self.edit:
            frame = pd.read_csv(io.BytesIO(data))
            frame = self.edit(inst.internal_symbol, frame)
            data = frame.to_csv(index=False).encode()
        return Payload(data, {"vendor": "scripted"})


def _raw_bytes(ws: Workspace) -> int:
    return sum(p.stat().st_size for p in ws.raw_dir.rglob("*.csv") if "_fetch" not in p.parts)


def test_one_more_session_stores_kilobytes_and_builds_the_same_history(ws, tmp_path):
    u = uni("AAA", "BBB")
    day1, day2 = CAL.previous_session(AS_OF), AS_OF
    policy = pol(secondary=None, history_sessions=2000)
    first = fetch(ws, policy, u, day1, "r1", providers=[Vendor()])
    after_first = _raw_bytes(ws)
    vendor = Vendor()
    second = fetch(ws, policy, u, day2, "r2", providers=[vendor])
    added = _raw_bytes(ws) - after_first
    assert second.stored_bytes == added and first.stored_bytes == after_first
    assert after_first > 200_000  # three ~8-year histories
    assert added < 3 * 1024  # three symbols x (3 overlap sessions + 1 new): well under a kilobyte each
    overlap_start = CAL.sessions_back(day1, 3)[0]
    assert vendor.asked == [(s, overlap_start, day2) for s in u.symbols]
    assert all(a.incremental for a in second.attempts) and not second.findings
    side = RawStore(ws).sidecar(second.chosen("AAA").raw_file)
    assert side["base"] == first.chosen("AAA").raw_file and side["bars"]["first"] == str(overlap_start)

    # the build stitches the pieces: the same clean bars as one full fetch into another workspace
    report = build_clean(ws, policy, u, day2, second)
    stitched = load_clean(ws).drop(columns=["raw_file"])
    other = Workspace.at(tmp_path / "full").ensure()
    full = fetch(other, policy, u, day2, "f1", providers=[Vendor()])
    assert not any(a.incremental for a in full.attempts)
    build_clean(other, policy, u, day2, full)
    expected = load_clean(other).drop(columns=["raw_file"])
    # the stored history grows by the sessions added: it keeps the one session the full window no longer reaches
    assert report.trade_allowed and stitched.date.min() == pd.Timestamp(CAL.sessions_back(day1, 2000)[0])
    window = stitched[stitched.date >= expected.date.min()].reset_index(drop=True)
    assert len(stitched) - len(window) == len(u.symbols)
    pd.testing.assert_frame_equal(window, expected)


def test_full_refetch_on_demand(ws):
    u = uni("AAA")
    policy = pol(secondary=None)
    fetch(ws, policy, u, CAL.previous_session(AS_OF), "r1", providers=[Vendor()])
    vendor = Vendor()
    again = fetch(ws, policy, u, AS_OF, "r2", providers=[vendor], full=True)
    start = CAL.sessions_back(AS_OF, 30)[0]
    assert again.full and vendor.asked == [(s, start, AS_OF) for s in u.symbols]
    assert RawStore(ws).sidecar(again.chosen("AAA").raw_file)["base"] is None


def test_a_revised_old_bar_is_a_finding_and_the_new_value_wins(ws):
    u = uni("AAA")
    policy = pol(secondary=None)
    day1 = CAL.previous_session(AS_OF)
    first = fetch(ws, policy, u, day1, "r1", providers=[Vendor()])
    stored = pd.read_csv(ws.root / first.chosen("AAA").raw_file)
    revised_day = CAL.sessions_back(day1, 2)[0]  # inside the 3-session overlap
    old_close = float(stored.loc[stored.Date == str(revised_day), "Close"].iloc[0])

    def edit(symbol, frame):
        if symbol == "AAA":
            frame.loc[frame.Date == str(revised_day), "Close"] = round(old_close * 1.005, 4)
        return frame

    second = fetch(ws, policy, u, AS_OF, "r2", providers=[Vendor(edit)])
    revisions = [f for f in second.findings if f.kind == "revision"]
    assert len(revisions) == 1 and revisions[0].symbol == "AAA"
    assert f"{revised_day}: close {old_close:g} -> {round(old_close * 1.005, 4):g}" in revisions[0].message
    assert second.chosen("AAA").incremental  # a revision is stitched in, not a reason to refetch
    report = build_clean(ws, policy, u, AS_OF, second)
    assert any("revision" in w and str(revised_day) in w for w in report.symbols["AAA"].warnings)
    clean = load_clean(ws)
    got = clean[(clean.symbol == "AAA") & (clean.date == pd.Timestamp(revised_day))].close.iloc[0]
    assert got == pytest.approx(round(old_close * 1.005, 4))


def test_a_readjusted_history_is_fetched_whole_again(ws):
    """A new dividend rescales every earlier adjusted price: the stored pieces no longer fit."""
    u = uni("AAA")
    policy = pol(secondary=None)
    fetch(ws, policy, u, CAL.previous_session(AS_OF), "r1", providers=[Vendor()])

    def dividend(symbol, frame):
        if symbol == "AAA":
            for c in ("Open", "High", "Low", "Close"):
                frame.loc[frame.Date < str(AS_OF), c] = frame.loc[frame.Date < str(AS_OF), c] * 0.98
        return frame

    vendor = Vendor(dividend)
    second = fetch(ws, policy, u, AS_OF, "r2", providers=[vendor])
    start = CAL.sessions_back(AS_OF, 30)[0]
    assert [a for a in vendor.asked if a[0] == "AAA"][-1] == ("AAA", start, AS_OF)
    assert [f.kind for f in second.findings if f.symbol == "AAA"] == ["readjusted"]
    assert not second.chosen("AAA").incremental and second.chosen("SPY").incremental
    assert RawStore(ws).sidecar(second.chosen("AAA").raw_file)["base"] is None


def test_whole_files_are_stored_again_only_when_they_change(ws, av_dir, shared_data):
    from tradeops.data.providers import AlphaVantageDirProvider

    u = uni("AAPL", "MSFT")
    policy = Policy.model_validate(
        {
            "data": {
                "primary": "alphavantage",
                "secondary": None,
                "history_sessions": 30,
                "local_files": {"SPY": {"source": "stooq", "path": str(shared_data / "stooq-spy" / "spy.us.csv")}},
            }
        }
    )
    as_of = date(2021, 4, 20)
    first = fetch(ws, policy, u, as_of, "r1", providers=[AlphaVantageDirProvider(av_dir)])
    assert first.chosen("SPY").source == "stooq" and first.stored_bytes > 100_000
    assert RawStore(ws).read(first.chosen("SPY").raw_file) == (shared_data / "stooq-spy" / "spy.us.csv").read_bytes()
    second = fetch(ws, policy, u, date(2021, 4, 21), "r2", providers=[AlphaVantageDirProvider(av_dir)])
    assert second.stored_bytes == 0 and second.chosen("AAPL").raw_file == first.chosen("AAPL").raw_file


def test_a_missing_local_file_is_named(ws, tmp_path):
    u = uni("AAA")
    policy = pol(secondary=None, local_files={"SPY": {"source": "stooq", "path": "nowhere/spy.us.csv"}})
    result = fetch(ws, policy, u, AS_OF, "r1", providers=[Vendor()])
    spy = result.for_symbol("SPY")
    assert len(spy) == 1 and "local file" in spy[0].error and "data.local_files" in spy[0].error


def test_bars_dated_after_their_receipt_are_a_finding(ws):
    u = uni("AAA")

    class Early:
        name = "stooq"

        def download(self, inst, start, end):
            # received at 20:00 UK on 2024-06-26 (15:00 in New York) yet holding bars for the 27th and 28th
            return Payload(stooq_csv(inst.internal_symbol, inst.instrument_type == "ETF", start, end), {}, received_at="2024-06-26T19:00:00+00:00")

    result = fetch(ws, pol(secondary=None), u, AS_OF, "r1", providers=[Early()])
    future = [f for f in result.findings if f.kind == "future_bar"]
    assert {f.symbol for f in future} == {"SPY", "AAA"}
    assert "2 bar(s) dated after the day they were received (2024-06-26): 2024-06-27, 2024-06-28" in future[0].message
    report = build_clean(ws, pol(secondary=None), u, date(2024, 6, 26), result)
    assert any("future_bar" in w for w in report.symbols["AAA"].warnings)


# --------------------------------------------------------------------------- properties of the pure part

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tradeops.data.incremental import compare_overlap, stitch  # noqa: E402


@functools.lru_cache(maxsize=None)
def _history(seed: int):
    return parse_bars("stooq", stooq_csv(f"S{seed % 5}", False, CAL.sessions_back(AS_OF, 80)[0], AS_OF))


def _bars(n: int, seed: int):
    t = _history(seed)
    return t.slice(t.num_rows - n, n)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(5, 80), cuts=st.lists(st.tuples(st.integers(0, 79), st.integers(0, 5)), min_size=1, max_size=5), seed=st.integers(0, 50))
def test_stitching_overlapping_pieces_gives_back_the_history(n, cuts, seed):
    whole = _bars(n, seed)
    pieces, lo = [], 0
    for cut, back in sorted(cuts):
        hi = max(lo + 1, min(cut, n))
        if hi >= n:
            break
        pieces.append(whole.slice(max(0, lo - back), hi - max(0, lo - back)))
        lo = hi
    pieces.append(whole.slice(max(0, lo - 2), n - max(0, lo - 2)))
    assert stitch(pieces).to_pandas().equals(whole.to_pandas())
    for a, b in zip(pieces, pieces[1:]):
        ov = compare_overlap(a, b)
        assert not ov.revisions and not ov.readjusted


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(3, 40), k=st.integers(0, 39), field=st.sampled_from(["open", "low", "close", "volume"]), factor=st.floats(1.001, 1.5), seed=st.integers(0, 50)
)
def test_one_moved_value_is_one_revision_a_common_ratio_is_a_readjustment(n, k, field, factor, seed):
    import pyarrow as pa

    whole = _bars(n, seed)
    k = k % n
    values = whole.column(field).to_numpy().copy()
    values[k] *= factor
    moved = whole.set_column(whole.schema.get_field_index(field), field, pa.array(values))
    ov = compare_overlap(whole, moved)
    assert ov.common == n and not ov.readjusted and [r.day for r in ov.revisions] == [whole.column("date")[k].as_py()]
    assert list(ov.revisions[0].fields) == [field]
    scaled = whole
    for f in ("open", "high", "low", "close", "adj_close"):
        scaled = scaled.set_column(scaled.schema.get_field_index(f), f, pa.array(whole.column(f).to_numpy() * factor))
    assert compare_overlap(whole, scaled).readjusted
