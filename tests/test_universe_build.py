"""`tradeops universe build`: from the shared AlphaVantage folder, its constituents list and
plain symbols; the expected rows are read from the raw files here, never from the code under test."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.cli import main
from tradeops.config import load_universe, parse_universe
from tradeops.errors import ConfigError
from tradeops.universe import build_universe, read_constituents, read_symbols


@pytest.fixture(scope="module")
def av(shared_data) -> tuple[Path, Path]:
    root = shared_data / "alphavantage-sp500"
    return root / "daily_adjusted", root / "constituents.csv"


def _constituents(path: Path) -> dict[str, tuple[str, str]]:
    with open(path, newline="") as fh:
        return {r["Symbol"]: (r["Name"], r["Sector"]) for r in csv.DictReader(fh)}


@pytest.fixture
def run(capsys):
    """`tradeops ARGV` as the shell runs it: (exit code, stdout + stderr)."""

    def go(*argv) -> tuple[int, str]:
        code = main(list(argv))
        got = capsys.readouterr()
        return code, got.out + got.err

    return go


def test_from_the_alphavantage_folder_with_sectors_and_benchmarks(tmp_path, av, run):
    folder, listing = av
    code, out = run(
        "universe",
        "build",
        "--workdir",
        str(tmp_path),
        "--alphavantage-dir",
        str(folder),
        "--constituents",
        str(listing),
        "--benchmark",
        "SPY",
        "--benchmark",
        "QQQ",
    )
    assert code == 0, out
    files = sorted(re.match(r"DA-(.+)-T-", p.name)[1] for p in folder.glob("DA-*-T-*.csv"))
    known = _constituents(listing)
    u = load_universe(tmp_path / "config" / "universe.csv", "SPY")
    assert u.tradable == files  # every file is a stock, in file-name order; the ETFs are not tradable stocks
    assert [i.internal_symbol for i in u.instruments if i.instrument_type == "ETF"] == ["SPY", "QQQ"]
    for sym in files:
        inst = u[sym]
        assert inst.alphavantage_symbol == sym and inst.stooq_symbol == sym.lower().replace(".", "-") + ".us"
        assert (inst.notes, inst.sector) == known.get(sym, ("", ""))
    assert f"wrote {tmp_path / 'config' / 'universe.csv'}: {len(files) + 2} instruments" in out
    code, out = run("universe", "build", "--workdir", str(tmp_path), "--symbols", "AAPL")
    assert code == 2 and "exists; pass --force" in out


def test_from_the_constituents_list_alone(tmp_path, av, run):
    _, listing = av
    out = tmp_path / "sp500.csv"
    code, text = run("universe", "build", "--workdir", str(tmp_path), "--constituents", str(listing), "--out", str(out))
    assert code == 0, text
    known = _constituents(listing)
    u = load_universe(out, "SPY")
    assert set(u.tradable) == set(known) and len(u.tradable) == len(known)
    assert u["BRK.B"].yahoo_symbol == "BRK-B" and u["BRK.B"].stooq_symbol == "brk-b.us" and u["BF.B"].sector == known["BF.B"][1]


def test_case_and_punctuation_duplicates_are_refused_with_both_places(tmp_path, run):
    code, out = run("universe", "build", "--workdir", str(tmp_path), "--symbols", "aapl MSFT AAPL")
    assert code == 2 and "--symbols item 3 and --symbols item 1 name the same instrument AAPL" in out
    with pytest.raises(ConfigError, match=r"x.csv line 3 and x.csv line 2 name the same instrument BRK.B"):
        build_universe(read_constituents("symbol,name,sector\nBRK.B,Berkshire,Financials\nbrk-b,Berkshire B,Financials\n", "x.csv"), ["SPY"])
    assert not (tmp_path / "config" / "universe.csv").exists()


def test_a_benchmark_among_the_symbols_is_the_etf_once():
    u = parse_universe(build_universe(read_symbols("spy AAPL"), ["SPY"]), "SPY")
    assert [(i.internal_symbol, i.instrument_type) for i in u.instruments] == [("AAPL", "stock"), ("SPY", "ETF")]


@pytest.mark.parametrize("bad", ["AA PL;", "$AAPL", "A" * 21, "../x"])
def test_symbols_that_are_not_tickers_are_named(bad):
    with pytest.raises(ConfigError, match="is not a ticker symbol"):
        build_universe(read_symbols(bad if " " not in bad else "AAPL, $X"), ["SPY"])


tickers = st.from_regex(r"[A-Za-z]{1,5}([.-][A-Za-z])?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(tickers, max_size=30))
def test_any_list_gives_one_row_per_instrument_or_names_the_duplicate(symbols):
    canon = [s.upper().replace("-", ".") for s in symbols]
    try:
        text = build_universe(read_symbols(",".join(symbols)), ["SPY"])
    except ConfigError as err:
        assert len(set(canon)) < len(canon) and "name the same instrument" in str(err)
        return
    assert len(set(canon)) == len(canon)
    u = parse_universe(text, "SPY")  # loads as every run loads it
    assert sorted(u.symbols) == sorted(set(canon) | {"SPY"})
    assert len({s.upper() for s in u.symbols}) == len(u.symbols)
