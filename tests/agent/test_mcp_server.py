"""`tradeops mcp` end to end: a server subprocess and the SDK's own stdio client.

The answers are compared with what the files, the ledger's API, the CLI and
the run archive say for the same question; hostile inputs must come back as
clear tool errors with the workspace and the ledger byte-identical
afterwards; only ``--allow-fills`` adds a write tool, and it refuses what
the confirmation page refuses.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tradeops.config import policy_yaml_data

pytestmark = pytest.mark.slow

NOW = datetime(2025, 1, 6, 16, 0, tzinfo=timezone.utc)  # the server's TRADEOPS_FIXED_NOW (tests/agent/conftest.py)
CLIENT = "pytest-assistant"

READ_TOOLS = {
    "market_prices",
    "market_data_quality",
    "ledger_status",
    "ledger_pnl",
    "ledger_equity_curve",
    "ledger_ticket",
    "ledger_reconciliation",
    "ledger_alerts",
    "ledger_events",
    "research_backtest",
    "research_sweep",
    "research_score_universe",
    "risk_what_if",
    "ticket_explain",
}
FORBIDDEN = re.compile(r"kill|policy|order|issue|supersede|void|resume|snapshot|cash|split|edit|delete|restore", re.I)


def section(markdown: str, heading: str) -> str:
    """Lines from ``heading`` to the next ``## `` heading, read straight off the ticket file."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).strip()


# --------------------------------------------------------------------------- the tool list


def test_read_only_server_lists_typed_tools_and_no_write_tool(pipeline_ws, mcp_call):
    out = mcp_call(pipeline_ws.ws.root, pipeline_ws.db_url, [])
    assert set(out.tools) == READ_TOOLS  # no write_fills without --allow-fills, and nothing else that writes
    assert not [name for name in out.tools if FORBIDDEN.search(name)]
    for tool in out.tools.values():
        assert tool.input_schema["type"] == "object" and tool.description.strip()
        assert tool.annotations.read_only_hint is True
    prices = out.tools["market_prices"].input_schema
    assert prices["required"] == ["symbols", "start", "end"]
    assert prices["properties"]["symbols"]["maxItems"] == 25
    assert prices["properties"]["symbols"]["items"]["pattern"].startswith("^[A-Z0-9]")
    assert prices["properties"]["start"]["format"] == "date"
    sweep = out.tools["research_sweep"].input_schema
    assert "kill_switch_drawdown" not in sweep["properties"]["parameter"]["enum"]
    assert sweep["properties"]["values"]["maxItems"] == 5
    params = out.tools["risk_what_if"].input_schema["$defs"]["Parameters"]
    assert params["additionalProperties"] is False
    assert params["properties"]["max_positions"]["anyOf"][0]["maximum"] == 100


# --------------------------------------------------------------------------- market data


def test_market_tools_answer_from_the_clean_file(pipeline_ws, mcp_call):
    ws = pipeline_ws.ws
    raw = pd.read_parquet(ws.clean_path, columns=["symbol", "date", "close", "adj_close", "volume"])
    sessions = sorted(raw["date"].unique())
    start, end = pd.Timestamp(sessions[-150]).date(), pd.Timestamp(sessions[-1]).date()
    calls = [("market_prices", {"symbols": ["AAPL", "KO"], "start": str(start), "end": str(end), "page": p}) for p in (1, 2)]
    calls.append(("market_data_quality", {}))
    out = mcp_call(ws.root, pipeline_ws.db_url, calls)
    page1, page2, quality = (a.data for a in out.answers)

    assert (page1["pages"], page1["rows_total"], len(page1["rows"]), len(page2["rows"])) == (2, 300, 200, 100)
    got = page1["rows"] + page2["rows"]
    for sym in ("AAPL", "KO"):
        want = raw[raw["symbol"] == sym].sort_values("date")
        want = want.assign(ret=want["adj_close"] / want["adj_close"].shift(1) - 1)
        want = want[want["date"] >= pd.Timestamp(start)]
        rows = [r for r in got if r["symbol"] == sym]
        assert [r["date"] for r in rows] == [d.date().isoformat() for d in want["date"]]
        assert [r["close"] for r in rows] == pytest.approx(list(want["close"]), abs=1e-6)
        assert [r["volume"] for r in rows] == [int(v) for v in want["volume"]]
        assert [r["return"] for r in rows] == pytest.approx(list(want["ret"]), abs=1e-6)

    report = json.loads((ws.quality_dir / "quality.json").read_text())
    assert quality["trade_allowed"] == report["trade_allowed"] and quality["as_of"] == report["as_of"] == str(end)
    assert [c["name"] for c in quality["checks"]] == [c["name"] for c in report["checks"]]
    assert [c["passed"] for c in quality["checks"]] == [c["passed"] for c in report["checks"]]
    assert quality["excluded"]["rows_total"] == len(report["excluded"])


