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


def test_a_gate_aggregates_check_records_and_keeps_its_file_forms():
    from tradeops.checks import Gate

    failed = Gate.of_reasons("confirmations", False, ["TICKET-20240503: 1 line unconfirmed", "TICKET-20240506: late"], {"missing": 2}, source="ledger")
    assert not failed.passed and [c.severity for c in failed.checks] == [ERROR, ERROR] and failed.checks[0].source == "ledger"
    assert failed.reasons == ("TICKET-20240503: 1 line unconfirmed", "TICKET-20240506: late")
    assert failed.to_dict() == {"name": "confirmations", "passed": False, "reasons": list(failed.reasons), "details": {"missing": 2}}
    assert Gate.from_dict(failed.to_dict(), source="ledger") == failed
    # as the state machine and the ticket see it: no details, the same verdict and reasons
    seen = Gate.of(failed)
    assert seen.to_dict() == {"name": "confirmations", "passed": False, "reasons": list(failed.reasons)}
    quiet = Gate.of({"name": "kill_switch", "passed": True, "reasons": []})
    assert quiet.passed and quiet.reasons == () and len(quiet.checks) == 1 and quiet.checks[0].severity == OK
    assert Gate.of_reasons("model_promotion", True, ["model m promoted on 2026-03-02"]).passed  # a pass may say why


def test_a_report_lists_gates_as_passed_failed_or_skipped():
    from tradeops.reports import gate

    assert [gate("kill_switch", s, ("why",)).status for s in ("pass", "fail", "skipped")] == ["pass", "fail", "skipped"]
    skipped = gate("reconciliation", "skipped")
    assert skipped.checks == () and skipped.reasons == () and skipped.title == "eToro and the ledger agree"
    with pytest.raises(ValueError, match="status 'maybe'"):
        gate("x", "maybe")
