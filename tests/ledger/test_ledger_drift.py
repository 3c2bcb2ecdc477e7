"""Live vs shadow drift (tradeops.drift) on a real ledger, SQLite and PostgreSQL.

The worked example is computed by hand in its docstring; the property test
checks on random fill outcomes that the components add up to live minus
shadow and that what the residual is left with is only rounding.
"""

from __future__ import annotations

import itertools
import os
from datetime import date, datetime, timezone
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeops import drift
from tradeops.config import parse_policy
from tradeops.ledger import api

UTC = timezone.utc
POLICY = parse_policy({"research": {"slippage_bps": 10, "cost_bps": 10}})  # 10 bps slippage and 10 bps commission

# window starts: 5 minutes after the open (14:30 UTC before the US clock change of 2024-03-10, 13:30 after)
WINDOW = {"2024-03-04": "2024-03-04T14:35:00+00:00", "2024-03-11": "2024-03-11T13:35:00+00:00", "2024-03-18": "2024-03-18T13:35:00+00:00"}
CLOSES = {
    "AAA": {date(2024, 3, 1): D(100), date(2024, 3, 4): D(102), date(2024, 3, 11): D(105), date(2024, 3, 18): D(106), date(2024, 3, 22): D(106)},
    "BBB": {date(2024, 3, 1): D(50), date(2024, 3, 4): D(51), date(2024, 3, 18): D(53)},
    "CCC": {date(2024, 3, 8): D(25), date(2024, 3, 11): D(26), date(2024, 3, 18): D(24)},
    "DDD": {date(2024, 3, 8): D(20), date(2024, 3, 18): D(21)},
}
OPENS = {"AAA": {date(2024, 3, 11): D(103)}}


def _ticket(s, ticket_id, day, lines, account=api.DEFAULT_ACCOUNT):
    api.record_ticket(s, ticket_id, date.fromisoformat(day), "TRADE", "h-" + ticket_id, {"window": {"start": WINDOW[day]}}, account=account, actor="t")
    for n, (side, sym, units, ref) in enumerate(lines, start=1):
        api.record_intended_trade(s, ticket_id, n, side, sym, str((D(units) * D(ref)).quantize(D("0.01"))), units, ref, "0.03", account=account, actor="t")


def _at(day, hhmm):
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


def _three_weeks(s):
    api.record_cash_movement(s, "DEPOSIT", "10000", date(2024, 3, 1), actor="t")
    _ticket(s, "T1", "2024-03-04", [("BUY", "AAA", "10", "100"), ("BUY", "BBB", "20", "50")])
    api.record_fill(s, "T1", 1, "executed", units="10", price="100.10", fees="1.00", filled_at=_at("2024-03-04", "14:40"), actor="t")
    api.record_fill(s, "T1", 2, "not_executed", reason="price above the band", filled_at=_at("2024-03-04", "14:40"), actor="t")
    _ticket(s, "T2", "2024-03-11", [("BUY", "CCC", "40", "25"), ("SELL", "AAA", "4", "104")])
    api.record_fill(s, "T2", 1, "partial", units="30", price="25.05", filled_at=_at("2024-03-11", "13:45"), reason="only part filled", actor="t")
    api.record_fill(s, "T2", 2, "executed", units="4", price="101", filled_at=_at("2024-03-11", "19:30"), actor="t")
    api.record_cash_movement(s, "DIVIDEND", "2.50", date(2024, 3, 15), symbol="AAA", actor="t")
    _ticket(s, "T3", "2024-03-18", [("BUY", "DDD", "10", "20")])
    api.record_fill(s, "T3", 1, "executed", units="10", price="20.02", fees="5.00", filled_at=_at("2024-03-18", "13:50"), actor="t")


