"""Market-data providers behind one small interface; network code lives here only.

A provider answers ``download(instrument, start, end) -> Payload``: the exact
bytes of one symbol's daily bars, which :mod:`tradeops.data.parsers` reads
by the provider's ``name`` (its source).  Providers never parse or clean:
the raw store keeps what they return, the build turns it into clean bars.

Failures raise :class:`~tradeops.errors.DataError` subclasses:
``ProviderUnavailable`` (network errors, HTTP 5xx after retries with
exponential backoff plus jitter, capped by the policy's ceiling),
``RateLimited`` (HTTP 429 or a rate/daily-limit answer: never retried, the
fetch stops asking that provider), ``SymbolNotFound`` (unknown or delisted
symbol: permanent, never retried), ``MissingApiKey`` (names the environment
variable), ``VendorError`` (another error answer such as HTTP 404), plain
``DataError`` (the source has nothing for the symbol, or an unexpected
frame shape).

* :class:`YFinanceProvider`: ``yfinance.Ticker.history`` through an
  injectable callable, unadjusted OHLC + Adj Close + actions, on-disk cache.
* :class:`StooqProvider`: Stooq's CSV download through an injectable
  ``requests`` session and base URL; API key from ``STOOQ_API_KEY``.
* :class:`AlphaVantageDirProvider`: a folder of ``DA-<SYMBOL>-T-<date>.csv``.
* :class:`LocalFileProvider`: one vendor file for one symbol (policy ``data.local_files``).
* :class:`tradeops.data.demo.DemoProvider`: the offline generator.
"""

from __future__ import annotations

import functools
import io
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import requests
from tenacity import Retrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential

from .. import files
from ..clock import SYSTEM
from ..calendar import get_calendar
from ..config import SOURCES, Instrument, Policy, Universe, Workspace, canonical_symbol
from ..errors import ConfigError, DataError, MissingApiKey, ProviderUnavailable, RateLimited, SymbolNotFound, VendorError
from .parsers import YF_HEADER, classify_answer
from .payload import Payload, Provider, utc_now  # noqa: F401  re-exported: what a provider returns and is

STOOQ_URL = "https://stooq.com/q/d/l/"


# --------------------------------------------------------------------------- symbols


def internal_symbol(universe: Universe, source: str, vendor_symbol: str) -> str | None:
    """The universe's internal symbol for a vendor's spelling, or None if unknown."""
    for inst in universe.instruments:
        if inst.vendor_symbol(source) == vendor_symbol:
            return inst.internal_symbol
    wanted = canonical_symbol(vendor_symbol)
    for inst in universe.instruments:
        if canonical_symbol(inst.vendor_symbol(source)) == wanted or canonical_symbol(inst.internal_symbol) == wanted:
            return inst.internal_symbol
    return None


# --------------------------------------------------------------------------- retry + rate limit


class RateLimiter:
    """At least ``min_interval`` seconds between the starts of two requests."""

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.min_interval = min_interval
        self._clock, self._sleep = clock, sleep
        self._last: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            if self._last is not None:
                delay = self._last + self.min_interval - self._clock()
                if delay > 0:
                    self._sleep(delay)
            self._last = self._clock()


class _Transient(Exception):
    """A failure worth retrying (network error, HTTP 429 or 5xx)."""


@dataclass(frozen=True)
class Backoff:
    """Waits between retries: ``first`` seconds doubling each time, plus a random 0..``jitter``, never above ``ceiling``."""

    first: float = 1.0
    ceiling: float = 10.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __call__(self, state: RetryCallState) -> float:
        base = wait_exponential(multiplier=self.first, max=self.ceiling)(state)
        return min(self.ceiling, base + (self.rng.uniform(0, self.jitter) if self.jitter > 0 else 0.0))


def _with_retries(call: Callable[[], Any], what: str, retries: int, backoff: "Backoff | float", sleep: Callable[[float], None]) -> Any:
    """Run ``call``, retrying _Transient failures with exponential backoff, jitter and a ceiling (tenacity).

    Anything else ``call`` raises (RateLimited, SymbolNotFound, MissingApiKey,
    VendorError) goes straight out: a permanent answer or a limit is not retried.
    """
    wait = backoff if isinstance(backoff, Backoff) else Backoff(first=backoff, ceiling=60.0, jitter=0.0)
    retrying = Retrying(stop=stop_after_attempt(retries + 1), wait=wait, retry=retry_if_exception_type(_Transient), sleep=sleep, reraise=True)
    try:
        return retrying(call)
    except _Transient as err:
        raise ProviderUnavailable(f"{what} failed after {retries + 1} attempt(s): {err}") from None


