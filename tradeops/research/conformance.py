"""Live and research must decide alike: the checks that say where they do not.

:func:`check_scores` compares, session by session, the scores the live
signal stage wrote (or would write) with the backtest's scores for the same
session and raises :class:`tradeops.errors.ConformanceError` naming the first
session that differs, the symbols and both values.  It is what the
qlib_lgbm conformance test runs on the shared data, and what a researcher
runs after changing the model code: a model trained on another window, on
other bars or on another schedule fails it.
"""

from __future__ import annotations

from datetime import date
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import ConformanceError

TOLERANCE = 1e-9  # absolute, on LightGBM scores (features may differ in the last bits, splits do not)
SHOWN = 5  # symbols named in the message


def check_scores(live: Mapping[date, pd.Series], backtest: pd.DataFrame, tolerance: float = TOLERANCE) -> int:
    """``live``: session -> scores by symbol; ``backtest``: session x symbol scores.  Every live
    session must be in the backtest with the same symbols scored and every score within
    ``tolerance``.  Returns the number of scores compared."""
    if not live:
        raise ConformanceError("conformance: no live sessions to compare")
    compared = 0
    for session in sorted(live):
        day = pd.Timestamp(session)
        if day not in backtest.index:
            raise ConformanceError(f"conformance: session {session} has live scores but no backtest scores "
                                   f"(backtest covers {backtest.index.min().date()}..{backtest.index.max().date()})")
        a = live[session].dropna().astype(float)
        b = backtest.loc[day].dropna().astype(float)
        only_live, only_bt = sorted(set(a.index) - set(b.index)), sorted(set(b.index) - set(a.index))
        if only_live or only_bt:
            raise ConformanceError(f"conformance: session {session}: scored only live {only_live[:SHOWN]}, only in the backtest {only_bt[:SHOWN]}")
        b = b.reindex(a.index)
        diff = (a - b).abs()
        bad = diff[diff > tolerance].sort_values(ascending=False)
        if len(bad):
            shown = ", ".join(f"{s} (live {a[s]:.6f}, backtest {b[s]:.6f})" for s in bad.index[:SHOWN])
            more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
            raise ConformanceError(f"conformance: session {session}: {len(bad)} of {len(a)} scores differ by more than {tolerance:g}: {shown}{more}")
        compared += int(np.isfinite(a).sum())
    return compared