def test_three_week_worked_example(session):
    """A 3-week USD ledger; model: 10 bps slippage (P_s = ref x 1.001 for a BUY, x 0.999 for a SELL) and a
    10 bps commission (F_s = cents(booked(U x P_s) x 0.001)); late = more than 30 minutes after the window's start.

    Start book (close of 2024-03-01): 10,000.00 cash.  Marks on 2024-03-22: AAA 106, BBB 53, CCC 24, DDD 21.

    - T1/1 BUY AAA 10 @ ref 100, filled 10 @ 100.10 at 14:40 (5 min in), fees 1.00: P_s = 100.10, F_s =
      cents(1001.00 x 0.001) = 1.00: every component 0.
    - T1/2 BUY BBB 20 @ ref 50, skipped ("price above the band"): P_s = 50.05, F_s = 1.00;
      not executed = (0 - 20)(53 - 50.05) + 1.00 = -59.00 + 1.00 = -58.00.
    - T2/1 BUY CCC 40 @ ref 25, partial 30 @ 25.05 on time, no fees: P_s = 25.025, F_s = cents(1001.00 x 0.001) = 1.00;
      partial = (30 - 40)(24 - 25.025) = +10.25; slippage = -30 (25.05 - 25.025) = -0.75; fees = -(0 - 1.00) = +1.00.
    - T2/2 SELL AAA 4 @ ref 104, filled 4 @ 101 at 19:30 (355 min after the window's start: late), no fees:
      P_s = 103.896, open 103 so O_s = 102.897; delay = -(-1) 4 (101 - 102.897) = -7.588;
      slippage = 4 (102.897 - 103.896) = -3.996; F_s = cents(booked(415.584) = 415.58 x 0.001) = 0.42, fees = +0.42.
    - T3/1 BUY DDD 10 @ ref 20, filled 10 @ 20.02 on time with fees 5.00 (the surprise): F_s = cents(0.2002) = 0.20,
      fees = -(5.00 - 0.20) = -4.80.
    - Cash movements: the AAA dividend +2.50.

    Cumulative on 2024-03-22: signal 0, not executed -58.00, partial +10.25, slippage -0.75 - 3.996 = -4.746 -> -4.75,
    delay -7.588 -> -7.59, fees 1.00 + 0.42 - 4.80 = -3.38, fx 0, cash movements +2.50: together -60.97.
    Live: cash 10000 - 1002.00 - 751.50 + 404.00 - 205.20 + 2.50 = 8447.80, holdings 6 x 106 + 30 x 24 + 10 x 21
    = 1566: 10,013.80.  Shadow: cash 10000 - 3 x 1002.00 + (415.58 - 0.42) - (200.20 + 0.20) = 7208.76, holdings
    6 x 106 + 20 x 53 + 40 x 24 + 10 x 21 = 2866: 10,074.76.  Total -60.96, so the residual is +0.01 (the
    components before rounding add up to -60.964; the shadow's sale booked 0.004 below 415.584).

    End of week 1 (2024-03-08: AAA 102, BBB 51): not executed = -20 (51 - 50.05) + 1.00 = -18.00; live 8998.00 +
    1020 = 10,018.00, shadow 7996.00 + 1020 + 1020 = 10,036.00: total -18.00, nothing else, residual 0.
    """
    _three_weeks(session)
    inputs = drift.load_inputs(session, POLICY, opens=OPENS, closes=CLOSES)
    result = drift.attribute(inputs)
    last = result.last
    assert last.day == date(2024, 3, 22) and last.live == D("10013.80") and last.shadow == D("10074.76")
    assert last.components == {
        "signal": D("0.00"),
        "not_executed": D("-58.00"),
        "partial": D("10.25"),
        "slippage": D("-4.75"),
        "delay": D("-7.59"),
        "fees": D("-3.38"),
        "fx": D("0.00"),
        "cash_movements": D("2.50"),
        "residual": D("0.01"),
    }
    assert last.total == D("-60.96") == sum(last.components.values())
    week1 = next(r for r in result.rows if r.day == date(2024, 3, 8))
    assert (week1.live, week1.shadow, week1.total) == (D("10018.00"), D("10036.00"), D("-18.00"))
    assert week1.components["not_executed"] == D("-18.00") and all(v == 0 for k, v in week1.components.items() if k != "not_executed")
    for row in result.rows:  # every session: the parts add up to the whole, to the cent
        assert sum(row.components.values()) == row.total
    # per session, the changes add up to the cumulative figure
    assert sum(delta["delay"] for _, delta in result.per_session()) == last.components["delay"]
    assert result.not_executed_reasons() == [("T1", 2, "BBB", "price above the band")]
    text = drift.table(result)
    assert "Lines not executed" in text and "-58.00" in text and "T1 line 2 BBB: price above the band" in text