# --------------------------------------------------------------------------- ledger (SQLite and PostgreSQL)


def test_ledger_tools_agree_with_the_cli_and_the_api(agent_ws, mcp_call, digest, monkeypatch, capsys):
    from tradeops.cli import main
    from tradeops.clock import FixedClock
    from tradeops.ledger import api, db
    from tradeops.ledger.gates import drawdown

    ws, url = agent_ws.ws, agent_ws.db_url
    engine = db.make_engine(url)
    with db.transaction(engine, FixedClock(NOW)) as s:  # an event too long for a log row
        api.record_event(s, "OWNER_NOTE", {"text": "x" * 5000}, actor="owner")
    engine.dispose()
    before = digest(ws.root, url)
    out = mcp_call(
        ws.root,
        url,
        [
            ("ledger_status", {}),
            ("ledger_pnl", {"as_of": "2025-01-03"}),
            ("ledger_equity_curve", {}),
            ("ledger_ticket", {}),
            ("ledger_ticket", {"ticket_id": agent_ws.ticket_id}),
            ("ledger_events", {"kind": "FILL_RECORDED"}),
            ("ledger_alerts", {}),
            ("ledger_reconciliation", {}),
            ("ledger_events", {"kind": "TICKET_RECORDED"}),
            ("ledger_events", {"kind": "OWNER_NOTE"}),
        ],
    )
    status, pnl, curve, latest, ticket, fills, alerts, recon, tickets, note = out.answers
    assert digest(ws.root, url) == before  # reading changed nothing

    # the CLI's answer to the same question
    monkeypatch.setenv("TRADEOPS_DB_URL", url)
    assert main(["ledger", "status", "--workdir", str(ws.root)]) == 0
    printed = capsys.readouterr().out.splitlines()
    cash_line = re.match(r"account main: cash ([\d,.]+) USD", printed[0])
    assert Decimal(status.data["cash"]) == Decimal(cash_line.group(1).replace(",", ""))
    cli_positions = {m.group(1): Decimal(m.group(2)) for m in (re.match(r"^  (\S+)\s+([\d.]+)$", ln) for ln in printed) if m}
    assert {k: Decimal(v) for k, v in status.data["positions"].items()} == cli_positions == {"AAPL": 5, "KO": 4}
    unconfirmed = [ln for ln in printed if ln.startswith("unconfirmed:")]
    assert len(status.data["unconfirmed"]) == len(unconfirmed) == 3
    assert any(ln.startswith(f"kill switch {status.data['kill_switch']['value']}; state ") for ln in printed)

    # the API's answers, marks read straight from the clean file
    eod = pd.read_parquet(ws.clean_path, columns=["symbol", "date", "close"])
    day = eod[eod["date"] == pd.Timestamp("2025-01-03")]
    marks = {s: Decimal(repr(float(c))).quantize(Decimal("0.0001")) for s, c in zip(day["symbol"], day["close"]) if s in ("AAPL", "KO")}
    series = {s: {d.date(): Decimal(repr(float(c))).quantize(Decimal("0.0001")) for d, c in zip(g["date"], g["close"])} for s, g in eod.groupby("symbol")}
    engine = db.make_engine(url)
    try:
        with db.transaction(engine) as s:
            want_pnl = api.compute_pnl(s, marks, as_of=pd.Timestamp("2025-01-03 21:00", tz="UTC").to_pydatetime())
            want_curve = api.compute_equity_curve(s, series)
            want_dd = drawdown(api.compute_equity_curve(s, series, start=api.last_resume(s)))
            lines = api.line_statuses(s, agent_ws.ticket_id)
            want_fills = api.events(s, kind="FILL_RECORDED")
            want_tickets = api.events(s, kind="TICKET_RECORDED")
    finally:
        engine.dispose()
    assert Decimal(pnl.data["unrealized"]) == want_pnl.unrealized and Decimal(pnl.data["total"]) == want_pnl.total
    assert {s: Decimal(p["unrealized"]) for s, p in pnl.data["by_symbol"].items()} == {s: p.unrealized for s, p in want_pnl.by_symbol.items()}
    assert [(r["day"], Decimal(r["equity"])) for r in curve.data["rows"]] == [(p.day.isoformat(), p.equity) for p in want_curve]
    assert Decimal(curve.data["drawdown"]["drawdown"]) == round(want_dd.drawdown, 6)
    assert latest.data == ticket.data and ticket.data["ticket_id"] == agent_ws.ticket_id
    assert [(ln["line_no"], ln["side"], ln["symbol"], ln["value"]) for ln in ticket.data["lines"]] == [
        (st.line.line_no, st.line.side, st.line.symbol, str(st.line.value)) for st in lines
    ]
    assert all(ln["fill"] is None for ln in ticket.data["lines"])
    assert [e["id"] for e in fills.data["rows"]] == [e.id for e in want_fills]
    assert [e["actor"] for e in fills.data["rows"]] == [e.actor for e in want_fills] and fills.data["more"] is False
    assert [(e["ticket_id"], e["payload"]) for e in tickets.data["rows"]] == [(e.ticket_id, e.payload) for e in want_tickets]
    assert tickets.data["rows"][0]["ticket_id"] == agent_ws.ticket_id
    assert [e["actor"] for e in note.data["rows"]] == ["owner"] and "omitted" in note.data["rows"][0]["payload"]
    assert alerts.data["rows"] == []
    assert recon.is_error and "no broker snapshot" in recon.text  # the demo ledger has none: a clear error, not a traceback
    assert "Traceback" not in out.stderr


