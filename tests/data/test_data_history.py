"""History-wide checks on the real AlphaVantage files: the expected findings are computed here from the raw CSVs."""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tradeops.checks import ERROR, WARNING
from tradeops.config import Workspace
from tradeops.data import build_clean, fetch, load_clean
from tradeops.data.providers import AlphaVantageDirProvider

from .conftest import av_policy

AS_OF = date(2021, 4, 21)


def raw_rows(av_dir: Path, symbol: str) -> list[dict]:
    path = next(av_dir.glob(f"DA-{symbol}-T-*.csv"))
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def rebuild_ws(av_build, tmp_path) -> Workspace:
    ws = Workspace.at(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw").symlink_to(av_build[0].raw_dir)
    (tmp_path / "config").mkdir()
    return ws


def trmb_defect(av_dir: Path) -> tuple[str, str, str, str]:
    """From the raw file: the session where adjusted/close steps with no split or dividend, the session where
    the raw close then halves, and the sessions either side."""
    rows = raw_rows(av_dir, "TRMB")
    for k in range(1, len(rows)):
        a, b = rows[k - 1], rows[k]
        fa, fb = float(a["adjusted_close"]) / float(a["close"]), float(b["adjusted_close"]) / float(b["close"])
        if fb / fa > 1.5 and float(b["split_coefficient"]) == 1.0 and float(b["dividend_amount"]) == 0.0:
            assert float(b["close"]) == float(a["close"])  # flat raw close, doubled adjusted close
            c = rows[k + 1]
            assert float(c["close"]) / float(b["close"]) < 0.55 and float(c["split_coefficient"]) == 1.0  # halves, no split recorded
            return a["timestamp"], b["timestamp"], c["timestamp"], rows[k + 2]["timestamp"]
    raise AssertionError("no factor step in the TRMB file")


def test_trmb_factor_step_is_quarantined_with_the_finding_in_the_report(av_build, av_dir):
    ws, _, report = av_build
    before, bad, halved, after = trmb_defect(av_dir)
    assert (bad, halved) == ("2007-02-23", "2007-02-26")  # the figures
    found = [f for f in report.findings if f.symbol == "TRMB" and f.check == "factor_step"]
    assert len(found) == 1
    f = found[0]
    assert (f.start, f.end, f.verdict, f.raw_vs_adjusted, f.carry) == (bad, halved, "quarantined", "disagree", False)
    assert "x2 on 2007-02-23" in f.detail and "1/2 on 2007-02-26" in f.detail
    assert f"{bad}..{halved}: factor_step" in report.symbols["TRMB"].quarantined
    trmb = load_clean(ws).query("symbol == 'TRMB'")
    days = set(trmb["date"].dt.strftime("%Y-%m-%d"))
    assert bad not in days and halved not in days and before in days and after in days
    md = (ws.quality_dir / "quality.md").read_text()
    assert f"| TRMB | {bad}..{halved} | factor_step | disagree (vendor defect) | quarantined |" in md


def test_the_2003_01_29_copy_forward_is_found_across_the_universe(av_build, av_dir):
    _, _, report = av_build
    copied, total = set(), 0
    for path in sorted(av_dir.glob("DA-*-T-*.csv")):
        if path.read_bytes()[:1] == b"{":
            continue
        frame = pd.read_csv(path, index_col="timestamp")
        if "2003-01-28" in frame.index and "2003-01-29" in frame.index:
            total += 1
            a, b = frame.loc["2003-01-28"], frame.loc["2003-01-29"]
            if all(a[c] == b[c] for c in ("open", "high", "low", "close")):
                copied.add(path.name[3:].rsplit("-T-", 1)[0])
    assert len(copied) / total > 0.8  # about 85% of the files, as the issue says
    found = {f.symbol for f in report.findings if f.check == "copy_forward" and f.start == "2003-01-29"}
    assert found == copied
    f = next(f for f in report.findings if f.check == "copy_forward" and f.symbol == "AAPL")
    assert f.verdict == "quarantined" and f"in {len(copied)} of {total} symbols" in f.detail
    assert report.check("copy_forward").values["observed"] == len(copied) and not report.check("copy_forward").passed


def test_dividends_at_or_above_the_price_are_findings(av_build, av_dir):
    _, _, report = av_build
    expected = set()
    for path in sorted(av_dir.glob("DA-*-T-*.csv")):
        if path.read_bytes()[:1] == b"{":
            continue
        frame = pd.read_csv(path)
        for r in frame[(frame["dividend_amount"] > 0) & (frame["dividend_amount"] >= frame["close"])].itertuples():
            expected.add((path.name[3:].rsplit("-T-", 1)[0], r.timestamp))
    assert expected  # MO 2008-03-31 (50.48 on 22.20), EBAY 2015-07-20
    assert {(f.symbol, f.start) for f in report.findings if f.check == "dividend_at_or_above_price"} == expected


def test_real_moves_are_told_apart_from_vendor_defects(av_build, av_dir):
    _, _, report = av_build
    rows = {r["timestamp"]: r for r in raw_rows(av_dir, "AAPL")}
    raw = float(rows["2000-09-29"]["close"]) / float(rows["2000-09-28"]["close"]) - 1
    adj = float(rows["2000-09-29"]["adjusted_close"]) / float(rows["2000-09-28"]["adjusted_close"]) - 1
    assert abs(raw - adj) < 1e-3 and raw < -0.45
    f = next(f for f in report.findings if f.symbol == "AAPL" and f.start == "2000-09-29")
    assert (f.check, f.raw_vs_adjusted, f.verdict) == ("real_move", "agree", "kept")
    assert report.symbols["AAPL"].quarantined == ["2003-01-29: copy_forward"]


def test_a_recorded_correction_accepts_the_bars_and_is_hashed(av_build, rebuild_ws, av_universe):
    text = "symbol,start,end,action,reason\nTRMB,2007-02-23,2007-02-26,accept,checked against the exchange tape\n"
    (rebuild_ws.config_dir / "corrections.csv").write_text(text)
    report = build_clean(rebuild_ws, av_policy(), av_universe, AS_OF, av_build[1])
    f = next(f for f in report.findings if f.symbol == "TRMB" and f.check == "factor_step")
    assert f.verdict == "accepted" and "checked against the exchange tape" in f.correction
    assert report.output["corrections_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    trmb = load_clean(rebuild_ws).query("symbol == 'TRMB'")
    assert {"2007-02-23", "2007-02-26"} <= set(trmb["date"].dt.strftime("%Y-%m-%d"))


def test_a_quarantine_correction_drops_bars_without_a_finding(av_build, rebuild_ws, av_universe):
    (rebuild_ws.config_dir / "corrections.csv").write_text("symbol,start,end,action,reason\nMSFT,2010-01-04,2010-01-08,quarantine,bad print\n")
    report = build_clean(rebuild_ws, av_policy(), av_universe, AS_OF, av_build[1])
    f = next(f for f in report.findings if f.check == "correction")
    assert (f.symbol, f.start, f.end, f.bars) == ("MSFT", "2010-01-04", "2010-01-08", 5)
    msft = load_clean(rebuild_ws).query("symbol == 'MSFT'")
    assert not ((msft["date"] >= "2010-01-04") & (msft["date"] <= "2010-01-08")).any()


def test_bad_corrections_file_names_the_line(av_build, rebuild_ws, av_universe):
    from tradeops.errors import ConfigError

    (rebuild_ws.config_dir / "corrections.csv").write_text("symbol,start,end,action,reason\nTRMB,2007-02-26,2007-02-23,accept,x\n")
    with pytest.raises(ConfigError, match="line 2: start 2007-02-26 is after end 2007-02-23"):
        build_clean(rebuild_ws, av_policy(), av_universe, AS_OF, av_build[1])


@pytest.mark.parametrize("required", [False, True])
def test_a_cross_check_the_secondary_could_not_answer_is_reported_as_not_done(tmp_path, av_dir, spy_csv, stooq_server, required):
    from tradeops.config import Policy, parse_universe, universe_csv

    universe = parse_universe(universe_csv([("AAPL", "stock", ""), ("MSFT", "stock", ""), ("JNJ", "stock", ""), ("SPY", "ETF", "")]), "SPY")
    stooq_server.answer("spy.us", (200, spy_csv))  # the benchmark comes from the fallback; nothing else answers
    policy = Policy.model_validate(
        {"data": {"primary": "alphavantage", "secondary": "stooq", "cross_check": True}, "quality": {"cross_check_required": required}}
    )
    ws = Workspace.at(tmp_path).ensure()
    result = fetch(ws, policy, universe, AS_OF, "x1", providers=[AlphaVantageDirProvider(av_dir), stooq_server.provider()])
    report = build_clean(ws, policy, universe, AS_OF, result)
    sd = report.check("source_disagreement")
    assert "NOT DONE: stooq answered for 0 of 3 symbols" in sd.message and "no symbol excluded" not in sd.message.split(";")[0]
    done = report.check("cross_check_done")
    assert done.severity == (ERROR if required else WARNING) and done.values["observed"] == 0 and done.values["scope"] == ("gate" if required else "warning")
    assert report.trade_allowed is (not required)
    assert ("warning cross_check_done: cross-check NOT DONE" in report.summary()) is (not required)
