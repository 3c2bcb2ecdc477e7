"""qlib_lgbm decides live exactly as in its backtest, on the real shared AlphaVantage bars.

The live path is the signal stage's own call (compute_signal on a frame cut at the
decision session); the backtest is rolling_predict over the whole (uncut) frame.  Both
fit on the calendar's retrain sessions with the same training window, so every score
agrees; a backtest whose model trained on another window fails the check by name.

The ledger replay (check_ledger_replay) goes on to the decisions: the backtest's fills are
booked in a real ledger (SQLite and PostgreSQL), the book of every decision session is the
one the preflight derives from it, and the live signal and risk stages on the cut bars must
approve the backtest's targets (selected symbols, trade sides, weights within 1e-9)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pandas as pd
import pytest

from tradeops import stages
from tradeops.calendar import get_calendar
from tradeops.config import parse_policy
from tradeops.errors import ConformanceError, DataError, ValidationError
from tradeops.ledger.db import init_db
from tradeops.research import promotion
from tradeops.research.backtest import run_backtest, scores_ranker
from tradeops.research.benchmark import require_benchmark
from tradeops.research.conformance import check_ledger_replay, check_scores
from tradeops.research.model import fit_window, history_needed, rolling_predict
from tradeops.research.qlib_data import dump_to_qlib, init_qlib
from tradeops.research.registry import ModelRegistry
from tradeops.research.sources import from_alphavantage_dir
from tradeops.signals import compute_signal, run_signal_stage

from .conftest import universe_for

SYMBOLS = ["AAPL", "MSFT", "BAC", "HAL", "JNJ", "PG"]
RESEARCH = {"train_sessions": 120, "purge_sessions": 2, "retrain_every": 5, "num_boost_round": 20, "num_leaves": 7}
START, END = date(2020, 3, 2), date(2020, 3, 13)  # 10 sessions: three fits of the 5-session schedule
LIVE = (date(2020, 3, 2), date(2020, 3, 6), date(2020, 3, 12))


def _policy(**research):
    return parse_policy({"strategy": {"signal": "qlib_lgbm"}, "portfolio": {"target_positions": 3, "min_positions": 1}, "research": {**RESEARCH, **research}})


@pytest.fixture(scope="module")
def bars(av_dir):
    return from_alphavantage_dir(av_dir, SYMBOLS, start=date(2019, 1, 1), end=date(2020, 12, 31))


def _backtest(bars, policy, folder, registry=None):
    dump_to_qlib(bars, folder / "qlib")
    init_qlib(folder / "qlib", folder / "mlruns")
    return rolling_predict(SYMBOLS, START, END, policy.research, get_calendar(), registry)


def _live(bars, policy, sessions):
    universe, out = universe_for(SYMBOLS), {}
    for d in sessions:
        cut = bars.loc[bars["date"] <= pd.Timestamp(d)]  # what the daily run has on d: nothing later
        ranked = compute_signal(cut, policy, d, universe).ranked
        out[d] = pd.Series(ranked["score"].to_numpy(float), index=ranked["symbol"].astype(str))
    return out


@pytest.mark.slow
def test_live_scores_equal_backtest_scores_and_another_window_fails(bars, tmp_path):
    policy = _policy()
    backtest = _backtest(bars, policy, tmp_path / "bt")
    cal = get_calendar()
    # the backtest's fits are the calendar's: sessions 2020-03-02..13 fall in three 5-session blocks
    assert [f["retrain_session"] for f in backtest.fits] == [fit_window(cal, d, policy.research).retrain_session for d in (START, date(2020, 3, 9), END)][
        : len(backtest.fits)
    ]
    assert len(backtest.fits) >= 2 and len({f["model_id"] for f in backtest.fits}) == len(backtest.fits)
    live = _live(bars, policy, LIVE)
    assert check_scores(live, backtest.predictions) == len(LIVE) * len(SYMBOLS)

    other = _backtest(bars, _policy(train_sessions=180), tmp_path / "other")  # a model trained on another window
    with pytest.raises(ConformanceError, match=r"session 2020-03-02: \d of 6 scores differ") as err:
        check_scores(live, other.predictions)
    assert any(s in str(err.value) for s in SYMBOLS)


@pytest.mark.slow
def test_one_registry_for_live_and_backtest_and_only_a_promoted_model(bars, tmp_path):
    policy, session = _policy(), date(2020, 3, 11)
    ws_models, run_dir = tmp_path / "models", tmp_path / "run"
    eod_path = tmp_path / "eod.parquet"
    bars.loc[bars["date"] <= pd.Timestamp(session)].to_parquet(eod_path)
    universe = universe_for(SYMBOLS)
    with pytest.raises(ValidationError, match=r"only score with a promoted model: model qlib_lgbm-[0-9a-f]{12} has no promotion verdict"):
        run_signal_stage(eod_path, policy, universe, session, run_dir, models_dir=ws_models)

    evidence = promotion.Evidence("base", 16, 500, 0.01, 0.99, "returns over SPY", 150, 1.2, 0.1)
    promotion.record(ws_models, promotion.judge(evidence, policy.promotion), policy, datetime(2026, 1, 5, 18, tzinfo=timezone.utc))
    live = run_signal_stage(eod_path, policy, universe, session, run_dir, models_dir=ws_models)
    meta = json.loads((run_dir / "signals" / f"{session}.json").read_text())
    registry = ModelRegistry(ws_models)
    (artifact,) = registry.fits(promotion.model_id(policy))
    window = fit_window(get_calendar(), session, policy.research)
    assert meta["model"]["model_id"] == artifact.model_id and artifact.model_id in live.note
    assert stages.signal_model(run_dir, session) == artifact.model_id  # what the ticket stage puts in the version hash
    assert (artifact.retrain_session, artifact.train_start, artifact.train_end) == (window.retrain_session, window.train_start, window.train_end)
    assert artifact.symbols == tuple(sorted(SYMBOLS)) and artifact.params["train_sessions"] == 120 and len(artifact.data_hash) == 64

    # the backtest over the same days finds the live fit in the registry (same bars, same window: same id)
    backtest = _backtest(bars, policy, tmp_path / "bt", registry)
    ids = {f["test_start"]: f["model_id"] for f in backtest.fits}
    assert ids[window.retrain_session] == artifact.model_id
    assert len(registry.fits(promotion.model_id(policy))) == len(backtest.fits)  # the other fits were added
    check_scores({session: pd.Series(live.ranked["score"].to_numpy(float), index=live.ranked["symbol"])}, backtest.predictions)


def test_live_refuses_a_history_too_short_for_the_training_window(bars):
    policy = _policy()
    session = date(2020, 3, 11)
    short = bars.loc[(bars["date"] <= pd.Timestamp(session)) & (bars["date"] >= pd.Timestamp("2019-11-01"))]
    with pytest.raises(DataError, match=rf"history starts on 2019-11-01: fetch at least {history_needed(policy)} sessions"):
        compute_signal(short, policy, session, universe_for(SYMBOLS))


def test_the_daily_fetch_asks_for_the_live_training_window():
    from tradeops.data.fetch import history_sessions

    # 750 training sessions + label 5 + 1 + purge 5 + 70 warm-up + up to 20 since the retrain
    assert history_sessions(parse_policy({"strategy": {"signal": "qlib_lgbm"}})) == 851
    assert history_sessions(parse_policy({"strategy": {"signal": "qlib_lgbm"}, "data": {"history_sessions": 2000}})) == 2000
    assert history_sessions(parse_policy({})) == 300  # momentum: data.history_sessions as set


# --------------------------------------------------------------------------- decisions through a ledger

EVIDENCE = promotion.Evidence("base", 16, 500, 0.01, 0.99, "returns over SPY", 150, 1.2, 0.1)
DECIDED = datetime(2026, 1, 5, 18, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def bars_spy(bars, shared_data):
    """The six stocks and SPY (Stooq's export): the live regime check has its benchmark."""
    return require_benchmark(bars, _policy(), shared_data / "stooq-spy" / "spy.us.csv")[0]


def _decisions(bars, policy, start, end, folder, scored_by=None):
    """The study's qlib_lgbm backtest: rolling_predict's scores (of ``scored_by``'s model, default
    the policy's) ranked by scores_ranker, run through the engine with its states kept."""
    dump_to_qlib(bars, folder / "qlib")
    init_qlib(folder / "qlib", folder / "mlruns")
    scores = rolling_predict(SYMBOLS, start, end, (scored_by or policy).research, get_calendar()).predictions
    universe = universe_for(SYMBOLS)
    return run_backtest(bars, policy, universe, start, end, scores_ranker(scores, bars, policy, universe, "qlib_lgbm"), keep_states=True)


def _promoted(folder, policy):
    promotion.record(folder, promotion.judge(EVIDENCE, policy.promotion), policy, DECIDED)
    return folder


def _replay(bars, policy, result, engine, folder):
    return check_ledger_replay(bars, policy, universe_for(SYMBOLS), result, engine, folder / "runs", models_dir=_promoted(folder / "models", policy))


def test_live_decisions_from_the_ledger_equal_the_backtest(bars_spy, ledger_engine, tmp_path):
    """Three weeks of the 2020 crash (weekly rebalances, SPY falls through its average): every
    session's live decision, on the book the ledger holds after the backtest's fills."""
    policy, start, end = _policy(), date(2020, 3, 2), date(2020, 3, 20)
    result = _decisions(bars_spy, policy, start, end, tmp_path / "bt")
    assert any(d.risk_off.get("reasons") for d in result.decisions.values())  # SPY below its average: the risk-off rule in play
    kinds = [d.kind for d in result.decisions.values()]
    assert kinds.count("TRADE") >= 2 and "HOLD" in kinds and len(result.trades) >= 6
    report = _replay(bars_spy, policy, result, ledger_engine, tmp_path)
    assert report.sessions == len(result.decisions) == len(get_calendar().sessions(start, end)) - 1
    assert report.fills == len(result.trades)  # every backtest fill is in the ledger
    assert report.targets >= report.sessions and report.trades == sum(len(d.trades) for d in result.decisions.values())
    assert report.selected == sum(d.rebalance for d in result.decisions.values()) >= 2
    assert report.peak_gap <= Decimal("0.01")


def test_a_backtest_scored_by_a_model_of_another_window_fails_by_session_and_symbol(bars_spy, tmp_path):
    policy, start, end = _policy(), date(2020, 2, 24), date(2020, 3, 20)
    other = _decisions(bars_spy, policy, start, end, tmp_path / "bt", scored_by=_policy(train_sessions=180))
    engine = init_db(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    with pytest.raises(ConformanceError, match=r"conformance: session 2020-\d\d-\d\d: (selected live|\d+ of \d+ approved weights)") as err:
        _replay(bars_spy, policy, other, engine, tmp_path)
    engine.dispose()
    assert any(s in str(err.value) for s in SYMBOLS), err.value


@pytest.mark.slow
def test_live_decisions_from_the_ledger_equal_the_backtest_over_half_a_year(bars_spy, tmp_path):
    policy, start, end = _policy(), date(2020, 1, 2), date(2020, 6, 30)
    result = _decisions(bars_spy, policy, start, end, tmp_path / "bt")
    engine = init_db(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    report = _replay(bars_spy, policy, result, engine, tmp_path)
    engine.dispose()
    assert report.sessions == len(result.decisions) >= 120 and report.fills == len(result.trades) >= 20
    assert report.selected >= 24 and report.peak_gap <= Decimal("0.01")
    assert report.dividends >= 3  # PG, MSFT, HAL and BAC go ex-dividend while held: cash movements in the ledger