# --------------------------------------------------------------------------- research and the risk guard


def test_risk_what_if_gives_the_tickets_trades_and_reasons_and_writes_nothing(pipeline_ws, mcp_call, digest):
    ws, url = pipeline_ws.ws, pipeline_ws.db_url
    before = digest(ws.root, url)
    out = mcp_call(
        ws.root,
        url,
        [
            ("risk_what_if", {}),
            ("risk_what_if", {"parameters": {"max_positions": 12, "target_positions": 10, "min_cash_buffer": 0.05}}),
            ("research_score_universe", {"signal": "momentum", "top": 15}),
            ("ticket_explain", {"ticket_id": pipeline_ws.ticket_id}),
        ],
    )
    same, smaller, scores, why = (a.data for a in out.answers)
    assert digest(ws.root, url) == before  # ledger, archive, tickets: byte-identical

    approved = json.loads((pipeline_ws.run_dir / "approved.json").read_text())
    ticket = json.loads((ws.tickets_dir / f"{pipeline_ws.ticket_id}.json").read_text())
    assert same["kind"] == approved["kind"] == ticket["kind"] == "TRADE"
    assert same["trades"] == approved["trades"]
    assert same["rules"] == approved["rules"] == ticket["rules"]
    assert [(t["side"], t["symbol"], t["value"]) for t in same["trades"]] == [(ln["side"], ln["symbol"], ln["value"]) for ln in ticket["lines"]]

    assert smaller["what_if"]["parameters"] == {"max_positions": 12, "target_positions": 10, "min_cash_buffer": 0.05}
    assert 0 < len(smaller["trades"]) <= 12 and len(smaller["trades"]) < len(same["trades"])
    assert Decimal(smaller["cash_after"]) >= Decimal("0.05") * Decimal(smaller["equity"])
    assert {r["rule"] for r in smaller["rules"]} == {r["rule"] for r in same["rules"]}

    archived = pd.read_csv(pipeline_ws.run_dir / "signals" / "2025-01-03.csv").head(15)
    assert [(r["rank"], r["symbol"], r["selected"]) for r in scores["top"]] == list(zip(archived["rank"], archived["symbol"], archived["selected"]))
    assert scores["session"] == "2025-01-03"

    md = (ws.tickets_dir / f"{pipeline_ws.ticket_id}.md").read_text(encoding="utf-8")
    assert why["why_text"] == section(md, "## Why")
    assert why["why"] == ticket["why"] and why["archive"] == str(pipeline_ws.run_dir.relative_to(ws.root))


