"""`tradeops backtest`: a research run from the command line, as the research notebooks make it.

Runs :func:`tradeops.research.study.backtest_study` (backtest with the live
risk guard's rules: the array engine by default, ``--engine exact`` for the
Decimal guard itself on every decision, then cost stress, delay, start-date, parameter neighbourhood,
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
from ..errors import LedgerError
from ..research.study import ENGINES, SOURCES, STRATEGIES, backtest_study
from .common import workdir_option, workspace

DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group("backtest", invoke_without_command=True)
@click.pass_context
@workdir_option
@click.option("--source", type=click.Choice(SOURCES), default="demo", show_default=True, help="Bars: the seeded demo market or AlphaVantage files.")
@click.option("--av-dir", default=None, type=click.Path(exists=True, file_okay=False), help="Folder of DA-<SYMBOL>-T-*.csv files (source alphavantage).")
@click.option("--start", type=DATE, default="2019-01-02", show_default=True, help="First decision session.")
@click.option("--end", type=DATE, default="2021-04-16", show_default=True, help="Last session valued.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="momentum", show_default=True)
@click.option(
    "--symbols", type=click.IntRange(2, 2000), default=30, show_default=True, help="How many stocks (demo: generated; alphavantage: the first N files)."
)
@click.option("--seed", type=int, default=42, show_default=True, help="Demo market seed.")
@click.option(
    "--sweep/--no-sweep",
    default=False,
    show_default=True,
    help="Trials: the 16 pre-registered variants the promotion gate needs (slower), not the small neighbourhood.",
)
@click.option(
    "--benchmark-file",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Stooq daily CSV of the policy's benchmark, for bars that lack it (e.g. ../shared/data/stooq-spy/spy.us.csv).",
)
@click.option("--no-benchmark", is_flag=True, help="Run without the benchmark (no risk-off rule, no benchmark line); the report says so in its headline.")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="array",
    show_default=True,
    help="array: numpy/numba, the live guard's rules (conformance-tested; momentum, else exact with a note); exact: the live Decimal guard on every decision (audits).",
)
def backtest(
    ctx,
    workdir: str,
    source: str,
    av_dir: str | None,
    start,
    end,
    strategy: str,
    symbols: int,
    seed: int,
    sweep: bool,
    benchmark_file: str | None,
    no_benchmark: bool,
    engine: str,
) -> None:
    """Backtest a strategy, validate it, write reports/backtest_latest.html.

    `tradeops backtest sweep`: a momentum parameter grid on the array engine."""
    if ctx.invoked_subcommand is not None:
        return
    _, _, study, target = _study(workdir, source, av_dir, start, end, strategy, symbols, seed, sweep, benchmark_file, no_benchmark, engine)
    click.echo(study.summary_text())
    for note in study.notes:
        click.echo(f"note: {note}")
    click.echo(f"report: {target}")


@backtest.command("sweep")
@workdir_option
@click.option("--source", type=click.Choice(SOURCES), default="demo", show_default=True)
@click.option("--av-dir", default=None, type=click.Path(exists=True, file_okay=False))
@click.option("--start", type=DATE, default="2019-01-02", show_default=True)
@click.option("--end", type=DATE, default="2021-04-16", show_default=True)
@click.option("--symbols", type=click.IntRange(2, 2000), default=30, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--lookbacks", default="40,60,90,120", show_default=True, help="strategy.momentum.lookback_12w values (lookback_4w = a third).")
@click.option("--tops", default="10,15", show_default=True, help="portfolio.target_positions values.")
@click.option("--frequencies", default="weekly,monthly", show_default=True, help="rebalance.frequency values.")
@click.option("--cost-multiples", default="1,2,3,4", show_default=True, help="multiples of the policy's commission and slippage.")
@click.option("--jobs", type=click.IntRange(1, 64), default=2, show_default=True, help="local processes (joblib).")
@click.option("--dask", "dask_address", default=None, help="address of an existing Dask scheduler (tcp://host:8786): the tasks run there.")
@click.option("--benchmark-file", default=None, type=click.Path(exists=True, dir_okay=False))
@click.option("--no-benchmark", is_flag=True)
def sweep_command(
    workdir, source, av_dir, start, end, symbols, seed, lookbacks, tops, frequencies, cost_multiples, jobs, dask_address, benchmark_file, no_benchmark
) -> None:
    """Momentum over a grid on the array engine; PBO, deflated Sharpe and the promotion gate on the
    best variant; returns, parameters, data and code hashes in reports/sweep-<hash>/."""
    from ..research import sweep

    if source == "alphavantage" and not av_dir:
        raise click.UsageError("--source alphavantage needs --av-dir (the folder of DA-<SYMBOL>-T-*.csv files)")
    ws = workspace(workdir)
    policy = ws.policy() if ws.policy_path.exists() else parse_policy({})
    report, path = sweep.sweep_study(
        source,
        start.date(),
        end.date(),
        symbols,
        av_dir,
        policy,
        seed,
        lookbacks,
        tops,
        frequencies,
        cost_multiples,
        ws.reports_dir,
        jobs,
        dask_address,
        ws.data_dir / "research",
        ws.config_dir / policy.quality.corrections_file,
        benchmark_file,
        no_benchmark,
    )
    click.echo(report.text())
    click.echo(f"outputs: {path.parent}")


def _study(workdir, source, av_dir, start, end, strategy, symbols, seed, sweep, benchmark_file=None, no_benchmark=False, engine="array"):
    if source == "alphavantage" and not av_dir:
        raise click.UsageError("--source alphavantage needs --av-dir (the folder of DA-<SYMBOL>-T-*.csv files)")
    ws = workspace(workdir)
    policy = ws.policy() if ws.policy_path.exists() else parse_policy({})
    target = ws.reports_dir / "backtest_latest.html"
    study = backtest_study(
        source,
        start.date(),
        end.date(),
        strategy,
        symbols,
        av_dir,
        policy,
        seed,
        report_path=target,
        qlib_dir=ws.data_dir / "qlib-research" if strategy == "qlib_lgbm" else None,
        sweep=sweep,
        store_dir=ws.data_dir / "research",
        corrections_file=ws.config_dir / policy.quality.corrections_file,
        benchmark_file=benchmark_file,
        no_benchmark=no_benchmark,
        models_dir=ws.models_dir if strategy == "qlib_lgbm" else None,
        engine=engine,
    )
    return ws, policy, study, target


@click.group("model")
def model_group() -> None:
    """The model registry (data/models): promotion verdicts for the live qlib_lgbm signal."""


@model_group.command("promote")
@workdir_option
@click.option("--source", type=click.Choice(SOURCES), default="demo", show_default=True, help="Bars: the seeded demo market or AlphaVantage files.")
@click.option("--av-dir", default=None, type=click.Path(exists=True, file_okay=False), help="Folder of DA-<SYMBOL>-T-*.csv files (source alphavantage).")
@click.option("--start", type=DATE, default="2019-01-02", show_default=True, help="First decision session.")
@click.option("--end", type=DATE, default="2021-04-16", show_default=True, help="Last session valued.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="qlib_lgbm", show_default=True)
@click.option("--symbols", type=click.IntRange(2, 2000), default=30, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True, help="Demo market seed.")
@click.option(
    "--benchmark-file", default=None, type=click.Path(exists=True, dir_okay=False), help="Stooq daily CSV of the policy's benchmark, for bars that lack it."
)
@click.option("--actor", default="owner", show_default=True, help="Who asks for the promotion (recorded).")
def promote(workdir: str, source: str, av_dir: str | None, start, end, strategy: str, symbols: int, seed: int, benchmark_file: str | None, actor: str) -> None:
    """Study the workspace policy's model over the pre-registered sweep, grant or refuse it
    against the policy's promotion thresholds, and record the verdict (registry + ledger event).
    Exit code 0 when granted, 3 when refused."""
    from ..clock import from_env
    from ..research import promotion

    ws, policy, study, target = _study(workdir, source, av_dir, start, end, strategy, symbols, seed, True, benchmark_file)
    if study.verdict is None:
        raise click.ClickException("no promotion verdict: the window is too short for CSCV (40 sessions needed)")
    if strategy != policy.strategy.signal:
        policy = policy.model_copy(update={"strategy": policy.strategy.model_copy(update={"signal": strategy})})
    now = from_env().now()
    meta = {"source": source, "start": str(study.start), "end": str(study.end), "symbols": len(study.symbols), "report": str(target)}
    if "Model fits" in study.tables:  # the registry artifacts the study scored with
        meta["fits"] = study.tables["Model fits"]["model_id"].tolist()
    path = promotion.record(ws.models_dir, study.verdict, policy, now, meta)
    click.echo(study.verdict.summary())
    for c in study.verdict.checks:
        click.echo(f"  {'PASS' if c.passed else 'FAIL'} {c.code}: {c.message}")
    click.echo(f"verdict: {path}")
    click.echo(_ledger_event(ws, promotion.model_id(policy), study.verdict, actor))
    if not study.verdict.granted:
        raise SystemExit(3)


def _ledger_event(ws, mid: str, verdict, actor: str) -> str:
    """One MODEL_PROMOTION event when the workspace has a ledger at the current schema."""
    import os

    from ..ledger import api, db

    if not os.environ.get("TRADEOPS_DB_URL") and not (ws.data_dir / "ledger.sqlite").exists():
        return "ledger: none configured, no event recorded"
    try:
        engine = db.open_at_head(ws.db_url())
    except LedgerError as err:
        return f"ledger: {err}; no event recorded"
    try:
        with db.transaction(engine) as s:
            api.record_event(s, "MODEL_PROMOTION", {"model_id": mid, "verdict": verdict.word, **verdict.to_dict()}, actor=actor)
        return f"ledger: MODEL_PROMOTION event recorded ({verdict.word})"
    finally:
        engine.dispose()


COMMANDS = [backtest, model_group]
