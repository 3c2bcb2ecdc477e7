"""History-wide checks: every bar whatever its date (splits, jumps, disagreements between
sources), the findings they make and the rows they quarantine, with ``config/corrections.csv``
applied.  Re-exported by :mod:`tradeops.data.quality`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np

from ..config import Quality

from .panel import _days, _pct, day, SPLIT_EPS


# --------------------------------------------------------------------------- history-wide checks

HISTORY_CHECKS = {
    "copy_forward": "a bar identical (open, high, low, close) to the previous one in at least copy_forward_share of the symbols on that date",
    "identical_run": "max_identical_bars or more consecutive bars with identical open, high, low, close",
    "dividend_at_or_above_price": "a cash dividend at or above the bar's close",
    "split_off_session": "a split whose raw price move lands on a neighbouring session instead",
    "factor_step": "the adjustment factor adj_close / close steps by more than max_factor_step with no split or dividend",
    "real_move": "a move beyond max_unexplained_jump that raw and adjusted prices agree on (kept)",
    "correction": "bars quarantined by config/corrections.csv",
}


@dataclass
class Finding:
    """A history-wide verdict on one symbol's bars over [start, end]."""

    symbol: str
    check: str
    start: str
    end: str
    raw_vs_adjusted: Literal["agree", "disagree"]  # agree: a real move (or both copied); disagree: a vendor defect
    verdict: Literal["quarantined", "accepted", "kept"]  # kept: a real move, nothing to do
    detail: str
    carry: bool = True  # a position may be held across the range (raw prices on both sides are on one basis)
    correction: str | None = None
    bars: int = 0  # usable bars in the range

    @property
    def range(self) -> str:
        return self.start if self.start == self.end else f"{self.start}..{self.end}"


def _agreement(f: Finding) -> str:
    if f.raw_vs_adjusted == "disagree":
        return "disagree (vendor defect)"
    return "agree (real move)" if f.check == "real_move" else "agree"


