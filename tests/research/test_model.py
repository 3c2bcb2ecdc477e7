"""LightGBM through Qlib on real AlphaVantage bars: trains, predicts, reports IC, no lookahead."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradeops.calendar import get_calendar
from tradeops.config import Research, parse_policy
from tradeops.research.model import ic_summary, information_coefficient, labels, ranking_from_scores, rolling_predict, train_end_for
from tradeops.research.qlib_data import dump_to_qlib, init_qlib

from .conftest import AV_SYMBOLS

R = Research(train_sessions=250, purge_sessions=2, retrain_every=30, num_boost_round=20, num_leaves=7)
START, END, CUT = date(2020, 1, 2), date(2020, 3, 31), date(2020, 2, 14)


def _predict(eod, folder):
    dump_to_qlib(eod, folder / "qlib")
    init_qlib(folder / "qlib", folder / "mlruns")
    return rolling_predict(AV_SYMBOLS, START, END, R)


@pytest.mark.slow
def test_trains_predicts_reports_ic_and_never_looks_ahead(av_eod, tmp_path):
    eod = av_eod[av_eod["date"] >= "2018-01-01"]
    res = _predict(eod, tmp_path / "a")
    assert res.predictions.shape[1] == len(AV_SYMBOLS) and res.predictions.index[0].date() == START
    cal = get_calendar()
    for fit in res.fits:  # purge: the last training label ends before the first test session
        assert fit["train_end"] == train_end_for(cal, fit["retrain_session"], R) and fit["retrain_session"] <= fit["test_start"]
        assert cal.session_offset(fit["train_end"], R.label_horizon + 1) < fit["test_start"]
    ic = information_coefficient(res.predictions, labels(AV_SYMBOLS, START, END, R.label_horizon))
    summary = ic_summary(ic)
    assert summary["sessions"] > 50 and -1 <= summary["rank_ic"] <= 1 and np.isfinite(summary["ic"])

    # rewrite the future after CUT: past predictions must not move
    future = eod.copy()
    later = future["date"] > pd.Timestamp(CUT)
    noise = np.random.default_rng(0).uniform(0.5, 1.5, later.sum())
    for col in ("open", "high", "low", "close", "adj_open", "adj_high", "adj_low", "adj_close"):
        future.loc[later, col] = future.loc[later, col] * noise
    shifted = _predict(future, tmp_path / "b")
    past = res.predictions.index <= pd.Timestamp(CUT)
    pd.testing.assert_frame_equal(res.predictions[past], shifted.predictions[past])
    assert not res.predictions[~past].equals(shifted.predictions[~past])

    ranking = ranking_from_scores(res.predictions.iloc[-1], parse_policy({"portfolio": {"target_positions": 3, "min_positions": 1}}), AV_SYMBOLS + ["XYZ"])
    assert list(ranking.frame.columns) == ["symbol", "score", "rank", "selected"]
    assert ranking.frame["selected"].sum() == 3 and "XYZ" in ranking.dropped


def test_features_read_only_the_close_and_the_volume():
    """The live signal stage reads close, adj_close and volume from the clean parquet: a feature on
    $open/$high/$low/$vwap would be NaN live and real in research (Qlib's Min($low, d) op is named
    LOW, not MIN: it was in the feature set and made live scores differ from the backtest's)."""
    import re

    from tradeops.research.model import feature_config

    fields, names = feature_config()
    fields_read = {f for expr in fields for f in re.findall(r"\$([a-z]+)", expr)}
    assert fields_read == {"close", "volume"}, fields_read
    assert len(fields) == len(set(names)) == 4 + 23 * 5  # 4 volume lags, 23 close/volume rolling ops x 5 windows
    assert not any(n.startswith(("MIN", "MAX", "RSV", "IMAX", "IMIN", "IMXD", "KMID")) for n in names)
