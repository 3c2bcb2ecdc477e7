"""Vendor bytes -> bars: one strict parser per CSV format.

Every parser takes the exact bytes a provider received and returns a pyarrow
Table with :data:`BAR_SCHEMA` (one row per input line, sorted by date), or
raises :class:`~tradeops.errors.DataError`.  A vendor's error answer in place
of CSV (a JSON error object, an HTML page, "No data", a rate-limit notice)
raises :class:`~tradeops.errors.VendorError` naming what came back.  There
is no partial result: a malformed line anywhere rejects the whole payload.

Formats:

* ``alphavantage`` (also written by the ``demo`` provider):
  ``timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient``;
  OHLC as traded, ``adjusted_close`` adjusted for splits and dividends.
* ``stooq``: ``Date,Open,High,Low,Close[,Volume]``; prices already adjusted
  by Stooq, so ``close`` = ``adj_close`` and dividend/split are unknown (NaN).
* ``yfinance``: the CSV :func:`tradeops.data.providers.yfinance_csv` writes
  from a ``Ticker.history(auto_adjust=False, actions=True)`` frame:
  ``Date,Open,High,Low,Close,Adj Close,Volume[,Dividends,Stock Splits]``.
  Yahoo's OHLC, volume and dividends are split-adjusted (not as traded); the
  parser undoes the splits that lie inside the payload so ``close`` is the
  traded price.  ``Stock Splits`` 0 means "no split" and becomes 1.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import DataError, MissingApiKey, RateLimited, SymbolNotFound, VendorError

PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")
BAR_COLUMNS = ("date", *PRICE_COLUMNS, "volume", "dividend", "split")
BAR_SCHEMA = pa.schema([("date", pa.date32())] + [(c, pa.float64()) for c in BAR_COLUMNS[1:]])

AV_HEADER = ("timestamp", "open", "high", "low", "close", "adjusted_close", "volume", "dividend_amount", "split_coefficient")
STOOQ_HEADER = ("Date", "Open", "High", "Low", "Close", "Volume")
YF_HEADER = ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume", "Dividends", "Stock Splits")

_LINE_END = re.compile(rb"\r\n|\r|\n")
_CONTENT = re.compile(rb"\S")  # searching for it finds content without copying the payload
_SNIPPET = 120


def _snippet(data: bytes) -> str:
    text = data.strip()[:_SNIPPET].decode("utf-8", errors="replace")
    return " ".join(text.split())


API_KEY_ENV = {"stooq": "STOOQ_API_KEY", "alphavantage": "ALPHAVANTAGE_API_KEY"}

# answers that mean "not today": a rate or daily limit (the provider's breaker opens at once)
_LIMIT = re.compile(
    rb"exceeded the daily hits limit|daily hits limit|call frequency|rate limit|too many requests|"
    rb"requests per day|calls per (?:minute|day)|premium endpoint",
    re.I,
)
# answers that mean "set an API key"
_NO_KEY = re.compile(
    rb"get your apikey|get_apikey|apikey is invalid or missing|claim your (?:free|unique) api key|"
    rb"api key (?:is )?(?:missing|required|invalid)",
    re.I,
)
# answers that mean "this symbol does not exist (any more)"
_NOT_FOUND = re.compile(
    rb"possibly delisted|prices? missing|no data found|symbol may be delisted|invalid api call|"
    rb"no timezone found|quote not found",
    re.I,
)


def classify_answer(text: bytes, source: str, symbol: str | None = None) -> VendorError | RateLimited | None:
    """The typed error a vendor's refusal stands for (rate limit, missing key, unknown symbol), else None.

    Used for payloads and for the messages of exceptions a client library raises.
    """
    shown = _snippet(text)
    who = f" for {symbol}" if symbol else ""
    if _NO_KEY.search(text):
        env = API_KEY_ENV.get(source)
        how = f"set {env} in the environment" if env else "this source needs an API key"
        return MissingApiKey(f"{source} wants an API key{who} ({shown!r}): {how}")
    if _LIMIT.search(text):
        return RateLimited(f"{source} refused the request{who}: rate limit ({shown!r})")
    if _NOT_FOUND.search(text) or text.strip().lower().startswith(b"no data"):
        return SymbolNotFound(f"{source} has no data for this symbol{who}: unknown or delisted ({shown!r})")
    return None


def vendor_error(data: bytes, source: str) -> VendorError | RateLimited | None:
    """The error a payload stands for, or None when it may be CSV.

    JSON bodies, HTML pages and one-line texts are error answers; a rate or
    daily limit is :class:`RateLimited`, a request for an API key
    :class:`MissingApiKey`, an unknown or delisted symbol :class:`SymbolNotFound`,
    anything else a plain :class:`VendorError`.
    """
    start = _CONTENT.search(data)
    head = data[start.start() : start.start() + 4096] if start else b""
    low = head.lower()
    if head[:1] in (b"{", b"["):
        message = None
        try:
            obj = json.loads(data.decode("utf-8"))
            if isinstance(obj, dict):
                for key in ("Error Message", "Note", "Information", "error", "message"):
                    if key in obj:
                        message = f"{key}: {obj[key]}"
                        break
        except (UnicodeDecodeError, ValueError):
            pass
        return classify_answer((message or "").encode() or head, source) or VendorError(
            f"{source} answered with an error payload instead of CSV: {message or _snippet(data)!r}"
        )
    if head[:1] == b"<" or low.startswith(b"<!doctype") or b"<html" in low[:512]:
        title = re.search(rb"<title[^>]*>(.*?)</title>", head, re.I | re.S)
        shown = title.group(1).decode("utf-8", "replace").strip() if title else _snippet(data)
        return classify_answer(shown.encode(), source) or VendorError(f"{source} answered with an HTML page instead of CSV: {shown!r}")
    first_line = _LINE_END.split(head, 1)[0]
    if head and b"," not in first_line:  # a CSV header has commas; a refusal is a sentence
        return classify_answer(head, source)
    return None


def _split_header(data: bytes, source: str) -> tuple[list[str], memoryview]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DataError(f"{source} payload must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if _CONTENT.search(data) is None:
        raise DataError(f"{source} answered with an empty body ({len(data)} bytes)")
    err = vendor_error(data, source)
    if err is not None:
        raise err
    m = _LINE_END.search(data)
    head, body = (data, memoryview(b"")) if m is None else (data[: m.start()], memoryview(data)[m.end() :])
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise DataError(f"{source} CSV header is not ASCII text: {_snippet(head)!r}") from None
    return [c.strip() for c in text.split(",")], body


def _check_header(names: list[str], allowed: tuple[tuple[str, ...], ...], source: str) -> tuple[str, ...]:
    for cols in allowed:
        if [n.lower() for n in names] == [c.lower() for c in cols]:
            return cols
    expected = " or ".join(",".join(c) for c in allowed)
    raise DataError(f"{source} CSV header {','.join(names)[:200]!r} is not the expected {expected!r}")


def _read(body: memoryview, columns: tuple[str, ...], date_col: str, source: str) -> pa.Table:
    if _CONTENT.search(body) is None:
        raise DataError(f"{source} CSV has a header but no bars")
    types = {c: (pa.date32() if c == date_col else pa.float64()) for c in columns}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(body)),
            read_options=pacsv.ReadOptions(column_names=list(columns), use_threads=False),
            parse_options=pacsv.ParseOptions(quote_char=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
    except pa.ArrowException as err:
        raise DataError(f"{source} CSV is malformed: {' '.join(str(err).split())[:300]}") from None
    if table.num_rows == 0:
        raise DataError(f"{source} CSV has a header but no bars")
    nulls = table.column(date_col).null_count
    if nulls:
        raise DataError(f"{source} CSV has {nulls} row(s) without a date")
    return table


def _f64(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def _bars(t: pa.Table, cols: dict[str, str | np.ndarray]) -> pa.Table:
    """BAR_SCHEMA from ``t``: each bar column is a column name of ``t`` (taken as is) or
    computed values; rows sorted by date (stable: duplicates keep their order)."""
    date = t.column(0)
    arrays = [date] + [t.column(v) if isinstance(v, str) else pa.array(v, pa.float64()) for v in (cols[c] for c in BAR_COLUMNS[1:])]
    bars = pa.Table.from_arrays(arrays, schema=BAR_SCHEMA)
    days = date.combine_chunks().view(pa.int32()).to_numpy()
    if len(days) > 1 and not np.all(days[1:] >= days[:-1]):
        bars = bars.take(pa.array(np.argsort(days, kind="stable")))
    return bars


def parse_alphavantage(data: bytes, source: str = "alphavantage") -> pa.Table:
    """AlphaVantage TIME_SERIES_DAILY_ADJUSTED CSV (as traded + adjusted_close)."""
    names, body = _split_header(data, source)
    cols = _check_header(names, (AV_HEADER,), source)
    t = _read(body, cols, cols[0], source)
    return _bars(t, dict(zip(BAR_COLUMNS[1:], cols[1:])))


def parse_stooq(data: bytes, source: str = "stooq") -> pa.Table:
    """Stooq daily CSV: prices already adjusted, no dividend/split columns."""
    names, body = _split_header(data, source)
    cols = _check_header(names, (STOOQ_HEADER, STOOQ_HEADER[:5]), source)
    t = _read(body, cols, cols[0], source)
    nan = np.full(t.num_rows, np.nan)
    return _bars(
        t,
        {
            "open": "Open",
            "high": "High",
            "low": "Low",
            "close": "Close",
            "adj_close": "Close",
            "volume": "Volume" if len(cols) == 6 else nan,
            "dividend": nan,
            "split": nan,
        },
    )


def parse_yfinance(data: bytes, source: str = "yfinance") -> pa.Table:
    """The CSV serialised from a yfinance frame; splits inside it are undone."""
    names, body = _split_header(data, source)
    cols = _check_header(names, (YF_HEADER, YF_HEADER[:7]), source)
    t = _read(body, cols, cols[0], source)
    n = t.num_rows
    days = t.column(0).combine_chunks().view(pa.int32()).to_numpy()
    order = np.argsort(days, kind="stable")
    dividend = _f64(t, "Dividends") if "Dividends" in cols else np.full(n, np.nan)
    split = _f64(t, "Stock Splits").copy() if "Stock Splits" in cols else np.full(n, np.nan)
    split[split == 0] = 1.0
    # Yahoo divides earlier prices by later splits; multiply them back
    # (the product of the splits after each bar, in date order).
    s = np.where(np.isfinite(split) & (split > 0), split, 1.0)[order]
    later = np.ones(n)
    if n > 1:
        later[:-1] = np.cumprod(s[::-1])[::-1][1:]
    undo = np.empty(n)
    undo[order] = later
    return _bars(
        t,
        {
            "open": _f64(t, "Open") * undo,
            "high": _f64(t, "High") * undo,
            "low": _f64(t, "Low") * undo,
            "close": _f64(t, "Close") * undo,
            "adj_close": "Adj Close",
            "volume": _f64(t, "Volume") / undo,
            "dividend": dividend * undo,
            "split": split,
        },
    )


PARSERS = {"alphavantage": parse_alphavantage, "demo": parse_alphavantage, "stooq": parse_stooq, "yfinance": parse_yfinance}


def parse_bars(source: str, data: bytes) -> pa.Table:
    """Parse a payload from ``source`` into BAR_SCHEMA bars (or raise DataError)."""
    try:
        parser = PARSERS[source]
    except KeyError:
        raise DataError(f"no parser for source {source!r}; known: {sorted(PARSERS)}") from None
    return parser(data, source)
