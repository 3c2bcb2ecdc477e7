"""How Voilà serves the page: on 127.0.0.1 by default, with a token when exposed.

:func:`launch_spec` builds the command line and environment (used by
``tradeops dashboard``, the browser test and the benchmark):

- the workspace goes to the kernel as ``TRADEOPS_HOME`` (``TRADEOPS_DB_URL``
  passes through unchanged);
- any host other than 127.0.0.1 / localhost / ::1 needs
  ``TRADEOPS_DASHBOARD_TOKEN`` (at least 16 characters) in the environment;
  a token, when set, is handed to Jupyter Server as ``JUPYTER_TOKEN``, so it
  never appears on the command line or in the log;
- tracebacks are hidden (``show_tracebacks=False``), code cells are stripped
  and Voilà serves no other file;
- the browser's messages may be up to 64 MB, so a screenshot over the 5 MB
  limit reaches the page and is refused there with a message.

:func:`running` starts it in its own process group and always ends that
group (Voilà and its kernels) on exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

from ..errors import ConfigError

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dashboard.ipynb"
TOKEN_ENV = "TRADEOPS_DASHBOARD_TOKEN"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
MIN_TOKEN_LENGTH = 16
DEFAULT_PORT = 8866
# a browser message bigger than this closes the page's connection; well above uploads.MAX_BYTES, so an
# oversized screenshot reaches the page and is refused with a message instead of vanishing
WEBSOCKET_MAX_BYTES = 64 * 1024 * 1024
# after a page takes the pre-heated kernel, start the next one this much later: not while the page
# being opened (and the executor's first entries) still compete for the CPU: a kernel start is 2-4 s of CPU on
# a busy 2-core machine (a page opened sooner gets a kernel started for it, as before)
REFILL_DELAY_S = 30.0
# the JupyterLab extensions the page loads: the widgets and Voilà's widget manager for ipywidgets 8 (pinned)
PAGE_EXTENSIONS = ["@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/widgets-manager8"]
FORK_PROVISIONER = "tradeops-fork"  # tradeops.kernel_fork.NAME, its entry point in pyproject.toml


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    host: str
    port: int
    token: bool

    @property
    def url(self) -> str:
        return f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}/"


def launch_spec(
    workdir: str | Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT, environ: Mapping[str, str] = os.environ, notebook: Path = NOTEBOOK
) -> Launch:
    """The Voilà command and environment for ``workdir``; ConfigError when it would be unsafe."""
    if not 1 <= int(port) <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port (1..65535)")
    if not notebook.is_file():
        raise ConfigError(f"the page's notebook is missing: {notebook}")
    token = (environ.get(TOKEN_ENV) or "").strip()
    if host not in LOCAL_HOSTS and not token:
        raise ConfigError(
            f"--host {host} exposes the confirmation page beyond this machine: set {TOKEN_ENV} in the environment "
            f'(a secret of at least {MIN_TOKEN_LENGTH} characters, e.g. from `python -c "import secrets; print(secrets.token_urlsafe(24))"`), '
            "or keep the default --host 127.0.0.1"
        )
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"{TOKEN_ENV} is {len(token)} characters long; use at least {MIN_TOKEN_LENGTH}")
    env = {k: v for k, v in environ.items() if k not in ("JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE", TOKEN_ENV)}
    env["TRADEOPS_HOME"] = str(Path(workdir).resolve())
    argv = [
        sys.executable,
        "-m",
        "tradeops.dashboard.serve",
        str(notebook),
        "--no-browser",
        f"--port={int(port)}",
        f"--Voila.ip={host}",
        "--show_tracebacks=False",
        "--strip_sources=True",
        "--theme=light",
        "--VoilaConfiguration.file_allowlist=[]",
        # the page's scripts: Voilà's and the widgets' only, not every JupyterLab extension installed beside them
        f"--VoilaConfiguration.extension_allowlist={PAGE_EXTENSIONS}",
        f"--Voila.tornado_settings={{'websocket_max_message_size': {WEBSOCKET_MAX_BYTES}}}",
        # one kernel started with the server and kept waiting: it imports the package ahead and reads the
        # ledger only when a page asks for it (notebooks/dashboard.ipynb waits for the request)
        "--preheat_kernel=True",
        "--pool_size=1",
        f"--VoilaKernelManager.fill_delay={REFILL_DELAY_S}",
        # its kernels are forked from a fork server that imported the page's modules while the server
        # started (tradeops.dashboard.serve), instead of each starting an interpreter and importing
        f"--KernelProvisionerFactory.default_provisioner_name={FORK_PROVISIONER}",
    ]
    if token:
        env["JUPYTER_TOKEN"] = token
        argv.append("--token")
    return Launch(argv, env, host, int(port), bool(token))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End the process group started by :func:`running` (Voilà and its kernels)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass


@contextmanager
def running(launch: Launch, log_path: Path, timeout: float = 60.0) -> Iterator[subprocess.Popen]:
    """Start Voilà, wait until it listens, yield the process; always stop it afterwards."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(launch.argv, env=launch.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while not _listening(launch.host, launch.port):
                if proc.poll() is not None:
                    raise RuntimeError(f"Voilà exited with code {proc.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Voilà did not listen on {launch.host}:{launch.port} within {timeout:.0f} s; see {log_path}")
                time.sleep(0.05)
            yield proc
        finally:
            stop(proc)