def test_risk_what_if_matches_the_risk_command_on_the_same_book(agent_ws, mcp_call, digest, tmp_path):
    from tradeops.cli import main
    from tradeops.ledger import api, db

    ws, url = agent_ws.ws, agent_ws.db_url
    before = digest(ws.root, url)
    out = mcp_call(
        ws.root,
        url,
        [
            ("risk_what_if", {"session": "2025-01-03", "rebalance": True}),
            ("risk_what_if", {"session": "2025-01-03", "rebalance": True, "parameters": {"max_weight": 0.05}}),
        ],
    )
    what_if, capped = (a.data for a in out.answers)
    assert digest(ws.root, url) == before  # ledger rows, archive, tickets: unchanged

    book = what_if["what_if"]["portfolio"]
    engine = db.make_engine(url)
    try:
        with db.transaction(engine) as s:
            cash, positions = api.compute_cash(s).amount, api.compute_positions(s)
    finally:
        engine.dispose()
    assert Decimal(book["cash"]) == cash and {k: Decimal(v) for k, v in book["positions"].items()} == positions

    # `tradeops signal` + `tradeops risk` on the same book, in a scratch folder outside the workspace
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "portfolio.json").write_text(json.dumps(book))
    assert main(["signal", "--workdir", str(ws.root), "--session", "2025-01-03", "--run-dir", str(scratch)]) == 0
    assert main(["risk", "--workdir", str(ws.root), "--session", "2025-01-03", "--run-dir", str(scratch), "--rebalance"]) == 0
    approved = json.loads((scratch / "approved.json").read_text())
    assert {k: v for k, v in what_if.items() if k != "what_if"} == approved
    assert approved["kind"] == "TRADE" and any(t["side"] == "SELL" for t in approved["trades"])  # the demo's AAPL/KO leave

    assert capped["what_if"]["parameters"] == {"max_weight": 0.05}
    equity = Decimal(capped["equity"])
    new_buys = [Decimal(t["value"]) for t in capped["trades"] if t["side"] == "BUY" and t["symbol"] not in positions]
    assert new_buys and max(new_buys) <= Decimal("0.05") * equity + Decimal("0.01") < max(Decimal(t["value"]) for t in what_if["trades"] if t["side"] == "BUY")
    assert digest(ws.root, url) == before


