"""The daily run end to end: real papermill, real kernels, the demo data
provider, a SQLite ledger in a temporary workspace.

A short demo loop (4 sessions around the 2025-01-09 closure) is run once
for the module; fault tests each get a fresh workspace.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import select

from tradeops.clock import FixedClock
from tradeops.config import Workspace
from tradeops.daily import list_runs, run_daily, verify_run
from tradeops.demo import PaperFillModel, paper_execute, prepare_workspace, run_demo, start_ledger
from tradeops.errors import TradeopsError
from tradeops.ledger import api, db
from tradeops.ledger.models import Fill
from tradeops.runner import EXIT_INTERNAL, EXIT_NO_TRADE, EXIT_OK, NOTEBOOK_DIR
from tradeops.stages import run_time

pytestmark = pytest.mark.slow

STAGES = ["00_preflight", "10_fetch", "20_clean_qa", "30_signal", "40_risk", "50_ticket", "60_report"]
SECRETS = {"TRADEOPS_SMTP_PASSWORD": "s3cr3t-smtp-pw-913", "TRADEOPS_WEBHOOK_URL": "https://hooks.example.invalid/T0/SECRET-77"}
FIRST = date(2025, 1, 6)


def run_on_schedule(ws, day: date, **kwargs):
    """The daily run for ``day`` with the clock at its scheduled time (07:30 UK that morning)."""
    return run_daily(ws, day, clock=FixedClock(run_time(ws.policy(), day)), **kwargs)


@pytest.fixture(scope="module", params=["GBP", "USD"])
def demo(request, tmp_path_factory):
    """run_demo over 6..10 Jan 2025 (9 Jan closed) with secrets in the environment, on a GBP workspace
    (a new one's default) and on a USD one (``account_currency``)."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in SECRETS.items():
            mp.setenv(k, v)
        mp.setenv("TRADEOPS_DB_URL", "placeholder")  # run_demo points it at its own ledger; restored afterwards
        summary = run_demo(tmp_path_factory.mktemp("demo") / "demo", sessions=4, end=date(2025, 1, 10), echo=lambda *_: None, account_currency=request.param)
        summary.account_currency = request.param
        yield summary


def ledger_facts(ws):
    engine = db.make_engine(ws.db_url())
    with db.transaction(engine) as s:
        facts = (api.compute_positions(s), api.compute_cash(s).amount, len(api.events(s, kind="FILL_RECORDED")))
    engine.dispose()
    return facts


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A workspace with the demo provider, an initialised ledger and its starting cash."""
    ws = prepare_workspace(tmp_path / "ws")
    monkeypatch.setenv("TRADEOPS_DB_URL", ws.default_db_url)
    start_ledger(ws, FIRST)
    return ws


def ticket_json(ws, result) -> dict:
    return json.loads((ws.tickets_dir / f"TICKET-{result.session_date:%Y%m%d}.json").read_text())


# --------------------------------------------------------------------------- the happy path


def test_demo_loop_issues_one_ticket_per_session(demo):
    kinds = [(r.session_date, r.ticket_kind, r.exit_code) for r in demo.results]
    assert kinds[0] == (date(2025, 1, 6), "TRADE", EXIT_OK)  # first rebalance of the week
    assert [k for _, k, _ in kinds[1:]] == ["HOLD", "HOLD", "HOLD"]  # mid-week: tiny deltas, nothing to do
    assert [d for d, _, _ in kinds] == [date(2025, 1, 6), date(2025, 1, 7), date(2025, 1, 8), date(2025, 1, 10)]
    for r in demo.results:
        assert (demo.workdir / "tickets" / f"TICKET-{r.session_date:%Y%m%d}.md").exists()


def test_every_run_is_archived_completely(demo):
    for r in demo.results:
        run = r.run_dir
        for stage in STAGES:
            nb = nbformat.read(run / f"{stage}.ipynb", as_version=4)
            assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{stage} has no outputs"
            assert (run / f"{stage}.html").stat().st_size > 1000
        m = json.loads((run / "manifest.json").read_text())
        for key in ("run_id", "session_date", "decision_session", "started_at", "finished_at", "git", "package_version", "code_hash"):
            assert m[key], key
        assert set(m["hashes"]) >= {"policy.yml", "universe.csv", "eod.parquet"}
        assert [s["stage"] for s in m["stages"]] == STAGES and all(s["status"] == "ok" for s in m["stages"])
        assert all(s["parameters"]["session_date"] == r.session_date.isoformat() for s in m["stages"])
        assert {g["name"] for g in m["gates"]} >= {"kill_switch", "drawdown", "confirmations", "reconciliation", "data_quality", "ticket_sanity"}
        assert all(g["passed"] for g in m["gates"])
        assert (m["ticket_id"], m["ticket_kind"], m["exit_code"]) == (r.ticket_id, r.ticket_kind, 0)
        for name in ("portfolio.json", "eod.parquet", "quality.json", "approved.json", "proposed.json", "inputs/policy.yml"):
            assert (run / name).exists(), name
        assert (run / "signals" / f"{m['decision_session']}.csv").exists()


def test_fills_and_reports_follow_the_tickets(demo):
    ws = Workspace.at(demo.workdir)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRADEOPS_DB_URL", ws.default_db_url)
        positions, cash, fills = ledger_facts(ws)
    trade = json.loads((demo.workdir / "tickets" / "TICKET-20250106.json").read_text())
    assert fills == len(trade["lines"]) and len(positions) >= 1
    assert Decimal(0) < cash < Decimal(10000)
    assert trade["account_currency"] == demo.account_currency and ("fx_rate" in trade) == (demo.account_currency == "GBP")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRADEOPS_DB_URL", ws.default_db_url)
        engine = db.make_engine(ws.db_url())
        with db.transaction(engine) as s:
            assert api.get_account(s).currency == api.compute_cash(s).currency == demo.account_currency
            booked = [f for f in s.scalars(select(Fill)) if f.status != "NOT_EXECUTED"]
        engine.dispose()
    assert booked and {f.currency for f in booked} == {demo.account_currency}
    if demo.account_currency == "GBP":  # the paper fills paid in pounds at the ticket's rate, the conversion fee in the fees
        assert Decimal(trade["fx_rate"]) in {f.fx_rate for f in booked}
        assert all(f.fx_rate != 1 and f.fees > 0 for f in booked)
    assert (demo.workdir / "reports" / "daily.md").exists() and (demo.workdir / "reports" / "weekly.md").exists()


def test_secrets_never_reach_the_archive(demo):
    for path in demo.workdir.rglob("*"):
        if path.is_file() and path.suffix in {".ipynb", ".html", ".json", ".md", ".yml", ".csv", ".log"}:
            text = path.read_text(errors="replace")
            for secret in SECRETS.values():
                assert secret not in text, f"{secret} found in {path}"


def test_runs_verify_reproduces_the_ticket(demo, tmp_path):
    ws = Workspace.at(demo.workdir)
    trade_run = demo.results[0].run_dir.name
    ok, message = verify_run(ws, trade_run, tmp_path / "v1")
    assert ok, message
    assert "matches the ledger" in message and "files match the manifest" in message
    assert {m.run_id for m in list_runs(ws)} >= {r.run_dir.name for r in demo.results}


def test_every_run_is_sealed_in_the_ledger(demo):
    ws = Workspace.at(demo.workdir)
    engine = db.make_engine(ws.default_db_url)
    for r in demo.results:
        if r.run_dir is None or r.status != "done":
            continue
        m = json.loads((r.run_dir / "manifest.json").read_text())
        on_disk = {p.relative_to(r.run_dir).as_posix() for p in r.run_dir.rglob("*") if p.is_file()}
        assert set(m["files"]) == on_disk - {"manifest.json"}  # every file of the run folder
        for name, digest in m["files"].items():
            assert hashlib.sha256((r.run_dir / name).read_bytes()).hexdigest() == digest
        seal = hashlib.sha256((r.run_dir / "manifest.json").read_bytes()).hexdigest()
        assert r.seal == seal
        with db.transaction(engine) as s:
            assert api.run_seals(s, r.run_dir.name) == [seal]
    engine.dispose()


def _alter_json(path: Path, *keys) -> None:
    data = json.loads(path.read_text())
    node = data
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = "0" * 40 if node[keys[-1]] is None else str(node[keys[-1]])[:-1] + "0"
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


ALTERATIONS = {
    "markdown ticket": ("TICKET-20250107.md", lambda p: p.write_text(p.read_text().replace("SELL", "BUY", 1) + "\n")),
    "json ticket": ("TICKET-20250107.json", lambda p: p.write_bytes(p.read_bytes().replace(b"\n", b" \n", 1))),
    "executed notebook": ("30_signal.ipynb", lambda p: p.write_text(p.read_text().replace("momentum", "m0mentum", 1))),
    "html export": ("40_risk.html", lambda p: p.write_bytes(p.read_bytes() + b"<!-- edited -->")),
    "portfolio": ("portfolio.json", lambda p: p.write_text(p.read_text().replace("1", "2", 1))),
    "parquet": ("eod.parquet", lambda p: p.write_bytes(p.read_bytes() + b"x")),
    "config input": ("inputs/policy.yml", lambda p: p.write_text(p.read_text() + "# edited\n")),
    "manifest git commit": ("manifest.json", lambda p: _alter_json(p, "git", "commit")),
    "manifest policy hash": ("manifest.json", lambda p: _alter_json(p, "hashes", "policy_canonical")),
}


@pytest.mark.parametrize("kind", ALTERATIONS)
def test_verify_names_each_altered_file(demo, tmp_path, monkeypatch, kind):
    ws = Workspace.at(demo.workdir)
    monkeypatch.setenv("TRADEOPS_DB_URL", ws.default_db_url)  # the seals are in the demo's ledger
    run = demo.results[1].run_dir
    name, alter = ALTERATIONS[kind]
    copy = Workspace.at(tmp_path / "ws")
    shutil.copytree(run, copy.runs_dir / run.parent.name / run.name)
    target = copy.runs_dir / run.parent.name / run.name / name
    before = target.read_bytes()
    alter(target)
    assert target.read_bytes() != before
    ok, message = verify_run(copy, run.name, tmp_path / "v2")
    assert not ok and "the archive was altered" in message
    assert f"{name} changed" in message, message
    others = [n for n in json.loads((run / "manifest.json").read_text())["files"] if n != name]
    assert not any(f"{n} changed" in message for n in others)  # only the altered file is named


def test_verify_names_a_removed_and_an_added_file(demo, tmp_path, monkeypatch):
    ws = Workspace.at(demo.workdir)
    monkeypatch.setenv("TRADEOPS_DB_URL", ws.default_db_url)
    run = demo.results[1].run_dir
    copy = Workspace.at(tmp_path / "ws")
    target = copy.runs_dir / run.parent.name / run.name
    shutil.copytree(run, target)
    (target / "approved.json").unlink()
    (target / "notes.txt").write_text("added later")
    ok, message = verify_run(copy, run.name, tmp_path / "v3")
    assert not ok and "approved.json missing" in message and "notes.txt added" in message


def test_ops_report_phase_a_exit_criterion(demo):
    from tradeops.opsreport import collect, longest_streak, render

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRADEOPS_DB_URL", Workspace.at(demo.workdir).default_db_url)
        rows = collect(Workspace.at(demo.workdir))
    assert [r.session for r in rows] == ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10"]
    assert all(r.data_quality and r.reconciliation and r.confirmed and r.reports for r in rows)
    assert all(r.seconds_to_ticket > 0 and r.quality_pass_share == 1.0 and r.cash_drift == 0 for r in rows)
    assert rows[0].confirmation_minutes is not None and rows[1].confirmation_minutes is None  # HOLD: nothing to confirm
    assert longest_streak(rows) == 4 and "exit criterion HOLDS" in render(rows)


# --------------------------------------------------------------------------- one ticket per session


def test_second_run_for_a_session_issues_nothing_and_supersede_rules(fresh):
    ws = fresh
    first = run_on_schedule(ws, FIRST)
    assert first.ticket_kind == "TRADE"
    again = run_on_schedule(ws, FIRST)
    assert again.status == "existing_ticket" and again.exit_code == EXIT_OK and "already exists" in again.message
    assert len(list((ws.runs_dir / "2025-01-06").iterdir())) == 1  # no second run folder
    original = {p.name: p.read_bytes() for p in ws.tickets_dir.glob("TICKET-20250106.*")}
    assert set(original) == {"TICKET-20250106.md", "TICKET-20250106.json"}
    replaced = run_on_schedule(ws, FIRST, supersede_reason="universe file corrected")
    assert replaced.ticket_id == "TICKET-20250106-R2" and replaced.exit_code == EXIT_OK
    # the R2 ticket sits beside the original, whose files are untouched
    assert {p.name: p.read_bytes() for p in ws.tickets_dir.glob("TICKET-20250106.*")} == original
    r2 = json.loads((ws.tickets_dir / "TICKET-20250106-R2.json").read_text())
    assert r2["ticket_id"] == "TICKET-20250106-R2" and "TICKET-20250106-R2" in (ws.tickets_dir / "TICKET-20250106-R2.md").read_text()
    assert (replaced.run_dir / "TICKET-20250106-R2.json").exists()
    ok, message = verify_run(ws, replaced.run_dir.name, ws.root.parent / "verify-r2")
    assert ok, message
    paper_execute(ws, replaced, PaperFillModel(not_executed_rate=0, partial_rate=0))
    with pytest.raises(TradeopsError, match="cannot be superseded: fills"):
        run_on_schedule(ws, FIRST, supersede_reason="too late")


def test_cron_firings_run_the_session_once_at_0730_uk(fresh):
    """Both cron firings of a winter Monday on a UTC machine (06:30 and 07:30 UTC), then a
    second scheduler firing in the slot: one run, one ticket."""
    from datetime import datetime, timezone

    clock = FixedClock(datetime(2025, 1, 6, 6, 30, tzinfo=timezone.utc))  # 06:30 GMT: an hour early
    early = run_daily(fresh, clock=clock, on_schedule=True)
    assert (early.exit_code, early.status) == (EXIT_OK, "not_the_slot") and not list(fresh.runs_dir.glob("*/*"))
    clock.set(datetime(2025, 1, 6, 7, 30, tzinfo=timezone.utc))  # 07:30 GMT: the slot
    due = run_daily(fresh, clock=clock, on_schedule=True)
    assert due.status == "done" and due.ticket_id == "TICKET-20250106" and due.exit_code == EXIT_OK, due.message
    m = json.loads((due.run_dir / "manifest.json").read_text())
    assert m["parameters"]["scheduled_at"].startswith("2025-01-06T07:30:00")
    clock.set(datetime(2025, 1, 6, 7, 30, 40, tzinfo=timezone.utc))  # e.g. a systemd timer as well
    again = run_daily(fresh, clock=clock, on_schedule=True)
    assert (again.exit_code, again.status) == (EXIT_OK, "existing_ticket")
    assert len(list(fresh.runs_dir.glob("*/*/manifest.json"))) == 1


def test_market_closed(fresh):
    r = run_on_schedule(fresh, date(2025, 1, 9))
    assert (r.exit_code, r.status, r.ticket_id) == (EXIT_OK, "market_closed", None)
    assert not list(fresh.tickets_dir.glob("TICKET-*"))


# --------------------------------------------------------------------------- faults


def _no_trade(ws, result, code, *needles):
    assert result.exit_code == code, result.message
    t = ticket_json(ws, result)
    assert t["kind"] == "NO-TRADE"
    text = json.dumps(t["failures"])
    for n in needles:
        assert n in text, f"{n!r} not in {text}"
    return t


def test_kill_switch_blocks_and_leaves_the_ledger_unchanged(fresh):
    engine = db.make_engine(fresh.db_url())
    with db.transaction(engine) as s:
        api.set_kill_switch(s, True, "owner on holiday", actor="owner")
    before = ledger_facts(fresh)
    r = run_on_schedule(fresh, FIRST)
    _no_trade(fresh, r, EXIT_NO_TRADE, "kill_switch", "owner on holiday")
    assert ledger_facts(fresh) == before
    m = json.loads((r.run_dir / "manifest.json").read_text())
    assert [s["stage"] for s in m["stages"]] == ["00_preflight", "50_ticket", "60_report"]  # stopped at the first failed gate
    with db.transaction(engine) as s:
        assert api.current_state(s).value == "HALT"
        assert api.open_ticket(s, FIRST).kind == "NO-TRADE"
        api.set_kill_switch(s, False, "back from holiday", actor="owner")
    # HALT persists across runs until an explicit resume
    held = run_on_schedule(fresh, date(2025, 1, 7))
    _no_trade(fresh, held, EXIT_NO_TRADE, "kill_switch", "the state is HALT", "tradeops resume")
    with db.transaction(engine) as s:
        api.resume(s, "holiday over, account reviewed", actor="owner")
    resumed = run_on_schedule(fresh, date(2025, 1, 8))
    assert (resumed.exit_code, resumed.ticket_kind) == (EXIT_OK, "TRADE")  # the week's rebalance is still due


def _broken_notebooks(tmp_path: Path, stage: str, code: str) -> Path:
    nbdir = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, nbdir, ignore=shutil.ignore_patterns("research"))
    nb = nbformat.read(nbdir / f"{stage}.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(code))
    nbformat.write(nb, nbdir / f"{stage}.ipynb")
    return nbdir


def test_a_stage_that_raises(fresh, tmp_path):
    nbdir = _broken_notebooks(tmp_path, "30_signal", "raise RuntimeError('signal exploded on purpose')")
    before = ledger_facts(fresh)
    r = run_on_schedule(fresh, FIRST, notebook_dir=nbdir)
    _no_trade(fresh, r, EXIT_INTERNAL, "30_signal", "signal exploded on purpose")
    assert "signal exploded on purpose" in (r.run_dir / "30_signal.ipynb").read_text()
    assert (r.run_dir / "30_signal.html").exists()
    assert ledger_facts(fresh) == before


def test_a_kernel_killed_mid_stage(fresh, tmp_path):
    nbdir = _broken_notebooks(tmp_path, "40_risk", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    r = run_on_schedule(fresh, FIRST, notebook_dir=nbdir)
    _no_trade(fresh, r, EXIT_INTERNAL, "40_risk", "dead kernel")
    assert (r.run_dir / "40_risk.ipynb").exists()


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("TRADEOPS_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    yield _Hook.received
    server.shutdown()


def test_the_data_provider_down(fresh, tmp_path, webhook):
    policy = fresh.policy_path.read_text().replace("primary: demo", "primary: alphavantage")
    empty = tmp_path / "no-files"
    empty.mkdir()
    fresh.policy_path.write_text(policy.replace("alphavantage_dir: null", f"alphavantage_dir: {empty}"))
    r = run_on_schedule(fresh, FIRST)
    _no_trade(fresh, r, EXIT_NO_TRADE, "data_quality")
    m = json.loads((r.run_dir / "manifest.json").read_text())
    assert any("no good data yet" in n and "failed the gate" in n for n in m["notes"]), m["notes"]
    snapshot = json.loads((r.run_dir / "snapshot.json").read_text())
    assert snapshot["promoted"] is False and m["hashes"]["clean_snapshot"] == snapshot["sha256"]
    assert not fresh.clean_pointer.exists()  # nothing became current
    texts = [json.dumps(m) for m in webhook]
    assert any("TICKET-20250106" in t and "NO-TRADE" in t for t in texts), texts  # the ticket goes out
    assert any("Data quality failed for 2025-01-03" in t for t in texts), texts  # and the alert, once
    again = len(webhook)
    run_on_schedule(fresh, FIRST, supersede_reason="provider back?")
    assert sum("Data quality failed for 2025-01-03" in json.dumps(m) for m in webhook[again:]) == 0


def test_the_database_unreachable(fresh, monkeypatch):
    monkeypatch.setenv("TRADEOPS_DB_URL", "postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2")
    r = run_on_schedule(fresh, FIRST)
    t = _no_trade(fresh, r, EXIT_INTERNAL, "00_preflight")
    assert t["ticket_id"] == "TICKET-20250106"
    m = json.loads((r.run_dir / "manifest.json").read_text())
    assert any("not recorded in the ledger" in n for n in m["notes"])
    # the ledger comes back: the session's next ticket takes a new id, never the NO-TRADE's
    monkeypatch.setenv("TRADEOPS_DB_URL", fresh.default_db_url)
    later = run_on_schedule(fresh, FIRST)
    assert later.ticket_id == "TICKET-20250106-R2" and later.ticket_kind in ("TRADE", "HOLD"), later.message
    assert json.loads((fresh.tickets_dir / "TICKET-20250106.json").read_text())["kind"] == "NO-TRADE"  # kept as it was
    assert json.loads((fresh.tickets_dir / "TICKET-20250106-R2.json").read_text())["ticket_id"] == later.ticket_id


def test_previous_ticket_unconfirmed(fresh):
    first = run_on_schedule(fresh, FIRST)
    assert first.ticket_kind == "TRADE"
    r = run_on_schedule(fresh, date(2025, 1, 7))
    _no_trade(fresh, r, EXIT_NO_TRADE, "confirmations", "TICKET-20250106 line 1")


# --------------------------------------------------------------------------- bad configuration


@pytest.fixture
def inbox(monkeypatch):
    """A local SMTP server (aiosmtpd) on 127.0.0.1 that the run's email goes to."""
    import socket

    from aiosmtpd.controller import Controller

    class Inbox:
        messages: list = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    box = Inbox()
    box.messages = []
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    for k, v in {
        "TRADEOPS_SMTP_HOST": "127.0.0.1",
        "TRADEOPS_SMTP_PORT": str(port),
        "TRADEOPS_SMTP_STARTTLS": "false",
        "TRADEOPS_SMTP_FROM": "tradeops@example.org",
        "TRADEOPS_SMTP_TO": "owner@example.org",
    }.items():
        monkeypatch.setenv(k, v)
    yield box.messages
    controller.stop()


def test_a_corrupted_policy_still_ends_in_a_no_trade_ticket(fresh, webhook, inbox):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    corrupted = fresh.policy_path.read_text().replace("max_weight:", "max_wieght:", 1)
    assert corrupted != fresh.policy_path.read_text()
    fresh.policy_path.write_text(corrupted)
    at = FixedClock(datetime(2025, 1, 6, 7, 30, tzinfo=ZoneInfo("Europe/London")))
    r = run_daily(fresh, clock=at, on_schedule=True)
    assert (r.exit_code, r.status, r.ticket_kind, r.session_date) == (2, "config_invalid", "NO-TRADE", FIRST)
    assert r.ticket_id.startswith("TICKET-20250106-CONFIG-")
    ticket = json.loads((fresh.tickets_dir / f"{r.ticket_id}.json").read_text())
    md = (fresh.tickets_dir / f"{r.ticket_id}.md").read_text()
    assert ticket["kind"] == "NO-TRADE" and ticket["reason"] == "configuration invalid"
    assert "max_wieght" in ticket["failures"][0]["message"] and "unknown key" in ticket["failures"][0]["message"]
    assert "configuration invalid" in md and "max_wieght" in md and "Do not trade today" in md
    # the failed attempt is archived as found, and sealed
    m = json.loads((r.run_dir / "manifest.json").read_text())
    assert m["status"] == "config_invalid" and m["exit_code"] == 2 and m["ticket_id"] == r.ticket_id
    assert (r.run_dir / "inputs" / "policy.yml").read_text() == corrupted
    assert set(m["files"]) == {"inputs/policy.yml", "inputs/universe.csv", f"{r.ticket_id}.md", f"{r.ticket_id}.json"}
    assert any("sent" in n and "NOT" not in n for n in m["notes"]), m["notes"]
    engine = db.make_engine(fresh.db_url())
    with db.transaction(engine) as s:
        assert api.run_seals(s, r.run_dir.name) == [r.seal]
        [event] = api.config_failures(s)  # the bad-config run's own event, beside its seal
        assert (event.payload["run_id"], event.payload["session_date"], event.ticket_id) == (r.run_dir.name, "2025-01-06", r.ticket_id)
        assert "max_wieght" in event.payload["message"] and "unknown key" in event.payload["message"]
    engine.dispose()
    assert f"recorded in the ledger's event log as {api.RUN_CONFIG_INVALID}" in m["notes"]
    from tradeops.opsreport import collect, config_failures, render

    assert f"run {r.run_dir.name}, {r.ticket_id}: " in render(collect(fresh), config_failures(fresh)).split("## Invalid configuration", 1)[1]
    # the notification reached both local servers
    assert any(r.ticket_id in json.dumps(h) and "NO-TRADE" in json.dumps(h) for h in webhook), webhook
    assert len(inbox) == 1 and r.ticket_id.encode() in inbox[0].content
    # the other cron firing that day does nothing
    at.set(datetime(2025, 1, 6, 8, 30, tzinfo=ZoneInfo("Europe/London")))
    again = run_daily(fresh, clock=at, on_schedule=True)
    assert (again.exit_code, again.status) == (EXIT_OK, "not_the_slot") and "configuration is invalid" in again.message
    assert len(list((fresh.runs_dir / "2025-01-06").iterdir())) == 1


def test_bad_config_through_the_command_line_exits_2_with_the_ticket(fresh):
    import os
    import subprocess
    import sys

    fresh.policy_path.write_text("risk: [this is not: valid yaml\n")
    exe = Path(sys.executable).with_name("tradeops")
    done = subprocess.run(
        [str(exe), "run", "daily", "--date", "2025-01-06", "--workdir", str(fresh.root)],
        capture_output=True,
        text=True,
        env={**os.environ, "TRADEOPS_FIXED_NOW": "2025-01-06T07:30:00+00:00"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "configuration invalid" in done.stdout and "not valid YAML" in done.stdout
    assert "TICKET-20250106-CONFIG-" in done.stdout and "seal: sha256" in done.stdout
    assert len(list(fresh.tickets_dir.glob("TICKET-20250106-CONFIG-*.md"))) == 1


def test_a_drawdown_breach_sells_to_cash_then_halts(fresh):
    """Fills with a 250.00 fee per line lose 25% or more of the 10,000 account at once: the next run's
    drawdown gate fails, and instead of freezing the book it issues a TRADE ticket of SELL lines
    closing every position the ledger holds, then the state is HALT; the run after that is
    NO-TRADE until an explicit resume."""
    first = run_on_schedule(fresh, FIRST)
    assert first.ticket_kind == "TRADE"
    paper_execute(fresh, first, PaperFillModel(not_executed_rate=0, partial_rate=0, fee=Decimal("250")))
    held, cash, _ = ledger_facts(fresh)
    engine = db.make_engine(fresh.db_url())
    with db.transaction(engine) as s:
        fees = sum(Decimal(e.payload["fees"]) for e in api.events(s, kind="FILL_RECORDED"))
    assert held and fees >= Decimal("2500")  # the loss that the drawdown gate has to see

    breach = run_on_schedule(fresh, date(2025, 1, 7))
    assert breach.exit_code == EXIT_NO_TRADE, breach.message  # a gate failed: the scheduler alerts
    t = ticket_json(fresh, breach)
    assert t["kind"] == "TRADE" and t["state"] == "HALT" and t["failures"] == []
    assert {(ln["side"], ln["symbol"], ln["close_position"], Decimal(ln["units"])) for ln in t["lines"]} == {("SELL", s, True, u) for s, u in held.items()}
    assert "Risk-off" in t["headline"] and t["why"]["risk_off"]["applied"]
    gates = {g["name"]: g for g in json.loads((breach.run_dir / "manifest.json").read_text())["gates"]}
    assert not gates["drawdown"]["passed"] and gates["kill_switch"]["passed"]
    with db.transaction(engine) as s:
        assert api.current_state(s).value == "HALT"
    paper_execute(fresh, breach, PaperFillModel(not_executed_rate=0, partial_rate=0))
    assert ledger_facts(fresh)[0] == {}  # all cash

    halted = run_on_schedule(fresh, date(2025, 1, 8))
    _no_trade(fresh, halted, EXIT_NO_TRADE, "the state is HALT", "tradeops resume")
    engine.dispose()
