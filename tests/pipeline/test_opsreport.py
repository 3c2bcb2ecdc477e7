"""`tradeops ops-report` over a hand-built archive (in-process, no kernels).

The gate details are produced by the real reconciliation (tradeops.reconcile)
so the stored kinds are what a run stores (upper case), and the ledger holds
the tickets so confirmations are read as in a real workspace.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from tradeops.config import Reconciliation, Workspace
from tradeops.ledger import api, db
from tradeops.opsreport import collect, config_failures, longest_streak, per_session, render
from tradeops.reconcile import Holdings, reconcile
from tradeops.runner import Manifest

T = datetime(2025, 1, 6, 21, 0, tzinfo=timezone.utc)
OK_STAGES = ["00_preflight", "10_fetch", "20_clean_qa", "30_signal", "40_risk", "50_ticket", "60_report"]


def rec_gate(ledger_cash="1000", broker_cash="1000", ledger_pos=None, broker_pos=None) -> dict:
    report = reconcile(
        Holdings(T, D(ledger_cash), {k: D(v) for k, v in (ledger_pos or {}).items()}),
        Holdings(T, D(broker_cash), {k: D(v) for k, v in (broker_pos or {}).items()}),
        Reconciliation(),
        T + timedelta(hours=10),
        snapshot_id=1,
    )
    return {"name": "reconciliation", "passed": report.passed, "reasons": report.reasons, "details": report.to_dict()}


def write_run(ws: Workspace, session: str, run_id: str, *, ticket=None, kind="HOLD", gates=None, stages=None, exit_code=0, status="done", notes=()):
    stages = stages if stages is not None else [{"stage": s, "status": "ok", "seconds": 1.0, "error": None} for s in OK_STAGES]
    m = Manifest(
        run_id=run_id,
        session_date=session,
        decision_session=session,
        started_at=f"{session}T07:30:00+00:00",
        status=status,
        stages=stages,
        ticket_id=ticket,
        ticket_kind=kind if ticket else None,
        exit_code=exit_code,
        gates=gates if gates is not None else [{"name": "data_quality", "passed": True, "reasons": []}, rec_gate()],
        seconds_to_ticket=12.0,
        notes=list(notes),
    )
    m.write(ws.runs_dir / session / run_id)


@pytest.fixture
def ws(tmp_path, monkeypatch):
    work = Workspace.at(tmp_path / "ws").ensure()
    monkeypatch.setenv("TRADEOPS_DB_URL", work.default_db_url)
    engine = db.init_db(work.default_db_url)
    with db.transaction(engine) as s:
        api.record_cash_movement(s, "DEPOSIT", "1000", date(2025, 1, 3), actor="t")
        for tid, day in [("TICKET-20250106", 6), ("TICKET-20250107", 7), ("TICKET-20250108-R2", 8), ("TICKET-20250110", 10)]:
            api.record_ticket(s, tid, date(2025, 1, day), "HOLD", "h-" + tid, {"id": tid})
    engine.dispose()
    return work


def test_drift_is_read_from_the_gate_records_with_upper_case_kinds_and_unknown_positions(ws):
    write_run(
        ws, "2025-01-06", "r1", ticket="TICKET-20250106", gates=[{"name": "data_quality", "passed": True, "reasons": []}, rec_gate(broker_cash="1003.00")]
    )
    write_run(
        ws,
        "2025-01-07",
        "r2",
        ticket="TICKET-20250107",
        kind="NO-TRADE",
        exit_code=3,
        gates=[{"name": "data_quality", "passed": True, "reasons": []}, rec_gate(broker_cash="940", ledger_pos={"AAPL": "2"}, broker_pos={"TSLA": "1"})],
    )
    rows = {r.run_id: r for r in collect(ws)}
    assert rows["r1"].cash_drift == D("3.00") and rows["r1"].unknown_positions == 0 and rows["r1"].reconciliation
    assert rows["r2"].cash_drift == D("60") and rows["r2"].unknown_positions == 2 and not rows["r2"].reconciliation
    text = render(list(rows.values()))
    assert "| 3.00 | 0 |" in text and "| 60 | 2 |" in text
    assert "reconciliation: " in text and "unknown position TSLA" in text
    assert "Cash drift in" not in text  # a USD account: as it always was
    gbp = render(list(rows.values()), currency="GBP")
    assert "Cash drift in GBP, the account's currency" in gbp and gbp.replace(gbp.split("\n")[4] + "\n\n", "", 1) == text


def test_exit_4_and_bad_config_runs_are_listed_with_their_stage(ws):
    failed = [
        {"stage": "00_preflight", "status": "ok", "seconds": 1.0, "error": None},
        {"stage": "10_fetch", "status": "failed", "seconds": 3.0, "error": "ProviderUnavailable: stooq timed out"},
        {"stage": "50_ticket", "status": "ok", "seconds": 1.0, "error": None},
    ]
    write_run(ws, "2025-01-06", "r1", ticket="TICKET-20250106", kind="NO-TRADE", exit_code=4, stages=failed, gates=[])
    write_run(
        ws,
        "2025-01-07",
        "r2",
        ticket="TICKET-20250107-CONFIG-abc123",
        kind="NO-TRADE",
        exit_code=2,
        stages=[],
        gates=[],
        status="config_invalid",
        notes=["configuration invalid: policy key 'risk.max_wieght': unknown key"],
    )
    text = render(collect(ws))
    blocked = text.split("## Blocked trades and why", 1)[1]
    assert "2025-01-06: run failed (exit 4) at stage 10_fetch (failed): ProviderUnavailable: stooq timed out" in blocked
    assert "2025-01-07: configuration invalid (exit 2)" in blocked and "max_wieght" in blocked


def test_bad_config_events_in_the_ledger_are_listed(ws):
    engine = db.make_engine(ws.db_url())
    with db.transaction(engine) as s:
        api.record_config_failure(
            s,
            "20250107T0730-abc123",
            date(2025, 1, 7),
            "policy key 'risk.max_wieght': unknown key",
            actor="scheduler",
            ticket_id="TICKET-20250107-CONFIG-abc123",
        )
        api.record_config_failure(s, "20250109T0730-def456", date(2025, 1, 9), "not valid YAML", actor="scheduler")
    engine.dispose()
    write_run(ws, "2025-01-06", "r1", ticket="TICKET-20250106")
    events = config_failures(ws)
    assert [(e.session, e.run_id, e.ticket) for e in events] == [
        ("2025-01-07", "20250107T0730-abc123", "TICKET-20250107-CONFIG-abc123"),
        ("2025-01-09", "20250109T0730-def456", ""),
    ]
    section = render(collect(ws), events).split("## Invalid configuration (the ledger's event log)", 1)[1]
    assert "session 2025-01-07, run 20250107T0730-abc123, TICKET-20250107-CONFIG-abc123: policy key 'risk.max_wieght': unknown key" in section
    assert "session 2025-01-09, run 20250109T0730-def456, no ticket: not valid YAML" in section
    assert "- none" in render(collect(ws)).split("## Invalid configuration", 1)[1]


def test_the_streak_counts_sessions_not_runs(ws):
    write_run(ws, "2025-01-06", "r1", ticket="TICKET-20250106")
    write_run(ws, "2025-01-07", "r2", ticket="TICKET-20250107")
    write_run(ws, "2025-01-08", "r3a", ticket="TICKET-20250108")  # superseded the same morning
    write_run(ws, "2025-01-08", "r3b", ticket="TICKET-20250108-R2")
    rows = collect(ws)
    assert len(rows) == 4 and all(r.meets_exit_criterion for r in rows if r.run_id != "r3a")
    assert [r.run_id for r in per_session(rows)] == ["r1", "r2", "r3b"]
    assert longest_streak(rows) == 3  # three sessions; counting runs would say 4 and claim the criterion
    assert "exit criterion not met yet" in render(rows) and "4 over 3 sessions" in render(rows)
    write_run(ws, "2025-01-10", "r4", ticket="TICKET-20250110")
    assert longest_streak(collect(ws)) == 4 and "exit criterion HOLDS" in render(collect(ws))