def test_research_backtest_and_sweep_match_the_api(pipeline_ws, mcp_call, digest):
    from tradeops import metrics
    from tradeops.config import parse_policy
    from tradeops.research.backtest import run_backtest

    ws, url = pipeline_ws.ws, pipeline_ws.db_url
    start, end = "2024-11-15", "2025-01-03"
    before = digest(ws.root, url)
    out = mcp_call(
        ws.root,
        url,
        [
            ("research_backtest", {"start": start, "end": end, "parameters": {"lookback_12w": 126}}),
            ("research_sweep", {"parameter": "max_positions", "values": [16, 20], "start": start, "end": end}),
        ],
    )
    bt, sweep = (a.data for a in out.answers)
    after = digest(ws.root, url)
    # the backtest's report is the one file written, under reports/research/; nothing else changed
    report = Path(bt["report"])
    assert report.parent == ws.root / "reports" / "research" and report.name.startswith("backtest-")
    written = {p for p in after["files"] if p not in before["files"]}
    assert written == {str(report)}
    assert {k: v for k, v in after["files"].items() if k not in written} == before["files"]
    assert after["ledger"] == before["ledger"]
    page = report.read_text()
    assert "Backtest: momentum on" in page and f"{start} .. {end}" in page
    assert f"{bt['fills']} fills" in page and "Decisions" in page and "Drawdown halts" in page
    assert "tearsheet" in page.lower() or "quantstats" in page.lower()
    # the same question names the same file with the same bytes
    again = mcp_call(ws.root, url, [("research_backtest", {"start": start, "end": end, "parameters": {"lookback_12w": 126}})])
    assert again.answers[0].data["report"] == bt["report"] and report.read_text() == page

    eod = pd.read_parquet(ws.clean_path)
    base = policy_yaml_data(ws.policy())

    def api_answer(section_path, value):
        data = copy.deepcopy(base)
        node = data
        for key in section_path[:-1]:
            node = node[key]
        node[section_path[-1]] = value
        policy = parse_policy(data)
        r = run_backtest(eod, policy, ws.universe(policy), date.fromisoformat(start), date.fromisoformat(end))
        return metrics.summary(r.returns), len(r.trades)

    want, fills = api_answer(("strategy", "momentum", "lookback_12w"), 126)
    assert bt["fills"] == fills and bt["parameters"] == {"lookback_12w": 126}
    assert bt["metrics"]["total_return"] == pytest.approx(want["total_return"], abs=1e-6)
    assert bt["metrics"]["sharpe"] == pytest.approx(want["sharpe"], abs=1e-6)
    for row in sweep["results"]:
        want, fills = api_answer(("portfolio", "max_positions"), int(row["value"]))
        assert row["fills"] == fills and row["metrics"]["total_return"] == pytest.approx(want["total_return"], abs=1e-6)


# --------------------------------------------------------------------------- hostile input


