"""`tradeops ops-report`: the Phase A dry-run summary over the runs so far.

Read from the run archive (manifests, gate results, quality reports) and the
ledger (confirmation times): time to ticket, share of symbols passing data
quality, blocked trades and why (failed gates, runs that ended with exit 4
and the stage that failed, invalid configuration), confirmation latency,
reconciliation drift (cash and positions only one side knows, from the gate
records), the ledger's RUN_CONFIG_INVALID events, and whether the exit criterion holds: 4 consecutive sessions (a
superseded session counts once, by its last run) with data quality pass,
reconciliation pass, ticket generated, confirmations ingested and reports
produced.
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
    unknown_positions: int | None = None  # positions only one side (broker or ledger) knows about
    exit_code: int | None = None

    @property
    def meets_exit_criterion(self) -> bool:
        return self.data_quality and self.reconciliation and bool(self.ticket) and self.confirmed and self.reports


def _gate(m: Manifest, name: str) -> dict | None:
    return next((g for g in m.gates if g["name"] == name), None)


def _differences(gate: dict | None) -> list[dict] | None:
    """The reconciliation gate's recorded differences (tradeops.reconcile.Difference.to_dict), or None."""
    if not gate or "differences" not in (gate.get("details") or {}):
        return None
    return gate["details"]["differences"]


def _cash_drift(gate: dict | None) -> Decimal | None:
    """The largest cash difference the reconciliation gate recorded (kinds are stored upper case: CASH)."""
    diffs = _differences(gate)
    if diffs is None:
        return None
    cash = [Decimal(d["difference"]) for d in diffs if str(d.get("kind", "")).upper() == "CASH" and d.get("difference")]
    return max((abs(d) for d in cash), default=Decimal(0))


def _unknown_positions(gate: dict | None) -> int | None:
    diffs = _differences(gate)
    if diffs is None:
        return None
    return sum(1 for d in diffs if str(d.get("kind", "")).upper() in ("UNKNOWN_POSITION", "UNMATCHED_POSITION"))


def _run_failure(m: Manifest) -> list[str]:
    """Why a run ended without a decision: the failed stage (exit 4) or the configuration (exit 2)."""
    if m.status == "config_invalid":
        return [f"configuration invalid (exit 2): {next((n for n in m.notes if n.startswith('configuration invalid')), '')}"]
    if m.exit_code != 4:
        return []
    failed = [s for s in m.stages if s.get("status") != "ok"]
    if failed:
        return [f"run failed (exit 4) at stage {s['stage']} ({s['status'].replace('_', ' ')}): {s.get('error') or 'no error text'}" for s in failed]
    return ["run failed (exit 4): " + ("; ".join(m.notes) or "no ticket")]


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


@dataclass(frozen=True)
class ConfigFailure:
    """A ``RUN_CONFIG_INVALID`` event of the ledger's event log (a run that could not load its configuration)."""

    at: str
    session: str
    run_id: str
    ticket: str
    message: str


def config_failures(ws: Workspace) -> list[ConfigFailure]:
    """The ledger's record of bad-configuration runs, oldest first (empty when the ledger cannot be read)."""
    from .ledger import api
    from .ledger.db import open_at_head, transaction

    try:
        engine = open_at_head(ws.db_url())
        try:
            with transaction(engine) as s:
                events = api.config_failures(s)
                return [
                    ConfigFailure(
                        e.at.isoformat(timespec="seconds"),
                        e.payload.get("session_date", ""),
                        e.payload.get("run_id", ""),
                        e.ticket_id or "",
                        e.payload.get("message", ""),
                    )
                    for e in events
                ]
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - an unreachable ledger: the archive's rows still stand
        return []


