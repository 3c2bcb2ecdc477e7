"""Fixtures for the MCP server tests.

``pipeline_ws``: one real daily run (demo data provider, papermill, SQLite
ledger) for Monday 2025-01-06, once per test session: clean parquet, quality
report, run archive and ticket.  ``agent_ws``: a copy of its config, clean
data, archive and tickets with its own ledger on ``db_url`` (SQLite and
PostgreSQL) holding the confirmation page's demo (a deposit, AAPL and KO
bought, an OPEN three-line ticket for 2025-01-06).

``mcp_call`` starts ``tradeops mcp`` in a subprocess and talks to it with
the SDK's own client over stdio (one server per call of the fixture).
``digest`` hashes the workspace's files and every ledger row, to show a
call changed nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
SESSION = date(2025, 1, 6)
NOW = datetime(2025, 1, 6, 16, 0, tzinfo=timezone.utc)  # after the 14:35-15:30 window of the 2025-01-06 ticket
CLIENT = "pytest-assistant"


@pytest.fixture(scope="session")
def pipeline_ws(tmp_path_factory):
    from tradeops.clock import FixedClock
    from tradeops.daily import run_daily
    from tradeops.demo import prepare_workspace, start_ledger
    from tradeops.stages import run_time

    with pytest.MonkeyPatch.context() as mp:
        ws = prepare_workspace(tmp_path_factory.mktemp("agent") / "pipeline", account_currency="USD")
        mp.setenv("TRADEOPS_DB_URL", ws.default_db_url)
        start_ledger(ws, SESSION)
        result = run_daily(ws, SESSION, clock=FixedClock(run_time(ws.policy(), SESSION)))
    assert result.exit_code == 0 and result.ticket_kind == "TRADE", result
    return SimpleNamespace(ws=ws, db_url=ws.default_db_url, run_dir=result.run_dir, ticket_id=result.ticket_id)


@pytest.fixture
def agent_ws(pipeline_ws, db_url, tmp_path):
    from tradeops.clock import FixedClock
    from tradeops.dashboard.demo import create_demo

    root = tmp_path / "ws"
    src = pipeline_ws.ws.root
    for sub in ("config", "data/clean", "runs", "tickets"):
        shutil.copytree(src / sub, root / sub)
    ws, url, ticket_id = create_demo(root, db_url, session=SESSION, clock=FixedClock(datetime(2025, 1, 6, 12, 0, tzinfo=timezone.utc)))
    return SimpleNamespace(ws=ws, db_url=url, ticket_id=ticket_id)


# --------------------------------------------------------------------------- talking to the server


@dataclass
class Answer:
    is_error: bool
    text: str

    @property
    def data(self):
        assert not self.is_error, self.text
        return json.loads(self.text)


def _server_params(root: Path, db_url: str, allow_fills: bool):
    from mcp import StdioServerParameters

    args = ["-c", "import sys; from tradeops.cli import main; sys.exit(main())", "mcp", "--workdir", str(root)]
    if allow_fills:
        args.append("--allow-fills")
    env = {"PYTHONPATH": str(REPO), "TRADEOPS_DB_URL": db_url, "TRADEOPS_FIXED_NOW": NOW.isoformat()}
    return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(root))


def _run(root: Path, db_url: str, calls, allow_fills: bool = False, client: str = CLIENT):
    import anyio
    from mcp import Client
    from mcp.client.stdio import stdio_client
    from mcp.types import Implementation

    log = Path(root).parent / f"mcp-server-{uuid.uuid4().hex[:8]}.log"

    async def main():
        with log.open("w") as errlog:
            async with Client(
                stdio_client(_server_params(root, db_url, allow_fills), errlog=errlog),
                client_info=Implementation(name=client, version="1"),
                read_timeout_seconds=300,
            ) as c:
                tools = {t.name: t for t in (await c.list_tools()).tools}
                answers = []
                for name, args in calls:
                    r = await c.call_tool(name, args)
                    answers.append(Answer(bool(r.is_error), "\n".join(getattr(x, "text", "") for x in r.content)))
                return tools, answers

    tools, answers = anyio.run(main)
    return SimpleNamespace(tools=tools, answers=answers, stderr=log.read_text())


@pytest.fixture
def mcp_call():
    """``mcp_call(root, db_url, [(tool, args), ...], allow_fills=False)`` -> ``.tools`` (by name), ``.answers``, ``.stderr``."""
    return _run


# --------------------------------------------------------------------------- "nothing changed"


def _ledger_rows(db_url: str) -> str:
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(db_url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        h = hashlib.sha256()
        with engine.connect() as conn:
            for name in sorted(meta.tables):
                table = meta.tables[name]
                h.update(name.encode())
                for row in conn.execute(select(table).order_by(*table.primary_key.columns or table.columns)):
                    h.update(repr(tuple(row)).encode())
        return h.hexdigest()
    finally:
        engine.dispose()


def _files(root: Path, extra: list[Path]) -> dict[str, str]:
    paths = [p for p in sorted(root.rglob("*")) if p.is_file()] + [p for p in extra if p.exists()]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture
def digest():
    """``digest(root, db_url)``: hashes of every file under the workspace (and the SQLite file) and of every ledger row."""

    def take(root: Path, db_url: str) -> dict:
        extra = [Path(db_url.removeprefix("sqlite:///"))] if db_url.startswith("sqlite:///") else []
        return {"files": _files(Path(root), extra), "ledger": _ledger_rows(db_url)}

    return take
