"""`tradeops signal`, `tradeops risk`, `tradeops ticket`: one decision session each.

Every command reads and writes files in a run folder (``--run-dir``), so the
pipeline's stage notebooks can call the same functions:

    tradeops signal --session 2024-03-15 --run-dir runs/2024-03-15/manual
    tradeops risk   --session 2024-03-15 --run-dir runs/2024-03-15/manual   # needs portfolio.json
    tradeops ticket --session 2024-03-15 --run-dir runs/2024-03-15/manual --gates gates.json

``--session`` is always the decision session (the data's last bar); the
ticket is for the next session.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from .common import LazyModule, workdir_option, workspace

# pandas, the signal and risk code load when a command runs, not for --help
_audit = LazyModule("tradeops.audit")
_risk = LazyModule("tradeops.risk")
_signals = LazyModule("tradeops.signals")
_tickets = LazyModule("tradeops.tickets")

_session = click.option("--session", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Decision session YYYY-MM-DD (the data's last bar).")
_run_dir = click.option("--run-dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder the stage reads and writes.")
_eod = click.option(
    "--eod",
    "eod_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Clean EOD parquet [default: the workspace's data/clean/eod.parquet].",
)


def _day(value) -> date:
    return value.date()


@click.command("signal")
@workdir_option
@_session
@_run_dir
@_eod
def signal(workdir: str, session, run_dir: Path, eod_path: Path | None) -> None:
    """Rank the universe; write signals/YYYY-MM-DD.csv (+ .json) in the run folder."""
    ws = workspace(workdir)
    policy = ws.policy()
    result = _signals.run_signal_stage(eod_path or ws.clean_path, policy, ws.universe(policy), _day(session), run_dir)
    csv_path, _ = _signals.signal_paths(run_dir, result.session)
    click.echo(f"{csv_path}: {len(result.ranked)} ranked, {len(result.dropped)} dropped ({result.note})")
    for sym, why in sorted(result.dropped.items()):
        click.echo(f"  dropped {sym}: {why}")


@click.command("risk")
@workdir_option
@_session
@_run_dir
@_eod
@click.option(
    "--portfolio",
    "portfolio_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PortfolioState JSON [default: RUN_DIR/portfolio.json].",
)
@click.option("--rebalance/--no-rebalance", default=None, help="Force or forbid a rebalance [default: from the calendar and the last rebalance].")
def risk(workdir: str, session, run_dir: Path, eod_path: Path | None, portfolio_path: Path | None, rebalance: bool | None) -> None:
    """Apply the risk guard; write proposed.json and approved.json in the run folder."""
    ws = workspace(workdir)
    policy = ws.policy()
    decision = _risk.run_risk_stage(
        run_dir, eod_path or ws.clean_path, portfolio_path or run_dir / "portfolio.json", policy, ws.universe(policy), _day(session), rebalance
    )
    if decision is None:
        click.echo(f"{run_dir}: nothing sized: no valid {policy.account.account_currency}USD rate in {run_dir / 'fx.json'} (no rate, no trade)")
        return
    click.echo(f"{run_dir / 'approved.json'}: {decision.kind}, {len(decision.trades)} trade(s), rebalance={decision.rebalance}")
    for r in decision.failed:
        click.echo(f"  FAILED {r.code}: {r.message}")


@click.command("ticket")
@workdir_option
@_session
@_run_dir
@click.option(
    "--gates", "gates_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Gate results JSON [default: RUN_DIR/gates.json if present]."
)
@click.option(
    "--state", default="RUN", show_default=True, type=click.Choice(["RUN", "DEGRADED_DATA", "SAFE_MODE", "HALT"]), help="Operating state after today's gates."
)
@click.option("--state-reason", "state_reasons", multiple=True, help="Why the state is not RUN (repeatable).")
@click.option("--code-hash", "code_hash_value", default=None, help="[default: hash of the tradeops package source]")
@click.option("--config-hash", default=None, help="[default: hash of policy.yml + universe.csv]")
@click.option("--data-hash", default=None, help="[default: sha256 of the clean parquet]")
@_eod
@click.option("--tickets-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="[default: the workspace's tickets/]")
@click.option("--replace", is_flag=True, help="Overwrite a different ticket already written for the session.")
def ticket(workdir, session, run_dir, gates_path, state, state_reasons, code_hash_value, config_hash, data_hash, eod_path, tickets_dir, replace) -> None:
    """Write tickets/TICKET-YYYYMMDD.md and .json for the session after --session."""
    ws = workspace(workdir)
    policy = ws.policy()
    universe = ws.universe(policy)
    if gates_path is None and (run_dir / "gates.json").exists():
        gates_path = run_dir / "gates.json"
    if config_hash is None:
        parts = [_audit.sha256_file(ws.policy_path), _audit.sha256_file(ws.config_dir / policy.universe.file)]
        config_hash = _audit.sha256_bytes(":".join(parts).encode())
    if data_hash is None:
        eod = eod_path or ws.clean_path
        data_hash = _audit.sha256_file(eod) if eod.exists() else "no-data"
    t, md_path, json_path = _tickets.run_ticket_stage(
        run_dir,
        tickets_dir or ws.tickets_dir,
        policy,
        universe,
        _day(session),
        _tickets.read_gates(gates_path),
        code_hash_value or _audit.code_hash(),
        config_hash,
        data_hash,
        state=state,
        state_reasons=state_reasons,
        replace=replace,
    )
    click.echo(f"{t.ticket_id} {t.kind}: {t.headline}")
    click.echo(f"  {md_path}\n  {json_path}")


COMMANDS = [signal, risk, ticket]
