"""`tradeops universe build`: write config/universe.csv from an AlphaVantage folder, an index
constituents CSV (symbol, name, sector) and/or a list of symbols, plus the benchmarks.

The file is checked as every run checks it (tradeops.config.parse_universe); an existing file
is replaced only with --force.  aapl and AAPL (or BRK-B and BRK.B) are one instrument: a list
naming one twice is refused with both places.
"""

from __future__ import annotations

from pathlib import Path

import click

from .common import workdir_option, workspace


@click.group("universe")
def universe() -> None:
    """Build config/universe.csv from a vendor folder, an index list or symbols."""


@universe.command("build")
@workdir_option
@click.option(
    "--alphavantage-dir",
    "av_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Folder of DA-<SYMBOL>-T-<date>.csv files: one stock per file, spelt as in the file names.",
)
@click.option(
    "--constituents",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Index constituents CSV (symbol, name, sector). With --alphavantage-dir or --symbols it only supplies names and sectors.",
)
@click.option("--symbols", default=None, help="Symbols separated by commas or spaces (e.g. 'AAPL,MSFT,BRK.B').")
@click.option("--benchmark", "benchmarks", multiple=True, help="Benchmark ETF(s); the first is the policy's universe.benchmark. Default: the policy's (SPY).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Default: config/<policy universe.file>.")
@click.option("--force", is_flag=True, help="Replace an existing universe file.")
def build(workdir, av_dir, constituents, symbols, benchmarks, out, force) -> None:
    """Write the universe file with vendor spellings, instrument types, sectors and the benchmarks."""
    from ..config import parse_policy, parse_universe
    from ..errors import ConfigError
    from ..files import write_atomic
    from ..universe import build_universe, read_constituents, read_symbols

    ws = workspace(workdir)
    policy = ws.policy() if ws.policy_path.exists() else parse_policy({})
    if not (av_dir or constituents or symbols):
        raise click.UsageError("give --alphavantage-dir, --constituents and/or --symbols")
    listed = read_constituents(Path(constituents).read_text(), Path(constituents).name) if constituents else []
    spellings: dict[str, str] = {}
    entries = []
    if av_dir:
        from ..data.providers import AlphaVantageDirProvider

        spellings = AlphaVantageDirProvider(av_dir).spellings()
        if not spellings:
            raise ConfigError(f"alphavantage folder {av_dir} has no DA-<SYMBOL>-T-<date>.csv file")
        entries += read_symbols(" ".join(spellings.values()), f"{Path(av_dir).name}/")
    if symbols:
        entries += read_symbols(symbols)
    if not entries:
        entries = listed
    marks = list(benchmarks) or [policy.universe.benchmark]
    text = build_universe(
        entries,
        marks,
        sectors={e.symbol: e for e in listed},
        alphavantage=spellings,
        benchmark=policy.universe.benchmark if policy.universe.benchmark in marks else marks[0],
    )
    target = Path(out) if out else ws.config_dir / policy.universe.file
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; pass --force to replace it")
    built = parse_universe(text, marks[0] if policy.universe.benchmark not in marks else policy.universe.benchmark)
    write_atomic(target, text)
    stocks = [i for i in built.instruments if i.instrument_type == "stock"]
    missing = [i.internal_symbol for i in stocks if not i.sector]
    click.echo(f"wrote {target}: {len(built.instruments)} instruments ({len(stocks)} stocks; benchmarks {', '.join(marks)})")
    if missing:
        click.echo(f"  {len(missing)} stock(s) without a sector (give --constituents): {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    if policy.universe.benchmark not in marks:
        click.echo(f"  note: the policy's universe.benchmark is {policy.universe.benchmark}; set it to {marks[0]}")


COMMANDS = [universe]
