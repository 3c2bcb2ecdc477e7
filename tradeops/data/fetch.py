"""Stage 1: ask the providers for every universe symbol and keep what they said.

For each symbol the primary provider is asked; when it fails (no answer
after retries, or an answer that does not parse: a vendor error payload,
an HTML page, an empty body) the secondary is asked.  With
``data.cross_check`` the secondary is also asked when the primary answered,
so the build can compare their closes.  A symbol named in
``data.local_files`` is read from that file instead.  Every answer is
stored in the raw store (even error payloads); every attempt is recorded in
a :class:`FetchResult`, saved as JSON so the next stage can run in another
process.

Faults are told apart (:mod:`tradeops.errors`):

* an unknown or delisted symbol is a finding for that symbol; the provider
  keeps being asked for the others;
* a rate or daily limit stops asking that provider at once (its breaker
  opens; the secondary takes over as fallback);
* a missing API key is one finding naming the environment variable, and the
  provider is not asked again in this fetch (every answer would be the same);
* a provider unavailable three times in a row (after its own retries) is not
  asked again in this fetch.

Incremental: unless ``full`` is asked for, a provider that takes a date
range is asked only for the sessions after the stored history plus
``data.overlap_sessions`` stored ones; the new piece's sidecar names the
piece it extends.  A stored bar the vendor now reports differently is a
``revision`` finding; a re-adjusted history (a new dividend or split) is
fetched whole again.  Whole-file providers (AlphaVantage folder, local
files) store a file again only when its bytes changed.  Bars dated after
the day they were received are ``future_bar`` findings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Literal, Sequence

from .. import files
from ..calendar import get_calendar
from ..config import Policy, Universe, Workspace
from ..errors import DataError, MissingApiKey, ProviderUnavailable, RateLimited, SymbolNotFound, VendorError
from .incremental import compare_overlap
from .parsers import parse_bars
from .providers import Payload, Provider, local_file_provider, make_provider
from .raw import RawFile, RawStore

Role = Literal["primary", "fallback", "check"]
TRIP_AFTER = 3  # consecutive ProviderUnavailable answers before a provider is skipped
MAX_CHAIN = 60  # pieces per stored history; a longer chain is fetched whole again (keeps the build fast)
Kind = Literal["ok", "vendor_error", "unavailable", "data_error", "skipped", "not_found", "missing_key", "rate_limited"]
FindingKind = Literal["unknown_symbol", "missing_key", "rate_limited", "revision", "readjusted", "future_bar"]


@dataclass(frozen=True)
class Finding:
    """Something a fetch learnt about a symbol (or a provider) that a person should see."""

    symbol: str
    source: str
    kind: FindingKind
    message: str


@dataclass(frozen=True)
class Attempt:
    """One question to one provider about one symbol."""

    symbol: str
    source: str
    role: Role
    raw_file: str | None  # workspace-relative path of the stored answer; None when nothing came back
    error: str | None = None  # None: the answer parsed as bars
    kind: Kind = "ok"
    stored_bytes: int = 0  # bytes this attempt added to the raw store (0: nothing new, e.g. an unchanged file)
    incremental: bool = False  # the answer extends a stored history (sidecar key ``base``)

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
    findings: tuple[Finding, ...] = ()
    full: bool = False  # the whole history was asked for (``--full``)

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

    def findings_for(self, symbol: str) -> list[Finding]:
        return [f for f in self.findings if f.symbol == symbol]

    @property
    def stored_bytes(self) -> int:
        return sum(a.stored_bytes for a in self.attempts)

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
                findings=tuple(Finding(**f) for f in d.get("findings", ())),
                full=bool(d.get("full", False)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"fetch record is not valid: {type(err).__name__}: {err}") from None

    def save(self, path: Path) -> Path:
        return files.write_atomic(path, json.dumps(self.to_dict(), indent=1))

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
    if isinstance(err, SymbolNotFound):
        return "not_found"
    if isinstance(err, MissingApiKey):
        return "missing_key"
    if isinstance(err, RateLimited):
        return "rate_limited"
    if isinstance(err, VendorError):
        return "vendor_error"
    if isinstance(err, ProviderUnavailable):
        return "unavailable"
    return "data_error"


def _day_of(received_at: str, tz) -> date | None:
    try:
        return datetime.fromisoformat(received_at).astimezone(tz).date()
    except (TypeError, ValueError):
        return None


def _bars_info(bars) -> dict:
    days = bars.column("date")
    return {"first": str(days[0].as_py()), "last": str(days[-1].as_py()), "rows": bars.num_rows}


def history_sessions(policy: Policy) -> int:
    """Sessions the daily fetch asks for: ``data.history_sessions``, or more when the signal
    needs more: qlib_lgbm trains live on the backtest's window
    (:func:`tradeops.research.model.history_needed`)."""
    if policy.strategy.signal == "qlib_lgbm":
        from ..research.model import history_needed

        return max(policy.data.history_sessions, history_needed(policy))
    return policy.data.history_sessions


def fetch(
    workspace: Workspace, policy: Policy, universe: Universe, as_of: date, run_id: str, providers: Sequence[Provider] | None = None, full: bool = False
) -> FetchResult:
    """Stage 1: fetch :func:`history_sessions` sessions up to ``as_of`` for the universe.

    ``providers`` is ``[primary]`` or ``[primary, secondary]``; by default
    they are built from ``policy.data.primary/secondary``.  ``full`` asks
    every provider for the whole window even when a history is stored.  The
    result is also saved to ``data/raw/_fetch/<as_of>_<run_id>.json``.
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
    start = cal.sessions_back(as_of, history_sessions(policy))[0]
    overlap = policy.data.overlap_sessions
    down: dict[str, int] = {}  # consecutive ProviderUnavailable per source
    tripped: dict[str, str] = {}  # source -> why it is not asked again in this fetch
    findings: list[Finding] = []

    def base_for(provider: Provider, symbol: str) -> tuple[RawFile, object] | None:
        """The stored history an incremental answer may extend, with its bars; None: ask for the whole window."""
        if full or not getattr(provider, "incremental", True):
            return None
        head = store.latest(provider.name, symbol, as_of)
        if head is None:
            return None
        pieces = store.chain(head.relpath)
        first, last = date.fromisoformat(pieces[0].sidecar["bars"]["first"]), date.fromisoformat(head.sidecar["bars"]["last"])
        if len(pieces) >= MAX_CHAIN or first > start or last < start or not cal.is_session(last):
            return None  # too long a chain, a longer window than stored, or a gap: fetch it whole
        try:
            return head, store.history(provider.name, head.relpath, since=cal.sessions_back(last, overlap)[0])
        except DataError:
            return None

    def save(provider, symbol, inst, payload: Payload, extra: dict, part: str | None = None) -> RawFile:
        return store.save(provider.name, symbol, inst.vendor_symbol(provider.name), as_of, run_id, payload, extra=extra, part=part)

    def ask(provider: Provider, symbol: str, role: Role) -> Attempt:
        if provider.name in tripped:
            return Attempt(symbol, provider.name, role, None, f"{provider.name} skipped: {tripped[provider.name]}", "skipped")
        if down.get(provider.name, 0) >= TRIP_AFTER:
            return Attempt(symbol, provider.name, role, None, f"{provider.name} skipped: unavailable {TRIP_AFTER} times in a row", "skipped")
        inst = universe[symbol]
        raw, stored = None, 0
        try:
            based = base_for(provider, symbol)
            ask_from = start if based is None else cal.sessions_back(date.fromisoformat(based[0].sidecar["bars"]["last"]), overlap)[0]
            payload = provider.download(inst, ask_from, as_of)
            down[provider.name] = 0
            asked = {"start": str(ask_from), "end": str(as_of)}
            try:
                bars = parse_bars(provider.name, payload.data)
            except DataError:
                raw = save(provider, symbol, inst, payload, {"asked": asked, "base": None})
                stored += raw.sidecar["bytes"]
                raise
            if based is not None:
                head, history = based
                ov = compare_overlap(history, bars)
                for rev in ov.revisions:
                    findings.append(
                        Finding(
                            symbol, provider.name, "revision", f"{symbol}: {provider.name} revised a stored bar ({rev.describe()}; stored in {head.relpath})"
                        )
                    )
                if not ov.fits:
                    why = (
                        "re-adjusted its history (a new dividend or split)"
                        if ov.readjusted
                        else f"shares no session with the stored history up to {head.sidecar['bars']['last']}"
                    )
                    part = save(provider, symbol, inst, payload, {"asked": asked, "base": None, "bars": _bars_info(bars), "superseded": True}, part="overlap")
                    stored += part.sidecar["bytes"]
                    if ov.readjusted:
                        findings.append(Finding(symbol, provider.name, "readjusted", f"{symbol}: {provider.name} {why}; fetched the whole window again"))
                    based = None
                    payload = provider.download(inst, start, as_of)
                    asked = {"start": str(start), "end": str(as_of)}
                    bars = parse_bars(provider.name, payload.data)
            extra = {"asked": asked, "base": based[0].relpath if based else None, "bars": _bars_info(bars)}
            if based is None and not getattr(provider, "incremental", True):
                prev = store.latest(provider.name, symbol, as_of)
                if prev is not None and prev.sidecar.get("sha256") == hashlib.sha256(payload.data).hexdigest():
                    raw = prev  # the same file as last time: nothing new to store
            if raw is None:
                raw = save(provider, symbol, inst, payload, extra)
                stored += raw.sidecar["bytes"]
            received = _day_of(payload.received_at, cal.tz)
            if received is not None:
                days = bars.column("date").to_pylist()
                ahead = [d for d in days if d > received]
                if ahead:
                    findings.append(
                        Finding(
                            symbol,
                            provider.name,
                            "future_bar",
                            f"{symbol}: {provider.name} sent {len(ahead)} bar(s) dated after the day they were received "
                            f"({received}): {', '.join(map(str, ahead[:5]))}{' ...' if len(ahead) > 5 else ''}",
                        )
                    )
        except DataError as err:
            kind = _kind(err)
            if kind == "unavailable":
                down[provider.name] = down.get(provider.name, 0) + 1
            elif kind == "rate_limited":
                tripped[provider.name] = f"rate limited ({err})"
                findings.append(
                    Finding(
                        symbol,
                        provider.name,
                        "rate_limited",
                        f"{provider.name} refused for a rate or daily limit on {symbol}; not asked again in this fetch: {err}",
                    )
                )
            elif kind == "missing_key":
                tripped[provider.name] = f"needs an API key ({err})"
                findings.append(Finding(symbol, provider.name, "missing_key", str(err)))
            elif kind == "not_found":
                down[provider.name] = 0  # a permanent answer: the provider is up
                findings.append(Finding(symbol, provider.name, "unknown_symbol", f"{symbol}: {err}"))
            return Attempt(symbol, provider.name, role, raw.relpath if raw else None, str(err), kind, stored_bytes=stored)
        return Attempt(symbol, provider.name, role, raw.relpath, stored_bytes=stored, incremental=based is not None)

    attempts: list[Attempt] = []
    for symbol in universe.symbols:
        local = local_file_provider(symbol, workspace, policy)
        if local is not None:
            attempts.append(ask(local, symbol, "primary"))
            continue
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
        findings=tuple(findings),
        full=full,
    )
    result.save(record)
    return result
