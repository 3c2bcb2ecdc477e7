"""One record for every check with a verdict: a risk rule, a gate, a data-quality check.

In the style of Beancount's validation errors: a small immutable value that says who
checked (``source``), which check (``code``: the rule or gate name), what was found in
plain words (``message``), how bad it is (``severity``) and the figures behind it
(``values``).  A gate is a list of them: it passes when none is an error.  Each file
format keeps its own field names at the edge (``approved.json``'s ``rules`` are
``{"rule", "passed", "reason"}``); inside the package the record is the one shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

OK = "ok"  # passed
WARNING = "warning"  # passed, with something a person should read
ERROR = "error"  # failed: the gate, or the decision, does not go ahead
SEVERITIES = (OK, WARNING, ERROR)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Check:
    source: str  # who checked: "risk", "ledger", "quality", "state", "report", "alert"
    code: str  # which check: the rule or gate name ("max_weight", "confirmations")
    message: str = ""  # what was found, one sentence
    severity: str = ERROR
    values: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False)  # the figures behind the message (read-only)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"check severity {self.severity!r} is not one of {SEVERITIES}")
        if not isinstance(self.values, MappingProxyType):
            object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    @property
    def passed(self) -> bool:
        return self.severity != ERROR

    @classmethod
    def verdict(cls, source: str, code: str, passed: bool, message: str = "", **values: Any) -> "Check":
        """A pass (severity ok) or a failure (error) of ``code``."""
        return cls(source, code, message, OK if passed else ERROR, values)


def passed(checks: Iterable[Check]) -> bool:
    """A gate's verdict: no check in it is an error."""
    return all(c.passed for c in checks)


def failures(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if not c.passed]
