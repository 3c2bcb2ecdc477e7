"""The momentum ranker on real AlphaVantage data agrees with an independent calculation.

The expected ranks are computed here, straight from the documented formula,
with plain pandas on each symbol's own series (no code shared with
tradeops.signals): returns over exchange-calendar lookbacks, sample stdev
of log returns, median traded value, hand-written percentile ranks.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradeops.calendar import get_calendar
from tradeops.config import parse_policy
from tradeops.signals import compute_signal

WEIGHTS = {"mom_1w": 0.15, "mom_4w": 0.25, "mom_12w": 0.35, "volatility": 0.1, "liquidity": 0.05, "reversal": 0.1}


@pytest.fixture(scope="module")
def av_frame(shared_data) -> pd.DataFrame:
    """The clean-frame contract built from every readable AlphaVantage file (adj_* = raw * adjusted/close)."""
    frames = []
    for path in sorted((shared_data / "alphavantage-sp500" / "daily_adjusted").glob("DA-*.csv")):
        if path.read_bytes()[:1] == b"{":  # the BF.B file is an API error payload
            continue
        df = pd.read_csv(path, parse_dates=["timestamp"])
        sym = path.name[3:].rsplit("-T-", 1)[0]
        ratio = df["adjusted_close"] / df["close"]
        frames.append(
            pd.DataFrame(
                {
                    "symbol": sym,
                    "date": df["timestamp"],
                    "open": df["open"],
                    "high": df["high"],
                    "low": df["low"],
                    "close": df["close"],
                    "adj_open": df["open"] * ratio,
                    "adj_high": df["high"] * ratio,
                    "adj_low": df["low"] * ratio,
                    "adj_close": df["adjusted_close"],
                    "volume": df["volume"].astype(float),
                    "dividend": df["dividend_amount"],
                    "split": df["split_coefficient"],
                    "source": "alphavantage",
                    "raw_file": path.name,
                }
            )
        )
    assert len(frames) >= 100
    return pd.concat(frames, ignore_index=True).sort_values(["symbol", "date"]).reset_index(drop=True)


def _percentile(values: np.ndarray) -> np.ndarray:
    """Average-rank percentile: (number below + (number equal + 1) / 2) / n."""
    n = len(values)
    return np.array([((values < v).sum() + ((values == v).sum() + 1) / 2) / n for v in values])


def independent_ranking(frame: pd.DataFrame, session: date, p) -> pd.DataFrame:
    sessions = get_calendar().sessions_back(session, 200)
    ts = pd.Timestamp(session)
    rows = []
    for sym, g in frame.groupby("symbol"):
        g = g.set_index("date").sort_index().loc[:ts]
        if g.empty or g.index[-1] != ts:
            continue  # no bar on the decision session (the stale symbol, late listings)
        adj = g["adj_close"]

        def ret(k):
            before = adj.loc[: pd.Timestamp(sessions[-1 - k])]
            return adj.iloc[-1] / before.iloc[-1] - 1 if len(before) else np.nan

        row = {
            "symbol": sym,
            "mom_1w": ret(p.lookback_1w),
            "mom_4w": ret(p.lookback_4w),
            "mom_12w": ret(p.lookback_12w),
            "reversal": -ret(p.reversal_window),
            "volatility": np.log(adj).diff().iloc[-p.volatility_window :].std() if len(adj) > p.volatility_window else np.nan,
            "liquidity": (g["close"] * g["volume"]).iloc[-p.volume_window :].median() if len(adj) >= p.volume_window else np.nan,
        }
        rows.append(row)
    df = pd.DataFrame(rows).dropna().reset_index(drop=True)
    score = np.zeros(len(df))
    for k, w in WEIGHTS.items():
        values = -df[k].to_numpy() if k == "volatility" else df[k].to_numpy()
        score += w * _percentile(values)
    df["score"] = np.round(score, 12)  # documented: float noise must not decide a tie (IR/NKE tie on 2020-06-15)
    df = df.sort_values(["score", "symbol"], ascending=[False, True]).reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    return df


@pytest.mark.parametrize("session", [date(2020, 6, 15), date(2008, 10, 15), date(2021, 4, 21)])
def test_momentum_ranks_match_an_independent_calculation(av_frame, session):
    policy = parse_policy({"strategy": {"momentum": {"weights": WEIGHTS}}})
    got = compute_signal(av_frame, policy, session).ranked
    want = independent_ranking(av_frame, session, policy.strategy.momentum)
    assert len(got) == len(want) > 50
    assert got["symbol"].tolist() == want["symbol"].tolist()
    assert got["rank"].tolist() == want["rank"].tolist()
    assert np.allclose(got["score"], want["score"], atol=1e-9)
    for k in ("mom_1w", "mom_4w", "mom_12w", "volatility", "liquidity", "reversal"):
        assert np.allclose(got[k], want[k], rtol=1e-9), k


def test_the_stale_symbol_is_dropped_with_its_last_bar(av_frame):
    """One file ends 2021-04-16 while the rest end 2021-04-21: it cannot be ranked on the 21st."""
    got = compute_signal(av_frame, parse_policy({}), date(2021, 4, 21))
    stale = {s: why for s, why in got.dropped.items() if "last bar 2021-04-16" in why}
    assert len(stale) == 1
    assert next(iter(stale)) not in set(got.ranked["symbol"])
