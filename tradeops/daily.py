"""The daily run: one ticket per session, a complete archive per run.

``run_daily`` decides which session a run is for (from the exchange
calendar), refuses a second ticket for the same session unless told to
supersede it, executes the stage notebooks through :mod:`tradeops.runner`,
stops at the first failed gate or stage (a failed drawdown gate alone goes on to
the risk-off ticket of the drawdown halt), and always ends with a ticket
(NO-TRADE naming the failure when anything went wrong).

Importing this module is light on purpose: the run's kernel starts as soon as the
configuration and the slot are checked, and the modules that bring in pandas (the
stages, the exchange calendar, the outbox) are imported after that, in the functions
that use them, so that the kernel's start-up overlaps their import (about 1 s of a
cold run; ``tests/pipeline/test_runner.py`` holds it).
"""

from __future__ import annotations

import json
import logging
import shutil
import traceback
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .clock import SYSTEM, Clock
from . import __version__, audit
from .config import Workspace
from .redact import install_logging, redact
from .errors import ConfigError, TradeopsError
from .runner import EXIT_INTERNAL, EXIT_NO_TRADE, EXIT_OK, NOTEBOOK_DIR, Manifest, RunLock, Stage, RunKernel, execute_stage, export_outcome

from .archive import _copy_model, check_seal, find_run, list_runs, ticket_diff  # noqa: F401  (re-exported)
from .revisions import _existing_ticket, issued_ticket_ids, new_run_id, next_revision, revision_of

log = logging.getLogger(__name__)

EXIT_CONFIG = 2  # the configuration cannot be loaded: a minimal NO-TRADE ticket says so

GATED_STAGES = tuple(Stage(n) for n in ("00_preflight", "10_fetch", "20_clean_qa", "30_signal", "40_risk"))
TICKET_STAGE = Stage("50_ticket")
REPORT_STAGE = Stage("60_report")


@dataclass
class RunResult:
    exit_code: int
    status: str  # done | market_closed | existing_ticket | not_the_slot | config_invalid
    message: str
    session_date: date | None = None
    ticket_id: str | None = None
    ticket_kind: str | None = None
    run_dir: Path | None = None
    seal: str | None = None  # sha256 of the final manifest, recorded in the ledger's event log


def run_daily(
    ws: Workspace,
    session: date | None = None,
    *,
    run_at: datetime | None = None,
    supersede_reason: str | None = None,
    notebook_dir: Path = NOTEBOOK_DIR,
    stage_timeout: int = 900,
    clock: Clock = SYSTEM,
    on_schedule: bool = False,
) -> RunResult:
    """Run the daily pipeline for ``session`` (its scheduled time) or for ``run_at`` (default: ``clock``'s now).

    ``clock`` also stamps the manifest's start and end and is the "now" of the
    run's alerts (missing confirmations, missed runs).  ``on_schedule``: the
    scheduler fired this run; unless ``clock``'s now is the policy's run time
    on a run day (:func:`tradeops.schedule.slot`) nothing is done (status
    ``not_the_slot``, exit 0)."""
    install_logging()  # what the run logs (send failures, retries) is redacted
    try:
        policy = ws.policy()
        ws.universe(policy)  # validate before anything runs
    except ConfigError as err:
        return _config_invalid(ws, err, session, run_at, on_schedule, clock)
    if on_schedule:
        from .schedule import slot

        fired = slot(policy, clock.now())
        if not fired.is_slot:
            return RunResult(EXIT_OK, "not_the_slot", fired.message)
        run_at = clock.now()
    # the run's kernel starts now: its start-up and imports overlap the calendar, lock and
    # ledger checks below; a run that ends before its stages shuts it down unused
    t0 = time.perf_counter()
    ws.runs_dir.mkdir(parents=True, exist_ok=True)
    kernel = RunKernel(ws.runs_dir, log=ws.runs_dir / f".kernel-{uuid.uuid4().hex[:12]}.log").start()
    try:
        return _run(ws, policy, session, run_at, supersede_reason, notebook_dir, stage_timeout, clock, kernel, t0)
    finally:
        kernel.retire()
        if kernel.log.parent == ws.runs_dir:  # never bound to a run folder: no run to keep its log
            kernel.log.unlink(missing_ok=True)