# --------------------------------------------------------------------------- yfinance


def _yfinance_history(symbol: str, start: date, end_exclusive: date, timeout: float = 30.0) -> pd.DataFrame:  # pragma: no cover - network
    import yfinance

    return yfinance.Ticker(symbol).history(
        start=start.isoformat(),
        end=end_exclusive.isoformat(),
        interval="1d",
        auto_adjust=False,  # unadjusted OHLC plus "Adj Close"; never trust the default (it differs by API and release)
        actions=True,
        raise_errors=True,
        timeout=timeout,  # the policy's data.request_timeout_seconds (yfinance's own default is 10 s)
    )


_YF_NOT_FOUND = ("YFPricesMissingError", "YFTzMissingError", "YFTickerMissingError", "YFInvalidPeriodError")
_YF_LIMIT = ("YFRateLimitError",)


def _yfinance_failure(err: Exception, symbol: str) -> Exception:
    """What an exception from yfinance means: a limit, an unknown symbol, or a transient failure worth a retry."""
    name = type(err).__name__
    text = f"{name}: {err}"
    if name in _YF_LIMIT:
        return RateLimited(f"yfinance refused the request for {symbol}: rate limit ({text[:200]!r})")
    if name in _YF_NOT_FOUND:
        return SymbolNotFound(f"yfinance has no data for {symbol}: unknown or delisted ({text[:200]!r})")
    typed = classify_answer(text.encode("utf-8", "replace"), "yfinance", symbol)
    return typed if typed is not None else _Transient(text)


def yfinance_csv(frame: pd.DataFrame) -> bytes:
    """Serialise a ``Ticker.history(auto_adjust=False, actions=True)`` frame to CSV bytes.

    These bytes are what the raw store keeps for yfinance (yfinance hands us a
    frame, not a file): ``Date`` as the exchange-local date, then Open, High,
    Low, Close, Adj Close, Volume, Dividends, Stock Splits with full float
    precision.  An empty frame gives a header-only CSV.  A frame without
    ``Adj Close`` (auto_adjust=True) is refused.
    """
    if frame is None:
        return (",".join(YF_HEADER) + "\n").encode()
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"yfinance returned {type(frame).__name__}, not a DataFrame")
    if isinstance(frame.columns, pd.MultiIndex) or isinstance(frame.index, pd.MultiIndex):
        raise DataError(
            f"yfinance returned a frame with a MultiIndex ({'columns' if isinstance(frame.columns, pd.MultiIndex) else 'index'} "
            f"{list(frame.columns)[:4]}...): expected one symbol's bars from Ticker.history, not a multi-ticker download"
        )
    if frame.columns.duplicated().any():
        raise DataError(f"yfinance frame has duplicated columns {sorted(set(frame.columns[frame.columns.duplicated()]))}")
    if len(frame) == 0:
        return (",".join(YF_HEADER) + "\n").encode()
    cols = list(YF_HEADER[1:7])
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(f"yfinance frame lacks {missing} (columns {list(frame.columns)}): history must be called with auto_adjust=False")
    cols += [c for c in YF_HEADER[7:] if c in frame.columns]
    if "Stock Splits" in cols and "Dividends" not in cols:
        cols.remove("Stock Splits")
    try:
        index = pd.DatetimeIndex(frame.index)
        out = pd.DataFrame({"Date": index.strftime("%Y-%m-%d")})
        for c in cols:
            out[c] = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype="float64")
    except (TypeError, ValueError) as err:
        raise DataError(
            f"yfinance frame has an unexpected shape (index {type(frame.index).__name__}, columns {list(frame.columns)[:9]}): {type(err).__name__}: {err}"
        ) from None
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode()