def test_the_archive_ticket_is_what_the_shadow_executes(session, tmp_path):
    """A ledger line that differs from the archived ticket is a signal difference: the archive's T1 asked for
    12 AAA, the ledger holds 10 (filled as the model); on 2024-03-08 signal = (10 - 12)(102 - 100.10) = -3.80,
    and the shadow's commission on its 12 units is F_s = cents(1201.20 x 0.001) = 1.20 against 1.00 paid: fees
    = +0.20.  Live 8998.00 + 1020 = 10,018.00; shadow 10000 - 1201.20 - 1.20 + 12 x 102 = 10,021.60: -3.60."""
    import json

    api.record_cash_movement(session, "DEPOSIT", "10000", date(2024, 3, 1), actor="t")
    _ticket(session, "T1", "2024-03-04", [("BUY", "AAA", "10", "100")])
    api.record_fill(session, "T1", 1, "executed", units="10", price="100.10", fees="1.00", filled_at=_at("2024-03-04", "14:40"), actor="t")
    (tmp_path / "T1.json").write_text(json.dumps({"lines": [{"seq": 1, "side": "BUY", "symbol": "AAA", "units": "12", "reference_price": "100"}]}))
    inputs = drift.load_inputs(session, POLICY, tickets_dir=tmp_path, opens={}, closes=CLOSES, end=date(2024, 3, 8))
    last = drift.attribute(inputs).last
    assert last.components["signal"] == D("-3.80") and last.components["fees"] == D("0.20")
    assert last.components["residual"] == 0 and last.total == D("-3.60")


def test_perfect_fills_show_zero_drift(session):
    """Every line filled as the model says (units as issued, P_s, F_s, at the window's start): nothing drifts."""
    api.record_cash_movement(session, "DEPOSIT", "10000", date(2024, 3, 1), actor="t")
    model = drift.Model.from_policy(POLICY)
    for tid, day, lines in (
        ("T1", "2024-03-04", [("BUY", "AAA", "10", "100"), ("BUY", "BBB", "20", "50")]),
        ("T2", "2024-03-11", [("SELL", "AAA", "4", "104"), ("BUY", "CCC", "40", "25")]),
    ):
        _ticket(session, tid, day, lines)
        for n, (side, sym, units, ref) in enumerate(lines, start=1):
            line = drift.Line(tid, date.fromisoformat(day), n, side, sym, D(units), D(ref), _at(day, "00:00"))
            price, _, fees = drift.shadow_fill(line, model)
            api.record_fill(session, tid, n, "executed", units=units, price=price, fees=fees, filled_at=datetime.fromisoformat(WINDOW[day]), actor="t")
    result = drift.attribute(drift.load_inputs(session, POLICY, opens=OPENS, closes=CLOSES))
    assert result.rows and all(r.total == 0 and all(v == 0 for v in r.components.values()) for r in result.rows)


_accounts = itertools.count()
outcome = st.tuples(
    st.sampled_from(["executed", "partial", "not_executed"]),
    st.decimals(min_value=D("0.1"), max_value=D("0.95"), places=2),  # partial share
    st.integers(min_value=-250, max_value=250),  # price vs the reference in bps (inside the ticket's 3% band)
    st.sampled_from(["13:40", "14:20", "19:30"]),  # on time, late in the window, outside it
    st.decimals(min_value=D(0), max_value=D(9), places=2),  # fees
)