def _run(ws, policy, session, run_at, supersede_reason, notebook_dir, stage_timeout, clock, kernel, t0) -> RunResult:
    from . import stages
    from .calendar import get_calendar

    cal = get_calendar(policy.schedule.exchange)
    tz = ZoneInfo(policy.schedule.timezone)
    if session is not None:
        run_at = stages.run_time(policy, session)
    run_at = (run_at or clock.now()).astimezone(tz)
    run_id = new_run_id(run_at)
    dates = cal.run_dates(run_at, tz)
    if dates is None:
        run_dir = ws.runs_dir / run_at.date().isoformat() / run_id
        m = Manifest(run_id=run_id, session_date=None, decision_session=None, started_at=clock.now().isoformat(), status="market_closed")
        m.notes.append(f"market closed: {run_at.date()} has no {cal.name} session; no ticket")
        m.exit_code, m.finished_at = EXIT_OK, clock.now().isoformat()
        m.write(run_dir)
        return RunResult(EXIT_OK, "market_closed", m.notes[0], run_dir=run_dir)

    session_date, decision = dates.execution_session, dates.decision_session
    with RunLock(ws.runs_dir):
        # a ticket id is never issued twice: a NO-TRADE the ledger never saw (it was unreachable)
        # still holds its id in the archive, so the next ticket of the session is a revision
        revision = max((revision_of(t) for t in issued_ticket_ids(ws, session_date)), default=0) + 1
        try:
            existing = _existing_ticket(ws, session_date)
        except Exception:  # an unreachable ledger is reported by the preflight stage
            existing = None
        if existing is not None:
            tid, kind, has_fills = existing
            if not supersede_reason:
                return RunResult(
                    EXIT_OK,
                    "existing_ticket",
                    f"{tid} ({kind}) already exists for {session_date}; no second ticket issued (use --supersede --reason to replace it while it has no fills)",
                    session_date,
                    tid,
                    kind,
                )
            if has_fills:
                raise TradeopsError(f"{tid} cannot be superseded: fills have been recorded against it")
            revision = max(revision, next_revision(tid))
        run_dir = ws.runs_dir / session_date.isoformat() / run_id
        (run_dir / "inputs").mkdir(parents=True)
        kernel.bind(run_dir)
        return _execute_stages(
            ws, policy, run_id, run_at, session_date, decision, revision, supersede_reason, notebook_dir, stage_timeout, clock, t0, run_dir, kernel
        )


