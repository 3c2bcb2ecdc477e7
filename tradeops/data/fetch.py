"""Stage 1: ask the providers for every universe symbol and keep what they said.

For each symbol the primary provider is asked; when it fails (no answer
after retries, or an answer that does not parse: a vendor error payload,
an HTML page, an empty body) the secondary is asked.  With
``data.cross_check`` the secondary is also asked when the primary answered,
so the build can compare their closes.  Every answer is stored in the raw
store (even error payloads); every attempt is recorded in a
:class:`FetchResult`, saved as JSON so the next stage can run in another
process.  A provider that is unavailable three times in a row is not asked
again in this fetch.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal, Sequence

from ..calendar import get_calendar
from ..config import Policy, Universe, Workspace
from ..errors import DataError, ProviderUnavailable, VendorError
from .parsers import parse_bars
from .providers import Provider, make_provider
from .raw import RawStore

Role = Literal["primary", "fallback", "check"]
TRIP_AFTER = 3  # consecutive ProviderUnavailable answers before a provider is skipped


@dataclass(frozen=True)
class Attempt:
    """One question to one provider about one symbol."""

    symbol: str
    source: str
    role: Role
    raw_file: str | None  # workspace-relative path of the stored answer; None when nothing came back
    error: str | None = None  # None: the answer parsed as bars
    kind: Literal["ok", "vendor_error", "unavailable", "data_error", "skipped"] = "ok"

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class FetchResult:
    """What stage 1 did: the decision session, the run, and every attempt."""

    as_of: date
    run_id: str
    start: date
    primary: str
    secondary: str | None
    symbols: tuple[str, ...]
    attempts: tuple[Attempt, ...]

    @cached_property
    def _by_symbol(self) -> dict[str, list[Attempt]]:
        out: dict[str, list[Attempt]] = {}
        for a in self.attempts:
            out.setdefault(a.symbol, []).append(a)
        return out

    def for_symbol(self, symbol: str) -> list[Attempt]:
        return list(self._by_symbol.get(symbol, []))

    def chosen(self, symbol: str) -> Attempt | None:
        """The attempt whose bars the build uses: the primary's, else the fallback's."""
        for a in self.for_symbol(symbol):
            if a.ok and a.role in ("primary", "fallback"):
                return a
        return None

    def check(self, symbol: str) -> Attempt | None:
        """The secondary's cross-check answer, when it parsed."""
        for a in self.for_symbol(symbol):
            if a.ok and a.role == "check":
                return a
        return None

    def failures(self, symbol: str) -> list[Attempt]:
        return [a for a in self.for_symbol(symbol) if not a.ok]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["as_of"], d["start"] = str(self.as_of), str(self.start)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FetchResult":
        try:
            return cls(
                as_of=date.fromisoformat(d["as_of"]),
                run_id=d["run_id"],
                start=date.fromisoformat(d["start"]),
                primary=d["primary"],
                secondary=d["secondary"],
                symbols=tuple(d["symbols"]),
                attempts=tuple(Attempt(**a) for a in d["attempts"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"fetch record is not valid: {type(err).__name__}: {err}") from None

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FetchResult":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise DataError(f"fetch record {path} does not exist") from None
        except ValueError as err:
            raise DataError(f"fetch record {path} is not JSON: {err}") from None


def fetch_record_path(workspace: Workspace, as_of: date, run_id: str) -> Path:
    return workspace.raw_dir / "_fetch" / f"{as_of}_{run_id}.json"


def latest_fetch_record(workspace: Workspace, as_of: date | None = None) -> Path:
    """The newest saved fetch record (for ``as_of`` when given)."""
    folder = workspace.raw_dir / "_fetch"
    pattern = f"{as_of}_*.json" if as_of else "*.json"
    found = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not found:
        raise DataError(f"no fetch record {pattern} in {folder}; run `tradeops data fetch` first")
    return found[-1]


def _kind(err: DataError) -> str:
    if isinstance(err, VendorError):
        return "vendor_error"
    if isinstance(err, ProviderUnavailable):
        return "unavailable"
    return "data_error"


def fetch(
    workspace: Workspace,
    policy: Policy,
    universe: Universe,
    as_of: date,
    run_id: str,
    providers: Sequence[Provider] | None = None,
) -> FetchResult:
    """Stage 1: fetch ``policy.data.history_sessions`` sessions up to ``as_of`` for the universe.

    ``providers`` is ``[primary]`` or ``[primary, secondary]``; by default
    they are built from ``policy.data.primary/secondary``.  The result is
    also saved to ``data/raw/_fetch/<as_of>_<run_id>.json``.
    """
    cal = get_calendar(policy.schedule.exchange)
    if not cal.is_session(as_of):
        raise DataError(f"as_of {as_of} is not a {cal.name} session")
    if providers is None:
        names = [policy.data.primary] + ([policy.data.secondary] if policy.data.secondary else [])
        providers = [make_provider(n, workspace, policy) for n in names]
    if not 1 <= len(providers) <= 2:
        raise DataError(f"fetch takes a primary and at most one secondary provider, got {len(providers)}")
    primary, secondary = providers[0], (providers[1] if len(providers) > 1 else None)
    store = RawStore(workspace)
    store.path_for(primary.name, universe.benchmark, as_of, run_id)  # refuses a run id unfit for file names
    record = fetch_record_path(workspace, as_of, run_id)
    if record.exists():
        raise DataError(f"run {run_id} already fetched {as_of} ({record}); use a new run id")
    start = cal.sessions_back(as_of, policy.data.history_sessions)[0]
    down: dict[str, int] = {}  # consecutive ProviderUnavailable per source

    def ask(provider: Provider, symbol: str, role: Role) -> Attempt:
        if down.get(provider.name, 0) >= TRIP_AFTER:
            return Attempt(symbol, provider.name, role, None, f"{provider.name} skipped: unavailable {TRIP_AFTER} times in a row", "skipped")
        inst = universe[symbol]
        raw = None
        try:
            payload = provider.download(inst, start, as_of)
            down[provider.name] = 0
            raw = store.save(provider.name, symbol, inst.vendor_symbol(provider.name), as_of, run_id, payload)
            parse_bars(provider.name, payload.data)
        except DataError as err:
            if isinstance(err, ProviderUnavailable):
                down[provider.name] = down.get(provider.name, 0) + 1
            return Attempt(symbol, provider.name, role, raw.relpath if raw else None, str(err), _kind(err))
        return Attempt(symbol, provider.name, role, raw.relpath)

    attempts: list[Attempt] = []
    for symbol in universe.symbols:
        first = ask(primary, symbol, "primary")
        attempts.append(first)
        if secondary is not None and (not first.ok or policy.data.cross_check):
            attempts.append(ask(secondary, symbol, "check" if first.ok else "fallback"))
    result = FetchResult(
        as_of=as_of,
        run_id=run_id,
        start=start,
        primary=primary.name,
        secondary=secondary.name if secondary else None,
        symbols=tuple(universe.symbols),
        attempts=tuple(attempts),
    )
    result.save(record)
    return result
