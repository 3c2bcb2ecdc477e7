"""``config/corrections.csv``: the only way to override a history finding, recorded and hashed.

Columns ``symbol,start,end,action,reason`` (ISO dates, ``start <= end``):

- ``accept``: the bars of ``symbol`` in [start, end] are kept although a
  history-wide check found a defect there (someone looked and says the data
  is right); the finding stays in the report with the reason.
- ``quarantine``: the bars in [start, end] are left out of the clean
  snapshot, whether or not a check found anything.

Every row needs a reason.  The file's sha256 goes into the quality report
and the run manifest, so a correction is never silent.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from ..errors import ConfigError

COLUMNS = ("symbol", "start", "end", "action", "reason")
ACTIONS = ("accept", "quarantine")


@dataclass(frozen=True)
class Correction:
    symbol: str
    start: date
    end: date
    action: Literal["accept", "quarantine"]
    reason: str

    def covers(self, symbol: str, start: date, end: date) -> bool:
        return self.symbol == symbol and self.start <= start and end <= self.end

    def describe(self) -> str:
        return f"{self.symbol} {self.start}..{self.end} {self.action}: {self.reason}"


@dataclass(frozen=True)
class Corrections:
    rows: tuple[Correction, ...] = ()
    sha256: str | None = None  # of the file's bytes; None when there is no file
    source: str | None = None

    def for_symbol(self, symbol: str) -> list[Correction]:
        return [c for c in self.rows if c.symbol == symbol]


def parse_corrections(text: str, source: str = "corrections.csv") -> tuple[Correction, ...]:
    """Validate corrections CSV text; raise ConfigError naming the line and field."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS:
        raise ConfigError(f"{source}: columns must be {list(COLUMNS)}, got {list(header)}")
    out = []
    for n, row in enumerate(reader, start=2):
        where = f"{source} line {n}"
        if None in row:
            raise ConfigError(f"{where}: more fields than the {len(COLUMNS)} columns of the header")
        values = {k: (row[k] or "").strip() for k in COLUMNS}
        if not values["symbol"]:
            raise ConfigError(f"{where}: symbol is empty")
        days = {}
        for key in ("start", "end"):
            try:
                days[key] = date.fromisoformat(values[key])
            except ValueError:
                raise ConfigError(f"{where}: {key} {values[key]!r} is not a YYYY-MM-DD date") from None
        if days["start"] > days["end"]:
            raise ConfigError(f"{where}: start {days['start']} is after end {days['end']}")
        if values["action"] not in ACTIONS:
            raise ConfigError(f"{where}: action {values['action']!r} is unknown; allowed {list(ACTIONS)}")
        if not values["reason"]:
            raise ConfigError(f"{where}: reason is empty; every correction must say why")
        out.append(Correction(values["symbol"], days["start"], days["end"], values["action"], values["reason"]))  # type: ignore[arg-type]
    return tuple(out)


def load_corrections(path: str | Path) -> Corrections:
    """The corrections file at ``path``; no file means no corrections."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Corrections()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err})") from None
    return Corrections(parse_corrections(text, str(path)), hashlib.sha256(raw).hexdigest(), str(path))
