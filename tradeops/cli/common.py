"""Options shared by every command group, and :class:`LazyModule` for the heavy imports.

The command modules import only click at the top: what a command needs
(pandas, SQLAlchemy, the ledger, research) is loaded when it runs, so
``tradeops --help`` and ``tradeops confirm --help`` start in a fraction of
a second (``make bench`` reports the figure).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..config import Workspace


class LazyModule:
    """Stands for a module imported on first attribute access: ``api = LazyModule("tradeops.ledger.api")``."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


workdir_option = click.option(
    "--workdir",
    "workdir",
    type=click.Path(file_okay=False, path_type=str),
    default=".",
    envvar="TRADEOPS_HOME",
    show_default=True,
    help="Workspace folder (config/, data/, runs/, tickets/, reports/).",
)


def workspace(workdir: str) -> "Workspace":
    from ..config import Workspace

    return Workspace.at(workdir)
