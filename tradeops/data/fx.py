"""The account currency's FX rate: a daily GBPUSD series through the same providers and gates as bars.

A GBP account is sized in pounds (tradeops.risk) at the rate of the decision
session; this module gets that rate and says whether it may be used.

Convention (docs: the FX contract): ``rate`` = USD per 1 unit of the account
currency, the GBPUSD quote (``Decimal("1.2700")``);
``amount_gbp = amount_usd / rate``.  A USD account needs no rate: nothing
here runs for it.

* Providers: yfinance ``GBPUSD=X`` and Stooq ``gbpusd`` through the bar
  providers (:mod:`tradeops.data.providers`, same retries and limits), and
  :class:`DemoFxProvider`, a seeded offline generator of a realistic path
  (mean-reverting log rate, volatility regimes, fat tails; weekdays only,
  none on 25 December or 1 January), written in Stooq's CSV shape.  The
  AlphaVantage folder has no FX series: with it as primary the secondary is asked.
* :func:`parse_fx`: vendor bytes -> (date, close), strict like the bar parsers.
* :func:`fetch_fx` (stage 1): ask the primary, then the secondary; store the
  exact bytes under ``data/raw/<source>/GBPUSD/<as_of>_<run_id>.csv`` with a
  sidecar, like bars; the record goes to ``data/raw/_fetch_fx/<as_of>_<run_id>.json``.
  The whole window is asked each time (one series: no incremental chain).
* :func:`build_fx_clean` (stages 2-5): parse, cut at ``as_of``, check
  (:func:`assess_fx`), write ``data/clean/fx/quality.json`` and, when the
  checks pass, ``data/clean/fx/GBPUSD.parquet`` (date, close, source, raw_file).
* :func:`fx_gate`: the ``fx_rate`` gate: no valid rate, no trade.

Checks on the rate the ticket would use (the latest valid bar on or before
the decision session), limits from the policy's ``quality.fx_*`` keys:

=================  =========================================================================
``fx_fresh``       a valid rate dated the decision session (T-1 of the execution session,
                   per the exchange calendar), or at most ``fx_max_staleness_sessions``
                   exchange sessions older
``fx_valid``       the vendor's latest bar on or before the decision session is a positive
                   finite number (zero, negative or empty is not a rate)
``fx_plausible``   ``fx_min_rate`` <= rate <= ``fx_max_rate`` (a rate 10x off, 12.7 or
                   0.127 for 1.27, is a vendor's unit error)
``fx_jump``        |log(rate / the valid rate before it)| <= ``fx_max_jump``
``fx_duplicates``  no date twice with different closes
=================  =========================================================================
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..calendar import get_calendar
from ..checks import Check
from ..config import Instrument, Policy, Quality, Workspace
from ..errors import DataError
from ..files import write_atomic, write_json
from .fetch import Attempt, _kind
from .providers import Provider
from .raw import RawStore

from .fx_parse import FX_PLACES, FX_SOURCES, MAX_RATE, parse_fx, to_rate  # noqa: F401  (re-exported)
from .fx_demo import make_fx_provider
from .fx_demo import DemoFxProvider, demo_fx_csv, fx_days  # noqa: F401 (re-exported: the demo and the tests read them here)

GATE = "fx_rate"

# account currency -> (pair, yfinance ticker, Stooq symbol); the rate is USD per 1 unit of the currency
PAIRS = {"GBP": ("GBPUSD", "GBPUSD=X", "gbpusd")}


def pair_for(currency: str) -> str | None:
    """The FX series an account in ``currency`` needs (None for USD: no conversion)."""
    if currency == "USD":
        return None
    try:
        return PAIRS[currency][0]
    except KeyError:
        raise DataError(f"no FX series for account currency {currency!r}; supported: USD, {', '.join(PAIRS)}") from None


def fx_instrument(currency: str = "GBP") -> Instrument:
    """The FX series as an instrument, so the bar providers can ask for it by their vendor symbol."""
    pair, yahoo, stooq = PAIRS[currency]
    return Instrument(
        internal_symbol=pair,
        yahoo_symbol=yahoo,
        stooq_symbol=stooq,
        alphavantage_symbol=pair,
        etoro_search_name=pair,
        exchange="FX",
        currency="USD",
        instrument_type="FX",
        tradable_as_underlying=False,
        sector="FX",
        notes=f"USD per 1 {currency}",
    )


# --------------------------------------------------------------------------- demo generator


# --------------------------------------------------------------------------- fetch


@dataclass(frozen=True)
class FxFetch:
    """What the FX part of stage 1 did."""

    pair: str
    as_of: date
    run_id: str
    start: date
    attempts: tuple[Attempt, ...]

    def chosen(self) -> Attempt | None:
        return next((a for a in self.attempts if a.ok), None)

    def to_dict(self) -> dict:
        return {"pair": self.pair, "as_of": str(self.as_of), "run_id": self.run_id, "start": str(self.start), "attempts": [asdict(a) for a in self.attempts]}

    @classmethod
    def from_dict(cls, d: dict) -> "FxFetch":
        try:
            return cls(d["pair"], date.fromisoformat(d["as_of"]), d["run_id"], date.fromisoformat(d["start"]), tuple(Attempt(**a) for a in d["attempts"]))
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"FX fetch record is not valid: {type(err).__name__}: {err}") from None

    def save(self, path: Path) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "FxFetch":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise DataError(f"FX fetch record {path} does not exist") from None
        except ValueError as err:
            raise DataError(f"FX fetch record {path} is not JSON: {err}") from None


def fx_record_path(workspace: Workspace, as_of: date, run_id: str) -> Path:
    # not in data/raw/_fetch/: latest_fetch_record takes the newest file there as the bars' record
    return workspace.raw_dir / "_fetch_fx" / f"{as_of}_{run_id}.json"


def fetch_fx(workspace: Workspace, policy: Policy, as_of: date, run_id: str, providers: Sequence[Provider | None] | None = None) -> FxFetch:
    """Ask for the account currency's FX series up to ``as_of`` (primary, then secondary); store every answer raw.

    ``providers`` default to the FX providers of ``data.primary``/``data.secondary``
    (a source without FX is skipped).  The window is ``data.history_sessions``
    exchange sessions, plus a week of calendar days for FX days the exchange does not trade."""
    pair = pair_for(policy.account.account_currency)
    if pair is None:
        raise DataError("a USD account needs no FX rate: fetch_fx is for GBP accounts")
    cal = get_calendar(policy.schedule.exchange)
    if not cal.is_session(as_of):
        raise DataError(f"as_of {as_of} is not a {cal.name} session")
    if providers is None:
        names = [policy.data.primary] + ([policy.data.secondary] if policy.data.secondary else [])
        providers = [make_fx_provider(n, workspace, policy) for n in names]
        if all(p is None for p in providers):
            raise DataError(
                f"no FX provider among data.primary {policy.data.primary!r} / data.secondary {policy.data.secondary!r}; FX comes from {', '.join(FX_SOURCES)}"
            )
    record = fx_record_path(workspace, as_of, run_id)
    if record.exists():
        raise DataError(f"run {run_id} already fetched {pair} for {as_of} ({record}); use a new run id")
    inst = fx_instrument(policy.account.account_currency)
    start = cal.sessions_back(as_of, policy.data.history_sessions)[0] - timedelta(days=7)
    store = RawStore(workspace)
    attempts: list[Attempt] = []
    for k, provider in enumerate(p for p in providers if p is not None):
        role = "primary" if k == 0 else "fallback"
        raw = None
        try:
            payload = provider.download(inst, start, as_of)
            rows = None
            try:
                frame = parse_fx(provider.name, payload.data)
                rows = {"first": str(frame["date"].iloc[0].date()), "last": str(frame["date"].iloc[-1].date()), "rows": len(frame)}
            finally:
                raw = store.save(
                    provider.name,
                    pair,
                    inst.vendor_symbol(provider.name),
                    as_of,
                    run_id,
                    payload,
                    extra={"asked": {"start": str(start), "end": str(as_of)}, "base": None, **({"bars": rows} if rows else {})},
                )
            attempts.append(Attempt(pair, provider.name, role, raw.relpath, stored_bytes=raw.sidecar["bytes"]))
            break
        except DataError as err:
            attempts.append(
                Attempt(pair, provider.name, role, raw.relpath if raw else None, str(err), _kind(err), stored_bytes=raw.sidecar["bytes"] if raw else 0)
            )
    result = FxFetch(pair, as_of, run_id, start, tuple(attempts))
    result.save(record)
    return result


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class FxRate:
    """The rate a ticket uses: USD per 1 unit of the account currency, on ``date``."""

    pair: str
    rate: Decimal
    date: date
    source: str
    raw_file: str

    def to_dict(self) -> dict:
        return {"pair": self.pair, "rate": str(self.rate), "date": str(self.date), "source": self.source, "raw_file": self.raw_file}

    @classmethod
    def from_dict(cls, d: dict) -> "FxRate":
        rate = Decimal(str(d["rate"]))
        if not rate.is_finite() or rate <= 0:
            raise DataError(f"FX rate {d['rate']!r} is not a positive number")
        return cls(d["pair"], rate, date.fromisoformat(d["date"]), d.get("source", ""), d.get("raw_file", ""))


def fx_check(name: str, passed: bool, detail: str, threshold: Any = None) -> Check:
    """An FX check as the package's one check record: ``code`` its name, ``message`` its detail, the threshold in ``values``."""
    return Check.verdict("fx", name, passed, detail, threshold=threshold)


