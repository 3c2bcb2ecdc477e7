"""``tradeops mcp``: the workspace's tools for an assistant, over MCP (see :mod:`tradeops.agent.server`).

stdio by default (the client starts ``tradeops mcp --workdir W`` itself);
``--http`` serves streamable HTTP on 127.0.0.1 behind ``TRADEOPS_MCP_TOKEN``.
Read-only unless ``--allow-fills``, which adds the one write tool,
``write_fills``.  The SDK is imported only when the command runs, so
``tradeops --help`` stays fast.
"""

from __future__ import annotations

import os

import click

from ..clock import from_env
from .common import workdir_option


@click.command("mcp")
@workdir_option
@click.option("--allow-fills", is_flag=True, help="Add write_fills: record fills exactly as the confirmation page does (logged with the client's name).")
@click.option("--http", "http", is_flag=True, help="Serve streamable HTTP on 127.0.0.1 instead of stdio (needs $TRADEOPS_MCP_TOKEN, 16+ characters).")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --http: 127.0.0.1 or localhost only.")
@click.option("--port", type=click.IntRange(1, 65535), default=8766, show_default=True, help="With --http: TCP port (path /mcp).")
def mcp(workdir: str, allow_fills: bool, http: bool, host: str, port: int) -> None:
    """Serve the MCP tools (market data, ledger, research, risk what-if, ticket 'why') for the workspace."""
    from ..agent.server import TOKEN_ENV, build_server, check_http, serve_http
    from ..agent.tools import Toolbox

    token = os.environ.get(TOKEN_ENV)
    if http:
        check_http(host, token)
    toolbox = Toolbox.at(workdir, from_env())
    server = build_server(toolbox, allow_fills=allow_fills)
    try:
        if http:
            click.echo(f"MCP for {toolbox.workspace.root}: http://{host}:{port}/mcp (Authorization: Bearer ${TOKEN_ENV})", err=True)
            serve_http(server, host, port, token)
        else:
            server.run("stdio")
    finally:
        toolbox.close()


COMMANDS = [mcp]
