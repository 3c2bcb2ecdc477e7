"""Parsers: real payloads, vendor error answers, and property tests (any bytes in ->
bars or a clear DataError, never another exception or a silent partial frame)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeops.data.parsers import AV_HEADER, BAR_SCHEMA, STOOQ_HEADER, YF_HEADER, parse_bars, vendor_error
from tradeops.errors import DataError, MissingApiKey, RateLimited, SymbolNotFound, VendorError

SOURCES = ("alphavantage", "demo", "stooq", "yfinance")
HEADERS = {"alphavantage": AV_HEADER, "demo": AV_HEADER, "stooq": STOOQ_HEADER, "yfinance": YF_HEADER}
LINES = re.compile(rb"\r\n|\r|\n")


def data_lines(payload: bytes) -> int:
    """Non-empty lines after the header: the rows a complete parse must return."""
    return sum(1 for line in LINES.split(payload)[1:] if line)


def test_aapl_file_parses_whole(av_dir):
    raw = (av_dir / "DA-AAPL-T-2021-04-21.csv").read_bytes()
    bars = parse_bars("alphavantage", raw)
    assert bars.schema == BAR_SCHEMA and bars.num_rows == data_lines(raw) == 5402
    last = bars.slice(bars.num_rows - 1).to_pylist()[0]
    assert last == {
        "date": date(2021, 4, 21),
        "open": 132.36,
        "high": 133.75,
        "low": 131.3001,
        "close": 133.5,
        "adj_close": 133.5,
        "volume": 68538237.0,
        "dividend": 0.0,
        "split": 1.0,
    }


def test_every_sample_file_parses_or_is_a_vendor_error(av_dir):
    for path in sorted(av_dir.glob("*.csv")):
        raw = path.read_bytes()
        if path.name.startswith("DA-BF.B-"):
            with pytest.raises(VendorError, match="error payload instead of CSV"):
                parse_bars("alphavantage", raw)
        else:
            assert parse_bars("alphavantage", raw).num_rows == data_lines(raw), path.name


def test_newest_first_files_come_out_oldest_first():
    body = b"2021-04-21,2,2,2,2,2,10,0,1\n2021-04-20,1,1,1,1,1,10,0,1\n"
    bars = parse_bars("alphavantage", ",".join(AV_HEADER).encode() + b"\r\n" + body)
    assert bars.column("date").to_pylist() == [date(2021, 4, 20), date(2021, 4, 21)]
    assert bars.column("close").to_pylist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "payload, error, text",
    [
        (b"", DataError, "empty body"),
        (b"  \r\n ", DataError, "empty body"),
        (b'{\n    "Error Message": "Invalid API call."\n}', VendorError, "Error Message: Invalid API call."),
        (b'{"Note": "Thank you for using Alpha Vantage! 5 calls per minute"}', RateLimited, "Note: Thank you"),
        (b'{"Information": "Please claim your free API key on https://www.alphavantage.co/support/#api-key"}', MissingApiKey, "set STOOQ_API_KEY"),
        (b"Get your apikey:\n\n1. Open https://stooq.com/q/d/?s=spy.us&get_apikey\n", MissingApiKey, "set STOOQ_API_KEY in the environment"),
        (b"{\n Error Message\n}", VendorError, "error payload instead of CSV"),
        (b"<!DOCTYPE html><html><head><title>Verify you are human</title></head></html>", VendorError, "HTML page instead of CSV: 'Verify you are human'"),
        (b"No data", SymbolNotFound, "no data for this symbol"),
        (b"Exceeded the daily hits limit", RateLimited, "rate limit"),
        (b"Date,Open,High,Low,Close,Volume\n", DataError, "header but no bars"),
        (b"Date;Open;High;Low;Close;Volume\n2021-01-04;1;1;1;1;1\n", DataError, "not the expected"),
        (b"Date,Open,High,Low,Close,Volume\n2021-01-04,1,1,1,1\n", DataError, "malformed"),
        (b"Date,Open,High,Low,Close,Volume\n2021-01-04,1,1,1,x,1\n", DataError, "malformed"),
        (b"Date,Open,High,Low,Close,Volume\n2021-02-30,1,1,1,1,1\n", DataError, "malformed"),
        (b"Date,Open,High,Low,Close,Volume\n,1,1,1,1,1\n", DataError, "without a date"),
        (b"\xff\xfeD\x00a\x00", DataError, "not ASCII"),
    ],
)
def test_bad_payloads_raise_clear_errors(payload, error, text):
    with pytest.raises(error, match=re.escape(text)):
        parse_bars("stooq", payload)


def test_vendor_error_sniffing_leaves_csv_alone():
    assert vendor_error(b"Date,Open\n2021-01-04,1\n", "stooq") is None


def test_stooq_without_volume_column():
    bars = parse_bars("stooq", b"Date,Open,High,Low,Close\n2021-01-04,1,2,0.5,1.5\n")
    assert bars.column("adj_close").to_pylist() == [1.5] and np.isnan(bars.column("volume").to_pylist()[0])


def test_yfinance_splits_are_undone_so_close_is_as_traded():
    # Yahoo divides everything before a 4:1 split by 4; the parser multiplies it back.
    csv = (
        ",".join(YF_HEADER) + "\n"
        "2020-08-27,125.0,126.0,124.0,125.0,124.5,100,0.0,0.0\n"
        "2020-08-28,124.8,125.2,124.6,124.8,124.3,100,0.205,0.0\n"
        "2020-08-31,127.58,131.0,126.0,129.04,128.6,400,0.0,4.0\n"
    ).encode()
    bars = parse_bars("yfinance", csv).to_pydict()
    assert bars["close"] == [500.0, 499.2, 129.04]
    assert bars["volume"] == [25.0, 25.0, 400.0]
    assert bars["dividend"] == [0.0, 0.82, 0.0]
    assert bars["split"] == [1.0, 1.0, 4.0]
    assert bars["adj_close"] == [124.5, 124.3, 128.6]


def test_unknown_source():
    with pytest.raises(DataError, match="no parser for source 'bloomberg'"):
        parse_bars("bloomberg", b"x")


# --------------------------------------------------------------------------- properties


def _check(source: str, payload: bytes) -> None:
    try:
        bars = parse_bars(source, payload)
    except DataError as err:
        assert str(err)  # a clear message, never an empty one
        return
    assert bars.schema == BAR_SCHEMA
    assert bars.num_rows == data_lines(payload) > 0  # every line became a row: nothing silently dropped
    days = bars.column("date").to_pylist()
    assert days == sorted(days)


@settings(max_examples=300, deadline=None)
@given(source=st.sampled_from(SOURCES), payload=st.binary(max_size=400))
def test_any_bytes_give_bars_or_a_data_error(source, payload):
    _check(source, payload)


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["", "nan", "NaN", "null", "1e400", "-0", "0x10", " 1", "1,5", "١٢", "\x00", '"1"']),
)
dates = st.one_of(
    st.dates(date(1900, 1, 1), date(2100, 12, 31)).map(str), st.sampled_from(["2021-02-30", "2021-4-1", "20210401", "", "2021-04-01T00:00:00", "x"])
)
endings = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def near_csv(draw, source: str) -> bytes:
    """CSV that looks right: the real header and rows of mostly-valid, sometimes broken fields."""
    header = list(HEADERS[source])
    if source == "stooq" and draw(st.booleans()):
        header = header[:5]
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        width = len(header) if draw(st.integers(0, 9)) else draw(st.integers(0, len(header) + 2))
        rows.append(",".join([draw(dates)] + [draw(numbers) for _ in range(max(0, width - 1))])[: 1 + 40 * width])
    eol = draw(endings)
    text = ",".join(header) + eol + eol.join(rows) + (eol if draw(st.booleans()) else "")
    data = text.encode("utf-8")
    if draw(st.booleans()):  # cut the download short somewhere
        data = data[: draw(st.integers(0, len(data)))]
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), source=st.sampled_from(SOURCES))
def test_near_csv_gives_bars_or_a_data_error(data, source):
    _check(source, data.draw(near_csv(source)))


@settings(max_examples=150, deadline=None)
@given(
    start=st.dates(date(1990, 1, 1), date(2040, 1, 1)),
    rows=st.lists(
        st.tuples(*[st.floats(1e-4, 1e6, allow_nan=False)] * 5, st.integers(0, 10**10), st.floats(0, 50), st.floats(0.01, 100)), min_size=1, max_size=30
    ),
)
def test_valid_alphavantage_csv_round_trips_exactly(start, rows):
    lines = [",".join(AV_HEADER)]
    for i, (o, h, lo, c, a, v, div, split) in enumerate(rows):
        lines.append(",".join([str(start + timedelta(days=i)), repr(o), repr(h), repr(lo), repr(c), repr(a), str(v), repr(div), repr(split)]))
    bars = parse_bars("alphavantage", ("\n".join(lines) + "\n").encode()).to_pydict()
    assert bars["date"] == [start + timedelta(days=i) for i in range(len(rows))]
    assert bars["open"] == [r[0] for r in rows] and bars["adj_close"] == [r[4] for r in rows]
    assert bars["volume"] == [float(r[5]) for r in rows] and bars["split"] == [r[7] for r in rows]


LIMITS = [
    b"Exceeded the daily hits limit",
    b"Too Many Requests. Rate limited. Try after a while.",
    b'{"Note": "Our standard API call frequency is 5 calls per minute"}',
]
KEYS = [b"Get your apikey: https://stooq.com/q/d/?s=aapl.us&get_apikey", b'{"Error Message": "the parameter apikey is invalid or missing."}']
GONE = [b"$XYZQ: possibly delisted; no price data found", b"No data", b'{"Error Message": "Invalid API call."}']


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.text(alphabet=st.characters(blacklist_characters=",{[<", blacklist_categories=("Cs",)), max_size=30),
    which=st.sampled_from([(b, RateLimited) for b in LIMITS] + [(b, MissingApiKey) for b in KEYS] + [(b, SymbolNotFound) for b in GONE]),
)
def test_refusals_are_classified_whatever_surrounds_them(prefix, which):
    """A refusal sentence is told apart (limit / key / unknown symbol) whatever text precedes it, and never parses as bars."""
    body, kind = which
    payload = body if body[:1] == b"{" or body == b"No data" else prefix.encode("utf-8", "replace").replace(b"\n", b" ") + b" " + body
    with pytest.raises(kind):
        parse_bars("stooq", payload)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_classifier_never_crashes(blob):
    from tradeops.data.parsers import classify_answer

    got = classify_answer(blob, "stooq", "AAPL")
    assert got is None or isinstance(got, (VendorError, RateLimited))
