"""Options shared by every command group."""

from __future__ import annotations

import click

from ..config import Workspace

workdir_option = click.option(
    "--workdir",
    "workdir",
    type=click.Path(file_okay=False, path_type=str),
    default=".",
    envvar="TRADEOPS_HOME",
    show_default=True,
    help="Workspace folder (config/, data/, runs/, tickets/, reports/).",
)


def workspace(workdir: str) -> Workspace:
    return Workspace.at(workdir)