HOSTILE = [
    ("market_prices", {"symbols": ["AAPL'; DROP TABLE fills; --"], "start": "2025-01-02", "end": "2025-01-03"}, "pattern"),
    ("market_prices", {"symbols": ["../../etc/passwd"], "start": "2025-01-02", "end": "2025-01-03"}, "pattern"),
    ("market_prices", {"symbols": ["ZZZZ"], "start": "2025-01-02", "end": "2025-01-03"}, "unknown symbol 'ZZZZ'"),
    ("market_prices", {"symbols": ["AAPL"], "start": "1900-01-01", "end": "2999-12-31"}, "out of range; the clean data covers 2023-10-25..2025-01-03"),
    ("market_prices", {"symbols": ["AAPL"], "start": "2025-01-03", "end": "2024-01-02"}, "is after end"),
    ("market_prices", {"symbols": [f"S{i}" for i in range(26)], "start": "2025-01-02", "end": "2025-01-03"}, "at most 25"),
    ("market_prices", {"symbols": "AAPL", "start": "2025-01-02", "end": "2025-01-03"}, "valid list"),
    ("market_prices", {"symbols": ["AAPL"], "start": 20250102, "end": "2025-01-03"}, "start"),
    ("market_prices", {"symbols": ["AAPL"], "start": "2025-01-02", "end": "2025-01-03", "page": 99}, "past the last page"),
    ("market_data_quality", {"page": -1}, "greater than or equal to 1"),
    ("ledger_pnl", {"as_of": "2025-01-03' OR '1'='1"}, "as_of"),
    ("ledger_equity_curve", {"start": "2025-01-03", "end": "2024-01-01"}, "is after end"),
    ("ledger_equity_curve", {"page": 10**9}, "less than or equal to 10000"),
    ("ledger_ticket", {"ticket_id": "TICKET-20250106' OR 1=1 --"}, "pattern"),
    ("ledger_ticket", {"ticket_id": "../../data/ledger.sqlite"}, "pattern"),
    ("ledger_ticket", {"ticket_id": "TICKET-19990101"}, "is not in the ledger"),
    ("ledger_events", {"kind": "FILL'; DELETE FROM events; --"}, "pattern"),
    ("ledger_events", {"page": "all"}, "page"),
    ("research_backtest", {"start": "2000-01-03", "end": "2025-01-03"}, "out of range"),
    ("research_backtest", {"start": "2023-10-25", "end": "2025-01-03"}, "at most 260"),
    ("research_backtest", {"parameters": {"lookback_12w": -5}}, "greater than or equal to 1"),
    ("research_backtest", {"parameters": {"target_positions": 50}}, "target_positions must lie in [min_positions, max_positions]"),
    ("research_backtest", {"parameters": {"kill_switch_drawdown": 0.99}}, "Extra inputs are not permitted"),
    ("research_backtest", {"parameters": {"signal": "qlib_lgbm"}}, "signal"),
    ("research_sweep", {"parameter": "kill_switch_drawdown", "values": [0.5]}, "parameter"),
    ("research_sweep", {"parameter": "max_positions", "values": [1, 2, 3, 4, 5, 6]}, "at most 5"),
    ("research_sweep", {"parameter": "lookback_12w", "values": [1.5]}, "whole numbers"),
    ("research_score_universe", {"top": 10**9}, "less than or equal to 100"),
    ("research_score_universe", {"session": "2026-01-05"}, "out of range"),
    ("research_score_universe", {"session": "2024-12-28"}, "is not an exchange session"),
    ("risk_what_if", {"parameters": {"max_positions": 1000}}, "less than or equal to 100"),
    ("risk_what_if", {"session": "2031-01-02"}, "out of range"),
    ("risk_what_if", {"rebalance": "yes please"}, "rebalance"),
    ("ticket_explain", {"ticket_id": "../../../etc/passwd"}, "pattern"),
    ("ticket_explain", {"ticket_id": "TICKET-20990101"}, "no run archive"),
    ("ticket_explain", {}, "ticket_id"),
    ("write_fills", {"ticket_id": "TICKET-20250106", "lines": [{"line_no": 1, "status": "executed"}]}, "Unknown tool: write_fills"),
    ("set_kill_switch", {"on": False}, "Unknown tool: set_kill_switch"),
    ("issue_ticket", {}, "Unknown tool: issue_ticket"),
]


def test_hostile_inputs_get_clear_errors_and_change_nothing(agent_ws, mcp_call, digest):
    ws, url = agent_ws.ws, agent_ws.db_url
    before = digest(ws.root, url)
    out = mcp_call(ws.root, url, [(name, args) for name, args, _ in HOSTILE])
    for (name, args, expected), answer in zip(HOSTILE, out.answers):
        assert answer.is_error, (name, args, answer.text)
        assert expected in answer.text, (name, args, answer.text)
        assert "Traceback" not in answer.text and 'File "' not in answer.text
    assert "Traceback" not in out.stderr  # every refusal was anticipated, none a crash
    assert digest(ws.root, url) == before


# --------------------------------------------------------------------------- the one write


def _page_outcome(agent_ws, entries):
    """What the confirmation page answers for the same entries, on the same ledger, at the same time."""
    from tradeops.clock import FixedClock
    from tradeops.dashboard import actions
    from tradeops.ledger import db

    ws = agent_ws.ws
    policy = ws.policy()
    engine = db.make_engine(agent_ws.db_url)
    try:
        return actions.confirm(
            engine,
            agent_ws.ticket_id,
            entries,
            {},
            tickets_dir=ws.tickets_dir,
            root=ws.root,
            policy=policy,
            tz=ZoneInfo(policy.schedule.timezone),
            actor="page-check",
            clock=FixedClock(NOW),
        )
    finally:
        engine.dispose()


