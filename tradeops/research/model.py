"""LightGBM through Qlib: Alpha158-style features, next-week labels, rolling training with a purge gap.

Features are Qlib's Alpha158 operators that need only the adjusted close and
the volume (the columns the live signal stage reads): ROC, MA, STD, BETA,
RSQR, RESI, QTLU, QTLD, RANK, CORR, CORD, CNTP/N/D, SUMP/N/D, VMA, VSTD,
WVMA, VSUMP/N/D over 5/10/20/30/60 sessions, plus 4 lagged volume ratios.
The K-bar and high/low operators (KMID, RSV, MAX, LOW (MIN5..60), IMAX, ...) are left
out, so research and the live run see exactly the same inputs.

Label on feature date ``d`` (the decision session): the return from the close
of the execution session ``d+1`` to the close ``horizon`` sessions later,
``Ref($close, -(h+1)) / Ref($close, -1) - 1``, ranked cross-sectionally.
It needs closes up to ``d + h + 1``, so a model that predicts on session
``t`` is trained on feature dates up to ``t - (h + 1) - purge``: no training
label reads a bar after ``t``.

Timeline of one fit (sessions)::

    [train_start ............ train_end] <- h+1+purge -> [t ... next retrain)

The retrain sessions ``t`` are every ``retrain_every``-th session of the
exchange calendar (:func:`retrain_session_for`), so the backtest
(:func:`rolling_predict`) and the live signal (:func:`qlib_lgbm`) score a
session with the same fit; each fit is an artifact of the model registry
(:mod:`tradeops.research.registry`), stored once and loaded after.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ..calendar import ExchangeCalendar, get_calendar
from ..config import Policy, Research, Universe
from ..errors import DataError, ValidationError
from ..signals import Ranking, register
from .qlib_data import dump_to_qlib, init_qlib
from .registry import ModelArtifact, ModelRegistry, artifact_id, model_code_hash, model_params, promotion_gate, spec_id

ROLLING_WINDOWS = (5, 10, 20, 30, 60)
HIGH_LOW_OPS = ("MAX", "LOW", "RSV", "IMAX", "IMIN", "IMXD")  # Qlib names Min($low, d) "LOW" (its features MIN5..MIN60)
WARMUP_SESSIONS = 70  # the longest feature window (60) plus slack


def feature_config() -> tuple[list[str], list[str]]:
    """Qlib expressions and names of the close/volume Alpha158 features."""
    from qlib.contrib.data.loader import Alpha158DL

    return Alpha158DL.get_feature_config({"volume": {"windows": [1, 2, 3, 4]}, "rolling": {"windows": list(ROLLING_WINDOWS), "exclude": list(HIGH_LOW_OPS)}})


def label_expression(horizon: int) -> str:
    return f"Ref($close, -{horizon + 1}) / Ref($close, -1) - 1"


def train_end_for(calendar: ExchangeCalendar, session: date, research: Research) -> date:
    """Last feature date a model predicting on ``session`` may train on."""
    return calendar.session_offset(session, -(research.label_horizon + 1 + research.purge_sessions))


def make_handler(symbols: list[str], start: date, end: date, horizon: int) -> pd.DataFrame:
    """Features and label from the initialised Qlib provider: a frame indexed by
    (datetime, instrument) with column groups ``feature`` and ``label``."""
    from qlib.data.dataset.handler import DataHandlerLP
    from qlib.data.dataset.loader import QlibDataLoader

    fields, names = feature_config()
    loader = QlibDataLoader(config={"feature": (fields, names), "label": ([label_expression(horizon)], ["LABEL0"])})
    handler = DataHandlerLP(
        instruments=list(symbols),
        start_time=pd.Timestamp(start),
        end_time=pd.Timestamp(end),
        data_loader=loader,
        infer_processors=[],  # Qlib's ProcessInf runs a joblib pool that idles ~25 s; LightGBM takes NaN as missing
        learn_processors=[{"class": "DropnaLabel"}, {"class": "CSRankNorm", "kwargs": {"fields_group": "label"}}],
    )
    return handler


LGBM_SEED = 7


def retrain_session_for(calendar: ExchangeCalendar, session: date, research: Research) -> date:
    """The session whose model scores ``session``.  Models are re-trained on every
    ``retrain_every``-th session of the exchange calendar (counted from its first session),
    so a backtest, whatever its start, and the live run use the same fits on the same days."""
    n = calendar.session_number(session)
    return calendar.session_offset(session, -(n % research.retrain_every))


@dataclass(frozen=True)
class FitWindow:
    """One fit: the retrain session it serves, its training feature dates and the bars it reads."""

    retrain_session: date
    train_start: date
    train_end: date
    data_start: date  # the first bar read: the feature warm-up before train_start
    data_end: date  # the last bar read: the label of train_end


def fit_window(calendar: ExchangeCalendar, session: date, research: Research) -> FitWindow:
    retrain = retrain_session_for(calendar, session, research)
    train_end = train_end_for(calendar, retrain, research)
    train_start = calendar.session_offset(train_end, -(research.train_sessions - 1))
    return FitWindow(
        retrain, train_start, train_end, calendar.session_offset(train_start, -WARMUP_SESSIONS), calendar.session_offset(train_end, research.label_horizon + 1)
    )


def history_needed(policy: Policy) -> int:
    """Sessions of history the live ``qlib_lgbm`` signal needs on a decision session: the
    training window, the purge and label gap, the feature warm-up and up to
    ``retrain_every - 1`` sessions since the retrain (what the daily fetch asks for)."""
    r = policy.research
    return r.train_sessions + r.label_horizon + 1 + r.purge_sessions + WARMUP_SESSIONS + r.retrain_every


def bars_hash(symbols: list[str], start: date, end: date) -> tuple[str, list[str]]:
    """sha256 of the bars a fit reads (Qlib's ``$close`` and ``$volume``, float32 as stored)
    and the symbols that have any: the data part of a model artifact's identity."""
    from qlib.data import D

    raw = D.features(list(symbols), ["$close", "$volume"], start_time=pd.Timestamp(start), end_time=pd.Timestamp(end)).sort_index()
    present = sorted(set(raw.index.get_level_values("instrument").astype(str)))
    digest = hashlib.sha256()
    digest.update(json.dumps([present, [str(d.date()) for d in raw.index.get_level_values("datetime").unique().sort_values()]]).encode())
    digest.update(np.ascontiguousarray(raw.to_numpy(np.float64)).tobytes())
    return digest.hexdigest(), present


def fit_or_load(handler, symbols: list[str], window: FitWindow, research: Research, registry: ModelRegistry | None = None):
    """The LightGBM booster for ``window`` and its artifact: loaded from ``registry`` when this
    exact fit (spec, window, bars) is stored, else trained on the handler's purged training
    segment (and stored when there is a registry).  Qlib must be initialised on the data."""
    import lightgbm as lgb
    from qlib.data.dataset import DatasetH
    from qlib.data.dataset.handler import DataHandlerLP

    spec = spec_id(research)
    data_hash, present = bars_hash(symbols, window.data_start, window.data_end)
    if not present:
        raise DataError(f"qlib_lgbm: no bars for {len(symbols)} symbols between {window.data_start} and {window.data_end} to train on")
    mid = artifact_id(spec, window.retrain_session, window.train_start, window.train_end, data_hash, present)
    stored = registry.find(spec, mid) if registry is not None else None
    if stored is not None:
        return lgb.Booster(model_str=stored[1]), stored[0]
    dataset = DatasetH(handler, segments={"train": (pd.Timestamp(window.train_start), pd.Timestamp(window.train_end))})
    train = dataset.prepare("train", col_set=["feature", "label"], data_key=DataHandlerLP.DK_L)
    if train.empty:
        raise DataError(f"qlib_lgbm: no labelled rows to train on in {window.train_start}..{window.train_end}")
    # LightGBM itself, with the parameters Qlib's LGBModel passes: its fit would open a Qlib
    # recorder (git diff/status in the working folder, an mlflow row per boosting round) for nothing
    params = {
        "objective": "mse",
        "verbosity": -1,
        "num_threads": research.lgbm_threads,
        "num_leaves": research.num_leaves,
        "learning_rate": research.learning_rate,
        "seed": LGBM_SEED,
        "deterministic": True,
    }
    booster = lgb.train(params, lgb.Dataset(train["feature"].to_numpy(), label=train["label"].to_numpy().ravel()), num_boost_round=research.num_boost_round)
    text = booster.model_to_string()
    artifact = ModelArtifact(
        model_id=mid,
        spec_id=spec,
        retrain_session=window.retrain_session,
        train_start=window.train_start,
        train_end=window.train_end,
        data_hash=data_hash,
        code_hash=model_code_hash(),
        params={**model_params(research), "seed": LGBM_SEED},
        symbols=tuple(present),
    )
    if registry is not None:
        registry.save(artifact, text)
    return lgb.Booster(model_str=text), artifact  # research and live both score with the booster read back from its text


def predict(handler, booster, start: date, end: date) -> pd.Series:
    """Scores of ``booster`` on the handler's features over [start, end] ((datetime, instrument) index)."""
    from qlib.data.dataset import DatasetH
    from qlib.data.dataset.handler import DataHandlerLP

    dataset = DatasetH(handler, segments={"test": (pd.Timestamp(start), pd.Timestamp(end))})
    x = dataset.prepare("test", col_set="feature", data_key=DataHandlerLP.DK_I)
    if x.empty:
        return pd.Series(dtype=float, index=x.index)
    return pd.Series(booster.predict(x.to_numpy()), index=x.index)


@dataclass(frozen=True)
class RollingResult:
    predictions: pd.DataFrame  # index: session, columns: symbol, values: score (NaN: not predicted)
    fits: tuple[dict, ...]  # one per model: retrain session, train window, test window, rows, model id


def rolling_predict(
    symbols: list[str], start: date, end: date, research: Research, calendar: ExchangeCalendar | None = None, registry: ModelRegistry | None = None
) -> RollingResult:
    """Predict every session in [start, end] with the calendar's fits (:func:`fit_window`):
    re-trained every ``retrain_every`` sessions on the previous ``train_sessions`` feature
    dates (purged); fits stored in (or loaded from) ``registry``.  Qlib must be initialised
    on data covering the window (:func:`tradeops.research.qlib_data.init_qlib`)."""
    calendar = calendar or get_calendar()
    sessions = calendar.sessions(start, end)
    if not sessions:
        raise DataError(f"no {calendar.name} sessions between {start} and {end}")
    blocks: dict[date, list[date]] = {}
    for d in sessions:
        blocks.setdefault(retrain_session_for(calendar, d, research), []).append(d)
    first = fit_window(calendar, sessions[0], research)
    handler = make_handler(symbols, first.train_start, end, research.label_horizon)
    preds, fits = [], []
    for block in blocks.values():
        window = fit_window(calendar, block[0], research)
        booster, artifact = fit_or_load(handler, symbols, window, research, registry)
        pred = predict(handler, booster, block[0], block[-1])
        preds.append(pred)
        fits.append(
            {
                "retrain_session": window.retrain_session,
                "train_start": window.train_start,
                "train_end": window.train_end,
                "test_start": block[0],
                "test_end": block[-1],
                "test_rows": len(pred),
                "model_id": artifact.model_id,
            }
        )
    scores = pd.concat(preds).unstack("instrument").sort_index()
    scores.index = pd.DatetimeIndex(scores.index, name="session")
    scores.columns.name = "symbol"
    return RollingResult(scores, tuple(fits))


def labels(symbols: list[str], start: date, end: date, horizon: int) -> pd.DataFrame:
    """The raw (un-ranked) label per session x symbol, for IC."""
    from qlib.data import D

    raw = D.features(list(symbols), [label_expression(horizon)], start_time=pd.Timestamp(start), end_time=pd.Timestamp(end))
    out = raw.iloc[:, 0].unstack("instrument").sort_index()
    out.index.name, out.columns.name = "session", "symbol"
    return out


def information_coefficient(scores: pd.DataFrame, label: pd.DataFrame) -> pd.DataFrame:
    """Per-session Pearson IC and Spearman rank IC of scores against the realised label."""
    scores, label = scores.align(label, join="inner")
    rows = {}
    for day in scores.index:
        s, y = scores.loc[day], label.loc[day]
        ok = s.notna() & y.notna()
        if ok.sum() >= 3:
            rows[day] = {"ic": float(np.corrcoef(s[ok], y[ok])[0, 1]), "rank_ic": float(s[ok].rank().corr(y[ok].rank()))}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["ic", "rank_ic"])