def _execute_stages(
    ws, policy, run_id, run_at, session_date, decision, revision, supersede_reason, notebook_dir, stage_timeout, clock, t0, run_dir, kernel
) -> RunResult:
    from . import stages
    from .outbox import send_after_run

    universe_file = ws.config_dir / policy.universe.file
    shutil.copyfile(ws.policy_path, run_dir / "inputs" / "policy.yml")
    shutil.copyfile(universe_file, run_dir / "inputs" / universe_file.name)
    corrections_file = ws.config_dir / policy.quality.corrections_file
    if corrections_file.exists():
        shutil.copyfile(corrections_file, run_dir / "inputs" / corrections_file.name)
    common = {
        "run_dir": str(run_dir),
        "workdir": str(ws.root),
        "run_id": run_id,
        "session_date": session_date.isoformat(),
        "decision_session": decision.isoformat(),
    }
    m = Manifest(
        run_id=run_id,
        session_date=session_date.isoformat(),
        decision_session=decision.isoformat(),
        started_at=clock.now().isoformat(timespec="seconds"),
        git=audit.git_state(),
        package_version=__version__,
        code_hash=audit.code_hash(),
        parameters=dict(common, scheduled_at=run_at.isoformat()),
        hashes={"policy.yml": audit.sha256_file(ws.policy_path), universe_file.name: audit.sha256_file(universe_file), "policy_canonical": policy.hash()},
    )
    if corrections_file.exists():
        m.hashes["corrections.csv"] = audit.sha256_file(corrections_file)
    if supersede_reason:
        m.notes.append(f"supersedes the session's earlier ticket: {supersede_reason}")
    m.write(run_dir)

    # HTML exports wait until the ticket is out: they are for auditors, not on the way to the ticket
    outcomes, failure = [], None

    def run_stage(stage: Stage, params: dict):
        ok = False
        try:
            outcome = execute_stage(stage, run_dir, params, notebook_dir, timeout=stage_timeout, export=False, km=kernel.take(), clock=clock)
            ok = outcome.ok
        finally:
            kernel.done(ok)
        outcomes.append(outcome)
        m.stages = [asdict(o) for o in outcomes]
        m.write(run_dir)
        return outcome

    for stage in GATED_STAGES:
        outcome = run_stage(stage, common)
        if not outcome.ok:
            failure = f"stage {stage.name} {outcome.status.replace('_', ' ')}: {outcome.error}"
            break
        failed = [g["name"] for g in _stage_gates(run_dir, stage) if not g["passed"]]
        snap = run_dir / "snapshot.json"
        if stage.name == "20_clean_qa" and snap.exists():
            snapshot = json.loads(snap.read_text())
            m.hashes["clean_snapshot"] = snapshot.get("sha256")
            if snapshot.get("corrections_sha256"):
                m.hashes["corrections.csv"] = snapshot["corrections_sha256"]
            if snapshot.get("kept"):
                m.notes.append(snapshot["kept"])
        if failed == [stages.DRAWDOWN_GATE]:
            # the drawdown halt: the run goes on to price the book and issue the risk-off ticket
            m.notes.append(f"{stage.name}: the drawdown gate failed: the run continues to the risk-off ticket, then HALT")
        elif failed:
            m.notes.append(f"stopped after {stage.name}: gate(s) {', '.join(failed)} failed")
            break
    if failure:
        failure = redact(failure)
        stages.write_json(run_dir / "failure.json", [failure])

    ticket_params = dict(common, record_in_ledger=True, tickets_dir="", revision=revision, supersede_reason=supersede_reason or "")
    outcome = run_stage(TICKET_STAGE, ticket_params)
    if not outcome.ok:
        failure = redact(failure or f"stage {TICKET_STAGE.name} {outcome.status.replace('_', ' ')}: {outcome.error}")
        _fallback_ticket(run_dir, ws, common, revision, supersede_reason, failure, m)
    m.seconds_to_ticket = round(time.perf_counter() - t0, 2)  # from the run's start, kernel start-up included

    if (run_dir / "ticket.json").exists() and not failure:
        outcome = run_stage(REPORT_STAGE, common)
        if not outcome.ok:
            m.notes.append(f"reports not written: {outcome.error}")
    kernel.retire()  # the HTML exports below need no kernel
    for outcome in outcomes:
        export_outcome(run_dir, outcome)
    m.stages = [asdict(o) for o in outcomes]
    m.gates = stages.read_all_gates(run_dir)
    ticket = json.loads((run_dir / "ticket.json").read_text()) if (run_dir / "ticket.json").exists() else {}
    m.ticket_id, m.ticket_kind = ticket.get("ticket_id"), ticket.get("kind")
    m.notes += send_after_run(ws, policy, run_dir, m, failure, now=clock.now())
    if (run_dir / "eod.parquet").exists():
        m.hashes["eod.parquet"] = audit.sha256_file(run_dir / "eod.parquet")
    if stages.signal_model(run_dir, decision):  # the registry artifact that scored (qlib_lgbm)
        m.hashes["model"] = stages.signal_model(run_dir, decision)
    report_failed = any(s["stage"] == REPORT_STAGE.name and s["status"] != "ok" for s in m.stages)
    if failure or m.ticket_kind is None or report_failed:
        code = EXIT_INTERNAL
    elif m.ticket_kind == "NO-TRADE" or any(g["name"] == stages.DRAWDOWN_GATE and not g["passed"] for g in m.gates):
        code = EXIT_NO_TRADE  # a failed gate, also under the drawdown halt's risk-off ticket: the scheduler alerts
    else:
        code = EXIT_OK
    m.exit_code, m.status, m.finished_at = code, "done", clock.now().isoformat(timespec="seconds")
    seal = seal_run(ws, run_dir, m, clock)
    message = redact(f"{m.ticket_id or 'no ticket'} ({m.ticket_kind or 'none'}) for {session_date}" + (f"; {failure}" if failure else ""))
    return RunResult(code, "done", message, session_date, m.ticket_id, m.ticket_kind, run_dir, seal)


