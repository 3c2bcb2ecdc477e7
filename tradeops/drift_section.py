"""The weekly report's drift section (the table, the chart of live, shadow and benchmark, eight weeks of compliance) and what the drift alerts read from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Sequence
from .drift import EROSION, Compliance, Drift, weekly_compliance, worsening
from .drift_shadow import COMPONENTS, LABELS, ZERO


@dataclass(frozen=True)
class Section:
    """What the weekly report shows of the drift (and what the drift alerts look at)."""

    as_of: date
    currency: str
    live: Decimal
    shadow: Decimal
    total: Decimal
    rows: tuple[tuple[str, str, Decimal, float], ...]  # key, label, money, share of live equity (cumulative)
    week: tuple[tuple[str, str, Decimal], ...]  # key, label, change over the report's week
    weeks: tuple[Compliance, ...]  # the last 8 weeks, oldest first
    not_executed: tuple[tuple[str, int, str, str], ...]
    breaches: tuple[str, ...]  # components past their policy threshold, in words
    eroding: tuple[str, ...]  # silent-erosion indicators worse each of the last ``erosion_weeks`` weeks
    chart_file: str = "drift.png"
    drift: Drift | None = field(default=None, repr=False, compare=False)  # for the chart

    @property
    def share(self) -> float:
        return float(self.total / self.live) if self.live else float("nan")


def _week_starts(days: Sequence[date]) -> list[date]:
    seen, out = set(), []
    for d in days:
        key = d.isocalendar()[:2]
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def section(drift: Drift, as_of: date, period_start: date, thresholds) -> Section | None:
    """The report's section as of ``as_of`` (None when the drift has no row by then); ``thresholds`` is the
    policy's ``drift`` block (``max_residual_share``, ``max_component_share``, ``erosion_weeks``)."""
    rows = [r for r in drift.rows if r.day <= as_of]
    if not rows:
        return None
    last = rows[-1]
    before = next((r for r in reversed(rows) if r.day < period_start), None)
    prev = before.components if before else dict.fromkeys(COMPONENTS, ZERO)
    starts = _week_starts([r.day for r in rows])
    weekly = weekly_compliance(
        Drift(tuple(rows), tuple(ln for ln in drift.lines if ln.session <= as_of), drift.currency), starts, thresholds.late_after_minutes
    )
    breaches = []
    for k in COMPONENTS:
        limit = thresholds.max_residual_share if k == "residual" else thresholds.max_component_share
        share = last.share(k)
        if share == share and abs(share) > limit:
            breaches.append(f"{LABELS[k]}: {last.components[k]:+,.2f} {drift.currency} = {share:+.3%} of equity (limit {limit:.3%})")
    eroding = tuple(name for name in EROSION if worsening([getattr(w, name) for w in weekly], thresholds.erosion_weeks))
    return Section(
        as_of=last.day,
        currency=drift.currency,
        live=last.live,
        shadow=last.shadow,
        total=last.total,
        rows=tuple((k, LABELS[k], last.components[k], last.share(k)) for k in COMPONENTS),
        week=tuple((k, LABELS[k], last.components[k] - prev[k]) for k in COMPONENTS),
        weeks=tuple(weekly[-8:]),
        not_executed=tuple(t for t in drift.not_executed_reasons() if any(ln.ticket_id == t[0] and ln.session <= as_of for ln in drift.lines)),
        breaches=tuple(breaches),
        eroding=eroding,
        drift=drift,
    )


def chart_png(drift: Drift, as_of: date, benchmark_symbol: str = "SPY") -> bytes:
    """Cumulative live, shadow and the benchmark (rebased to the live start), deterministic bytes."""
    import io

    import pandas as pd
    from matplotlib.figure import Figure

    rows = [r for r in drift.rows if r.day <= as_of]
    idx = pd.DatetimeIndex([pd.Timestamp(r.day) for r in rows])
    live = [float(r.live) for r in rows]
    fig = Figure(figsize=(9.0, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.plot(idx, live, color="#1f4e79", lw=1.8, label="Live (the account)")
    ax.plot(idx, [float(r.shadow) for r in rows], color="#27ae60", lw=1.4, label="Shadow (tickets as issued)")
    bench = [r.benchmark for r in rows]
    first = next((i for i, b in enumerate(bench) if b), None)
    if first is not None:
        ax.plot(
            idx,
            [float(b / bench[first]) * live[first] if b else float("nan") for b in bench],
            color="#9a9a9a",
            lw=1.2,
            ls="--",
            label=f"{benchmark_symbol} (rebased)",
        )
    ax.set_title(f"Live vs shadow to {as_of}", loc="left", fontsize=12, fontweight="bold")
    ax.set_ylabel(drift.currency)
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    ax.grid(True, color="#e5e5e5", lw=0.8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
