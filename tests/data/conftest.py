"""Shared fixtures for the data-layer tests.

Real vendor files come from the ``shared_data`` fixture (tests/conftest.py:
``../shared/data`` beside the checkout, never copied into the project;
skipped when absent, failed when CI=true).  Stooq is served by a local
HTTP server: no test touches the network.
"""

from __future__ import annotations

import csv
import re
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tradeops.config import Policy, Universe, Workspace, parse_universe, universe_csv
from tradeops.data import build_clean, fetch
from tradeops.data.providers import AlphaVantageDirProvider, StooqProvider

AS_OF = date(2021, 4, 21)  # the last session of the AlphaVantage sample


class StooqServer:
    """A local stand-in for stooq.com/q/d/l/: scripted answers per symbol, every request recorded."""

    def __init__(self):
        self.answers: dict[str, list[tuple[int, bytes]]] = {}
        self.default: tuple[int, bytes] = (200, b"No data")
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                qs = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                server.requests.append(qs)
                queue = server.answers.get(qs.get("s", ""), [])
                status, body = queue.pop(0) if len(queue) > 1 else (queue[0] if queue else server.default)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/q/d/l/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def answer(self, symbol: str, *answers: tuple[int, bytes]) -> None:
        """Answers for a symbol, in order; the last one repeats."""
        self.answers[symbol] = list(answers)

    def provider(self, **kw) -> StooqProvider:
        session = requests.Session()
        session.trust_env = False  # never route localhost through a proxy
        kw = {"retries": 2, "backoff_seconds": 0.0, "min_interval": 0.0, "timeout": 5.0, **kw}
        return StooqProvider(session=session, base_url=self.url, **kw)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def av_policy(**quality) -> Policy:
    return Policy.model_validate({"data": {"primary": "alphavantage", "secondary": "stooq", "cross_check": False}, "quality": quality})


@pytest.fixture
def make_av_policy():
    """av_policy as a fixture: ``make_av_policy(min_coverage=...)``."""
    return av_policy


@pytest.fixture(scope="session")
def av_dir(shared_data) -> Path:
    return shared_data / "alphavantage-sp500" / "daily_adjusted"


@pytest.fixture(scope="session")
def spy_csv(shared_data) -> bytes:
    return (shared_data / "stooq-spy" / "spy.us.csv").read_bytes()


@pytest.fixture(scope="session")
def av_universe(shared_data, av_dir) -> Universe:
    """The 105 AlphaVantage file names + constituents.csv sectors, plus SPY (from Stooq)."""
    with open(shared_data / "alphavantage-sp500" / "constituents.csv", newline="") as fh:
        sectors = {r["Symbol"]: r["Sector"] for r in csv.DictReader(fh)}
    names = sorted(re.match(r"DA-(.+)-T-", p.name)[1] for p in av_dir.glob("DA-*-T-*.csv"))
    assert len(names) == 105
    rows = [(s, "stock", sectors.get(s, "")) for s in names] + [("SPY", "ETF", "Benchmark")]
    return parse_universe(universe_csv(rows), "SPY")


@pytest.fixture
def stooq_server():
    server = StooqServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def av_build(tmp_path_factory, av_dir, av_universe, spy_csv):
    """Fetch the 105 AlphaVantage files (+ SPY from the Stooq export) and build them once."""
    server = StooqServer()
    server.answer("spy.us", (200, spy_csv))
    try:
        ws = Workspace.at(tmp_path_factory.mktemp("av")).ensure()
        policy = av_policy()
        result = fetch(ws, policy, av_universe, AS_OF, "av1", providers=[AlphaVantageDirProvider(av_dir), server.provider()])
        report = build_clean(ws, policy, av_universe, AS_OF, result)
    finally:
        server.close()
    return ws, result, report
