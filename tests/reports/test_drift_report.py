"""The weekly report's drift section and the drift alerts (tradeops.drift_section.section, tradeops.alerts.drift_alerts).

A pure drift (no ledger): five Mondays, each with one BUY of 10 AAA at a reference of 100.00, filled in full on
time at 100.05, 100.10, 100.15, 100.20, 100.25 (5, 10, 15, 20 and 25 bps: worse every week), AAA closing at 100
throughout, with the policy's defaults (5 bps model slippage, 10 bps commission, 30 minutes).  The live
equity given is the shadow's plus what the lines explain, which here cancels (slippage -5.00, fees +5.00).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

from tradeops import alerts, drift, drift_section, reports
from tradeops.calendar import get_calendar
from tradeops.config import DriftPolicy

MONDAYS = [date(2024, 4, 1) + timedelta(weeks=k) for k in range(5)]
NOW = datetime(2024, 5, 6, 6, 35, tzinfo=timezone.utc)


def _drift() -> drift.Drift:
    lines = []
    for k, day in enumerate(MONDAYS, start=1):
        start = datetime(day.year, day.month, day.day, 13, 35, tzinfo=timezone.utc)
        lines.append(
            drift.Line(
                f"T{k}",
                day,
                1,
                "BUY",
                "AAA",
                D(10),
                D(100),
                start,
                status="EXECUTED",
                filled_units=D(10),
                fill_price=D(100) + D("0.05") * k,
                filled_at=start + timedelta(minutes=5),
                filled_on=day,
            )
        )
    sessions = get_calendar().sessions(MONDAYS[0], date(2024, 5, 3))
    base = drift.DriftInputs(
        start=MONDAYS[0],
        currency="USD",
        start_cash=D(20000),
        start_units={},
        sessions=sessions,
        closes={"AAA": {MONDAYS[0]: D(100)}, "SPY": {MONDAYS[0]: D(500), date(2024, 5, 3): D(510)}},
        opens={},
        fx={},
        live_equity={},
        cash_moves=(),
        lines=tuple(lines),
        benchmark={MONDAYS[0]: D(500), date(2024, 5, 3): D(510)},
    )
    shadow = drift.shadow_equity(base)
    return drift.attribute(replace(base, live_equity=shadow))


def test_section_and_alerts():
    """Slippage vs the model: -10 (p - 100.05) per week: 0, -0.50, -1.00, -1.50, -2.00 = -5.00 in all; fees:
    the model's cents(1000.50 x 0.001) = 1.00 a line, none paid: +5.00; total 0 (live = shadow), residual 0.00."""
    d = _drift()
    sec = drift_section.section(d, date(2024, 5, 3), date(2024, 4, 29), DriftPolicy(max_component_share=0.0001))
    money = {k: m for k, _, m, _ in sec.rows}
    assert money["slippage"] == D("-5.00") and money["fees"] == D("5.00") and money["residual"] == 0 and sec.total == 0
    assert [round(w.median_slippage_bps, 6) for w in sec.weeks] == [5, 10, 15, 20, 25]
    assert [w.as_issued for w in sec.weeks] == [1.0] * 5 and [w.median_delay_minutes for w in sec.weeks] == [5.0] * 5
    # the traded value rises with the fill price (1000.50 .. 1002.50) on a flat equity, so turnover rises too
    assert sec.eroding == ("median_slippage_bps", "turnover")
    assert dict((k, m) for k, _, m in sec.week)["slippage"] == D("-2.00")  # the report's week: the last line only
    found = alerts.drift_alerts(sec, NOW)
    kinds = sorted((a.kind.value, a.key) for a in found)
    assert ("drift_erosion", "drift_erosion:median_slippage_bps:2024-04-29") in kinds
    assert any(k == "drift" and "Execution price vs reference" in key for k, key in kinds)
    assert any(k == "drift" and "Fees vs the model" in key for k, key in kinds)
    assert alerts.drift_alerts(drift_section.section(d, date(2024, 5, 3), date(2024, 4, 29), DriftPolicy(erosion_weeks=5)), NOW) == []


def test_weekly_report_shows_each_component(build_inputs, tmp_path):
    d = _drift()
    sec = drift_section.section(d, date(2024, 5, 3), date(2024, 4, 29), DriftPolicy())
    report = reports.build_weekly(build_inputs(drift=sec))
    md = reports.render_weekly_md(report)
    html = reports.render_weekly_html(report)
    for label in drift.LABELS.values():
        assert f"| {label} |" in md and f"<td>{label}</td>" in html
    assert "| Execution price vs reference (slippage) | -5.00 | -0.025% | -2.00 |" in md
    assert "| 2024-04-29 | 1 | 100% | 5 min | +25.0 bps | 0.00% | 5.01% |" in md
    assert "![Live, shadow and SPY](drift.png)" in md
    plain = reports.render_weekly_md(reports.build_weekly(build_inputs()))
    assert "Live vs shadow" not in plain and md.startswith(plain)  # the section only adds, at the end
    written = reports.publish_weekly(build_inputs(drift=sec), tmp_path, tearsheet=False)
    png = tmp_path / "drift.png"
    assert png in written and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert drift_section.chart_png(d, date(2024, 5, 3)) == drift_section.chart_png(d, date(2024, 5, 3))  # deterministic