def seal_run(ws: Workspace, run_dir: Path, m: Manifest, clock: Clock) -> str:
    """List every file of the run folder with its sha256 in the manifest, write it for the last
    time, and record the manifest's own sha256 (the seal) in the ledger's event log.

    An unreachable ledger leaves the run unsealed (the seal is still returned
    and logged); ``runs verify`` then says the seal could not be checked."""
    from .ledger import api
    from .ledger.db import make_engine, transaction

    m.files = audit.file_hashes(run_dir)
    seal = audit.sha256_file(m.write(run_dir))
    try:
        engine = make_engine(ws.db_url())
        try:
            with transaction(engine, clock) as s:
                api.record_run_seal(s, m.run_id, seal, len(m.files), actor="scheduler", ticket_id=m.ticket_id)
        finally:
            engine.dispose()
    except Exception as err:  # noqa: BLE001 - the database driver's own errors
        log.warning("run %s not sealed in the ledger (manifest sha256 %s): %s: %s", m.run_id, seal, type(err).__name__, err)
    return seal


def _config_invalid(ws: Workspace, err: ConfigError, session, run_at, on_schedule: bool, clock: Clock) -> RunResult:
    """policy.yml or the universe cannot be loaded: still one NO-TRADE ticket that says why,
    an archived attempt (the files as found), a notification, and exit 2.

    Without a policy the run uses the default schedule (07:30 Europe/London,
    weekdays, XNYS) to know whether this firing is the slot and which session it is for."""
    from . import config_failure, notify
    from .calendar import get_calendar
    from .config import Schedule
    from .schedule import slot

    sched = Schedule()
    tz = ZoneInfo(sched.timezone)
    message = redact(str(err))
    if on_schedule:
        fired = slot(sched, clock.now())
        if not fired.is_slot:
            return RunResult(EXIT_OK, "not_the_slot", f"{fired.message} (and the configuration is invalid: {message})")
        run_at = clock.now()
    if session is not None:
        run_at = datetime.combine(session, sched.run_clock, tzinfo=tz)
    run_at = (run_at or clock.now()).astimezone(tz)
    cal = get_calendar(sched.exchange)
    dates = cal.run_dates(run_at, tz)
    run_id = new_run_id(run_at)
    session_date = dates.execution_session if dates else run_at.date()
    run_dir = ws.runs_dir / session_date.isoformat() / run_id
    try:
        existing = _existing_ticket(ws, session_date) if dates else None
    except Exception:  # noqa: BLE001 - an unreachable ledger: the ticket below still says why
        existing = None
    if existing is not None:
        return RunResult(
            EXIT_CONFIG,
            "existing_ticket",
            f"{existing[0]} ({existing[1]}) already exists for {session_date}; no second ticket issued, but the configuration is now invalid: {message}",
            session_date,
            existing[0],
            existing[1],
        )
    with RunLock(ws.runs_dir):
        (run_dir / "inputs").mkdir(parents=True)
        hashes = {}
        for found in (ws.policy_path, ws.config_dir / "universe.csv"):
            if found.is_file():  # the files as they were, for whoever fixes them
                shutil.copyfile(found, run_dir / "inputs" / found.name)
                hashes[found.name] = audit.sha256_file(found)
        m = Manifest(
            run_id=run_id,
            session_date=session_date.isoformat(),
            decision_session=dates.decision_session.isoformat() if dates else None,
            started_at=clock.now().isoformat(timespec="seconds"),
            status="config_invalid",
            git=audit.git_state(),
            package_version=__version__,
            code_hash=audit.code_hash(),
            hashes=hashes,
            parameters={"run_id": run_id, "session_date": session_date.isoformat(), "scheduled_at": run_at.isoformat()},
        )
        m.notes.append(f"{config_failure.REASON}: {message}")
        if dates is None:
            m.notes.append(f"market closed: {run_at.date()} has no {cal.name} session (default calendar); no ticket")
        else:
            payload, _ = config_failure.write_ticket([run_dir, ws.tickets_dir], session_date, run_id, message, clock.now())
            m.ticket_id, m.ticket_kind = payload["ticket_id"], payload["kind"]
            try:
                settings = notify.NotifySettings.from_env()
            except ConfigError as bad:
                m.notes.append(redact(f"notifications not sent: {bad}"))
            else:
                if settings.smtp is None and settings.webhook_url is None:
                    m.notes.append("notifications: no channel configured (TRADEOPS_SMTP_HOST or TRADEOPS_WEBHOOK_URL)")
                else:
                    name = payload["ticket_id"]
                    sent = notify.send_ticket(name, payload["kind"], run_dir / f"{name}.md", run_dir / f"{name}.json", settings)
                    failed = "; ".join(f"{r.channel}: {r.error}" for r in sent.failures)
                    m.notes.append(f"ticket {name} sent" if sent.ok else redact(f"ticket {name} NOT fully sent: {failed}"))
        m.exit_code, m.status, m.finished_at = EXIT_CONFIG, "config_invalid", clock.now().isoformat(timespec="seconds")
        m.notes.append(_record_config_failure(ws, m, session_date, message, clock))
        seal = seal_run(ws, run_dir, m, clock)
    text = f"{m.ticket_id or 'no ticket'} (NO-TRADE) for {session_date}: {config_failure.REASON}: {message}"
    return RunResult(EXIT_CONFIG, "config_invalid", text, session_date, m.ticket_id, m.ticket_kind, run_dir, seal)


