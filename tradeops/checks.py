"""One record for every check with a verdict: a risk rule, a gate, a data-quality check.

In the style of Beancount's validation errors: a small immutable value that says who
checked (``source``), which check (``code``: the rule or gate name), what was found in
plain words (``message``), how bad it is (``severity``) and the figures behind it
(``values``).  A gate is a list of them: it passes when none is an error.  Each file
format keeps its own field names at the edge (``approved.json``'s ``rules`` are
``{"rule", "passed", "reason"}``); inside the package the record is the one shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import messages
from .errors import ValidationError

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


@dataclass(frozen=True)
class Gate:
    """A gate: its name and the check records it aggregates (it passes when none is an error),
    plus, for the ledger's gates, JSON-safe ``details`` (None: a gate as the state machine and
    the ticket see it, without them).  ``to_dict`` is the gates files' and the ticket's form."""

    name: str
    checks: tuple[Check, ...] = ()
    details: Mapping[str, Any] | None = None

    @classmethod
    def of_reasons(cls, name: str, passed: bool, reasons: Iterable[str] = (), details: Mapping[str, Any] | None = None, source: str = "gate") -> "Gate":
        """One check record per reason (one without words when there is none), all with the gate's verdict."""
        severity = OK if passed else ERROR
        records = tuple(Check(source, name, str(r), severity) for r in reasons) or (Check(source, name, "", severity),)
        return cls(name, records, None if details is None else dict(details))

    @property
    def passed(self) -> bool:
        return passed(self.checks)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(c.message for c in self.checks if c.message)

    @property
    def status(self) -> str:
        """pass | fail | skipped (a gate with no check records did not run)."""
        return "skipped" if not self.checks else "pass" if self.passed else "fail"

    @property
    def title(self) -> str:
        """The check in plain words (tradeops.messages): 'The previous ticket is not fully confirmed', not 'confirmations'."""
        return messages.check_name(self.name)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "passed": self.passed, "reasons": list(self.reasons)}
        if self.details is not None:
            out["details"] = dict(self.details)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "gate") -> "Gate":
        """A gates file's entry (``{name, passed, reasons, details}``), details kept."""
        return cls.of_reasons(data["name"], bool(data["passed"]), list(data.get("reasons", [])), dict(data.get("details", {})), source)

    @classmethod
    def of(cls, g: Any) -> "Gate":
        """Accept a Gate, a mapping {name, passed, reasons} or any object with those attributes
        (the gate as the state machine sees it: without details)."""
        if isinstance(g, Gate):
            return g if g.details is None else Gate(g.name, g.checks)
        get = g.get if isinstance(g, Mapping) else lambda k, d=None: getattr(g, k, d)
        name, ok = get("name"), get("passed")
        if not isinstance(name, str) or not name or not isinstance(ok, bool):
            raise ValidationError(f"a gate result needs a non-empty 'name' and a boolean 'passed'; got {g!r}")
        reasons = get("reasons") or ()
        if isinstance(reasons, str):
            reasons = (reasons,)
        return cls.of_reasons(name, ok, tuple(str(r) for r in reasons))
