"""The one check record (tradeops.checks.Check)."""

import dataclasses

import pytest

from tradeops.checks import ERROR, OK, WARNING, Check, failures, passed
from tradeops.risk import rule_from_dict, rule_result, rule_to_dict


def test_a_check_is_immutable_and_its_values_read_only():
    c = Check("risk", "max_weight", "MSFT would be 45.0% of equity", ERROR, {"weight": "0.45"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.message = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.values["weight"] = "0"  # type: ignore[index]
    assert c.values["weight"] == "0.45" and not c.passed


def test_severity_decides_the_verdict():
    assert Check("quality", "stale", "", WARNING).passed and Check("quality", "ok", "", OK).passed
    with pytest.raises(ValueError, match="severity 'fatal'"):
        Check("quality", "x", "", "fatal")
    checks = [Check.verdict("ledger", "confirmations", True), Check.verdict("ledger", "kill_switch", False, "the kill switch is ON")]
    assert not passed(checks) and [c.code for c in failures(checks)] == ["kill_switch"] and passed(checks[:1])


def test_a_rule_verdict_keeps_approved_json_s_form():
    r = rule_result("max_weight", False, "AAPL would be 12.0%")
    assert (r.source, r.code, r.message, r.severity) == ("risk", "max_weight", "AAPL would be 12.0%", ERROR)
    d = rule_to_dict(r)
    assert d == {"rule": "max_weight", "passed": False, "reason": "AAPL would be 12.0%"} and rule_from_dict(d) == r