def _record_config_failure(ws: Workspace, m: Manifest, session_date: date, message: str, clock: Clock) -> str:
    """A ``RUN_CONFIG_INVALID`` event in the ledger's event log (the loader's message, redacted), where
    the ledger can be reached; returns the manifest's note saying which."""
    from .ledger import api
    from .ledger.db import open_at_head, transaction

    try:
        engine = open_at_head(ws.db_url())  # never writes into a ledger that is not at the current schema
        try:
            with transaction(engine, clock) as s:
                api.record_config_failure(s, m.run_id, session_date, message, actor="scheduler", ticket_id=m.ticket_id)
        finally:
            engine.dispose()
    except Exception as err:  # noqa: BLE001 - the database driver's own errors
        return redact(f"the configuration failure is not in the ledger's event log (ledger unreachable: {type(err).__name__}: {err})")
    return f"recorded in the ledger's event log as {api.RUN_CONFIG_INVALID}"


def _stage_gates(run_dir: Path, stage: Stage) -> list[dict]:
    path = run_dir / "gates" / f"{stage.name}.json"
    return json.loads(path.read_text()) if path.exists() else []


def _fallback_ticket(run_dir, ws, common, revision, supersede_reason, failure, m) -> None:
    """The ticket notebook itself failed: write the NO-TRADE ticket in-process, recording it
    in the ledger if the ledger can be reached."""
    from . import stages

    stages.write_json(run_dir / "failure.json", [failure])
    args = dict(
        run_dir=common["run_dir"],
        workdir=common["workdir"],
        run_id=common["run_id"],
        session_date=common["session_date"],
        decision_session=common["decision_session"],
        revision=revision,
        supersede_reason=supersede_reason or "",
    )
    try:
        stages.ticket(**args, record_in_ledger=True)
    except Exception as err:
        m.notes.append(f"ticket not recorded in the ledger: {type(err).__name__}: {err}")
        try:
            stages.ticket(**args, record_in_ledger=False)
        except Exception:
            m.notes.append("no ticket could be written: " + traceback.format_exc(limit=3))


