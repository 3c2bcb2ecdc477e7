"""The daily report of a GBP account holding USD shares: figures in pounds, an FX-effect line, prices in dollars.

The account is the ledger's worked GBP example (tests/ledger/test_ledger_gbp.py) on 2024-01-31, by hand:

- cash £9,227.19; AAPL 7 x $125.00 / 1.2000 = £729.16666667 (cost £584.05, unrealized +£145.11666667);
  MSFT 2 x $190.00 / 1.2000 = £316.66666667 (cost £312.50, unrealized +£4.16666667);
- equity (the curve, 4 places) £10,273.0233; invested 10,273.0233 - 9,227.19 = £1,045.8333 -> 1,045.83;
- weights 729.16666667 / 10,273.0233 = 7.0978% -> 7.10%; 316.66666667 / 10,273.0233 = 3.0825% -> 3.08%;
  cash 9,227.19 / 10,273.0233 = 89.82%;
- net deposits £10,000.00 (01-02), total P&L +£273.02; realized (trading) +£126.24; unrealized +£149.28;
  of which FX effect +£74.42 (the ledger's P&L 275.52 = price 201.10 + FX 74.42, to the penny);
  dividends, fees and other: 273.0233 - 126.24 - 149.28333334 = -2.50003334 -> -2.50 (the £2.50 of fees);
- day: 10,273.0233 - 10,230.00 = +43.02 = +0.42%.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pandas as pd

from tradeops import reports
from tradeops.reports import Position, ReportInputs

LONDON = ZoneInfo("Europe/London")
HISTORY = [("2024-01-02", "10000.00"), ("2024-01-29", "10180.00"), ("2024-01-30", "10230.00"), ("2024-01-31", "10273.0233")]


def _inputs(**change) -> ReportInputs:
    idx = pd.DatetimeIndex([d for d, _ in HISTORY])
    fields = dict(
        as_of=date(2024, 1, 31),
        generated_at=datetime(2024, 2, 1, 7, 35, tzinfo=LONDON),
        equity=pd.Series([D(e) for _, e in HISTORY], index=idx),
        cash=D("9227.19"),
        positions=(
            Position("AAPL", D("7"), D("125.00"), D("584.05"), "Information Technology", fx_rate=D("1.2")),
            Position("MSFT", D("2"), D("190.00"), D("312.50"), "Information Technology", fx_rate=D("1.2")),
        ),
        realized_pnl=D("126.24"),
        state="RUN",
        benchmark=pd.Series([470.0, 480.0, 481.0, 482.0], index=idx),
        cash_flows={date(2024, 1, 2): D("10000.00")},
        currency="GBP",
        fx_effect=D("74.42"),
        price_currency="USD",
    )
    fields.update(change)
    return ReportInputs(**fields)


def test_daily_in_pounds_with_the_fx_effect():
    r = reports.build_daily(_inputs())
    assert (r.equity, r.cash, r.invested, r.net_deposits) == (D("10273.0233"), D("9227.19"), D("1045.8333"), D("10000.00"))
    assert r.unrealized_pnl == D("149.28333334") and r.fx_effect == D("74.42")
    assert r.other_pnl.quantize(D("0.01")) == D("-2.50")
    md = reports.render_daily_md(r)
    for line in (
        "| | GBP |",
        "| Equity | 10,273.02 |",
        "| Change on the day | +43.02 (+0.42%) |",
        "| Cash | 9,227.19 (89.82% of equity) |",
        "| Invested | 1,045.83 |",
        "| Total P&L (equity - net deposits) | +273.02 |",
        "| Realized P&L | +126.24 |",
        "| Unrealized P&L | +149.28 |",
        "| of which FX effect (the rate's move, in realized + unrealized) | +74.42 |",
        "| Dividends, fees and other (net) | -2.50 |",
        "| Symbol | Sector | Units | Price (USD) | Value | Weight | Cost | Unrealized P&L |",
        "| AAPL | Information Technology | 7 | 125.00 | 729.17 | 7.10% | 584.05 | +145.12 |",
        "| MSFT | Information Technology | 2 | 190.00 | 316.67 | 3.08% | 312.50 | +4.17 |",
    ):
        assert line in md.splitlines(), line
    html = reports.render_daily_html(r)
    assert '<td>of which FX effect (the rate\'s move, in realized + unrealized)</td><td class="n pos">+74.42</td>' in html
    assert "Price (USD)</th>" in html


def test_a_usd_account_has_no_fx_line():
    usd = reports.build_daily(
        _inputs(
            currency="USD",
            fx_effect=None,
            price_currency="USD",
            positions=(Position("AAPL", D("7"), D("125.00"), D("584.05")), Position("MSFT", D("2"), D("190.00"), D("312.50"))),
            cash=D("9018.0233"),
        )
    )  # 10,273.0233 - $1,255.00 held
    md = reports.render_daily_md(usd)
    assert "FX effect" not in md and "| Symbol | Sector | Units | Price | Value |" in md


def test_weekly_trades_in_pounds_at_each_fills_rate():
    """The week 2024-01-29..31 has one line: SELL 7 AAPL, reference $121.00, filled at $120.00, rate 1.2400, fee £1.00.
    Intended 7 x 121 / 1.24 = £683.06451613 -> 683.06; filled 7 x 120 / 1.24 = £677.41935484 -> 677.42;
    slippage (a sell below the reference is a cost) $7.00 / 1.24 = +£5.65 = 1/121 = 82.6 bps (the rate cancels)."""
    line = reports.ReportLine(
        "T3",
        date(2024, 1, 30),
        "AAPL",
        "sell",
        D("7"),
        D("121.00"),
        "executed",
        D("7"),
        D("120.00"),
        D("1.00"),
        confirmed_at=datetime(2024, 1, 30, 18, 0, tzinfo=LONDON),
        deadline=datetime(2024, 1, 30, 19, 30, tzinfo=LONDON),
        fx_rate=D("1.24"),
    )
    w = reports.build_weekly(_inputs(trades=(line,), period_start=date(2024, 1, 29)), tearsheet_file=None)
    assert (w.intended_value, w.executed_value, w.slippage_money) == (D("683.06451613"), D("677.41935484"), D("5.64516129"))
    assert round(w.slippage_bps, 1) == 82.6 and w.fx_effect == D("74.42")
    md = reports.render_weekly_md(w)
    assert "| FX effect in the P&L to date (the rate's move, realized + unrealized) | +74.42 |" in md.splitlines()
    row = next(ln for ln in md.splitlines() if ln.startswith("| T3 |"))
    assert "| 7 @ 121.00 | 683.06 | 7 @ 120.00 | 677.42 |" in row and "| +5.65 | 1.00 |" in row
    assert "Intended (units @ reference USD)" in md and "Slippage (GBP)" in md
    assert "FX effect in the P&amp;L to date" in reports.render_weekly_html(w)


# the benchmark's return in pounds: its USD closes over the day's GBPUSD (the latest rate on or before the day)
RATES = pd.Series([D("1.2500"), D("1.2000"), D("1.2400")], index=pd.DatetimeIndex(["2024-01-02", "2024-01-29", "2024-01-31"]))


def test_the_benchmark_return_is_in_pounds_at_each_days_rate():
    """By hand: SPY $470, $480, $481, $482 -> £376.00 (470 / 1.25), £400.00 (480 / 1.20),
    £400.8333 (481 / 1.20: no rate on 01-30, the 29th's holds), £388.7097 (482 / 1.24).
    Returns: 400 / 376 - 1 = +6.3830%; 400.8333 / 400 - 1 = +0.2083%;
    (482 / 1.24) / (481 / 1.20) - 1 = 578.40 / 596.44 - 1 = -3.0246%
    (in dollars they were +2.1277%, +0.2083%, +0.2079%: the pound's rise on the 31st cost 3.2%).
    Since the start: 482 / (376 x 1.24) - 1 = 482 / 466.24 - 1 = +3.3802% (in dollars 482 / 470 - 1 = +2.5532%)."""
    usd = _inputs().benchmark_returns()
    gbp = _inputs(benchmark_fx=RATES).benchmark_returns()
    assert [round(x, 6) for x in usd] == [0.021277, 0.002083, 0.002079]
    assert [round(x, 6) for x in gbp] == [0.06383, 0.002083, -0.030246]
    assert round((1 + gbp).prod() - 1, 6) == 0.033802
    w = reports.build_weekly(_inputs(benchmark_fx=RATES, period_start=date(2024, 1, 29)), tearsheet_file=None)
    assert w.benchmark_in == "GBP"
    assert "benchmark SPY (its return in GBP, at each day's rate)" in reports.render_weekly_md(w)
    # no rates (a USD account, or none cached): as quoted, and the line says nothing more
    assert reports.build_weekly(_inputs(period_start=date(2024, 1, 29)), tearsheet_file=None).benchmark_in is None


def test_the_tearsheet_title_names_the_currency_and_the_fx_effect():
    assert reports.tearsheet_title(_inputs()) == "Account vs benchmark (returns in GBP; FX effect in the P&L to date +74.42 GBP)"
