"""The clean frame -> Qlib binary format: exact values, incremental, idempotent, readable by Qlib."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from tradeops.calendar import get_calendar
from tradeops.research.qlib_data import dump_to_qlib, init_qlib


def _bin(root, sym, field):
    return np.fromfile(root / "features" / sym.lower() / f"{field}.day.bin", dtype="<f4")


def _all_bytes(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.bin"))}


def test_binary_layout_matches_the_clean_frame(av_eod, tmp_path):
    eod = av_eod[av_eod["date"] >= "2020-01-01"]
    res = dump_to_qlib(eod, tmp_path / "q")
    cal = (tmp_path / "q" / "calendars" / "day.txt").read_text().split()
    sessions = [d.isoformat() for d in get_calendar().sessions(date(2020, 1, 2), date(2021, 4, 21))]
    assert cal == sessions and res.sessions == len(sessions)
    for sym in ("AAPL", "BAC"):
        bars = eod[eod["symbol"] == sym]
        close = _bin(tmp_path / "q", sym, "close")
        assert close[0] == cal.index(str(bars["date"].iloc[0].date()))
        np.testing.assert_allclose(close[1:], bars["adj_close"].to_numpy(np.float32), rtol=1e-6)
        factor = _bin(tmp_path / "q", sym, "factor")[1:]
        np.testing.assert_allclose(factor, (bars["adj_close"] / bars["close"]).to_numpy(np.float32), rtol=1e-6)
        # raw volume = $volume * $factor
        np.testing.assert_allclose(_bin(tmp_path / "q", sym, "volume")[1:] * factor, bars["volume"].to_numpy(np.float32), rtol=1e-5)
    # AAPL's 4-for-1 split (2020-08-31): raw close jumps, Qlib's $close stays smooth
    aapl = eod[eod["symbol"] == "AAPL"].set_index("date")
    i = cal.index("2020-08-31")
    close = _bin(tmp_path / "q", "AAPL", "close")[1:]
    assert aapl.loc["2020-08-28", "close"] / aapl.loc["2020-08-31", "close"] > 3.5
    assert abs(close[i] / close[i - 1] - 1) < 0.1
    lines = (tmp_path / "q" / "instruments" / "all.txt").read_text().splitlines()
    assert lines[0] == "AAPL\t2020-01-02\t2021-04-21" and len(lines) == eod["symbol"].nunique()


def test_incremental_and_idempotent(av_eod, tmp_path):
    eod = av_eod[av_eod["date"] >= "2019-01-01"]
    full = dump_to_qlib(eod, tmp_path / "full")
    again = dump_to_qlib(eod, tmp_path / "full")
    assert again.written == () and again.appended == () and len(again.unchanged) == len(full.written)

    part = dump_to_qlib(eod[eod["date"] <= "2020-06-30"], tmp_path / "inc")
    assert len(part.written) == len(full.written)
    step = dump_to_qlib(eod, tmp_path / "inc")
    assert set(step.appended) == set(full.written) and step.written == ()
    assert _all_bytes(tmp_path / "inc") == _all_bytes(tmp_path / "full")

    # a changed history (new adjustment factors after a dividend) rewrites only that symbol
    changed = eod.copy()
    mcd = (changed["symbol"] == "MCD") & (changed["date"] < "2020-01-01")
    changed.loc[mcd, ["adj_open", "adj_high", "adj_low", "adj_close"]] *= 0.99
    redo = dump_to_qlib(changed, tmp_path / "inc")
    assert redo.written == ("MCD",) and redo.appended == ()
    assert _all_bytes(tmp_path / "inc") != _all_bytes(tmp_path / "full")
    fresh = dump_to_qlib(changed, tmp_path / "fresh")
    assert _all_bytes(tmp_path / "inc") == _all_bytes(tmp_path / "fresh") and len(fresh.written) == len(full.written)


def test_qlib_reads_the_dump(av_eod, tmp_path):
    from qlib.data import D

    eod = av_eod[av_eod["date"] >= "2020-06-01"]
    dump_to_qlib(eod, tmp_path / "qlib")
    init_qlib(tmp_path / "qlib", tmp_path / "mlruns")
    got = D.features(["MSFT"], ["$close", "$close / $factor"], start_time="2020-06-01", end_time="2021-04-21")
    bars = eod[eod["symbol"] == "MSFT"]
    np.testing.assert_allclose(got["$close"].to_numpy(), bars["adj_close"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(got["$close / $factor"].to_numpy(), bars["close"].to_numpy(), rtol=1e-5)
    assert (tmp_path / "mlruns").is_dir()
    assert pd.Timestamp(got.index.get_level_values("datetime")[-1]).date() == date(2021, 4, 21)
