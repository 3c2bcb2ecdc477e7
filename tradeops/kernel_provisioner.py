"""The jupyter_client kernel provisioner that forks kernels from :mod:`tradeops.kernel_fork`'s fork server.

Apart from jupyter_client, a separate module from the fork server's, so that starting the server
(:func:`tradeops.kernel_fork.warm`, first thing in the page's server) does not wait for
jupyter_client's imports (0.09 s idle).  Found by the name ``tradeops-fork`` (its entry point in
pyproject.toml) for Voilà's kernels; the run's kernel manager sets it directly
(:func:`tradeops.runner._run_kernel_manager`).
"""

from __future__ import annotations

import os
import signal
import sys
import types
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from .kernel_fork import BIND_TIMEOUT, LAUNCHER, kernel_main, context, plain_environment


class _Process:
    """The forked kernel as jupyter_client's provisioner expects a process (Popen's methods)."""

    stdin = stdout = stderr = None

    def __init__(self, proc: Any):
        self._proc, self.pid = proc, proc.pid

    def poll(self) -> int | None:
        return self._proc.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self._proc.join(timeout)
        return self._proc.exitcode

    def send_signal(self, signum: int) -> None:
        if self._proc.exitcode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):  # type: ignore[misc]
    """Launch ``python -m ipykernel_launcher ...`` as a child of the fork server; any other command as jupyter_client does."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        if cmd[1:3] != LAUNCHER or os.path.realpath(cmd[0]) != os.path.realpath(sys.executable):  # another kernel, or another Python
            return await super().launch_kernel(cmd, **kwargs)
        log = getattr(kwargs.get("stdout"), "name", None)  # the kernel log the manager opened
        log = log if isinstance(log, str) else None
        cwd = str(kwargs.get("cwd") or os.getcwd())
        env = plain_environment(kwargs.get("env") or os.environ)
        ctx = context()
        bound, bound_child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=kernel_main, args=(cmd[3:], env, cwd, log, bound_child), daemon=False)
        main = sys.modules["__main__"]
        # A child of the fork server first re-imports the caller's main script unless it is a
        # package's __main__ (multiprocessing's "safe importing of main module"): a kernel needs
        # nothing of it, and an unguarded script would run again in every kernel.
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            proc.start()
        finally:
            sys.modules["__main__"] = main
        bound_child.close()
        try:
            bound.poll(BIND_TIMEOUT)  # a child that dies first is the kernel manager's to notice
        finally:
            bound.close()
        self.process = _Process(proc)
        self.pid, self.pgid, self.cwd = proc.pid, None, cwd  # no process group of its own: signal the kernel alone
        return self.connection_info
