"""`tradeops backtest`: a research run from the command line, as the research notebooks make it.

Runs :func:`tradeops.research.study.backtest_study` (backtest with the live
risk guard, then cost stress, delay, start-date, parameter neighbourhood,
regimes, walk-forward, PBO and deflated Sharpe), writes
``reports/backtest_latest.html`` in the workspace and prints a summary.
With ``--source alphavantage`` the folder is first fetched, built and
quality-checked into ``data/research/`` (the workspace's
``config/corrections.csv`` applies); the backtest reads that clean snapshot
and the report names its hash and findings.
The policy is the workspace's config/policy.yml when there is one, else the
defaults.
"""

from __future__ import annotations

import click

from ..config import parse_policy
from ..research.study import SOURCES, STRATEGIES, backtest_study
from .common import workdir_option, workspace

DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.command("backtest")
@workdir_option
@click.option("--source", type=click.Choice(SOURCES), default="demo", show_default=True, help="Bars: the seeded demo market or AlphaVantage files.")
@click.option("--av-dir", default=None, type=click.Path(exists=True, file_okay=False), help="Folder of DA-<SYMBOL>-T-*.csv files (source alphavantage).")
@click.option("--start", type=DATE, default="2019-01-02", show_default=True, help="First decision session.")
@click.option("--end", type=DATE, default="2021-04-16", show_default=True, help="Last session valued.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="momentum", show_default=True)
@click.option("--symbols", type=click.IntRange(2, 2000), default=30, show_default=True, help="How many stocks (demo: generated; alphavantage: the first N files).")
@click.option("--seed", type=int, default=42, show_default=True, help="Demo market seed.")
def backtest(workdir: str, source: str, av_dir: str | None, start, end, strategy: str, symbols: int, seed: int) -> None:
    """Backtest a strategy, validate it, write reports/backtest_latest.html."""
    if source == "alphavantage" and not av_dir:
        raise click.UsageError("--source alphavantage needs --av-dir (the folder of DA-<SYMBOL>-T-*.csv files)")
    ws = workspace(workdir)
    policy = ws.policy() if ws.policy_path.exists() else parse_policy({})
    target = ws.reports_dir / "backtest_latest.html"
    study = backtest_study(
        source, start.date(), end.date(), strategy, symbols, av_dir, policy, seed,
        report_path=target, qlib_dir=ws.data_dir / "qlib-research" if strategy == "qlib_lgbm" else None,
        store_dir=ws.data_dir / "research", corrections_file=ws.config_dir / policy.quality.corrections_file,
    )
    click.echo(study.summary_text())
    for note in study.notes:
        click.echo(f"note: {note}")
    click.echo(f"report: {target}")


COMMANDS = [backtest]