def ic_summary(ic: pd.DataFrame) -> dict[str, float]:
    """Mean IC, rank IC and their information ratios (mean / std)."""
    return {
        "ic": float(ic["ic"].mean()),
        "icir": float(ic["ic"].mean() / ic["ic"].std(ddof=1)),
        "rank_ic": float(ic["rank_ic"].mean()),
        "rank_icir": float(ic["rank_ic"].mean() / ic["rank_ic"].std(ddof=1)),
        "sessions": int(len(ic)),
    }


def ranking_from_scores(scores: pd.Series, policy: Policy, candidates: list[str]) -> Ranking:
    """One session's scores -> the ranked-list format of :mod:`tradeops.signals`."""
    s = scores.reindex(candidates).astype(float)
    dropped = {sym: "no LightGBM prediction (missing features on the decision session)" for sym in s.index[s.isna()]}
    frame = pd.DataFrame({"symbol": s.dropna().index.astype(str), "score": np.round(s.dropna().to_numpy(float), 12)})
    frame = frame.sort_values(["score", "symbol"], ascending=[False, True], kind="stable").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    n = policy.portfolio.target_positions
    frame["selected"] = frame["rank"] <= n
    frame = frame[["symbol", "score", "rank", "selected"]]
    note = f"qlib_lgbm: {len(frame)} names scored by LightGBM, {len(dropped)} dropped; the top {min(n, len(frame))} are selected"
    return Ranking(frame, dropped, note, [])


