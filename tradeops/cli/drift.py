"""`tradeops drift [--since D]`: live vs the shadow portfolio, the difference by cause."""

from __future__ import annotations

from datetime import datetime

import click

from .common import workdir_option, workspace


@click.command("drift")
@workdir_option
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Start the shadow at the first ticket on or after this session (default: the first live ticket).",
)
def drift(workdir: str, since: datetime | None) -> None:
    """Live vs the shadow portfolio (tickets executed as issued): the difference by cause."""
    from .. import drift as d

    result = d.from_workspace(workspace(workdir), since=since.date() if since else None)
    click.echo(d.table(result) if result is not None else "no live tickets yet: nothing to compare with a shadow portfolio")


COMMANDS = [drift]
