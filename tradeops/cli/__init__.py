"""The `tradeops` command line.  One module per command group; this file
only assembles them.  Every command takes ``--workdir`` (default: the
current folder, or $TRADEOPS_HOME) so tests and the demo use their own
workspace."""

from __future__ import annotations

import sys

import click

from ..errors import TradeopsError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tradeops")
def cli() -> None:
    """tradeops: data, signal, risk, ticket, ledger and reports for a
    human-in-the-loop end-of-day trading workflow."""


def _register() -> None:
    # Each command module exposes COMMANDS, a list of click commands/groups.
    for name in ("data", "ledger", "trading", "pipeline", "reporting", "research", "dashboard", "mcp"):
        try:
            mod = __import__(f"{__name__}.{name}", fromlist=["COMMANDS"])
        except ModuleNotFoundError as err:
            if err.name == f"{__name__}.{name}":
                continue
            raise
        for cmd in mod.COMMANDS:
            cli.add_command(cmd)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: TradeopsError becomes a one-line message and exit code 2."""
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
        click.echo(f"error: {e}", err=True)
        return 2
    # with standalone_mode=False, ctx.exit(n) comes back as the return value
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