def test_write_fills_only_with_allow_fills_and_refused_exactly_as_on_the_page(agent_ws, mcp_call, digest):
    from tradeops.dashboard.validation import LineEntry
    from tradeops.ledger import api, db

    ws, url, tid = agent_ws.ws, agent_ws.db_url, agent_ws.ticket_id
    engine = db.make_engine(url)
    with db.transaction(engine) as s:
        line_of = {st.line.symbol: st.line.line_no for st in api.line_statuses(s, tid)}
    engine.dispose()
    out_of_band = {"line_no": line_of["AVGO"], "status": "executed", "units": "4.52", "price": "320.00", "time": "14:40"}  # ref 294.81 +- 3%
    oversold = {"line_no": line_of["AAPL"], "status": "executed", "units": "6", "price": "141.00", "time": "14:40"}  # 5 held
    good = {"line_no": line_of["AVGO"], "status": "executed", "units": "4.52", "price": "295.00", "time": "14:40"}

    before = digest(ws.root, url)
    refused = mcp_call(
        ws.root,
        url,
        [
            ("write_fills", {"ticket_id": tid, "lines": [out_of_band]}),
            ("write_fills", {"ticket_id": tid, "lines": [oversold]}),
            ("write_fills", {"ticket_id": tid, "lines": [good, oversold]}),  # all or nothing: the good line is not written either
            ("write_fills", {"ticket_id": tid, "lines": [good, good]}),
            ("write_fills", {"ticket_id": tid, "lines": [{**good, "status": "bought"}]}),
            ("write_fills", {"ticket_id": "../../tickets/x", "lines": [good]}),
        ],
        allow_fills=True,
        client=CLIENT,
    )
    assert set(refused.tools) == READ_TOOLS | {"write_fills"}
    assert refused.tools["write_fills"].annotations.read_only_hint is False
    assert all(a.is_error for a in refused.answers), [a.text for a in refused.answers]
    assert digest(ws.root, url) == before  # nothing was written by any refused submission

    for answer, lines in zip(refused.answers[:3], ([out_of_band], [oversold], [good, oversold])):
        page = _page_outcome(agent_ws, {ln["line_no"]: LineEntry(**{k: v for k, v in ln.items() if k != "line_no"}) for ln in lines})
        assert not page.ok and page.message in answer.text
        for key, message in page.errors.items():
            if key != "form":
                assert message in answer.text, (key, message, answer.text)
    assert "outside this line's band" in refused.answers[0].text
    assert "The ledger holds only 5 AAPL shares" in refused.answers[1].text
    assert "given twice" in refused.answers[3].text
    assert "status" in refused.answers[4].text and "pattern" in refused.answers[5].text
    assert digest(ws.root, url) == before  # the page refused them too, and wrote nothing

    explained = {
        "line_no": line_of["MSFT"],
        "status": "executed",
        "units": "2.27",
        "price": "440.00",
        "time": "14:45",
        "explanation": "the price jumped at the open; the owner approved filling at market",
    }
    written = mcp_call(
        ws.root,
        url,
        [
            ("write_fills", {"ticket_id": tid, "lines": [good, explained]}),
            ("write_fills", {"ticket_id": tid, "lines": [good]}),
            ("ledger_ticket", {"ticket_id": tid}),
        ],
        allow_fills=True,
        client=CLIENT,
    )
    saved, again, view = written.answers
    assert saved.data["saved_lines"] == sorted([line_of["AVGO"], line_of["MSFT"]]) and saved.data["actor"] == f"mcp:{CLIENT}"
    assert again.is_error and "already confirmed" in again.text
    engine = db.make_engine(url)
    with db.transaction(engine) as s:
        events = api.events(s, kind="FILL_RECORDED", ticket_id=tid)
        statuses = {st.line.symbol: st.fill for st in api.line_statuses(s, tid)}
    engine.dispose()
    assert [e.actor for e in events] == [f"mcp:{CLIENT}"] * 2
    assert statuses["AVGO"].price == Decimal("295.00") and statuses["AVGO"].units == Decimal("4.52")
    assert statuses["MSFT"].override_reason == explained["explanation"] and statuses["AAPL"] is None
    shown = {ln["symbol"]: ln["fill"] for ln in view.data["lines"]}
    assert shown["AVGO"]["actor"] == f"mcp:{CLIENT}" and shown["AAPL"] is None