def fx_check_to_dict(c: Check) -> dict:
    """The check in the FX quality.json's form: ``{name, passed, detail, threshold}``."""
    return {"name": c.code, "passed": c.passed, "detail": c.message, "threshold": c.values.get("threshold")}


@dataclass(frozen=True)
class FxReport:
    """The FX checks of one decision session; ``rate`` is set only when every check passed."""

    pair: str
    as_of: date
    checks: tuple[Check, ...]
    rate: FxRate | None
    warnings: tuple[str, ...] = ()
    output: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks) and self.rate is not None

    @property
    def reasons(self) -> list[str]:
        out = [c.message for c in self.checks if not c.passed]
        if not out and self.rate is None:
            out = [f"no {self.pair} rate for {self.as_of}"]
        return out

    def to_dict(self) -> dict:
        return {
            "pair": self.pair,
            "as_of": str(self.as_of),
            "passed": self.passed,
            "reasons": self.reasons,
            "rate": self.rate.to_dict() if self.rate else None,
            "checks": [fx_check_to_dict(c) for c in self.checks],
            "warnings": list(self.warnings),
            "output": dict(self.output),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "FxReport":
        try:
            return cls(
                d["pair"],
                date.fromisoformat(d["as_of"]),
                tuple(fx_check(**c) for c in d["checks"]),
                FxRate.from_dict(d["rate"]) if d.get("rate") else None,
                tuple(d.get("warnings", ())),
                dict(d.get("output", {})),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"FX report is not valid: {type(err).__name__}: {err}") from None

    def save(self, path: Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "FxReport":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise DataError(f"FX report {path} does not exist") from None
        except ValueError as err:
            raise DataError(f"FX report {path} is not JSON: {err}") from None


def missing_report(pair: str, as_of: date, why: str) -> FxReport:
    """The report when no series could be read at all: the fresh check fails, naming why."""
    return FxReport(pair, as_of, (fx_check("fx_fresh", False, f"no {pair} rate for {as_of}: {why}", 0),), None)


def assess_fx(series: pd.DataFrame, pair: str, as_of: date, q: Quality, exchange: str = "XNYS", source: str = "", raw_file: str = "") -> FxReport:
    """Judge a parsed series (date, close) for the decision session ``as_of`` (bars after it are ignored)."""
    cal = get_calendar(exchange)
    s = series[series["date"] <= pd.Timestamp(as_of)].sort_values("date", kind="stable")
    checks: list[Check] = []
    warnings: list[str] = []
    dup = s[s.duplicated("date", keep=False)]
    clash = sorted({str(d.date()) for d, g in dup.groupby("date") if g["close"].nunique(dropna=False) > 1})
    checks.append(
        fx_check(
            "fx_duplicates",
            not clash,
            f"{pair} has {len(clash)} date(s) twice with different closes: {', '.join(clash[:5])}" if clash else f"{pair}: one close per date",
            0,
        )
    )
    s = s.drop_duplicates("date", keep="last")
    closes = s["close"].to_numpy(dtype="float64")
    good = np.isfinite(closes) & (closes > 0)
    bad = s[~good]
    if len(bad):
        warnings.append(
            f"{pair}: {len(bad)} bar(s) are not a rate (zero, negative or empty) and were left out: "
            + ", ".join(f"{d.date()} {c!r}" for d, c in zip(bad["date"][-5:], bad["close"][-5:]))
        )
    if len(s) == 0:
        return FxReport(
            pair, as_of, (*checks, fx_check("fx_fresh", False, f"no {pair} rate on or before {as_of}", q.fx_max_staleness_sessions)), None, tuple(warnings)
        )
    last_day, last_close = s["date"].iloc[-1].date(), float(closes[-1])
    checks.append(
        fx_check(
            "fx_valid",
            bool(good[-1]),
            f"{pair} rate on {last_day} is {last_close!r}: not a rate (zero, negative or empty)"
            if not good[-1]
            else f"{pair} latest bar {last_day} is {last_close!r}",
            "> 0",
        )
    )
    valid = s[good]
    if len(valid) == 0:
        checks.append(fx_check("fx_fresh", False, f"no valid {pair} rate on or before {as_of}", q.fx_max_staleness_sessions))
        return FxReport(pair, as_of, tuple(checks), None, tuple(warnings))
    used_day, used = valid["date"].iloc[-1].date(), float(valid["close"].iloc[-1])
    # sessions of the exchange after the rate's day, up to the decision session: 0 = a rate for T-1 itself
    age = len(cal.sessions(used_day + timedelta(days=1), as_of)) if used_day < as_of else 0
    fresh = age <= q.fx_max_staleness_sessions
    checks.append(
        fx_check(
            "fx_fresh",
            fresh,
            f"{pair} rate dated {used_day}, {age} session(s) before the decision session {as_of}"
            + (
                f" > quality.fx_max_staleness_sessions {q.fx_max_staleness_sessions}: no rate for {as_of}"
                if not fresh
                else f" (allowed {q.fx_max_staleness_sessions})"
            ),
            q.fx_max_staleness_sessions,
        )
    )
    plausible = q.fx_min_rate <= used <= q.fx_max_rate
    checks.append(
        fx_check(
            "fx_plausible",
            plausible,
            f"{pair} rate {used!r} on {used_day} is outside [quality.fx_min_rate {q.fx_min_rate}, quality.fx_max_rate {q.fx_max_rate}]: a unit error (10x off?)"
            if not plausible
            else f"{pair} rate {used!r} within [{q.fx_min_rate}, {q.fx_max_rate}]",
            [q.fx_min_rate, q.fx_max_rate],
        )
    )
    if len(valid) >= 2:
        prev_day, prev = valid["date"].iloc[-2].date(), float(valid["close"].iloc[-2])
        move = math.log(used / prev)
        ok = abs(move) <= q.fx_max_jump
        checks.append(
            fx_check(
                "fx_jump",
                ok,
                f"{pair} moved {move:+.2%} (log) from {prev!r} on {prev_day} to {used!r} on {used_day}: more than quality.fx_max_jump {q.fx_max_jump}"
                if not ok
                else f"{pair} moved {move:+.2%} (log) since {prev_day} (limit {q.fx_max_jump})",
                q.fx_max_jump,
            )
        )
    else:
        checks.append(fx_check("fx_jump", True, f"{pair}: no earlier rate to compare with", q.fx_max_jump))
    passed = all(c.passed for c in checks)
    rate = FxRate(pair, to_rate(used), used_day, source, raw_file) if passed else None
    return FxReport(pair, as_of, tuple(checks), rate, tuple(warnings))


def fx_clean_dir(workspace: Workspace) -> Path:
    return workspace.clean_dir / "fx"


def build_fx_clean(workspace: Workspace, policy: Policy, as_of: date, fetched: FxFetch | str | Path) -> FxReport:
    """Stages 2-5 for FX: parse the chosen raw answer, check it, write quality.json (always) and the
    clean series ``data/clean/fx/<pair>.parquet`` (only when the checks pass)."""
    record = fetched if isinstance(fetched, FxFetch) else FxFetch.load(fetched)
    folder = fx_clean_dir(workspace)
    chosen = record.chosen()
    if chosen is None:
        tried = "; ".join(f"{a.source}: {a.error}" for a in record.attempts) or "no provider was asked"
        report = missing_report(record.pair, as_of, f"no provider answered ({tried})")
    else:
        store = RawStore(workspace)
        try:
            series = parse_fx(chosen.source, store.read(chosen.raw_file))
        except DataError as err:
            report = missing_report(record.pair, as_of, f"the stored answer {chosen.raw_file} cannot be read: {err}")
        else:
            report = assess_fx(series, record.pair, as_of, policy.quality, policy.schedule.exchange, chosen.source, chosen.raw_file)
            if report.passed:
                clean = series[(series["date"] <= pd.Timestamp(as_of)) & np.isfinite(series["close"]) & (series["close"] > 0)]
                clean = clean.drop_duplicates("date", keep="last").sort_values("date").assign(source=chosen.source, raw_file=chosen.raw_file)
                path = folder / f"{record.pair}.parquet"
                buffer = io.BytesIO()
                clean.to_parquet(buffer, index=False)
                write_atomic(path, buffer.getvalue())
                report = FxReport(
                    report.pair,
                    report.as_of,
                    report.checks,
                    report.rate,
                    report.warnings,
                    {"path": path.relative_to(workspace.root).as_posix(), "rows": len(clean)},
                )
    report.save(folder / "quality.json")
    return report


def fx_gate(report: FxReport) -> dict:
    """The ``fx_rate`` gate: passes only with a rate every check accepted."""
    details = {"pair": report.pair, "rate": str(report.rate.rate) if report.rate else None, "date": str(report.rate.date) if report.rate else None}
    return {"name": GATE, "passed": report.passed, "reasons": report.reasons, "details": details}


def load_fx_rate(path: str | Path) -> FxRate | None:
    """The rate of a saved FX report (the run's fx.json); None when its checks failed."""
    report = FxReport.load(path)
    return report.rate if report.passed else None


def workspace_fx_rate(workspace: Workspace, as_of: date) -> FxRate:
    """The rate of the workspace's last FX build for ``as_of`` (data/clean/fx/quality.json), for tools
    that size outside a run (the assistant's what-if); DataError naming why when there is none."""
    path = fx_clean_dir(workspace) / "quality.json"
    report = FxReport.load(path)
    if report.as_of != as_of:
        raise DataError(f"{path} is the FX check of {report.as_of}, not of {as_of}: no rate for {as_of} (run the day's data stages first)")
    if not report.passed:
        raise DataError(f"no valid {report.pair} rate for {as_of}: " + "; ".join(report.reasons))
    return report.rate
