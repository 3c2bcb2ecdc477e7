"""`tradeops data fetch|build|qa`: the data stages from the command line.

Each command is a thin wrapper over :mod:`tradeops.data` (the same calls the
stage notebooks make).  ``qa`` exits 1 when the data-quality gate fails.  A
non-USD account (``account.account_currency: GBP``) also fetches, builds and
checks its FX series (:mod:`tradeops.data.fx`); ``qa`` then also exits 1 when
the FX gate fails.
"""

from __future__ import annotations

from datetime import date

from typing import TYPE_CHECKING

import click

from ..clock import SYSTEM
from ..config import SOURCES, parse_policy
from .common import workdir_option, workspace

if TYPE_CHECKING:
    from ..config import Policy

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _policy(ws, primary: str | None, secondary: str | None, alphavantage_dir: str | None) -> "Policy":
    policy = ws.policy()
    if not (primary or secondary or alphavantage_dir):
        return policy
    raw = policy.model_dump()
    if primary:
        raw["data"]["primary"] = primary
    if secondary:
        raw["data"]["secondary"] = None if secondary == "none" else secondary
    if alphavantage_dir:
        raw["data"]["alphavantage_dir"] = alphavantage_dir
    return parse_policy(raw)


@click.group("data")
def data() -> None:
    """Fetch market data, build the clean parquet, check its quality."""


@data.command("fetch")
@workdir_option
@click.option("--as-of", type=DATE, default=None, help="Decision session (T-1). Default: the latest complete session now.")
@click.option("--run-id", default=None, help="Run id used in raw file names. Default: the UTC time.")
@click.option("--primary", type=click.Choice(SOURCES), default=None, help="Override policy data.primary.")
@click.option("--secondary", type=click.Choice((*SOURCES, "none")), default=None, help="Override policy data.secondary.")
@click.option("--alphavantage-dir", default=None, help="Folder of DA-<SYMBOL>-T-<date>.csv files (alphavantage provider).")
@click.option("--full", is_flag=True, help="Ask for the whole history window again instead of the sessions after what is stored.")
def fetch_cmd(workdir, as_of, run_id, primary, secondary, alphavantage_dir, full) -> None:
    """Stage 1: download every universe symbol into data/raw/ (incremental unless --full)."""
    from ..calendar import get_calendar
    from ..data import fetch, make_provider

    ws = workspace(workdir)
    policy = _policy(ws, primary, secondary, alphavantage_dir)
    universe = ws.universe(policy)
    now = SYSTEM.now()
    session = as_of.date() if as_of else get_calendar(policy.schedule.exchange).latest_complete_session(now)
    run_id = run_id or now.strftime("%Y%m%dT%H%M%SZ")
    names = [policy.data.primary] + ([policy.data.secondary] if policy.data.secondary else [])
    result = fetch(ws, policy, universe, session, run_id, providers=[make_provider(n, ws, policy) for n in names], full=full)
    got = [s for s in result.symbols if result.chosen(s)]
    extended = sum(1 for s in got if result.chosen(s).incremental)
    click.echo(
        f"fetched {len(got)} of {len(result.symbols)} symbols for {session} (run {run_id}; primary {result.primary}, "
        f"secondary {result.secondary}); {extended} extended a stored history, {result.stored_bytes:,} bytes stored"
    )
    for sym in result.symbols:
        if not result.chosen(sym):
            click.echo(f"  no data for {sym}: " + "; ".join(f"{a.source}: {a.error}" for a in result.failures(sym)))
    for f in result.findings:
        click.echo(f"  finding ({f.kind}, {f.source}): {f.message}")
    _fetch_fx(ws, policy, session, run_id, names)


def _fetch_fx(ws, policy, session, run_id, names) -> None:
    from ..data import fx
    from ..errors import DataError

    if fx.pair_for(policy.account.account_currency) is None:
        return
    try:
        got = fx.fetch_fx(ws, policy, session, run_id, providers=[fx.make_fx_provider(n, ws, policy) for n in names])
    except DataError as err:
        click.echo(f"FX: {err}")
        return
    chosen = got.chosen()
    click.echo(
        f"FX {got.pair} for {session}: "
        + (f"from {chosen.source} ({chosen.raw_file})" if chosen else "no provider answered: " + "; ".join(f"{a.source}: {a.error}" for a in got.attempts))
    )


@data.command("build")
@workdir_option
@click.option("--as-of", type=DATE, default=None, help="Decision session. Default: the as_of of the fetch record.")
@click.option(
    "--fetch-record",
    "record",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="data/raw/_fetch/<as_of>_<run_id>.json to build from. Default: the newest one.",
)
def build_cmd(workdir, as_of, record) -> None:
    """Stages 2-5: build a clean snapshot and the quality report; `current` moves only if the gate passes."""
    from ..data import FetchResult, build_clean, latest_fetch_record

    ws = workspace(workdir)
    policy = ws.policy()
    session: date | None = as_of.date() if as_of else None
    result = FetchResult.load(record or latest_fetch_record(ws, session))
    report = build_clean(ws, policy, ws.universe(policy), session or result.as_of, result)
    click.echo(report.summary())
    click.echo(f"wrote snapshot {report.output['snapshot']}: {report.output['path']} ({report.output['rows']} rows) and {ws.quality_dir / 'quality.md'}")
    if report.output.get("promoted"):
        click.echo(f"current clean data is now snapshot {report.output['snapshot']}")
    _build_fx(ws, policy, session or result.as_of, result)


def _fx_line(report) -> str:
    if report.passed:
        return f"FX {report.pair} for {report.as_of}: PASS, rate {report.rate.rate} of {report.rate.date} ({report.rate.source})"
    return f"FX {report.pair} for {report.as_of}: FAIL (no trade): " + "; ".join(report.reasons)


def _build_fx(ws, policy, session, result) -> None:
    from ..data import fx

    pair = fx.pair_for(policy.account.account_currency)
    if pair is None:
        return
    record = fx.fx_record_path(ws, result.as_of, result.run_id)
    if record.exists():
        report = fx.build_fx_clean(ws, policy, session, record)
    else:
        report = fx.missing_report(pair, session, f"run {result.run_id} fetched no FX series ({record} is missing)")
        report.save(fx.fx_clean_dir(ws) / "quality.json")
    click.echo(_fx_line(report))


@data.command("qa")
@workdir_option
def qa_cmd(workdir) -> None:
    """Print the latest quality report's summary; exit 1 when the gate failed."""
    from ..data import load_quality_report

    from ..data import fx

    ws = workspace(workdir)
    report = load_quality_report(ws)
    click.echo(report.summary())
    fx_report = None
    if fx.pair_for(ws.policy().account.account_currency) is not None:
        fx_report = fx.FxReport.load(fx.fx_clean_dir(ws) / "quality.json")
        click.echo(_fx_line(fx_report))
    if not report.trade_allowed:
        raise click.ClickException(f"data quality gate failed for {report.as_of}: no trade")  # exit code 1
    if fx_report is not None and not fx_report.passed:
        raise click.ClickException(f"FX gate failed for {fx_report.as_of}: no trade")


COMMANDS = [data]
