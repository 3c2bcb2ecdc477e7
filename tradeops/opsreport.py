"""`tradeops ops-report`: the Phase A dry-run summary over the runs so far.

Read from the run archive (manifests, gate results, quality reports) and the
ledger (confirmation times): time to ticket, share of symbols passing data
quality, blocked trades and why, confirmation latency, reconciliation drift,
and whether the exit criterion holds: 4 consecutive runs with data quality
pass, reconciliation pass, ticket generated, confirmations ingested and
reports produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from statistics import median

from .config import Workspace
from .runner import Manifest

REQUIRED_STREAK = 4


@dataclass(frozen=True)
class RunRow:
    session: str
    run_id: str
    ticket: str
    kind: str
    seconds_to_ticket: float
    quality_pass_share: float | None
    data_quality: bool
    reconciliation: bool
    confirmed: bool
    reports: bool
    blocked: tuple[str, ...]
    cash_drift: Decimal | None
    confirmation_minutes: float | None

    @property
    def meets_exit_criterion(self) -> bool:
        return self.data_quality and self.reconciliation and bool(self.ticket) and self.confirmed and self.reports


def _gate(m: Manifest, name: str) -> dict | None:
    return next((g for g in m.gates if g["name"] == name), None)


def _cash_drift(gate: dict | None) -> Decimal | None:
    if not gate:
        return None
    diffs = [Decimal(d["difference"]) for d in gate.get("details", {}).get("differences", []) if d.get("kind") == "cash" and d.get("difference")]
    return max((abs(d) for d in diffs), default=Decimal(0))


def _quality_share(run_dir) -> float | None:
    path = run_dir / "quality.json"
    if not path.exists():
        return None
    symbols = json.loads(path.read_text()).get("symbols", {})
    return sum(1 for s in symbols.values() if s.get("status") == "ok") / len(symbols) if symbols else None


def _confirmations(ws: Workspace, ticket_ids: list[str]) -> dict[str, tuple[bool, float | None]]:
    """Per ticket: every line answered?, minutes from the ticket's recording to its last answer."""
    from .errors import LedgerError
    from .ledger import api
    from .ledger.db import make_engine, transaction

    out = {}
    with transaction(make_engine(ws.db_url())) as s:
        for tid in ticket_ids:
            try:
                ticket = api.get_ticket(s, tid)
            except LedgerError:
                out[tid] = (False, None)
                continue
            statuses = api.line_statuses(s, tid)
            answered = all(st.fill is not None for st in statuses)
            times = [st.fill.created_at for st in statuses if st.fill is not None]
            minutes = (max(times) - ticket.created_at).total_seconds() / 60 if times else None
            out[tid] = (answered, minutes)
    return out


def collect(ws: Workspace) -> list[RunRow]:
    manifests = []
    for path in sorted(ws.runs_dir.glob("*/*/manifest.json")):
        m = Manifest.read(path.parent)
        if m.status == "done":
            manifests.append((path.parent, m))
    confirmations = _confirmations(ws, [m.ticket_id for _, m in manifests if m.ticket_id])
    rows = []
    for run_dir, m in sorted(manifests, key=lambda x: (x[1].session_date, x[1].started_at)):
        upto_ticket = m.seconds_to_ticket or sum(s["seconds"] for s in m.stages if s["stage"] <= "50_ticket")
        dq, rec = _gate(m, "data_quality"), _gate(m, "reconciliation")
        answered, minutes = confirmations.get(m.ticket_id, (False, None))
        rows.append(RunRow(
            session=m.session_date, run_id=m.run_id, ticket=m.ticket_id or "", kind=m.ticket_kind or "",
            seconds_to_ticket=round(upto_ticket, 1), quality_pass_share=_quality_share(run_dir),
            data_quality=bool(dq and dq["passed"]), reconciliation=bool(rec and rec["passed"]),
            confirmed=answered, reports=any(s["stage"] == "60_report" and s["status"] == "ok" for s in m.stages),
            blocked=tuple(f"{g['name']}: {'; '.join(g['reasons'])}" for g in m.gates if not g["passed"]),
            cash_drift=_cash_drift(rec), confirmation_minutes=minutes,
        ))
    return rows


def longest_streak(rows: list[RunRow]) -> int:
    best = run = 0
    for r in rows:
        run = run + 1 if r.meets_exit_criterion else 0
        best = max(best, run)
    return best


def render(rows: list[RunRow]) -> str:
    if not rows:
        return "No completed runs yet."
    streak = longest_streak(rows)
    lines = [
        "# Phase A dry-run summary", "",
        f"Runs: {len(rows)}; median time to ticket {median(r.seconds_to_ticket for r in rows):.1f} s; "
        f"longest streak meeting the exit criterion: {streak} (needed: {REQUIRED_STREAK}) -> "
        + ("**exit criterion HOLDS**" if streak >= REQUIRED_STREAK else "**exit criterion not met yet**"), "",
        "| session | ticket | kind | to ticket (s) | symbols passing QA | DQ | recon | confirmed | reports | cash drift | confirm latency (min) |",
        "| --- | --- | --- | ---: | ---: | --- | --- | --- | --- | ---: | ---: |",
    ]
    yes = {True: "pass", False: "FAIL"}
    for r in rows:
        share = f"{r.quality_pass_share:.1%}" if r.quality_pass_share is not None else "-"
        latency = f"{r.confirmation_minutes:.1f}" if r.confirmation_minutes is not None else "-"
        lines.append(
            f"| {r.session} | {r.ticket} | {r.kind} | {r.seconds_to_ticket} | {share} | {yes[r.data_quality]} | {yes[r.reconciliation]} "
            f"| {'yes' if r.confirmed else 'NO'} | {'yes' if r.reports else 'NO'} | {r.cash_drift if r.cash_drift is not None else '-'} | {latency} |"
        )
    blocked = [(r.session, b) for r in rows for b in r.blocked]
    lines += ["", "## Blocked trades and why", ""] + ([f"- {s}: {b}" for s, b in blocked] or ["- none"])
    return "\n".join(lines) + "\n"
