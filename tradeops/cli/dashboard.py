"""``tradeops dashboard``: serve the executor's confirmation page (Voilà).

Listens on 127.0.0.1 unless ``--host`` says otherwise; any other host needs
``TRADEOPS_DASHBOARD_TOKEN`` in the environment (see
:mod:`tradeops.dashboard.server`).  The command becomes the Voilà process,
so Ctrl-C or a service manager's stop ends the page and its kernels.
"""

from __future__ import annotations

import os

import click

from ..dashboard import server
from .common import workdir_option, workspace


@click.command("dashboard")
@workdir_option
@click.option("--port", type=click.IntRange(1, 65535), default=server.DEFAULT_PORT, show_default=True, help="TCP port of the page.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help=f"Address to listen on. Anything but 127.0.0.1/localhost needs ${server.TOKEN_ENV} (a secret, 16+ characters).",
)
def dashboard(workdir: str, port: int, host: str) -> None:
    """Serve the confirmation page for the workspace (ticket, fills, broker snapshot, kill switch)."""
    launch = server.launch_spec(workspace(workdir).root, host, port)
    how = " (open it with ?token=<your token> the first time)" if launch.token else ""
    click.echo(f"confirmation page for {launch.env['TRADEOPS_HOME']}: {launch.url}{how}; Ctrl-C to stop", err=True)
    os.execve(launch.argv[0], launch.argv, launch.env)


COMMANDS = [dashboard]