# --------------------------------------------------------------------------- streamable HTTP (optional transport)


def test_streamable_http_needs_loopback_and_the_token(pipeline_ws, tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from tradeops.dashboard.server import free_port

    ws = pipeline_ws.ws
    token = "t0ken-for-this-test-only-7f3a"
    base = [sys.executable, "-c", "import sys; from tradeops.cli import main; sys.exit(main())", "mcp", "--workdir", str(ws.root), "--http"]
    env = {**os.environ, "TRADEOPS_DB_URL": pipeline_ws.db_url, "TRADEOPS_FIXED_NOW": NOW.isoformat(), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for extra, token_env, message in (([], "short", "at least 16 characters"), (["--host", "0.0.0.0"], token, "127.0.0.1 (or localhost) only")):
        done = subprocess.run(base + extra, env={**env, "TRADEOPS_MCP_TOKEN": token_env}, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr
    port = free_port()
    log = (tmp_path / "http.log").open("w")
    proc = subprocess.Popen(base + ["--port", str(port)], env={**env, "TRADEOPS_MCP_TOKEN": token}, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/mcp"
        assert httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status_code == 401
        wrong = httpx2.post(url, json={}, headers={"Authorization": "Bearer " + token[:-1] + "x"})
        assert wrong.status_code == 401

        async def ask():
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
                async with Client(streamable_http_client(url, http_client=http)) as c:
                    names = {t.name for t in (await c.list_tools()).tools}
                    r = await c.call_tool("ledger_status", {})
                    return names, r

        names, answer = anyio.run(ask)
        assert names == READ_TOOLS and not answer.is_error
        assert Decimal(json.loads(answer.content[0].text)["cash"]) == ws.policy().account.starting_cash  # start_ledger's one deposit
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_research_backtest_runs_the_engine_the_cli_would(pipeline_ws):
    """The research tools backtest on the array engine where `tradeops backtest` would (the one
    rule, tradeops.research.study.choose_engine): it decides like the exact engine (the same
    fills and decisions, equity within 1e-6), and a whole-units or non-USD policy falls back to
    the exact engine."""
    from tradeops.agent.limits import _decision_counts
    from tradeops.agent.tools import Toolbox
    from tradeops.research.array_engine import ArrayResult
    from tradeops.research.backtest import BacktestResult, run_backtest
    from tradeops.research.study import choose_engine

    box = Toolbox(pipeline_ws.ws)
    policy = box.policy()
    start, end = date(2024, 11, 15), date(2025, 1, 3)
    assert choose_engine("array", policy.strategy.signal, policy)[0]
    answer = box._backtest(policy, start, end)
    assert answer["engine"] == "array" and isinstance(box._run_backtest(policy, start, end), ArrayResult)
    exact = run_backtest(box.eod(), policy, box.universe(policy), start, end)
    assert answer["fills"] == len(exact.trades) > 0
    assert answer["decisions"] == _decision_counts(exact)
    assert answer["final_equity"] == pytest.approx(float(exact.equity.iloc[-1]), rel=1e-6)
    whole = policy.model_copy(update={"portfolio": policy.portfolio.model_copy(update={"fractional_units": False})})
    gbp = policy.model_copy(update={"account": policy.account.model_copy(update={"account_currency": "GBP"})})
    assert not choose_engine("array", gbp.strategy.signal, gbp)[0]  # (a research backtest of it needs FX rates: not run here)
    assert not choose_engine("array", whole.strategy.signal, whole)[0]
    assert isinstance(box._run_backtest(whole, start, end), BacktestResult)
    assert box._backtest(whole, start, end)["engine"] == "exact"
