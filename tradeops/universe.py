"""Build ``config/universe.csv`` from what a user has: an AlphaVantage folder, an index
constituents list (symbol, name, sector) or plain symbols, plus the benchmarks.

Pure: :func:`read_constituents` and :func:`read_symbols` parse text into
:class:`Entry` rows, :func:`build_universe` merges them into universe CSV
text (every vendor's spelling derived by :func:`tradeops.config.universe_csv`,
the AlphaVantage spelling taken from the folder's file names), and the result
is checked by :func:`tradeops.config.parse_universe` before it is returned.
Symbols are one instrument whatever their case or class-share punctuation
(``aapl`` and ``AAPL``, ``BRK-B`` and ``BRK.B``): a list naming one twice is
refused with both places.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from .config import canonical_symbol, parse_universe, universe_csv
from .errors import ConfigError

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.^=-]{0,19}$")


@dataclass(frozen=True)
class Entry:
    symbol: str  # canonical: upper case, class shares with a dot (BRK.B)
    name: str
    sector: str
    where: str  # where it came from (file and line), for messages


def _symbol(raw: str, where: str) -> str:
    sym = canonical_symbol(raw)
    if not _SYMBOL.match(sym):
        raise ConfigError(f"{where}: {raw!r} is not a ticker symbol (letters, digits, '.', '-', '^', '='; at most 20)")
    return sym


def read_constituents(text: str, source: str = "constituents.csv") -> list[Entry]:
    """An index constituents CSV with the columns symbol, name, sector (any case; other columns ignored)."""
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = {(h or "").strip().lower(): h for h in (reader.fieldnames or [])}
        rows = list(reader)
    except csv.Error as err:
        raise ConfigError(f"{source}: not a readable CSV file ({err})") from None
    if "symbol" not in header:
        raise ConfigError(f"{source}: needs a 'symbol' column (and 'name', 'sector'); found {list(header.values())}")
    out = []
    for n, row in enumerate(rows, start=2):
        raw = (row.get(header["symbol"]) or "").strip()
        if not raw:
            raise ConfigError(f"{source} line {n}: the symbol is empty")
        name = (row.get(header["name"]) or "").strip() if "name" in header else ""
        sector = (row.get(header["sector"]) or "").strip() if "sector" in header else ""
        out.append(Entry(_symbol(raw, f"{source} line {n}"), name, sector, f"{source} line {n}"))
    return out


def read_symbols(text: str, source: str = "--symbols") -> list[Entry]:
    """Symbols separated by commas, spaces or new lines."""
    return [
        Entry(_symbol(raw, f"{source} item {k}"), "", "", f"{source} item {k}") for k, raw in enumerate((t for t in re.split(r"[\s,;]+", text) if t), start=1)
    ]


def refuse_duplicates(entries: Iterable[Entry]) -> None:
    """ConfigError naming both places when two entries are one instrument."""
    first: dict[str, Entry] = {}
    for e in entries:
        if e.symbol in first:
            f = first[e.symbol]
            raise ConfigError(
                f"{e.where} and {f.where} name the same instrument {e.symbol} (symbols are compared whatever their case and class-share punctuation): keep one"
            )
        first[e.symbol] = e


def build_universe(
    entries: list[Entry],
    benchmarks: list[str],
    *,
    sectors: Mapping[str, Entry] | None = None,
    alphavantage: Mapping[str, str] | None = None,
    benchmark: str | None = None,
) -> str:
    """Universe CSV text: the stocks in ``entries`` and the ETFs in ``benchmarks``.

    ``sectors`` (canonical symbol -> Entry, e.g. from a constituents list) fills
    names and sectors the entries lack; ``alphavantage`` maps canonical symbols
    to the folder's spelling; ``benchmark`` (default: the first of
    ``benchmarks``) must be among them.
    """
    if not benchmarks:
        raise ConfigError("a universe needs its benchmark (e.g. --benchmark SPY)")
    refuse_duplicates(entries)
    marks = [Entry(_symbol(b, "--benchmark"), "", "Benchmark", f"benchmark {b}") for b in benchmarks]
    refuse_duplicates(marks)
    etfs = {m.symbol for m in marks}
    sectors = sectors or {}
    rows, names = [], {}
    for e in entries:
        if e.symbol in etfs:
            continue  # a benchmark listed among the stocks is the benchmark (an ETF)
        known = sectors.get(e.symbol)
        sector = e.sector or (known.sector if known else "")
        names[e.symbol] = e.name or (known.name if known else "")
        rows.append((e.symbol, "stock", sector))
    for m in marks:
        rows.append((m.symbol, "ETF", "Benchmark"))
        names[m.symbol] = "benchmark"
    exchange = {sym: ("NYSE Arca" if sym in etfs else "NYSE/NASDAQ") for sym, _, _ in rows}
    text = universe_csv(rows, names=names, alphavantage=dict(alphavantage or {}), exchange=exchange)
    parse_universe(text, _symbol(benchmark, "--benchmark") if benchmark else marks[0].symbol, source="the built universe")
    return text
