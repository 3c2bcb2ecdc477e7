"""State machine: precedence, HALT persistence, explicit resume, ledger events."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.errors import ValidationError
from tradeops.state import CONFIRMATIONS, DATA_QUALITY, DRAWDOWN, FX_RATE, KILL_SWITCH, RECONCILIATION, Gate, Resume, State, next_state

ALL = (KILL_SWITCH, DRAWDOWN, CONFIRMATIONS, RECONCILIATION, DATA_QUALITY, FX_RATE, "ticket_sanity")


def gates(*failing: str) -> list[dict]:
    return [{"name": n, "passed": n not in failing, "reasons": [f"{n} broke"] if n in failing else []} for n in ALL]


def test_all_gates_pass_is_run():
    t = next_state("RUN", gates())
    assert t.state is State.RUN and t.permits_trading and not t.changed and t.cause == "normal"


def test_kill_switch_beats_everything():
    t = next_state(State.RUN, gates(*ALL))
    assert t.state is State.HALT and t.cause == KILL_SWITCH and t.reasons == ("kill_switch broke",)
    # not even a resume gets past an active kill switch
    t = next_state(State.HALT, gates(KILL_SWITCH), resume=Resume("looked fine to me"))
    assert t.state is State.HALT and t.cause == KILL_SWITCH
    assert "resume refused: the kill_switch gate still fails" in t.reasons and t.resume is None


@pytest.mark.parametrize(
    "failing, state, cause",
    [
        ((DRAWDOWN, CONFIRMATIONS, RECONCILIATION, DATA_QUALITY), State.HALT, DRAWDOWN),
        ((CONFIRMATIONS, DATA_QUALITY), State.SAFE_MODE, CONFIRMATIONS),
        ((RECONCILIATION, DATA_QUALITY), State.SAFE_MODE, RECONCILIATION),
        ((DATA_QUALITY,), State.DEGRADED_DATA, DATA_QUALITY),
        ((DATA_QUALITY, FX_RATE), State.DEGRADED_DATA, DATA_QUALITY),
        ((FX_RATE,), State.DEGRADED_DATA, FX_RATE),  # no FX rate: bad data, as a bad bar (issue 12)
        ((RECONCILIATION, FX_RATE), State.SAFE_MODE, RECONCILIATION),
        (("ticket_sanity",), State.RUN, "normal"),  # a day's NO-TRADE, not a state
    ],
)
def test_precedence(failing, state, cause):
    t = next_state(State.RUN, gates(*failing))
    assert (t.state, t.cause) == (state, cause)
    assert t.permits_trading is (state is State.RUN)


def test_halt_persists_across_runs_until_resumed():
    s = next_state(State.RUN, gates(DRAWDOWN)).state
    assert s is State.HALT
    history = []
    for _ in range(5):  # every later run passes every gate: still HALT
        t = next_state(s, gates())
        history.append(t)
        s = t.state
    assert all(t.state is State.HALT and t.cause == "halt_persists" and not t.permits_trading for t in history)
    t = next_state(s, gates(), resume=Resume("drawdown reviewed, strategy unchanged", actor="alice"), session=date(2024, 3, 18))
    assert t.state is State.RUN and t.cause == "resume" and t.changed
    assert t.reasons == ("resumed from HALT by alice: drawdown reviewed, strategy unchanged",)
    assert t.event() == {
        "kind": "state_transition",
        "session": "2024-03-18",
        "from": "HALT",
        "to": "RUN",
        "changed": True,
        "cause": "resume",
        "reasons": ["resumed from HALT by alice: drawdown reviewed, strategy unchanged"],
        "resume": {"reason": "drawdown reviewed, strategy unchanged", "actor": "alice"},
    }


def test_resume_lands_in_the_state_todays_gates_call_for():
    t = next_state(State.HALT, gates(DATA_QUALITY), resume=Resume("ok"))
    assert t.state is State.DEGRADED_DATA and t.resume is not None
    assert "resumed from HALT by owner: ok" in t.reasons


def test_safe_mode_and_degraded_data_clear_by_themselves():
    assert next_state(State.SAFE_MODE, gates()).state is State.RUN
    assert next_state(State.DEGRADED_DATA, gates()).state is State.RUN


def test_resume_needs_a_reason_and_is_ignored_outside_halt():
    with pytest.raises(ValidationError, match="a resume needs a reason"):
        Resume("   ")
    with pytest.raises(ValidationError, match="needs an actor"):
        Resume("fine", actor="")
    t = next_state(State.RUN, gates(), resume=Resume("just in case"))
    assert t.state is State.RUN and t.resume is None and t.reasons == ("resume ignored: the state was RUN, not HALT",)


def test_gate_inputs_are_checked():
    with pytest.raises(ValidationError, match="unknown"):
        next_state("PAUSED", gates())
    with pytest.raises(ValidationError, match="boolean 'passed'"):
        next_state("RUN", [{"name": "x", "passed": "no"}])

    class Obj:  # any object with these attributes (a ledger gate has them)
        name, passed, reasons, details = DATA_QUALITY, False, ["coverage 90% < 98%"], {}

    t = next_state("RUN", [Obj()])
    assert t.state is State.DEGRADED_DATA and t.reasons == ("coverage 90% < 98%",)
    assert Gate.of({"name": "x", "passed": True, "reasons": "one"}).reasons == ("one",)


@settings(max_examples=300, deadline=None)
@given(previous=st.sampled_from(list(State)), failing=st.sets(st.sampled_from(ALL)), resume=st.one_of(st.none(), st.builds(Resume, st.just("reviewed"))))
def test_precedence_table_holds_for_every_combination(previous, failing, resume):
    t = next_state(previous, gates(*failing), resume=resume)
    if KILL_SWITCH in failing:
        expected = State.HALT
    elif DRAWDOWN in failing:
        expected = State.HALT
    elif previous is State.HALT and resume is None:
        expected = State.HALT
    elif {CONFIRMATIONS, RECONCILIATION} & failing:
        expected = State.SAFE_MODE
    elif {DATA_QUALITY, FX_RATE} & failing:
        expected = State.DEGRADED_DATA
    else:
        expected = State.RUN
    assert t.state is expected
    assert t.permits_trading is (expected is State.RUN)
    assert t.reasons and all(t.reasons)
    assert t.event()["to"] == expected.value and t.event()["from"] == previous.value
