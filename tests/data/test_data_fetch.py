"""Stage 1 and the raw store: fallback, cross-check, circuit breaker, immutable raw files,
and builds that never look past as_of."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pandas as pd
import pytest

from tradeops.config import Policy, Workspace, parse_universe
from tradeops.data import FetchResult, build_clean, fetch, load_clean, parse_bars
from tradeops.data.demo import DemoProvider, demo_bars
from tradeops.data.providers import Payload
from tradeops.data.raw import RawStore
from tradeops.errors import DataError, ProviderUnavailable

AS_OF = date(2024, 6, 28)
HEADER = (
    "internal_symbol,yahoo_symbol,stooq_symbol,alphavantage_symbol,etoro_search_name,exchange,currency,instrument_type,tradable_as_underlying,sector,notes\n"
)


def universe(*stocks: str):
    rows = "".join(f"{s},{s},{s.lower()}.us,{s},{s},NYSE,USD,stock,true,Energy,\n" for s in stocks)
    return parse_universe(HEADER + "SPY,SPY,spy.us,SPY,SPY,NYSE Arca,USD,ETF,true,Benchmark,\n" + rows, "SPY")


def policy(**data) -> Policy:
    return Policy.model_validate(
        {"data": {"primary": "demo", "secondary": "stooq", "history_sessions": 30, "cross_check": False, **data}, "quality": {"window_sessions": 25}}
    )


def stooq_csv(symbol: str, etf: bool, start: date, end: date, scale: float = 1.0) -> bytes:
    """A Stooq-shaped answer built from the demo generator (Stooq's prices are adjusted)."""
    t = demo_bars(42, symbol, "Energy" if not etf else "Benchmark", etf, start, end).to_pandas()
    out = pd.DataFrame(
        {
            "Date": t.timestamp.astype(str),
            "Open": t.adjusted_close * scale,
            "High": t.adjusted_close * scale * 1.01,
            "Low": t.adjusted_close * scale * 0.99,
            "Close": t.adjusted_close * scale,
            "Volume": t.volume,
        }
    )
    return out.to_csv(index=False).encode()


class Scripted:
    """A provider with scripted answers per internal symbol (bytes, or an exception to raise)."""

    def __init__(self, name: str, answers: dict, default=None):
        self.name, self.answers, self.default, self.calls = name, answers, default, []

    def download(self, instrument, start, end):
        self.calls.append(instrument.internal_symbol)
        answer = self.answers.get(instrument.internal_symbol, self.default)
        if callable(answer):
            answer = answer(instrument, start, end)
        if isinstance(answer, Exception):
            raise answer
        return Payload(answer, {"scripted": instrument.internal_symbol})


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.at(tmp_path).ensure()


def good_stooq(inst, start, end):
    return stooq_csv(inst.internal_symbol, inst.instrument_type == "ETF", start, end)


def test_secondary_is_asked_when_the_primary_fails(ws):
    uni = universe("AAA", "BBB", "CCC")
    primary = Scripted(
        "demo",
        {"AAA": ProviderUnavailable("demo down"), "BBB": b'{"Error Message": "Invalid API call"}'},
        default=lambda i, s, e: DemoProvider(42).download(i, s, e).data,
    )
    secondary = Scripted("stooq", {}, default=good_stooq)
    result = fetch(ws, policy(), uni, AS_OF, "r1", providers=[primary, secondary])
    assert secondary.calls == ["AAA", "BBB"]  # only where the primary failed
    assert [(a.source, a.role, a.kind) for a in result.for_symbol("AAA")] == [("demo", "primary", "unavailable"), ("stooq", "fallback", "ok")]
    bbb = result.for_symbol("BBB")
    assert bbb[0].kind == "not_found" and (ws.root / bbb[0].raw_file).read_bytes() == b'{"Error Message": "Invalid API call"}'
    assert result.chosen("CCC").source == "demo" and result.chosen("BBB").source == "stooq"

    report = build_clean(ws, policy(), uni, AS_OF, result)
    clean = load_clean(ws)
    assert report.trade_allowed and set(clean.symbol) == {"AAA", "BBB", "CCC", "SPY"}
    assert clean.groupby("symbol").source.first().to_dict() == {"AAA": "stooq", "BBB": "stooq", "CCC": "demo", "SPY": "demo"}
    assert "demo failed (not_found)" in report.symbols["BBB"].warnings[0]


def test_both_failing_is_reported_per_symbol(ws):
    uni = universe("AAA")
    primary = Scripted("demo", {"AAA": ProviderUnavailable("timeout")}, default=lambda i, s, e: DemoProvider(42).download(i, s, e).data)
    secondary = Scripted("stooq", {"AAA": b"<html><title>blocked</title></html>"})
    result = fetch(ws, policy(), uni, AS_OF, "r1", providers=[primary, secondary])
    report = build_clean(ws, policy(), uni, AS_OF, result)
    reason = report.excluded["AAA"][0]
    assert report.symbols["AAA"].checks_failed == ["vendor_error"]
    assert "demo: timeout" in reason and "stooq: stooq answered with an HTML page instead of CSV: 'blocked'" in reason
    assert not report.trade_allowed  # 1 of 2 symbols: coverage 50%


@pytest.mark.parametrize("scale, excluded", [(1.015, False), (1.05, True)])
def test_cross_check_disagreement_is_a_quality_finding(ws, scale, excluded):
    uni = universe("AAA", "BBB")

    def stooq(inst, start, end):
        etf = inst.instrument_type == "ETF"
        return stooq_csv(inst.internal_symbol, etf, start, end, scale if inst.internal_symbol == "BBB" else 1.0)

    p = policy(cross_check=True)
    result = fetch(ws, p, uni, AS_OF, "r1", providers=[DemoProvider(42), Scripted("stooq", {}, default=stooq)])
    assert [a.role for a in result.for_symbol("BBB")] == ["primary", "check"]
    report = build_clean(ws, p, uni, AS_OF, result)
    assert (report.symbols["BBB"].checks_failed == ["source_disagreement"]) is excluded
    assert report.symbols["AAA"].status == "ok"
    if excluded:
        assert "BBB: sources disagree on 2024-06-28: demo adjusted close" in report.excluded["BBB"][0]
        assert "(4.76% > max_source_disagreement 2.00%)" in report.excluded["BBB"][0]


def test_an_unavailable_provider_is_skipped_after_three_failures(ws):
    uni = universe("A1", "A2", "A3", "A4", "A5")
    down = Scripted("stooq", {}, default=ProviderUnavailable("HTTP 503 after retries"))
    result = fetch(ws, policy(cross_check=True), uni, AS_OF, "r1", providers=[DemoProvider(42), down])
    assert len(down.calls) == 3
    kinds = [a.kind for a in result.attempts if a.role == "check"]
    assert kinds == ["unavailable"] * 3 + ["skipped"] * 3
    assert build_clean(ws, policy(cross_check=True), uni, AS_OF, result).trade_allowed  # a missing cross-check is no failure


def test_raw_files_are_immutable_and_carry_a_sidecar(ws):
    uni = universe("AAA")
    result = fetch(ws, policy(secondary=None), uni, AS_OF, "r1")
    raw = ws.root / result.chosen("AAA").raw_file
    assert raw.relative_to(ws.root).as_posix() == "data/raw/demo/AAA/2024-06-28_r1.csv"
    side = json.loads(raw.with_suffix(".json").read_text())
    assert side["sha256"] == hashlib.sha256(raw.read_bytes()).hexdigest() and side["bytes"] == raw.stat().st_size
    assert side["request"]["generator"] == "tradeops.data.demo" and side["run_id"] == "r1" and side["received_at"]
    with pytest.raises(DataError, match="run r1 already fetched 2024-06-28"):
        fetch(ws, policy(secondary=None), uni, AS_OF, "r1")
    store = RawStore(ws)
    with pytest.raises(DataError, match="never overwritten"):
        store.save("demo", "AAA", "AAA", AS_OF, "r1", Payload(b"other", {}))
    fetch(ws, policy(secondary=None), uni, AS_OF, "r2")
    assert sorted(p.name for p in raw.parent.glob("*.csv")) == ["2024-06-28_r1.csv", "2024-06-28_r2.csv"]
    with pytest.raises(DataError, match="cannot be used in a raw-store path"):
        store.path_for("demo", "../etc", AS_OF, "r3")


def test_a_changed_raw_file_is_caught_by_the_build(ws):
    uni = universe("AAA")
    result = fetch(ws, policy(secondary=None), uni, AS_OF, "r1")
    raw = ws.root / result.chosen("AAA").raw_file
    raw.chmod(0o644)
    raw.write_bytes(raw.read_bytes().replace(b",", b";", 1))
    report = build_clean(ws, policy(secondary=None), uni, AS_OF, result)
    assert report.symbols["AAA"].status == "excluded" and "changed since it was stored" in report.excluded["AAA"][0]


def test_build_never_reads_past_as_of(ws):
    uni = universe("AAA")
    result = fetch(ws, policy(secondary=None), uni, AS_OF, "r1")
    earlier = date(2024, 6, 21)
    report = build_clean(ws, policy(secondary=None), uni, earlier, result)
    clean = load_clean(ws)
    assert clean.date.max() == pd.Timestamp(earlier) and report.output["bars_after_as_of_dropped"] == 2 * 5
    raw = parse_bars("demo", (ws.root / result.chosen("AAA").raw_file).read_bytes())
    assert raw.column("date").to_pylist()[-1] == AS_OF  # the raw file has them; the build ignores them


def test_build_from_a_saved_record_or_a_list_of_raw_files(ws):
    uni = universe("AAA")
    result = fetch(ws, policy(secondary=None), uni, AS_OF, "r1")
    record = ws.raw_dir / "_fetch" / "2024-06-28_r1.json"
    assert FetchResult.load(record) == result
    a = build_clean(ws, policy(secondary=None), uni, AS_OF)  # newest record for as_of
    first = load_clean(ws)
    b = build_clean(ws, policy(secondary=None), uni, AS_OF, [ws.root / result.chosen(s).raw_file for s in ("SPY", "AAA")])
    pd.testing.assert_frame_equal(first, load_clean(ws))
    assert a.trade_allowed and b.trade_allowed and b.run_id is None


def test_fetch_needs_a_session(ws):
    with pytest.raises(DataError, match="2024-07-04 is not a XNYS session"):
        fetch(ws, policy(), universe("AAA"), date(2024, 7, 4), "r1")
