"""Stages 2-5 checks and the quality report: pure functions over arrays.

:func:`assess` takes every symbol's parsed bars as one :class:`Panel` (rows
sorted by symbol then date) and decides, with numpy over the whole panel at
once, which rows and symbols go into the clean file.

Per-symbol checks exclude a symbol when they find a problem inside the check
window (the last ``quality.window_sessions`` sessions up to ``as_of``);
older findings are reported as warnings and the symbol stays.  Bars that are
insane, duplicated or off the exchange calendar are never written.  Gate
checks decide ``trade_allowed``: coverage of the universe on ``as_of``,
benchmark present and fresh, and the clean output itself (one row per
symbol and date, sane prices).  Every finding is a string naming the
symbol, the value and the threshold it broke.

History-wide checks (:func:`history_findings`) look at every bar whatever
its age and give a :class:`Finding` per symbol and date range, saying
whether raw and adjusted prices agree (a real move) or disagree (a vendor
defect); defects quarantine the bars they touch (they are not written),
unless ``config/corrections.csv`` accepts them.  ``cross_check_done`` says
whether the secondary really answered (a warning, or a gate with
``quality.cross_check_required``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from .. import files
from ..clock import SYSTEM
from ..config import Quality
from ..errors import DataError

from ..checks import WARNING, Check
from .panel import _days, _pct, _sane, Assessment, day, found_nothing, Panel, quality_check, quality_check_from_dict, quality_check_to_dict, scope_of
from .panel import disagreement, PRICE_EPS, session_days, SPLIT_EPS, SYMBOL_CHECKS, SymbolStatus  # noqa: F401  (re-exported)

from .history_checks import _agreement, Finding, HISTORY_CHECKS, history_findings  # noqa: F401  (re-exported)
from .quality_gates import _cross_check_detail, _cross_check_done, _gates, _threshold


def assess(
    panel: Panel,
    *,
    as_of: date,
    universe: list[str],
    benchmark: str,
    sessions: np.ndarray,
    q: Quality,
    failures: dict[str, list[tuple[str, str, str]]] | None = None,
    disagreements: dict[str, str] | None = None,
    lineage: dict[str, tuple[str, str]] | None = None,
    corrections=None,
    cross_check: dict[str, Any] | None = None,
) -> Assessment:
    """Run every check.

    ``sessions``: all exchange sessions as int64 days, sorted.  ``failures``:
    per symbol, (source, kind, message) of attempts that gave no bars.
    ``disagreements``: per symbol, a :func:`disagreement` reason.
    ``lineage``: per symbol, (source, raw_file) of the bars in the panel.
    ``corrections``: :class:`tradeops.data.corrections.Corrections` for the
    history findings.  ``cross_check``: ``{"secondary", "asked", "answered"}``
    when the policy asked the secondary for every symbol, else None.
    """
    failures, disagreements, lineage = failures or {}, disagreements or {}, lineage or {}
    n = len(panel.symbols)
    gid = panel.group
    d = panel.date
    asof = _days(as_of)
    pos_asof = int(np.searchsorted(sessions, asof))
    if pos_asof >= len(sessions) or sessions[pos_asof] != asof:
        raise DataError(f"as_of {as_of} is not an exchange session")
    ws = int(sessions[max(0, pos_asof - q.window_sessions + 1)])

    valid = d <= asof
    dropped_after = int((~valid).sum())
    same_group = np.zeros(len(d), dtype=bool)
    same_group[1:] = gid[1:] == gid[:-1]
    dup = np.zeros(len(d), dtype=bool)
    dup[1:] = same_group[1:] & (d[1:] == d[:-1])
    dup &= valid
    sane = _sane(panel)
    on_cal = sessions[np.minimum(np.searchsorted(sessions, d), len(sessions) - 1)] == d
    inw_raw = d >= ws
    insane, off = valid & ~sane, valid & ~on_cal
    usable = valid & ~dup & sane & on_cal

    def count(mask: np.ndarray, g: np.ndarray = gid) -> np.ndarray:
        return np.bincount(g[mask], minlength=n)

    dup_n = count(dup)
    insane_in, insane_out = count(insane & inw_raw), count(insane & ~inw_raw)
    off_in, off_out = count(off & inw_raw), count(off & ~inw_raw)

    # ---- the usable rows only (views when every row is usable): returns, splits, volume, gaps
    m = int(usable.sum())
    idx = slice(None) if m == len(d) else np.flatnonzero(usable)
    g, cd = gid[idx], d[idx]
    adj, split, vol = panel.adj_close[idx], panel.split[idx], panel.volume[idx]
    first = np.ones(m, dtype=bool)
    first[1:] = g[1:] != g[:-1]
    ret = np.zeros(m)
    ret[1:] = adj[1:] / adj[:-1] - 1.0
    ret[first] = 0.0
    split_day = np.isfinite(split) & (np.abs(split - 1.0) > SPLIT_EPS)
    jump = ~first & ~split_day & (np.abs(ret) > q.max_unexplained_jump)
    rough = ~first & split_day & (np.abs(ret) > q.max_split_adjusted_move)
    zero = vol == 0
    inw = cd >= ws
    findings, quarantine_used = history_findings(
        panel.symbols, g, cd, panel.open[idx], panel.high[idx], panel.low[idx], panel.close[idx], adj, panel.dividend[idx], split, q, corrections
    )
    quarantine = np.zeros(len(d), dtype=bool)
    quarantine[idx] = quarantine_used
    bars = np.bincount(g, minlength=n)
    bars_in = count(inw, g)
    jump_in, jump_out = count(jump & inw, g), count(jump & ~inw, g)
    rough_in, rough_out = count(rough & inw, g), count(rough & ~inw, g)
    zero_in, zero_out = count(zero & inw, g), count(zero & ~inw, g)

    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], m) - 1
    cstart = np.full(n, -1)
    cend = np.full(n, -1)
    cstart[g[starts]], cend[g[starts]] = starts, ends
    has = cstart >= 0
    first_day = np.where(has, cd[np.maximum(cstart, 0)] if m else 0, 0)
    last_day = np.where(has, cd[np.maximum(cend, 0)] if m else 0, 0)
    p_first = np.searchsorted(sessions, first_day)
    p_last = np.searchsorted(sessions, last_day)
    p_ws = int(np.searchsorted(sessions, ws))
    missing_in = np.maximum(0, p_last - np.maximum(p_first, p_ws) + 1) - bars_in
    missing_out = np.maximum(0, np.minimum(p_last, p_ws - 1) - p_first + 1) - (bars - bars_in)
    age = pos_asof - p_last

    def largest(k: int, mask: np.ndarray, inside: bool) -> str:
        """The largest adjusted move of symbol ``k`` where ``mask`` holds inside/outside the window, with its date."""
        s, e = cstart[k], cend[k] + 1
        sel = np.flatnonzero(mask[s:e] & (inw[s:e] == inside)) + s
        worst = sel[np.argmax(np.abs(ret[sel]))]
        extra = f" on a {split[worst]:g} split" if split_day[worst] else ""
        return f"largest {_pct(ret[worst])} on {day(cd[worst])}{extra}"

    def dates(mask: np.ndarray, lo: int, hi: int, inside: bool | None = None, usable_rows: bool = False) -> str:
        """First..last day in rows lo:hi where ``mask`` holds (and the row is inside/outside the window)."""
        days, window = (cd, inw) if usable_rows else (d, inw_raw)
        m = mask[lo:hi] if inside is None else mask[lo:hi] & (window[lo:hi] == inside)
        sel = days[lo:hi][m]
        return day(sel[0]) if len(sel) == 1 else f"{day(sel[0])}..{day(sel[-1])}"

    statuses: dict[str, SymbolStatus] = {}
    for k, sym in enumerate(panel.symbols):
        st = SymbolStatus(sym)
        st.source, st.raw_file = lineage.get(sym, (None, None))
        if has[k]:
            st.first_date, st.last_date, st.bars = day(first_day[k]), day(last_day[k]), int(bars[k])
        statuses[sym] = st
    for sym in universe:
        statuses.setdefault(sym, SymbolStatus(sym))
    group_of = {s: k for k, s in enumerate(panel.symbols)}

    def exclude(st: SymbolStatus, check: str, text: str) -> None:
        st.status = "excluded"
        st.checks_failed.append(check)
        st.reasons.append(f"{st.symbol}: {text}")

    for sym in universe:
        st = statuses[sym]
        k = group_of.get(sym)
        fails = failures.get(sym, [])
        said = "; ".join(f"{src}: {msg}" for src, _, msg in fails)
        if k is None or not has[k]:
            if any(kind == "vendor_error" for _, kind, _ in fails):
                exclude(st, "vendor_error", f"vendor error, no data: {said}")
            elif k is None:
                exclude(st, "no_data", f"no data: {said or 'not fetched'}")
            else:
                lo, hi = panel.offsets[k], panel.offsets[k + 1]
                exclude(
                    st,
                    "no_data",
                    f"no usable bars on or before {as_of}: {hi - lo} parsed, {int((~valid[lo:hi]).sum())} after as_of, "
                    f"{int(insane[lo:hi].sum())} insane, {int(off[lo:hi].sum())} off the calendar, {int(dup[lo:hi].sum())} duplicated",
                )
            continue
        for src, kind, msg in fails:
            st.warnings.append(f"{sym}: {src} failed ({kind}): {msg}")
        lo, hi = panel.offsets[k], panel.offsets[k + 1]
        if dup_n[k] > q.max_duplicate_dates:
            exclude(st, "duplicate_dates", f"{dup_n[k]} duplicate date(s) ({dates(dup, lo, hi)}); max_duplicate_dates {q.max_duplicate_dates}")
        if insane_in[k]:
            exclude(
                st,
                "ohlc_sanity",
                f"{insane_in[k]} bar(s) with non-positive/non-finite prices or low/high outside open/close ({dates(insane, lo, hi, True)}); max 0",
            )
        if insane_out[k]:
            st.warnings.append(f"{sym}: {insane_out[k]} insane bar(s) before the check window dropped ({dates(insane, lo, hi, False)})")
        if off_in[k]:
            exclude(st, "off_calendar", f"{off_in[k]} bar(s) on non-session dates ({dates(off, lo, hi, True)}); max 0")
        if off_out[k]:
            st.warnings.append(f"{sym}: {off_out[k]} bar(s) on non-session dates before the check window dropped ({dates(off, lo, hi, False)})")
        if missing_in[k] > q.max_missing_sessions:
            exclude(
                st,
                "missing_sessions",
                f"{missing_in[k]} session(s) without a bar in the last {q.window_sessions} sessions; max_missing_sessions {q.max_missing_sessions}",
            )
        if missing_out[k]:
            st.warnings.append(f"{sym}: {missing_out[k]} session(s) without a bar before the check window")
        max_age, key = (
            (q.benchmark_max_age_sessions, "benchmark_max_age_sessions") if sym == benchmark else (q.max_symbol_age_sessions, "max_symbol_age_sessions")
        )
        if age[k] > max_age:
            exclude(st, "stale", f"stale: last bar {day(last_day[k])} is {age[k]} session(s) before as_of {as_of}; {key} {max_age} (not forward-filled)")
        if zero_in[k] > q.max_zero_volume_sessions:
            exclude(
                st,
                "zero_volume",
                f"{zero_in[k]} zero-volume bar(s) in the window ({dates(zero, cstart[k], cend[k] + 1, True, usable_rows=True)}); max_zero_volume_sessions {q.max_zero_volume_sessions}",
            )
        if zero_out[k]:
            st.warnings.append(
                f"{sym}: {zero_out[k]} zero-volume bar(s) before the check window ({dates(zero, cstart[k], cend[k] + 1, False, usable_rows=True)})"
            )
        if jump_in[k]:
            exclude(
                st,
                "unexplained_jump",
                f"{jump_in[k]} adjusted move(s) with no split beyond max_unexplained_jump {q.max_unexplained_jump:.0%} ({largest(k, jump, True)})",
            )
        if jump_out[k]:
            st.warnings.append(
                f"{sym}: {jump_out[k]} adjusted move(s) with no split beyond {q.max_unexplained_jump:.0%} before the check window ({largest(k, jump, False)})"
            )
        if rough_in[k]:
            exclude(
                st,
                "split_not_smooth",
                f"{rough_in[k]} split(s) where the adjusted close moved beyond max_split_adjusted_move {q.max_split_adjusted_move:.0%} ({largest(k, rough, True)})",
            )
        if rough_out[k]:
            st.warnings.append(
                f"{sym}: {rough_out[k]} split(s) with an adjusted move beyond {q.max_split_adjusted_move:.0%} before the check window ({largest(k, rough, False)})"
            )
        if sym in disagreements:
            st.status = "excluded"
            st.checks_failed.append("source_disagreement")
            st.reasons.append(disagreements[sym])

    for f in findings:
        if f.verdict == "quarantined" and f.symbol in statuses:
            statuses[f.symbol].quarantined.append(f"{f.range}: {f.check}")

    wanted = set(universe)
    ok_group = np.array([s in wanted and statuses[s].status == "ok" for s in panel.symbols], dtype=bool)
    keep = usable & ok_group[gid] & ~quarantine

    checks = []
    for name, rule in SYMBOL_CHECKS.items():
        hit = [s for s in universe if name in statuses[s].checks_failed]
        detail = f"{len(hit)} symbol(s) excluded" if hit else "no symbol excluded"
        if name == "source_disagreement":
            detail = _cross_check_detail(cross_check, q, detail)
        checks.append(quality_check(name, "symbol", rule, _threshold(name, q), len(hit), not hit, detail, hit))
    checks.append(_cross_check_done(cross_check, q))
    for name, rule in HISTORY_CHECKS.items():
        mine = [f for f in findings if f.check == name]
        held = [f for f in mine if f.verdict == "quarantined"]
        syms = sorted({f.symbol for f in mine})
        bars = sum(f.bars for f in held)
        detail = (
            f"{len(mine)} finding(s) in {len(syms)} symbol(s); {len(held)} quarantined"
            + (f" ({bars} bar(s) left out of the clean data)" if held else "")
            + (f"; {sum(f.verdict == 'accepted' for f in mine)} accepted by corrections" if any(f.verdict == "accepted" for f in mine) else "")
            if mine
            else "none"
        )
        checks.append(quality_check(name, "history", rule, _threshold(name, q), len(mine), not held, detail, syms))
    checks += _gates(keep, gid, d, sane, statuses, universe, benchmark, as_of, pos_asof, sessions, last_day, group_of, q)
    return Assessment(keep=keep, statuses=statuses, checks=checks, dropped_after_as_of=dropped_after, findings=findings)


# --------------------------------------------------------------------------- the report


@dataclass
class QualityReport:
    """The quality report: every check, per-symbol status, pass/fail and ``trade_allowed``."""

    as_of: str
    run_id: str | None
    benchmark: str
    universe_size: int
    passed: bool
    trade_allowed: bool
    reasons: list[str]  # why trading is not allowed (empty when it is)
    checks: list[Check]
    symbols: dict[str, SymbolStatus]
    output: dict[str, Any]
    generated_at: str = field(default_factory=lambda: SYSTEM.now().isoformat(timespec="seconds"))
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def from_assessment(cls, a: Assessment, *, as_of: date, run_id: str | None, benchmark: str, universe_size: int, output: dict[str, Any]) -> "QualityReport":
        gates = [c for c in a.checks if scope_of(c) == "gate"]
        reasons = [f"data quality gate '{c.code}' failed: {c.message}" for c in gates if not c.passed]
        passed = not reasons
        return cls(
            str(as_of),
            run_id,
            benchmark,
            universe_size,
            passed,
            passed,
            reasons,
            a.checks,
            a.statuses,
            {**output, "bars_after_as_of_dropped": a.dropped_after_as_of},
            findings=list(a.findings),
        )

    @property
    def excluded(self) -> dict[str, list[str]]:
        return {s: st.reasons for s, st in self.symbols.items() if st.status == "excluded"}

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.code == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, checks=[]))
        d["checks"] = [quality_check_to_dict(c) for c in self.checks]
        d["excluded"] = self.excluded
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "QualityReport":
        try:
            d = dict(d)
            d.pop("excluded", None)
            d["checks"] = [quality_check_from_dict(c) for c in d["checks"]]
            d["symbols"] = {s: SymbolStatus(**v) for s, v in d["symbols"].items()}
            d["findings"] = [Finding(**f) for f in d.get("findings", [])]
            return cls(**d)
        except (KeyError, TypeError) as err:
            raise DataError(f"quality report is not valid: {type(err).__name__}: {err}") from None

    @classmethod
    def load(cls, path: str | Path) -> "QualityReport":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise DataError(f"quality report {path} does not exist; run `tradeops data build` first") from None
        except ValueError as err:
            raise DataError(f"quality report {path} is not JSON: {err}") from None

    def summary(self) -> str:
        """A few lines for the terminal."""
        ok = sum(1 for s in self.symbols.values() if s.status == "ok")
        lines = [
            f"data quality for {self.as_of}: {'PASS' if self.passed else 'FAIL'} "
            f"(trade allowed: {'yes' if self.trade_allowed else 'NO'}); {ok} of {self.universe_size} symbols clean"
        ]
        lines += [f"  gate {c.code}: {'ok' if c.passed else 'FAILED'}: {c.message}" for c in self.checks if scope_of(c) == "gate"]
        lines += [f"  warning {c.code}: {c.message}" for c in self.checks if c.severity == WARNING]
        lines += [f"  excluded {r}" for rs in self.excluded.values() for r in rs]
        held = [f for f in self.findings if f.verdict == "quarantined"]
        if held:
            lines.append(f"  quarantined {len(held)} range(s) in {len({f.symbol for f in held})} symbol(s) (history-wide findings; see quality.md)")
        if self.output.get("kept"):
            lines.append(f"  {self.output['kept']}")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        def cell(x: Any) -> str:
            text = f"{x:.4g}" if isinstance(x, float) else str(x)
            return text.replace("|", "\\|").replace("\n", " ")

        out = [
            f"# Data quality report: {self.as_of}",
            "",
            f"- Overall: **{'PASS' if self.passed else 'FAIL'}**",
            f"- Trade allowed: **{'yes' if self.trade_allowed else 'NO (no trade if failed)'}**",
            f"- Benchmark: {self.benchmark}; universe: {self.universe_size} symbols; run: {self.run_id or '-'}",
            f"- Clean file: `{self.output.get('path')}` ({self.output.get('rows', 0)} rows, {self.output.get('symbols', 0)} symbols)"
            + (f"; snapshot {self.output['snapshot']}" if self.output.get("snapshot") else ""),
            *([f"- **{self.output['kept']}**"] if self.output.get("kept") else []),
            "",
        ]
        if self.reasons:
            out += ["## Why trading is blocked", ""] + [f"- {cell(r)}" for r in self.reasons] + [""]
        out += ["## Checks", "", "| check | scope | threshold | observed | result | detail |", "| --- | --- | --- | --- | --- | --- |"]
        for c in self.checks:
            v = c.values
            failed = {"gate": "FAIL", "symbol": "excluded", "history": "quarantined", "warning": "WARNING"}[v["scope"]]
            out.append(
                f"| {c.code} | {v['scope']} | {cell(v['threshold'])} | {cell(v['observed'])} | {'pass' if found_nothing(c) else failed} | {cell(c.message)} |"
            )
        out += ["", "## Excluded symbols", ""]
        ex = self.excluded
        out += ["| symbol | reasons |", "| --- | --- |"] + [f"| {s} | {cell('; '.join(r))} |" for s, r in ex.items()] if ex else ["none"]
        warned = {s: st.warnings for s, st in self.symbols.items() if st.warnings}
        out += ["", "## Warnings (not excluding)", ""]
        out += [f"- {cell(w)}" for ws in warned.values() for w in ws] if warned else ["none"]
        out += ["", "## History findings (verdict per symbol and date range)", ""]
        out += (
            ["| symbol | dates | check | raw vs adjusted | verdict | detail |", "| --- | --- | --- | --- | --- | --- |"]
            + [
                f"| {f.symbol} | {f.range} | {f.check} | {_agreement(f)} "
                f"| {f.verdict} | {cell(f.detail + (f'; correction: {f.correction}' if f.correction else ''))} |"
                for f in self.findings
            ]
            if self.findings
            else ["none"]
        )
        out += ["", "## Symbols", "", "| symbol | status | source | first | last | bars |", "| --- | --- | --- | --- | --- | --- |"]
        for s, st in self.symbols.items():
            out.append(f"| {s} | {st.status} | {st.source or '-'} | {st.first_date or '-'} | {st.last_date or '-'} | {st.bars} |")
        return "\n".join(out) + "\n"

    def save(self, folder: Path) -> tuple[Path, Path]:
        """Write quality.json and quality.md atomically into ``folder``."""
        paths = folder / "quality.json", folder / "quality.md"
        for path, text in zip(paths, (json.dumps(self.to_dict(), indent=1, default=str), self.to_markdown())):
            files.write_atomic(path, text)
        return paths
