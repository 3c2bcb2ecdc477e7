"""Alert detectors, de-duplication and the "run did not happen" alert, all
with a fixed clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tradeops import alerts, messages
from tradeops.alerts import AlertKind, Alerter, JsonAlertStore, MemoryAlertStore
from tradeops.calendar import get_calendar
from tradeops.checks import Check
from tradeops.config import Risk, Schedule
from tradeops.errors import DataError

LONDON = ZoneInfo("Europe/London")


def uk(y, m, d, hh=12, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


class FixedClock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw) -> None:
        self.at += timedelta(**kw)


class Outbox:
    """Records what was sent; ``fail`` makes delivery fail."""

    def __init__(self):
        self.sent: list[alerts.Alert] = []
        self.fail = False

    def __call__(self, alert) -> bool:
        if self.fail:
            return False
        self.sent.append(alert)
        return True


# ----------------------------------------------------------------- detectors


def test_missing_confirmations_once_the_deadline_passed(inputs):
    before = alerts.missing_confirmations(inputs.trades, uk(2024, 5, 3, 19, 0))
    assert before == []  # TICKET-20240503's deadline is 19:30; TICKET-20240502 was confirmed (late)
    (alert,) = alerts.missing_confirmations(inputs.trades, uk(2024, 5, 3, 19, 31))
    assert alert.kind is AlertKind.MISSING_CONFIRMATIONS
    assert alert.key == "missing_confirmations:TICKET-20240503"
    assert alert.subject == "Confirm TICKET-20240503: 1 trade(s) unconfirmed after the deadline"
    assert "buy MSFT" in alert.body and "Open the confirmation page and record what happened to every line" in alert.body
    assert "gate" not in alert.body  # the catalogue's words (tradeops.messages), not the code's


def _equity(values, start="2024-04-01"):
    sessions = get_calendar().sessions(start, "2024-12-31")[: len(values)]
    return pd.Series([D(str(v)) for v in values], index=pd.DatetimeIndex(sessions))


def test_drawdown_levels():
    risk = Risk(kill_switch_drawdown=0.20, drawdown_warning=0.10)
    now = uk(2024, 4, 10)
    assert alerts.drawdown_alert(_equity([100, 110, 100]), risk, now) is None  # -9.1%
    warn = alerts.drawdown_alert(_equity([100, 110, 99]), risk, now)  # -10% exactly
    assert warn.kind is AlertKind.DRAWDOWN_WARNING and warn.severity == "warning"
    assert warn.key == "drawdown_warning:2024-04-02"  # the peak's date names the episode
    assert warn.subject == "Drawdown 10.0% is past the warning level (10%)"
    kill = alerts.drawdown_alert(_equity([100, 110, 99, 87.5]), risk, now)  # 87.5 / 110 - 1 = -20.45%
    assert kill.kind is AlertKind.DRAWDOWN_KILL_SWITCH and kill.severity == "critical"
    assert "Trading is halted" in kill.body and "peak of 110.00 on 2024-04-02" in kill.body
    assert "HALT" not in kill.body and "gate" not in kill.body  # the catalogue's words, not the code's
    for sentence in (messages.CATALOGUE["drawdown"].owner, "For the executor: Carry out the ticket that sells to cash", "Who acts: the owner."):
        assert sentence in kill.body
    assert "For the executor:" in warn.body and "For the owner:" in warn.body


def test_a_deposit_does_not_hide_a_drawdown():
    risk = Risk()
    equity = _equity([1000, 800, 1300])  # -20%, then a 500 deposit: 1,300 - 500 = 800, still -20%
    alert = alerts.drawdown_alert(equity, risk, uk(2024, 4, 4), flows={date(2024, 4, 3): D("500")})
    assert alert.kind is AlertKind.DRAWDOWN_KILL_SWITCH


def test_quality_reconciliation_and_failed_run():
    now = uk(2024, 5, 6, 7, 40)
    assert alerts.data_quality_alert(date(2024, 5, 3), [], now) is None
    assert alerts.data_quality_alert(date(2024, 5, 3), [Check.verdict("quality", "coverage", True, "99.0% >= 98%")], now) is None  # passed: nothing to say
    q = alerts.data_quality_alert(
        date(2024, 5, 3), [Check("quality", "coverage", "95.0% < 98%"), Check("quality", "benchmark_fresh", "SPY last bar 2024-05-02")], now
    )
    assert q.key == "data_quality:2024-05-03" and "coverage, benchmark_fresh" in q.subject and "95.0% < 98%" in q.body
    assert alerts.reconciliation_alert("snap-7", [], now) is None
    rec = alerts.reconciliation_alert("snap-7", [Check("reconciliation", "cash", "cash: broker 3,300.00 vs ledger 3,350.25 (tolerance 5.00)")], now)
    assert rec.key == "reconciliation:snap-7" and "3,350.25" in rec.body
    failed = alerts.run_failed_alert(date(2024, 5, 6), "20240506T073000-4f2a", "30_signal raised KeyError 'AAPL'", now)
    assert failed.key == "run_failed:2024-05-06" and "KeyError" in failed.body
    # each says what to do in the catalogue's words: one sentence for the executor, one for the owner, who acts
    for alert, name in ((q, "data_quality"), (rec, "reconciliation"), (failed, "stage")):
        m = messages.CATALOGUE[name]
        assert f"For the executor: {m.executor}\nFor the owner: {m.owner}\nWho acts: {m.who}." in alert.body, alert.body
        assert "NO-TRADE" not in alert.body and "gate" not in alert.body


# ----------------------------------------------------------------- run did not happen


SCHEDULE = Schedule()  # 07:30 Europe/London, Mon-Fri, XNYS


def test_a_run_alerts_on_its_failed_quality_and_reconciliation_gates(tmp_path, monkeypatch):
    """tradeops.outbox.run_alerts reads the manifest's gates as check records: one alert per failed gate,
    each listing its reasons; passed gates say nothing."""
    from types import SimpleNamespace

    from tradeops import outbox
    from tradeops.config import Policy, Workspace

    monkeypatch.setenv("TRADEOPS_DB_URL", f"sqlite:///{tmp_path / 'absent' / 'ledger.db'}")  # the ledger alerts are skipped
    ws = Workspace.at(tmp_path).ensure()
    gates = [
        {"name": "data_quality", "passed": False, "reasons": ["data quality gate 'coverage' failed: 95.0% < 98%"], "details": {}},
        {"name": "reconciliation", "passed": False, "reasons": ["cash: broker 3,300.00 vs ledger 3,350.25"], "details": {"snapshot_id": "snap-7"}},
        {"name": "confirmations", "passed": True, "reasons": [], "details": {}},
    ]
    manifest = SimpleNamespace(gates=gates, decision_session="2024-05-03", session_date="2024-05-06", run_id="r1")
    found = outbox.run_alerts(ws, Policy(), manifest, None, uk(2024, 5, 6, 7, 40))
    by_kind = {a.kind: a for a in found if a is not None}
    assert by_kind[AlertKind.DATA_QUALITY].subject == "Data quality failed for 2024-05-03: data_quality"
    assert "- data_quality: data quality gate 'coverage' failed: 95.0% < 98%" in by_kind[AlertKind.DATA_QUALITY].body
    assert by_kind[AlertKind.RECONCILIATION_DRIFT].key == "reconciliation:snap-7"
    assert "- cash: broker 3,300.00 vs ledger 3,350.25" in by_kind[AlertKind.RECONCILIATION_DRIFT].body
    gates[0]["passed"] = gates[1]["passed"] = True
    again = outbox.run_alerts(ws, Policy(), manifest, None, uk(2024, 5, 6, 7, 40))
    assert not {AlertKind.DATA_QUALITY, AlertKind.RECONCILIATION_DRIFT} & {a.kind for a in again if a is not None}


def _missing(runs, since, now, **kw):
    return alerts.run_missing_alerts(SCHEDULE, get_calendar("XNYS"), runs, since, now, **kw)


def test_no_alert_before_the_grace_period_ends():
    assert _missing([], date(2024, 5, 6), uk(2024, 5, 6, 8, 29)) == []
    (alert,) = _missing([], date(2024, 5, 6), uk(2024, 5, 6, 8, 30))
    assert alert.key == "run_missing:2024-05-06"
    assert alert.subject == "The daily run of 2024-05-06 did not happen"
    assert "07:30 Europe/London" in alert.body and "tradeops run daily" in alert.body


def test_days_without_a_us_session_need_no_run():
    # Good Friday 2024-03-29 (NYSE closed, UK also closed), Easter Monday 2024-04-01 (NYSE open),
    # and the weekend: only 2024-04-01 needed a run.
    runs = [uk(2024, 3, 28, 7, 30)]
    (alert,) = _missing(runs, date(2024, 3, 28), uk(2024, 4, 1, 12, 0))
    assert alert.key == "run_missing:2024-04-01"
    # Thanksgiving 2024-11-28: no US session, no alert
    assert _missing([uk(2024, 11, 27, 7, 30)], date(2024, 11, 27), uk(2024, 11, 28, 23, 0)) == []


def test_a_streak_of_missed_days_is_one_cause():
    runs = [uk(2024, 5, 6, 7, 31), uk(2024, 5, 13, 7, 30)]
    found = _missing(runs, date(2024, 5, 6), uk(2024, 5, 16, 9, 0))
    # missed 7..10 May (one streak), ran on the 13th, missed 14..16 May (a second streak)
    assert [a.key for a in found] == ["run_missing:2024-05-07", "run_missing:2024-05-14"]
    assert found[0].subject == "No daily run since 2024-05-07"
    assert "2024-05-07, 2024-05-08, 2024-05-09, 2024-05-10" in found[0].body


def test_run_missing_is_sent_once_while_the_scheduler_stays_down(tmp_path):
    clock = FixedClock(uk(2024, 5, 7, 9, 0))
    outbox = Outbox()
    alerter = Alerter(MemoryAlertStore(), clock, outbox)
    runs = [uk(2024, 5, 6, 7, 30)]
    for _ in range(4):  # hourly checks, then the next days
        alerter.dispatch(_missing(runs, date(2024, 5, 6), clock()))
        clock.advance(hours=1)
    clock.advance(days=2)
    alerter.dispatch(_missing(runs, date(2024, 5, 6), clock()))
    assert [a.key for a in outbox.sent] == ["run_missing:2024-05-07"]


# ----------------------------------------------------------------- de-duplication


def test_each_cause_alerts_once(inputs):
    clock = FixedClock(uk(2024, 5, 6, 7, 35))
    outbox = Outbox()
    store = MemoryAlertStore()
    alerter = Alerter(store, clock, outbox)
    for _ in range(3):
        alerter.dispatch(alerts.missing_confirmations(inputs.trades, clock()))
        clock.advance(minutes=15)
    assert [a.key for a in outbox.sent] == ["missing_confirmations:TICKET-20240503"]
    (record,) = store.records()
    assert record.attempts == 1 and record.delivered_at == "2024-05-06T07:35:00+01:00"
    # a new cause (another ticket) alerts, the old one still does not
    late = inputs.trades[-1].__class__(**{**inputs.trades[-1].__dict__, "ticket_id": "TICKET-20240506"})
    alerter.dispatch(alerts.missing_confirmations([*inputs.trades, late], clock()))
    assert [a.key for a in outbox.sent] == ["missing_confirmations:TICKET-20240503", "missing_confirmations:TICKET-20240506"]


def test_drawdown_warning_then_kill_then_a_new_episode():
    risk = Risk()
    clock = FixedClock(uk(2024, 4, 10))
    outbox = Outbox()
    alerter = Alerter(MemoryAlertStore(), clock, outbox)
    path = [100, 110, 99, 98, 87, 86, 120, 100]
    for n in range(2, len(path) + 1):
        alerter.dispatch([alerts.drawdown_alert(_equity(path[:n]), risk, clock())])
    assert [a.key for a in outbox.sent] == [
        "drawdown_warning:2024-04-02",  # 99 / 110: -10%
        "drawdown_kill_switch:2024-04-02",  # 87 / 110: -20.9%; 98 and 86 repeat causes already sent
        "drawdown_warning:2024-04-09",  # a new peak (120) and a new fall to 100: -16.7%
    ]


def test_undelivered_alerts_are_retried_on_the_next_check(tmp_path):
    clock = FixedClock(uk(2024, 5, 6, 7, 35))
    outbox = Outbox()
    outbox.fail = True
    store = JsonAlertStore(tmp_path / "alerts.json")
    alert = alerts.data_quality_alert(date(2024, 5, 3), [Check("quality", "coverage", "95% < 98%")], clock())
    assert Alerter(store, clock, outbox).dispatch([alert]) == []
    assert store.get(alert.key).attempts == 1 and store.get(alert.key).delivered_at is None
    outbox.fail = False
    clock.advance(hours=1)
    # a new process: the JSON file carries the state across runs
    assert Alerter(JsonAlertStore(tmp_path / "alerts.json"), clock, outbox).dispatch([alert]) == [alert]
    assert Alerter(JsonAlertStore(tmp_path / "alerts.json"), clock, outbox).dispatch([alert]) == []
    record = store.get(alert.key)
    assert (record.attempts, record.first_raised_at, record.delivered_at) == (2, "2024-05-06T07:35:00+01:00", "2024-05-06T08:35:00+01:00")


def test_a_corrupt_json_store_is_reported(tmp_path):
    path = tmp_path / "alerts.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="alerts.json is not valid JSON"):
        JsonAlertStore(path).get("x")