def collect(ws: Workspace) -> list[RunRow]:
    manifests = []
    for path in sorted(ws.runs_dir.glob("*/*/manifest.json")):
        m = Manifest.read(path.parent)
        if m.status in ("done", "config_invalid"):
            manifests.append((path.parent, m))
    confirmations = _confirmations(ws, [m.ticket_id for _, m in manifests if m.ticket_id])
    rows = []
    for run_dir, m in sorted(manifests, key=lambda x: (x[1].session_date, x[1].started_at)):
        upto_ticket = m.seconds_to_ticket or sum(s["seconds"] for s in m.stages if s["stage"] <= "50_ticket")
        dq, rec = _gate(m, "data_quality"), _gate(m, "reconciliation")
        answered, minutes = confirmations.get(m.ticket_id, (False, None))
        rows.append(
            RunRow(
                session=m.session_date,
                run_id=m.run_id,
                ticket=m.ticket_id or "",
                kind=m.ticket_kind or "",
                seconds_to_ticket=round(upto_ticket, 1),
                quality_pass_share=_quality_share(run_dir),
                data_quality=bool(dq and dq["passed"]),
                reconciliation=bool(rec and rec["passed"]),
                confirmed=answered,
                reports=any(s["stage"] == "60_report" and s["status"] == "ok" for s in m.stages),
                blocked=tuple(_run_failure(m) + [f"{g['name']}: {'; '.join(g['reasons'])}" for g in m.gates if not g["passed"]]),
                cash_drift=_cash_drift(rec),
                confirmation_minutes=minutes,
                unknown_positions=_unknown_positions(rec),
                exit_code=m.exit_code,
            )
        )
    return rows


def per_session(rows: list[RunRow]) -> list[RunRow]:
    """The run that stands for each session: its last one (a supersede replaces the earlier ticket)."""
    last: dict[str, RunRow] = {}
    for r in rows:  # rows are in (session, start) order
        last[r.session] = r
    return [last[s] for s in sorted(last)]


def longest_streak(rows: list[RunRow]) -> int:
    """Consecutive sessions (not runs) meeting the exit criterion."""
    best = run = 0
    for r in per_session(rows):
        run = run + 1 if r.meets_exit_criterion else 0
        best = max(best, run)
    return best


def render(rows: list[RunRow], config_events: list[ConfigFailure] = (), currency: str = "USD") -> str:
    """The summary; ``currency``: the account's (the cash drift is in it; a non-USD account says so)."""
    if not rows and not config_events:
        return "No completed runs yet."
    streak = longest_streak(rows)
    lines = [
        "# Phase A dry-run summary",
        "",
        f"Runs: {len(rows)} over {len(per_session(rows))} sessions; median time to ticket "
        f"{median([r.seconds_to_ticket for r in rows if r.seconds_to_ticket > 0] or [0]):.1f} s; "
        f"longest streak of sessions meeting the exit criterion: {streak} (needed: {REQUIRED_STREAK}) -> "
        + ("**exit criterion HOLDS**" if streak >= REQUIRED_STREAK else "**exit criterion not met yet**"),
        "",
        *(
            [f"Cash drift in {currency}, the account's currency (in USD where a snapshot gave the cash in dollars, compared at its rate).", ""]
            if currency != "USD"
            else []
        ),
        "| session | ticket | kind | exit | to ticket (s) | symbols passing QA | DQ | recon | confirmed | reports | cash drift | unknown positions | confirm latency (min) |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: | ---: | ---: |",
    ]
    yes = {True: "pass", False: "FAIL"}
    for r in rows:
        share = f"{r.quality_pass_share:.1%}" if r.quality_pass_share is not None else "-"
        latency = f"{r.confirmation_minutes:.1f}" if r.confirmation_minutes is not None else "-"
        lines.append(
            f"| {r.session} | {r.ticket} | {r.kind} | {r.exit_code if r.exit_code is not None else '-'} | {r.seconds_to_ticket} | {share} "
            f"| {yes[r.data_quality]} | {yes[r.reconciliation]} | {'yes' if r.confirmed else 'NO'} | {'yes' if r.reports else 'NO'} "
            f"| {r.cash_drift if r.cash_drift is not None else '-'} | {r.unknown_positions if r.unknown_positions is not None else '-'} | {latency} |"
        )
    blocked = [(r.session, b) for r in rows for b in r.blocked]
    lines += ["", "## Blocked trades and why", ""] + ([f"- {s}: {b}" for s, b in blocked] or ["- none"])
    lines += ["", "## Invalid configuration (the ledger's event log)", ""] + (
        [f"- {e.at}: session {e.session}, run {e.run_id}, {e.ticket or 'no ticket'}: {e.message}" for e in config_events] or ["- none"]
    )
    return "\n".join(lines) + "\n"
