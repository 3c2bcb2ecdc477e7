"""Run kernels forked from a process that has already imported the stages' modules.

A run's kernel spends most of its start-up importing (pandas, SQLAlchemy, the calendars,
parquet: about 1.2 s on this machine idle, more under load) before the first stage can
start; a process that runs several runs (the bench, the tests, ``runs verify``, a retired
kernel's successor) paid it once per kernel.  The standard library's fork server
(:mod:`multiprocessing.forkserver`) is a single-threaded process started once per parent
that imports a list of modules and then forks a child for each request: a kernel forked
from it starts with those modules imported and ready, in about a tenth of a second.

:class:`tradeops.kernel_provisioner.ForkProvisioner` is the jupyter_client kernel provisioner
that launches the IPython kernel (``ipykernel``) this way instead of as a new interpreter;
everything else (connection file, ports, messaging, interrupt, kill, shutdown) is
jupyter_client's.  This module imports no jupyter_client, so a caller can start the fork
server (:func:`warm`) before it imports anything heavy.  The
child takes the environment and working directory the kernel manager gives it (the fork
server's own were fixed when it started), writes its output to the kernel log, and is a
fresh process: nothing of the parent's state but imported modules, the same as a new
interpreter after the preload.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterable, Mapping
from typing import Any

# What the fork server imports once, unless told otherwise (:func:`warm`): for the daily run,
# the stages and the heavy modules they use on first call, and ipykernel itself (the page's
# server preloads tradeops.dashboard.kernel_preload instead).
PRELOAD_MODULES = ["tradeops.kernel_preload"]
# what ipykernel imports while a kernel initialises (its debugger brings debugpy: 0.06 s)
IPYKERNEL = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython.core.completerlib", "IPython.extensions.storemagic", "psutil")
NAME = "tradeops-fork"  # the provisioner's entry point (pyproject.toml), for Voilà's kernels
LAUNCHER = ["-m", "ipykernel_launcher"]
BIND_TIMEOUT = 30  # seconds to wait for a forked kernel to open its log and bind its sockets

_context = None


def context(preload: list[str] | None = None):
    """The fork-server context of this process; the first call fixes what the server imports."""
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload or PRELOAD_MODULES))
        _context = ctx
    return _context


def warm(preload: list[str] | None = None) -> None:
    """Start the fork server now (its imports then overlap whatever the caller does next)."""
    from multiprocessing import forkserver

    context(preload)
    forkserver.ensure_running()


def preload(modules: Iterable[str]) -> None:
    """What a fork server's preload module does: import ``modules`` and what ipykernel imports to
    start a kernel, then freeze the imports' objects out of the garbage collector's sight (as the
    run kernel's own preload does)."""
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's import-time notice about frozen modules, on the server's stderr
    for name in (*modules, *IPYKERNEL):
        importlib.import_module(name)
    gc.freeze()


def plain_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with every name and value a plain ``str``, as the child is sent it.

    Voilà names its variables with members of a str enum (``voila.utils.ENV_VARIABLE``); sent as
    they are, the child unpickles them by importing ``voila.utils``, i.e. Jupyter Server and
    nbconvert: 0.4 s (idle) before the page's kernel starts."""
    return {str.__str__(name): str.__str__(value) for name, value in environ.items()}


def kernel_main(argv: list[str], env: dict[str, str], cwd: str, log: str | None, bound: Any) -> None:
    """The forked child: the kernel manager's environment and folder, output to the log, then ipykernel.
    ``bound`` (a pipe's end) says when the log is open and the kernel's sockets are bound: the
    parent may rename the log after that, and its client connects at once (a client that
    connects first waits for ZeroMQ's next reconnect, 0.1 s later)."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the kernel's interrupt (the fork server ignores SIGINT)
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()  # IPKernelApp.launch_instance, with the word sent between its two steps
    app.initialize(argv)
    _register_with_the_kernel()
    bound.send(True)
    bound.close()
    app.start()


def _register_with_the_kernel() -> None:
    """What a preloaded module would have done on import in a running kernel, done now that there is one.

    ipywidgets registers its comm targets when imported inside a kernel; imported by the fork
    server, before any kernel, it registered none.  Without ``jupyter.widget.control`` the page
    cannot fetch every widget's state in one message: it asks for each widget's state in a round
    trip of its own (357 requests, and a busy/idle pair for each, on the demo's page)."""
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None:
        widgets.register_comm_target()
