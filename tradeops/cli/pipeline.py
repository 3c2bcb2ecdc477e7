"""`tradeops run daily`, `tradeops runs list|show|verify`, `tradeops demo`, `tradeops schedule`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ..clock import from_env as clock_from_env
from .common import workdir_option, workspace


@click.group("run")
def run() -> None:
    """Run the scheduled pipeline."""


@run.command("daily")
@workdir_option
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Run as if started at the scheduled time on this date (default: now).")
@click.option("--supersede", is_flag=True, help="Replace the session's ticket (refused once it has fills).")
@click.option("--reason", default=None, help="Why the ticket is superseded (required with --supersede).")
@click.option(
    "--on-schedule", "on_schedule", is_flag=True, help="Fired by the scheduler: run only if now is the policy's run time (else do nothing and exit 0)."
)
@click.pass_context
def daily(ctx: click.Context, workdir: str, day, supersede: bool, reason: str | None, on_schedule: bool) -> None:
    """The daily run: stage notebooks, one ticket per session, an archive per run.

    Exit codes: 0 TRADE or HOLD (or market closed, or the session's ticket
    already exists), 3 NO-TRADE because a gate failed, 4 NO-TRADE because a
    stage or kernel failed (internal error), 2 bad configuration (a minimal
    NO-TRADE ticket says so) or usage.
    """
    from ..daily import run_daily

    if supersede and not (reason and reason.strip()):
        raise click.UsageError("--supersede needs --reason")
    if reason and not supersede:
        raise click.UsageError("--reason is only used with --supersede")
    if on_schedule and (day or supersede):
        raise click.UsageError("--on-schedule is the scheduler's run: it takes neither --date nor --supersede")
    result = run_daily(
        workspace(workdir), day.date() if day else None, supersede_reason=reason if supersede else None, on_schedule=on_schedule, clock=clock_from_env()
    )
    from ..redact import redact

    click.echo(redact(result.message))
    if result.run_dir:
        click.echo(f"archive: {result.run_dir}")
    if result.seal:
        click.echo(f"seal: sha256 {result.seal} (manifest.json; recorded in the ledger's event log)")
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
    """Check the run's seal and every archived file, then re-execute it from its archived inputs
    and compare the ticket byte for byte.  Names each file that changed."""
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


@click.group("schedule")
def schedule() -> None:
    """The unattended daily run: a systemd timer or cron entries (install, show, remove)."""


_with_option = click.option(
    "--with",
    "kind",
    type=click.Choice(["cron", "systemd"]),
    default="cron",
    show_default=True,
    help="systemd: a user timer at the policy's time in its zone; cron: entries at every machine time that can be it.",
)


def _plan(ws, kind: str):
    from .. import schedule as sch

    policy = ws.policy()
    exe = sch.tradeops_executable()
    if kind == "systemd":
        return {name: text for name, text in sch.systemd_units(policy, ws, exe).items()}
    machine = sch.machine_zone()
    return {"crontab": "\n".join(sch.cron_lines(policy, ws, exe, machine, clock_from_env().now().astimezone(machine).date())) + "\n"}


def _echo_plan(ws, kind: str, plan: dict) -> None:
    from .. import schedule as sch

    policy = ws.policy()
    click.echo(f"# the daily run at {policy.schedule.run_time} {policy.schedule.timezone} on {','.join(policy.schedule.run_days)}")
    if kind == "cron":
        click.echo(
            f"# cron runs jobs in the machine's zone ({sch.machine_zone().key}): these entries fire at every "
            "time that can be the slot; the run (--on-schedule) does nothing at the other one"
        )
    for name, text in plan.items():
        click.echo(f"# {name}" + (f" (in {sch.unit_dir()})" if kind == "systemd" else ""))
        click.echo(text.rstrip("\n"))
    click.echo(f"# environment file {ws.root / sch.ENV_FILE} (0600), sourced by the job:")
    for line in sch.describe_environment(sch.job_environment()):
        click.echo(line)
    click.echo(f"# log folder {ws.root / sch.LOG_DIR}")


@schedule.command("show")
@workdir_option
@_with_option
def schedule_show(workdir: str, kind: str) -> None:
    """Print what `install` would install (secrets masked)."""
    ws = workspace(workdir)
    _echo_plan(ws, kind, _plan(ws, kind))


@schedule.command("install")
@workdir_option
@_with_option
def schedule_install(workdir: str, kind: str) -> None:
    """Install the schedule, write the job's environment file (0600) and create its log folder."""
    from .. import schedule as sch

    ws = workspace(workdir)
    plan = _plan(ws, kind)
    _echo_plan(ws, kind, plan)
    (ws.root / sch.LOG_DIR).mkdir(parents=True, exist_ok=True)
    env_path = sch.write_env_file(ws, sch.job_environment())
    if kind == "systemd":
        sch.install_systemd(plan, sch.unit_dir())
        click.echo(
            f"installed {', '.join(plan)} in {sch.unit_dir()} and enabled the timer "
            "(run `loginctl enable-linger $USER` once so it fires while you are logged out)"
        )
    else:
        sch.install_cron(plan["crontab"].splitlines(), ws)
        click.echo("installed in the crontab")
    click.echo(f"wrote {env_path} (0600)")


@schedule.command("remove")
@workdir_option
@_with_option
def schedule_remove(workdir: str, kind: str) -> None:
    """Remove this workspace's schedule (the environment file is kept)."""
    from .. import schedule as sch

    ws = workspace(workdir)
    removed = sch.remove_systemd(ws, sch.unit_dir()) if kind == "systemd" else sch.remove_cron(ws)
    click.echo(f"removed the {kind} schedule of {ws.root}" if removed else f"no {kind} schedule installed for {ws.root}")


@click.command("ops-report")
@workdir_option
def ops_report(workdir: str) -> None:
    """Phase A dry-run summary: time to ticket, data quality, blocks, confirmations, drift, exit criterion."""
    from ..opsreport import collect, config_failures, render

    ws = workspace(workdir)
    click.echo(render(collect(ws), config_failures(ws), ws.policy().account.account_currency))


COMMANDS = [run, runs, demo, schedule, ops_report]
