"""The assistant tools' limits (page sizes, the longest backtest, the widest sweep), the policy
keys a what-if may override, and the small helpers the tools share."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import pandas as pd

from ..config import Policy, parse_policy, policy_yaml_data
from ..errors import ValidationError


PAGE_SIZE = 200  # rows per page of any list
EVENTS_PAGE = 50
MAX_PAYLOAD = 2000
MAX_SYMBOLS = 25  # symbols per price query
MAX_BACKTEST_SESSIONS = 260  # about a year: a backtest answers in seconds, not minutes
MAX_SWEEP_VALUES = 5
MAX_SWEEP_SESSIONS = 130
MAX_TOP = 100
RESEARCH_REPORTS = "research"  # reports/<this>/: the only folder a research tool writes to
TICKET_ID = re.compile(r"^TICKET-\d{8}(-R\d{1,3})?$")

# what-if / research parameters: name -> (policy section path, type)
OVERRIDES: dict[str, tuple[tuple[str, ...], type]] = {
    "signal": (("strategy", "signal"), str),
    "lookback_1w": (("strategy", "momentum", "lookback_1w"), int),
    "lookback_4w": (("strategy", "momentum", "lookback_4w"), int),
    "lookback_12w": (("strategy", "momentum", "lookback_12w"), int),
    "volatility_window": (("strategy", "momentum", "volatility_window"), int),
    "target_positions": (("portfolio", "target_positions"), int),
    "max_positions": (("portfolio", "max_positions"), int),
    "max_weight": (("portfolio", "max_weight"), float),
    "min_cash_buffer": (("portfolio", "min_cash_buffer"), float),
    "max_turnover": (("portfolio", "max_turnover"), float),
    "rebalance_frequency": (("rebalance", "frequency"), str),
}


def page_of(rows: Sequence, page: int, size: int = PAGE_SIZE) -> dict:
    """One page of ``rows`` (1-based) with the paging facts; a page past the end is an error."""
    if page < 1:
        raise ValidationError(f"page {page} is below 1")
    pages = max(1, -(-len(rows) // size))
    if page > pages:
        raise ValidationError(f"page {page} is past the last page ({pages}) of {len(rows)} rows")
    return {"page": page, "pages": pages, "rows_total": len(rows), "rows": list(rows[(page - 1) * size : page * size])}


def with_overrides(policy: Policy, overrides: Mapping[str, object]) -> Policy:
    """The policy with some parameters changed, validated like policy.yml (bounds in the message)."""
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ValidationError(f"unknown parameter {unknown[0]!r}; allowed: {sorted(OVERRIDES)}")
    data = policy_yaml_data(policy)
    for name, value in overrides.items():
        if value is None:
            continue
        path, _ = OVERRIDES[name]
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return parse_policy(data)


def _decision_counts(result) -> dict[str, int]:
    """How many sessions of a backtest ended in each decision kind (TRADE, HOLD, NO-TRADE ...), most first."""
    if hasattr(result, "decisions"):  # the exact engine's result
        found = [d.kind for d in result.decisions.values()]
    else:  # the array engine's: a decision kind per session, -1 where none
        from ..research.array_engine import KINDS

        found = [KINDS[int(k)] for k in result.kind if k >= 0]
    kinds = pd.Series(found, dtype=object).value_counts()
    return {str(k): int(v) for k, v in kinds.items()}


def _num(x) -> float | None:
    return None if x is None or x != x else round(float(x), 6)