def verify_run(ws: Workspace, run_id: str, scratch: Path, notebook_dir: Path = NOTEBOOK_DIR) -> tuple[bool, str]:
    """Re-execute a run's decision stages from its archived inputs; compare the ticket byte for byte.

    The archive holds the ledger's state (portfolio.json), the clean data
    snapshot (eod.parquet, whose hash the manifest holds), a non-USD
    account's checked FX rate (fx.json), the gate results
    of the ledger and data stages, and the config files: stages 30..50 are
    executed again on copies of them in ``scratch``, with the same
    parameters and without touching the ledger.  A run scored by a trained
    model also gets that model's promotion verdict and stored fit from the
    workspace's registry (:func:`_copy_model`).
    """
    src = find_run(ws, run_id)
    ok, sealed = check_seal(ws, src)
    if not ok:
        return False, sealed
    m = Manifest.read(src)
    if m.status == "config_invalid":
        return True, f"{sealed}; {m.ticket_id or 'no ticket'}: the run ended on an invalid configuration, so there is nothing to re-execute"
    if m.session_date is None or m.ticket_id is None:
        raise TradeopsError(f"run {run_id} issued no ticket ({m.status}); nothing to verify")
    work = Workspace.at(scratch / "workspace").ensure()
    shutil.copytree(src / "inputs", work.config_dir, dirs_exist_ok=True)
    _copy_model(ws, work, m.hashes.get("model", ""))
    run_dir = scratch / "run"
    run_dir.mkdir(parents=True)
    for name in ("eod.parquet", "portfolio.json", "account.json", "failure.json", "fx.json"):  # fx.json: a non-USD account's checked rate
        if (src / name).exists():
            shutil.copyfile(src / name, run_dir / name)
    (run_dir / "gates").mkdir()
    for stage in ("00_preflight", "20_clean_qa"):
        if (src / "gates" / f"{stage}.json").exists():
            shutil.copyfile(src / "gates" / f"{stage}.json", run_dir / "gates" / f"{stage}.json")
    common = {k: m.parameters[k] for k in ("run_id", "session_date", "decision_session")}
    common.update(run_dir=str(run_dir), workdir=str(work.root))
    executed = {s["stage"] for s in m.stages if s["status"] == "ok"}
    for stage in (Stage("30_signal"), Stage("40_risk")):
        if stage.name in executed:
            outcome = execute_stage(stage, run_dir, common, notebook_dir)
            if not outcome.ok:
                return False, f"re-executing {stage.name} failed: {outcome.error}"
    revision = next((s["parameters"].get("revision", 1) for s in m.stages if s["stage"] == TICKET_STAGE.name), 1)
    params = dict(common, record_in_ledger=False, tickets_dir=str(scratch / "tickets"), revision=revision, supersede_reason="")
    outcome = execute_stage(TICKET_STAGE, run_dir, params, notebook_dir)
    if not outcome.ok:
        return False, f"re-executing {TICKET_STAGE.name} failed: {outcome.error}"
    name = f"{m.ticket_id}.json"
    original, again = (src / name).read_bytes(), (run_dir / name).read_bytes()
    if original == again:
        return True, f"{sealed}; {m.ticket_id}: the re-executed ticket is byte-for-byte identical ({len(again)} bytes)"
    return False, f"{sealed}; {m.ticket_id}: the re-executed ticket differs from the archived one: {ticket_diff(original, again)}"
