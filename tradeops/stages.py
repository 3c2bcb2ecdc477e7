"""What each stage notebook does: one call per notebook.

Every stage reads and writes files in its run folder (never notebook state):

==============  ==============================================  ===========================================
stage           reads                                           writes (in the run folder)
==============  ==============================================  ===========================================
00_preflight    the ledger                                      portfolio.json, account.json, gates/00_preflight.json
10_fetch        providers (network, or the demo generator)      fetch.json (+ raw files under data/raw/); a non-USD
                                                                account also fx_fetch.json (its FX series, raw)
20_clean_qa     raw files named in fetch.json                   eod.parquet, quality.json/.md, snapshot.json, gates/20_clean_qa.json;
                                                                a non-USD account also fx.json and the fx_rate gate
30_signal       eod.parquet (+ data/models for qlib_lgbm)       signals/YYYY-MM-DD.csv (+ .json), gates/30_signal.json
40_risk         signals, portfolio.json, eod.parquet (+ fx.json) proposed.json, approved.json, gates/40_risk.json
50_ticket       gates/*.json, approved.json, failure.json,      TICKET-YYYYMMDD.md/.json (+ tickets/), ledger rows
                account.json
60_report       the ledger, eod.parquet                         reports/daily.md (+ weekly on the week's last session)
==============  ==============================================  ===========================================

Only 00, 50 and 60 touch the ledger, so `tradeops runs verify` can re-execute
30..50 from the archived files and compare the ticket byte for byte.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from . import audit
from .config import Policy, Universe, Workspace
from .errors import DataError, TradeopsError
from .portfolio import PortfolioState
from .runfolder import GATE_ORDER, read_all_gates, write_gates, write_json  # noqa: F401  re-exported: the run folder's files
from .ledger_book import ledger_book

ACTOR = "pipeline"
# Gate precedence (DESIGN.md §2): the ticket lists failures in this order.
DRAWDOWN_GATE = "drawdown"  # its failure alone does not stop the run: the risk stage issues the risk-off ticket
# --------------------------------------------------------------------------- results


@dataclass
class StageResult:
    """What a stage shows in its notebook: gates, a headline, tables."""

    stage: str
    headline: str
    gates: list[dict] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def gate_frame(self) -> pd.DataFrame:
        rows = [{"gate": g["name"], "result": "PASS" if g["passed"] else "FAIL", "reasons": "; ".join(g["reasons"]) or "-"} for g in self.gates]
        return pd.DataFrame(rows, columns=["gate", "result", "reasons"])

    def _repr_html_(self) -> str:
        parts = [f"<h3>{self.stage}: {self.headline}</h3>"]
        if self.gates:
            parts.append(self.gate_frame().to_html(index=False))
        for title, frame in self.tables.items():
            parts.append(f"<h4>{title}</h4>" + frame.to_html(index=False, max_rows=60))
        if self.files:
            parts.append("<p>Files: " + ", ".join(f"<code>{f}</code>" for f in self.files) + "</p>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"{self.stage}: {self.headline}"


def _context(workdir: str) -> tuple[Workspace, Policy, Universe]:
    ws = Workspace.at(workdir)
    policy = ws.policy()
    return ws, policy, ws.universe(policy)


def _day(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def run_time(policy: Policy, session_date: date) -> datetime:
    """The scheduled start of the run for ``session_date`` (aware, in the schedule's zone)."""
    return datetime.combine(session_date, policy.schedule.run_clock, tzinfo=ZoneInfo(policy.schedule.timezone))


def _engine(ws: Workspace):
    from .ledger import db

    return db.open_at_head(ws.db_url())


# --------------------------------------------------------------------------- 00 preflight


def preflight(run_dir: str, workdir: str, session_date: str, decision_session: str) -> StageResult:
    """Gates that need only the ledger, and ``portfolio.json`` for the later stages."""
    from .ledger import gates

    run_dir, session_day, decision = Path(run_dir), _day(session_date), _day(decision_session)
    ws, policy, _ = _context(workdir)
    engine = _engine(ws)
    from .ledger.db import transaction

    with transaction(engine) as s:
        results = [
            gates.kill_switch_gate(s),
            gates.drawdown_gate(s, policy.risk, as_of=decision),
            gates.confirmations_gate(s, before=session_day),
            gates.reconciliation_gate(s, policy.reconciliation, now=run_time(policy, session_day)),
        ]
        portfolio, points = ledger_book(s, session_day, decision)
    gate_dicts = [g.to_dict() for g in results]
    portfolio.write(run_dir / "portfolio.json")
    # the ledger's figures for every ticket kind (a NO-TRADE ticket whose run stopped early shows them too)
    # equity: the ledger's cash now plus its positions at the last close it has prices for
    equity = portfolio.cash + (points[-1].market_value if points else Decimal(0))
    write_json(run_dir / "account.json", {"cash": str(portfolio.cash), "equity": str(equity), "currency": portfolio.account_currency})
    write_gates(run_dir, "00_preflight", gate_dicts)
    failed = [g["name"] for g in gate_dicts if not g["passed"]]
    positions = pd.DataFrame([{"symbol": k, "units": str(v)} for k, v in portfolio.positions.items()], columns=["symbol", "units"])
    headline = f"state {portfolio.state}, cash {portfolio.cash} {portfolio.account_currency}, {len(portfolio.positions)} positions; " + (
        f"FAILED: {', '.join(failed)}" if failed else "all ledger gates pass"
    )
    return StageResult("00_preflight", headline, gate_dicts, {"positions": positions}, ["portfolio.json"])


# --------------------------------------------------------------------------- 10 fetch


def fetch(run_dir: str, workdir: str, run_id: str, decision_session: str) -> StageResult:
    """Download (or generate) raw bars for the universe up to the decision session."""
    from . import data
    from .data.fetch import fetch_record_path

    run_dir, decision = Path(run_dir), _day(decision_session)
    ws, policy, universe = _context(workdir)
    result = data.fetch(ws, policy, universe, decision, run_id)
    record = fetch_record_path(ws, decision, run_id)
    write_json(run_dir / "fetch.json", {"record": str(record), "sha256": audit.sha256_file(record)})
    fx_note = _fetch_fx(run_dir, ws, policy, decision, run_id)
    table = pd.DataFrame(
        [
            {"symbol": a.symbol, "source": a.source, "role": a.role, "result": a.kind, "error": a.error or "", "raw_file": a.raw_file or ""}
            for a in result.attempts
        ]
    )
    ok = {a.symbol for a in result.attempts if a.ok}
    headline = f"{len(ok)} of {len(result.symbols)} symbols answered ({result.primary}" + (f", fallback {result.secondary})" if result.secondary else ")")
    headline += f"; {result.stored_bytes:,} bytes stored" + fx_note
    failed = table[table["result"] != "ok"] if not table.empty else table
    findings = pd.DataFrame(
        [{"symbol": f.symbol, "source": f.source, "kind": f.kind, "finding": f.message} for f in result.findings],
        columns=["symbol", "source", "kind", "finding"],
    )
    return StageResult("10_fetch", headline, tables={"failed attempts": failed, "findings": findings}, files=["fetch.json", str(record)])


def _fetch_fx(run_dir: Path, ws: Workspace, policy: Policy, decision: date, run_id: str) -> str:
    """A non-USD account: fetch its FX series too (fx_fetch.json names the record, or why there is none)."""
    from .data import fx

    if fx.pair_for(policy.account.account_currency) is None:
        return ""
    try:
        got = fx.fetch_fx(ws, policy, decision, run_id)
    except DataError as err:
        write_json(run_dir / "fx_fetch.json", {"record": None, "error": str(err)})
        return f"; FX: {err}"
    record = fx.fx_record_path(ws, decision, run_id)
    write_json(run_dir / "fx_fetch.json", {"record": str(record), "sha256": audit.sha256_file(record), "error": None})
    chosen = got.chosen()
    return f"; FX {got.pair} from {chosen.source}" if chosen else f"; FX {got.pair}: no provider answered"


def _fx_gate(run_dir: Path, ws: Workspace, policy: Policy, decision: date) -> dict | None:
    """A non-USD account: check the FX series (fx.json in the run folder) and return the fx_rate gate."""
    from .data import fx

    pair = fx.pair_for(policy.account.account_currency)
    if pair is None:
        return None
    path = run_dir / "fx_fetch.json"
    fetched = json.loads(path.read_text()) if path.exists() else {"record": None, "error": "the fetch stage did not ask for it"}
    if fetched.get("record"):
        report = fx.build_fx_clean(ws, policy, decision, fetched["record"])
    else:
        report = fx.missing_report(pair, decision, fetched.get("error") or "no FX fetch record")
    report.save(run_dir / "fx.json")
    return fx.fx_gate(report)


# --------------------------------------------------------------------------- 20 clean + QA


def clean_qa(run_dir: str, workdir: str, decision_session: str) -> StageResult:
    """Clean, adjust and quality-check; the data-quality gate."""
    from . import data
    from .data.quality import quality_check_to_dict

    run_dir, decision = Path(run_dir), _day(decision_session)
    ws, policy, universe = _context(workdir)
    record = json.loads((run_dir / "fetch.json").read_text())["record"]
    report = data.build_clean(ws, policy, universe, decision, record)
    # the run keeps what this build judged: the new current snapshot, or the failed candidate for inspection
    shutil.copyfile(ws.root / report.output["path"], run_dir / "eod.parquet")
    for name in ("quality.json", "quality.md"):
        src = ws.quality_dir / name
        if src.exists():
            shutil.copyfile(src, run_dir / name)
    keys = ("snapshot", "sha256", "promoted", "current", "kept", "corrections_sha256", "path")
    write_json(run_dir / "snapshot.json", {k: report.output.get(k) for k in keys})
    details = {"excluded": sorted(report.excluded)}
    if report.output.get("kept"):
        details["kept"] = report.output["kept"]
    gate = {"name": "data_quality", "passed": bool(report.trade_allowed), "reasons": list(report.reasons), "details": details}
    fx_gate = _fx_gate(run_dir, ws, policy, decision)
    write_gates(run_dir, "20_clean_qa", [gate] + ([fx_gate] if fx_gate else []))
    checks = pd.DataFrame([quality_check_to_dict(c) for c in report.checks])
    headline = (
        "data quality "
        + ("PASS" if report.trade_allowed else "FAIL")
        + f"; {len(report.excluded)} symbols excluded; snapshot {report.output['snapshot']}"
        + (f"; {report.output['kept']}" if report.output.get("kept") else " is now current")
    )
    if fx_gate:
        headline += f"; FX {fx_gate['details']['pair']} " + (f"{fx_gate['details']['rate']} on {fx_gate['details']['date']}" if fx_gate["passed"] else "FAIL")
    return StageResult(
        "20_clean_qa",
        headline,
        [gate] + ([fx_gate] if fx_gate else []),
        {"checks": checks},
        ["eod.parquet", "quality.json", "quality.md", "snapshot.json"] + (["fx.json"] if fx_gate else []),
    )


# --------------------------------------------------------------------------- 30 signal


def signal(run_dir: str, workdir: str, decision_session: str) -> StageResult:
    from .signals import run_signal_stage

    run_dir, decision = Path(run_dir), _day(decision_session)
    ws, policy, universe = _context(workdir)
    if policy.strategy.signal == "qlib_lgbm":  # only a promoted model may decide live
        from .research.promotion import promotion_gate

        gate = promotion_gate(ws.models_dir, policy)
        write_gates(run_dir, "30_signal", [gate])
        if not gate["passed"]:
            return StageResult("30_signal", f"qlib_lgbm not run: {gate['reasons'][0]}", [gate])
    result = run_signal_stage(run_dir / "eod.parquet", policy, universe, decision, run_dir, models_dir=ws.models_dir)
    top = result.ranked.head(25)
    return StageResult(
        "30_signal",
        f"{policy.strategy.signal}: {len(result.ranked)} ranked; {result.note}",
        tables={"ranked (top 25)": top},
        files=[f"signals/{decision.isoformat()}.csv"],
    )


def signal_model(run_dir: str | Path, decision: date) -> str:
    """The id of the trained model that scored the run's signal ("" for a rule-based signal
    or when the signal stage did not get that far): part of the ticket's version hash."""
    meta = Path(run_dir) / "signals" / f"{decision.isoformat()}.json"
    if not meta.exists():
        return ""
    return (json.loads(meta.read_text()).get("model") or {}).get("model_id", "")


# --------------------------------------------------------------------------- 40 risk


def risk(run_dir: str, workdir: str, session_date: str, decision_session: str) -> StageResult:
    """Approved targets and trade list; the drawdown and ticket-sanity gates."""
    from .risk import run_risk_stage

    run_dir, decision = Path(run_dir), _day(decision_session)
    _, policy, universe = _context(workdir)
    decision_obj = run_risk_stage(run_dir, run_dir / "eod.parquet", run_dir / "portfolio.json", policy, universe, decision)
    if decision_obj is None:  # a non-USD account without a valid FX rate: the fx_rate gate of 20_clean_qa says why
        write_gates(run_dir, "40_risk", [])
        return StageResult("40_risk", f"nothing sized: no valid {policy.account.account_currency}USD rate (no rate, no trade)")
    gates = decision_gates(decision_obj)
    write_gates(run_dir, "40_risk", gates)
    trades = pd.DataFrame([t.to_dict() for t in decision_obj.trades])
    headline = f"{decision_obj.kind}: {len(decision_obj.trades)} trades, equity {decision_obj.equity}, drawdown {decision_obj.drawdown:.2%}" + (
        " (rebalance day)" if decision_obj.rebalance else ""
    )
    return StageResult("40_risk", headline, gates, {"trade list (sells first)": trades}, ["proposed.json", "approved.json"])


def decision_gates(decision) -> list[dict]:
    """The risk guard's verdict as gates: a failed drawdown rule is the drawdown gate
    (it moves the state to HALT); any other failed rule is ticket sanity."""
    from .risk import DrawdownKillSwitch

    failed = [r for r in decision.rules if not r.passed]
    dd = [r.message for r in failed if r.code == DrawdownKillSwitch.name]
    other = [f"{r.code}: {r.message}" for r in failed if r.code != DrawdownKillSwitch.name]
    gates = [{"name": "ticket_sanity", "passed": not other, "reasons": other}]
    if dd:
        gates.insert(0, {"name": "drawdown", "passed": False, "reasons": dd})
    return gates


# --------------------------------------------------------------------------- 50 ticket


def ticket(
    run_dir: str,
    workdir: str,
    run_id: str,
    session_date: str,
    decision_session: str,
    record_in_ledger: bool = True,
    tickets_dir: str = "",
    revision: int = 1,
    supersede_reason: str = "",
) -> StageResult:
    """Exactly one ticket for the session, recorded in the ledger with the gate results and state."""
    from .state import next_state
    from .tickets import run_ticket_stage

    run_dir, decision, session_day = Path(run_dir), _day(decision_session), _day(session_date)
    ws, policy, universe = _context(workdir)
    gates = read_all_gates(run_dir)
    failure_path = run_dir / "failure.json"
    stage_errors = json.loads(failure_path.read_text()) if failure_path.exists() else []
    portfolio_path = run_dir / "portfolio.json"
    previous = PortfolioState.read(portfolio_path).state if portfolio_path.exists() else "RUN"
    transition = next_state(previous, gates, session=decision)
    eod = run_dir / "eod.parquet"
    hashes = {"code": audit.code_hash(), "config": config_hash(ws, policy), "data": audit.sha256_file(eod) if eod.exists() else "none"}
    model = signal_model(run_dir, decision)
    if model:
        hashes["model"] = model
    out_dir = Path(tickets_dir) if tickets_dir else ws.tickets_dir
    account_path = run_dir / "account.json"
    held = json.loads(account_path.read_text()) if account_path.exists() else None
    tk, md_path, json_path = run_ticket_stage(
        run_dir,
        out_dir,
        policy,
        universe,
        decision,
        gates,
        hashes["code"],
        hashes["config"],
        hashes["data"],
        state=transition.state.value,
        state_reasons=transition.reasons,
        stage_errors=stage_errors,
        replace=True,
        revision=revision,
        ledger_account={k: Decimal(held[k]) for k in ("cash", "equity")} if held else None,
        model_id=model,
    )
    if tk.execution_session != session_day:
        raise TradeopsError(f"ticket is for {tk.execution_session}, but the run is for session {session_day}")
    for p in (md_path, json_path):
        if p.parent != run_dir:
            shutil.copyfile(p, run_dir / p.name)
    write_json(run_dir / "ticket.json", {"ticket_id": tk.ticket_id, "kind": tk.kind, "state": transition.state.value, "hashes": hashes})
    if record_in_ledger:
        record_ticket_in_ledger(ws, tk, gates, transition, run_id, supersede_reason)
    lines = pd.DataFrame([{"#": ln.seq, "side": ln.side, "symbol": ln.symbol, "value": str(ln.value), "units": str(ln.units)} for ln in tk.lines])
    return StageResult("50_ticket", f"{tk.ticket_id}: {tk.kind}", gates, {"lines": lines}, [md_path.name, json_path.name])


def config_hash(ws: Workspace, policy: Policy) -> str:
    """Policy (canonical) + universe file: the config part of the version hash."""
    universe_file = ws.config_dir / policy.universe.file
    return audit.sha256_bytes(f"{policy.hash()}:{audit.sha256_file(universe_file)}".encode())


def record_ticket_in_ledger(ws: Workspace, tk, gates: list[dict], transition, run_id: str, supersede_reason: str = "") -> None:
    """One transaction: the ticket, its lines, every gate result and the state transition."""
    from .ledger import api
    from .ledger.db import transaction
    from .ledger.gates import from_dict, record_gate_result

    engine = _engine(ws)
    rec = tk.ledger_record()
    with transaction(engine) as s:
        existing = api.open_ticket(s, tk.execution_session)
        if existing is None or existing.ticket_id != tk.ticket_id:
            api.record_ticket(s, **rec["ticket"], run_id=run_id, supersede_reason=supersede_reason or None, actor=ACTOR)
            for line in rec["lines"]:
                api.record_intended_trade(s, tk.ticket_id, **line)
        for g in gates:
            record_gate_result(s, from_dict(g), actor=ACTOR, run_id=run_id, ticket_id=tk.ticket_id)
        if transition.state.value != transition.previous.value:
            api.set_state(s, transition.state.value, "; ".join(transition.reasons) or transition.cause, actor=ACTOR)


# --------------------------------------------------------------------------- 60 report


def _cache_fx_rates(run_dir: Path, ws: Workspace, policy: Policy, decision: date) -> None:
    """A non-USD account: cache the checked FX rates of the last days in the ledger (what a fill's
    rate defaults to, and the account-currency marks of positions); nothing after a failed check."""
    from .data import fx
    from .ledger import api
    from .ledger.db import transaction

    currency = policy.account.account_currency
    pair = fx.pair_for(currency)
    if pair is None or not (run_dir / "fx.json").exists() or fx.load_fx_rate(run_dir / "fx.json") is None:
        return
    series = pd.read_parquet(fx.fx_clean_dir(ws) / f"{pair}.parquet", columns=["date", "close"])
    recent = series[(series["date"] >= pd.Timestamp(decision - timedelta(days=10))) & (series["date"] <= pd.Timestamp(decision))]
    with transaction(_engine(ws)) as s:
        api.store_fx_rates(s, {r.date.date(): fx.to_rate(r.close) for r in recent.itertuples()}, base=currency, quote="USD", source="clean")


def report(run_dir: str, workdir: str, session_date: str, decision_session: str) -> StageResult:
    """Cache the session's closes (and FX rates) in the ledger, then rebuild the reports from the ledger alone."""
    from .ledger import api
    from .ledger.db import transaction
    from .reporting_inputs import publish_reports

    run_dir, decision, session_day = Path(run_dir), _day(decision_session), _day(session_date)
    ws, policy, universe = _context(workdir)
    snapshot = run_dir / "eod.parquet"
    if snapshot.exists():  # the run got as far as clean data: cache its closes
        eod = pd.read_parquet(snapshot, columns=["symbol", "date", "close"])
        recent = eod[eod["date"] >= pd.Timestamp(decision - timedelta(days=10))]
        with transaction(_engine(ws)) as s:
            api.store_prices(s, ((r.symbol, r.date.date(), Decimal(str(r.close))) for r in recent.itertuples()), source="clean")
    _cache_fx_rates(run_dir, ws, policy, decision)
    if not ws.clean_path.exists():
        return StageResult("60_report", f"no clean data in {ws.clean_path} yet: reports skipped")
    # on a day stopped before or at the data stages, report as of the latest clean session if possible
    last = pd.read_parquet(ws.clean_path, columns=["date"])["date"].max()
    if pd.isna(last):
        return StageResult("60_report", f"the clean data in {ws.clean_path} is empty: reports skipped")
    as_of = min(decision, last.date())
    data_ok = any(g["name"] == "data_quality" and g["passed"] for g in read_all_gates(run_dir))
    try:
        written = publish_reports(ws, policy, universe, as_of, generated_at=run_time(policy, session_day), run_dir=run_dir)
    except DataError as err:
        if data_ok:
            raise
        return StageResult("60_report", f"reports skipped: the data stages did not pass today ({err})")
    return StageResult("60_report", f"reports as of {as_of}", files=[str(p) for p in written])