def _log_dev(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.abs(np.log(x / y))
    return np.where(np.isfinite(out), out, np.inf)


def history_findings(
    symbols: list[str],
    g: np.ndarray,
    cd: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    adj: np.ndarray,
    div: np.ndarray,
    split: np.ndarray,
    q: Quality,
    corrections=None,
) -> tuple[list[Finding], np.ndarray]:
    """History-wide checks over usable rows (sorted by group then date): the findings and the rows they quarantine.

    Each finding says whether the raw and the adjusted prices agree (a real
    move) or disagree (a vendor defect).  Defects quarantine the bars they
    touch unless ``corrections`` (:class:`tradeops.data.corrections.Corrections`)
    accepts them; a ``quarantine`` correction drops bars by itself.
    """
    m = len(g)
    quarantine = np.zeros(m, dtype=bool)
    findings: list[Finding] = []
    if m == 0:
        return findings, quarantine
    nf = np.zeros(m, dtype=bool)
    nf[1:] = g[1:] == g[:-1]
    prev = np.maximum(np.arange(m) - 1, 0)
    same = nf & (o == o[prev]) & (h == h[prev]) & (lo == lo[prev]) & (c == c[prev])
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = np.where(nf, c / c[prev], 1.0)  # raw close ratio to the previous bar
        ar = np.where(nf, adj / adj[prev], 1.0)
    fr = ar / rr  # step of the adjustment factor adj_close / close
    s = np.where(np.isfinite(split) & (np.abs(split - 1.0) > SPLIT_EPS), split, 1.0)
    d = np.nan_to_num(div)
    has_div = nf & (d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        div_f = np.where(has_div & (d < c[prev]), 1.0 / (1.0 - d / c[prev]), 1.0)
    expected = s * div_f
    ca = (s != 1.0) | has_div
    tol = np.log1p(q.max_factor_step)
    jump_tol = np.log1p(q.max_unexplained_jump)
    step = nf & ~ca & (_log_dev(fr, expected) > tol)
    used = np.zeros(m, dtype=bool)  # rows already explained by a finding

    def add(k0: int, k1: int, check: str, agree: bool, detail: str, carry: bool = True) -> None:
        findings.append(
            Finding(symbols[g[k0]], check, day(cd[k0]), day(cd[k1]), "agree" if agree else "disagree", "quarantined", detail, carry, bars=k1 - k0 + 1)
        )
        if check != "real_move":
            quarantine[k0 : k1 + 1] = True
        used[k0 : k1 + 1] = True

    # copy-forward: the same bar as the day before in most of the universe that day
    d0 = int(cd.min())
    total = np.bincount(cd[nf] - d0)  # rows with a previous bar, per day (counting beats sorting)
    copied = np.bincount(cd[same] - d0, minlength=len(total))
    share = np.divide(copied, total, out=np.zeros(len(total)), where=total > 0)
    cf_off = np.flatnonzero((share >= q.copy_forward_share) & (copied >= 3))
    cf_days = cf_off + d0
    cf = np.zeros(m, dtype=bool)
    if len(cf_days):
        flag = np.zeros(len(total), dtype=bool)
        flag[cf_off] = True
        cf = same & flag[cd - d0]
    for day_ in cf_days:
        j = int(day_ - d0)
        text = (
            f"{day(day_)} repeats the previous session's open/high/low/close in {copied[j]} of {total[j]} symbols "
            f"({share[j]:.0%} >= copy_forward_share {q.copy_forward_share:.0%}): a vendor copy-forward"
        )
        for r in np.flatnonzero(cf & (cd == day_)):
            add(int(r), int(r), "copy_forward", True, f"{symbols[g[r]]}: {text}; raw and adjusted both copied")
    # runs of identical bars (not already a market-wide copy-forward)
    run_rows = same & ~cf
    if run_rows.any():
        starts = np.flatnonzero(run_rows & ~np.r_[False, run_rows[:-1]])
        for r0 in starts:
            r1 = r0
            while r1 + 1 < m and run_rows[r1 + 1]:
                r1 += 1
            bars = r1 - r0 + 2
            if bars >= q.max_identical_bars:
                add(
                    int(r0),
                    int(r1),
                    "identical_run",
                    True,
                    f"{symbols[g[r0]]}: {bars} identical bars {day(cd[r0 - 1])}..{day(cd[r1])} at close {c[r0]:g} "
                    f"(>= max_identical_bars {q.max_identical_bars}); the repeats are quarantined",
                )
    # dividends at or above the price
    for r in np.flatnonzero(nf & (d > 0) & (d >= c)):
        agree = _log_dev(fr[r : r + 1], expected[r : r + 1])[0] <= tol
        add(
            int(r),
            int(r),
            "dividend_at_or_above_price",
            bool(agree),
            f"{symbols[g[r]]}: dividend {d[r]:g} on {day(cd[r])} >= close {c[r]:g} (a spin-off or a decimal slip recorded as cash); "
            f"raw close {_pct(rr[r] - 1)}, adjusted {_pct(ar[r] - 1)}",
            carry=False,
        )
    # splits whose raw move lands on a neighbouring session
    for r in np.flatnonzero(nf & (s != 1.0)):
        if _log_dev(rr[r : r + 1] * s[r], np.ones(1))[0] <= jump_tol * 0.5:
            continue  # the raw close moved by the ratio on the split day itself
        for k in (r - 1, r + 1):
            if 0 < k < m and nf[k] and g[k] == g[r] and not ca[k] and abs(np.log(rr[k] * s[r])) <= tol:
                k0, k1 = min(r, k), max(r, k)
                add(
                    k0,
                    k1,
                    "split_off_session",
                    False,
                    f"{symbols[g[r]]}: split {s[r]:g} recorded on {day(cd[r])} but the raw close moves by 1/{s[r]:g} on {day(cd[k])} "
                    f"(raw {_pct(rr[k] - 1)} there, {_pct(rr[r] - 1)} on the split day)",
                    carry=False,
                )
                break
    # adjustment-factor steps with no corporate action
    for r in np.flatnonzero(step & ~used):
        sym = symbols[g[r]]
        head = (
            f"{sym}: adjustment factor x{fr[r]:.3g} on {day(cd[r])} with no split or dividend "
            f"(raw close {_pct(rr[r] - 1)}, adjusted {_pct(ar[r] - 1)}; > max_factor_step {q.max_factor_step:.0%})"
        )
        end = None
        for k in range(r + 1, min(r + 6, m)):
            if g[k] != g[r]:
                break
            if not ca[k] and abs(np.log(rr[k] * fr[r])) <= tol and abs(np.log(fr[k])) <= tol:
                end, text = (
                    k,
                    (
                        f"; the raw close moves by 1/{fr[r]:.3g} on {day(cd[k])} (raw {_pct(rr[k] - 1)}) with no split recorded: "
                        f"a split whose adjustment lands {k - r} session(s) early"
                    ),
                )
                break
            if not ca[k] and abs(np.log(fr[k] * fr[r])) <= tol:
                end, text = k - 1, f"; the factor steps back on {day(cd[k])}: a temporary vendor defect"
                break
        if end is not None:
            add(int(r), int(end), "factor_step", False, head + text, carry=False)
        else:
            first = int(np.searchsorted(g, g[r]))
            add(
                first,
                int(r) - 1 if r > first else first,
                "factor_step",
                False,
                head + "; never reversed: the adjusted history before it is on another basis and is quarantined",
                carry=False,
            )
    # moves beyond max_unexplained_jump that raw and adjusted agree on: real moves, kept
    agree_move = nf & ~ca & ~used & (_log_dev(ar, np.ones(m)) > jump_tol) & (_log_dev(fr, expected) <= tol)
    for r in np.flatnonzero(agree_move):
        findings.append(
            Finding(
                symbols[g[r]],
                "real_move",
                day(cd[r]),
                day(cd[r]),
                "agree",
                "kept",
                f"{symbols[g[r]]}: raw close {_pct(rr[r] - 1)} and adjusted {_pct(ar[r] - 1)} on {day(cd[r])} agree: a real move, kept",
            )
        )

    if corrections is not None and corrections.rows:
        findings = _apply_corrections(findings, corrections, symbols, g, cd, quarantine)
    findings.sort(key=lambda f: (f.symbol, f.start, f.check))
    return findings, quarantine


def _apply_corrections(findings, corrections, symbols, g, cd, quarantine) -> list[Finding]:
    index = {s: k for k, s in enumerate(symbols)}
    for f in findings:
        if f.verdict != "quarantined":
            continue
        a, b = date.fromisoformat(f.start), date.fromisoformat(f.end)
        for corr in corrections.for_symbol(f.symbol):
            if corr.action == "accept" and corr.covers(f.symbol, a, b):
                f.verdict, f.correction = "accepted", corr.describe()
                k = index[f.symbol]
                quarantine[(g == k) & (cd >= _days(a)) & (cd <= _days(b))] = False
                break
    for corr in corrections.rows:
        if corr.action != "quarantine" or corr.symbol not in index:
            continue
        rows = (g == index[corr.symbol]) & (cd >= _days(corr.start)) & (cd <= _days(corr.end))
        if rows.any():
            quarantine[rows] = True
            sel = np.flatnonzero(rows)
            findings.append(
                Finding(
                    corr.symbol,
                    "correction",
                    day(cd[sel[0]]),
                    day(cd[sel[-1]]),
                    "disagree",
                    "quarantined",
                    f"{corr.symbol}: {len(sel)} bar(s) quarantined by {corrections.source or 'corrections.csv'}: {corr.reason}",
                    carry=False,
                    correction=corr.describe(),
                    bars=len(sel),
                )
            )
    return findings
