"""The universe file (``config/universe.csv``): one :class:`Instrument` per row with its vendor
symbols, parsed and checked into a :class:`Universe`.  Re-exported by :mod:`tradeops.config`."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path


from .errors import ConfigError


# --------------------------------------------------------------------------- universe

UNIVERSE_COLUMNS = (
    "internal_symbol",
    "yahoo_symbol",
    "stooq_symbol",
    "alphavantage_symbol",
    "etoro_search_name",
    "exchange",
    "currency",
    "instrument_type",
    "tradable_as_underlying",
    "sector",
    "notes",
)
INSTRUMENT_TYPES = ("stock", "ETF")


@dataclass(frozen=True)
class Instrument:
    internal_symbol: str
    yahoo_symbol: str
    stooq_symbol: str
    alphavantage_symbol: str
    etoro_search_name: str
    exchange: str
    currency: str
    instrument_type: str
    tradable_as_underlying: bool
    sector: str
    notes: str

    def vendor_symbol(self, source: str) -> str:
        return {"yfinance": self.yahoo_symbol, "stooq": self.stooq_symbol, "alphavantage": self.alphavantage_symbol, "demo": self.internal_symbol}[source]


@dataclass(frozen=True)
class Universe:
    instruments: tuple[Instrument, ...]
    benchmark: str

    @property
    def symbols(self) -> list[str]:
        """Every internal symbol, benchmark included."""
        return [i.internal_symbol for i in self.instruments]

    @property
    def tradable(self) -> list[str]:
        """Symbols a ticket may buy: tradable as underlying, stocks (benchmarks excluded)."""
        return [i.internal_symbol for i in self.instruments if i.tradable_as_underlying and i.instrument_type == "stock"]

    def __getitem__(self, symbol: str) -> Instrument:
        for i in self.instruments:
            if i.internal_symbol == symbol:
                return i
        raise KeyError(symbol)

    def __contains__(self, symbol: object) -> bool:
        return any(i.internal_symbol == symbol for i in self.instruments)

    def sectors(self) -> dict[str, str]:
        return {i.internal_symbol: i.sector for i in self.instruments}


def canonical_symbol(vendor_symbol: str) -> str:
    """One spelling for class shares: BRK-B, brk.b, BRK/B, BRK_B and brk-b.us all give BRK.B."""
    s = vendor_symbol.strip().upper()
    if s.endswith(".US"):
        s = s[:-3]
    return re.sub(r"[-/_.]", ".", s)


def universe_csv(
    rows: list[tuple[str, str, str]],
    notes: str = "",
    *,
    names: dict[str, str] | None = None,
    alphavantage: dict[str, str] | None = None,
    exchange: dict[str, str] | str = "NYSE",
) -> str:
    """Universe CSV text for (symbol, instrument_type, sector) rows, every vendor's spelling
    derived the usual way (BRK.B -> yahoo BRK-B, stooq brk-b.us, AlphaVantage BRK.B unless
    ``alphavantage`` names the folder's spelling); ``names`` fill the notes column (else ``notes``)."""
    names, alphavantage = names or {}, alphavantage or {}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(UNIVERSE_COLUMNS)
    for sym, itype, sector in rows:
        where = exchange if isinstance(exchange, str) else exchange.get(sym, "NYSE")
        w.writerow(
            [
                sym,
                sym.replace(".", "-"),
                sym.lower().replace(".", "-") + ".us",
                alphavantage.get(sym, sym),
                sym,
                where,
                "USD",
                itype,
                "true",
                sector,
                names.get(sym, notes),
            ]
        )
    return buf.getvalue()


_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


def parse_universe(text: str, benchmark: str, source: str = "universe.csv") -> Universe:
    """Parse and validate universe CSV text; raise ConfigError naming the row and field."""
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        header = tuple(rows[0].keys()) if rows else tuple(next(csv.reader(io.StringIO(text, newline="")), ()))
    except csv.Error as err:
        raise ConfigError(f"{source}: not a readable CSV file ({err})") from None
    header = tuple(h for h in header if h is not None)
    missing = [c for c in UNIVERSE_COLUMNS if c not in header]
    extra = [c for c in header if c not in UNIVERSE_COLUMNS]
    if missing or extra:
        raise ConfigError(f"{source}: columns must be {list(UNIVERSE_COLUMNS)}; missing {missing}, unknown {extra}")
    seen: dict[str, tuple[str, int]] = {}  # upper-cased symbol -> (spelling, line)
    out = []
    for n, row in enumerate(rows, start=2):
        where = f"{source} line {n}"
        if None in row:
            raise ConfigError(f"{where}: more fields than the {len(header)} columns of the header")
        sym = (row["internal_symbol"] or "").strip()
        if not sym:
            raise ConfigError(f"{where}: internal_symbol is empty")
        if sym.upper() in seen:
            first, n0 = seen[sym.upper()]
            how = "" if first == sym else f" as {first!r}; symbols are one instrument whatever their case: keep one row"
            raise ConfigError(f"{where}: duplicate internal_symbol {sym!r} (first on line {n0}{how})")
        seen[sym.upper()] = (sym, n)
        itype = (row["instrument_type"] or "").strip()
        if itype not in INSTRUMENT_TYPES:
            raise ConfigError(f"{where}: instrument_type {itype!r} for {sym} is unknown; allowed {list(INSTRUMENT_TYPES)}")
        flag = (row["tradable_as_underlying"] or "").strip().lower()
        if flag not in _TRUE | _FALSE:
            raise ConfigError(f"{where}: tradable_as_underlying {row['tradable_as_underlying']!r} for {sym} must be true or false")
        if flag in _FALSE and itype == "stock":
            raise ConfigError(
                f"{where}: {sym} is not tradable as underlying on the broker; the universe may only hold "
                "symbols bought as real shares (remove it or set tradable_as_underlying=true)"
            )
        for col in ("yahoo_symbol", "stooq_symbol", "alphavantage_symbol", "etoro_search_name", "currency"):
            if not (row[col] or "").strip():
                raise ConfigError(f"{where}: {col} is empty for {sym}")
        if row["currency"].strip() != "USD":
            raise ConfigError(f"{where}: currency {row['currency']!r} for {sym}; only USD instruments are supported")
        out.append(
            Instrument(
                internal_symbol=sym,
                yahoo_symbol=row["yahoo_symbol"].strip(),
                stooq_symbol=row["stooq_symbol"].strip(),
                alphavantage_symbol=row["alphavantage_symbol"].strip(),
                etoro_search_name=row["etoro_search_name"].strip(),
                exchange=(row["exchange"] or "").strip(),
                currency=row["currency"].strip(),
                instrument_type=itype,
                tradable_as_underlying=flag in _TRUE,
                sector=(row["sector"] or "").strip(),
                notes=(row["notes"] or "").strip(),
            )
        )
    if benchmark not in {spelling for spelling, _ in seen.values()}:
        raise ConfigError(f"{source}: the benchmark {benchmark!r} (policy key universe.benchmark) is missing from the universe")
    return Universe(instruments=tuple(out), benchmark=benchmark)


def load_universe(path: str | Path, benchmark: str) -> Universe:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"universe file not found: {path}") from None
    return parse_universe(text, benchmark, source=str(path))
