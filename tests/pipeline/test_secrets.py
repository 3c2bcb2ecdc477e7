"""No secret reaches the run archive or the run's own output (issue 19).

Every secret-bearing variable is set: a PostgreSQL URL with a password (the
test server trusts any password), an SMTP login, a webhook URL whose path is
the secret (as Slack's are) and a dashboard token.  Both channels point at
closed ports on 127.0.0.1, so every send fails and its error (which names the
URL's path) is retried, logged and noted.  The run is the real command line
in a subprocess, so its stdout and stderr are what cron would log; then every
file of the workspace (archive, tickets, reports, alert store, logs) and both
streams are searched for each secret and each of its parts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tradeops.demo import prepare_workspace, start_ledger

pytestmark = pytest.mark.slow

FIRST = date(2025, 1, 6)
PG_PASSWORD = "pgSecretPw4411"
SMTP_PASSWORD = "smtpSecretPw7723"
HOOK_PATH = "/services/T0SECRET/B0SECRET/hookPathSecret"
TOKEN = "dashTokenSecret-0123456789"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("db_backend", ["postgresql"])  # conftest's db_url: a fresh schema on the test server
def test_no_secret_or_part_of_one_in_the_archive_or_the_output(tmp_path, db_url):
    if True:
        db_url = make_url(db_url).set(password=PG_PASSWORD).render_as_string(hide_password=False)
        assert PG_PASSWORD in db_url
        ws = prepare_workspace(tmp_path / "ws")
        env = dict(os.environ)
        env.update(
            {
                "TRADEOPS_DB_URL": db_url,
                "TRADEOPS_SMTP_HOST": "127.0.0.1",
                "TRADEOPS_SMTP_PORT": str(closed_port()),
                "TRADEOPS_SMTP_USER": "trader",
                "TRADEOPS_SMTP_PASSWORD": SMTP_PASSWORD,
                "TRADEOPS_SMTP_FROM": "trader@example.invalid",
                "TRADEOPS_SMTP_TO": "owner@example.invalid",
                "TRADEOPS_SMTP_STARTTLS": "false",
                "TRADEOPS_WEBHOOK_URL": f"http://127.0.0.1:{closed_port()}{HOOK_PATH}?token={TOKEN}",
                "TRADEOPS_DASHBOARD_TOKEN": TOKEN,
                "TRADEOPS_FIXED_NOW": "2025-01-06T07:30:00+00:00",
            }
        )
        old = os.environ.get("TRADEOPS_DB_URL")
        os.environ["TRADEOPS_DB_URL"] = db_url
        try:
            start_ledger(ws, FIRST)
        finally:
            os.environ.pop("TRADEOPS_DB_URL") if old is None else os.environ.__setitem__("TRADEOPS_DB_URL", old)
        exe = Path(sys.executable).with_name("tradeops")
        out = subprocess.run(
            [str(exe), "run", "daily", "--date", FIRST.isoformat(), "--workdir", str(ws.root)], capture_output=True, text=True, env=env, timeout=900
        )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "NOT fully sent" in (next(ws.runs_dir.glob("*/*/manifest.json"))).read_text()  # the sends did fail
    assert "webhook" in out.stderr  # and were logged
    parts = [PG_PASSWORD, SMTP_PASSWORD, HOOK_PATH, TOKEN, *[p for p in HOOK_PATH.split("/") if p]]
    streams = {"stdout": out.stdout, "stderr": out.stderr}
    for name, text in streams.items():
        for secret in parts:
            assert secret not in text, f"{secret!r} in the run's {name}:\n{text}"
    files = [p for p in ws.root.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in files) and any(p.suffix == ".ipynb" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in parts:
            assert secret.encode() not in data, f"{secret!r} in {path}"
