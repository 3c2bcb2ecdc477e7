"""LightGBM through Qlib: Alpha158-style features, next-week labels, rolling training with a purge gap.

Features are Qlib's Alpha158 operators that need only the adjusted close and
the volume (the columns the live signal stage reads): ROC, MA, STD, BETA,
RSQR, RESI, QTLU, QTLD, RANK, CORR, CORD, CNTP/N/D, SUMP/N/D, VMA, VSTD,
WVMA, VSUMP/N/D over 5/10/20/30/60 sessions, plus 4 lagged volume ratios.
The K-bar and high/low operators (KMID, RSV, MAX, MIN, IMAX, ...) are left
out, so research and the live run see exactly the same inputs.

Label on feature date ``d`` (the decision session): the return from the close
of the execution session ``d+1`` to the close ``horizon`` sessions later,
``Ref($close, -(h+1)) / Ref($close, -1) - 1``, ranked cross-sectionally.
It needs closes up to ``d + h + 1``, so a model that predicts on session
``t`` is trained on feature dates up to ``t - (h + 1) - purge``: no training
label reads a bar after ``t``.

Timeline of one fit (sessions)::

    [train_start ............ train_end] <- h+1+purge -> [t ... next retrain)
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ..calendar import ExchangeCalendar, get_calendar
from ..config import Policy, Research, Universe
from ..errors import DataError
from ..signals import Ranking, register
from .qlib_data import dump_to_qlib, init_qlib

ROLLING_WINDOWS = (5, 10, 20, 30, 60)
HIGH_LOW_OPS = ("MAX", "MIN", "RSV", "IMAX", "IMIN", "IMXD")
WARMUP_SESSIONS = 70  # the longest feature window (60) plus slack


def feature_config() -> tuple[list[str], list[str]]:
    """Qlib expressions and names of the close/volume Alpha158 features."""
    from qlib.contrib.data.loader import Alpha158DL

    return Alpha158DL.get_feature_config(
        {"volume": {"windows": [1, 2, 3, 4]}, "rolling": {"windows": list(ROLLING_WINDOWS), "exclude": list(HIGH_LOW_OPS)}}
    )


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


@dataclass(frozen=True)
class RollingResult:
    predictions: pd.DataFrame  # index: session, columns: symbol, values: score (NaN: not predicted)
    fits: tuple[dict, ...]  # one per model: train window, test window, rows


def rolling_predict(
    symbols: list[str], start: date, end: date, research: Research, calendar: ExchangeCalendar | None = None
) -> RollingResult:
    """Predict every session in [start, end] with models re-trained every ``retrain_every``
    sessions on the previous ``train_sessions`` feature dates (purged).  Qlib must be
    initialised on data covering the window (:func:`tradeops.research.qlib_data.init_qlib`)."""
    from qlib.contrib.model.gbdt import LGBModel
    from qlib.data.dataset import DatasetH

    calendar = calendar or get_calendar()
    sessions = calendar.sessions(start, end)
    if not sessions:
        raise DataError(f"no {calendar.name} sessions between {start} and {end}")
    first_train_end = train_end_for(calendar, sessions[0], research)
    data_start = calendar.session_offset(first_train_end, -(research.train_sessions - 1))
    handler = make_handler(symbols, data_start, end, research.label_horizon)
    preds, fits = [], []
    for k in range(0, len(sessions), research.retrain_every):
        block = sessions[k : k + research.retrain_every]
        train_end = train_end_for(calendar, block[0], research)
        train_start = calendar.session_offset(train_end, -(research.train_sessions - 1))
        dataset = DatasetH(handler, segments={"train": (pd.Timestamp(train_start), pd.Timestamp(train_end)), "test": (pd.Timestamp(block[0]), pd.Timestamp(block[-1]))})
        model = LGBModel(
            loss="mse",
            num_threads=research.lgbm_threads,
            num_leaves=research.num_leaves,
            learning_rate=research.learning_rate,
            seed=7,
            deterministic=True,
            verbosity=-1,
        )
        model.fit(dataset, num_boost_round=research.num_boost_round, verbose_eval=0)
        pred = model.predict(dataset, "test")
        preds.append(pred)
        fits.append({"train_start": train_start, "train_end": train_end, "test_start": block[0], "test_end": block[-1], "test_rows": len(pred)})
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


@register("qlib_lgbm")
def qlib_lgbm(history: pd.DataFrame, policy: Policy, session: date, universe: Universe | None, calendar: ExchangeCalendar) -> Ranking:
    """Live signal: dump the history (already cut at ``session``) to a private Qlib folder,
    train one purged model on the last ``train_sessions`` and score ``session``."""
    pool = universe.tradable if universe is not None else sorted(set(history["symbol"].astype(str)))
    candidates = sorted(s for s in pool if s != policy.universe.benchmark)
    r = policy.research
    first = calendar.session_offset(train_end_for(calendar, session, r), -(r.train_sessions - 1 + WARMUP_SESSIONS))
    history = history.loc[(history["date"] >= pd.Timestamp(first)) & history["symbol"].isin(candidates)]
    if history.empty:
        raise DataError(f"qlib_lgbm: no bars for the universe between {first} and {session}")
    with tempfile.TemporaryDirectory(prefix="tradeops-qlib-") as tmp:
        dump_to_qlib(_qlib_frame(history), Path(tmp) / "qlib", calendar)
        init_qlib(Path(tmp) / "qlib", Path(tmp) / "mlruns")
        present = sorted(set(history["symbol"].astype(str)))
        result = rolling_predict(present, session, session, r.model_copy(update={"retrain_every": 1}), calendar)
        from qlib.workflow import R

        R.end_exp()  # the experiment store lives in the temporary folder
    day = pd.Timestamp(session)
    scores = result.predictions.loc[day] if day in result.predictions.index else pd.Series(dtype=float)
    return ranking_from_scores(scores, policy, candidates)
