"""PBO (CSCV) and the deflated Sharpe ratio against published worked examples and hand cases."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tradeops.errors import ValidationError
from tradeops.research.validation import (
    deflated_sharpe,
    excess_returns,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
    regime_slices,
    returns_by_period,
    walk_forward_refit,
)


def test_deflated_sharpe_numerical_example_of_the_paper():
    """Bailey & Lopez de Prado (2014), "The Deflated Sharpe Ratio", JPM 40(5), numerical example:
    N = 100 trials whose annualised Sharpe ratios have variance 1/2, a selected strategy with
    annualised SR 2.5 over T = 1250 daily observations (250 a year), skewness -3, kurtosis 10.
    Published: SR0 = 0.1132 (non-annualised) and DSR = 0.9004."""
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe(2.5 / np.sqrt(250), sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_psr_reduces_to_the_normal_case_and_dsr_on_a_series():
    # normal returns (skew 0, kurtosis 3): z = SR * sqrt(n-1) / sqrt(1 + SR^2 / 2)
    assert probabilistic_sharpe(0.1, 0.0, 101, 0.0, 3.0) == pytest.approx(stats.norm.cdf(0.1 * 10 / np.sqrt(1.005)))
    r = np.random.default_rng(1).normal(0.001, 0.01, 1000)
    one, many = deflated_sharpe(r, 1, 0.0), deflated_sharpe(r, 1000, 0.01**2)
    assert one.sr0 == 0.0 and many.sr0 > 0 and many.dsr < one.dsr
    with pytest.raises(ValidationError, match="at least 3"):
        deflated_sharpe(np.array([0.01, 0.01]), 10, 0.1)


def test_pbo_combinations_and_a_hand_worked_case():
    """Bailey, Borwein, Lopez de Prado & Zhu (2017), "The Probability of Backtest Overfitting",
    J. Computational Finance 20(4): S = 16 partitions give C(16, 8) = 12,870 combinations."""
    rng = np.random.default_rng(3)
    assert pbo_cscv(rng.normal(size=(160, 4)), partitions=16).combinations == 12870 == comb(16, 8)
    # Hand case, S = 4 blocks of 2 rows, N = 2 trials.  Trial 0 returns (2, 2.1 | 1, 1.1 | -1, -0.9 |
    # -2, -1.9) by block, trial 1 the negative.  In-sample means of trial 0 per half and the
    # out-of-sample mean of the in-sample winner:
    #   {0,1}: +1.55 -> OOS -1.45 loses | {0,2}: +0.55 -> OOS -0.45 loses | {0,3}: +0.05 -> OOS +0.05 wins
    #   {1,2}: +0.05 -> OOS +0.05 wins  | {1,3}: -0.45 (trial 1 wins IS) -> OOS trial 1 -0.55 loses
    #   {2,3}: -1.45 (trial 1 wins IS) -> OOS trial 1 -1.55 loses
    # w = rank / (N + 1): 2/3 for a winner (logit ln 2), 1/3 for a loser (logit -ln 2); PBO = 4/6.
    a = np.array([2.0, 2.1, 1.0, 1.1, -1.0, -0.9, -2.0, -1.9])
    res = pbo_cscv(np.column_stack([a, -a]), partitions=4)
    assert res.combinations == 6
    np.testing.assert_allclose(res.logits, np.log(2) * np.array([-1, -1, 1, 1, -1, -1]))
    assert res.pbo == pytest.approx(4 / 6)


def test_pbo_noise_is_a_coin_flip_and_skill_is_not_overfit():
    rng = np.random.default_rng(11)
    noise = rng.normal(0, 0.01, (1000, 20))
    assert 0.3 < pbo_cscv(noise, partitions=10).pbo < 0.7
    skill = noise.copy()
    skill[:, 7] += 0.004  # one trial with a real edge in every block
    assert pbo_cscv(skill, partitions=10).pbo == 0.0
    with pytest.raises(ValidationError, match="even number"):
        pbo_cscv(noise, partitions=5)


def test_a_median_rank_counts_half():
    """N = 3, S = 2 blocks of 2 rows, the same spread in every block (so Sharpe orders like the mean).
    Half {0}: A wins in sample (3.1 > 2.1 > 1.1), and out of sample ranks 2nd of 3 (B 3.1 > A 2.1 >
    C 1.1): w = 2 / 4 = 0.5, logit 0.  Half {1}: B wins, and ranks 2nd out of sample: logit 0.
    The chosen trial is exactly median both times: PBO 0.5 (counting l <= 0 would say 1.0)."""
    a = [3.0, 3.2, 2.0, 2.2]
    b = [2.0, 2.2, 3.0, 3.2]
    c = [1.0, 1.2, 1.0, 1.2]
    res = pbo_cscv(np.column_stack([a, b, c]), partitions=2)
    np.testing.assert_allclose(res.logits, [0.0, 0.0], atol=1e-12)
    assert res.pbo == 0.5


@pytest.mark.parametrize("trials", [3, 5, 6, 16])
def test_pbo_of_pure_noise_is_one_half_for_odd_and_even_trial_counts(trials):
    """100 seeds of i.i.d. normal returns, 400 sessions, S = 10: the mean PBO is 0.5 +/- 0.05."""
    values = [pbo_cscv(np.random.default_rng([seed, trials]).normal(0, 0.01, (400, trials)), partitions=10).pbo for seed in range(100)]
    assert abs(np.mean(values) - 0.5) <= 0.05, np.mean(values)


def test_the_vectorised_sharpe_path_equals_the_per_half_loop():
    rng = np.random.default_rng(5)
    m = rng.normal(0, 0.01, (333, 7))
    m[:, 2] += 0.001
    fast = pbo_cscv(m, partitions=8)
    slow = pbo_cscv(m, partitions=8, metric=lambda x: x.mean(axis=0) / x.std(axis=0, ddof=1))
    np.testing.assert_allclose(fast.logits, slow.logits, rtol=1e-9)
    assert fast.pbo == slow.pbo


def test_excess_returns_are_over_the_benchmark_on_common_sessions():
    days = pd.date_range("2024-01-01", periods=5, freq="B")
    strat = pd.Series([0.01, 0.02, -0.01, 0.0], index=days[1:])
    bench = pd.Series([100.0, 101.0, 101.0, 99.99, 100.99], index=days)  # +1%, 0, -1%, +1.0001%
    out = excess_returns(strat, bench)
    np.testing.assert_allclose(out.to_numpy(), [0.0, 0.02, 0.0, 0.0 - 1.0 / 99.99], atol=1e-15)


def test_regime_slices_and_the_year_table_cover_only_the_data():
    import pandas as pd

    idx = pd.bdate_range("2019-01-01", "2021-12-31")
    r = pd.Series(np.random.default_rng(5).normal(0, 0.01, len(idx)), index=idx)
    slices = regime_slices(r)
    assert list(slices["regime"]) == ["2020 covid crash", "2020 recovery"]
    years = returns_by_period(r)
    assert years["period"].tolist() == ["2019", "2020", "2021"] and "benchmark_return" not in years
    assert years["total_return"].iloc[1] == pytest.approx(np.prod(1 + r.loc["2020"]) - 1)
    assert years["cumulative"].iloc[-1] == pytest.approx(np.prod(1 + r) - 1)  # the year table fits the total


def test_year_table_by_hand():
    import pandas as pd

    # 2019: two sessions +10%, -10% -> -1%; 2020: one session +20% -> cumulative 0.99 * 1.2 - 1 = 18.8%
    days = pd.to_datetime(["2019-12-30", "2019-12-31", "2020-01-02"])
    r = pd.Series([0.10, -0.10, 0.20], index=days)
    bench = pd.Series([100.0, 105.0, 105.0, 94.5], index=pd.to_datetime(["2019-12-27", *days.astype(str)]))  # +5%, 0, -10%
    t = returns_by_period(r, bench)
    assert t["period"].tolist() == ["2019", "2020"] and t["sessions"].tolist() == [2, 1]
    np.testing.assert_allclose(t["total_return"], [-0.01, 0.20])
    np.testing.assert_allclose(t["benchmark_return"], [0.05, -0.10])
    np.testing.assert_allclose(t["excess_return"], [-0.06, 0.30])
    np.testing.assert_allclose(t["cumulative"], [-0.01, 0.188])
    np.testing.assert_allclose(t["max_drawdown"], [-0.10, 0.0])


def test_walk_forward_refits_the_parameters_before_every_fold():
    import pandas as pd

    # three variants over three years of 10 sessions each; each year one variant is the steady
    # winner (+1% a day, with a small wiggle so Sharpe is defined), the others lose
    idx = pd.DatetimeIndex(
        list(pd.bdate_range("2019-03-01", periods=10)) + list(pd.bdate_range("2020-03-02", periods=10)) + list(pd.bdate_range("2021-03-01", periods=10))
    )
    wiggle = np.tile([0.001, -0.001], 15)
    win, lose = 0.01 + wiggle, -0.005 + wiggle
    cols = {"base": np.r_[win[:10], lose[10:20], lose[20:]], "a": np.r_[lose[:10], win[10:20] - 0.001, lose[20:]], "b": np.r_[lose[:10], lose[10:20], win[20:]]}
    trials = pd.DataFrame(cols, index=idx)
    wf = walk_forward_refit(trials, "YE", min_train_sessions=10)
    # 2019 only trains; 2020 picks "base" (best on 2019) and loses; 2021 picks on 2019-2020 where
    # "base" (+1% then -0.5% a day: Sharpe 0.25/0.75 per day) still beats "a" (-0.5% then +0.9%: 0.20/0.70)
    assert wf["chosen"].tolist()[:2] == ["base", "base"] and wf["in_sample_sessions"].tolist()[:2] == [10, 20]
    np.testing.assert_allclose(wf["total_return"].iloc[0], np.prod(1 + lose[10:20]) - 1)
    np.testing.assert_allclose(wf["base_total_return"].iloc[0], np.prod(1 + lose[10:20]) - 1)
    assert wf["fold"].iloc[-1] == "out of sample 2020-03-02..2021-03-12" and wf["chosen"].iloc[-1] == "0 change(s) of variant"
    np.testing.assert_allclose(wf["total_return"].iloc[-1], np.prod(1 + lose[10:30]) - 1)

    # an edge that persists is picked up: "a" wins every year, so it is chosen for 2020 and 2021
    trials["a"], trials["base"] = np.r_[win[:10], win[10:20], win[20:]], lose
    wf = walk_forward_refit(trials, "YE", min_train_sessions=10)
    assert wf["chosen"].tolist() == ["a", "a", "0 change(s) of variant"]
    np.testing.assert_allclose(wf["total_return"].iloc[-1], np.prod(1 + win[10:30]) - 1)
    with pytest.raises(ValidationError, match="base variant 'base' is not among"):
        walk_forward_refit(trials.drop(columns="base"))
