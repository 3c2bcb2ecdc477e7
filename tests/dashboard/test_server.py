"""How the page is served (localhost by default, a token when exposed), the CLI, and the thin notebook."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import nbformat
import pytest
from click.testing import CliRunner

from tradeops.cli.dashboard import COMMANDS, dashboard
from tradeops.dashboard import server
from tradeops.errors import ConfigError

TOKEN = "a-long-enough-secret-token"


def test_localhost_needs_no_token_and_hides_tracebacks(tmp_path):
    launch = server.launch_spec(tmp_path, environ={"PATH": "/bin", "TRADEOPS_DB_URL": "postgresql+psycopg://x@db/l"})
    argv = " ".join(launch.argv)
    assert launch.argv[:3] == [sys.executable, "-m", "tradeops.dashboard.serve"] and str(server.NOTEBOOK) in launch.argv
    assert "--preheat_kernel=True" in launch.argv and "--pool_size=1" in launch.argv
    assert f"--KernelProvisionerFactory.default_provisioner_name={server.FORK_PROVISIONER}" in launch.argv
    assert "--Voila.ip=127.0.0.1" in argv and "--port=8866" in argv and "--show_tracebacks=False" in argv
    assert "--strip_sources=True" in argv and "--token" not in launch.argv and not launch.token
    assert f"'websocket_max_message_size': {server.WEBSOCKET_MAX_BYTES}" in argv  # an oversized screenshot reaches the page's check
    assert launch.env["TRADEOPS_HOME"] == str(tmp_path.resolve())
    assert launch.env["TRADEOPS_DB_URL"] == "postgresql+psycopg://x@db/l" and "JUPYTER_TOKEN" not in launch.env
    assert launch.url == "http://127.0.0.1:8866/"


def test_the_fork_provisioner_is_installed_under_the_name_the_server_asks_for():
    """pyproject.toml's entry point: jupyter_client finds tradeops.kernel_provisioner.ForkProvisioner by that name."""
    from jupyter_client.provisioning import KernelProvisionerFactory

    from tradeops.kernel_fork import NAME
    from tradeops.kernel_provisioner import ForkProvisioner

    assert server.FORK_PROVISIONER == NAME
    assert KernelProvisionerFactory.instance().provisioners[NAME].load() is ForkProvisioner


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_any_other_host_needs_a_token(tmp_path, host):
    with pytest.raises(ConfigError, match="TRADEOPS_DASHBOARD_TOKEN"):
        server.launch_spec(tmp_path, host, environ={})
    with pytest.raises(ConfigError, match="at least 16"):
        server.launch_spec(tmp_path, host, environ={server.TOKEN_ENV: "short"})
    launch = server.launch_spec(tmp_path, host, 9000, environ={server.TOKEN_ENV: TOKEN, "JUPYTER_TOKEN": "stale"})
    assert launch.token and "--token" in launch.argv and f"--Voila.ip={host}" in launch.argv
    assert launch.env["JUPYTER_TOKEN"] == TOKEN and server.TOKEN_ENV not in launch.env
    assert TOKEN not in " ".join(launch.argv) and TOKEN not in launch.url and TOKEN not in repr(launch)


def test_a_token_set_for_localhost_is_used_too(tmp_path):
    launch = server.launch_spec(tmp_path, "localhost", environ={server.TOKEN_ENV: TOKEN})
    assert launch.token and launch.env["JUPYTER_TOKEN"] == TOKEN


def test_bad_port_and_missing_notebook(tmp_path):
    with pytest.raises(ConfigError, match="not a TCP port"):
        server.launch_spec(tmp_path, port=70000, environ={})
    with pytest.raises(ConfigError, match="notebook is missing"):
        server.launch_spec(tmp_path, environ={}, notebook=tmp_path / "nope.ipynb")


def test_cli_refuses_to_expose_the_page_without_a_token(tmp_path):
    assert COMMANDS == [dashboard]
    result = CliRunner().invoke(dashboard, ["--workdir", str(tmp_path), "--host", "0.0.0.0"], env={server.TOKEN_ENV: ""})
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "exposes the confirmation page" in str(result.exception)
    help_text = CliRunner().invoke(dashboard, ["--help"]).output
    assert "--host" in help_text and "127.0.0.1" in help_text and "--port" in help_text


def test_the_notebook_is_thin():
    nb = nbformat.read(server.NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 1 and code[0].outputs == [] and code[0].execution_count is None
    tree = ast.parse(code[0].source)
    assert not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.While, ast.Lambda)) for n in ast.walk(tree))
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert [i.module for i in imports] == ["tradeops.dashboard"]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert [c.func.id for c in calls] == ["wait_for_request", "app_from_env"]  # wait (a pre-heated kernel), then read the ledger
    assert "select" not in code[0].source.lower() and "parameters" not in code[0].metadata.get("tags", [])


def test_the_page_imports_neither_pandas_nor_numpy_before_it_is_shown(tmp_path):
    """First paint: the package import (the pre-heated kernel's wait) and the page's build from a demo ledger
    stay clear of pandas and numpy (a second or more of CPU on a busy machine); the exchange calendar, which
    needs them, loads in the background once the page is shown."""
    from tradeops.dashboard.demo import create_demo

    ws, _url, _ticket = create_demo(tmp_path / "ws")
    code = (
        "import sys, threading\n"
        "from tradeops.dashboard import app_from_env\n"
        "threading.Thread.start = lambda self: None  # the background calendar load: after first paint\n"
        "app_from_env()\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'pandas_market_calendars') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRADEOPS_DB_URL"} | {"TRADEOPS_HOME": str(ws.root)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
