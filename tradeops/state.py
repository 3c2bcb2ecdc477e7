"""The operating state machine: RUN, DEGRADED_DATA, SAFE_MODE, HALT (pure logic).

Each run feeds the previous state, today's gate results and an optional
explicit resume into :func:`next_state`, which returns a :class:`Transition`
(the new state, the gate that decided it, the reasons).  The caller stores
every transition as a ledger event (:meth:`Transition.event`); nothing here
touches a database.

Precedence, highest first:

=====================  ==============  =========================================
gate that failed       state           leaves it when
=====================  ==============  =========================================
``kill_switch``        HALT            the switch is off *and* an explicit resume
``drawdown``           HALT            drawdown back inside the limit *and* a resume
(previous was HALT)    HALT            an explicit resume with a reason
``confirmations``      SAFE_MODE       the gate passes (automatic)
``reconciliation``     SAFE_MODE       the gate passes (automatic)
``data_quality``       DEGRADED_DATA   the gate passes (automatic)
``fx_rate``            DEGRADED_DATA   the gate passes (automatic; a non-USD account's FX rate)
(nothing failed)       RUN
=====================  ==============  =========================================

A ledger that cannot be trusted (SAFE_MODE) outranks stale data
(DEGRADED_DATA).  Only RUN permits a TRADE or HOLD ticket; every other state
gives NO-TRADE.  Gates with other names (for example the ticket-sanity
check) do not change the state: their failure gives NO-TRADE for the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any, Iterable

from .checks import Gate  # noqa: F401  (a gate: the check records it aggregates; re-exported)
from .errors import ValidationError


class State(str, Enum):
    RUN = "RUN"
    DEGRADED_DATA = "DEGRADED_DATA"
    SAFE_MODE = "SAFE_MODE"
    HALT = "HALT"


KILL_SWITCH = "kill_switch"
DRAWDOWN = "drawdown"
CONFIRMATIONS = "confirmations"
RECONCILIATION = "reconciliation"
DATA_QUALITY = "data_quality"
FX_RATE = "fx_rate"  # a non-USD account's FX series (tradeops.data.fx): bad data like a bad bar

# Gates whose failure changes the state, in precedence order.
PRECEDENCE: tuple[tuple[str, State], ...] = (
    (KILL_SWITCH, State.HALT),
    (DRAWDOWN, State.HALT),
    (CONFIRMATIONS, State.SAFE_MODE),
    (RECONCILIATION, State.SAFE_MODE),
    (DATA_QUALITY, State.DEGRADED_DATA),
    (FX_RATE, State.DEGRADED_DATA),
)


@dataclass(frozen=True)
class Resume:
    """An explicit resume out of HALT; the reason is mandatory and goes into the ledger."""

    reason: str
    actor: str = "owner"

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ValidationError("a resume needs a reason (a non-empty sentence saying why trading may restart)")
        if not isinstance(self.actor, str) or not self.actor.strip():
            raise ValidationError("a resume needs an actor (who resumed)")


@dataclass(frozen=True)
class Transition:
    previous: State
    state: State
    cause: str  # the deciding gate, "halt_persists", "resume" or "normal"
    reasons: tuple[str, ...]
    session: date | None = None
    resume: Resume | None = None

    @property
    def changed(self) -> bool:
        return self.previous != self.state

    @property
    def permits_trading(self) -> bool:
        """Only RUN may give a TRADE or HOLD ticket."""
        return self.state is State.RUN

    def event(self) -> dict:
        """The ledger event payload for this evaluation (kind ``state_transition``)."""
        return {
            "kind": "state_transition",
            "session": self.session.isoformat() if self.session else None,
            "from": self.previous.value,
            "to": self.state.value,
            "changed": self.changed,
            "cause": self.cause,
            "reasons": list(self.reasons),
            "resume": {"reason": self.resume.reason, "actor": self.resume.actor} if self.resume else None,
        }


def parse_state(value: State | str) -> State:
    """A State from its name; ValidationError names an unknown one."""
    try:
        return State(value)
    except ValueError:
        raise ValidationError(f"state {value!r} is unknown; allowed {[s.value for s in State]}") from None


def next_state(previous: State | str, gates: Iterable[Any], resume: Resume | None = None, session: date | None = None) -> Transition:
    """Apply the precedence table to today's gates.  Pure: same inputs, same transition."""
    previous = parse_state(previous)
    failed: dict[str, Gate] = {}
    for g in map(Gate.of, gates):
        if not g.passed:
            failed.setdefault(g.name, g)

    def reasons_of(name: str) -> tuple[str, ...]:
        return failed[name].reasons or (f"the {name} gate failed",)

    for name in (KILL_SWITCH, DRAWDOWN):
        if name in failed:
            extra = (f"resume refused: the {name} gate still fails",) if resume else ()
            return Transition(previous, State.HALT, name, reasons_of(name) + extra, session)

    if previous is State.HALT and resume is None:
        why = "HALT persists until an explicit resume with a reason"
        return Transition(previous, State.HALT, "halt_persists", (why,), session)

    used = resume if previous is State.HALT else None
    notes: tuple[str, ...] = ()
    if used:
        notes = (f"resumed from HALT by {used.actor}: {used.reason}",)
    elif resume:
        notes = (f"resume ignored: the state was {previous.value}, not HALT",)

    for name, state in PRECEDENCE[2:]:
        if name in failed:
            return Transition(previous, state, name, reasons_of(name) + notes, session, used)
    return Transition(previous, State.RUN, "resume" if used else "normal", notes or ("every state gate passed",), session, used)