class YFinanceProvider:
    """Yahoo Finance via yfinance, with a small on-disk cache, retries and a rate limit.

    ``history(symbol, start, end_exclusive) -> DataFrame`` is injectable so
    tests never touch the network; any exception it raises is retried, an
    empty frame is an answer ("no data").
    """

    name = "yfinance"

    def __init__(
        self,
        history: Callable[[str, date, date], pd.DataFrame] | None = None,
        cache_dir: Path | None = None,
        cache_hours: float = 12.0,
        retries: int = 3,
        backoff_seconds: float | Backoff = 1.0,
        min_interval: float = 0.5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.timeout = timeout
        self._history = history or functools.partial(_yfinance_history, timeout=timeout)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.cache_hours = cache_hours
        self.retries, self.backoff, self._sleep = retries, backoff_seconds, sleep
        self._limiter = RateLimiter(min_interval, sleep=sleep)

    def _cache_path(self, symbol: str, start: date, end: date) -> Path | None:
        if self.cache_dir is None or self.cache_hours <= 0:
            return None
        safe = re.sub(r"[^A-Za-z0-9.=^_-]", "_", symbol)
        return self.cache_dir / f"{safe}_{start}_{end}.csv"

    def download(self, instrument: Instrument, start: date, end: date) -> Payload:
        symbol = instrument.vendor_symbol(self.name)
        end_exclusive = get_calendar().next_session(end)
        request = {
            "call": "yfinance.Ticker.history",
            "symbol": symbol,
            "start": str(start),
            "end": str(end_exclusive),
            "interval": "1d",
            "auto_adjust": False,
            "actions": True,
        }
        cached = self._cache_path(symbol, start, end)
        if cached is not None and cached.exists() and SYSTEM.now().timestamp() - cached.stat().st_mtime < self.cache_hours * 3600:
            return Payload(cached.read_bytes(), request, from_cache=True)

        def call() -> pd.DataFrame:
            self._limiter.wait()
            try:
                return self._history(symbol, start, end_exclusive)
            except Exception as err:  # yfinance raises many kinds: limits and unknown symbols are final, the rest is retried
                raise _yfinance_failure(err, symbol) from err

        frame = _with_retries(call, f"yfinance history({symbol})", self.retries, self.backoff, self._sleep)
        data = yfinance_csv(frame)
        if cached is not None and len(frame):
            files.write_atomic(cached, data)
        return Payload(data, request)


# --------------------------------------------------------------------------- stooq


class StooqProvider:
    """Stooq's daily CSV download (``/q/d/l/?s=aapl.us&i=d&d1=..&d2=..``).

    The API key, when set, comes from ``STOOQ_API_KEY`` (or ``api_key``) and is
    sent as ``apikey``; it is never written to the request record.  HTTP 5xx
    and connection errors are retried with backoff; HTTP 429 is a rate limit
    (not retried); other 4xx answers are vendor errors (a request for an API
    key is :class:`MissingApiKey`).  Stooq answers its refusals ("Exceeded the
    daily hits limit", "Get your apikey") with HTTP 200: those bodies come back
    as payloads and the parser names them.  Stooq's prices are already adjusted.
    """

    name = "stooq"

    def __init__(
        self,
        session: requests.Session | None = None,
        base_url: str = STOOQ_URL,
        api_key: str | None = None,
        retries: int = 3,
        backoff_seconds: float | Backoff = 1.0,
        min_interval: float = 0.5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.session = session or requests.Session()
        self.base_url = base_url
        self.api_key = api_key if api_key is not None else os.environ.get("STOOQ_API_KEY") or None
        self.retries, self.backoff, self.timeout, self._sleep = retries, backoff_seconds, timeout, sleep
        self._limiter = RateLimiter(min_interval, sleep=sleep)

    def download(self, instrument: Instrument, start: date, end: date) -> Payload:
        symbol = instrument.vendor_symbol(self.name)
        params = {"s": symbol, "i": "d", "d1": start.strftime("%Y%m%d"), "d2": end.strftime("%Y%m%d")}
        request = {"url": self.base_url, "params": dict(params), "apikey": "set" if self.api_key else "unset"}
        if self.api_key:
            params["apikey"] = self.api_key

        def call() -> bytes:
            self._limiter.wait()
            try:
                resp = self.session.get(self.base_url, params=params, timeout=self.timeout)
            except requests.RequestException as err:
                raise _Transient(f"{type(err).__name__}: {err}") from err
            if resp.status_code == 429:
                raise RateLimited(f"stooq refused the request for {symbol}: rate limit (HTTP 429 from {self.base_url})")
            if resp.status_code >= 500:
                raise _Transient(f"HTTP {resp.status_code} from {self.base_url}")
            if resp.status_code >= 400:
                typed = classify_answer(resp.content[:4096], self.name, symbol)
                if isinstance(typed, (MissingApiKey, RateLimited)):
                    raise typed
                body = resp.content[:120].decode("utf-8", "replace").strip()
                raise VendorError(f"stooq answered HTTP {resp.status_code} for {symbol}: {body!r}")
            return resp.content

        data = _with_retries(call, f"stooq download({symbol})", self.retries, self.backoff, self._sleep)
        return Payload(data, request)


# --------------------------------------------------------------------------- alphavantage folder

_AV_FILE = re.compile(r"^DA-(?P<symbol>.+)-T-(?P<stamp>\d{4}-\d{2}-\d{2})\.csv$")


class AlphaVantageDirProvider:
    """A folder of AlphaVantage daily-adjusted exports named ``DA-<SYMBOL>-T-<date>.csv``.

    The whole file is the payload (exactly its bytes); the build drops bars
    after the decision session.  Spellings of class shares are matched with
    :func:`canonical_symbol`; the newest ``T-<date>`` wins.
    """

    name = "alphavantage"
    incremental = False  # a file is the whole history; the fetch stores it again only when its bytes changed

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ConfigError(f"alphavantage folder {self.directory} does not exist (policy key data.alphavantage_dir)")
        self._files: dict[str, Path] = {}
        for path in sorted(self.directory.glob("DA-*-T-*.csv")):
            m = _AV_FILE.match(path.name)
            if m:
                key = canonical_symbol(m["symbol"])
                self._files[key] = path  # sorted: a later stamp replaces an earlier one

    def symbols(self) -> list[str]:
        """Canonical vendor symbols with a file in the folder."""
        return sorted(self._files)

    def spellings(self) -> dict[str, str]:
        """Canonical symbol -> the spelling in its file name (``DA-BRK-B-T-...`` gives BRK.B -> BRK-B)."""
        return {key: _AV_FILE.match(path.name)["symbol"] for key, path in sorted(self._files.items())}

    def download(self, instrument: Instrument, start: date, end: date) -> Payload:
        symbol = instrument.vendor_symbol(self.name)
        path = self._files.get(canonical_symbol(symbol))
        if path is None:
            raise DataError(f"alphavantage folder {self.directory} has no DA-{symbol}-T-*.csv")
        return Payload(path.read_bytes(), {"file": str(path)})


# --------------------------------------------------------------------------- a local vendor file


class LocalFileProvider:
    """One vendor file on disk for one symbol (policy ``data.local_files``), e.g. a Stooq export of SPY.

    ``name`` is the file's format (its parser).  The whole file is the
    payload; the fetch stores it again only when its bytes changed.
    """

    incremental = False  # the file is the whole history: never asked for a range

    def __init__(self, source: str, path: str | Path):
        if source not in SOURCES or source == "demo":
            raise ConfigError(f"local file {path}: source {source!r} is not a vendor format; allowed yfinance, stooq, alphavantage")
        self.name = source
        self.path = Path(path)

    def download(self, instrument: Instrument, start: date, end: date) -> Payload:
        try:
            data = self.path.read_bytes()
        except OSError as err:
            raise DataError(
                f"local file {self.path} for {instrument.internal_symbol} (policy key data.local_files) cannot be read: {err.strerror or err}"
            ) from None
        return Payload(data, {"file": str(self.path)})


def local_file_provider(symbol: str, workspace: Workspace, policy: Policy) -> LocalFileProvider | None:
    """The provider for ``symbol``'s local vendor file, if the policy names one."""
    entry = policy.data.local_files.get(symbol)
    if entry is None:
        return None
    path = Path(entry.path)
    return LocalFileProvider(entry.source, path if path.is_absolute() else workspace.root / path)


# --------------------------------------------------------------------------- factory


def make_provider(name: str, workspace: Workspace, policy: Policy, alphavantage_dir: str | Path | None = None) -> Provider:
    """The provider called ``name`` configured from the policy's ``data:`` section."""
    cfg = policy.data
    backoff = Backoff(first=cfg.backoff_seconds, ceiling=cfg.backoff_max_seconds, jitter=cfg.backoff_jitter_seconds)
    if name == "yfinance":
        return YFinanceProvider(
            cache_dir=workspace.cache_dir / "yfinance",
            cache_hours=cfg.yfinance_cache_hours,
            retries=cfg.retries,
            backoff_seconds=backoff,
            min_interval=cfg.min_request_interval_seconds,
            timeout=cfg.request_timeout_seconds,
        )
    if name == "stooq":
        return StooqProvider(retries=cfg.retries, backoff_seconds=backoff, min_interval=cfg.min_request_interval_seconds, timeout=cfg.request_timeout_seconds)
    if name == "alphavantage":
        folder = alphavantage_dir or cfg.alphavantage_dir
        if not folder:
            raise ConfigError("the alphavantage provider needs a folder: set policy key data.alphavantage_dir")
        folder = Path(folder)
        return AlphaVantageDirProvider(folder if folder.is_absolute() else workspace.root / folder)
    if name == "demo":
        from .demo import DemoProvider

        return DemoProvider(seed=cfg.demo_seed)
    raise ConfigError(f"unknown data provider {name!r}; allowed {list(SOURCES)}")