def _qlib_frame(history: pd.DataFrame) -> pd.DataFrame:
    """The signal stage's columns -> what the Qlib dump needs (high/low/open unused: NaN)."""
    out = history.copy()
    for col in ("open", "high", "low", "adj_open", "adj_high", "adj_low"):
        if col not in out.columns:
            out[col] = np.nan
    return out


def score_session(
    history: pd.DataFrame, policy: Policy, session: date, candidates: list[str], calendar: ExchangeCalendar, registry: ModelRegistry | None = None
) -> tuple[pd.Series, ModelArtifact]:
    """The live scores of ``session``: the calendar's fit for it (:func:`fit_window`, the same
    fit a backtest uses on that day), loaded from ``registry`` or trained on ``history``
    (already cut at ``session``) and stored; then ``session`` scored.  Returns the scores
    (by symbol) and the model artifact."""
    r = policy.research
    window = fit_window(calendar, session, r)
    history = history.loc[(history["date"] >= pd.Timestamp(window.data_start)) & history["symbol"].isin(candidates)]
    if history.empty:
        raise DataError(f"qlib_lgbm: no bars for the universe between {window.data_start} and {session}")
    earliest = pd.Timestamp(history["date"].min()).date()
    if earliest > window.data_start:
        raise DataError(
            f"qlib_lgbm: the model for {session} trains on {window.train_start}..{window.train_end} and reads bars from {window.data_start}, "
            f"but the history starts on {earliest}: fetch at least {history_needed(policy)} sessions (data.history_sessions is {policy.data.history_sessions})"
        )
    with tempfile.TemporaryDirectory(prefix="tradeops-qlib-") as tmp:
        dump_to_qlib(_qlib_frame(history), Path(tmp) / "qlib", calendar)
        init_qlib(Path(tmp) / "qlib", Path(tmp) / "mlruns")
        present = sorted(set(history["symbol"].astype(str)))
        handler = make_handler(present, window.train_start, session, r.label_horizon)
        booster, artifact = fit_or_load(handler, present, window, r, registry)
        pred = predict(handler, booster, session, session)
        from qlib.workflow import R

        R.end_exp()  # the experiment store lives in the temporary folder
    scores = pred.droplevel("datetime") if len(pred) else pd.Series(dtype=float)
    scores.index = scores.index.astype(str)
    return scores, artifact


