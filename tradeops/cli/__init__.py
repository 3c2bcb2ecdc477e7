"""The `tradeops` command line.  One module per command group; this file
only names them (each is imported when its command is used).  Every command takes ``--workdir`` (default: the
current folder, or $TRADEOPS_HOME) so tests and the demo use their own
workspace."""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import TradeopsError


# Every command: the module that defines it and its one-line help for `tradeops --help`.  The
# module is imported only when the command runs or shows its own help, so `tradeops --help`
# loads click and nothing else (tests/test_cli_start.py checks this table against the commands).
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("data", "Fetch market data, build the clean parquet, check its quality."),
    "ledger": ("ledger", "Create, inspect, back up and restore the ledger database."),
    "confirm": ("ledger", "Enter what happened to each line of TICKET_ID (executed, partial, not_executed)."),
    "snapshot": ("ledger", "Enter a broker snapshot: cash and units per symbol."),
    "reconcile": ("ledger", "Compare the latest broker snapshot with the ledger; exit code 1 if it fails."),
    "kill-switch": ("ledger", "Turn the kill switch on (no trading) or off."),
    "resume": ("ledger", "Leave HALT explicitly (the kill switch must be off); the drawdown peak restarts today."),
    "cash": ("ledger", "Cash movements: deposits, withdrawals, dividends, fees, interest, FX."),
    "signal": ("trading", "Rank the universe; write signals/YYYY-MM-DD.csv (+ .json) in the run folder."),
    "risk": ("trading", "Apply the risk guard; write proposed.json and approved.json in the run folder."),
    "ticket": ("trading", "Write tickets/TICKET-YYYYMMDD.md and .json for the session after --session."),
    "run": ("pipeline", "Run the scheduled pipeline."),
    "runs": ("pipeline", "The run archive: list, show, verify."),
    "demo": ("pipeline", "The whole loop offline in its own workspace (default ./demo): demo data, SQLite, paper fills."),
    "schedule": ("pipeline", "The unattended daily run: a systemd timer or cron entries (install, show, remove)."),
    "ops-report": ("pipeline", "Phase A dry-run summary: time to ticket, data quality, blocks, confirmations, drift, exit criterion."),
    "report": ("reporting", "Daily and weekly reports, rebuilt from the ledger and clean data."),
    "drift": ("drift", "Live vs the shadow portfolio (tickets executed as issued): the difference by cause."),
    "backtest": ("research", "Backtest a strategy, validate it, write reports/backtest_latest.html."),
    "model": ("research", "The model registry (data/models): promotion verdicts for the live qlib_lgbm signal."),
    "mcp": ("mcp", "Serve the MCP tools (market data, ledger, research, risk what-if, ticket 'why') for the workspace."),
    "dashboard": ("dashboard", "Serve the confirmation page for the workspace (ticket, fills, broker snapshot, kill switch)."),
    "universe": ("universe", "Build config/universe.csv from a vendor folder, an index list or symbols."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (keeps `tradeops --help` fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = COMMANDS[name][0]
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as err:
            if err.name == f"{__name__}.{module}":
                return None
            raise
        return next((c for c in mod.COMMANDS if c.name == name), None)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tradeops")
def cli() -> None:
    """tradeops: data, signal, risk, ticket, ledger and reports for a
    human-in-the-loop end-of-day trading workflow."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: TradeopsError becomes a one-line message and exit code 2.

    Every log record of the process is redacted (tradeops.redact), and so is
    the error line."""
    from ..redact import install_logging, redact

    install_logging()
    try:
        rv = cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except TradeopsError as e:
        click.echo(redact(f"error: {e}"), err=True)
        return 2
    # with standalone_mode=False, ctx.exit(n) comes back as the return value
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