@given(outcomes=st.lists(outcome, min_size=5, max_size=5))
@settings(
    max_examples=int(os.environ.get("LEDGER_MODEL_EXAMPLES", "25")),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_components_always_sum_to_live_minus_shadow(session, outcomes):
    """Random fill outcomes for two tickets (4 BUYs then a SELL): each session's components add up to live minus
    shadow to the cent, and the residual holds only rounding (at most a cent per line and component)."""
    savepoint = session.begin_nested()  # each example on its own, rolled back (a refused entry leaves nothing behind)
    try:
        _random_outcomes(session, outcomes)
    finally:
        if savepoint.is_active:
            savepoint.rollback()


def _random_outcomes(session, outcomes):
    account = f"drift-{next(_accounts)}"
    api.create_account(session, account, actor="h")
    api.record_cash_movement(session, "DEPOSIT", "20000", date(2024, 3, 1), account=account, actor="h")
    tickets = [
        ("T1", "2024-03-11", [("BUY", "AAA", "10", "100"), ("BUY", "BBB", "20", "50"), ("BUY", "CCC", "40", "25"), ("BUY", "DDD", "10", "20")]),
        ("T2", "2024-03-18", [("SELL", "AAA", "4", "104")]),
    ]
    it = iter(outcomes)
    for tid, day, lines in tickets:
        _ticket(session, tid, day, lines, account=account)
        for n, (side, sym, units, ref) in enumerate(lines, start=1):
            status, share, bps_off, hhmm, fees = next(it)
            if side == "SELL" and api.compute_positions(session, account=account).get(sym, D(0)) < D(units):
                status = "not_executed"
            if status == "not_executed":
                api.record_fill(session, tid, n, status, reason="not done", filled_at=_at(day, hhmm), account=account, actor="h")
                continue
            u = D(units) if status == "executed" else (D(units) * share).quantize(D("0.01"))
            price = (D(ref) * (1 + D(bps_off) / 10000)).quantize(D("0.01"))
            api.record_fill(session, tid, n, status, units=u, price=price, fees=fees, filled_at=_at(day, hhmm), reason="part", account=account, actor="h")
    result = drift.attribute(drift.load_inputs(session, POLICY, opens=OPENS, closes=CLOSES, account=account))
    assert result.rows
    for row in result.rows:
        assert sum(row.components.values()) == row.total == (row.live - row.shadow).quantize(D("0.01"))
        assert abs(row.components["residual"]) <= D("0.01") * (len(drift.COMPONENTS) + 5)


def test_drift_command_prints_the_table(db_url, session, tmp_path, monkeypatch, capsys):
    """`tradeops drift` on the worked example's ledger with closes from the ledger's price cache and no run
    archive (so no opens): the late SELL's whole price gap stays in slippage, 4 (101 - 103.896) = -11.584, with the
    partial's -0.75: -12.33; delay 0; the rest as in the worked example."""
    import yaml

    from tradeops.cli import main
    from tradeops.config import Workspace, policy_yaml_data

    _three_weeks(session)
    api.store_prices(session, ((sym, day, close) for sym, series in CLOSES.items() for day, close in series.items()), source="test")
    session.commit()
    ws = Workspace.at(tmp_path).ensure()
    ws.policy_path.write_text(yaml.safe_dump(policy_yaml_data(POLICY)))
    monkeypatch.setenv("TRADEOPS_DB_URL", db_url)
    assert main(["drift", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line[:44].strip(): line[44:].split() for line in out.splitlines() if line[:44].strip() in drift.LABELS.values()}
    assert rows[drift.LABELS["slippage"]][0] == "-12.33" and rows[drift.LABELS["delay"]][0] == "+0.00"
    assert rows[drift.LABELS["not_executed"]][0] == "-58.00" and rows[drift.LABELS["fees"]][0] == "-3.38"
    assert "difference -60.96" in out and "2024-03-22" in out
    assert main(["drift", "--workdir", str(tmp_path), "--since", "2024-03-11"]) == 0
    assert "Live vs shadow, 2024-03-11 to 2024-03-22" in capsys.readouterr().out


def test_gbp_account_fx_component(session):
    """A GBP account: BUY 10 AAA @ ref 100 sized at 1.25 USD/GBP, filled as the model (100.10, fees 0.80) but at
    1.26.  Shadow: account_value(10, 100.10, 1.25) = 800.80, F_s = cents(800.80 x 0.001) = 0.80.  Live books
    1001 / 1.26 = 794.44.  FX = -10 x 100.10 x (1/1.26 - 1/1.25) = +6.3556 -> +6.36.  Both hold 10 AAA, marked
    at 102 / 1.25 = 816.00: live 10000 - 794.44 - 0.80 + 816 = 10,020.76, shadow 10000 - 800.80 - 0.80 + 816 =
    10,014.40: total +6.36, all of it FX, residual 0.00."""
    api.set_account_currency(session, "GBP", actor="t")
    api.store_fx_rates(session, {date(2024, 3, 1): D("1.25")}, base="GBP", quote="USD", source="test")
    api.record_cash_movement(session, "DEPOSIT", "10000", date(2024, 3, 1), currency="GBP", actor="t")
    api.record_ticket(session, "T1", date(2024, 3, 4), "TRADE", "h", {"window": {"start": WINDOW["2024-03-04"]}}, actor="t")
    api.record_intended_trade(
        session,
        "T1",
        1,
        "BUY",
        "AAA",
        "800.00",
        "10",
        "100",
        "0.03",
        currency="GBP",
        details={"instrument_currency": "USD", "fx_rate": "1.25", "fx_fee": "0.00"},
        actor="t",
    )
    api.record_fill(session, "T1", 1, "executed", units="10", price="100.10", fees="0.80", fx_rate="1.26", filled_at=_at("2024-03-04", "14:40"), actor="t")
    last = drift.attribute(drift.load_inputs(session, POLICY, opens={}, closes=CLOSES, end=date(2024, 3, 8))).last
    assert (last.live, last.shadow, last.currency) == (D("10020.76"), D("10014.40"), "GBP")
    assert last.components["fx"] == D("6.36") and last.total == D("6.36") and last.components["residual"] == 0
    assert all(v == 0 for k, v in last.components.items() if k not in ("fx",))


def test_run_alerts_include_drift_past_the_policy(db_url, session, tmp_path, monkeypatch):
    """After a run (tradeops.outbox): with the defaults (2% per component, 0.1% residual) the worked example
    raises nothing; at 0.1% per component (10.01 of 10,013.80) the skipped line (-58.00 = -0.58%), the
    slippage (no opens: -12.33 = -0.12%) and the partial fill (+10.25 = +0.102%) pass it; the fees (-3.38)
    and the dividend (+2.50) do not."""
    from tradeops import outbox
    from tradeops.config import Workspace

    _three_weeks(session)
    api.store_prices(session, ((sym, day, close) for sym, series in CLOSES.items() for day, close in series.items()), source="test")
    session.commit()
    monkeypatch.setenv("TRADEOPS_DB_URL", db_url)
    ws = Workspace.at(tmp_path).ensure()
    now = datetime(2024, 3, 25, 7, 30, tzinfo=UTC)
    assert outbox._drift_alerts(ws, POLICY, now) == []
    tight = POLICY.model_copy(update={"drift": POLICY.drift.model_copy(update={"max_component_share": 0.001})})
    keys = sorted(a.key for a in outbox._drift_alerts(ws, tight, now))
    assert keys == ["drift:Execution price vs reference (slippage):2024-03-18", "drift:Lines not executed:2024-03-18", "drift:Partial fills:2024-03-18"]
