"""The universe-wide quality gates of :func:`tradeops.data.quality.assess` (coverage, the benchmark, the cross-check between sources) and the thresholds their messages name."""

from __future__ import annotations

from typing import Any
import numpy as np
from ..config import Quality
from ..checks import Check
from .panel import _days, quality_check


def _cross_check_share(cross_check: dict[str, Any] | None) -> float | None:
    if not cross_check or not cross_check.get("asked"):
        return None
    return cross_check["answered"] / cross_check["asked"]


def _cross_check_detail(cross_check: dict[str, Any] | None, q: Quality, excluded: str) -> str:
    if cross_check is None:
        return "not done: no secondary was asked to cross-check (data.cross_check off or no data.secondary)"
    share = _cross_check_share(cross_check)
    said = f"{cross_check['secondary']} answered for {cross_check['answered']} of {cross_check['asked']} symbols"
    if share is None or share < q.min_cross_check_share:
        return f"NOT DONE: {said} ({(share or 0):.0%} < min_cross_check_share {q.min_cross_check_share:.0%}); {excluded} among those compared"
    return f"{excluded} ({said})"


def _cross_check_done(cross_check: dict[str, Any] | None, q: Quality) -> Check:
    """Whether the cross-check was really done: a gate with quality.cross_check_required, else a warning."""
    share = _cross_check_share(cross_check)
    scope = "gate" if q.cross_check_required else "warning"
    rule = "the secondary answered for at least min_cross_check_share of the symbols the primary gave"
    if cross_check is None:
        ok = not q.cross_check_required
        return quality_check(
            "cross_check_done",
            scope,
            rule,
            q.min_cross_check_share,
            None,
            ok,
            "cross-check not configured (data.cross_check off or no data.secondary)" + ("; quality.cross_check_required is true" if not ok else ""),
        )
    said = f"{cross_check['secondary']} answered for {cross_check['answered']} of {cross_check['asked']} symbols"
    ok = share is not None and share >= q.min_cross_check_share
    return quality_check(
        "cross_check_done",
        scope,
        rule,
        q.min_cross_check_share,
        share,
        ok,
        f"cross-check done: {said}" if ok else f"cross-check NOT DONE: {said} ({(share or 0):.0%} < min_cross_check_share {q.min_cross_check_share:.0%})",
    )


def _threshold(name: str, q: Quality) -> Any:
    return {
        "duplicate_dates": q.max_duplicate_dates,
        "missing_sessions": q.max_missing_sessions,
        "stale": q.max_symbol_age_sessions,
        "zero_volume": q.max_zero_volume_sessions,
        "unexplained_jump": q.max_unexplained_jump,
        "split_not_smooth": q.max_split_adjusted_move,
        "source_disagreement": q.max_source_disagreement,
        "copy_forward": q.copy_forward_share,
        "identical_run": q.max_identical_bars,
        "factor_step": q.max_factor_step,
        "split_off_session": q.max_factor_step,
        "real_move": q.max_unexplained_jump,
    }.get(name, 0)


def _gates(keep, gid, d, sane, statuses, universe, benchmark, as_of, pos_asof, sessions, last_day, group_of, q) -> list[Check]:
    """The gate checks; the last two re-check the rows about to be written."""
    asof = _days(as_of)
    kept_g, kept_d = gid[keep], d[keep]
    on_asof = set(np.unique(kept_g[kept_d == asof]).tolist())
    covered = [s for s in universe if group_of.get(s) in on_asof]
    missing = [s for s in universe if s not in covered]
    coverage = len(covered) / len(universe) if universe else 0.0
    cov_ok = coverage >= q.min_coverage
    out = [
        quality_check(
            "coverage",
            "gate",
            "share of the universe with a clean bar on as_of >= min_coverage",
            q.min_coverage,
            coverage,
            cov_ok,
            f"coverage {coverage:.2%} ({len(covered)} of {len(universe)} symbols have a clean bar on {as_of}) "
            f"{'>=' if cov_ok else 'is below'} min_coverage {q.min_coverage:.2%}" + (f"; without one: {', '.join(missing)}" if missing else ""),
            missing,
        )
    ]
    b = statuses.get(benchmark)
    present = b is not None and b.status == "ok"
    out.append(
        quality_check(
            "benchmark_present",
            "gate",
            "the benchmark passed every per-symbol check",
            True,
            present,
            present,
            f"benchmark {benchmark} is present"
            if present
            else f"benchmark {benchmark} is not usable: {'; '.join(b.reasons) if b and b.reasons else 'not in the universe'}",
            [] if present else [benchmark],
        )
    )
    k = group_of.get(benchmark)
    if k is not None and b is not None and b.last_date:
        bage = int(pos_asof - np.searchsorted(sessions, last_day[k]))
        fresh = bage <= q.benchmark_max_age_sessions
        text = (
            f"benchmark {benchmark} last bar {b.last_date} is {bage} session(s) before as_of {as_of}; benchmark_max_age_sessions {q.benchmark_max_age_sessions}"
        )
    else:
        bage, fresh, text = None, False, f"benchmark {benchmark} has no bars on or before {as_of}"
    out.append(
        quality_check(
            "benchmark_fresh",
            "gate",
            "benchmark's last bar at most benchmark_max_age_sessions before as_of",
            q.benchmark_max_age_sessions,
            bage,
            fresh,
            text,
            [] if fresh else [benchmark],
        )
    )
    dups = int(((kept_g[1:] == kept_g[:-1]) & (kept_d[1:] == kept_d[:-1])).sum()) if len(kept_d) > 1 else 0
    out.append(
        quality_check(
            "clean_duplicate_dates",
            "gate",
            "rows sharing a (symbol, date) in the clean file <= max_duplicate_dates",
            q.max_duplicate_dates,
            dups,
            dups <= q.max_duplicate_dates,
            f"{dups} duplicate (symbol, date) row(s) in the clean file; max_duplicate_dates {q.max_duplicate_dates}",
        )
    )
    bad = int((keep & ~sane).sum())
    out.append(
        quality_check(
            "clean_prices_sane",
            "gate",
            "every clean row has positive finite prices and low <= open, close <= high",
            0,
            bad,
            bad == 0,
            f"{bad} clean row(s) with insane prices; max 0",
        )
    )
    return out
