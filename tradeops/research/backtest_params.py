"""The backtest's cost model and its rule for leaving the drawdown halt, from the policy."""

from __future__ import annotations

from dataclasses import dataclass
from ..config import Policy
from ..errors import ValidationError


@dataclass(frozen=True)
class Costs:
    """Commission and slippage in basis points of the traded value / open price."""

    commission_bps: float = 10.0
    slippage_bps: float = 5.0
    delay: int = 0  # extra sessions between the decision and the execution

    def __post_init__(self):
        for key in ("commission_bps", "slippage_bps"):
            v = getattr(self, key)
            if not (0 <= v <= 1000):
                raise ValidationError(f"backtest {key} must be in [0, 1000], got {v!r}")
        if not (0 <= self.delay <= 20):
            raise ValidationError(f"backtest delay must be in [0, 20] sessions, got {self.delay!r}")

    def scaled(self, k: float) -> "Costs":
        return Costs(self.commission_bps * k, self.slippage_bps * k, self.delay)


@dataclass(frozen=True)
class HaltResume:
    """The study's assumption for leaving the drawdown HALT (live: only ``tradeops resume --reason``).

    ``sessions``: resume ``min_sessions`` decision sessions after the breach.  ``benchmark_ma``:
    at the earliest after ``min_sessions``, on the first close where the benchmark is at or
    above its ``ma_sessions`` moving average.  On the resume the drawdown peak restarts at the
    equity of that day, as ``tradeops resume`` makes it restart live."""

    rule: str = "benchmark_ma"
    min_sessions: int = 20
    ma_sessions: int = 200

    def __post_init__(self):
        if self.rule not in ("sessions", "benchmark_ma"):
            raise ValidationError(f"halt resume rule {self.rule!r} is unknown; expected 'sessions' or 'benchmark_ma'")
        if not (1 <= self.min_sessions <= 2520):
            raise ValidationError(f"halt resume min_sessions must be in [1, 2520], got {self.min_sessions!r}")
        if not (2 <= self.ma_sessions <= 1000):
            raise ValidationError(f"halt resume ma_sessions must be in [2, 1000], got {self.ma_sessions!r}")

    @classmethod
    def from_policy(cls, policy: Policy) -> "HaltResume":
        r = policy.research
        return cls(r.halt_resume, r.halt_resume_sessions, policy.portfolio.risk_off_ma_sessions)

    def describe(self, benchmark: str = "the benchmark") -> str:
        if self.rule == "sessions":
            return f"resume assumed {self.min_sessions} sessions after the breach"
        return f"resume assumed on the first close, {self.min_sessions} or more sessions after the breach, with {benchmark} at or above its {self.ma_sessions}-session average"
