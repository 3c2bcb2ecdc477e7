"""`tradeops report daily|weekly`: write the reports from the ledger and clean data.

The commands call the same ``publish_*`` functions as the ``60_report``
stage.  Reading the ledger is the job of ``inputs_from_workspace``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING

import click

from ..clock import SYSTEM
from .common import LazyModule, workdir_option, workspace

if TYPE_CHECKING:
    from ..config import Workspace
    from ..reports import ReportInputs

_reports = LazyModule("tradeops.reports")  # pandas and the templates load when a report is made


def _calendar(exchange: str):
    from ..calendar import get_calendar

    return get_calendar(exchange)


InputsBuilder = Callable[["Workspace", date, datetime], "ReportInputs"]


def inputs_from_workspace(ws: Workspace, as_of: date, generated_at: datetime) -> ReportInputs:
    """ReportInputs for session ``as_of`` from the workspace's ledger and clean data."""
    from ..reporting_inputs import build_inputs

    policy = ws.policy()
    return build_inputs(ws, policy, ws.universe(policy), as_of, generated_at)


def make_report_group(build_inputs: InputsBuilder = inputs_from_workspace, clock=SYSTEM.now) -> click.Group:
    """The `report` command group, reading its inputs through ``build_inputs``."""

    def load(workdir: str, as_of: datetime | None) -> tuple[Workspace, ReportInputs]:
        ws = workspace(workdir)
        now = clock()
        exchange = ws.policy().schedule.exchange
        day = as_of.date() if as_of else _calendar(exchange).latest_complete_session(now)
        return ws, build_inputs(ws, day, now)

    as_of_option = click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Session to report on (default: the latest complete session).")

    @click.group("report")
    def report() -> None:
        """Daily and weekly reports, rebuilt from the ledger and clean data."""

    @report.command("daily")
    @workdir_option
    @as_of_option
    def daily(workdir: str, as_of: datetime | None) -> None:
        """Equity, cash, P&L, drawdown, exposure, state, gates: reports/daily.md and .html."""
        ws, inputs = load(workdir, as_of)
        for path in _reports.publish_daily(inputs, ws.reports_dir):
            click.echo(str(path))

    @report.command("weekly")
    @workdir_option
    @as_of_option
    @click.option("--tearsheet/--no-tearsheet", default=True, show_default=True, help="Also write the quantstats tearsheet.")
    def weekly(workdir: str, as_of: datetime | None, tearsheet: bool) -> None:
        """Trades vs intended, slippage, compliance, performance vs the benchmark: reports/weekly.md and .html."""
        ws, inputs = load(workdir, as_of)
        for path in _reports.publish_weekly(inputs, ws.reports_dir, tearsheet=tearsheet):
            click.echo(str(path))

    return report


COMMANDS = [make_report_group()]
