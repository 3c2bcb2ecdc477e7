"""`tradeops run daily`, `tradeops runs list|show|verify`, `tradeops demo`, `tradeops cron`."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from .common import workdir_option, workspace


@click.group("run")
def run() -> None:
    """Run the scheduled pipeline."""


@run.command("daily")
@workdir_option
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Run as if started at the scheduled time on this date (default: now).")
@click.option("--supersede", is_flag=True, help="Replace the session's ticket (refused once it has fills).")
@click.option("--reason", default=None, help="Why the ticket is superseded (required with --supersede).")
@click.pass_context
def daily(ctx: click.Context, workdir: str, day, supersede: bool, reason: str | None) -> None:
    """The daily run: stage notebooks, one ticket per session, an archive per run.

    Exit codes: 0 TRADE or HOLD (or market closed, or the session's ticket
    already exists), 3 NO-TRADE because a gate failed, 4 NO-TRADE because a
    stage or kernel failed (internal error), 2 bad configuration or usage.
    """
    from ..daily import run_daily

    if supersede and not (reason and reason.strip()):
        raise click.UsageError("--supersede needs --reason")
    if reason and not supersede:
        raise click.UsageError("--reason is only used with --supersede")
    result = run_daily(workspace(workdir), day.date() if day else None, supersede_reason=reason if supersede else None)
    click.echo(result.message)
    if result.run_dir:
        click.echo(f"archive: {result.run_dir}")
    ctx.exit(result.exit_code)


@click.group("runs")
def runs() -> None:
    """The run archive: list, show, verify."""


@runs.command("list")
@workdir_option
def list_(workdir: str) -> None:
    """Every run with its session, ticket and exit code."""
    from ..daily import list_runs

    for m in list_runs(workspace(workdir)):
        click.echo(f"{m.run_id:<22} {m.session_date or '-':<10} {m.status:<14} {m.ticket_id or '-':<18} {m.ticket_kind or '-':<8} exit {m.exit_code}")


@runs.command("show")
@workdir_option
@click.argument("run_id")
def show(workdir: str, run_id: str) -> None:
    """The run's manifest and files."""
    from ..daily import find_run

    path = find_run(workspace(workdir), run_id)
    click.echo(f"{path}")
    click.echo((path / "manifest.json").read_text())
    for p in sorted(path.rglob("*")):
        if p.is_file():
            click.echo(f"  {p.relative_to(path)}")


@runs.command("verify")
@workdir_option
@click.argument("run_id")
@click.pass_context
def verify(ctx: click.Context, workdir: str, run_id: str) -> None:
    """Re-execute a run from its archived inputs and compare the ticket byte for byte."""
    from ..daily import verify_run

    with tempfile.TemporaryDirectory(prefix="tradeops-verify-") as tmp:
        ok, message = verify_run(workspace(workdir), run_id, Path(tmp))
    click.echo(("OK: " if ok else "MISMATCH: ") + message)
    ctx.exit(0 if ok else 1)


@click.command("demo")
@workdir_option
@click.option("--sessions", default=15, show_default=True, help="How many sessions to run (enough for a rebalance and a HOLD day).")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last session (default: the latest complete one).")
@click.option("--seed", default=42, show_default=True)
def demo(workdir: str, sessions: int, end, seed: int) -> None:
    """The whole loop offline in its own workspace (default ./demo): demo data, SQLite, paper fills."""
    from ..demo import run_demo

    wd = Path(workdir)
    if wd.resolve() == Path.cwd().resolve():
        wd = wd / "demo"
    summary = run_demo(wd, sessions, end.date() if end else None, seed, echo=click.echo)
    click.echo("\n".join(summary.lines()))


@click.command("cron")
@workdir_option
@click.option("--install", is_flag=True, help="Install the line in the user's crontab (replacing an earlier tradeops line).")
def cron(workdir: str, install: bool) -> None:
    """Print (or install) the crontab line for the daily run, in the policy's time zone."""
    ws = workspace(workdir)
    policy = ws.policy()
    hh, mm = policy.schedule.run_clock.hour, policy.schedule.run_clock.minute
    days = ",".join(str(("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat").index(d)) for d in policy.schedule.run_days)
    exe = Path(sys.executable).with_name("tradeops")
    logs = ws.root / "logs"
    cmd = f"cd {shlex.quote(str(ws.root))} && {shlex.quote(str(exe))} run daily --workdir . >> logs/daily-$(date +\\%F).log 2>&1"
    lines = [f"CRON_TZ={policy.schedule.timezone}", f"{mm} {hh} * * {days} {cmd}  # tradeops daily run"]
    text = "\n".join(lines)
    click.echo(text)
    if install:
        logs.mkdir(parents=True, exist_ok=True)
        current = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout
        kept = [ln for ln in current.splitlines() if "# tradeops daily run" not in ln and ln != lines[0]]
        subprocess.run(["crontab", "-"], input="\n".join(kept + lines) + "\n", text=True, check=True)
        click.echo("installed in the crontab")


@click.command("ops-report")
@workdir_option
def ops_report(workdir: str) -> None:
    """Phase A dry-run summary: time to ticket, data quality, blocks, confirmations, drift, exit criterion."""
    from ..opsreport import collect, render

    click.echo(render(collect(workspace(workdir))))


COMMANDS = [run, runs, demo, cron, ops_report]