@register("qlib_lgbm", models=True)
def qlib_lgbm(
    history: pd.DataFrame, policy: Policy, session: date, universe: Universe | None, calendar: ExchangeCalendar, models_dir: str | Path | None = None
) -> Ranking:
    """Live signal: score ``session`` with the calendar's fit for it (:func:`score_session`).
    With a model registry (the daily run's ``data/models``) only a promoted model spec may
    score, and every fit is stored there; without one the fit is trained and kept in memory."""
    pool = universe.tradable if universe is not None else sorted(set(history["symbol"].astype(str)))
    candidates = sorted(s for s in pool if s != policy.universe.benchmark)
    registry = None
    if models_dir is not None:
        gate = promotion_gate(models_dir, policy)
        if not gate["passed"]:
            raise ValidationError(f"qlib_lgbm may only score with a promoted model: {gate['reasons'][0]}")
        registry = ModelRegistry(models_dir)
    scores, artifact = score_session(history, policy, session, candidates, calendar, registry)
    ranking = ranking_from_scores(scores, policy, candidates)
    note = f"{ranking.note}; model {artifact.model_id} (trained on {artifact.train_start}..{artifact.train_end})"
    return Ranking(ranking.frame, ranking.dropped, note, ranking.risk_off_reasons, artifact.summary())
