"""A fixed ledger and price history for the golden reports, with every
figure the reports show worked out by hand in the comments below.

The account is funded with 10,000.00 on 2024-03-22 and reported on Friday
2024-05-03 (the week 2024-04-29 .. 2024-05-03); the reports are generated
by the Monday run, 2024-05-06 07:35 London time.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tradeops.reports import gate, Position, ReportInputs, RunInfo, ReportLine

LONDON = ZoneInfo("Europe/London")


def uk(y, m, d, hh, mm) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


# The 30 XNYS sessions 2024-03-22 .. 2024-05-03 (Good Friday 2024-03-29 is closed).
#                          equity        benchmark close
HISTORY = [
    ("2024-03-22", "10000.00", 500.00),  # funded: 10,000.00 deposit
    ("2024-03-25", "10020.00", 501.00),
    ("2024-03-26", "10065.00", 502.50),
    ("2024-03-27", "10110.00", 504.00),
    ("2024-03-28", "10090.00", 503.00),
    ("2024-04-01", "10150.00", 505.00),
    ("2024-04-02", "10085.00", 503.50),
    ("2024-04-03", "10120.00", 504.50),
    ("2024-04-04", "10010.00", 500.00),
    ("2024-04-05", "10095.00", 503.00),
    ("2024-04-08", "10180.00", 505.50),
    ("2024-04-09", "10210.00", 507.00),
    ("2024-04-10", "10135.00", 504.00),
    ("2024-04-11", "10240.00", 508.00),
    ("2024-04-12", "10160.00", 512.00),  # benchmark peak 512.00
    ("2024-04-15", "10050.00", 505.00),
    ("2024-04-16", "10075.00", 503.00),
    ("2024-04-17", "10190.00", 499.00),
    ("2024-04-18", "10300.00", 497.50),
    ("2024-04-19", "10260.00", 496.64),  # benchmark trough: 496.64 / 512 - 1 = -3.00%
    ("2024-04-22", "10330.00", 499.00),
    ("2024-04-23", "10370.00", 502.00),
    ("2024-04-24", "10400.00", 503.50),  # account peak 10,400.00
    ("2024-04-25", "10140.00", 501.00),
    ("2024-04-26", "9880.00", 503.00),  # last close before the week
    ("2024-04-29", "9984.00", 504.00),
    ("2024-04-30", "9672.00", 498.00),  # account trough: 9,672 / 10,400 - 1 = -7.00%
    ("2024-05-01", "9900.00", 501.00),
    ("2024-05-02", "10036.00", 505.00),
    ("2024-05-03", "10250.25", 510.00),
]

# Positions at the close of 2024-05-03 (value = units x price; unrealized = value - cost):
#   AAPL  10   x 180.00 = 1,800.00, cost 1,700.00 -> +100.00  weight 1,800 / 10,250.25 = 17.56%
#   MSFT   5   x 400.00 = 2,000.00, cost 2,100.00 -> -100.00  weight 19.51%
#   JPM    8   x 200.00 = 1,600.00, cost 1,580.00 ->  +20.00  weight 15.61%  (bought 8 @ 197.50 this week)
#   XOM   12.5 x 120.00 = 1,500.00, cost 1,482.50 ->  +17.50  weight 14.63%  (bought 12.5 @ 118.60 this week)
#   invested 6,900.00 + cash 3,350.25 = equity 10,250.25 (= the last equity point); cash weight 32.68%
#   unrealized +37.50; total P&L 10,250.25 - 10,000.00 deposits = +250.25
#   realized +215.25 (input); dividends/fees/other = 250.25 - 215.25 - 37.50 = -2.50
# Sectors: Information Technology 3,800.00 = 37.07% (2 positions); Financials 15.61%; Energy 14.63%.
# Day: 10,250.25 - 10,036.00 = +214.25 = +2.13%.  Drawdown now: 10,250.25 / 10,400 - 1 = -1.44%.
POSITIONS = (
    Position("AAPL", D("10"), D("180.00"), D("1700.00"), "Information Technology"),
    Position("MSFT", D("5"), D("400.00"), D("2100.00"), "Information Technology"),
    Position("JPM", D("8"), D("200.00"), D("1580.00"), "Financials"),
    Position("XOM", D("12.5"), D("120.00"), D("1482.50"), "Energy"),
)

# The week's ticket lines.  Execution window 14:35-15:30 London (US open +5..+60 min,
# BST); confirmation deadline = window end + 240 min = 19:30 London.
# Slippage (positive = cost): sign x (fill - reference) / reference x 10,000; sign -1 for sells.
#   MSFT sell 2   @ 401.00 vs 402.00: (402 - 401) / 402 = +24.9 bps, 1.00 x 2    = +2.00
#   XOM  buy 12.5 @ 118.60 vs 118.00: 0.60 / 118       = +50.8 bps, 0.60 x 12.5 = +7.50
#   JPM  buy 8/10 @ 197.50 vs 198.00: -0.50 / 198      = -25.3 bps, -0.50 x 8   = -4.00
#   aggregate +5.50 on 2 x 402 + 12.5 x 118 + 8 x 198 = 3,863.00 at reference = +14.2 bps
# Intended value 804 + 1,475 + 1,980 + 900 + 362 + 405 = 5,926.00
# Executed value 802.00 + 1,482.50 + 1,580.00 = 3,864.50
# Fees this week: 1.00 (on the MSFT sale; part of the -2.50 "other" in the daily report)
# Turnover: 3,864.50 / 2 / mean(9,984, 9,672, 9,900, 10,036, 10,250.25) = 1,932.25 / 9,968.45 = 19.38%
# Week max drawdown: 9,672 / 9,984 - 1 = -3.125%, shown -3.12% (round half to even).
# Compliance: TICKET-20240429 confirmed 18:05 (on time); TICKET-20240502 confirmed the next
# morning 09:10 (late); TICKET-20240503 still unconfirmed on Monday morning (missing).
TRADES = (
    ReportLine(
        "TICKET-20240429",
        date(2024, 4, 29),
        "MSFT",
        "sell",
        D("2"),
        D("402.00"),
        "executed",
        D("2"),
        D("401.00"),
        D("1.00"),
        "",
        uk(2024, 4, 29, 18, 5),
        uk(2024, 4, 29, 19, 30),
    ),
    ReportLine(
        "TICKET-20240429",
        date(2024, 4, 29),
        "XOM",
        "buy",
        D("12.5"),
        D("118.00"),
        "executed",
        D("12.5"),
        D("118.60"),
        D("0"),
        "",
        uk(2024, 4, 29, 18, 5),
        uk(2024, 4, 29, 19, 30),
    ),
    ReportLine(
        "TICKET-20240429",
        date(2024, 4, 29),
        "JPM",
        "buy",
        D("10"),
        D("198.00"),
        "partial",
        D("8"),
        D("197.50"),
        D("0"),
        "only 8 units filled before the window closed",
        uk(2024, 4, 29, 18, 5),
        uk(2024, 4, 29, 19, 30),
    ),
    ReportLine(
        "TICKET-20240429",
        date(2024, 4, 29),
        "AMZN",
        "buy",
        D("5"),
        D("180.00"),
        "not_executed",
        D("0"),
        None,
        D("0"),
        "price 3.4% above the reference, beyond the 3% band",
        uk(2024, 4, 29, 18, 5),
        uk(2024, 4, 29, 19, 30),
    ),
    ReportLine(
        "TICKET-20240502",
        date(2024, 5, 2),
        "AAPL",
        "sell",
        D("2"),
        D("181.00"),
        "not_executed",
        D("0"),
        None,
        D("0"),
        "broker app unavailable during the window",
        uk(2024, 5, 3, 9, 10),
        uk(2024, 5, 2, 19, 30),
    ),
    ReportLine("TICKET-20240503", date(2024, 5, 3), "MSFT", "buy", D("1"), D("405.00"), "unconfirmed", deadline=uk(2024, 5, 3, 19, 30)),
)

GATES = (
    gate("kill_switch", "pass", ("state RUN, no manual flag",)),
    gate("max_drawdown", "pass", ("drawdown 1.44% < 20%",)),
    gate("confirmations", "fail", ("TICKET-20240503: 1 line unconfirmed (MSFT buy)",)),
    gate("reconciliation", "skipped"),
    gate("data_quality", "skipped"),
    gate("ticket_sanity", "skipped"),
)


def make_inputs(**changes) -> ReportInputs:
    idx = pd.DatetimeIndex([d for d, _, _ in HISTORY])
    fields = dict(
        as_of=date(2024, 5, 3),
        generated_at=uk(2024, 5, 6, 7, 35),
        equity=pd.Series([D(e) for _, e, _ in HISTORY], index=idx),
        cash=D("3350.25"),
        positions=POSITIONS,
        realized_pnl=D("215.25"),
        state="RUN",
        benchmark=pd.Series([b for _, _, b in HISTORY], index=idx),
        benchmark_symbol="SPY",
        cash_flows={date(2024, 3, 22): D("10000.00")},
        gates=GATES,
        last_run=RunInfo("20240506T073000-4f2a", uk(2024, 5, 6, 7, 30), date(2024, 5, 3), "TICKET-20240506", "NO-TRADE", 3),
        next_rebalance=date(2024, 5, 6),
        trades=TRADES,
        period_start=date(2024, 4, 29),
    )
    fields.update(changes)
    return ReportInputs(**fields)


@pytest.fixture
def inputs() -> ReportInputs:
    return make_inputs()


@pytest.fixture(scope="session")
def build_inputs():
    """The factory: ``build_inputs(state="HALT")`` changes one field."""
    return make_inputs


@pytest.fixture(params=["USD", "GBP"])
def account_inputs(request) -> ReportInputs:
    """The same account on a USD workspace and on a GBP one (``account_currency``).

    The GBP case keeps every figure (read as pounds, positions and fills at a rate of 1) and gives the
    benchmark a constant GBPUSD of 1.2500: dividing every close by the same rate leaves its returns,
    drawdowns and ratios as they are, so every figure worked out above holds on both workspaces."""
    if request.param == "USD":
        return make_inputs()
    idx = pd.DatetimeIndex([d for d, _, _ in HISTORY])
    inputs = make_inputs(currency="GBP", price_currency="USD", fx_effect=D("0.00"), benchmark_fx=pd.Series([D("1.2500")] * len(idx), index=idx))
    assert inputs.benchmark_converted
    return inputs
